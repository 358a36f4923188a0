import Router from '@koa/router';
import type { Database } from '../../db/database.js';
import type { HttpMetrics } from '../metrics.js';

/** /healthz (the process answers), /readyz (the database answers), /metrics (Prometheus text). */
export function healthRouter(db: Database, metrics: HttpMetrics): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const database = await db.ping();
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'not ready', database: database ? 'ok' : 'unreachable' };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}
