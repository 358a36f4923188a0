import { ScimError } from './errors.js';
import { listResponse, type ScimCall, type ScimDeps, type ScimResult } from './context.js';
import { unknownAttributes } from './filter/to-sql.js';
import { parseListQuery, queryPage, type ListQuery } from './list.js';
import { parseProjection } from './render.js';
import { SEARCH_REQUEST, splitAttributePath } from './schema.js';
import { USER_SQL, GROUP_SQL, type ResourceSqlMap } from './sql-map.js';
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
 *
 * An attribute one type lacks has no value there (RFC 7644 §3.4.3: `userName pr` is false for a
 * Group, `not (userName pr)` true); one that no type has is a client mistake, so invalidFilter.
 * Likewise a sortBy one type lacks leaves that type in its default order, and one no type has is
 * invalidValue.
 */
export async function searchAll(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
  const params = searchParams(call.body);
  const query = parseListQuery(params, deps.limits);
  const projection = parseProjection(params.attributes, params.excludedAttributes);
  const maps = [USER_SQL, GROUP_SQL];
  if (query.filter) {
    const [forUsers, forGroups] = maps.map((map) => unknownAttributes(map, query.filter!)) as [string[], string[]];
    const nowhere = forUsers.find((path) => forGroups.includes(path));
    if (nowhere !== undefined) throw new ScimError(400, 'invalidFilter', `unknown attribute "${nowhere}": neither Users nor Groups have it`);
  }
  const sortPath = query.sortBy ? splitAttributePath(query.sortBy) : undefined;
  const sorts = (map: ResourceSqlMap) => !sortPath || map.resolve(sortPath) !== undefined;
  if (!maps.some(sorts)) throw new ScimError(400, 'invalidValue', `cannot sort by unknown attribute "${query.sortBy}"`);
  const queryFor = (map: ResourceSqlMap): ListQuery =>
    sorts(map) ? { ...query, acrossTypes: true } : { ...query, acrossTypes: true, sortBy: undefined, sortOrder: 'ascending' };
  const userQuery = queryFor(USER_SQL);
  const groupQuery = queryFor(GROUP_SQL);
  const userTotal = (await queryPage(deps.db, USER_SQL, userQuery, 0, 0)).total;
  const groupTotal = (await queryPage(deps.db, GROUP_SQL, groupQuery, 0, 0)).total;
  const skip = query.startIndex - 1;
  const resources: unknown[] = [];
  if (skip < userTotal && query.count > 0) {
    const page = await users.search(deps, call, { ...userQuery, count: Math.min(query.count, userTotal - skip) }, projection);
    resources.push(...((page.body as Doc).Resources as unknown[]));
  }
  const remaining = query.count - resources.length;
  if (remaining > 0 && groupTotal > 0) {
    const groupSkip = Math.max(0, skip - userTotal);
    const page = await groups.search(deps, call, { ...groupQuery, startIndex: groupSkip + 1, count: remaining }, projection);
    resources.push(...((page.body as Doc).Resources as unknown[]));
  }
  return { status: 200, body: listResponse(userTotal + groupTotal, query.startIndex, resources) };
}
