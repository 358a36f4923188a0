import { forUpdate, type Transaction } from '../db/database.js';
import { eventHash } from './hash.js';
import { maskSecrets } from './mask.js';

/** One thing that happened, as a caller describes it. */
export interface AuditEntry {
  /** Who acted: `token:<name>`, `cli:<user>` or `system:<job>`. */
  actor: string;
  /** Dotted verb, e.g. `identity.create`, `token.revoke`. */
  action: string;
  targetType: string;
  targetId?: string | null;
  requestId?: string | null;
  /** A before/after summary; secrets are masked before it is stored. */
  details?: Record<string, unknown>;
}

/**
 * Appends audit events inside the caller's transaction, so an event exists exactly when the
 * change it describes does. The chain head row is locked first, which orders concurrent writers:
 * each event links to the one committed before it.
 */
export async function recordAudit(tx: Transaction, entries: AuditEntry | AuditEntry[]): Promise<void> {
  const list = Array.isArray(entries) ? entries : [entries];
  if (list.length === 0) return;
  const [head] = await tx.query<{ last_hash: string }>(`SELECT last_hash FROM audit_head WHERE id = 1${forUpdate(tx.dialect)}`);
  if (!head) throw new Error('audit_head row is missing: the audit chain cannot be extended');
  let prev = head.last_hash;
  const occurredAt = new Date().toISOString();
  const rows: unknown[] = [];
  for (const entry of list) {
    const fields = {
      occurredAt,
      actor: entry.actor,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      requestId: entry.requestId ?? null,
      details: JSON.stringify(maskSecrets(entry.details ?? {})),
    };
    const hash = eventHash(prev, fields);
    rows.push(fields.occurredAt, fields.actor, fields.action, fields.targetType, fields.targetId, fields.requestId, fields.details, prev, hash);
    prev = hash;
  }
  const placeholders = list.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ');
  await tx.execute(
    `INSERT INTO audit_events (occurred_at, actor, action, target_type, target_id, request_id, details, prev_hash, hash) VALUES ${placeholders}`,
    rows,
  );
  await tx.execute('UPDATE audit_head SET last_hash = ? WHERE id = 1', [prev]);
}
