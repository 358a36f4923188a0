/* `iam jobs list|run` */
import type { Command } from 'commander';
import type { WithServices } from './with.js';

/** Adds `iam jobs list|run`. */
export function registerJobCommands(_program: Command, _withServices: WithServices, _actor: () => string): void {}
