import { ScimError } from './errors.js';
import { listResponse, type ScimCall, type ScimDeps, type ScimResult } from './context.js';
import { parseListQuery, queryPage } from './list.js';
import { parseProjection } from './render.js';
import { SEARCH_REQUEST } from './schema.js';
import { USER_SQL, GROUP_SQL } from './sql-map.js';
import { users } from './users.js';
import { groups } from './groups.js';

type Doc = Record<string, unknown>;

/** Reads a SearchRequest body (RFC 7644 §3.4.3) into list parameters. */
function searchParams(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'a search body must be a SearchRequest JSON object');
  const fields = body as Doc;
  const schemas = fields.schemas;
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.some((s) => String(s) === SEARCH_REQUEST))) {
    throw new ScimError(400, 'invalidSyntax', `a search body must declare the schema ${SEARCH_REQUEST}`);
  }
  return fields;
}

/** POST /Users/.search and POST /Groups/.search. */
export async function searchResource(deps: ScimDeps, call: ScimCall, resource: 'Users' | 'Groups'): Promise<ScimResult> {
  const params = searchParams(call.body);
  const query = parseListQuery(params, deps.limits);
  const projection = parseProjection(params.attributes, params.excludedAttributes);
  return resource === 'Users' ? users.search(deps, call, query, projection) : groups.search(deps, call, query, projection);
}

/**
 * POST /.search at the root: the filter runs over Users and Groups; the combined list is
 * Users first, then Groups, and paging applies to the combination.
 */
export async function searchAll(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
  const params = searchParams(call.body);
  const query = parseListQuery(params, deps.limits);
  const projection = parseProjection(params.attributes, params.excludedAttributes);
  // A filter naming an attribute one type lacks simply matches nothing of that type.
  const countOf = async (map: typeof USER_SQL) => {
    try {
      return (await queryPage(deps.db, map, { ...query, count: 0 })).total;
    } catch (err) {
      if (err instanceof ScimError && err.scimType === 'invalidFilter' && /unknown/.test(err.message)) return 0;
      throw err;
    }
  };
  const [userTotal, groupTotal] = [await countOf(USER_SQL), await countOf(GROUP_SQL)];
  const skip = query.startIndex - 1;
  const resources: unknown[] = [];
  if (skip < userTotal && query.count > 0) {
    const page = await users.search(deps, call, { ...query, count: Math.min(query.count, userTotal - skip) }, projection);
    resources.push(...((page.body as Doc).Resources as unknown[]));
  }
  const remaining = query.count - resources.length;
  if (remaining > 0 && groupTotal > 0) {
    const groupSkip = Math.max(0, skip - userTotal);
    const page = await groups.search(deps, call, { ...query, startIndex: groupSkip + 1, count: remaining }, projection);
    resources.push(...((page.body as Doc).Resources as unknown[]));
  }
  return { status: 200, body: listResponse(userTotal + groupTotal, query.startIndex, resources) };
}
