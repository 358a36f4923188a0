import { ScimError } from './errors.js';
import type { FilterNode } from './filter/ast.js';
import { equalityValues, matchesValue } from './filter/match.js';
import { FilterSyntaxError, parsePatchPath } from './filter/parse.js';
import { resolveAttribute, type AttributeDef, type ResourceSchema } from './schema.js';

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
  const found = resolveAttribute(resource, { ...parsed.path, sub });
  if (!found) throw fail('invalidPath', `no attribute "${path}" in ${resource.name}`);
  if (parsed.filter && !found.def.multiValued) throw fail('invalidPath', `"${found.def.name}" is not multi-valued, so it takes no [filter]`);
  return { schema: found.schema, def: found.def, filter: parsed.filter, sub: found.sub };
}

/** Renames the keys of a value to the schema's spelling, so `{"GivenName": "x"}` lands on givenName. */
export function canonicalValue(def: AttributeDef, value: unknown): unknown {
  if (def.type !== 'complex' || !def.subAttributes) return value;
  if (Array.isArray(value)) return value.map((v) => canonicalValue({ ...def, multiValued: false }, v));
  if (!value || typeof value !== 'object') return value;
  const out: Doc = {};
  for (const [key, v] of Object.entries(value)) {
    const sub = def.subAttributes.find((s) => s.name.toLowerCase() === key.toLowerCase());
    out[sub?.name ?? key] = v;
  }
  return out;
}

/** Renames the top-level keys of a resource body (and of its extension objects) to the schema's spelling. */
export function canonicalDocument(resource: ResourceSchema, body: Doc): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(body)) {
    const schema = [...resource.attributes.keys()].find((s) => s.toLowerCase() === key.toLowerCase());
    if (schema && schema !== resource.core && value && typeof value === 'object') {
      const defs = resource.attributes.get(schema)!;
      out[schema] = Object.fromEntries(Object.entries(value).map(([k, v]) => {
        const def = defs.find((d) => d.name.toLowerCase() === k.toLowerCase());
        return def ? [def.name, canonicalValue(def, v)] : [k, v];
      }));
      continue;
    }
    const def = resource.attributes.get(resource.core)!.find((d) => d.name.toLowerCase() === key.toLowerCase());
    out[def?.name ?? (key.toLowerCase() === 'schemas' ? 'schemas' : key)] = def ? canonicalValue(def, value) : value;
  }
  return out;
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

function applyOne(resource: ResourceSchema, doc: Doc, { op, path, value }: PatchOperation): Doc {
  if (path === undefined || path === '') {
    if (op === 'remove') throw fail('noTarget', 'remove needs a path');
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw fail('invalidValue', `${op} without a path needs an object value`);
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
    if (!value || typeof value !== 'object') throw fail('invalidValue', `${path} takes an object value`);
    let next = doc;
    for (const [key, v] of Object.entries(value)) next = applyOne(resource, next, { op, path: `${target.schema}:${key}`, value: v });
    return next;
  }
  const { schema, def, filter, sub } = target;
  assertWritable(def, sub);
  if (op !== 'remove' && value === undefined) throw fail('invalidValue', `${op} needs a value`);
  const container = schema === resource.core ? doc : ((doc[schema] ??= {}) as Doc);
  const name = def.name;

  if (filter) {
    const items = Array.isArray(container[name]) ? (container[name] as Doc[]) : [];
    const matched = items.filter((item) => matchesValue(filter, item, def.subAttributes ?? []));
    if (matched.length === 0) {
      if (op === 'remove') return doc;
      // Entra ID replaces `emails[type eq "work"].value` on users that have no work email yet:
      // an equality-only filter describes the value to create.
      const pinned = equalityValues(filter);
      if (!pinned) throw fail('noTarget', `no value of ${name} matches the filter`);
      const created = canonicalValue(def, { ...pinned, ...(sub ? { [sub.name]: value } : (value as Doc)) }) as Doc;
      container[name] = [...items, created];
      return doc;
    }
    if (sub) {
      for (const item of matched) {
        if (op === 'remove') delete item[sub.name];
        else item[sub.name] = value;
      }
    } else if (op === 'remove') {
      container[name] = items.filter((item) => !matched.includes(item));
    } else {
      const replacement = canonicalValue({ ...def, multiValued: false }, value) as Doc;
      container[name] = items.map((item) => (matched.includes(item) ? (op === 'replace' ? { ...replacement } : { ...item, ...replacement }) : item));
    }
    cleanup(container, name);
    return doc;
  }

  if (sub) {
    if (def.multiValued) {
      // `emails.value` without a filter addresses that sub-attribute of every value.
      for (const item of (container[name] as Doc[] | undefined) ?? []) {
        if (op === 'remove') delete item[sub.name];
        else item[sub.name] = value;
      }
    } else {
      const parent = ((container[name] ??= {}) as Doc);
      if (op === 'remove') delete parent[sub.name];
      else parent[sub.name] = value;
    }
    cleanup(container, name);
    return doc;
  }

  const canonical = canonicalValue(def, value);
  if (def.multiValued) {
    const values = canonical === undefined ? [] : Array.isArray(canonical) ? canonical : [canonical];
    const existing = Array.isArray(container[name]) ? (container[name] as unknown[]) : [];
    if (op === 'remove') {
      // A remove with a value list removes just those values (as Entra ID sends it).
      container[name] = value === undefined ? [] : existing.filter((e) => !values.some((v) => sameValue(e, v)));
    } else if (op === 'replace') {
      container[name] = values;
    } else {
      container[name] = [...existing, ...values.filter((v) => !existing.some((e) => sameValue(e, v)))];
    }
    if (op !== 'remove' && values.some((v) => (v as Doc)?.primary === true)) {
      // Only one value may be primary (RFC 7643 §2.4): the newest claim wins.
      const list = container[name] as Doc[];
      const last = [...list].reverse().find((v) => v?.primary === true);
      for (const item of list) if (item !== last && item?.primary === true) item.primary = false;
    }
  } else if (def.type === 'complex') {
    if (op === 'remove') delete container[name];
    else if (canonical === null) delete container[name];
    else container[name] = { ...((container[name] as Doc | undefined) ?? {}), ...(canonical as Doc) };
  } else if (op === 'remove' || canonical === null) {
    delete container[name];
  } else {
    container[name] = canonical;
  }
  cleanup(container, name);
  if (container !== doc && isEmpty(container)) delete doc[schema];
  return doc;
}

function cleanup(container: Doc, name: string): void {
  if (isEmpty(container[name])) delete container[name];
}
