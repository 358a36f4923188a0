import { jsonClient, type JsonClient } from './json-client.js';

export type { JsonResponse as ScimResponse, JsonClient as ScimClient } from './json-client.js';

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** A client for `scimUrl` sending `token` as a bearer token; a string body is sent as is. */
export function scimClient(scimUrl: string, token?: string): JsonClient {
  return jsonClient(scimUrl, 'application/scim+json', token);
}

let userCounter = 0;

/** A unique, valid User body; `extra` overrides or adds attributes. */
export function newUser(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const n = `${Date.now().toString(36)}${(++userCounter).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: `user.${n}@example.com`,
    externalId: `ext-${n}`,
    displayName: `User ${n}`,
    name: { givenName: 'Test', familyName: `Person ${n}` },
    emails: [{ value: `user.${n}@example.com`, type: 'work', primary: true }],
    [ENTERPRISE]: { employeeNumber: `E${n}`, department: 'Engineering' },
    ...extra,
  };
}

/** A patch body from operations. */
export function patchOf(...Operations: unknown[]): Record<string, unknown> {
  return { schemas: [PATCH_OP], Operations };
}
