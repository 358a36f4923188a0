/*
 * The one error shape of /api/v1: `{ error: { status, code, message, details? } }`. Handlers and
 * services throw what they know (ApiError, PolicyError, IdentityError, BodyError, AuthError, a
 * ZodError); apiErrors() translates each at the edge by type, never by message text, and turns
 * anything else into an opaque 500 that names the request id.
 */
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { BodyError } from '../body.js';
import { AuthError } from '../middleware/authenticate.js';
import type { RequestState } from '../middleware/request-context.js';
import { PolicyError } from '../../policy/model.js';
import { IdentityError } from '../../identity/errors.js';
import { FeedError } from '../../lifecycle/feed-service.js';
import { HrFeedError } from '../../lifecycle/hr-feed/read.js';
import { ReconcileError } from '../../provisioning/reconciliation/reconciler.js';
import { GovernanceError } from '../../governance/errors.js';

/** Machine-readable error codes; clients branch on these, never on the message. */
export const ERROR_CODES = {
  400: ['invalid_request', 'malformed_body'],
  401: ['unauthorized'],
  403: ['forbidden'],
  404: ['not_found', 'route_not_found'],
  405: ['method_not_allowed'],
  409: ['conflict', 'sod_violation'],
  412: ['precondition_failed'],
  413: ['body_too_large'],
  415: ['unsupported_media_type'],
  422: ['unprocessable'],
  500: ['internal_error'],
} as const;

export type ErrorStatus = keyof typeof ERROR_CODES;
export type ErrorCode = (typeof ERROR_CODES)[ErrorStatus][number];

/** A client-facing failure with its status, code and optional structured details. */
export class ApiError extends Error {
  constructor(readonly status: ErrorStatus, readonly code: ErrorCode, message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Where a request part that failed validation came from. */
export type InputLocation = 'params' | 'query' | 'body' | 'header';

/** One validation problem, as the 400 body lists it. */
export interface InputIssue {
  in: InputLocation;
  /** dotted path inside that part, '' for the part itself */
  path: string;
  message: string;
  code: string;
}

/**
 * The issues of a failed parse, one per problem. A union that matched no branch is reported by
 * the branch that came closest (fewest issues), so `{checks: [...]}` with one bad check names that
 * check instead of "invalid input".
 */
export function inputIssues(where: InputLocation, issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): InputIssue[] {
  const out: InputIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
      out.push(...inputIssues(where, closest, path));
      continue;
    }
    out.push({ in: where, path: path.map(String).join('.'), message: issue.message, code: issue.code });
  }
  return out;
}

/** A 400 listing every issue with where it is. */
export function invalidRequest(issues: InputIssue[]): ApiError {
  const listed = issues.map((i) => `${[i.in, i.path].filter(Boolean).join('.')}: ${i.message}`).join('; ');
  return new ApiError(400, 'invalid_request', `the request is not valid: ${listed}`, { issues });
}

const POLICY_STATUS: Record<PolicyError['kind'], [ErrorStatus, ErrorCode]> = {
  notFound: [404, 'not_found'],
  conflict: [409, 'conflict'],
  invalid: [422, 'unprocessable'],
  sod: [409, 'sod_violation'],
  preconditionFailed: [412, 'precondition_failed'],
};

const IDENTITY_STATUS: Record<IdentityError['kind'], [ErrorStatus, ErrorCode]> = {
  notFound: [404, 'not_found'],
  conflict: [409, 'conflict'],
  invalid: [422, 'unprocessable'],
  preconditionFailed: [412, 'precondition_failed'],
};

const GOVERNANCE_STATUS: Record<GovernanceError['kind'], [ErrorStatus, ErrorCode]> = {
  notFound: [404, 'not_found'],
  invalid: [422, 'unprocessable'],
  forbidden: [403, 'forbidden'],
  conflict: [409, 'conflict'],
  sod: [409, 'sod_violation'],
};

/** Services whose failures are only "no such thing" or "not now": feeds, reconciliation runs. */
const LOOKUP_STATUS: Record<'notFound' | 'conflict', [ErrorStatus, ErrorCode]> = {
  notFound: [404, 'not_found'],
  conflict: [409, 'conflict'],
};

const BODY_CODES: Record<BodyError['status'], ErrorCode> = { 400: 'malformed_body', 413: 'body_too_large', 415: 'unsupported_media_type' };

/** The ApiError a thrown value stands for, or undefined for an unexpected fault. */
export function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof AuthError) return new ApiError(err.status, err.status === 401 ? 'unauthorized' : 'forbidden', err.message, err.details);
  if (err instanceof BodyError) return new ApiError(err.status, BODY_CODES[err.status], err.message);
  if (err instanceof PolicyError) {
    const [status, code] = POLICY_STATUS[err.kind];
    return new ApiError(status, code, err.message, err.details);
  }
  if (err instanceof GovernanceError) {
    const [status, code] = GOVERNANCE_STATUS[err.kind];
    return new ApiError(status, code, err.message, err.details);
  }
  if (err instanceof IdentityError) {
    const [status, code] = IDENTITY_STATUS[err.kind];
    return new ApiError(status, code, err.message);
  }
  if (err instanceof FeedError || err instanceof ReconcileError) {
    const [status, code] = LOOKUP_STATUS[err.kind];
    return new ApiError(status, code, err.message);
  }
  // An upload that cannot be read as a feed at all: its header, encoding or JSON structure.
  if (err instanceof HrFeedError) return new ApiError(422, 'unprocessable', err.message);
  // Services parse the unknown input they are given; their zod failures are about that input.
  if (err instanceof z.ZodError) return invalidRequest(inputIssues('body', err.issues));
  return undefined;
}

/** The JSON body of an error response. */
export function errorBody(error: ApiError): { error: { status: number; code: string; message: string; details?: Record<string, unknown> } } {
  return { error: { status: error.status, code: error.code, message: error.message, ...(error.details !== undefined && { details: error.details }) } };
}

function render(ctx: Context, error: ApiError): void {
  ctx.status = error.status;
  ctx.body = errorBody(error);
}

/** Renders every failure under /api/v1 in the API's error shape; an unexpected fault is logged and answered with an opaque 500. */
export function apiErrors(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      renderApiFailure(ctx, err);
    }
  };
}

/** What apiErrors() does with a failure, for a route that runs without the middleware chain. */
export function renderApiFailure(ctx: Context, err: unknown): void {
  const state = ctx.state as RequestState;
  const known = toApiError(err);
  if (known) {
    if (known.status === 401) {
      // RFC 6750 §3.1: no bearer token gets the bare challenge; a bad one gets invalid_token.
      const presented = /^Bearer\s/i.test(ctx.get('authorization'));
      ctx.set('WWW-Authenticate', presented ? 'Bearer realm="iam", error="invalid_token"' : 'Bearer realm="iam"');
    }
    render(ctx, known);
    return;
  }
  state.log.error({ err }, 'unexpected error in API request');
  // A response already streaming (an audit export) cannot change its status; end it.
  if (ctx.headerSent) {
    ctx.res.destroy(err as Error);
    return;
  }
  render(ctx, new ApiError(500, 'internal_error', `internal error; quote request id ${state.requestId} to the administrator`, { requestId: state.requestId }));
}
