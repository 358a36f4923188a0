/* `iam request list|approve|deny` */
import type { Command } from 'commander';
import type { WithServices } from './with.js';

/** Adds `iam request list|approve|deny`. */
export function registerRequestCommands(_program: Command, _withServices: WithServices, _actor: () => string): void {}
