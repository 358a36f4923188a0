import { ScimError } from '../errors.js';
import type { ColumnRef, MultiRef, ResourceSqlMap, SqlRef } from '../sql-map.js';
import type { AttrPath, CompareOp, FilterNode, FilterValue } from './ast.js';

/** A WHERE fragment over the resource table (alias `t`) and its parameters, in order. */
export interface SqlCondition {
  sql: string;
  params: unknown[];
}

const invalid = (detail: string) => new ScimError(400, 'invalidFilter', detail);

function pathText(p: AttrPath): string {
  return `${p.schema ? `${p.schema}:` : ''}${p.attr}${p.sub ? `.${p.sub}` : ''}`;
}

/** Escapes LIKE wildcards; every LIKE we emit declares `!` as its escape character. */
function likeEscape(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}

/** How a filter is compiled. */
export interface FilterOptions {
  /**
   * For a search across resource types (POST /.search, RFC 7644 §3.4.3): an attribute this
   * resource type does not have is treated "as if there is no attribute value" instead of being
   * an error.
   */
  unknownAsAbsent?: boolean;
}

// xsd:dateTime (RFC 7643 §2.3.5); a date alone means its midnight and a missing zone means UTC.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * A dateTime filter value as the ISO-8601 UTC text the columns hold, or undefined when it is not
 * a real instant. Date.parse is not used: it accepts "1" (the year 2001) and rolls "02-30" over
 * into March.
 */
function parseDateTime(text: string): string | undefined {
  const m = DATE_TIME.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, Math.floor(Number(`0${m[7] ?? ''}`) * 1000)));
  date.setUTCFullYear(year);
  const zone = (m[8] ?? 'Z').toUpperCase();
  if (zone !== 'Z') {
    const [zh, zm] = zone.slice(1).split(':').map(Number) as [number, number];
    if (zh > 23 || zm > 59) return undefined;
    date.setTime(date.getTime() - (zone.startsWith('-') ? -1 : 1) * (zh * 60 + zm) * 60_000);
  }
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** A filter value in the column's comparison form, or an invalidFilter error naming the mismatch. */
function normalise(ref: ColumnRef, value: FilterValue, path: AttrPath): unknown {
  if (value === null) return null;
  switch (ref.type) {
    case 'boolean': {
      // Entra ID sends `active eq "True"`: a string spelling of a boolean is read as one.
      const b = typeof value === 'string' ? ({ true: true, false: false } as Record<string, boolean>)[value.toLowerCase()] : value;
      if (typeof b !== 'boolean') throw invalid(`${pathText(path)} is a boolean; cannot compare it with ${JSON.stringify(value)}`);
      return b ? 1 : 0;
    }
    case 'dateTime': {
      const time = typeof value === 'string' ? parseDateTime(value) : undefined;
      if (time === undefined) throw invalid(`${pathText(path)} is a dateTime; ${JSON.stringify(value)} is not one (expected e.g. "2024-05-13T04:42:34Z")`);
      return time;
    }
    case 'integer':
      if (typeof value !== 'number') throw invalid(`${pathText(path)} is a number; cannot compare it with ${JSON.stringify(value)}`);
      return value;
    default: {
      if (typeof value === 'boolean') throw invalid(`${pathText(path)} is a string; cannot compare it with ${value}`);
      const text = String(value);
      return ref.caseExact ? text : text.toLowerCase();
    }
  }
}

/** Compiles one comparison on a column. `negated` asks for the SQL of NOT(comparison) that is also true where the column is NULL. */
function compareColumn(ref: ColumnRef, op: CompareOp, value: FilterValue, path: AttrPath, negated: boolean): SqlCondition {
  const v = normalise(ref, value, path);
  const c = ref.sql;
  if (v === null) {
    if (op !== 'eq' && op !== 'ne') throw invalid(`${op} cannot compare ${pathText(path)} with null`);
    const isNull = op === 'eq' !== negated;
    return { sql: `${c} IS ${isNull ? '' : 'NOT '}NULL`, params: [] };
  }
  if (ref.type === 'boolean' && op !== 'eq' && op !== 'ne') {
    throw invalid(`${op} is not defined for the boolean ${pathText(path)}`);
  }
  if ((op === 'co' || op === 'sw' || op === 'ew') && ref.type !== 'string' && ref.type !== 'reference') {
    throw invalid(`${op} is defined for strings only; ${pathText(path)} is a ${ref.type}`);
  }
  let positive: SqlCondition;
  switch (op) {
    case 'eq':
    case 'ne': {
      const equal = { sql: `${c} = ?`, params: [v] };
      if ((op === 'eq') !== negated) return equal;
      return { sql: `(${c} IS NULL OR ${c} <> ?)`, params: equal.params };
    }
    // LIKE is case-sensitive on both databases (binary collation on MySQL, case_sensitive_like on
    // SQLite); caseExact: false columns hold lowercase text and the value is lowercased to match.
    case 'co': positive = { sql: `${c} LIKE ? ESCAPE '!'`, params: [`%${likeEscape(String(v))}%`] }; break;
    case 'sw': positive = { sql: `${c} LIKE ? ESCAPE '!'`, params: [`${likeEscape(String(v))}%`] }; break;
    case 'ew': positive = { sql: `${c} LIKE ? ESCAPE '!'`, params: [`%${likeEscape(String(v))}`] }; break;
    case 'gt': positive = { sql: `${c} > ?`, params: [v] }; break;
    case 'ge': positive = { sql: `${c} >= ?`, params: [v] }; break;
    case 'lt': positive = { sql: `${c} < ?`, params: [v] }; break;
    case 'le': positive = { sql: `${c} <= ?`, params: [v] }; break;
  }
  return negated ? { sql: `(${c} IS NULL OR NOT (${positive.sql}))`, params: positive.params } : positive;
}

/** `pr` on a column: not null, and for text not empty. Booleans are integers: comparing 0 with '' is true on MySQL. */
function present(ref: ColumnRef, negated: boolean): SqlCondition {
  const sql = presentOf(ref);
  return { sql: negated ? `NOT ${sql}` : sql, params: [] };
}

function presentOf(ref: ColumnRef): string {
  return ref.type === 'string' || ref.type === 'reference' ? `(${ref.sql} IS NOT NULL AND ${ref.sql} <> '')` : `(${ref.sql} IS NOT NULL)`;
}

/** `t.id [NOT] IN (SELECT key FROM rows WHERE condition)`: one value of a multi-valued attribute satisfies `inner`. */
function anyValue(multi: MultiRef, inner: SqlCondition | undefined, negated: boolean): SqlCondition {
  const where = [multi.where?.sql, inner?.sql].filter(Boolean);
  return {
    sql: `t.id ${negated ? 'NOT ' : ''}IN (SELECT ${multi.key} FROM ${multi.from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''})`,
    params: [...(multi.where?.params ?? []), ...(inner?.params ?? [])],
  };
}

/** Compiles a filter against one resource type's SQL map. Every literal becomes a parameter. */
export function filterToSql(map: ResourceSqlMap, node: FilterNode, options: FilterOptions = {}): SqlCondition {
  return compile({ map, options }, node, false, undefined);
}

/**
 * The attribute paths (lowercased, as written) of a filter that this resource type does not
 * have. A search across types uses it to tell an attribute one type lacks from a misspelt one.
 */
export function unknownAttributes(map: ResourceSqlMap, node: FilterNode): string[] {
  switch (node.kind) {
    case 'and':
    case 'or': return [...unknownAttributes(map, node.left), ...unknownAttributes(map, node.right)];
    case 'not': return unknownAttributes(map, node.expr);
    case 'valuePath':
    case 'present':
    case 'compare': return map.resolve(node.path) ? [] : [pathText(node.path).toLowerCase()];
  }
}

interface Compiler {
  map: ResourceSqlMap;
  options: FilterOptions;
}

const TRUE: SqlCondition = { sql: '1 = 1', params: [] };
const FALSE: SqlCondition = { sql: '1 = 0', params: [] };

/** A node on an attribute the resource type lacks, in a search across types: it has no value (RFC 7644 §3.4.3). */
function absent(node: FilterNode, negated: boolean): SqlCondition {
  // No value is "ne" anything but null, and "eq" only null; nothing else holds of no value.
  const holds = node.kind === 'compare' && (node.op === 'ne' ? node.value !== null : node.op === 'eq' && node.value === null);
  return holds !== negated ? TRUE : FALSE;
}

function resolveRef(map: ResourceSqlMap, path: AttrPath, scope: MultiRef | undefined): SqlRef {
  if (scope) {
    // Inside `attr[...]` paths name sub-attributes of attr.
    if (path.sub || path.schema) throw invalid(`inside a value filter, ${pathText(path)} must be a sub-attribute name`);
    const sub = scope.subs[path.attr.toLowerCase()];
    if (!sub) throw invalid(`unknown sub-attribute "${path.attr}" in value filter`);
    return sub;
  }
  const ref = map.resolve(path);
  if (!ref) throw invalid(`unknown or unfilterable attribute "${pathText(path)}" for ${map.resource.name}`);
  return ref;
}

function compile(cx: Compiler, node: FilterNode, negated: boolean, scope: MultiRef | undefined): SqlCondition {
  const { map } = cx;
  if (!scope && node.kind !== 'and' && node.kind !== 'or' && node.kind !== 'not' && cx.options.unknownAsAbsent && !map.resolve(node.path)) {
    return absent(node, negated);
  }
  switch (node.kind) {
    case 'and':
    case 'or': {
      const left = compile(cx, node.left, negated, scope);
      const right = compile(cx, node.right, negated, scope);
      // De Morgan: under negation, and becomes or.
      const joiner = (node.kind === 'and') !== negated ? 'AND' : 'OR';
      return { sql: `(${left.sql} ${joiner} ${right.sql})`, params: [...left.params, ...right.params] };
    }
    case 'not':
      return compile(cx, node.expr, !negated, scope);
    case 'valuePath': {
      if (scope) throw invalid('value filters cannot be nested');
      const ref = map.resolve(node.path);
      if (!ref || ref.kind !== 'multi') throw invalid(`${pathText(node.path)} is not a multi-valued attribute, so it takes no [filter]`);
      const inner = compile(cx, node.filter, false, ref);
      return anyValue(ref, inner, negated);
    }
    case 'present': {
      const ref = resolveRef(map, node.path, scope);
      if (ref.kind === 'column') return present(ref, negated);
      if (ref.kind === 'complex') {
        const any = Object.values(ref.subs).map(presentOf).join(' OR ');
        return { sql: negated ? `NOT (${any})` : `(${any})`, params: [] };
      }
      const sub = ref.subs[ref.defaultSub];
      return anyValue(ref, node.path.sub && sub ? { sql: presentOf(sub), params: [] } : undefined, negated);
    }
    case 'compare': {
      const ref = resolveRef(map, node.path, scope);
      if (ref.kind === 'column') return compareColumn(ref, node.op, node.value, node.path, negated);
      if (ref.kind === 'complex') throw invalid(`${pathText(node.path)} is complex; compare one of its sub-attributes`);
      const sub = ref.subs[ref.defaultSub];
      if (!sub) throw invalid(`${pathText(node.path)} has no value to compare`);
      // "ne" on a multi-valued attribute: no value equals it.
      if (node.op === 'ne') return anyValue(ref, compareColumn(sub, 'eq', node.value, node.path, false), !negated);
      return anyValue(ref, compareColumn(sub, node.op, node.value, node.path, false), negated);
    }
  }
}

/**
 * The rows of a multi-valued attribute that a value filter selects, for one owner: used by
 * PATCH `remove members[...]`. Returns the key column's values.
 */
export function valueFilterQuery(map: ResourceSqlMap, path: AttrPath, filter: FilterNode, ownerId: string): SqlCondition {
  const ref = map.resolve(path);
  if (!ref || ref.kind !== 'multi') throw new ScimError(400, 'invalidPath', `${pathText(path)} is not a multi-valued attribute`);
  const inner = compile({ map, options: {} }, filter, false, ref);
  const valueColumn = ref.subs[ref.defaultSub]!.sql;
  const where = [`${ref.key} = ?`, ref.where?.sql, inner.sql].filter(Boolean).join(' AND ');
  return { sql: `SELECT ${valueColumn} AS value FROM ${ref.from} WHERE ${where}`, params: [ownerId, ...(ref.where?.params ?? []), ...inner.params] };
}

/** The ORDER BY expression for a sortBy path (RFC 7644 §3.4.2.3), or an invalidValue error. */
export function sortExpression(map: ResourceSqlMap, path: AttrPath): SqlCondition {
  const ref = map.resolve(path);
  if (!ref) throw new ScimError(400, 'invalidValue', `cannot sort by unknown attribute "${pathText(path)}"`);
  if (ref.kind === 'column') return { sql: ref.sql, params: [] };
  if (ref.kind === 'complex') throw new ScimError(400, 'invalidValue', `cannot sort by complex attribute "${pathText(path)}"`);
  // A multi-valued attribute sorts by its primary (else first) value.
  const sub = ref.subs[ref.defaultSub]!;
  const where = [`${ref.key} = t.id`, ref.where?.sql].filter(Boolean).join(' AND ');
  return { sql: `(SELECT ${sub.sql} FROM ${ref.from} WHERE ${where} ORDER BY ${ref.sortBy} LIMIT 1)`, params: ref.where?.params ?? [] };
}
