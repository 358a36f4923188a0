import type { AttrPath } from './filter/ast.js';
import { commonAttribute, ENTERPRISE_SCHEMA, GROUP_RESOURCE, resolveAttribute, USER_RESOURCE, type ResourceSchema } from './schema.js';

/*
 * Where each filterable attribute lives in SQL. The same tables drive the writes (which columns
 * an identity row gets) and the reads (which column a filter or sortBy names), so the two cannot
 * disagree.
 */

export type ValueType = 'string' | 'boolean' | 'dateTime' | 'reference' | 'integer';

/** A SQL expression holding one attribute's comparison form. */
export interface ColumnRef {
  kind: 'column';
  sql: string;
  type: ValueType;
  /** False: the column holds the value lowercased and filter values are lowercased to match. */
  caseExact: boolean;
}

/** A multi-valued attribute kept as rows of another table, matched with `id IN (SELECT key FROM ...)`. */
export interface MultiRef {
  kind: 'multi';
  /** FROM clause of the subquery; its rows are aliased `v`. */
  from: string;
  /** The column naming the owning resource. */
  key: string;
  /** Restriction that selects this attribute's rows, with its parameters. */
  where?: { sql: string; params: unknown[] };
  subs: Record<string, ColumnRef>;
  /** Used when a filter names the attribute alone (`emails co "@x"`). */
  defaultSub: string;
  /** Orders the rows of one owner to pick the value sortBy uses. */
  sortBy: string;
}

/** A singular complex attribute (`name`, `manager`): present when any sub-attribute is. */
export interface ComplexRef {
  kind: 'complex';
  subs: Record<string, ColumnRef>;
}

export type SqlRef = ColumnRef | MultiRef | ComplexRef;

/** A singular attribute stored in a column of the resource's own table. */
export interface ColumnSpec {
  /** Canonical path: `userName`, `name.givenName`, `urn:...:enterprise:2.0:User:department`. */
  path: string;
  column: string;
  type: ValueType;
  caseExact: boolean;
}

const ci = (path: string, column: string): ColumnSpec => ({ path, column, type: 'string', caseExact: false });
const exact = (path: string, column: string): ColumnSpec => ({ path, column, type: 'string', caseExact: true });
const ENT = `${ENTERPRISE_SCHEMA}:`;

/** The columns of `identities` derived from a User resource (id, version and timestamps are set by the store). */
export const USER_COLUMNS: ColumnSpec[] = [
  ci('userName', 'user_name'),
  exact('externalId', 'external_id'),
  ci('displayName', 'display_name'),
  ci('nickName', 'nick_name'),
  { path: 'profileUrl', column: 'profile_url', type: 'reference', caseExact: true },
  ci('title', 'title'),
  ci('userType', 'user_type'),
  ci('preferredLanguage', 'preferred_language'),
  ci('locale', 'locale'),
  ci('timezone', 'timezone'),
  { path: 'active', column: 'active', type: 'boolean', caseExact: true },
  ci('name.formatted', 'name_formatted'),
  ci('name.familyName', 'name_family_name'),
  ci('name.givenName', 'name_given_name'),
  ci('name.middleName', 'name_middle_name'),
  ci('name.honorificPrefix', 'name_honorific_prefix'),
  ci('name.honorificSuffix', 'name_honorific_suffix'),
  ci(`${ENT}employeeNumber`, 'employee_number'),
  ci(`${ENT}costCenter`, 'cost_center'),
  ci(`${ENT}organization`, 'organization'),
  ci(`${ENT}division`, 'division'),
  ci(`${ENT}department`, 'department'),
  exact(`${ENT}manager.value`, 'manager_id'),
  ci(`${ENT}manager.displayName`, 'manager_display_name'),
];

/** The columns of `directory_groups` derived from a Group resource. */
export const GROUP_COLUMNS: ColumnSpec[] = [ci('displayName', 'display_name'), exact('externalId', 'external_id')];

/** Multi-valued complex User attributes stored as `identity_values` rows, and the sub-attributes kept. */
export const USER_VALUE_ATTRIBUTES: Record<string, { subs: Record<string, { column: string; type: ValueType; caseExact: boolean }> }> = (() => {
  const common = (valueExact = false) => ({
    value: { column: 'value', type: 'string' as ValueType, caseExact: valueExact },
    display: { column: 'display', type: 'string' as ValueType, caseExact: false },
    type: { column: 'type', type: 'string' as ValueType, caseExact: false },
    primary: { column: 'is_primary', type: 'boolean' as ValueType, caseExact: true },
  });
  return {
    emails: { subs: common() },
    phoneNumbers: { subs: common() },
    ims: { subs: common() },
    photos: { subs: common(true) },
    entitlements: { subs: common() },
    roles: { subs: common() },
    x509Certificates: { subs: common(true) },
    addresses: {
      subs: {
        type: { column: 'type', type: 'string', caseExact: false },
        primary: { column: 'is_primary', type: 'boolean', caseExact: true },
        formatted: { column: 'formatted', type: 'string', caseExact: false },
        streetAddress: { column: 'street_address', type: 'string', caseExact: false },
        locality: { column: 'locality', type: 'string', caseExact: false },
        region: { column: 'region', type: 'string', caseExact: false },
        postalCode: { column: 'postal_code', type: 'string', caseExact: false },
        country: { column: 'country', type: 'string', caseExact: false },
      },
    },
  };
})();

const META: Record<string, ColumnRef> = {
  created: { kind: 'column', sql: 't.created', type: 'dateTime', caseExact: true },
  lastmodified: { kind: 'column', sql: 't.last_modified', type: 'dateTime', caseExact: true },
};
const ID: ColumnRef = { kind: 'column', sql: 't.id', type: 'string', caseExact: true };

/** Maps attribute paths of one resource type to SQL; the main table is always aliased `t`. */
export interface ResourceSqlMap {
  resource: ResourceSchema;
  table: string;
  /** The SQL for an attribute path, or undefined when the attribute cannot be filtered on. */
  resolve(path: AttrPath): SqlRef | undefined;
}

function columnIndex(specs: ColumnSpec[]): Map<string, ColumnRef> {
  return new Map(specs.map((s) => [s.path.toLowerCase(), { kind: 'column', sql: `t.${s.column}`, type: s.type, caseExact: s.caseExact }]));
}

function canonicalKey(resource: ResourceSchema, path: AttrPath): { key: string; attr: string; sub?: string } | undefined {
  // id, externalId and meta are common attributes (RFC 7643 §3.1), defined by no schema.
  const found = commonAttribute(resource, path) ?? resolveAttribute(resource, path);
  if (!found) return undefined;
  const prefix = found.schema === resource.core ? '' : `${found.schema}:`;
  const name = `${prefix}${found.def.name}`;
  return { key: (found.sub ? `${name}.${found.sub.name}` : name).toLowerCase(), attr: found.def.name, sub: found.sub?.name };
}

function makeMap(resource: ResourceSchema, table: string, specs: ColumnSpec[], multis: Record<string, MultiRef>): ResourceSqlMap {
  const columns = columnIndex(specs);
  const complex = new Map<string, ComplexRef>();
  for (const spec of specs) {
    // A sub-attribute's path has a dot after the schema URN (whose "2.0" has one too).
    const colon = spec.path.lastIndexOf(':');
    const dot = spec.path.indexOf('.', colon + 1);
    if (dot < 0) continue;
    const parent = spec.path.slice(0, dot).toLowerCase();
    const ref = complex.get(parent) ?? { kind: 'complex', subs: {} };
    ref.subs[spec.path.slice(dot + 1).toLowerCase()] = columns.get(spec.path.toLowerCase())!;
    complex.set(parent, ref);
  }
  return {
    resource,
    table,
    resolve(path) {
      const found = canonicalKey(resource, path);
      if (!found) return undefined;
      if (found.key === 'id') return ID;
      if (found.attr === 'meta') return META[(found.sub ?? '').toLowerCase()];
      const multi = multis[found.attr];
      if (multi) {
        if (!found.sub) return multi;
        const sub = multi.subs[found.sub.toLowerCase()];
        return sub ? { ...multi, subs: { [found.sub.toLowerCase()]: sub }, defaultSub: found.sub.toLowerCase() } : undefined;
      }
      return columns.get(found.key) ?? complex.get(found.key);
    },
  };
}

const col = (sql: string, type: ValueType, caseExact: boolean): ColumnRef => ({ kind: 'column', sql, type, caseExact });

const USER_MULTIS: Record<string, MultiRef> = Object.fromEntries([
  ...Object.entries(USER_VALUE_ATTRIBUTES).map(([attr, { subs }]): [string, MultiRef] => [attr, {
    kind: 'multi',
    from: 'identity_values v',
    key: 'v.identity_id',
    where: { sql: 'v.attr = ?', params: [attr] },
    subs: Object.fromEntries(Object.entries(subs).map(([name, s]) => [name.toLowerCase(), col(`v.${s.column}`, s.type, s.caseExact)])),
    defaultSub: attr === 'addresses' ? 'formatted' : 'value',
    sortBy: 'v.is_primary DESC, v.position',
  }]),
  ['groups', {
    kind: 'multi',
    from: 'group_members v JOIN directory_groups g ON g.id = v.group_id',
    key: 'v.member_id',
    subs: { value: col('v.group_id', 'string', true), display: col('g.display_name', 'string', false) },
    defaultSub: 'value',
    sortBy: 'g.display_name',
  }],
]);

const GROUP_MULTIS: Record<string, MultiRef> = {
  members: {
    kind: 'multi',
    from: 'group_members v LEFT JOIN identities mi ON mi.id = v.member_id',
    key: 'v.group_id',
    subs: {
      value: col('v.member_id', 'string', true),
      type: col('v.member_type', 'string', false),
      display: col('mi.display_name', 'string', false),
    },
    defaultSub: 'value',
    sortBy: 'v.member_id',
  },
};

export const USER_SQL = makeMap(USER_RESOURCE, 'identities', USER_COLUMNS, USER_MULTIS);
export const GROUP_SQL = makeMap(GROUP_RESOURCE, 'directory_groups', GROUP_COLUMNS, GROUP_MULTIS);
