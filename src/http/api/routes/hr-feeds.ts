/*
 * HR feeds over the REST API: an HR system uploads a feed file (CSV or a JSON array, as the body
 * itself, not wrapped in JSON) and gets its report back; feeds held by the circuit breaker are
 * approved or rejected here or with `iam hr approve|reject`. Every import goes through
 * FeedService, as the CLI's and the drop folder's do.
 */
import { z } from 'zod';
import type { FeedReport, FeedStatus } from '../../../lifecycle/feed-service.js';
import { PLAN_CLASSES, type PlanClass } from '../../../lifecycle/classify.js';
import type { ApiDeps } from '../deps.js';
import { API_PREFIX, defineRoute, type ApiRoute, type ApiCall } from '../route.js';
import { pathText, queryFlag, responseSchema } from '../schemas.js';

/** Every status a feed can have, as FeedService writes them. */
const FEED_STATUSES = ['applying', 'applied', 'held', 'rejected', 'dry-run', 'failed'] as const satisfies readonly FeedStatus[];

/** The media types an upload may have, and the feed format each means. */
const UPLOAD_FORMATS: Record<string, 'csv' | 'json'> = { 'text/csv': 'csv', 'application/json': 'json' };

const count = z.int().min(0);

/** A feed's report, as every HR feed route answers with it. */
export const FeedReportSchema = responseSchema('HrFeedReport', z.strictObject({
  feedId: z.string(),
  status: z.enum(FEED_STATUSES).describe('applied; held (by the circuit breaker, for approval); rejected (a held feed dropped); dry-run; failed (applying stopped part-way: importing the feed again applies the rest); applying (in progress)'),
  kind: z.enum(['snapshot', 'delta']),
  format: z.enum(['csv', 'json']),
  source: z.enum(['cli', 'api', 'drop-folder']),
  fileName: z.string().nullable(),
  sha256: z.string().describe('hash of the feed as uploaded'),
  today: z.string().describe('the date (YYYY-MM-DD) effective dates were compared with'),
  counts: z.strictObject(Object.fromEntries([...PLAN_CLASSES, 'rejected'].map((c) => [c, count])) as Record<PlanClass | 'rejected', typeof count>)
    .describe('rows per class: joiner, pending (future hire), mover, update, leaver, scheduled-leaver, rehire, unchanged, skipped, rejected'),
  rejected: z.array(z.strictObject({ row: z.int(), employeeId: z.string().nullable(), reason: z.string() })).describe('rows not applied, with why'),
  warnings: z.array(z.string()),
  breaker: z.strictObject({
    held: z.boolean(),
    threshold: count.describe('the most leavers a feed may make and still be applied'),
    leavers: count,
    reason: z.string(),
  }).describe('the circuit breaker\'s decision'),
  applied: z.strictObject({
    grantsAdded: count, grantsRemoved: count, grantsRevoked: count, grantsFlagged: count, operationsEnqueued: count,
  }).nullable().describe('what applying changed; null until applied'),
  error: z.string().nullable().describe('why applying failed, when it did'),
  durationMs: count,
  created: z.string(),
  createdBy: z.string(),
  decidedBy: z.string().nullable().describe('who approved or rejected a held feed'),
  decidedAt: z.string().nullable(),
}));

// The schema is the report as FeedService writes it: a field added there must be added here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const reportSchemaMatches: Same<z.output<typeof FeedReportSchema>, FeedReport> = true;
void reportSchemaMatches;

const FeedPage = responseSchema('HrFeedPage', z.strictObject({
  items: z.array(FeedReportSchema),
  next: z.string().optional().describe('pass as `after` for the next page; absent on the last page'),
}));

const uploadQuery = z.strictObject({
  kind: z.enum(['snapshot', 'delta']).optional().describe('a full snapshot or a delta; default: the server\'s hr.feedKind'),
  dryRun: queryFlag.default(false).describe('classify and report only; nothing is applied'),
  fileName: z.string().min(1).max(512).optional().describe('the feed\'s file name, kept in its report'),
});

const listQuery = z.strictObject({
  status: z.enum(FEED_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('feeds per page'),
  after: z.string().min(1).max(128).optional().describe('the `next` of the previous page'),
});

const idParams = z.strictObject({ id: pathText });

const feedUrl = (id: string) => `${API_PREFIX}/hr/feeds/${encodeURIComponent(id)}`;

/** The HR feed routes. */
export function hrFeedRoutes(deps: Pick<ApiDeps, 'config' | 'feeds'>): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST', path: '/hr/feeds', operationId: 'uploadHrFeed', tag: 'HR feeds',
      summary: 'Import an HR feed',
      description: 'The body is the feed file itself: CSV (RFC 4180, UTF-8) as text/csv, or a JSON array of objects as application/json, read with the server\'s column mapping. Rows with problems are rejected one by one and listed in the report; the rest is applied. A feed that would make more leavers than the circuit breaker allows applies nothing and is held (202) until approved or rejected. A feed that cannot be read at all (no header, a mapped column missing, not UTF-8, not a JSON array) is refused with 422 and nothing is recorded.',
      query: uploadQuery,
      rawBody: {
        description: 'The feed file.',
        maxBytes: deps.config.hr.maxUploadBytes,
        mediaTypes: {
          'text/csv': { type: 'string', description: 'CSV with a header line' },
          'application/json': { type: 'array', items: { type: 'object' }, description: 'one object per person, keyed by column name' },
        },
      },
      responses: {
        201: { description: 'imported (applied, or reported only for a dry run)', schema: FeedReportSchema, headers: { Location: 'the feed\'s URL' } },
        202: { description: 'held by the circuit breaker: nothing applied until it is approved', schema: FeedReportSchema, headers: { Location: 'the feed\'s URL' } },
      },
      errors: [422],
      async handle({ query }, call: ApiCall) {
        const upload = call.rawBody!;
        const report = await deps.feeds.import({
          content: upload.content,
          format: UPLOAD_FORMATS[upload.mediaType]!,
          ...(query.fileName !== undefined && { fileName: query.fileName }),
          ...(query.kind !== undefined && { kind: query.kind }),
          dryRun: query.dryRun,
          source: 'api',
          actor: call.change.actor,
          ...(call.change.requestId !== undefined && { requestId: call.change.requestId }),
        });
        return { status: report.status === 'held' ? 202 : 201, body: report, headers: { Location: feedUrl(report.feedId) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/hr/feeds', operationId: 'listHrFeeds', tag: 'HR feeds',
      summary: 'List imported HR feeds, newest first',
      query: listQuery,
      responses: { 200: { description: 'one page of feed reports', schema: FeedPage } },
      async handle({ query }) {
        const page = await deps.feeds.list({ limit: query.limit, ...(query.status !== undefined && { status: query.status }), ...(query.after !== undefined && { after: query.after }) });
        return { status: 200, body: { items: page.feeds, ...(page.next !== undefined && { next: page.next }) } };
      },
    }),
    defineRoute({
      method: 'GET', path: '/hr/feeds/{id}', operationId: 'getHrFeed', tag: 'HR feeds',
      summary: 'Read one feed\'s report',
      params: idParams,
      responses: { 200: { description: 'the feed report', schema: FeedReportSchema } },
      errors: [404],
      handle: async ({ params }) => ({ status: 200, body: await deps.feeds.get(params.id) }),
    }),
    defineRoute({
      method: 'POST', path: '/hr/feeds/{id}/approve', operationId: 'approveHrFeed', tag: 'HR feeds',
      summary: 'Apply a feed held by the circuit breaker',
      description: 'The held rows are classified again against the identities as they are now, then applied. Audited. 409 when the feed is not held.',
      params: idParams,
      responses: { 200: { description: 'the feed, applied', schema: FeedReportSchema } },
      errors: [404, 409],
      handle: async ({ params }, call) => ({ status: 200, body: await deps.feeds.approve(params.id, call.change.actor, call.change.requestId) }),
    }),
    defineRoute({
      method: 'POST', path: '/hr/feeds/{id}/reject', operationId: 'rejectHrFeed', tag: 'HR feeds',
      summary: 'Drop a feed held by the circuit breaker',
      description: 'Nothing in the feed is applied. Audited. 409 when the feed is not held.',
      params: idParams,
      responses: { 200: { description: 'the feed, rejected', schema: FeedReportSchema } },
      errors: [404, 409],
      handle: async ({ params }, call) => ({ status: 200, body: await deps.feeds.reject(params.id, call.change.actor, call.change.requestId) }),
    }),
  ];
}
