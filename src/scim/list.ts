import type { Sql } from '../db/database.js';
import { ScimError } from './errors.js';
import type { FilterNode } from './filter/ast.js';
import { FilterSyntaxError, parseFilter } from './filter/parse.js';
import { filterToSql, sortExpression, type SqlCondition } from './filter/to-sql.js';
import { splitAttributePath } from './schema.js';
import type { ResourceSqlMap } from './sql-map.js';
import type { ResourceRow } from '../identity/resources.js';

/** A list or search request's query part, as RFC 7644 §3.4.2 defines it. */
export interface ListQuery {
  filter?: FilterNode;
  sortBy?: string;
  sortOrder: 'ascending' | 'descending';
  /** 1-based, already clamped to at least 1. */
  startIndex: number;
  count: number;
  /** Part of a search across resource types: attributes this type lacks have no value instead of being errors. */
  acrossTypes?: boolean;
}

/** Parses filter text, turning a syntax error into 400 invalidFilter. */
export function parseFilterParam(text: unknown): FilterNode | undefined {
  if (text === undefined || text === null || text === '') return undefined;
  if (typeof text !== 'string') throw new ScimError(400, 'invalidFilter', 'filter must be a string');
  try {
    return parseFilter(text);
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw new ScimError(400, 'invalidFilter', err.message);
    throw err;
  }
}

function integer(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isFinite(n)) throw new ScimError(400, 'invalidValue', `${name} must be an integer`);
  return Math.trunc(n);
}

/**
 * Builds a ListQuery from request parameters. Per RFC 7644 §3.4.2.4 a startIndex below 1 means
 * 1, a negative count means 0, and a count above the maximum is cut to it.
 */
export function parseListQuery(params: Record<string, unknown>, limits: { defaultPageSize: number; maxPageSize: number }): ListQuery {
  const order = params.sortOrder === undefined || params.sortOrder === '' ? 'ascending' : String(params.sortOrder).toLowerCase();
  if (order !== 'ascending' && order !== 'descending') throw new ScimError(400, 'invalidValue', 'sortOrder must be "ascending" or "descending"');
  const start = integer(params.startIndex, 'startIndex') ?? 1;
  const count = integer(params.count, 'count') ?? limits.defaultPageSize;
  const sortBy = params.sortBy === undefined || params.sortBy === '' ? undefined : String(params.sortBy);
  return {
    filter: parseFilterParam(params.filter),
    sortBy,
    sortOrder: order,
    startIndex: Math.max(1, start),
    count: Math.min(Math.max(0, count), limits.maxPageSize),
  };
}

/** One page of rows and the total the filter matches, both computed by the database. */
export interface Page {
  total: number;
  rows: ResourceRow[];
}

/**
 * The ORDER BY clause of a list query. With sortBy (RFC 7644 §3.4.2.3), resources without a value
 * come last when ascending and first when descending (SQL puts NULL first when ascending), and
 * ties keep the default order (creation, then id) in both directions, so the sort is stable and
 * every page of one query sees the same order.
 */
function orderBy(map: ResourceSqlMap, query: ListQuery): SqlCondition {
  const direction = query.sortOrder === 'descending' ? 'DESC' : 'ASC';
  if (!query.sortBy) return { sql: `t.created ${direction}, t.id ${direction}`, params: [] };
  const key = sortExpression(map, splitAttributePath(query.sortBy));
  return {
    sql: `CASE WHEN ${key.sql} IS NULL THEN 1 ELSE 0 END ${direction}, ${key.sql} ${direction}, t.created ASC, t.id ASC`,
    params: [...key.params, ...key.params],
  };
}

/** Runs a list query against one resource table: COUNT for the total, then LIMIT/OFFSET for the page. */
export async function queryPage(sql: Sql, map: ResourceSqlMap, query: ListQuery, skip = 0, take = query.count): Promise<Page> {
  const where: SqlCondition = query.filter ? filterToSql(map, query.filter, { unknownAsAbsent: query.acrossTypes }) : { sql: '1 = 1', params: [] };
  // The sort is checked before counting, so an unknown sortBy is an error even when nothing matches.
  const order = orderBy(map, query);
  const [{ n }] = (await sql.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${map.table} t WHERE ${where.sql}`, where.params)) as [{ n: number | string }];
  const total = Number(n);
  if (take <= 0 || skip >= total) return { total, rows: [] };
  // The page's ids first, then their rows: the first query walks an index alone, so a deep
  // OFFSET skips index entries instead of reading (and discarding) whole documents.
  const ids = (await sql.query<{ id: string }>(
    `SELECT t.id FROM ${map.table} t WHERE ${where.sql} ORDER BY ${order.sql} LIMIT ? OFFSET ?`,
    [...where.params, ...order.params, take, skip],
  )).map((r) => r.id);
  if (ids.length === 0) return { total, rows: [] };
  const found = await sql.query<ResourceRow>(
    `SELECT id, doc, version, created, last_modified FROM ${map.table} WHERE id IN (${ids.map(() => '?').join(', ')})`,
    ids,
  );
  const byId = new Map(found.map((r) => [r.id, r]));
  // A row deleted between the two reads is simply missing from the page.
  return { total, rows: ids.flatMap((id) => byId.get(id) ?? []) };
}
