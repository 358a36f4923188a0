/*
 * Every scope a token can carry. A scope is also a role of the API authorization policy
 * (policies/api_policy.csv): what a scope allows is decided there, route by route; the
 * descriptions here are what `iam token create --help` and the OpenAPI document show.
 */
export const SCOPES = {
  'iam-admin': 'everything: the access model, grants, SoD exceptions, checks, simulation, audit, and SCIM',
  approver: 'read the catalogue, grants and effective access; create and revoke grants; record SoD exceptions',
  reviewer: 'read the catalogue, grants, effective access and SoD violations',
  auditor: 'read everything, export and verify the audit trail, call the check API; change nothing',
  'self-service': 'for a person\'s own token: request access, follow one\'s requests, decide the approvals and review items assigned to one, name a deputy',
  'hr-system': 'push people and groups through SCIM (read and write); upload HR feed files and read feed reports',
  'scim:read': 'read Users, Groups and discovery documents through SCIM',
  'scim:write': 'create, change and delete Users and Groups through SCIM',
  'authz:check': 'ask POST /api/v1/authz/check whether a subject may do an action (for applications)',
} as const;

export type Scope = keyof typeof SCOPES;

/** Whether a string names a scope this server knows. */
export function isScope(name: string): name is Scope {
  return Object.hasOwn(SCOPES, name);
}

/** Splits a comma- or space-separated list and rejects unknown scopes by name. */
export function parseScopes(list: string): Scope[] {
  const scopes = [...new Set(list.split(/[\s,]+/).filter(Boolean))];
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length > 0) {
    throw new Error(`unknown scope ${unknown.join(', ')}; known scopes: ${Object.keys(SCOPES).join(', ')}`);
  }
  if (scopes.length === 0) throw new Error(`at least one scope is needed; known scopes: ${Object.keys(SCOPES).join(', ')}`);
  return scopes as Scope[];
}
