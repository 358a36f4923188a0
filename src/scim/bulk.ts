import type { Logger } from '../log/logger.js';
import { ScimError } from './errors.js';
import type { ScimCall, ScimDeps, ScimResult } from './context.js';
import { BULK_REQUEST, BULK_RESPONSE } from './schema.js';
import { users } from './users.js';
import { groups } from './groups.js';

type Doc = Record<string, unknown>;

interface BulkOperation {
  index: number;
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  bulkId?: string;
  path: string;
  data?: unknown;
  version?: string;
  /** bulkIds this operation refers to ("bulkId:x" anywhere in its path or data). */
  needs: Set<string>;
}

const METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const REFERENCE = /^bulkId:(.+)$/;
/** A bulkId standing for a resource id in an operation path, e.g. `/Groups/bulkId:g1`. */
const PATH_REFERENCE = /\/bulkId:([^/?#]+)/g;

function pathReferences(path: string): string[] {
  return [...path.matchAll(PATH_REFERENCE)].map((m) => m[1]!);
}

function substitutePath(path: string, ids: Map<string, string>): string {
  return path.replace(PATH_REFERENCE, (whole, ref: string) => {
    const id = ids.get(ref);
    return id === undefined ? whole : `/${encodeURIComponent(id)}`;
  });
}

function referencesIn(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    const m = REFERENCE.exec(value);
    if (m) found.add(m[1]!);
  } else if (Array.isArray(value)) {
    for (const v of value) referencesIn(v, found);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) referencesIn(v, found);
  }
  return found;
}

function substitute(value: unknown, ids: Map<string, string>): unknown {
  if (typeof value === 'string') {
    const m = REFERENCE.exec(value);
    return m && ids.has(m[1]!) ? ids.get(m[1]!) : value;
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, ids)]));
  return value;
}

function parseOperations(body: unknown, maxOperations: number): { ops: BulkOperation[]; failOnErrors?: number } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'a Bulk body must be a BulkRequest JSON object');
  const request = body as Doc;
  if (!Array.isArray(request.schemas) || !request.schemas.includes(BULK_REQUEST)) throw new ScimError(400, 'invalidSyntax', `a Bulk body must declare the schema ${BULK_REQUEST}`);
  if (!Array.isArray(request.Operations)) throw new ScimError(400, 'invalidSyntax', 'a Bulk body needs an "Operations" list');
  if (request.Operations.length > maxOperations) {
    throw new ScimError(413, 'tooMany', `the request has ${request.Operations.length} operations; at most ${maxOperations} are accepted`);
  }
  const failOnErrors = request.failOnErrors;
  if (failOnErrors !== undefined && (!Number.isInteger(failOnErrors) || (failOnErrors as number) < 1)) {
    throw new ScimError(400, 'invalidValue', 'failOnErrors must be a positive integer');
  }
  const seen = new Set<string>();
  const ops = request.Operations.map((raw: unknown, index: number): BulkOperation => {
    const op = (raw ?? {}) as Doc;
    const method = String(op.method ?? '').toUpperCase();
    if (!METHODS.has(method)) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: method must be POST, PUT, PATCH or DELETE`);
    if (typeof op.path !== 'string' || !op.path.startsWith('/')) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: path must be a resource path such as /Users`);
    if (method === 'POST' && (typeof op.bulkId !== 'string' || op.bulkId === '')) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: POST needs a bulkId`);
    if (typeof op.bulkId === 'string') {
      if (seen.has(op.bulkId)) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: bulkId "${op.bulkId}" is used twice`);
      seen.add(op.bulkId);
    }
    return {
      index,
      method: method as BulkOperation['method'],
      bulkId: typeof op.bulkId === 'string' ? op.bulkId : undefined,
      path: op.path,
      data: op.data,
      version: typeof op.version === 'string' ? op.version : undefined,
      needs: new Set([...pathReferences(op.path), ...referencesIn(op.data)]),
    };
  });
  return { ops, failOnErrors: failOnErrors as number | undefined };
}

/** The resource an operation path names: its endpoint in canonical spelling and, after the endpoint, its id. */
function target(path: string): { endpoint: 'Users' | 'Groups'; id?: string } {
  const m = /^\/(Users|Groups)(?:\/([^/?]+))?$/i.exec(path);
  if (!m) throw new ScimError(400, 'invalidValue', `unsupported bulk path ${path}`);
  let id: string | undefined;
  try {
    id = m[2] ? decodeURIComponent(m[2]) : undefined;
  } catch {
    throw new ScimError(400, 'invalidValue', `bad percent-encoding in bulk path ${path}`);
  }
  return { endpoint: m[1]!.toLowerCase() === 'users' ? 'Users' : 'Groups', id };
}

/** The resource URL of a non-POST operation, which the response carries even when it fails (RFC 7644 §3.7.3). */
function locationOf(call: ScimCall, op: BulkOperation, path: string): string | undefined {
  if (op.method === 'POST' || pathReferences(path).length > 0) return undefined;
  try {
    const { endpoint, id } = target(path);
    return id === undefined ? undefined : `${call.baseUrl}/${endpoint}/${encodeURIComponent(id)}`;
  } catch {
    return undefined;
  }
}

async function dispatch(deps: ScimDeps, call: ScimCall, op: BulkOperation, path: string, data: unknown): Promise<ScimResult> {
  const { endpoint, id } = target(path);
  const handlers = endpoint === 'Users' ? users : groups;
  const sub: ScimCall = { ...call, body: data, query: {}, ifMatch: op.version, ifNoneMatch: undefined };
  if (op.method === 'POST') {
    if (id) throw new ScimError(400, 'invalidValue', `POST goes to /${endpoint}, not to one resource`);
    return handlers.create(deps, sub);
  }
  if (!id) throw new ScimError(400, 'invalidValue', `${op.method} needs a resource id in its path`);
  if (op.method === 'PUT') return handlers.replace(deps, sub, id);
  if (op.method === 'PATCH') return handlers.patch(deps, sub, id);
  return handlers.remove(deps, sub, id);
}

/** Why a waiting operation can never run: the cycle it is part of, or the cycle it waits on. */
function unresolvable(op: BulkOperation, ops: BulkOperation[], created: Map<string, string>): string {
  const creator = new Map(ops.flatMap((o) => (o.method === 'POST' && o.bulkId ? [[o.bulkId, o] as const] : [])));
  // Depth-first search along unresolved references for a way back to `op`.
  const trail: string[] = [];
  const seen = new Set<BulkOperation>();
  const back = (from: BulkOperation): boolean => {
    for (const id of from.needs) {
      if (created.has(id)) continue;
      const next = creator.get(id);
      if (!next) continue;
      trail.push(id);
      if (next === op) return true;
      if (!seen.has(next)) {
        seen.add(next);
        if (back(next)) return true;
      }
      trail.pop();
    }
    return false;
  };
  const waitsFor = [...op.needs].filter((b) => !created.has(b)).map((b) => `"${b}"`).join(', ');
  if (back(op)) {
    const cycle = op.bulkId ? [op.bulkId, ...trail] : trail;
    return `circular bulkId reference (${cycle.join(' -> ')}): operation ${op.index + 1} waits for bulkId ${waitsFor}, which waits for it in turn`;
  }
  return `operation ${op.index + 1} waits for bulkId ${waitsFor}, which is caught in a circular bulkId reference`;
}

/**
 * POST /Bulk (RFC 7644 §3.7). Operations run one by one, each in its own transaction, in an
 * order that satisfies bulkId references (a forward reference waits for the operation that
 * creates it); operations caught in a reference cycle fail with 409 rather than run half-done.
 */
export async function bulk(deps: ScimDeps, call: ScimCall, log: Logger): Promise<ScimResult> {
  const { ops, failOnErrors } = parseOperations(call.body, deps.limits.bulkMaxOperations);
  const created = new Map<string, string>();
  const failed = new Set<string>();
  const defined = new Set(ops.flatMap((o) => (o.method === 'POST' && o.bulkId ? [o.bulkId] : [])));
  const results = new Map<number, Doc>();
  let errors = 0;
  const record = (op: BulkOperation, result: Doc, ok: boolean) => {
    results.set(op.index, { method: op.method, ...(op.bulkId ? { bulkId: op.bulkId } : {}), ...result });
    if (!ok) {
      errors++;
      if (op.bulkId) failed.add(op.bulkId);
    }
  };
  const errorResult = (err: ScimError) => ({ status: String(err.status), response: err.toBody() });

  let pending = ops;
  while (pending.length > 0 && !(failOnErrors && errors >= failOnErrors)) {
    const waiting: BulkOperation[] = [];
    let progressed = false;
    for (const op of pending) {
      if (failOnErrors && errors >= failOnErrors) break;
      const unknown = [...op.needs].find((b) => !defined.has(b));
      const broken = [...op.needs].find((b) => failed.has(b));
      if (unknown || broken) {
        const detail = unknown ? `bulkId "${unknown}" is not defined by any POST in this request` : `the operation with bulkId "${broken}" failed`;
        record(op, errorResult(new ScimError(unknown ? 400 : 409, unknown ? 'invalidValue' : undefined, detail)), false);
        progressed = true;
        continue;
      }
      if ([...op.needs].some((b) => !created.has(b))) {
        waiting.push(op);
        continue;
      }
      progressed = true;
      const path = substitutePath(op.path, created);
      // RFC 7644 §3.7.3: location is required in every operation response except a failed POST.
      const resourceLocation = locationOf(call, op, path);
      try {
        const result = await dispatch(deps, call, op, path, substitute(op.data, created));
        const location = result.headers?.Location ?? resourceLocation;
        if (op.method === 'POST' && op.bulkId && location) created.set(op.bulkId, location.slice(location.lastIndexOf('/') + 1));
        record(op, { ...(location ? { location } : {}), ...(result.headers?.ETag ? { version: result.headers.ETag } : {}), status: String(result.status) }, true);
      } catch (err) {
        if (!(err instanceof ScimError)) {
          log.error({ err, requestId: call.requestId, operation: op.index + 1 }, 'bulk operation failed');
        }
        const error = err instanceof ScimError ? err : new ScimError(500, undefined, `internal error (request ${call.requestId ?? 'unknown'})`);
        record(op, { ...(resourceLocation ? { location: resourceLocation } : {}), ...errorResult(error) }, false);
      }
    }
    if (!progressed) {
      // Everything left waits, directly or not, on a reference cycle: none of it can run.
      for (const op of waiting) {
        if (failOnErrors && errors >= failOnErrors) break;
        record(op, errorResult(new ScimError(409, undefined, unresolvable(op, ops, created))), false);
      }
      break;
    }
    pending = waiting;
  }
  const Operations = [...results.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
  return { status: 200, body: { schemas: [BULK_RESPONSE], Operations } };
}
