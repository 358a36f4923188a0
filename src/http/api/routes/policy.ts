/*
 * The policy as a whole: its export in the policies/ file format, and simulation of a proposed
 * change (who would gain or lose what, which SoD violations would appear) without applying it.
 */
import { z } from 'zod';
import { catalogDocument, GRANT_SOURCES } from '../../../policy/model.js';
import { policyProposal, simulate } from '../../../policy/simulate.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { requestSchema, responseSchema } from '../schemas.js';
import { SodViolationSchema } from './sod.js';

// The same shape serves as the export's response; named apart from the model's schema so the
// document states its output form (every default written out).
const PolicyDocument = responseSchema('PolicyDocument', catalogDocument.clone());

const Proposal = requestSchema('PolicyProposal', policyProposal);

const PredictedGrant = z.strictObject({
  grantId: z.string().optional().describe('the existing grant (removals only)'),
  item: z.string(),
  source: z.enum(GRANT_SOURCES),
  sourceRef: z.string(),
});

const SimulationResultSchema = responseSchema('SimulationResult', z.strictObject({
  policyVersion: z.int().describe('the policy version the simulation started from'),
  rulesChanged: z.array(z.string()).describe('birthright rules whose change recomputes grants'),
  identities: z.array(z.strictObject({
    identityId: z.string(),
    userName: z.string(),
    gains: z.array(z.string()).describe('effective items it would gain'),
    losses: z.array(z.string()).describe('effective items it would lose'),
    grantsAdded: z.array(PredictedGrant),
    grantsRemoved: z.array(PredictedGrant),
  })),
  totals: z.strictObject({
    identitiesEvaluated: z.int(),
    identitiesChanged: z.int(),
    gains: z.int(),
    losses: z.int(),
    grantsAdded: z.int(),
    grantsRemoved: z.int(),
    sodViolationsAdded: z.int(),
    sodViolationsRemoved: z.int(),
  }),
  sodViolationsAdded: z.array(SodViolationSchema),
  sodViolationsRemoved: z.array(SodViolationSchema),
}));

/** The export and simulate routes. */
export function policyRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/policy', operationId: 'exportPolicy', tag: 'Policy',
      summary: 'The live policy in the policies/ file format',
      description: 'What `iam policy export` writes; `iam policy import` takes it back.',
      responses: { 200: { description: 'the whole catalogue', schema: PolicyDocument } },
      async handle() {
        return { status: 200, body: (await deps.policyStore.catalog()).document };
      },
    }),
    defineRoute({
      method: 'POST', path: '/policy/simulate', operationId: 'simulatePolicy', tag: 'Policy',
      summary: 'What a proposed policy change would do, without applying it',
      description: 'Send `{changes: [{op: "put"|"delete", kind, value|name}, ...]}` or `{document: <whole policy>}`. The answer lists each identity that would gain or lose effective items and grants, and the SoD violations that would appear or go; applying the same change does exactly that.',
      body: Proposal,
      responses: { 200: { description: 'the predicted effect', schema: SimulationResultSchema } },
      errors: [409, 422],
      async handle({ body }) {
        return { status: 200, body: await simulate(deps.db, await deps.policyStore.catalog(), body, deps.sod) };
      },
    }),
  ];
}
