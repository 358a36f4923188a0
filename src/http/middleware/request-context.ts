import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../log/logger.js';
import type { HttpMetrics } from '../metrics.js';
import { loggablePath } from '../../notify/links.js';

/** Per-request state the middleware chain shares. */
export interface RequestState {
  requestId: string;
  log: Logger;
  principal?: import('../../auth/tokens.js').Principal;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives each request an id (the caller's X-Request-Id when well-formed), a child logger, one
 * access-log line and its metrics. The route label is the matched pattern, never the raw URL,
 * so ids in paths do not explode the metric's cardinality.
 */
export function requestContext(log: Logger, metrics: HttpMetrics): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const incoming = ctx.get('x-request-id');
    const state = new LazyState(log, REQUEST_ID.test(incoming) ? incoming : randomUUID());
    ctx.state = state;
    ctx.set('X-Request-Id', state.requestId);
    try {
      await next();
    } finally {
      const seconds = (performance.now() - started) / 1000;
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.requests.observe(ctx.method, route, ctx.status, seconds);
      if (log.isLevelEnabled('info')) state.log.info({ method: ctx.method, path: loggablePath(ctx.path), route, status: ctx.status, ms: Math.round(seconds * 1e4) / 10, actor: state.principal?.name }, 'request');
    }
  };
}

/** Request state whose child logger is made on first use: most requests never log beyond the access line. */
class LazyState implements RequestState {
  principal?: RequestState['principal'];
  private child?: Logger;

  constructor(private readonly base: Logger, readonly requestId: string) {}

  get log(): Logger {
    return (this.child ??= this.base.child({ requestId: this.requestId }));
  }
}
