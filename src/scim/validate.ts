import SCIMMY from 'scimmy';
import { fromScimmy, ScimError } from './errors.js';
import { canonicalDocument, GROUP_RESOURCE, USER_RESOURCE, type AttributeDef, type ResourceSchema } from './schema.js';

type Doc = Record<string, unknown>;

/** Drops read-only attributes and read-only sub-attributes (e.g. the enterprise `manager.displayName`) from one schema's part of a body. */
function withoutReadOnly(defs: AttributeDef[], part: Doc): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(part)) {
    const def = defs.find((d) => d.name === key);
    if (def?.mutability === 'readOnly') continue;
    const subs = def?.subAttributes;
    if (!subs || !subs.some((s) => s.mutability === 'readOnly')) {
      out[key] = value;
      continue;
    }
    const strip = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? withoutReadOnly(subs, v as Doc) : v);
    out[key] = Array.isArray(value) ? value.map(strip) : strip(value);
  }
  return out;
}

/**
 * Strips what a client may not set (id, meta, read-only attributes and sub-attributes, RFC 7643
 * §2.2 "readOnly ... SHALL be ignored") and never keeps a password.
 */
function withoutServerFields(doc: Doc, resource: ResourceSchema): Doc {
  const out: Doc = {};
  const core = resource.attributes.get(resource.core)!;
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'id' || key === 'meta' || key === 'password') continue;
    const extension = key !== resource.core ? resource.attributes.get(key) : undefined;
    if (extension && value && typeof value === 'object' && !Array.isArray(value)) {
      out[key] = withoutReadOnly(extension, value as Doc);
      continue;
    }
    Object.assign(out, withoutReadOnly(core, { [key]: value }));
  }
  return out;
}

function validate(resource: ResourceSchema, schema: typeof SCIMMY.Schemas.User | typeof SCIMMY.Schemas.Group, body: unknown): Doc {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', `a ${resource.name} must be a JSON object`);
  let doc = canonicalDocument(resource, body as Doc);
  const known = [...resource.attributes.keys()];
  const declared = Array.isArray(doc.schemas) ? (doc.schemas as unknown[]).map(String) : [resource.core];
  // Entra ID lists a schema of its own on groups without sending data under it: an unknown URN
  // is ignored when it carries nothing, and refused when it carries attributes we would drop.
  const unknown = declared.filter((s) => !known.some((k) => k.toLowerCase() === s.toLowerCase()) && s in doc);
  if (unknown.length > 0) throw new ScimError(400, 'invalidValue', `unknown schema ${unknown.join(', ')} for ${resource.name}`);
  refuseNullValues(doc);
  if (!declared.some((s) => s.toLowerCase() === resource.core.toLowerCase())) {
    throw new ScimError(400, 'invalidValue', `schemas must include ${resource.core}`);
  }
  // Extensions present in the body are declared, whatever the client listed.
  const schemas = known.filter((s) => s === resource.core || doc[s] !== undefined);
  doc = withoutServerFields({ ...doc, schemas }, resource);
  let coerced: Doc;
  try {
    // The schema definition's coerce validates as the Schema constructor does, at a third of the cost.
    coerced = JSON.parse(JSON.stringify(schema.definition.coerce(doc, 'in'))) as Doc;
  } catch (err) {
    throw fromScimmy(err) ?? err;
  }
  delete coerced.meta;
  delete coerced.id;
  delete coerced.password;
  return coerced;
}

/** Refuses null entries in multi-valued attributes, which no schema allows and later matching would trip on. */
function refuseNullValues(doc: Doc): void {
  for (const [key, value] of Object.entries(doc)) {
    if (Array.isArray(value) && key !== 'schemas') {
      const i = value.findIndex((v) => v === null || v === undefined);
      if (i >= 0) throw new ScimError(400, 'invalidValue', `${key}[${i}] is null; leave it out instead`);
    } else if (value && typeof value === 'object' && !Array.isArray(value) && key.startsWith('urn:')) {
      refuseNullValues(value as Doc);
    }
  }
}

/** Validates a User body (POST, PUT, or the result of a PATCH) and returns it in canonical form. */
export function validateUser(body: unknown): Doc {
  const doc = validate(USER_RESOURCE, SCIMMY.Schemas.User, body);
  if (typeof doc.userName !== 'string' || doc.userName.trim() === '') throw new ScimError(400, 'invalidValue', 'userName is required');
  return doc;
}

/** Validates a Group body without its members, which are handled as rows; returns it in canonical form. */
export function validateGroup(body: unknown): Doc {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'a Group must be a JSON object');
  const { members: _members, ...rest } = body as Doc;
  const doc = validate(GROUP_RESOURCE, SCIMMY.Schemas.Group, rest);
  delete doc.members;
  if (typeof doc.displayName !== 'string' || doc.displayName.trim() === '') throw new ScimError(400, 'invalidValue', 'displayName is required');
  return doc;
}
