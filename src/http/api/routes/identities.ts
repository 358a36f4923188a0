/*
 * An identity's effective access: every role and entitlement it holds, and for each the grants
 * it comes from, the role path from the granted item to it, the grant's source and its expiry.
 */
import { z } from 'zod';
import { GRANT_SOURCES } from '../../../policy/model.js';
import { effectiveAccess } from '../../../policy/effective-access.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { isoDateTime, pathText, responseSchema } from '../schemas.js';

const AccessItemSchema = responseSchema('AccessItem', z.strictObject({
  item: z.string(),
  kind: z.enum(['role', 'entitlement']),
  target: z.string().optional().describe('the target of an entitlement'),
  via: z.array(z.strictObject({
    grantId: z.string(),
    source: z.enum(GRANT_SOURCES),
    sourceRef: z.string(),
    path: z.array(z.string()).describe('from the granted item to this one, both included'),
    validFrom: z.string().nullable(),
    validUntil: z.string().nullable().describe('when this route to the item ends; null: no end'),
    grantedBy: z.string(),
  })).describe('every grant that gives the item'),
}));

const EffectiveAccessSchema = responseSchema('EffectiveAccess', z.strictObject({
  identityId: z.string(),
  userName: z.string(),
  items: z.array(AccessItemSchema),
}));

/** The effective-access route. */
export function identityRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/identities/{id}/access', operationId: 'getEffectiveAccess', tag: 'Identities',
      summary: 'What an identity holds, and why',
      params: z.strictObject({ id: pathText.describe('identity id or userName (any case)') }),
      query: z.strictObject({ at: isoDateTime.optional().describe('as of this instant (grant validity windows); default now') }),
      responses: { 200: { description: 'the identity\'s effective access', schema: EffectiveAccessSchema } },
      errors: [404],
      async handle({ params, query }) {
        const catalog = await deps.policyStore.catalog();
        const at = query.at === undefined ? new Date() : new Date(query.at);
        return { status: 200, body: await effectiveAccess(deps.db, catalog, params.id, at) };
      },
    }),
  ];
}
