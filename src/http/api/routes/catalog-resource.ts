/*
 * The four routes every catalogue collection has (targets, entitlements, roles, birthright rules,
 * SoD rules): list, read one, create-or-replace with PUT, delete. Entries are addressed by the
 * keys in their path, carry a version that is their ETag, and are changed under If-Match.
 */
import { z } from 'zod';
import type { ChangeContext } from '../../../identity/resources.js';
import type { Versioned } from '../../../policy/store.js';
import { PolicyError } from '../../../policy/model.js';
import type { ApiDeps } from '../deps.js';
import { ApiError, invalidRequest } from '../errors.js';
import { etagOf } from '../etag.js';
import { API_PREFIX, defineRoute, type ApiCall, type ApiRoute, type IfMatch, type Reply } from '../route.js';
import { listOf, pathText, requestSchema, responseSchema, stamps } from '../schemas.js';

type Keys = Record<string, string>;

/** How one catalogue collection is reached and stored. */
export interface CatalogResource<Input extends z.ZodObject> {
  tag: string;
  /** component name of an entry, e.g. Target; also in operation ids */
  component: string;
  /** plural for operation ids, e.g. Targets */
  plural: string;
  /** in words, e.g. "target" */
  noun: string;
  /** the collection path for the list, e.g. /targets */
  listPath: string;
  /** the entry path, e.g. /targets/{name}; every parameter is also a field of the entry */
  itemPath: string;
  /** the entry's fields in the path, in path order */
  keys: ReadonlyArray<keyof Input['shape'] & string>;
  /** the zod input schema of an entry (from src/policy/model.ts) */
  input: Input;
  /** query parameters of the list */
  listQuery?: z.ZodObject;
  list(deps: ApiDeps, query: Record<string, string | undefined>): Promise<Versioned<object>[]>;
  get(deps: ApiDeps, keys: Keys): Promise<Versioned<object>>;
  put(deps: ApiDeps, input: object, change: ChangeContext, ifVersion?: number): Promise<{ created: boolean; value: Versioned<object> }>;
  remove(deps: ApiDeps, keys: Keys, change: ChangeContext, ifVersion?: number): Promise<unknown>;
}

/** The path of an entry, its keys encoded, under /api/v1. */
function location(itemPath: string, keys: Keys): string {
  return API_PREFIX + itemPath.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => encodeURIComponent(keys[name] ?? ''));
}

/**
 * The version a write may apply to: the If-Match version, or none. `If-Match: *` asks only that
 * the entry exist, which is checked here because the store takes a version or nothing.
 */
async function requiredVersion(ifMatch: IfMatch | undefined, exists: () => Promise<unknown>, what: string): Promise<number | undefined> {
  if (ifMatch === undefined) return undefined;
  if (!ifMatch.any) return ifMatch.version;
  try {
    await exists();
  } catch (err) {
    if (err instanceof PolicyError && err.kind === 'notFound') {
      throw new ApiError(412, 'precondition_failed', `If-Match: * requires ${what} to exist, and it does not`);
    }
    throw err;
  }
  return undefined;
}

function entryReply(status: 200 | 201, value: Versioned<object>, itemPath: string, keys: Keys): Reply {
  return {
    status,
    body: value,
    headers: { ETag: etagOf(value.version), ...(status === 201 && { Location: location(itemPath, keys) }) },
  };
}

/**
 * List, read, create-or-replace and delete routes for one catalogue collection. Called once per
 * collection at module load (it names the collection's schemas); the function it returns makes
 * the routes for one set of services.
 */
export function collectionRoutes<Input extends z.ZodObject>(resource: CatalogResource<Input>): (deps: ApiDeps) => ApiRoute[] {
  const { component, noun, keys } = resource;
  const entry = responseSchema(component, resource.input.extend(stamps));
  const list = listOf(`${component}List`, entry);
  // The path names the entry, so the body may leave its keys out; when present they must agree.
  const keyMask = Object.fromEntries(keys.map((k) => [k, true])) as Record<string, true>;
  const body = requestSchema(`${component}Input`, (resource.input as z.ZodObject).partial(keyMask));
  const pathParams = (validated: boolean) => z.strictObject(Object.fromEntries(keys.map((k) => [k, validated ? (resource.input.shape[k] as z.ZodType) : pathText])));
  const readParams = pathParams(false);
  const writeParams = pathParams(true);
  const describeKeys = (k: Keys) => keys.map((name) => k[name]).join('/');
  const etag = { ETag: 'the entry\'s version, for If-Match' };

  return (deps) => [
    defineRoute({
      method: 'GET', path: resource.listPath, operationId: `list${resource.plural}`, tag: resource.tag,
      summary: `List ${noun}s`,
      ...(resource.listQuery && { query: resource.listQuery }),
      responses: { 200: { description: `every ${noun}, by name`, schema: list } },
      async handle({ query }) {
        return { status: 200, body: { items: await resource.list(deps, query as Record<string, string | undefined>) } };
      },
    }),
    defineRoute({
      method: 'GET', path: resource.itemPath, operationId: `get${component}`, tag: resource.tag,
      summary: `Read one ${noun}`,
      params: readParams,
      responses: { 200: { description: `the ${noun}`, schema: entry, headers: etag } },
      errors: [404],
      async handle({ params }) {
        const k = params as Keys;
        return entryReply(200, await resource.get(deps, k), resource.itemPath, k);
      },
    }),
    defineRoute({
      method: 'PUT', path: resource.itemPath, operationId: `put${component}`, tag: resource.tag,
      summary: `Create or replace a ${noun}`,
      description: `Creates the ${noun} named by the path, or replaces it whole. With If-Match, only while it is at that version.`,
      params: writeParams, body, ifMatch: true,
      responses: {
        200: { description: `replaced`, schema: entry, headers: etag },
        201: { description: `created`, schema: entry, headers: { ...etag, Location: `the ${noun}'s URL` } },
      },
      errors: [404, 409, 412, 422],
      async handle({ params, body: given }, call: ApiCall) {
        const k = params as Keys;
        const mismatched = keys.filter((name) => (given as Keys)[name] !== undefined && (given as Keys)[name] !== k[name]);
        if (mismatched.length > 0) {
          throw invalidRequest(mismatched.map((name) => ({ in: 'body', path: name, code: 'path_mismatch', message: `is "${(given as Keys)[name]}" but the path names "${k[name]}"` })));
        }
        const ifVersion = await requiredVersion(call.ifMatch, () => resource.get(deps, k), `${noun} ${describeKeys(k)}`);
        const result = await resource.put(deps, { ...(given as object), ...k }, call.change, ifVersion);
        return entryReply(result.created ? 201 : 200, result.value, resource.itemPath, k);
      },
    }),
    defineRoute({
      method: 'DELETE', path: resource.itemPath, operationId: `delete${component}`, tag: resource.tag,
      summary: `Delete a ${noun}`,
      description: `Refused with 409 while anything still refers to the ${noun}. With If-Match, only while it is at that version.`,
      params: readParams, ifMatch: true,
      responses: { 204: { description: 'deleted' } },
      errors: [404, 409, 412],
      async handle({ params }, call: ApiCall) {
        const k = params as Keys;
        const ifVersion = await requiredVersion(call.ifMatch, () => resource.get(deps, k), `${noun} ${describeKeys(k)}`);
        await resource.remove(deps, k, call.change, ifVersion);
        return { status: 204 };
      },
    }),
  ];
}
