/*
 * Reconciliation over the REST API: start a run on a connected target (it goes on in the
 * background; its URL shows how it went), list runs, and read a run's findings as JSON pages or
 * as one CSV export. The same Reconciler the CLI and the nightly job use.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { FINDING_KINDS, findingsCsv, getRun, listRuns, readFindings, type ReconciliationRun } from '../../../provisioning/reconciliation/findings.js';
import type { Reconciler } from '../../../provisioning/reconciliation/reconciler.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { API_PREFIX, defineRoute, type ApiRoute } from '../route.js';
import { pathText, requestSchema, responseSchema } from '../schemas.js';

const count = z.int().min(0);

const RunSchema = responseSchema('ReconciliationRun', z.strictObject({
  id: z.string(),
  target: z.string(),
  mode: z.enum(['report', 'fix']),
  status: z.enum(['running', 'done', 'failed']),
  actor: z.string(),
  summary: z.strictObject({
    accountsRead: count, matched: count.describe('accounts matched to a planned account, by key or correlation'),
    inFlight: count.describe('planned accounts with operations still pending, running or dead: not compared'),
    orphans: count, missing: count, drift: count,
    enqueued: count.describe('operations queued to repair (fix mode)'),
    changedMeanwhile: count.describe('findings left alone in fix mode because their account changed during the run'),
    ignored: count.describe('accounts left out by the target\'s reconcile.ignore list'),
    durationMs: count,
  }).nullable().describe('null while running'),
  error: z.string().nullable().describe('why the run failed'),
  started: z.string(),
  finished: z.string().nullable(),
}));

// The schema is the run as the store returns it: a field added there must be added here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const runSchemaMatches: Same<z.output<typeof RunSchema>, ReconciliationRun> = true;
void runSchemaMatches;

const FindingSchema = z.strictObject({
  seq: z.int(),
  kind: z.enum(FINDING_KINDS),
  reason: z.string().describe('orphan: no-identity | no-grant | duplicate; missing: absent; drift: status, memberships, attributes, key (comma-separated)'),
  accountKey: z.string().nullable(),
  accountId: z.string().nullable(),
  identityId: z.string().nullable(),
  userName: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).describe('what was expected and what was found'),
  enqueued: count,
});

const RunPage = responseSchema('ReconciliationRunPage', z.strictObject({
  items: z.array(RunSchema),
  next: z.string().optional().describe('pass as `before` for the next page; absent on the last page'),
}));
const FindingPage = responseSchema('ReconciliationFindingPage', z.strictObject({
  items: z.array(FindingSchema),
  next: z.int().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const StartBody = requestSchema('ReconciliationStart', z.strictObject({
  target: z.string().min(1).max(64),
  fix: z.boolean().default(false).describe('queue the outbox operations that repair what is found'),
}));

const idParams = z.strictObject({ id: pathText });
const runUrl = (id: string) => `${API_PREFIX}/reconciliations/${encodeURIComponent(id)}`;

async function existingRun(deps: Pick<ApiDeps, 'db'>, id: string): Promise<ReconciliationRun> {
  const run = await getRun(deps.db, id);
  if (!run) throw new ApiError(404, 'not_found', `no reconciliation run ${id}`);
  return run;
}

export function reconciliationRoutes(deps: Pick<ApiDeps, 'db' | 'log'> & { reconciler: Reconciler }): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST', path: '/reconciliations', operationId: 'startReconciliation', tag: 'Reconciliation',
      summary: 'Reconcile a connected target',
      description: 'Starts reading every account on the target and comparing it with the planned accounts. Answers at once with the run (status running); its URL shows the summary when done. With `fix`, the operations that repair what was found are queued in the outbox (orphans are disabled, never deleted). 409 while the target is being reconciled.',
      body: StartBody,
      responses: { 202: { description: 'started', schema: RunSchema, headers: { Location: 'the run\'s URL' } } },
      errors: [404, 409],
      async handle({ body }, call) {
        const { id, finished } = await deps.reconciler.start(body.target, {
          fix: body.fix, actor: call.change.actor, ...(call.change.requestId !== undefined && { requestId: call.change.requestId }),
        });
        finished.catch((err: unknown) => deps.log.error({ err, run: id }, 'recording the outcome of a reconciliation run failed'));
        return { status: 202, body: await existingRun(deps, id), headers: { Location: runUrl(id) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/reconciliations', operationId: 'listReconciliations', tag: 'Reconciliation',
      summary: 'List reconciliation runs, newest first',
      query: z.strictObject({
        target: z.string().min(1).max(64).optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
        before: z.string().min(1).max(64).optional().describe('the `next` of the previous page'),
      }),
      responses: { 200: { description: 'one page of runs', schema: RunPage } },
      async handle({ query }) {
        const runs = await listRuns(deps.db, { limit: query.limit + 1, ...(query.target !== undefined && { target: query.target }), ...(query.before !== undefined && { before: query.before }) });
        const items = runs.slice(0, query.limit);
        return { status: 200, body: { items, ...(runs.length > query.limit && { next: items[items.length - 1]!.id }) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/reconciliations/{id}', operationId: 'getReconciliation', tag: 'Reconciliation',
      summary: 'Read one run and its summary',
      params: idParams,
      responses: { 200: { description: 'the run', schema: RunSchema } },
      errors: [404],
      handle: async ({ params }) => ({ status: 200, body: await existingRun(deps, params.id) }),
    }),
    defineRoute({
      method: 'GET', path: '/reconciliations/{id}/findings', operationId: 'listReconciliationFindings', tag: 'Reconciliation',
      summary: 'A run\'s findings, as JSON pages or one CSV export',
      description: '`format=csv` streams every finding (of `kind`, when given) as CSV; otherwise a page of JSON.',
      params: idParams,
      query: z.strictObject({
        kind: z.enum(FINDING_KINDS).optional(),
        format: z.enum(['json', 'csv']).default('json'),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        after: z.coerce.number().int().min(0).optional().describe('the `next` of the previous page'),
      }),
      responses: { 200: { description: 'the findings', schema: FindingPage, mediaTypes: ['application/json', 'text/csv; charset=utf-8'] } },
      errors: [404],
      async handle({ params, query }) {
        const run = await existingRun(deps, params.id);
        if (query.format === 'csv') {
          return {
            status: 200, type: 'text/csv; charset=utf-8',
            body: Readable.from(findingsCsv(deps.db, run.id, query.kind)),
            headers: { 'Content-Disposition': `attachment; filename="reconciliation-${run.target}-${run.id}.csv"` },
          };
        }
        const items = await readFindings(deps.db, run.id, { limit: query.limit + 1, ...(query.kind !== undefined && { kind: query.kind }), ...(query.after !== undefined && { after: query.after }) });
        const page = items.slice(0, query.limit);
        return { status: 200, body: { items: page, ...(items.length > query.limit && { next: page[page.length - 1]!.seq }) } };
      },
    }),
  ];
}
