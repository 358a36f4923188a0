/*
 * How a REST route is declared: once, with its method, path, summary and the zod schemas of its
 * path parameters, query, body and responses. The Koa router (router.ts) validates requests with
 * these schemas before the handler runs, and the OpenAPI document (openapi.ts) is generated from
 * the same declarations, so the two cannot drift apart. Which tokens may call a route is not
 * declared here: the API policy decides it from the path and method.
 */
import { z } from 'zod';
import type { ChangeContext } from '../../identity/resources.js';
import type { Scope } from '../../auth/scopes.js';
import type { Actor } from '../../governance/actor.js';
import type { ErrorStatus } from './errors.js';

/** Where the REST API is mounted. */
export const API_PREFIX = '/api/v1';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One success status a route answers with. */
export interface ResponseSpec {
  description: string;
  /** the JSON body; omitted for an empty body or a non-JSON one */
  schema?: z.ZodType;
  /** media types of a non-JSON body (a streamed export) */
  mediaTypes?: string[];
  /** headers this response sets: name -> what it carries */
  headers?: Record<string, string>;
}

/**
 * A request body taken as bytes rather than JSON (an uploaded file), for the few routes whose
 * input is a document of its own format. Its size is capped by the route, not by api.maxBodyBytes.
 */
export interface RawBodySpec {
  description: string;
  /** the largest body accepted, in bytes; a larger one is refused with 413 */
  maxBytes: number;
  /** each media type accepted, with the JSON Schema the OpenAPI document shows for it; any other is refused with 415 */
  mediaTypes: Record<string, Record<string, unknown>>;
}

/** A raw body as the handler receives it. */
export interface RawBody {
  /** the request's media type, lowercased, without parameters: one the route accepts */
  mediaType: string;
  content: Buffer;
}

/** What a handler knows about the request beyond its validated input; it never sees the raw request. */
export interface ApiCall {
  /** who acts, for the audit trail: `token:<name>`, with the request id */
  change: ChangeContext;
  /** the calling token's person (null for a system's token) and scopes, for routes that act for someone */
  caller: Caller;
  /** the version an If-Match header requires, for routes that accept one */
  ifMatch?: IfMatch;
  /** the body of a route that declares `rawBody` */
  rawBody?: RawBody;
  /** the Idempotency-Key header, for routes that declare `idempotencyKey` */
  idempotencyKey?: string;
}

/** Who is calling, beyond the audit actor: the person a token belongs to and what it may do. */
export interface Caller {
  identityId: string | null;
  scopes: readonly Scope[];
}

/** The caller as the governance services take it: the token's person, the audit actor and the token's scopes. */
export function callerActor(call: ApiCall): Actor {
  return { identityId: call.caller.identityId, actor: call.change.actor, scopes: call.caller.scopes, ...(call.change.requestId !== undefined && { requestId: call.change.requestId }) };
}

/** An If-Match header: `*` (the resource must exist) or one version. */
export type IfMatch = { any: true } | { any: false; version: number };

/** A handler's answer; JSON unless `type` says otherwise. */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** content type of a non-JSON body */
  type?: string;
}

/** The validated parts of a request. */
export interface RouteInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
}

/** No parameters: an empty object that refuses any key. */
export const NO_INPUT = z.strictObject({});
type NoInput = typeof NO_INPUT;

/** A route as declared. */
export interface RouteSpec<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType | undefined> {
  method: HttpMethod;
  /** under /api/v1, OpenAPI style: `/targets/{name}` */
  path: string;
  /** unique, stable, camelCase: the OpenAPI operationId */
  operationId: string;
  /** groups operations in the document */
  tag: string;
  summary: string;
  description?: string;
  /** served without a token (the OpenAPI document itself) */
  public?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A cheap exact test for the body's most common shape: when it returns true the body is taken as
   * it is, without running `body`. It must accept only what `body` accepts and returns unchanged
   * (a test holds the route to that); anything else goes through the schema, which reports what is wrong.
   */
  acceptsBody?: (body: unknown) => boolean;
  /** the route takes its body as bytes (instead of `body`), handed to the handler as `call.rawBody` */
  rawBody?: RawBodySpec;
  /** the route reads If-Match for optimistic concurrency */
  ifMatch?: boolean;
  /** the route reads Idempotency-Key: a retried POST with the same key answers with what the first made */
  idempotencyKey?: boolean;
  /** success statuses */
  responses: Partial<Record<200 | 201 | 202 | 204, ResponseSpec>>;
  /** the route's own client errors, beyond those every route of its kind can answer */
  errors?: ErrorStatus[];
  handle(input: RouteInput<z.output<P>, z.output<Q>, B extends z.ZodType ? z.output<B> : undefined>, call: ApiCall): Promise<Reply>;
}

/** A declared route with its types erased, as the router and the document generator see it. */
export type ApiRoute = RouteSpec<z.ZodType, z.ZodType, z.ZodType | undefined>;

/** Declares a route; the handler's input is typed from the schemas. */
export function defineRoute<P extends z.ZodType = NoInput, Q extends z.ZodType = NoInput, B extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<P, Q, B>,
): ApiRoute {
  return spec as unknown as ApiRoute;
}

/** `/targets/{name}` -> `/targets/:name`, the router's and the policy's syntax. */
export function colonPath(path: string): string {
  return path.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, ':$1');
}

/** `GET /targets/{name}`: how tests and messages name a route. */
export function routeKey(route: Pick<ApiRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}
