/*
 * The audit trail for auditors: pages of events filtered by time, actor, action and target; a
 * streamed export (CSV or JSON lines, optionally bounded in time); and a verification of the hash
 * chain. The export and the verification are the same code the CLI runs.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
import { cursorId, listAuditEvents, MAX_EVENTS_PAGE } from '../../../audit/events.js';
import { exportAuditEvents } from '../../../audit/export.js';
import { verifyAuditChain } from '../../../audit/verify.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { isoDateTime, responseSchema } from '../schemas.js';

const MEDIA_TYPES = { csv: 'text/csv; charset=utf-8', jsonl: 'application/x-ndjson; charset=utf-8' } as const;

// Stored times are ISO strings in UTC and compared as text, so bounds are written the same way.
const bound = isoDateTime.transform((value) => new Date(value).toISOString());

const ChainReportSchema = responseSchema('AuditChainReport', z.strictObject({
  ok: z.boolean(),
  eventsChecked: z.int(),
  brokenAt: z.strictObject({ id: z.int(), reason: z.string() }).optional().describe('the first event that does not fit the chain, and why'),
}));

const AuditEventSchema = z.strictObject({
  id: z.int(),
  occurredAt: z.string(),
  actor: z.string().describe('who acted: token:<name>, cli:<user>, link:<userName> or system:<job>'),
  action: z.string().describe('a dotted verb, e.g. grant.create'),
  targetType: z.string(),
  targetId: z.string().nullable(),
  requestId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).describe('what changed (secrets masked)'),
  prevHash: z.string().describe('the hash of the event before it in the chain'),
  hash: z.string().describe('sha256 over prevHash and this event\'s fields'),
});

const AuditEventPage = responseSchema('AuditEventPage', z.strictObject({
  events: z.array(AuditEventSchema),
  next: z.string().optional().describe('pass as `cursor` for the next page; absent on the last page'),
}));

const cursor = z.string().max(64).transform((value, ctx) => {
  const id = cursorId(value);
  if (id === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be the `next` of a previous page' });
    return z.NEVER;
  }
  return id;
});

/** The audit listing, export and verification routes. */
export function auditRoutes(deps: Pick<ApiDeps, 'db'>): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/audit/events', operationId: 'listAuditEvents', tag: 'Audit',
      summary: 'List audit events, filtered and paged',
      description: 'Events in id order, each with its hash and its predecessor\'s. `since` is inclusive, `until` exclusive; `action` matches exactly, or by prefix with a trailing `*` (`grant.*`). Page with `cursor` (the previous page\'s `next`). The whole trail as one file: GET /audit/export.',
      query: z.strictObject({
        since: bound.optional().describe('events at or after this instant'),
        until: bound.optional().describe('events before this instant'),
        actor: z.string().min(1).max(255).optional().describe('exactly this actor'),
        action: z.string().regex(/^[A-Za-z0-9._:-]*\*?$/, 'an action, or an action prefix ending in *').min(1).max(65).optional(),
        targetType: z.string().min(1).max(64).optional(),
        targetId: z.string().min(1).max(255).optional(),
        limit: z.coerce.number().int().min(1).max(MAX_EVENTS_PAGE).default(100),
        cursor: cursor.optional().describe('the `next` of the previous page'),
      }),
      responses: { 200: { description: 'one page of events', schema: AuditEventPage } },
      async handle({ query }) {
        const { limit, cursor: after, ...filter } = query;
        const page = await listAuditEvents(deps.db, filter, { limit, ...(after !== undefined && { after }) });
        return { status: 200, body: page };
      },
    }),
    defineRoute({
      method: 'GET', path: '/audit/export', operationId: 'exportAuditEvents', tag: 'Audit',
      summary: 'Export the audit trail',
      description: 'Streams every event in id order, as JSON lines (default) or CSV, each with its hash and its predecessor\'s. `since` is inclusive, `until` exclusive. CSV cells that a spreadsheet would run as a formula (starting with = + - @) are prefixed with a single quote.',
      query: z.strictObject({
        format: z.enum(['jsonl', 'csv']).default('jsonl'),
        since: bound.optional().describe('events at or after this instant'),
        until: bound.optional().describe('events before this instant'),
      }),
      responses: { 200: { description: 'the events', mediaTypes: [MEDIA_TYPES.jsonl, MEDIA_TYPES.csv] } },
      async handle({ query }) {
        const range = { ...(query.since !== undefined && { since: query.since }), ...(query.until !== undefined && { until: query.until }) };
        return {
          status: 200,
          type: MEDIA_TYPES[query.format],
          body: Readable.from(exportAuditEvents(deps.db, query.format, range)),
          headers: { 'Content-Disposition': `attachment; filename="audit-events.${query.format}"` },
        };
      },
    }),
    defineRoute({
      method: 'GET', path: '/audit/verify', operationId: 'verifyAuditChain', tag: 'Audit',
      summary: 'Verify the audit trail\'s hash chain',
      description: 'Recomputes every event\'s hash in order; reports the first event that was edited, deleted, inserted or reordered.',
      responses: { 200: { description: 'the verification report (ok: false when the chain is broken)', schema: ChainReportSchema } },
      async handle() {
        return { status: 200, body: await verifyAuditChain(deps.db) };
      },
    }),
  ];
}
