import Koa from 'koa';
import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { TokenService } from '../auth/tokens.js';
import { IdentityService } from '../identity/identity-service.js';
import { GroupService } from '../identity/group-service.js';
import { buildDiscovery } from '../scim/discovery.js';
import { scimRouter } from '../scim/router.js';
import { createMetrics, type HttpMetrics } from './metrics.js';
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
}

/** Wires the services a server needs around one database. */
export function createServices(config: Config, db: Database, log: Logger): AppServices {
  return {
    config,
    db,
    log,
    tokens: new TokenService(db),
    identities: new IdentityService(db),
    groups: new GroupService(db),
    metrics: createMetrics(),
  };
}

/** Builds the Koa application: request context, health and metrics, SCIM. */
export async function createApp(services: AppServices): Promise<Koa> {
  const { config, db, log, tokens, identities, groups, metrics } = services;
  const app = new Koa({ proxy: false });
  app.silent = true;
  app.use(requestContext(log, metrics));
  // Outside SCIM (which renders its own errors), an unexpected fault is an opaque JSON 500.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      (ctx.state as RequestState).log.error({ err }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { error: 'internal error', requestId: (ctx.state as RequestState).requestId };
    }
  });
  const health = healthRouter(db, metrics);
  app.use(health.routes()).use(health.allowedMethods());
  const discovery = await buildDiscovery(config.scim);
  const scim = scimRouter({ db, identities, groups, limits: config.scim }, tokens, discovery, config.publicUrl);
  app.use(scim.routes()).use(scim.allowedMethods());
  return app;
}
