/*
 * Delegation: an approver names a deputy for a period; while it lasts, approvals assigned to the
 * approver are also assigned to the deputy.
 */
import type { Database } from '../db/database.js';

/** Records, lists and withdraws delegations. */
export class DelegationService {
  constructor(
    private readonly db: Database,
    private readonly clock: () => Date = () => new Date(),
  ) {}
}
