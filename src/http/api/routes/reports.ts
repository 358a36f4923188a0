/*
 * Reports for auditors, streamed as CSV: the access report (who holds what, why, since when,
 * granted by whom) and the separation-of-duties violations. The same code writes them into a
 * signed export (`iam audit report`, the scheduled audit report).
 */
import { Readable } from 'node:stream';
import { accessReportCsv, sodViolationsCsv } from '../../../audit/reports.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';

const CSV = 'text/csv; charset=utf-8';
const FORMULA_NOTE = 'Cells a spreadsheet would run as a formula (starting with = + - @) are prefixed with a single quote.';

/** The reports routes. */
export function reportRoutes(deps: Pick<ApiDeps, 'db' | 'sod' | 'clock'>): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/reports/access', operationId: 'accessReport', tag: 'Reports',
      summary: 'Who holds what, why, since when, granted by whom (CSV)',
      description: `One row per identity, item held and grant that gives it: a role grant gives a row for the role and for each role and entitlement it reaches (\`via\` is the path). Grants in force now, in userName order; \`since\` is when the grant took effect (validFrom, else when it was made). Columns: userName, displayName, department, item, via, source, sourceRef, grantedBy, since, validUntil. ${FORMULA_NOTE}`,
      responses: { 200: { description: 'the report', mediaTypes: [CSV] } },
      async handle() {
        return {
          status: 200, type: CSV, body: Readable.from(accessReportCsv(deps.db, { now: deps.clock() })),
          headers: { 'Content-Disposition': 'attachment; filename="access-report.csv"' },
        };
      },
    }),
    defineRoute({
      method: 'GET', path: '/reports/sod-violations', operationId: 'sodViolationsReport', tag: 'Reports',
      summary: 'The separation-of-duties violations that exist now (CSV)',
      description: `The violations GET /sod/violations lists, one row each. Columns: rule, severity, userName, identityId, left, right, excepted, exceptionId. ${FORMULA_NOTE}`,
      responses: { 200: { description: 'the report', mediaTypes: [CSV] } },
      async handle() {
        return {
          status: 200, type: CSV, body: Readable.from(sodViolationsCsv(deps.db, deps.sod)),
          headers: { 'Content-Disposition': 'attachment; filename="sod-violations.csv"' },
        };
      },
    }),
  ];
}
