/*
 * Outbox figures on the server's Prometheus registry: operations run by outcome, and the pending
 * and dead backlog per target. The backlog is counted in the database at scrape time, so every
 * instance reports the shared queue, not just what it happened to run.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Sql } from '../db/database.js';
import { countOperations } from './outbox.js';
import { oncePerRegistry } from '../http/metrics.js';

/** How an attempt ended: done; retry (will run again); dead; stale (the lease was lost, the result dropped). */
export type AttemptOutcome = 'done' | 'retry' | 'dead' | 'stale';

// Scrapes ask both gauges; one count serves both.
const COUNT_TTL_MS = 1000;

export class OutboxMetrics {
  readonly operations: Counter<'target' | 'op' | 'outcome'>;
  private counted?: { at: number; counts: ReturnType<typeof countOperations> };

  /** The outbox metrics of a registry, registered on first use (several workers may share one registry). */
  static readonly on = oncePerRegistry((registry: Registry, sql: Sql) => new OutboxMetrics(registry, sql));

  private constructor(registry: Registry, private readonly sql: Sql) {
    this.operations = new Counter({
      name: 'iam_outbox_operations_total',
      help: 'Provisioning operation attempts by target, operation and outcome (done, retry, dead, stale)',
      labelNames: ['target', 'op', 'outcome'] as const,
      registers: [registry],
    });
    const metrics = this;
    // prom-client calls collect with the gauge as `this`.
    const backlog = (status: 'pending' | 'dead') => async function collect(this: Gauge<'target'>) {
      try {
        const counts = await metrics.counts();
        this.reset();
        for (const c of counts) if (c.status === status) this.set({ target: c.target }, c.count);
      } catch {
        // A scrape during a database outage keeps the last figures rather than failing /metrics.
      }
    };
    new Gauge({ name: 'iam_outbox_pending', help: 'Provisioning operations waiting to run, by target', labelNames: ['target'] as const, registers: [registry], collect: backlog('pending') });
    new Gauge({ name: 'iam_outbox_dead', help: 'Provisioning operations that gave up and wait for `iam outbox retry`, by target', labelNames: ['target'] as const, registers: [registry], collect: backlog('dead') });
  }

  private counts(): ReturnType<typeof countOperations> {
    const now = Date.now();
    if (!this.counted || now - this.counted.at > COUNT_TTL_MS) {
      const counts = countOperations(this.sql, ['pending', 'dead']);
      counts.catch(() => (this.counted = undefined));
      this.counted = { at: now, counts };
    }
    return this.counted.counts;
  }

  /** Counts one finished attempt. */
  count(target: string, op: string, outcome: AttemptOutcome): void {
    this.operations.inc({ target, op, outcome });
  }
}
