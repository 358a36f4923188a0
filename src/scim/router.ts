import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { TokenService } from '../auth/tokens.js';
import { BodyError, readJsonBody } from '../http/body.js';
import { authorize, type ApiPolicy } from '../http/api/authorize.js';
import { AuthError, authenticate } from '../http/middleware/authenticate.js';
import type { RequestState } from '../http/middleware/request-context.js';
import { bulk } from './bulk.js';
import type { ScimCall, ScimDeps, ScimResult } from './context.js';
import { discoveryHandlers, type Discovery } from './discovery.js';
import { clientError, ScimError } from './errors.js';
import { groups } from './groups.js';
import { searchAll, searchResource } from './search.js';
import { users } from './users.js';

/** Where the SCIM API is mounted. */
export const SCIM_PREFIX = '/scim/v2';

const SCIM_JSON = 'application/scim+json; charset=utf-8';

/** Renders every failure on SCIM routes as a SCIM error body; an unexpected fault is an opaque 500. */
function scimErrors(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const state = ctx.state as RequestState;
      let error: ScimError;
      if (err instanceof AuthError) {
        error = new ScimError(err.status, undefined, err.message);
        // RFC 6750 §3.1: a request without a bearer token (none, or another scheme) gets the
        // challenge without an error code; a bad bearer token gets invalid_token.
        const presented = /^Bearer\s/i.test(ctx.get('authorization'));
        if (err.status === 401) ctx.set('WWW-Authenticate', presented ? 'Bearer realm="iam", error="invalid_token"' : 'Bearer realm="iam"');
      } else if (err instanceof BodyError) {
        // tooMany (RFC 7644 §3.12) is about filter results; an oversized body is a plain 413 (§3.7.3).
        error = new ScimError(err.status, err.status === 400 ? 'invalidSyntax' : undefined, err.message);
      } else {
        const known = clientError(err);
        if (known) {
          error = known;
        } else {
          state.log.error({ err }, 'unexpected error in SCIM request');
          error = new ScimError(500, undefined, `internal error; quote request id ${state.requestId} to the administrator`);
        }
      }
      ctx.status = error.status;
      ctx.type = SCIM_JSON;
      ctx.body = error.toBody();
    }
  };
}

function baseUrl(ctx: Context, publicUrl: string): string {
  return `${publicUrl ? publicUrl.replace(/\/$/, '') : `${ctx.protocol}://${ctx.host}`}${SCIM_PREFIX}`;
}

/**
 * Builds the /scim/v2 router: discovery without auth, resources behind bearer tokens whose scopes
 * the API policy (policies/api_policy.csv) allows the route's method on its path.
 */
export function scimRouter(deps: ScimDeps, tokens: TokenService, discovery: Discovery, publicUrl: string, policy: ApiPolicy): Router {
  const router = new Router({ prefix: SCIM_PREFIX });
  const docs = discoveryHandlers(discovery);
  const auth = authenticate(tokens);
  /** Authentication, then the policy's decision for this route's path template. */
  const guard = (path: string): Middleware[] => [auth, authorize(policy, `${SCIM_PREFIX}${path}`)];

  const callOf = async (ctx: Context, withBody: boolean, limit = deps.limits.maxBodyBytes): Promise<ScimCall> => {
    const state = ctx.state as RequestState;
    return {
      actor: `token:${state.principal?.name ?? 'anonymous'}`,
      requestId: state.requestId,
      baseUrl: baseUrl(ctx, publicUrl),
      query: ctx.query as Record<string, unknown>,
      body: withBody ? await readJsonBody(ctx, limit) : undefined,
      ifMatch: ctx.get('if-match') || undefined,
      ifNoneMatch: ctx.get('if-none-match') || undefined,
    };
  };
  const send = (ctx: Context, result: ScimResult) => {
    ctx.status = result.status;
    for (const [name, value] of Object.entries(result.headers ?? {})) ctx.set(name, value);
    if (result.body !== undefined) {
      ctx.type = SCIM_JSON;
      ctx.body = result.body;
    }
  };
  type Handler = (call: ScimCall, ctx: Context) => Promise<ScimResult> | ScimResult;
  const handle = (withBody: boolean, handler: Handler, limit?: number): Middleware => async (ctx) => {
    send(ctx, await handler(await callOf(ctx, withBody, limit), ctx));
  };
  const notAllowed = (allow: string): Middleware => async (ctx) => {
    ctx.set('Allow', allow);
    throw new ScimError(405, undefined, `this endpoint allows ${allow} only`);
  };

  router.use(scimErrors());

  // RFC 7644 §4: discovery takes no filter; answering 403 keeps a client from believing one applied.
  const unfiltered: Middleware = async (ctx, next) => {
    if (ctx.query.filter !== undefined) throw new ScimError(403, undefined, 'discovery endpoints do not support filter');
    await next();
  };
  router.get('/ServiceProviderConfig', unfiltered, handle(false, (c) => docs.serviceProviderConfig(c.baseUrl)));
  router.get('/ResourceTypes', unfiltered, handle(false, (c) => docs.resourceTypes(c.baseUrl)));
  router.get('/ResourceTypes/:id', unfiltered, handle(false, (c, ctx) => docs.resourceType(c.baseUrl, ctx.params.id!)));
  router.get('/Schemas', unfiltered, handle(false, (c) => docs.schemas(c.baseUrl)));
  router.get('/Schemas/:id', unfiltered, handle(false, (c, ctx) => docs.schema(c.baseUrl, ctx.params.id!)));
  for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/ResourceTypes/:id', '/Schemas', '/Schemas/:id']) {
    router.post(path, notAllowed('GET'));
    router.put(path, notAllowed('GET'));
    router.patch(path, notAllowed('GET'));
    router.delete(path, notAllowed('GET'));
  }

  router.post('/.search', ...guard('/.search'), handle(true, (c) => searchAll(deps, c)));
  router.post('/Bulk', ...guard('/Bulk'), handle(true, (c, ctx) => bulk(deps, c, (ctx.state as RequestState).log), deps.limits.bulkMaxPayloadBytes));

  for (const [path, handlers] of [['/Users', users], ['/Groups', groups]] as const) {
    const resource = path === '/Users' ? 'Users' : 'Groups';
    const one = `${path}/:id`;
    router.get(path, ...guard(path), handle(false, (c) => handlers.list(deps, c)));
    router.post(`${path}/.search`, ...guard(`${path}/.search`), handle(true, (c) => searchResource(deps, c, resource)));
    router.post(path, ...guard(path), handle(true, (c) => handlers.create(deps, c)));
    router.get(one, ...guard(one), handle(false, (c, ctx) => handlers.get(deps, c, ctx.params.id!)));
    router.put(one, ...guard(one), handle(true, (c, ctx) => handlers.replace(deps, c, ctx.params.id!)));
    router.patch(one, ...guard(one), handle(true, (c, ctx) => handlers.patch(deps, c, ctx.params.id!)));
    router.delete(one, ...guard(one), handle(false, (c, ctx) => handlers.remove(deps, c, ctx.params.id!)));
  }
  // Anything else under the prefix is a SCIM 404, not Koa's plain-text one.
  router.all('/{*rest}', async () => {
    throw new ScimError(404, undefined, 'no such SCIM endpoint');
  });
  return router;
}
