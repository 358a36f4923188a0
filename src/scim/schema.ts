import SCIMMY from 'scimmy';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

// The enterprise extension is optional on a User (required: false), as Entra and Okta expect.
// scimmy's typings want a Schema instance here, but its runtime (and documentation) takes the class.
SCIMMY.Schemas.User.extend(SCIMMY.Schemas.EnterpriseUser as unknown as Parameters<typeof SCIMMY.Schemas.User.extend>[0], false);

/** Attribute characteristics of RFC 7643 §2.2, as the schemas describe them. */
export interface AttributeDef {
  name: string;
  type: 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'binary' | 'complex';
  multiValued: boolean;
  caseExact: boolean;
  mutability: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned: 'always' | 'never' | 'default' | 'request';
  subAttributes?: AttributeDef[];
}

/** One resource type's schemas: the core one and its extensions, each with its attributes. */
export interface ResourceSchema {
  name: 'User' | 'Group';
  endpoint: '/Users' | '/Groups';
  core: string;
  extensions: string[];
  attributes: Map<string, AttributeDef[]>;
}

function describe(schema: { definition: { describe(): unknown } }): [string, AttributeDef[]] {
  // describe() returns scimmy Attribute objects; their JSON form is the RFC 7643 description.
  const d = JSON.parse(JSON.stringify(schema.definition.describe())) as { id: string; attributes: AttributeDef[] };
  return [d.id, d.attributes];
}

export const USER_RESOURCE: ResourceSchema = {
  name: 'User',
  endpoint: '/Users',
  core: USER_SCHEMA,
  extensions: [ENTERPRISE_SCHEMA],
  attributes: new Map([describe(SCIMMY.Schemas.User), describe(SCIMMY.Schemas.EnterpriseUser)]),
};

export const GROUP_RESOURCE: ResourceSchema = {
  name: 'Group',
  endpoint: '/Groups',
  core: GROUP_SCHEMA,
  extensions: [],
  attributes: new Map([describe(SCIMMY.Schemas.Group)]),
};

/** An attribute found by a client-written path, with its canonical names. */
export interface ResolvedAttribute {
  schema: string;
  def: AttributeDef;
  sub?: AttributeDef;
}

/**
 * Finds an attribute by a path as a client wrote it: names in any case, with or without the
 * schema URN (an unqualified name is looked up in the core schema, then in the extensions).
 */
export function resolveAttribute(resource: ResourceSchema, path: { schema?: string; attr: string; sub?: string }): ResolvedAttribute | undefined {
  const schemas = path.schema
    ? [...resource.attributes.keys()].filter((s) => s.toLowerCase() === path.schema!.toLowerCase())
    : [resource.core, ...resource.extensions];
  for (const schema of schemas) {
    const def = findByName(resource.attributes.get(schema) ?? [], path.attr);
    if (!def) continue;
    if (path.sub === undefined) return { schema, def };
    const sub = findByName(def.subAttributes ?? [], path.sub);
    return sub ? { schema, def, sub } : undefined;
  }
  return undefined;
}

function findByName(defs: AttributeDef[], name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return defs.find((d) => d.name.toLowerCase() === lower);
}

/** Splits a full attribute path (`urn:...:User:manager.value`) into schema, attribute and sub-attribute. */
export function splitAttributePath(text: string): { schema?: string; attr: string; sub?: string } {
  const colon = text.lastIndexOf(':');
  const schema = colon >= 0 ? text.slice(0, colon) : undefined;
  const rest = colon >= 0 ? text.slice(colon + 1) : text;
  const dot = rest.indexOf('.');
  if (dot < 0) {
    // `urn:...:enterprise:2.0:User` alone names the whole extension.
    return schema === undefined ? { attr: rest } : { schema, attr: rest };
  }
  return { ...(schema === undefined ? {} : { schema }), attr: rest.slice(0, dot), sub: rest.slice(dot + 1) };
}

type Doc = Record<string, unknown>;

const readOnlyString = (name: string, type: AttributeDef['type'] = 'string'): AttributeDef =>
  ({ name, type, multiValued: false, caseExact: true, mutability: 'readOnly', returned: 'default' });

/**
 * The common attributes of RFC 7643 §3.1, which every resource has but no schema lists: `id` and
 * `meta` are read-only (a PATCH on them is a mutability error), `externalId` belongs to the client.
 */
const COMMON_ATTRIBUTES: AttributeDef[] = [
  { ...readOnlyString('id'), returned: 'always' },
  { name: 'externalId', type: 'string', multiValued: false, caseExact: true, mutability: 'readWrite', returned: 'default' },
  {
    name: 'meta', type: 'complex', multiValued: false, caseExact: false, mutability: 'readOnly', returned: 'default',
    subAttributes: [readOnlyString('resourceType'), readOnlyString('created', 'dateTime'), readOnlyString('lastModified', 'dateTime'), readOnlyString('location', 'reference'), readOnlyString('version')],
  },
];

/** One of the common attributes (id, externalId, meta) by a client-written path. */
export function commonAttribute(resource: ResourceSchema, path: { schema?: string; attr: string; sub?: string }): { schema: string; def: AttributeDef; sub?: AttributeDef } | undefined {
  if (path.schema !== undefined && path.schema.toLowerCase() !== resource.core.toLowerCase()) return undefined;
  const def = COMMON_ATTRIBUTES.find((d) => d.name.toLowerCase() === path.attr.toLowerCase());
  if (!def) return undefined;
  if (path.sub === undefined) return { schema: resource.core, def };
  const sub = def.subAttributes?.find((s) => s.name.toLowerCase() === path.sub!.toLowerCase());
  return sub ? { schema: resource.core, def, sub } : undefined;
}

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, false: false };

/**
 * A value in the schema's spelling: keys renamed, so `{"GivenName": "x"}` lands on givenName, and
 * booleans spelt as strings ("True", as Microsoft Entra ID sends them) read as booleans.
 */
export function canonicalValue(def: AttributeDef, value: unknown): unknown {
  if (def.type === 'boolean' && typeof value === 'string') return BOOLEAN_WORDS[value.toLowerCase()] ?? value;
  if (def.type !== 'complex' || !def.subAttributes) return value;
  if (Array.isArray(value)) return value.map((v) => canonicalValue({ ...def, multiValued: false }, v));
  if (!value || typeof value !== 'object') return value;
  const out: Doc = {};
  for (const [key, v] of Object.entries(value)) {
    const sub = def.subAttributes.find((s) => s.name.toLowerCase() === key.toLowerCase());
    out[sub?.name ?? key] = sub ? canonicalValue(sub, v) : v;
  }
  return out;
}

/** A resource body in the schema's spelling, extension objects included (see canonicalValue). */
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
    const lower = key.toLowerCase();
    const def = [...resource.attributes.get(resource.core)!, ...COMMON_ATTRIBUTES].find((d) => d.name.toLowerCase() === lower);
    out[def?.name ?? (key.toLowerCase() === 'schemas' ? 'schemas' : key)] = def ? canonicalValue(def, value) : value;
  }
  return out;
}
