import { Foundation1763900000000 } from './1763900000000-Foundation.js';
import { AccessModel1764000000000 } from './1764000000000-AccessModel.js';
import { Lifecycle1764100000000 } from './1764100000000-Lifecycle.js';
import { Reconciliation1764200000000 } from './1764200000000-Reconciliation.js';
import { Governance1764300000000 } from './1764300000000-Governance.js';

/** Every migration, oldest first. A landed migration is never edited; add a new one. */
export const MIGRATIONS = [Foundation1763900000000, AccessModel1764000000000, Lifecycle1764100000000, Reconciliation1764200000000, Governance1764300000000];
