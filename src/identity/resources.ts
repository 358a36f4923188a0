import { IdentityError } from './errors.js';

type Doc = Record<string, unknown>;

/** A stored User or Group: the resource body plus what the server keeps about it. */
export interface StoredResource {
  id: string;
  doc: Doc;
  version: number;
  created: string;
  lastModified: string;
}

/** Who caused a change, for the audit trail. */
export interface ChangeContext {
  actor: string;
  requestId?: string;
}

/** Rows as the resource tables return them. */
export interface ResourceRow {
  id: string;
  doc: string;
  version: number | string;
  created: string;
  last_modified: string;
}

/** Turns a resource row into a StoredResource. */
export function fromRow(row: ResourceRow): StoredResource {
  return { id: row.id, doc: JSON.parse(row.doc) as Doc, version: Number(row.version), created: row.created, lastModified: row.last_modified };
}

/** Which top-level attributes differ, with both values: the before/after summary audit events carry. */
export function changedAttributes(before: Doc, after: Doc): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'schemas' || key === 'meta') continue;
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out[key] = { from: before[key], to: after[key] };
  }
  return out;
}

/** Throws preconditionFailed unless the resource is at one of the versions the client expects (If-Match). */
export function checkVersion(current: StoredResource, ifVersion: number[] | undefined): void {
  if (ifVersion && !ifVersion.includes(current.version)) {
    throw new IdentityError('preconditionFailed', `the resource is at version ${current.version}, not ${ifVersion.join(' or ')}`);
  }
}
