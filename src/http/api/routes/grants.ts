/*
 * Grants: who holds which role or entitlement, from which source, until when. Creating one runs
 * every check the grant service makes (deny rules, maximum duration, separation of duties).
 */
import { z } from 'zod';
import { GRANT_SOURCES, grantInput } from '../../../policy/model.js';
import type { ApiDeps } from '../deps.js';
import { API_PREFIX, defineRoute, type ApiRoute } from '../route.js';
import { pathText, requestSchema, responseSchema } from '../schemas.js';

export const GrantSchema = responseSchema('Grant', z.strictObject({
  id: z.string(),
  identityId: z.string(),
  item: z.string().describe('role:<name> or ent:<target>/<key>'),
  source: z.enum(GRANT_SOURCES),
  sourceRef: z.string().describe('the birthright rule, request or review that made the grant; empty for manual grants'),
  grantedBy: z.string(),
  reason: z.string().nullable(),
  validFrom: z.string().nullable(),
  validUntil: z.string().nullable(),
  created: z.string(),
}));

const GrantPage = responseSchema('GrantPage', z.strictObject({
  items: z.array(GrantSchema),
  next: z.string().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const GrantRequest = requestSchema('GrantInput', grantInput);

const listQuery = z.strictObject({
  identity: z.string().min(1).max(255).optional().describe('identity id or userName'),
  item: z.string().min(1).max(300).optional().describe('role:<name> or ent:<target>/<key>'),
  source: z.enum(GRANT_SOURCES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('grants per page'),
  after: z.string().min(1).max(64).optional().describe('the `next` of the previous page'),
});

const idParams = z.strictObject({ id: pathText });

/** The grant routes. */
export function grantRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/grants', operationId: 'listGrants', tag: 'Grants',
      summary: 'List grants, filtered by identity, item or source',
      query: listQuery,
      responses: { 200: { description: 'one page of grants, ordered by id', schema: GrantPage } },
      async handle({ query }) {
        const { limit, after, identity, item, source } = query;
        const page = await deps.grants.list(
          { ...(identity !== undefined && { identityId: identity }), ...(item !== undefined && { item }), ...(source !== undefined && { source }) },
          { limit, ...(after !== undefined && { after }) },
        );
        return { status: 200, body: { items: page.grants, ...(page.next !== undefined && { next: page.next }) } };
      },
    }),
    defineRoute({
      method: 'POST', path: '/grants', operationId: 'createGrant', tag: 'Grants',
      summary: 'Grant a role or entitlement to an identity',
      description: 'Idempotent on identity, item, source and sourceRef: a repeat answers 200 with the existing grant. Refused with 409 sod_violation when the grant would break a separation-of-duties rule that no approved exception covers (details name the rule and the conflicting items), and with 422 when a deny rule matches the identity, the validity window is empty or past, or a requested role would outlast its maximum duration.',
      body: GrantRequest,
      responses: {
        200: { description: 'the same grant already existed', schema: GrantSchema },
        201: { description: 'granted', schema: GrantSchema, headers: { Location: 'the grant\'s URL' } },
      },
      errors: [404, 409, 422],
      async handle({ body }, call) {
        const { created, grant } = await deps.grants.grant(body, call.change);
        return {
          status: created ? 201 : 200,
          body: grant,
          ...(created && { headers: { Location: `${API_PREFIX}/grants/${encodeURIComponent(grant.id)}` } }),
        };
      },
    }),
    defineRoute({
      method: 'GET', path: '/grants/{id}', operationId: 'getGrant', tag: 'Grants',
      summary: 'Read one grant',
      params: idParams,
      responses: { 200: { description: 'the grant', schema: GrantSchema } },
      errors: [404],
      async handle({ params }) {
        return { status: 200, body: await deps.grants.get(params.id) };
      },
    }),
    defineRoute({
      method: 'DELETE', path: '/grants/{id}', operationId: 'revokeGrant', tag: 'Grants',
      summary: 'Revoke a grant',
      params: idParams,
      responses: { 204: { description: 'revoked' } },
      errors: [404],
      async handle({ params }, call) {
        await deps.grants.revoke(params.id, call.change);
        return { status: 204 };
      },
    }),
  ];
}
