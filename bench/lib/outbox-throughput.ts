/*
 * Outbox throughput with a connector that does nothing: how many operations per second the
 * worker claims, runs and records on a database, against a baseline in the same run — the same
 * UPDATEs (claim, done, the account's observed state) in a plain loop of batches, without the
 * worker's machinery (due-order claim with its per-account check, leases, concurrency, the
 * connector call). The gap between the two is the worker's own cost.
 */
import { NoopConnector } from '../../connectors/noop/index.js';
import { chunks, insertRows, placeholders } from '../../src/db/batches.js';
import type { Database } from '../../src/db/database.js';
import { timeOrderedId } from '../../src/db/ids.js';
import { operationPayload } from '../../src/provisioning/operations.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { updateRows } from '../../src/provisioning/rows.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';

export interface OutboxThroughputOptions {
  /** operations to run (one create per account, as a day-0 feed makes them) */
  operations: number;
  /** operations per claim; default 50, as config/default.json */
  batchSize?: number;
  /** the target's concurrency; default the batch size */
  concurrency?: number;
}

export interface OutboxThroughput {
  opsPerSecond: number;
  baselineOpsPerSecond: number;
}

/** Seeds `operations` creates on a target of its own, runs them with the worker, then the baseline; returns both rates. */
export async function measureOutbox(db: Database, options: OutboxThroughputOptions): Promise<OutboxThroughput> {
  const batchSize = options.batchSize ?? 50;
  const target = `bench-noop-${timeOrderedId().slice(0, 13).replace('-', '')}`;
  const now = new Date().toISOString();
  const accounts = Array.from({ length: options.operations }, (_, i) => ({ id: timeOrderedId(), identityId: timeOrderedId(), userName: `bench${i}@example.com` }));
  await db.transaction(async (tx) => {
    await insertRows(tx, 'accounts',
      ['id', 'identity_id', 'target', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'created', 'last_modified'],
      accounts.map((a) => [a.id, a.identityId, target, 'enabled', '["staff"]', JSON.stringify({ userName: a.userName, extra: {} }), 'absent', now, now]));
    await insertRows(tx, 'outbox',
      ['account_id', 'identity_id', 'target', 'op', 'payload', 'idempotency_key', 'status', 'attempts', 'not_before', 'cause', 'created', 'last_modified'],
      accounts.map((a) => [a.id, a.identityId, target, 'create',
        operationPayload({ op: 'create', attributes: { userName: a.userName, extra: {} }, enabled: true, memberships: ['staff'] }), timeOrderedId(), 'pending', 0, now, 'bench', now, now]));
  });

  const worker = new OutboxWorker(db, new ConnectorRegistry([{ connector: new NoopConnector(target), concurrency: options.concurrency ?? batchSize, ratePerSecond: 0 }]), {
    pollIntervalMs: 10, batchSize, leaseMs: 60_000, maxAttempts: 8, backoffBaseMs: 1000, backoffMaxMs: 60_000,
  });
  let started = performance.now();
  const stats = await worker.drain();
  const workerSeconds = (performance.now() - started) / 1000;
  if (stats.done !== options.operations) throw new Error(`the worker finished ${stats.done} of ${options.operations} operations`);

  // The baseline: the same rows back to pending, then the same three UPDATEs per batch, in a loop.
  await db.execute(`UPDATE outbox SET status = 'pending', attempts = 0, lease_until = NULL, leased_by = NULL, completed = NULL WHERE target = ?`, [target]);
  started = performance.now();
  let done = 0;
  for (;;) {
    const stamp = new Date().toISOString();
    const ids = await db.transaction(async (tx) => {
      const rows = await tx.query<{ id: number | string; account_id: string }>(
        `SELECT id, account_id FROM outbox WHERE status = 'pending' AND target = ? ORDER BY id LIMIT ${batchSize}`, [target]);
      if (rows.length === 0) return rows;
      await tx.execute(`UPDATE outbox SET status = 'running', attempts = attempts + 1, lease_until = ?, leased_by = ?, last_modified = ? WHERE id IN (${placeholders(rows.length)})`,
        [stamp, 'baseline', stamp, ...rows.map((r) => r.id)]);
      return rows;
    });
    if (ids.length === 0) break;
    await db.transaction(async (tx) => {
      for (const chunk of chunks(ids)) {
        await tx.execute(`UPDATE outbox SET status = 'done', lease_until = NULL, completed = ?, last_modified = ? WHERE id IN (${placeholders(chunk.length)})`,
          [stamp, stamp, ...chunk.map((r) => r.id)]);
      }
      await updateRows(tx, 'accounts', 'id', ['observed_status', 'observed_memberships', 'observed_at', 'last_modified'],
        ids.map((r) => [r.account_id, 'enabled', '["staff"]', stamp, stamp]));
    });
    done += ids.length;
  }
  const baselineSeconds = (performance.now() - started) / 1000;
  return { opsPerSecond: options.operations / workerSeconds, baselineOpsPerSecond: done / baselineSeconds };
}
