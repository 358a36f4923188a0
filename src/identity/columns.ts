import { USER_VALUE_ATTRIBUTES, type ColumnSpec } from '../scim/sql-map.js';
import { IdentityError } from './errors.js';

type Doc = Record<string, unknown>;

/** The longest text a filter column holds; longer values are refused rather than cut. */
const MAX_COLUMN_TEXT = 255;

/**
 * The most bytes a stored resource document may take, on every database alike: far beyond any
 * real person or group, and small enough that an update's audit event (each changed attribute
 * before and after) stays well inside MySQL's MEDIUMTEXT.
 */
export const MAX_DOC_BYTES = 262_144;

/** The JSON a resource document is stored as; refused (never cut) when larger than MAX_DOC_BYTES. */
export function storedDoc(doc: Doc, what: 'User' | 'Group'): string {
  const json = JSON.stringify(doc);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_DOC_BYTES) throw new IdentityError('invalid', `the ${what} is ${bytes} bytes as stored; at most ${MAX_DOC_BYTES} are accepted`);
  return json;
}

/** Reads a value at a canonical attribute path (`name.givenName`, `urn:...:User:manager.value`). */
export function readPath(doc: Doc, path: string): unknown {
  const colon = path.lastIndexOf(':');
  let node: unknown = colon >= 0 ? doc[path.slice(0, colon)] : doc;
  for (const key of path.slice(colon + 1).split('.')) {
    if (!node || typeof node !== 'object') return undefined;
    node = (node as Doc)[key];
  }
  return node;
}

function comparisonForm(value: unknown, spec: { type: string; caseExact: boolean }, label: string, max = MAX_COLUMN_TEXT): unknown {
  if (value === undefined || value === null) return null;
  if (spec.type === 'boolean') return value === true ? 1 : 0;
  const text = String(value);
  if (text.length > max) throw new IdentityError('invalid', `${label} is longer than ${max} characters`);
  return spec.caseExact ? text : text.toLowerCase();
}

/** The filter-column values of a resource, in the order of `specs`. */
export function columnValues(doc: Doc, specs: ColumnSpec[]): unknown[] {
  return specs.map((s) => comparisonForm(readPath(doc, s.path), s, s.path));
}

/** One `identity_values` row: identity_id, attr, position, is_primary, then the value columns. */
export const VALUE_ROW_COLUMNS = ['identity_id', 'attr', 'position', 'is_primary', 'type', 'value', 'display', 'formatted', 'street_address', 'locality', 'region', 'postal_code', 'country'];

/** The `identity_values` rows of a User's multi-valued attributes. */
export function valueRows(identityId: string, doc: Doc): unknown[][] {
  const rows: unknown[][] = [];
  for (const [attr, { subs }] of Object.entries(USER_VALUE_ATTRIBUTES)) {
    const list = doc[attr];
    if (!Array.isArray(list)) continue;
    list.forEach((item: Doc, position) => {
      const row: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(subs)) {
        row[spec.column] = comparisonForm(item?.[name], spec, `${attr}.${name}`, spec.column === 'value' ? 512 : MAX_COLUMN_TEXT);
      }
      rows.push([identityId, attr, position, row.is_primary ?? null, ...VALUE_ROW_COLUMNS.slice(4).map((c) => row[c] ?? null)]);
    });
  }
  return rows;
}
