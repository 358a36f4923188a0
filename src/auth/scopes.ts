/** Every scope a token can carry, with what it allows. */
export const SCOPES = {
  'scim:read': 'read Users, Groups and discovery documents through SCIM',
  'scim:write': 'create, change and delete Users and Groups through SCIM',
} as const;

export type Scope = keyof typeof SCOPES;

/** Splits a comma- or space-separated list and rejects unknown scopes by name. */
export function parseScopes(list: string): Scope[] {
  const scopes = [...new Set(list.split(/[\s,]+/).filter(Boolean))];
  const unknown = scopes.filter((s) => !(s in SCOPES));
  if (unknown.length > 0) {
    throw new Error(`unknown scope ${unknown.join(', ')}; known scopes: ${Object.keys(SCOPES).join(', ')}`);
  }
  if (scopes.length === 0) throw new Error(`at least one scope is needed; known scopes: ${Object.keys(SCOPES).join(', ')}`);
  return scopes as Scope[];
}
