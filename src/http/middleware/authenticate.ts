import type { Context, Middleware } from 'koa';
import type { TokenService } from '../../auth/tokens.js';
import type { RequestState } from './request-context.js';

/** A request without valid credentials (401) or not allowed by the API policy (403). */
export class AuthError extends Error {
  constructor(readonly status: 401 | 403, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Reads `Authorization: Bearer <token>` and sets `ctx.state.principal`; unknown, malformed and revoked tokens get the same 401. */
export async function authenticateRequest(tokens: TokenService, ctx: Context): Promise<void> {
  const header = ctx.get('authorization');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw new AuthError(401, header ? 'the Authorization header must be "Bearer <token>"' : 'a bearer token is required');
  const principal = await tokens.authenticate(m[1]!, ctx.req.socket);
  if (!principal) throw new AuthError(401, 'the bearer token is not valid');
  (ctx.state as RequestState).principal = principal;
}

/** authenticateRequest() as middleware. */
export function authenticate(tokens: TokenService): Middleware {
  return async (ctx, next) => {
    await authenticateRequest(tokens, ctx);
    await next();
  };
}
