/*
 * Review campaigns (access certification): a definition's scope and reviewers turn into one item
 * per (identity, grant); reviewers keep or revoke; at close, undecided items get the definition's
 * outcome and revocations are provisioned through the outbox.
 */
import type { Config } from '../../config/index.js';
import type { Database } from '../../db/database.js';
import type { GrantService } from '../../policy/grants.js';

/** Defines, starts, decides, advances and closes review campaigns. */
export class ReviewService {
  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly grants: GrantService,
    private readonly clock: () => Date = () => new Date(),
  ) {}
}
