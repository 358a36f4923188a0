/*
 * The audit trail as pages of JSON for auditors: filtered by time, actor, action and target, in id
 * order, paged by a cursor on the id (keyset paging: each page is one indexed range read, however
 * deep into the trail it is).
 */
import type { Sql } from '../db/database.js';
import { AUDIT_COLUMNS, rangeConditions, type AuditEventRow } from './export.js';

/** One audit event as the API shows it. */
export interface AuditEventView {
  id: number;
  occurredAt: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Which events to list; every field narrows the listing. */
export interface AuditEventFilter {
  /** at or after this ISO time */
  since?: string;
  /** before this ISO time */
  until?: string;
  /** exactly this actor */
  actor?: string;
  /** exactly this action, or every action starting with the text before a trailing `*` (`grant.*`) */
  action?: string;
  targetType?: string;
  targetId?: string;
}

/** The largest page. */
export const MAX_EVENTS_PAGE = 1000;

/** The opaque cursor of the page after the event `id`: base64url of the id. */
export function eventCursor(id: number): string {
  return Buffer.from(String(id)).toString('base64url');
}

/** The id a cursor stands for, or undefined when it is not one of ours. */
export function cursorId(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  return Number(text);
}

/**
 * The text just after every string starting with `prefix`, in binary order: both databases
 * compare these columns by code unit (SQLite's BINARY, MariaDB's utf8mb4_nopad_bin), so
 * `prefix <= action < upper` is a prefix match that an index on action serves.
 */
function prefixUpperBound(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function viewOf(row: AuditEventRow): AuditEventView {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(row.details) as Record<string, unknown>;
  } catch {
    // Not JSON (written by hand into the table): shown as found, so the auditor sees it.
    details = { unparsed: row.details };
  }
  return {
    id: Number(row.id), occurredAt: row.occurred_at, actor: row.actor, action: row.action, targetType: row.target_type,
    targetId: row.target_id, requestId: row.request_id, details, prevHash: row.prev_hash, hash: row.hash,
  };
}

/** One page of events matching the filter, after the event `after` (an id); `next` is the cursor of the following page. */
export async function listAuditEvents(sql: Sql, filter: AuditEventFilter, page: { limit: number; after?: number }): Promise<{ events: AuditEventView[]; next?: string }> {
  const range = rangeConditions(filter);
  const where = ['id > ?', ...range.conditions];
  const params: unknown[] = [page.after ?? 0, ...range.params];
  if (filter.actor !== undefined) { where.push('actor = ?'); params.push(filter.actor); }
  if (filter.action !== undefined) {
    if (filter.action.endsWith('*')) {
      const prefix = filter.action.slice(0, -1);
      if (prefix !== '') {
        where.push('action >= ? AND action < ?');
        params.push(prefix, prefixUpperBound(prefix));
      }
    } else {
      where.push('action = ?');
      params.push(filter.action);
    }
  }
  if (filter.targetType !== undefined) { where.push('target_type = ?'); params.push(filter.targetType); }
  if (filter.targetId !== undefined) { where.push('target_id = ?'); params.push(filter.targetId); }
  const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), MAX_EVENTS_PAGE);
  const rows = await sql.query<AuditEventRow>(
    `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ${limit + 1}`, params);
  const events = rows.slice(0, limit).map(viewOf);
  return rows.length > limit ? { events, next: eventCursor(events[events.length - 1]!.id) } : { events };
}
