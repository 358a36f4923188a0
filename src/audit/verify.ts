import type { Sql } from '../db/database.js';
import { AUDIT_COLUMNS, type AuditEventRow } from './export.js';
import { eventHash, GENESIS_HASH } from './hash.js';

/** What `verifyAuditChain` found. */
export interface ChainReport {
  ok: boolean;
  eventsChecked: number;
  /** The first event that does not fit the chain, and why. */
  brokenAt?: { id: number; reason: string };
}

const BATCH = 2000;

/** Walks the whole chain in id order, recomputing every hash; stops at the first break. */
export async function verifyAuditChain(sql: Sql, onProgress?: (checked: number) => void): Promise<ChainReport> {
  let prev = GENESIS_HASH;
  let lastId = 0;
  let checked = 0;
  for (;;) {
    const rows = await sql.query<AuditEventRow>(
      `SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_events WHERE id > ? ORDER BY id LIMIT ${BATCH}`,
      [lastId],
    );
    for (const row of rows) {
      const id = Number(row.id);
      if (row.prev_hash !== prev) {
        return { ok: false, eventsChecked: checked, brokenAt: { id, reason: 'does not link to the event before it (an event was deleted, inserted or reordered)' } };
      }
      const expected = eventHash(prev, {
        occurredAt: row.occurred_at, actor: row.actor, action: row.action, targetType: row.target_type,
        targetId: row.target_id, requestId: row.request_id, details: row.details,
      });
      if (expected !== row.hash) {
        return { ok: false, eventsChecked: checked, brokenAt: { id, reason: 'its content does not match its hash (the event was edited)' } };
      }
      prev = row.hash;
      lastId = id;
      checked++;
    }
    onProgress?.(checked);
    if (rows.length < BATCH) break;
  }
  const [head] = await sql.query<{ last_hash: string }>('SELECT last_hash FROM audit_head WHERE id = 1');
  if (!head || head.last_hash !== prev) {
    return { ok: false, eventsChecked: checked, brokenAt: { id: lastId + 1, reason: 'events after this point were deleted (the chain head does not match the last event)' } };
  }
  return { ok: true, eventsChecked: checked };
}
