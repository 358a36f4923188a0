import { ScimError } from './errors.js';
import type { FilterNode } from './filter/ast.js';
import { equalityValues, matchesValue } from './filter/match.js';
import { FilterSyntaxError, parsePatchPath } from './filter/parse.js';
import { canonicalValue, commonAttribute, resolveAttribute, type AttributeDef, type ResourceSchema } from './schema.js';

type Doc = Record<string, unknown>;

/** One PATCH operation as the client sent it, op name already lowercased. */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  path?: string;
  value?: unknown;
}

/** A PATCH path resolved against the schema, with canonical names. */
export interface ResolvedPath {
  schema: string;
  def: AttributeDef;
  filter?: FilterNode;
  sub?: AttributeDef;
}

const fail = (scimType: 'invalidPath' | 'noTarget' | 'invalidValue' | 'mutability', detail: string) => new ScimError(400, scimType, detail);

/** Checks that a value filter (`emails[type eq "work"]`) names only sub-attributes of the attribute it filters. */
function checkValueFilter(def: AttributeDef, node: FilterNode): void {
  switch (node.kind) {
    case 'and':
    case 'or':
      checkValueFilter(def, node.left);
      checkValueFilter(def, node.right);
      return;
    case 'not':
      checkValueFilter(def, node.expr);
      return;
    case 'valuePath':
      throw fail('invalidPath', `a value filter of "${def.name}" cannot contain another [filter]`);
    default: {
      const name = node.path.attr.toLowerCase();
      const known = def.subAttributes ? def.subAttributes.some((s) => s.name.toLowerCase() === name) : name === 'value';
      if (!known || node.path.sub !== undefined) {
        throw fail('invalidPath', `"${node.path.attr}${node.path.sub ? `.${node.path.sub}` : ''}" is not a sub-attribute of ${def.name}`);
      }
    }
  }
}

/** Resolves a PATCH path; an unknown attribute or a bad filter is invalidPath. */
export function resolvePatchPath(resource: ResourceSchema, path: string): ResolvedPath | { schema: string; extension: true } {
  const whole = [...resource.attributes.keys()].find((s) => s.toLowerCase() === path.toLowerCase());
  if (whole && whole !== resource.core) return { schema: whole, extension: true };
  let parsed;
  try {
    parsed = parsePatchPath(path);
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw fail('invalidPath', err.message);
    throw err;
  }
  const sub = parsed.subAttr ?? parsed.path.sub;
  const found = commonAttribute(resource, { ...parsed.path, sub }) ?? resolveAttribute(resource, { ...parsed.path, sub });
  if (!found) throw fail('invalidPath', `no attribute "${path}" in ${resource.name}`);
  if (parsed.filter && !found.def.multiValued) throw fail('invalidPath', `"${found.def.name}" is not multi-valued, so it takes no [filter]`);
  if (parsed.filter) checkValueFilter(found.def, parsed.filter);
  return { schema: found.schema, def: found.def, filter: parsed.filter, sub: found.sub };
}

function assertWritable(def: AttributeDef, sub?: AttributeDef): void {
  const target = sub ?? def;
  if (def.mutability === 'readOnly' || target.mutability === 'readOnly') throw fail('mutability', `"${def.name}${sub ? `.${sub.name}` : ''}" is read-only`);
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a && b && typeof a === 'object' && typeof b === 'object' && 'value' in a && 'value' in b) {
    return String((a as Doc).value) === String((b as Doc).value);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Applies PATCH operations (RFC 7644 §3.5.2) to a resource document and returns the result; the
 * caller validates that result against the schema. Paths and value keys are matched in any case.
 */
export function applyPatch(resource: ResourceSchema, doc: Doc, ops: PatchOperation[]): Doc {
  let current = structuredClone(doc);
  for (const [index, operation] of ops.entries()) {
    try {
      current = applyOne(resource, current, operation);
    } catch (err) {
      if (err instanceof ScimError) throw new ScimError(err.status, err.scimType, `operation ${index + 1} (${operation.op}${operation.path ? ` ${operation.path}` : ''}): ${err.message}`);
      throw err;
    }
  }
  return current;
}

const isObject = (v: unknown): v is Doc => !!v && typeof v === 'object' && !Array.isArray(v);
const isTrue = (v: unknown) => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');

/**
 * Keeps at most one value of a multi-valued attribute primary (RFC 7643 §2.4): when the operation
 * made one of `touched` primary, every other value stops being primary (the newest claim wins).
 */
function settlePrimary(list: unknown[], touched: unknown[]): void {
  const claim = [...touched].reverse().find((v) => isObject(v) && isTrue(v.primary));
  if (!claim) return;
  for (const item of list) if (item !== claim && isObject(item) && isTrue(item.primary)) item.primary = false;
}

function applyOne(resource: ResourceSchema, doc: Doc, { op, path, value }: PatchOperation): Doc {
  if (path === undefined || path === '') {
    if (op === 'remove') throw fail('noTarget', 'remove needs a path');
    if (!isObject(value)) throw fail('invalidValue', `${op} without a path needs an object value`);
    let next = doc;
    for (const [key, v] of Object.entries(value)) {
      if (key.toLowerCase() === 'schemas') continue;
      next = applyOne(resource, next, { op, path: key, value: v });
    }
    return next;
  }
  const target = resolvePatchPath(resource, path);
  if ('extension' in target) {
    if (op === 'remove') { delete doc[target.schema]; return doc; }
    if (!isObject(value)) throw fail('invalidValue', `${path} takes an object value`);
    let next = doc;
    for (const [key, v] of Object.entries(value)) next = applyOne(resource, next, { op, path: `${target.schema}:${key}`, value: v });
    return next;
  }
  const { schema, def, sub } = target;
  assertWritable(def, sub);
  if (op !== 'remove' && value === undefined) throw fail('invalidValue', `${op} needs a value`);
  const container = schema === resource.core ? doc : ((doc[schema] ??= {}) as Doc);
  applyToAttribute(container, op, target, value);
  cleanup(container, def.name);
  // An extension whose last attribute went away is no longer part of the resource.
  if (container !== doc && isEmpty(container)) delete doc[schema];
  return doc;
}

function applyToAttribute(container: Doc, op: PatchOperation['op'], { def, filter, sub }: ResolvedPath, value: unknown): void {
  const name = def.name;

  if (filter) {
    if (!sub && op !== 'remove' && !isObject(value)) throw fail('invalidValue', `${op} on a value of ${name} takes an object value`);
    const items = Array.isArray(container[name]) ? (container[name] as Doc[]) : [];
    const matched = items.filter((item) => matchesValue(filter, item, def.subAttributes ?? []));
    if (matched.length === 0) {
      if (op === 'remove') return;
      // Entra ID replaces `emails[type eq "work"].value` on users that have no work email yet:
      // an equality-only filter describes the value to create.
      const pinned = equalityValues(filter);
      if (!pinned) throw fail('noTarget', `no value of ${name} matches the filter`);
      const created = canonicalValue(def, { ...pinned, ...(sub ? { [sub.name]: value } : (value as Doc)) }) as Doc;
      container[name] = [...items, created];
      settlePrimary(container[name] as Doc[], [created]);
      return;
    }
    if (sub) {
      for (const item of matched) {
        if (op === 'remove') delete item[sub.name];
        else item[sub.name] = value;
      }
      if (op !== 'remove') settlePrimary(items, matched);
    } else if (op === 'remove') {
      container[name] = items.filter((item) => !matched.includes(item));
    } else {
      const replacement = canonicalValue({ ...def, multiValued: false }, value) as Doc;
      const touched: Doc[] = [];
      container[name] = items.map((item) => {
        if (!matched.includes(item)) return item;
        const next = op === 'replace' ? { ...replacement } : { ...item, ...replacement };
        touched.push(next);
        return next;
      });
      settlePrimary(container[name] as Doc[], touched);
    }
    return;
  }

  if (sub) {
    if (def.multiValued) {
      // `emails.value` without a filter addresses that sub-attribute of every value.
      const items = (container[name] as Doc[] | undefined) ?? [];
      for (const item of items) {
        if (op === 'remove') delete item[sub.name];
        else item[sub.name] = value;
      }
      if (op !== 'remove') settlePrimary(items, items);
    } else {
      const parent = ((container[name] ??= {}) as Doc);
      if (op === 'remove') delete parent[sub.name];
      else parent[sub.name] = value;
    }
    return;
  }

  const canonical = canonicalValue(def, value);
  if (def.multiValued) {
    const values = canonical === undefined || canonical === null ? [] : Array.isArray(canonical) ? canonical : [canonical];
    const existing = Array.isArray(container[name]) ? (container[name] as unknown[]) : [];
    if (op === 'remove') {
      // A remove with a value list removes just those values (as Entra ID sends it).
      container[name] = value === undefined ? [] : existing.filter((e) => !values.some((v) => sameValue(e, v)));
    } else if (op === 'replace') {
      container[name] = values;
      settlePrimary(values, values);
    } else {
      const added = values.filter((v) => !existing.some((e) => sameValue(e, v)));
      container[name] = [...existing, ...added];
      settlePrimary(container[name] as unknown[], added);
    }
  } else if (def.type === 'complex') {
    if (op === 'remove' || canonical === null) delete container[name];
    else if (!isObject(canonical)) throw fail('invalidValue', `${name} is complex and takes an object value`);
    else container[name] = { ...((container[name] as Doc | undefined) ?? {}), ...canonical };
  } else if (op === 'remove' || canonical === null) {
    delete container[name];
  } else {
    container[name] = canonical;
  }
}

function cleanup(container: Doc, name: string): void {
  if (isEmpty(container[name])) delete container[name];
}
