import type { Config } from '../../config/index.js';
import type { Database } from '../../db/database.js';
import type { FeedService } from '../../lifecycle/feed-service.js';
import type { PolicyEngine } from '../../policy/engine.js';
import type { GrantService } from '../../policy/grants.js';
import type { SodExceptions } from '../../policy/sod-exceptions.js';
import type { SodService } from '../../policy/sod.js';
import type { PolicyStore } from '../../policy/store.js';
import type { Reconciler } from '../../provisioning/reconciliation/reconciler.js';
import type { Logger } from '../../log/logger.js';
import type { AccessRequestService } from '../../governance/requests/service.js';
import type { DelegationService } from '../../governance/delegations.js';
import type { ReviewService } from '../../governance/reviews/service.js';
import type { Mailer } from '../../notify/mailer.js';

/** The services the REST routes call; AppServices provides them. */
export interface ApiDeps {
  config: Config;
  db: Database;
  policyStore: PolicyStore;
  grants: GrantService;
  sod: SodService;
  sodExceptions: SodExceptions;
  engine: PolicyEngine;
  feeds: FeedService;
  reconciler: Reconciler;
  log: Logger;
  requests: AccessRequestService;
  delegations: DelegationService;
  reviews: ReviewService;
  mailer: Mailer;
  clock: () => Date;
}
