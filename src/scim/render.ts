import { ScimError } from './errors.js';
import { splitAttributePath, type ResourceSchema } from './schema.js';
import type { StoredResource } from '../identity/resources.js';

type Doc = Record<string, unknown>;

/** The weak ETag of a resource version, also its meta.version. */
export function etagOf(version: number): string {
  return `W/"${version}"`;
}

/**
 * Parses an If-Match / If-None-Match header into versions; `*` matches any. Unparseable tags
 * match nothing, so a stale or foreign ETag fails the precondition rather than being ignored.
 */
export function parseETags(header: string | undefined): number[] | '*' | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (header.trim() === '*') return '*';
  return header.split(',').map((tag) => {
    const m = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(tag);
    return m ? Number(m[1]) : -1;
  });
}

/** The full SCIM representation of a stored resource, with meta; `extra` carries derived attributes (groups, members). */
export function represent(resource: ResourceSchema, stored: StoredResource, baseUrl: string, extra: Doc = {}): Doc {
  const { schemas, ...rest } = stored.doc;
  return {
    schemas,
    id: stored.id,
    ...rest,
    ...extra,
    meta: {
      resourceType: resource.name,
      created: stored.created,
      lastModified: stored.lastModified,
      version: etagOf(stored.version),
      location: `${baseUrl}${resource.endpoint}/${stored.id}`,
    },
  };
}

/** Which attributes a response carries (RFC 7644 §3.4.2.5). */
export interface Projection {
  attributes?: string[];
  excludedAttributes?: string[];
}

/** Reads `attributes` / `excludedAttributes` (comma-separated) from query parameters or a search body. */
export function parseProjection(attributes: unknown, excluded: unknown): Projection {
  const list = (v: unknown): string[] | undefined => {
    if (v === undefined || v === null || v === '') return undefined;
    const parts = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(',') : undefined;
    if (!parts) throw new ScimError(400, 'invalidValue', 'attributes and excludedAttributes are comma-separated attribute paths');
    return parts.map((p) => p.trim()).filter(Boolean);
  };
  return { attributes: list(attributes), excludedAttributes: list(excluded) };
}

/**
 * Whether a projection returns any part of a core attribute; lets callers skip loading what will
 * not be returned. It agrees with `project`: `attributes` naming the core schema or a
 * sub-attribute wants it, and `excludedAttributes` drops it only when naming it or the core schema whole.
 */
export function wants(resource: ResourceSchema, projection: Projection, attr: string): boolean {
  const lower = attr.toLowerCase();
  const targets = (paths: string[]) => paths.map((p) => target(resource, p)).filter((t) => t.schema === resource.core);
  if (projection.attributes) return targets(projection.attributes).some((t) => t.attr === '' || t.attr === lower);
  return !targets(projection.excludedAttributes ?? []).some((t) => t.attr === '' || (t.attr === lower && !t.sub));
}

/** Keys that are returned whatever the projection says (RFC 7643 "returned: always"). */
const ALWAYS = new Set(['schemas', 'id']);

/** Applies a projection to a full representation; names match in any case, with or without schema URN. */
export function project(resource: ResourceSchema, doc: Doc, projection: Projection): Doc {
  if (!projection.attributes && !projection.excludedAttributes) return doc;
  const include = projection.attributes?.map((p) => target(resource, p));
  const exclude = projection.excludedAttributes?.map((p) => target(resource, p)) ?? [];
  const out: Doc = {};
  for (const [key, value] of Object.entries(doc)) {
    const extension = resource.extensions.includes(key);
    if (ALWAYS.has(key)) { out[key] = value; continue; }
    if (extension) {
      const sub = pick(value as Doc, key, include, exclude);
      if (sub && Object.keys(sub).length > 0) out[key] = sub;
      continue;
    }
    const picked = pickAttr(resource.core, key, value, include, exclude);
    if (picked !== undefined) out[key] = picked;
  }
  return out;
}

interface Target { schema: string; attr: string; sub?: string }

function target(resource: ResourceSchema, path: string): Target {
  const whole = [...resource.attributes.keys()].find((s) => s.toLowerCase() === path.toLowerCase());
  if (whole) return { schema: whole, attr: '' };
  const p = splitAttributePath(path);
  const schema = p.schema ? [...resource.attributes.keys()].find((s) => s.toLowerCase() === p.schema!.toLowerCase()) ?? p.schema : resource.core;
  return { schema, attr: p.attr.toLowerCase(), sub: p.sub?.toLowerCase() };
}

function pick(obj: Doc, schema: string, include: Target[] | undefined, exclude: Target[]): Doc | undefined {
  if (include?.some((t) => t.schema === schema && t.attr === '')) return obj;
  if (exclude.some((t) => t.schema === schema && t.attr === '')) return undefined;
  const out: Doc = {};
  for (const [key, value] of Object.entries(obj)) {
    const picked = pickAttr(schema, key, value, include, exclude);
    if (picked !== undefined) out[key] = picked;
  }
  return out;
}

function pickAttr(schema: string, key: string, value: unknown, include: Target[] | undefined, exclude: Target[]): unknown {
  const lower = key.toLowerCase();
  const mine = (t: Target) => t.schema === schema && t.attr === lower;
  // A schema URN alone names every attribute of that schema.
  const whole = (t: Target) => t.schema === schema && t.attr === '';
  if (include) {
    if (include.some(whole)) return value;
    const hits = include.filter(mine);
    if (hits.length === 0) return undefined;
    if (hits.some((t) => !t.sub)) return value;
    return subset(value, hits.map((t) => t.sub!), true);
  }
  const hits = exclude.filter(mine);
  if (exclude.some(whole) || hits.some((t) => !t.sub)) return undefined;
  return hits.length ? subset(value, hits.map((t) => t.sub!), false) : value;
}

function subset(value: unknown, subs: string[], keep: boolean): unknown {
  const one = (v: unknown) => {
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).filter(([k]) => subs.includes(k.toLowerCase()) === keep));
  };
  return Array.isArray(value) ? value.map(one) : one(value);
}
