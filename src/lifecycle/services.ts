/*
 * The lifecycle's services wired together, once, for the server (src/http/app.ts) and the CLI
 * (`iam hr ...`): the JML actions, the identity write path running them on every change, HR
 * feed imports and the effective-dates job. Everything that changes identities goes through
 * the same objects, whichever door it came in by.
 */
import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import { IdentityService } from '../identity/identity-service.js';
import type { BirthrightService } from '../policy/birthright.js';
import { CatalogCache } from '../policy/catalog.js';
import type { PolicyChangeLog } from '../policy/changes.js';
import { AccountPlanner } from '../provisioning/planner.js';
import { EffectiveDates } from './effective-dates.js';
import { FeedService } from './feed-service.js';
import { IdentityLifecycle, JmlActions } from './jml.js';

export interface LifecycleServices {
  planner: AccountPlanner;
  jml: JmlActions;
  identities: IdentityService;
  feeds: FeedService;
  effectiveDates: EffectiveDates;
}

/** `clock` decides effective dates (tests move it); the real time by default. */
export function createLifecycleServices(
  db: Database, config: Config, changes: PolicyChangeLog, birthright: BirthrightService, clock: () => Date = () => new Date(),
): LifecycleServices {
  const planner = new AccountPlanner({ retentionDays: config.lifecycle.retentionDays });
  const jml = new JmlActions(birthright, changes, planner, CatalogCache.of(db), config.lifecycle);
  const identities = new IdentityService(db, changes, new IdentityLifecycle(jml, config.hr.moverAttributes, clock));
  return {
    planner,
    jml,
    identities,
    feeds: new FeedService(db, config, { identities, jml, clock }),
    effectiveDates: new EffectiveDates(db, identities, jml, config.lifecycle, clock),
  };
}
