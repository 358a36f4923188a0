/*
 * Access requests, the approvals waiting for the caller, and the caller's deputies. Which
 * requests, approvals and delegations are the caller's is decided from the token's person, so
 * these routes are open to self-service tokens; a token that belongs to nobody sees nothing here
 * and cannot request, decide or delegate (403). iam-admins and auditors read every request; an
 * iam-admin requests for anyone, but decides only what is assigned to them (direct grants are
 * POST /grants).
 */
import { z } from 'zod';
import { delegationInput } from '../../../governance/delegations.js';
import { GovernanceError } from '../../../governance/errors.js';
import { accessRequestBody, REQUEST_STATUSES, requestedItem, STAGE_STATUSES } from '../../../governance/requests/model.js';
import { resolveIdentity } from '../../../policy/identity-ref.js';
import type { ApiDeps } from '../deps.js';
import { API_PREFIX, callerActor, defineRoute, type ApiCall, type ApiRoute } from '../route.js';
import { listOf, pathText, queryFlag, requestSchema, responseSchema } from '../schemas.js';

const person = z.strictObject({ id: z.string(), userName: z.string() });

export const AccessRequestSchema = responseSchema('AccessRequest', z.strictObject({
  id: z.string(),
  status: z.enum(REQUEST_STATUSES),
  item: z.string().describe('role:<name> or ent:<target>/<key>'),
  beneficiary: person,
  requester: person,
  justification: z.string(),
  durationDays: z.int().nullable().describe('days the access lasts once granted; null: until withdrawn'),
  stage: z.int().describe('the stage waiting for a decision (0-based), or the last one decided'),
  stages: z.array(z.strictObject({
    approver: z.string().describe('manager, role-owner, target-owner, group, people, or sod-owner (an exception to an SoD rule)'),
    status: z.enum(STAGE_STATUSES),
    approvers: z.array(z.string()).describe('userNames of everyone asked to decide the stage'),
    decidedBy: z.string().optional(),
    onBehalfOf: z.string().optional().describe('the approver a deputy decided for'),
    comment: z.string().optional(),
    group: z.string().optional(),
    rule: z.string().optional(),
  })),
  sodConflicts: z.array(z.strictObject({ rule: z.string(), items: z.array(z.string()) })).describe('SoD rules the access breaks; their owners approve an exception in the last stages'),
  grantId: z.string().nullable().describe('the grant an approval made'),
  outcome: z.string().nullable().describe('why a request failed, or who cancelled it'),
  created: z.string(),
  expiresAt: z.string().describe('when the request expires if still undecided'),
  decidedAt: z.string().nullable(),
}));

const AccessRequestPage = responseSchema('AccessRequestPage', z.strictObject({
  items: z.array(AccessRequestSchema),
  next: z.string().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const ApprovalList = listOf('ApprovalList', AccessRequestSchema);

const DelegationSchema = responseSchema('Delegation', z.strictObject({
  id: z.string(),
  delegator: person,
  deputy: person,
  from: z.string(),
  until: z.string(),
  createdBy: z.string(),
  created: z.string(),
  revoked: z.string().nullable(),
  active: z.boolean().describe('in force now'),
}));

const DelegationList = listOf('DelegationList', DelegationSchema);

const AccessRequestInput = requestSchema('AccessRequestInput', accessRequestBody);
const DecisionInput = requestSchema('AccessRequestDecision', z.strictObject({
  decision: z.enum(['approve', 'deny']),
  comment: z.string().max(4000).optional(),
}));
const DelegationRequest = requestSchema('DelegationInput', delegationInput);

const listQuery = z.strictObject({
  status: z.enum(REQUEST_STATUSES).optional(),
  involving: z.string().min(1).max(255).optional().describe('identity id or userName: requests they made or benefit from (others than oneself: iam-admin and auditor only)'),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('requests per page'),
  after: z.string().min(1).max(64).optional().describe('the `next` of the previous page'),
});

const delegationQuery = z.strictObject({
  includeEnded: queryFlag.default(false).describe('also delegations that ended or were withdrawn'),
});

const idParams = z.strictObject({ id: pathText });

const readsAll = (call: ApiCall) => call.caller.scopes.some((s) => s === 'iam-admin' || s === 'auditor');

/** The access-request, approval and delegation routes. */
export function accessRequestRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST', path: '/access-requests', operationId: 'createAccessRequest', tag: 'Access requests',
      summary: 'Request a role or entitlement, for yourself or a report',
      description: 'Name the item as `item` (role:<name> or ent:<target>/<key>), `role` or `entitlement`. The beneficiary defaults to the caller; a manager may request for their reports (governance.managersRequestForReports), an iam-admin for anyone. The request walks its approval chain; approval grants the access for durationDays. With an Idempotency-Key header, a retry by the same token answers 200 with the request the first call made; the same key with a different body is a 409. Refused with 403 for a token that belongs to no person, 409 sod_violation when the access would break an SoD rule whose owner cannot approve an exception, and 422 when the item is not requestable, the duration exceeds the role\'s maximum, a deny rule applies, or nobody could approve.',
      body: AccessRequestInput,
      idempotencyKey: true,
      responses: {
        200: { description: 'a retry with the same Idempotency-Key: the request the first call made', schema: AccessRequestSchema },
        201: { description: 'requested; the first stage\'s approvers are mailed', schema: AccessRequestSchema, headers: { Location: 'the request\'s URL' } },
      },
      errors: [403, 404, 409, 422],
      async handle({ body }, call) {
        const item = requestedItem(body);
        const { created, request } = await deps.requests.create(
          { item, justification: body.justification, ...(body.beneficiary !== undefined && { beneficiary: body.beneficiary }), ...(body.durationDays !== undefined && { durationDays: body.durationDays }) },
          { ...callerActor(call), ...(call.idempotencyKey !== undefined && { idempotencyKey: call.idempotencyKey }) },
        );
        // The mail the request queued (to its first approvers) goes out now rather than at the next mail job.
        if (created) deps.mailer.sendSoon();
        return { status: created ? 201 : 200, body: request, ...(created && { headers: { Location: `${API_PREFIX}/access-requests/${encodeURIComponent(request.id)}` } }) };
      },
    }),
    defineRoute({
      method: 'GET', path: '/access-requests', operationId: 'listAccessRequests', tag: 'Access requests',
      summary: 'List access requests you made or benefit from (every request, for iam-admin and auditor)',
      query: listQuery,
      responses: { 200: { description: 'one page of requests, newest first', schema: AccessRequestPage } },
      errors: [403, 404],
      async handle({ query }, call) {
        let involving: string | undefined;
        if (query.involving !== undefined) {
          const who = await resolveIdentity(deps.db, query.involving);
          if (!who) throw new GovernanceError('notFound', `identity ${query.involving} does not exist`);
          if (!readsAll(call) && who.id !== call.caller.identityId) throw new GovernanceError('forbidden', 'you may list only the requests you made or benefit from');
          involving = who.id;
        } else if (!readsAll(call)) {
          // A token that is nobody made no request and benefits from none.
          if (call.caller.identityId === null) return { status: 200, body: { items: [] } };
          involving = call.caller.identityId;
        }
        const page = await deps.requests.list(
          { ...(involving !== undefined && { involving }), ...(query.status !== undefined && { status: query.status }) },
          { limit: query.limit, ...(query.after !== undefined && { after: query.after }) },
        );
        return { status: 200, body: { items: page.requests, ...(page.next !== undefined && { next: page.next }) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/access-requests/{id}', operationId: 'getAccessRequest', tag: 'Access requests',
      summary: 'Read one access request: its stages, approvers and outcome',
      description: 'Visible to its requester, its beneficiary, everyone asked to decide it and their deputies, iam-admins and auditors; 404 for anyone else.',
      params: idParams,
      responses: { 200: { description: 'the request', schema: AccessRequestSchema } },
      errors: [404],
      async handle({ params }, call) {
        return { status: 200, body: await deps.requests.read(params.id, callerActor(call)) };
      },
    }),
    defineRoute({
      method: 'POST', path: '/access-requests/{id}/decision', operationId: 'decideAccessRequest', tag: 'Access requests',
      summary: 'Approve or deny the stage of a request that waits for you',
      description: 'Any one approver of the open stage (or their deputy in force) decides it: approve opens the next stage or, after the last, grants the access; deny ends the request. 403 for the beneficiary, the requester and anyone the stage does not name (an iam-admin grants directly with POST /grants); 409 when the stage was already decided or the request is no longer pending.',
      params: idParams,
      body: DecisionInput,
      responses: { 200: { description: 'the request after the decision', schema: AccessRequestSchema } },
      errors: [403, 404, 409],
      async handle({ params, body }, call) {
        const decided = await deps.requests.decide(params.id, body, callerActor(call));
        deps.mailer.sendSoon();
        return { status: 200, body: decided };
      },
    }),
    defineRoute({
      method: 'POST', path: '/access-requests/{id}/cancel', operationId: 'cancelAccessRequest', tag: 'Access requests',
      summary: 'Withdraw a pending request (its requester, beneficiary, or an iam-admin)',
      params: idParams,
      responses: { 200: { description: 'the cancelled request', schema: AccessRequestSchema } },
      errors: [403, 404, 409],
      async handle({ params }, call) {
        const cancelled = await deps.requests.cancel(params.id, callerActor(call));
        deps.mailer.sendSoon();
        return { status: 200, body: cancelled };
      },
    }),
    defineRoute({
      method: 'GET', path: '/approvals', operationId: 'listApprovals', tag: 'Access requests',
      summary: 'The access requests waiting for your decision, including those of people you are deputy for',
      responses: { 200: { description: 'pending requests whose open stage names you, oldest first', schema: ApprovalList } },
      async handle(_input, call) {
        if (call.caller.identityId === null) return { status: 200, body: { items: [] } };
        return { status: 200, body: { items: await deps.requests.awaiting(call.caller.identityId) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/delegations', operationId: 'listDelegations', tag: 'Access requests',
      summary: 'Your delegations: deputies you named and people you stand in for',
      query: delegationQuery,
      responses: { 200: { description: 'delegations given or received, newest first', schema: DelegationList } },
      async handle({ query }, call) {
        if (call.caller.identityId === null) return { status: 200, body: { items: [] } };
        return { status: 200, body: { items: await deps.delegations.list(call.caller.identityId, { includeEnded: query.includeEnded }) } };
      },
    }),
    defineRoute({
      method: 'POST', path: '/delegations', operationId: 'createDelegation', tag: 'Access requests',
      summary: 'Name a deputy who decides your approvals for a period',
      description: 'While the delegation is in force the deputy sees and may decide every approval assigned to you, except requests the deputy made or benefits from. It lasts at most 366 days.',
      body: DelegationRequest,
      responses: { 201: { description: 'the delegation', schema: DelegationSchema } },
      errors: [403, 404, 422],
      async handle({ body }, call) {
        return { status: 201, body: await deps.delegations.create(body, callerActor(call)) };
      },
    }),
    defineRoute({
      method: 'DELETE', path: '/delegations/{id}', operationId: 'revokeDelegation', tag: 'Access requests',
      summary: 'Withdraw a delegation you gave',
      params: idParams,
      responses: { 204: { description: 'withdrawn' } },
      errors: [403, 404, 409],
      async handle({ params }, call) {
        await deps.delegations.revoke(params.id, callerActor(call));
        return { status: 204 };
      },
    }),
  ];
}
