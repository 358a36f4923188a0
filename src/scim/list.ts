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

/** Runs a list query against one resource table: COUNT for the total, then LIMIT/OFFSET for the page. */
export async function queryPage(sql: Sql, map: ResourceSqlMap, query: ListQuery, skip = 0, take = query.count): Promise<Page> {
  const where: SqlCondition = query.filter ? filterToSql(map, query.filter) : { sql: '1 = 1', params: [] };
  const [{ n }] = (await sql.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${map.table} t WHERE ${where.sql}`, where.params)) as [{ n: number | string }];
  const total = Number(n);
  if (take <= 0 || skip >= total) return { total, rows: [] };
  const order = query.sortBy ? sortExpression(map, splitAttributePath(query.sortBy)) : { sql: 't.created', params: [] };
  const direction = query.sortOrder === 'descending' ? 'DESC' : 'ASC';
  const rows = await sql.query<ResourceRow>(
    `SELECT t.id, t.doc, t.version, t.created, t.last_modified FROM ${map.table} t WHERE ${where.sql}
      ORDER BY ${order.sql} ${direction}, t.id ${direction} LIMIT ? OFFSET ?`,
    [...where.params, ...order.params, take, skip],
  );
  return { total, rows };
}
