/* `iam review …` */
import type { Command } from 'commander';
import type { WithServices } from './with.js';

/** Adds `iam review …`. */
export function registerReviewCommands(_program: Command, _withServices: WithServices, _actor: () => string): void {}
