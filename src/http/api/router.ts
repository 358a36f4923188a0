/*
 * The /api/v1 Koa router, built from the declared routes: for each one, authentication and the
 * API policy's decision (unless the route is public), then validation of path parameters, query
 * and body against the route's schemas, then the handler. Failures of any step come back in the
 * API's JSON error shape; a path no route declares is a JSON 404, a known path with another
 * method a 405 naming the methods it has.
 */
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { z } from 'zod';
import type { TokenService } from '../../auth/tokens.js';
import { readJsonBody, readRawBody } from '../body.js';
import { authenticate, authenticateRequest } from '../middleware/authenticate.js';
import type { RequestState } from '../middleware/request-context.js';
import { authorize, routeAuthorizer, type ApiPolicy } from './authorize.js';
import { ApiError, apiErrors, inputIssues, renderApiFailure, invalidRequest, type InputIssue, type InputLocation } from './errors.js';
import { parseIfMatch } from './etag.js';
import { API_PREFIX, colonPath, NO_INPUT, type ApiCall, type ApiRoute, type Reply } from './route.js';

// The column that keeps it (access_requests.idempotency_key) holds 255.
const MAX_IDEMPOTENCY_KEY = 255;

function validate(where: InputLocation, schema: z.ZodType, value: unknown, issues: InputIssue[]): unknown {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  issues.push(...inputIssues(where, result.error.issues));
  return undefined;
}

function hasKeys(value: object | undefined): boolean {
  for (const _ in value) return true;
  return false;
}

function validBody(route: ApiRoute, schema: z.ZodType, value: unknown, issues: InputIssue[]): unknown {
  return route.acceptsBody?.(value) === true ? value : validate('body', schema, value, issues);
}

function send(ctx: Context, reply: Reply): void {
  ctx.status = reply.status;
  if (reply.headers) for (const [name, value] of Object.entries(reply.headers)) ctx.set(name, value);
  if (reply.body !== undefined) {
    if (reply.type) ctx.type = reply.type;
    ctx.body = reply.body;
  }
}

/** Validates the request against the route's schemas, then runs its handler; the last step of a route, as middleware or called directly. */
function handler(route: ApiRoute, maxBodyBytes: number): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    const state = ctx.state as RequestState;
    // Every problem with the parameters, query, body and If-Match is reported in one 400; only a
    // body that is not JSON at all, too large or of another media type is refused on its own.
    const issues: InputIssue[] = [];
    // A route that takes no parameters or query, asked without any, has nothing to validate.
    const params = route.params || hasKeys(ctx.params) ? validate('params', route.params ?? NO_INPUT, { ...ctx.params }, issues) : {};
    const query = route.query || ctx.querystring !== '' ? validate('query', route.query ?? NO_INPUT, { ...ctx.query }, issues) : {};
    const body = route.body ? validBody(route, route.body, await readJsonBody(ctx, maxBodyBytes), issues) : undefined;
    const rawBody = route.rawBody ? await readRawBody(ctx, Object.keys(route.rawBody.mediaTypes), route.rawBody.maxBytes) : undefined;
    if (!route.body && !route.rawBody && ctx.request.length) {
      issues.push({ in: 'body', path: '', code: 'unexpected_body', message: `${route.method} ${route.path} takes no body` });
    }
    const ifMatch = route.ifMatch ? parseIfMatch(ctx.get('if-match') || undefined, issues) : undefined;
    const idempotencyKey = route.idempotencyKey ? ctx.get('idempotency-key') || undefined : undefined;
    if (idempotencyKey !== undefined && idempotencyKey.length > MAX_IDEMPOTENCY_KEY) {
      issues.push({ in: 'header', path: 'Idempotency-Key', code: 'too_big', message: `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY} characters` });
    }
    if (issues.length > 0) throw invalidRequest(issues);
    const call: ApiCall = {
      change: { actor: `token:${state.principal?.name ?? 'anonymous'}`, requestId: state.requestId },
      caller: { identityId: state.principal?.identityId ?? null, scopes: state.principal?.scopes ?? [] },
      ...(ifMatch !== undefined && { ifMatch }),
      ...(rawBody !== undefined && { rawBody }),
      ...(idempotencyKey !== undefined && { idempotencyKey }),
    };
    send(ctx, await route.handle({ params, query, body } as never, call));
  };
}

/** Turns a declared path into a pattern for telling 404 from 405. */
function pathPattern(path: string): RegExp {
  const source = path.split(/\{[A-Za-z_][A-Za-z0-9_]*\}/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+');
  return new RegExp(`^${source}/?$`, 'i');
}

/**
 * The /api/v1 middleware: a route without path parameters is found by one map lookup on method
 * and path, and runs as one function doing what the router's chain would (the access-check
 * endpoint is one, called by other applications on their own hot paths: each middleware layer
 * costs it a promise and a turn of the microtask queue); every other request goes through the Koa router.
 */
export function apiMiddleware(routes: readonly ApiRoute[], tokens: TokenService, policy: ApiPolicy, maxBodyBytes: number): Middleware {
  const router = apiRouter(routes, tokens, policy, maxBodyBytes);
  const routed = router.routes() as unknown as Middleware;
  // method → path → route; the path string Koa gives is the same object each time it is read, so its hash is computed once.
  const exact = new Map<string, Map<string, Middleware>>();
  for (const route of routes) {
    if (route.path.includes('{')) continue;
    const template = `${API_PREFIX}${route.path}`;
    const authorizeRoute = route.public ? undefined : routeAuthorizer(policy, template);
    const run = handler(route, maxBodyBytes);
    if (!exact.has(route.method)) exact.set(route.method, new Map());
    exact.get(route.method)!.set(template, async (ctx) => {
      // What the router would have set: no parameters, and the pattern metrics and logs label the request with.
      ctx.params = {};
      (ctx as unknown as { _matchedRoute: string })._matchedRoute = template;
      try {
        if (authorizeRoute !== undefined) {
          await authenticateRequest(tokens, ctx);
          authorizeRoute(ctx);
        }
        await run(ctx);
      } catch (err) {
        renderApiFailure(ctx, err);
      }
    });
  }
  return (ctx, next) => (exact.get(ctx.method)?.get(ctx.path) ?? routed)(ctx, next);
}

/** Builds the /api/v1 router from `routes`. */
export function apiRouter(routes: readonly ApiRoute[], tokens: TokenService, policy: ApiPolicy, maxBodyBytes: number): Router {
  const router = new Router({ prefix: API_PREFIX });
  router.use(apiErrors());
  const auth = authenticate(tokens);
  for (const route of routes) {
    const path = colonPath(route.path);
    const guards = route.public ? [] : [auth, authorize(policy, `${API_PREFIX}${path}`)];
    router.register(path, [route.method], [...guards, handler(route, maxBodyBytes)]);
  }

  const patterns = routes.map((route) => ({ method: route.method, pattern: pathPattern(route.path) }));
  const unmatched: Middleware = async (ctx) => {
    const rest = ctx.path.slice(API_PREFIX.length) || '/';
    const methods = [...new Set(patterns.filter((p) => p.pattern.test(rest)).map((p) => p.method))];
    if (methods.length === 0) throw new ApiError(404, 'route_not_found', `no API endpoint ${ctx.path}; the endpoints are listed in ${API_PREFIX}/openapi.json`);
    const allow = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
    ctx.set('Allow', allow.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    throw new ApiError(405, 'method_not_allowed', `${ctx.path} does not take ${ctx.method}; it takes ${allow.join(', ')}`);
  };
  router.all('/', unmatched);
  router.all('/{*rest}', unmatched);
  return router;
}
