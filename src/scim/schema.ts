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
