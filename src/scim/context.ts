import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import { IdentityError } from '../identity/errors.js';
import type { GroupService } from '../identity/group-service.js';
import type { IdentityService } from '../identity/identity-service.js';
import { ScimError } from './errors.js';
import { parseETags, parseProjection, type Projection } from './render.js';
import { LIST_RESPONSE } from './schema.js';

/** What SCIM handlers need from the server. */
export interface ScimDeps {
  db: Database;
  identities: IdentityService;
  groups: GroupService;
  limits: Config['scim'];
}

/** One SCIM call, from HTTP or from a Bulk operation. */
export interface ScimCall {
  /** Audit actor, e.g. `token:okta`. */
  actor: string;
  requestId?: string;
  /** Base URL of the SCIM endpoint, without a trailing slash. */
  baseUrl: string;
  query: Record<string, unknown>;
  body?: unknown;
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** A handler's answer, independent of Koa so Bulk can reuse it. */
export interface ScimResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Translates identity write-path errors into SCIM errors; anything else passes through. */
export function toScimError(err: unknown): unknown {
  if (!(err instanceof IdentityError)) return err;
  switch (err.kind) {
    case 'notFound': return new ScimError(404, undefined, err.message);
    case 'conflict': return new ScimError(409, 'uniqueness', err.message);
    case 'preconditionFailed': return new ScimError(412, 'invalidVers', err.message);
    case 'invalid': return new ScimError(400, 'invalidValue', err.message);
  }
}

/** Runs a handler body, translating identity errors on the way out. */
export async function scimCall<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw toScimError(err);
  }
}

/** The versions an If-Match header allows, or undefined when any version will do. */
export function ifMatchVersions(call: ScimCall): number[] | undefined {
  const tags = parseETags(call.ifMatch);
  return tags === '*' ? undefined : tags;
}

/** Whether If-None-Match names the current version (a GET then answers 304). */
export function notModified(call: ScimCall, version: number): boolean {
  const tags = parseETags(call.ifNoneMatch);
  return tags === '*' || (Array.isArray(tags) && tags.includes(version));
}

/** The attributes / excludedAttributes a call's query asks for. */
export function projectionOf(call: ScimCall): Projection {
  return parseProjection(call.query.attributes, call.query.excludedAttributes);
}

/** The ListResponse envelope (RFC 7644 §3.4.2). */
export function listResponse(total: number, startIndex: number, resources: unknown[]): Record<string, unknown> {
  return {
    schemas: [LIST_RESPONSE],
    totalResults: total,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  };
}
