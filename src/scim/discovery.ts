import SCIMMY from 'scimmy';
import type { Config } from '../config/index.js';
import { ScimError } from './errors.js';
import { listResponse, type ScimResult } from './context.js';

type Doc = Record<string, unknown>;

/** The three discovery documents (RFC 7644 §4), built once from the schemas and the configured limits. */
export interface Discovery {
  serviceProviderConfig: Doc;
  resourceTypes: Doc[];
  schemas: Doc[];
}

let declared = false;
/** scimmy keeps one global configuration: builds run one at a time so none reads another's limits. */
let building: Promise<unknown> = Promise.resolve();

/** Builds the discovery documents with scimmy, describing exactly what this server supports. */
export function buildDiscovery(limits: Config['scim']): Promise<Discovery> {
  const next = building.then(() => build(limits));
  building = next.catch(() => undefined);
  return next;
}

async function build(limits: Config['scim']): Promise<Discovery> {
  if (!declared) {
    // The User schema already carries the enterprise extension (see schema.ts).
    SCIMMY.Resources.declare(SCIMMY.Resources.User);
    SCIMMY.Resources.declare(SCIMMY.Resources.Group);
    declared = true;
  }
  // scimmy appends authentication schemes to those already set: start from none, or every
  // server built in this process would advertise the scheme once more.
  SCIMMY.Config.set('authenticationSchemes', []);
  SCIMMY.Config.set({
    patch: true,
    filter: { supported: true, maxResults: limits.maxPageSize },
    bulk: { supported: true, maxOperations: limits.bulkMaxOperations, maxPayloadSize: limits.bulkMaxPayloadBytes },
    sort: true,
    etag: true,
    changePassword: false,
    authenticationSchemes: [{
      type: 'oauthbearertoken',
      name: 'Bearer token',
      description: 'A token from `iam token create`, sent as "Authorization: Bearer <token>".',
      specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
      primary: true,
    }],
  });
  const plain = <T>(v: T) => JSON.parse(JSON.stringify(v)) as Doc;
  const spc = plain(await new SCIMMY.Resources.ServiceProviderConfig().read());
  const types = plain(await new SCIMMY.Resources.ResourceType().read());
  const schemas = plain(await new SCIMMY.Resources.Schema().read());
  return {
    serviceProviderConfig: spc,
    resourceTypes: types.Resources as Doc[],
    schemas: schemas.Resources as Doc[],
  };
}

function located(doc: Doc, location: string): Doc {
  return { ...doc, meta: { ...(doc.meta as Doc), location } };
}

/** Handlers for the discovery endpoints; `meta.location` is filled per request from the base URL. */
export function discoveryHandlers(discovery: Discovery) {
  const byId = (list: Doc[], id: string, what: string) => {
    const doc = list.find((d) => String(d.id).toLowerCase() === id.toLowerCase());
    if (!doc) throw new ScimError(404, undefined, `${what} ${id} not found`);
    return doc;
  };
  return {
    serviceProviderConfig: (baseUrl: string): ScimResult => ({ status: 200, body: located(discovery.serviceProviderConfig, `${baseUrl}/ServiceProviderConfig`) }),
    resourceTypes: (baseUrl: string): ScimResult => ({
      status: 200,
      body: listResponse(discovery.resourceTypes.length, 1, discovery.resourceTypes.map((d) => located(d, `${baseUrl}/ResourceTypes/${d.id}`))),
    }),
    // The location names the document by its own id, however the client spelled the one it asked for.
    resourceType: (baseUrl: string, id: string): ScimResult => {
      const doc = byId(discovery.resourceTypes, id, 'ResourceType');
      return { status: 200, body: located(doc, `${baseUrl}/ResourceTypes/${doc.id}`) };
    },
    schemas: (baseUrl: string): ScimResult => ({
      status: 200,
      body: listResponse(discovery.schemas.length, 1, discovery.schemas.map((d) => located(d, `${baseUrl}/Schemas/${d.id}`))),
    }),
    schema: (baseUrl: string, id: string): ScimResult => {
      const doc = byId(discovery.schemas, id, 'Schema');
      return { status: 200, body: located(doc, `${baseUrl}/Schemas/${doc.id}`) };
    },
  };
}
