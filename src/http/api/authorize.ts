/*
 * Authorization of this server's own API (/api/v1 and /scim/v2) by Casbin: the policy in
 * policies/api_policy.csv under the model policies/api_model.conf, where a token's scopes are its
 * roles, the object is the path of the route that matched (its parameters filled in) and the
 * action the HTTP method. The policy is evaluated with AccessIndex, which gives Casbin's answers
 * for this model in microseconds; nothing is allowed unless a rule allows it.
 */
import type { Context, Middleware } from 'koa';
import { SCOPES, type Scope } from '../../auth/scopes.js';
import type { Principal } from '../../auth/tokens.js';
import { AccessIndex, type AccessPolicy, type Decision } from '../../policy/access-index.js';
import { AuthError } from '../middleware/authenticate.js';
import type { RequestState } from '../middleware/request-context.js';
import { readPolicyFiles } from './policy-file.js';

/** The loaded API policy: decides whether a token's scopes allow a method on a path. */
export class ApiPolicy {
  private readonly allowingCache = new Map<string, Scope[]>();
  /** principal → method → path → allowed */
  private readonly answers = new WeakMap<Principal, Map<string, Map<string, boolean>>>();

  private constructor(readonly index: AccessIndex, readonly source: string) {}

  /** Builds the policy; `model` is checked to be the AccessIndex's model. */
  static build(policy: AccessPolicy, model: string, source: string): ApiPolicy {
    return new ApiPolicy(AccessIndex.build(policy, model), source);
  }

  /** Reads config.policy.apiPolicyFile (relative to the project root) and policies/api_model.conf. */
  static async load(policyFile: string, modelFile?: string): Promise<ApiPolicy> {
    const { policy, model, source } = await readPolicyFiles(policyFile, modelFile);
    try {
      return ApiPolicy.build(policy, model, source);
    } catch (err) {
      throw new Error(`the API policy ${source} cannot be used: ${(err as Error).message}`);
    }
  }

  /**
   * Whether a token may do `method` on `path`: the Casbin answer for the subject `token` whose
   * only direct roles are its `scopes`. The subject is the token's name behind a `token:` prefix,
   * so a token named like a role gets nothing from its name.
   */
  decide(token: string, scopes: readonly string[], path: string, method: string): Decision {
    return this.index.decideFor(`token:${token}`, scopes, path, method);
  }

  /**
   * decide(), remembered per principal, method and path: the policy never changes once built and a
   * principal's scopes never change (a token's scopes are fixed when it is issued), so the answer
   * cannot go stale. Kept on the principal object, which lives until its token's row is read
   * again, and looked up without building a key: a route's path without parameters is the same
   * string every time. Bounded per principal, since paths carry ids.
   */
  allows(principal: Principal, path: string, method: string): boolean {
    let byMethod = this.answers.get(principal);
    if (byMethod === undefined) this.answers.set(principal, (byMethod = new Map()));
    let byPath = byMethod.get(method);
    if (byPath === undefined) byMethod.set(method, (byPath = new Map()));
    let allowed = byPath.get(path);
    if (allowed === undefined) {
      allowed = this.decide(principal.name, principal.scopes, path, method).allowed;
      if (byPath.size >= 1000) byPath.clear();
      byPath.set(path, allowed);
    }
    return allowed;
  }

  /** The known scopes that would be allowed `method` on `path`, in SCOPES order. */
  scopesAllowing(path: string, method: string): Scope[] {
    const key = `${method} ${path}`;
    let allowed = this.allowingCache.get(key);
    if (allowed === undefined) {
      allowed = (Object.keys(SCOPES) as Scope[]).filter((scope) => this.index.decide(scope, path, method).allowed);
      // Paths carry ids, so only a bounded number of answers is kept; they never go stale (the policy is immutable).
      if (this.allowingCache.size >= 1000) this.allowingCache.clear();
      this.allowingCache.set(key, allowed);
    }
    return allowed;
  }
}

/** The action a request is authorized as: its method, with HEAD read as the GET it mirrors. */
function actionOf(method: string): string {
  return method === 'HEAD' ? 'GET' : method;
}

/**
 * The object a request is authorized as: the route's template (`/api/v1/targets/:name`) with each
 * parameter replaced by its URL-encoded value. Built from the route that matched rather than from
 * the raw URL, so letter case, a trailing slash or an encoded `/` in an id cannot make the path
 * the policy sees differ from the route that runs.
 */
function objectOf(template: string, params: Record<string, string | undefined>): string {
  return template.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));
}

/** Why a request was refused, in words that name the token's scopes and what the route needs. */
function refusal(scopes: readonly string[], allowing: readonly string[], method: string, path: string): AuthError {
  const needs = allowing.length > 0
    ? `it needs one of the scopes ${allowing.join(', ')}`
    : 'no scope allows it';
  const message = scopes.length === 0
    ? `this token carries no scope, so it may not ${method} ${path}; ${needs}`
    : `this token's scopes (${scopes.join(', ')}) do not allow ${method} ${path}; ${needs}`;
  return new AuthError(403, message, { scopes: [...scopes], requiredScopes: [...allowing], method, path });
}

/**
 * A check that throws 403 unless the authenticated principal's scopes allow the route's method
 * on its path; `template` is the route's full path in keyMatch2 syntax.
 */
export function routeAuthorizer(policy: ApiPolicy, template: string): (ctx: Context) => void {
  const fixed = template.includes(':') ? undefined : template;
  return (ctx) => {
    const principal = (ctx.state as RequestState).principal;
    const object = fixed ?? objectOf(template, ctx.params as Record<string, string>);
    const action = actionOf(ctx.method);
    if (!principal || !policy.allows(principal, object, action)) {
      throw refusal(principal?.scopes ?? [], policy.scopesAllowing(object, action), ctx.method, ctx.path);
    }
  };
}

/** routeAuthorizer() as middleware. */
export function authorize(policy: ApiPolicy, template: string): Middleware {
  const check = routeAuthorizer(policy, template);
  return async (ctx, next) => {
    check(ctx);
    await next();
  };
}
