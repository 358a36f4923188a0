/*
 * Targets for lifecycle tests: an in-memory connector per target and an outbox worker on the
 * test's clock, drained on demand, so a test can say what the targets hold after the operations
 * a change enqueued have run. Operations not due on the test's clock (deletions after the
 * retention period) stay pending, as they would on that day.
 */
import { MemoryConnector } from '../../connectors/memory/index.js';
import type { Database } from '../../src/db/database.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker, type WorkerStats } from '../../src/provisioning/worker.js';

export class MemoryTargets {
  readonly connectors: Map<string, MemoryConnector>;
  private readonly worker: OutboxWorker;

  constructor(db: Database, targets: readonly string[], clock: () => Date) {
    this.connectors = new Map(targets.map((t) => [t, new MemoryConnector(t)]));
    const registry = new ConnectorRegistry([...this.connectors.values()].map((connector) => ({ connector, concurrency: 8, ratePerSecond: 0 })));
    this.worker = new OutboxWorker(db, registry, {
      pollIntervalMs: 5, batchSize: 200, leaseMs: 60_000, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100, instanceId: 'test-drain', clock,
    });
  }

  /** Runs every due operation; throws when one failed, since the memory targets never fail unless told to. */
  async drain(): Promise<WorkerStats> {
    const stats = await this.worker.drain();
    if (stats.dead > 0 || stats.retried > 0) throw new Error(`draining the outbox: ${stats.dead} dead and ${stats.retried} retried operations`);
    return stats;
  }

  /**
   * What each identity holds on the targets: identity id → target → memberships, sorted, with
   * "(disabled)" first for a disabled account.
   */
  holdings(): Map<string, Map<string, string[]>> {
    const out = new Map<string, Map<string, string[]>>();
    for (const [target, connector] of this.connectors) {
      for (const account of connector.accounts.values()) {
        let byTarget = out.get(account.identityId);
        if (!byTarget) out.set(account.identityId, (byTarget = new Map()));
        byTarget.set(target, [...(account.enabled ? [] : ['(disabled)']), ...[...account.memberships].sort()]);
      }
    }
    return out;
  }
}
