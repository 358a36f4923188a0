import type { AttributeDef } from '../schema.js';
import type { FilterNode, FilterValue } from './ast.js';

type Item = Record<string, unknown>;

function subValue(item: Item, name: string): unknown {
  const lower = name.toLowerCase();
  const key = Object.keys(item).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : item[key];
}

function compare(actual: unknown, op: string, expected: FilterValue, caseExact: boolean): boolean {
  if (actual === undefined || actual === null) return op === 'ne' ? expected !== null : op === 'eq' && expected === null;
  if (typeof actual === 'boolean' || typeof expected === 'boolean') {
    const want = typeof expected === 'string' ? expected.toLowerCase() === 'true' : expected;
    return op === 'eq' ? actual === want : op === 'ne' ? actual !== want : false;
  }
  const fold = (v: unknown) => (caseExact ? String(v) : String(v).toLowerCase());
  const a = typeof actual === 'number' && typeof expected === 'number' ? actual : fold(actual);
  const e = typeof actual === 'number' && typeof expected === 'number' ? expected : fold(expected);
  switch (op) {
    case 'eq': return a === e;
    case 'ne': return a !== e;
    case 'co': return String(a).includes(String(e));
    case 'sw': return String(a).startsWith(String(e));
    case 'ew': return String(a).endsWith(String(e));
    case 'gt': return a > e;
    case 'ge': return a >= e;
    case 'lt': return a < e;
    case 'le': return a <= e;
    default: return false;
  }
}

/**
 * Whether one value of a multi-valued attribute satisfies a value filter (the part inside
 * `emails[...]` of a PATCH path). Missing sub-attributes simply do not match; case follows
 * each sub-attribute's caseExact.
 */
export function matchesValue(node: FilterNode, item: Item, subs: AttributeDef[]): boolean {
  switch (node.kind) {
    case 'and': return matchesValue(node.left, item, subs) && matchesValue(node.right, item, subs);
    case 'or': return matchesValue(node.left, item, subs) || matchesValue(node.right, item, subs);
    case 'not': return !matchesValue(node.expr, item, subs);
    case 'valuePath': return false;
    case 'present': {
      const v = subValue(item, node.path.attr);
      return v !== undefined && v !== null && v !== '';
    }
    case 'compare': {
      const def = subs.find((s) => s.name.toLowerCase() === node.path.attr.toLowerCase());
      return compare(subValue(item, node.path.attr), node.op, node.value, def?.caseExact ?? false);
    }
  }
}

/** The sub-attribute values an `a eq x and b eq y` filter pins down, or undefined for any other shape. */
export function equalityValues(node: FilterNode): Record<string, FilterValue> | undefined {
  if (node.kind === 'compare' && node.op === 'eq' && !node.path.sub) return { [node.path.attr]: node.value };
  if (node.kind === 'and') {
    const left = equalityValues(node.left);
    const right = equalityValues(node.right);
    return left && right ? { ...left, ...right } : undefined;
  }
  return undefined;
}
