import Koa, { type Context, type Middleware, type Next } from 'koa';
import compose from 'koa-compose';
import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { TokenService } from '../auth/tokens.js';
import type { IdentityService } from '../identity/identity-service.js';
import { GroupService } from '../identity/group-service.js';
import type { EffectiveDates } from '../lifecycle/effective-dates.js';
import type { FeedService } from '../lifecycle/feed-service.js';
import type { JmlActions } from '../lifecycle/jml.js';
import { createLifecycleServices } from '../lifecycle/services.js';
import { BirthrightService } from '../policy/birthright.js';
import { PolicyChangeLog } from '../policy/changes.js';
import { PolicyEngine } from '../policy/engine.js';
import { GrantService } from '../policy/grants.js';
import { SodExceptions } from '../policy/sod-exceptions.js';
import { SodService } from '../policy/sod.js';
import { PolicyStore } from '../policy/store.js';
import { OutboxMetrics } from '../provisioning/metrics.js';
import type { AccountPlanner } from '../provisioning/planner.js';
import { Reconciler } from '../provisioning/reconciliation/reconciler.js';
import { ConnectorRegistry } from '../provisioning/registry.js';
import { OutboxWorker } from '../provisioning/worker.js';
import { buildDiscovery } from '../scim/discovery.js';
import { SCIM_PREFIX, scimRouter } from '../scim/router.js';
import { ApiPolicy } from './api/authorize.js';
import { apiMiddleware } from './api/router.js';
import { API_PREFIX } from './api/route.js';
import { apiRoutes } from './api/routes/index.js';
import { AccessRequestService } from '../governance/requests/service.js';
import { DelegationService } from '../governance/delegations.js';
import { ReviewService } from '../governance/reviews/service.js';
import { Mailer } from '../notify/mailer.js';
import { createMetrics, type HttpMetrics } from './metrics.js';
import { pagesMiddleware } from './pages/router.js';
import { PAGES_PREFIX } from '../notify/links.js';
import { requestContext, type RequestState } from './middleware/request-context.js';
import { healthRouter } from './routes/health.js';

/** The services one server instance runs on. */
export interface AppServices {
  config: Config;
  db: Database;
  log: Logger;
  tokens: TokenService;
  identities: IdentityService;
  groups: GroupService;
  metrics: HttpMetrics;
  /** tells the engine (here and, through the database, on other instances) what changed */
  changes: PolicyChangeLog;
  birthright: BirthrightService;
  sod: SodService;
  /** approved exceptions to SoD rules */
  sodExceptions: SodExceptions;
  policyStore: PolicyStore;
  grants: GrantService;
  /** answers access checks from memory; stop it with closeServices() */
  engine: PolicyEngine;
  /** who may call which endpoint of this server (policies/api_policy.csv) */
  apiPolicy: ApiPolicy;
  /** joiner / mover / leaver actions, run in the transaction of each identity change */
  jml: JmlActions;
  /** HR feed imports and their reports */
  feeds: FeedService;
  /** applies hires, terminations and grant ends as their dates arrive */
  effectiveDates: EffectiveDates;
  /** grants → accounts → outbox operations */
  planner: AccountPlanner;
  /** the connector of each configured target */
  connectors: ConnectorRegistry;
  /** runs provisioning operations; `iam serve` starts it when outbox.runWorkers is set */
  outbox: OutboxWorker;
  /** compares connected targets with the planned accounts */
  reconciler: Reconciler;
  /** access requests and their approvals */
  requests: AccessRequestService;
  /** approvers' deputies */
  delegations: DelegationService;
  /** review campaigns */
  reviews: ReviewService;
  /** sends queued mail */
  mailer: Mailer;
  /** the time governance decisions, escalations and expiries are judged at; tests move it */
  clock: () => Date;
}

/** What createServices may be given beyond config, database and log. */
export interface ServiceOptions {
  /** the governance clock (default the system clock) */
  clock?: () => Date;
}

/**
 * Wires the services a server needs around one database. Async because the policy engine loads
 * the live policy and every identity's grants before it answers, and the API policy is read from
 * its file; a broken policy file stops the start here, with the file and line named.
 */
export async function createServices(config: Config, db: Database, log: Logger, options: ServiceOptions = {}): Promise<AppServices> {
  const clock = options.clock ?? (() => new Date());
  const apiPolicy = await ApiPolicy.load(config.policy.apiPolicyFile);
  const changes = new PolicyChangeLog();
  const birthright = new BirthrightService(db, changes);
  const sod = new SodService(db, clock);
  const engine = await PolicyEngine.start(db, changes, log, { pollIntervalMs: config.policy.pollIntervalMs });
  const { planner, jml, identities, feeds, effectiveDates } = createLifecycleServices(db, config, changes, birthright, clock);
  const metrics = createMetrics();
  const connectors = ConnectorRegistry.fromConfig(config.targets);
  OutboxMetrics.on(metrics.registry, db);
  const grants = new GrantService(db, changes, birthright, sod, jml, clock);
  const sodExceptions = new SodExceptions(db, clock);
  const mailer = new Mailer(db, config.mail, log, clock, metrics.registry);
  // Mail queued by the CLI is sent by a server later; its links need the public URL (a server sets it again once it listens).
  mailer.baseUrl = config.publicUrl.replace(/\/$/, '');
  const requests = new AccessRequestService(db, config, { grants, sod, sodExceptions, birthright }, clock);
  const reviews = new ReviewService(db, config, grants, clock);
  // A leaver's pending requests are cancelled and what waited on them is handed to their manager.
  jml.followLeavers(requests);
  jml.followLeavers(reviews);
  return {
    config,
    db,
    log,
    tokens: new TokenService(db),
    identities,
    groups: new GroupService(db),
    metrics,
    changes,
    birthright,
    sod,
    sodExceptions,
    policyStore: new PolicyStore(db, changes, birthright),
    grants,
    engine,
    apiPolicy,
    jml,
    feeds,
    effectiveDates,
    planner,
    connectors,
    outbox: new OutboxWorker(db, connectors, { ...config.outbox, log, registry: metrics.registry }),
    reconciler: new Reconciler(db, connectors),
    requests,
    delegations: new DelegationService(db, clock),
    reviews,
    mailer,
    clock,
  };
}

/** Stops what createServices started (the engine's poller, the outbox worker if started, the connectors); the database stays open for the caller to close. */
export async function closeServices(services: AppServices): Promise<void> {
  await services.outbox.stop();
  await services.mailer.close();
  await services.connectors.close();
  await services.engine.stop();
}

/**
 * Runs `middleware` only for paths under `prefix` (in any letter case, as the routers match), so a
 * request to one API does not pay for matching it against every route of the other.
 */
function under<C extends Context>(prefix: string, middleware: (ctx: C, next: Next) => unknown): Middleware {
  const lower = prefix.toLowerCase();
  const below = `${lower}/`;
  return (ctx, next) => {
    const path = ctx.path.toLowerCase();
    // The routers add their own fields to the context they are given.
    return path === lower || path.startsWith(below) ? middleware(ctx as C, next) : next();
  };
}

/** Builds the Koa application: request context, health and metrics, SCIM, the REST API. */
export async function createApp(services: AppServices): Promise<Koa> {
  const { config, db, log, tokens, identities, groups, metrics, apiPolicy } = services;
  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(requestContext(log, metrics));
  // The REST API first: the access-check endpoint is the hottest path other applications call. It
  // renders every failure of its own, so it needs no layer below to catch them.
  app.use(under(API_PREFIX, apiMiddleware(apiRoutes(services, apiPolicy), tokens, apiPolicy, config.api.maxBodyBytes)));
  // Outside SCIM and the REST API (which render their own errors), an unexpected fault is an opaque JSON 500.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      (ctx.state as RequestState).log.error({ err }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: 'internal error', requestId: (ctx.state as RequestState).requestId };
    }
  });
  const discovery = await buildDiscovery(config.scim);
  const scim = scimRouter({ db, identities, groups, limits: config.scim }, tokens, discovery, config.publicUrl, apiPolicy);
  app.use(under(SCIM_PREFIX, compose([scim.routes(), scim.allowedMethods()])));
  app.use(under(PAGES_PREFIX, pagesMiddleware(services)));
  const health = healthRouter(db, metrics);
  app.use(health.routes()).use(health.allowedMethods());
  return app;
}
