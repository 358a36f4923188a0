import type { Sql } from '../db/database.js';

export type ExportFormat = 'csv' | 'jsonl';

/** Time bounds for an export; ISO-8601 strings, inclusive since, exclusive until. */
export interface ExportRange {
  since?: string;
  until?: string;
}

const COLUMNS = ['id', 'occurred_at', 'actor', 'action', 'target_type', 'target_id', 'request_id', 'details', 'prev_hash', 'hash'] as const;
type Row = Record<(typeof COLUMNS)[number], unknown>;
const BATCH = 1000;

/** One CSV cell (RFC 4180): quoted when it holds a quote, a comma or a line break. */
export function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Yields the export line by line, reading the table in keyset-paged batches so memory stays
 * constant however long the trail is.
 */
export async function* exportAuditEvents(sql: Sql, format: ExportFormat, range: ExportRange = {}): AsyncGenerator<string> {
  if (format === 'csv') yield COLUMNS.join(',') + '\n';
  let lastId = 0;
  for (;;) {
    const where = ['id > ?'];
    const params: unknown[] = [lastId];
    if (range.since) { where.push('occurred_at >= ?'); params.push(range.since); }
    if (range.until) { where.push('occurred_at < ?'); params.push(range.until); }
    const rows = await sql.query<Row>(
      `SELECT ${COLUMNS.join(', ')} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${BATCH}`,
      params,
    );
    for (const row of rows) {
      const id = Number(row.id);
      if (format === 'csv') {
        yield COLUMNS.map((c) => csvCell(c === 'id' ? id : row[c])).join(',') + '\n';
      } else {
        yield JSON.stringify({ ...row, id, details: JSON.parse(String(row.details)) }) + '\n';
      }
      lastId = id;
    }
    if (rows.length < BATCH) return;
  }
}
