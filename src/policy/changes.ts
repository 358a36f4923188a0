/*
 * How a policy change reaches every decision. Writers call these inside the transaction that
 * makes the change; the change becomes visible two ways:
 *
 * - to this process at once: listeners run right after commit, before the writer acknowledges
 *   the change, so the next decision here already reflects it;
 * - to other server instances on the same database through rows they poll: policy_state.version
 *   for catalogue and rule changes, policy_state.grants_epoch for bulk grant changes, and an
 *   access_changes row per identity whose grants (or userName) changed.
 */
import { insertRows } from '../db/batches.js';
import { forShare, forUpdate, type Sql, type Transaction } from '../db/database.js';

/** What changed, as listeners are told after commit. */
export type PolicyChange =
  | { kind: 'catalog'; version: number }
  | { kind: 'allGrants'; epoch: number }
  | { kind: 'identities'; identityIds: string[] };

/** The polled row. */
export interface PolicyState {
  version: number;
  grantsEpoch: number;
  changed: string;
}

export class PolicyChangeLog {
  private readonly listeners = new Set<(change: PolicyChange) => void>();
  /** identities already recorded in access_changes, by open transaction */
  private readonly recordedIn = new WeakMap<Transaction, Set<string>>();

  /** Calls `listener` after each committed change made through this log; returns the unsubscribe. */
  onChange(listener: (change: PolicyChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records a catalogue or rule change; returns the new policy version (which the audit event should carry). */
  async catalogChanged(tx: Transaction): Promise<number> {
    const state = await readPolicyState(tx, 'update');
    const version = state.version + 1;
    await tx.execute('UPDATE policy_state SET version = ?, changed = ? WHERE id = 1', [version, new Date().toISOString()]);
    tx.afterCommit(() => this.emit({ kind: 'catalog', version }));
    return version;
  }

  /** Records that many identities' grants changed at once: every instance reloads all grants. */
  async allGrantsChanged(tx: Transaction): Promise<number> {
    const state = await readPolicyState(tx, 'update');
    const epoch = state.grantsEpoch + 1;
    await tx.execute('UPDATE policy_state SET grants_epoch = ?, changed = ? WHERE id = 1', [epoch, new Date().toISOString()]);
    tx.afterCommit(() => this.emit({ kind: 'allGrants', epoch }));
    return epoch;
  }

  /** Records that these identities' grants, or their names, changed. */
  async identitiesChanged(tx: Transaction, identityIds: Iterable<string>): Promise<void> {
    // An identity recorded once in a transaction is reloaded after it commits whatever else
    // the transaction changes about it: a feed's joiner (identity, then grants) needs one row.
    let recorded = this.recordedIn.get(tx);
    if (!recorded) this.recordedIn.set(tx, (recorded = new Set()));
    const ids = [...new Set(identityIds)].filter((id) => !recorded.has(id));
    if (ids.length === 0) return;
    for (const id of ids) recorded.add(id);
    const now = Date.now();
    await insertRows(tx, 'access_changes', ['identity_id', 'created_ms'], ids.map((id) => [id, now]));
    tx.afterCommit(() => this.emit({ kind: 'identities', identityIds: ids }));
  }

  private emit(change: PolicyChange): void {
    for (const listener of this.listeners) listener(change);
  }
}

/**
 * Reads the polled row; inside a transaction `lock` locks it until the end (share: catalogue
 * readers such as grants; update: catalogue writers, which so take turns).
 */
export async function readPolicyState(sql: Sql, lock?: 'share' | 'update'): Promise<PolicyState> {
  const suffix = lock === 'update' ? forUpdate(sql.dialect) : lock === 'share' ? forShare(sql.dialect) : '';
  const [row] = await sql.query<{ version: number | string; grants_epoch: number | string; changed: string }>(
    `SELECT version, grants_epoch, changed FROM policy_state WHERE id = 1${suffix}`);
  if (!row) throw new Error('policy_state row is missing: run the migrations');
  return { version: Number(row.version), grantsEpoch: Number(row.grants_epoch), changed: row.changed };
}
