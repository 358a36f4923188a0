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
      const time = typeof value === 'string' ? Date.parse(value) : NaN;
      if (Number.isNaN(time)) throw invalid(`${pathText(path)} is a dateTime; ${JSON.stringify(value)} is not one`);
      return new Date(time).toISOString();
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
    case 'eq': positive = { sql: `${c} = ?`, params: [v] }; break;
    case 'ne': return negated ? { sql: `${c} = ?`, params: [v] } : { sql: `(${c} IS NULL OR ${c} <> ?)`, params: [v] };
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

function present(ref: ColumnRef, negated: boolean): SqlCondition {
  return { sql: negated ? `(${ref.sql} IS NULL OR ${ref.sql} = '')` : `(${ref.sql} IS NOT NULL AND ${ref.sql} <> '')`, params: [] };
}

function presentOf(ref: ColumnRef): string {
  return ref.type === 'string' || ref.type === 'reference' ? `(${ref.sql} IS NOT NULL AND ${ref.sql} <> '')` : `${ref.sql} IS NOT NULL`;
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
export function filterToSql(map: ResourceSqlMap, node: FilterNode): SqlCondition {
  return compile(map, node, false, undefined);
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

function compile(map: ResourceSqlMap, node: FilterNode, negated: boolean, scope: MultiRef | undefined): SqlCondition {
  switch (node.kind) {
    case 'and':
    case 'or': {
      const left = compile(map, node.left, negated, scope);
      const right = compile(map, node.right, negated, scope);
      // De Morgan: under negation, and becomes or.
      const joiner = (node.kind === 'and') !== negated ? 'AND' : 'OR';
      return { sql: `(${left.sql} ${joiner} ${right.sql})`, params: [...left.params, ...right.params] };
    }
    case 'not':
      return compile(map, node.expr, !negated, scope);
    case 'valuePath': {
      if (scope) throw invalid('value filters cannot be nested');
      const ref = map.resolve(node.path);
      if (!ref || ref.kind !== 'multi') throw invalid(`${pathText(node.path)} is not a multi-valued attribute, so it takes no [filter]`);
      const inner = compile(map, node.filter, false, ref);
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
  const inner = compile(map, filter, false, ref);
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
