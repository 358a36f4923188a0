/*
 * The audit trail for auditors: a streamed export (CSV or JSON lines, optionally bounded in time)
 * and a verification of the hash chain, both the same code the CLI runs.
 */
import { Readable } from 'node:stream';
import { z } from 'zod';
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

/** The audit export and verification routes. */
export function auditRoutes(deps: ApiDeps): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/audit/events', operationId: 'exportAuditEvents', tag: 'Audit',
      summary: 'Export the audit trail',
      description: 'Streams every event in id order, as JSON lines (default) or CSV, each with its hash and its predecessor\'s. `since` is inclusive, `until` exclusive.',
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
