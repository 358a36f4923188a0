/*
 * Access requests: a person asks for a requestable role or entitlement for themselves or a
 * report; the request walks its approval chain; approval makes a time-bound grant that the
 * outbox provisions.
 */
import type { Config } from '../../config/index.js';
import type { Database } from '../../db/database.js';
import type { GrantService } from '../../policy/grants.js';

/** Creates, decides, lists, escalates and expires access requests. */
export class AccessRequestService {
  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly grants: GrantService,
    private readonly clock: () => Date = () => new Date(),
  ) {}
}
