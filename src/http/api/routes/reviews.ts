/*
 * Access reviews: campaign definitions (config ones read-only), campaigns (start, read, close,
 * report) and review items (a reviewer's own list and their decisions). Who may decide an item
 * is the service's call (its reviewer, or a named person of its stage); the API policy only says
 * which scopes reach these routes.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { campaignDefinition, campaignName } from '../../../governance/definitions.js';
import { GovernanceError } from '../../../governance/errors.js';
import { MAX_DECISIONS } from '../../../governance/reviews/decide.js';
import { CAMPAIGN_STATUSES } from '../../../governance/reviews/types.js';
import { resolveIdentity } from '../../../policy/identity-ref.js';
import type { ApiDeps } from '../deps.js';
import { API_PREFIX, callerActor, defineRoute, type ApiRoute } from '../route.js';
import { listOf, pathText, queryFlag, requestSchema, responseSchema } from '../schemas.js';

const DefinitionInput = requestSchema('ReviewDefinitionInput', campaignDefinition);

const anyObject = (what: string) => z.record(z.string(), z.unknown()).describe(what);

const DefinitionSchema = responseSchema('ReviewDefinition', z.strictObject({
  name: z.string(),
  source: z.enum(['config', 'api']).describe('config: from the config file, read-only here; api: made through this API'),
  definition: anyObject('the definition, every default written out (see ReviewDefinitionInput)'),
  createdBy: z.string().nullable(),
  created: z.string().nullable(),
  updated: z.string().nullable(),
}));

const DefinitionList = listOf('ReviewDefinitionList', DefinitionSchema);

const stageCounts = z.strictObject({ stage: z.int(), items: z.int(), kept: z.int(), revoked: z.int(), undecided: z.int() });

const CampaignSchema = responseSchema('ReviewCampaign', z.strictObject({
  id: z.string(),
  name: z.string().describe('the definition it was started from'),
  status: z.enum(CAMPAIGN_STATUSES),
  stage: z.int().describe('the stage under way, from 0'),
  stages: z.int(),
  description: z.string().nullable(),
  definition: anyObject('the definition as it was when the campaign started'),
  startedBy: z.string(),
  started: z.string(),
  stageEnds: z.string().describe('when the current stage ends'),
  closed: z.string().nullable(),
  counts: z.strictObject({
    items: z.int().describe('item rows over all stages'), decided: z.int(), kept: z.int(), revoked: z.int(), undecided: z.int(), stages: z.array(stageCounts),
  }).optional(),
  summary: anyObject('what the campaign came to: pairs reviewed, kept, revoked, open, dropped, revocations carried out').optional(),
  error: z.string().optional().describe('why a failed start failed'),
}));

const CampaignPage = responseSchema('ReviewCampaignPage', z.strictObject({
  items: z.array(CampaignSchema),
  next: z.string().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const ItemSchema = responseSchema('ReviewItem', z.strictObject({
  id: z.int(),
  campaignId: z.string(),
  stage: z.int(),
  identity: z.strictObject({ id: z.string(), userName: z.string(), displayName: z.string() }),
  item: z.string(),
  grantId: z.string(),
  reviewer: z.strictObject({ id: z.string().describe('empty when nobody could be assigned'), userName: z.string() }),
  reviewerReason: z.string().describe('manager, role-owner, target-owner, people, self-manager, starter, unassigned, reassigned or escalated'),
  decision: z.enum(['keep', 'revoke']).nullable(),
  comment: z.string().nullable(),
  decidedBy: z.string().nullable(),
  decidedAt: z.string().nullable(),
  context: z.strictObject({
    source: z.string(), sourceRef: z.string(), grantedBy: z.string(), since: z.string(), validUntil: z.string().nullable(),
    path: z.array(z.string()).describe('the roles the granted item gives, itself first'),
    sodConflicts: z.array(z.strictObject({ rule: z.string(), items: z.array(z.string()) })).describe('SoD rules the identity breaks that this item takes part in'),
  }),
}));

const ItemPage = responseSchema('ReviewItemPage', z.strictObject({
  items: z.array(ItemSchema),
  next: z.int().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const DecisionInput = requestSchema('ReviewDecisionInput', z.strictObject({
  items: z.array(z.int().min(1)).min(1).max(MAX_DECISIONS).describe('review item ids, all decided together or none'),
  decision: z.enum(['keep', 'revoke']),
  comment: z.string().max(4000).optional(),
}));

const DecisionResult = responseSchema('ReviewDecisionResult', z.strictObject({
  decided: z.int(),
  revoked: z.int().describe('grants removed now (definitions that apply revocations immediately)'),
  failed: z.int().describe('revocations that failed now; they are tried again when the campaign closes'),
}));

const StartInput = requestSchema('ReviewCampaignStart', z.strictObject({ definition: campaignName.describe('the definition to start') }));

const nameParams = z.strictObject({ name: pathText });
const idParams = z.strictObject({ id: pathText });
const MEDIA_TYPES = { csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8' } as const;

/** The review routes. */
export function reviewRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/review-definitions', operationId: 'listReviewDefinitions', tag: 'Reviews',
      summary: 'List campaign definitions: the config file\'s (read-only) and those made through the API',
      responses: { 200: { description: 'every definition', schema: DefinitionList } },
      async handle() {
        return { status: 200, body: { items: await deps.reviews.definitions.list() } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/review-definitions/{name}', operationId: 'getReviewDefinition', tag: 'Reviews',
      summary: 'Read one campaign definition',
      params: nameParams,
      responses: { 200: { description: 'the definition', schema: DefinitionSchema } },
      errors: [404],
      async handle({ params }) {
        return { status: 200, body: await deps.reviews.definitions.get(params.name) };
      },
    }),
    defineRoute({
      method: 'PUT', path: '/review-definitions/{name}', operationId: 'putReviewDefinition', tag: 'Reviews',
      summary: 'Create or replace a campaign definition',
      description: 'Refused with 409 for a name the config file defines. Campaigns already started keep the definition they started with.',
      params: nameParams,
      body: DefinitionInput,
      responses: {
        200: { description: 'replaced', schema: DefinitionSchema },
        201: { description: 'created', schema: DefinitionSchema, headers: { Location: 'the definition\'s URL' } },
      },
      errors: [409, 422],
      async handle({ params, body }, call) {
        const { created, definition } = await deps.reviews.putDefinition(params.name, body, call.change);
        return {
          status: created ? 201 : 200, body: definition,
          ...(created && { headers: { Location: `${API_PREFIX}/review-definitions/${encodeURIComponent(params.name)}` } }),
        };
      },
    }),
    defineRoute({
      method: 'DELETE', path: '/review-definitions/{name}', operationId: 'deleteReviewDefinition', tag: 'Reviews',
      summary: 'Delete a campaign definition made through the API',
      params: nameParams,
      responses: { 204: { description: 'deleted' } },
      errors: [404, 409],
      async handle({ params }, call) {
        await deps.reviews.deleteDefinition(params.name, call.change);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'GET', path: '/review-campaigns', operationId: 'listReviewCampaigns', tag: 'Reviews',
      summary: 'List review campaigns, newest first',
      query: z.strictObject({
        definition: z.string().min(1).max(64).optional().describe('only campaigns of this definition'),
        status: z.enum(CAMPAIGN_STATUSES).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        after: z.string().min(1).max(128).optional().describe('the `next` of the previous page'),
      }),
      responses: { 200: { description: 'one page of campaigns (without counts)', schema: CampaignPage } },
      async handle({ query }) {
        const page = await deps.reviews.list(
          { ...(query.definition !== undefined && { name: query.definition }), ...(query.status !== undefined && { status: query.status }) },
          { limit: query.limit, ...(query.after !== undefined && { after: query.after }) });
        return { status: 200, body: { items: page.campaigns, ...(page.next !== undefined && { next: page.next }) } };
      },
    }),
    defineRoute({
      method: 'POST', path: '/review-campaigns', operationId: 'startReviewCampaign', tag: 'Reviews',
      summary: 'Start a campaign of a definition',
      description: 'Creates one item per active identity and grant in force in the definition\'s scope, assigned to the first stage\'s reviewers, and mails each reviewer once. Refused with 409 while a campaign of the same definition is under way.',
      body: StartInput,
      responses: { 201: { description: 'started', schema: CampaignSchema, headers: { Location: 'the campaign\'s URL' } } },
      errors: [404, 409, 422],
      async handle({ body }, call) {
        const campaign = await deps.reviews.start(body.definition, callerActor(call));
        // One mail per reviewer was queued with the campaign; send it now rather than at the next mail job.
        deps.mailer.sendSoon();
        return { status: 201, body: campaign, headers: { Location: `${API_PREFIX}/review-campaigns/${campaign.id}` } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/review-campaigns/{id}', operationId: 'getReviewCampaign', tag: 'Reviews',
      summary: 'Read one campaign, with its items counted by stage and decision',
      params: idParams,
      responses: { 200: { description: 'the campaign', schema: CampaignSchema } },
      errors: [404],
      async handle({ params }) {
        return { status: 200, body: await deps.reviews.get(params.id) };
      },
    }),
    defineRoute({
      method: 'POST', path: '/review-campaigns/{id}/close', operationId: 'closeReviewCampaign', tag: 'Reviews',
      summary: 'Close a campaign now',
      description: 'Undecided items get the definition\'s outcome (keep, revoke or left open); every revoke decision not yet carried out is. Refused with 409 unless the campaign is running.',
      params: idParams,
      responses: { 200: { description: 'the closed campaign with its summary', schema: CampaignSchema } },
      errors: [404, 409],
      async handle({ params }, call) {
        return { status: 200, body: await deps.reviews.close(params.id, callerActor(call)) };
      },
    }),
    defineRoute({
      method: 'GET', path: '/review-campaigns/{id}/report', operationId: 'getReviewCampaignReport', tag: 'Reviews',
      summary: 'A campaign\'s report',
      description: 'JSON: the campaign with its counts, completion per reviewer, revocations carried out and pending, and every decision. CSV: one row per item with its decision and, for a revoke, whether it was carried out.',
      params: idParams,
      query: z.strictObject({ format: z.enum(['json', 'csv']).default('json') }),
      responses: { 200: { description: 'the report', mediaTypes: [MEDIA_TYPES.json, MEDIA_TYPES.csv] } },
      errors: [404],
      async handle({ params, query }) {
        const lines = await deps.reviews.report(params.id, query.format);
        return {
          status: 200, type: MEDIA_TYPES[query.format], body: Readable.from(lines),
          headers: { 'Content-Disposition': `attachment; filename="review-${params.id}.${query.format}"` },
        };
      },
    }),
    defineRoute({
      method: 'GET', path: '/review-items', operationId: 'listReviewItems', tag: 'Reviews',
      summary: 'The calling person\'s review items',
      description: 'Items assigned to the token\'s person (and, in a stage of named people that names them, that stage\'s items). `reviewer` lists another person\'s items; only iam-admin and auditor tokens may give it. A token that belongs to no person must give it (422 otherwise).',
      query: z.strictObject({
        campaign: z.string().min(1).max(64).optional(),
        undecided: queryFlag.optional().describe('true: only items the reviewer can still decide'),
        reviewer: z.string().min(1).max(255).optional().describe('identity id or userName (iam-admin and auditor only)'),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page'),
      }),
      responses: { 200: { description: 'one page of items, by id', schema: ItemPage } },
      errors: [404, 422],
      async handle({ query }, call) {
        let reviewerId = call.caller.identityId;
        if (query.reviewer !== undefined) {
          const identity = await resolveIdentity(deps.db, query.reviewer);
          if (!identity) throw new GovernanceError('notFound', `identity ${query.reviewer} does not exist`);
          const overseer = call.caller.scopes.includes('iam-admin') || call.caller.scopes.includes('auditor');
          if (identity.id !== call.caller.identityId && !overseer) throw new GovernanceError('forbidden', 'only iam-admin and auditor tokens may list another person\'s review items');
          reviewerId = identity.id;
        }
        if (reviewerId === null) throw new GovernanceError('invalid', 'this token belongs to no person: give reviewer=<userName> to list someone\'s items');
        const page = await deps.reviews.itemsFor(reviewerId,
          { ...(query.campaign !== undefined && { campaignId: query.campaign }), ...(query.undecided !== undefined && { undecidedOnly: query.undecided }) },
          { limit: query.limit, ...(query.after !== undefined && { after: query.after }) });
        return { status: 200, body: { items: page.items, ...(page.next !== undefined && { next: page.next }) } };
      },
    }),
    defineRoute({
      method: 'POST', path: '/review-items/decisions', operationId: 'decideReviewItems', tag: 'Reviews',
      summary: 'Keep or revoke review items, one or many at once',
      description: 'All the items are decided or none: 404 for an unknown item, 403 for one the caller is not the reviewer of, 409 for one already decided or whose stage or campaign is over, 422 for revoking birthright access. A revoke removes the grant now (or at close, if the definition says so); deprovisioning follows through the outbox.',
      body: DecisionInput,
      responses: { 200: { description: 'decided', schema: DecisionResult } },
      errors: [404, 409, 422],
      async handle({ body }, call) {
        const result = await deps.reviews.decide(body.items, { decision: body.decision, ...(body.comment !== undefined && { comment: body.comment }) }, callerActor(call));
        return { status: 200, body: result };
      },
    }),
  ];
}
