/*
 * Outbox workers: claim due operations, run them through their target's connector after the
 * claim has committed, and record the outcome.
 *
 * - Claim: a short transaction selects due operations (pending and due, or running with an
 *   expired lease: a worker died or stalled) whose account has no earlier unfinished operation,
 *   marks them running with a lease (lease_until, leased_by = this claim's token) and attempts+1,
 *   and commits. On MySQL the SELECT uses FOR UPDATE SKIP LOCKED, so concurrent workers take
 *   disjoint rows without waiting on each other; SQLite has one writer at a time, which is enough.
 *   Because an operation is claimable only when every earlier operation of its account is done
 *   or cancelled, an account's operations run strictly one after another, in id order.
 * - Run: outside any transaction; per-target concurrency and rate limits from config.targets
 *   (per worker), and a target that answered Retry-After is paused for that long.
 * - Record: results are written in batches, and only for rows this claim still holds (status
 *   running, same lease token); a result for a row whose lease another worker has taken over is
 *   dropped, since that worker will record its own. Success → done, and the account's observed
 *   state follows; a retryable failure → pending again after max(Retry-After, backoff with full
 *   jitter); a non-retryable failure, or the last attempt → dead (logged; `iam outbox retry`).
 * - Leases are renewed while operations run, so only a worker that stopped renewing (crashed,
 *   frozen, cut off from the database) loses its operations to another.
 * A crash loses nothing: unrecorded operations run again once their lease expires, with the
 * same idempotency key, and an idempotent connector applies them once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { chunks, placeholders } from '../db/batches.js';
import { forUpdate, type Database, type Transaction } from '../db/database.js';
import type { Dialect } from '../db/data-source.js';
import type { Logger } from '../log/logger.js';
import { RateLimiter, retryDelay } from './backoff.js';
import { ConnectorError, type AccountRef, type Operation, type OperationResult } from './connector.js';
import { OutboxMetrics, type AttemptOutcome } from './metrics.js';
import { operationFromRow } from './operations.js';
import type { OutboxRow } from './outbox.js';
import type { ConnectorRegistry } from './registry.js';
import { updateRows } from './rows.js';

export interface OutboxWorkerOptions {
  /** how often an idle worker looks for due operations */
  pollIntervalMs: number;
  /** operations claimed at most per claim */
  batchSize: number;
  /** how long a claim reserves an operation without renewal */
  leaseMs: number;
  /** attempts before an operation is dead */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** names this worker in leased_by; default host:pid:random */
  instanceId?: string;
  /** the time claims, leases and retries are computed from (tests move it) */
  clock?: () => Date;
  /** the jitter source (tests fix it) */
  random?: () => number;
  log?: Logger;
  /** the Prometheus registry the outbox metrics go on */
  registry?: Registry;
}

/** What a drain (or a worker's life so far) did. */
export interface WorkerStats {
  done: number;
  retried: number;
  dead: number;
  /** results dropped because another worker had taken the operation over */
  stale: number;
}

/** An operation this worker has claimed. */
interface Claimed {
  id: number;
  account: AccountRef;
  operation: Operation;
  key: string;
  /** the attempt this run is (attempts after the claim) */
  attempt: number;
  /** leased_by of this claim */
  lease: string;
}

interface Failure {
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
}

type Outcome = { claimed: Claimed; result: OperationResult; failure?: undefined } | { claimed: Claimed; failure: Failure; result?: undefined };

// A worker stops claiming while this many results wait to be written (a slow database).
const MAX_UNRECORDED_BATCHES = 4;
// Results written per transaction.
const RECORD_BATCH = 500;
// last_error is for people: a message, not a dump.
const MAX_ERROR_LENGTH = 2000;

/**
 * Earlier unfinished operations of the same account hold an operation back. MariaDB, judging by
 * its statistics, may probe this through the status index, which reads every pending row for each
 * candidate; the account index is forced, as SQLite picks it by itself.
 */
const noEarlierUnfinished = (dialect: Dialect) => `NOT EXISTS (SELECT 1 FROM outbox e${dialect === 'mysql' ? ' FORCE INDEX (ix_outbox_account)' : ''}
  WHERE e.account_id = o.account_id AND e.id < o.id AND e.status IN ('pending', 'running', 'dead'))`;
const CLAIM_COLUMNS = 'o.id, o.account_id, o.identity_id, o.target, o.op, o.payload, o.idempotency_key, o.attempts';

export class OutboxWorker {
  readonly instanceId: string;
  readonly stats: WorkerStats = { done: 0, retried: 0, dead: 0, stale: 0 };
  private readonly clock: () => Date;
  private readonly random: () => number;
  private readonly metrics?: OutboxMetrics;
  /** operations being executed now */
  private readonly executing = new Map<number, Claimed>();
  private readonly executingPerTarget = new Map<string, number>();
  private readonly executions = new Set<Promise<void>>();
  private readonly limiters = new Map<string, RateLimiter>();
  /** targets that answered Retry-After: no new work until then (ms since epoch) */
  private readonly pausedUntil = new Map<string, number>();
  private outcomes: Outcome[] = [];
  private recording?: Promise<void>;
  private claims = 0;
  /** when expired leases were last looked for (ms since epoch, by the worker's clock) */
  private expiredCheckedAt = 0;
  /** look for expired leases at the next claim whatever the time (drain's first and last looks) */
  private expiredDue = true;
  /** rotates which target claims first, so one busy target cannot starve the others */
  private firstTarget = 0;
  private loop?: Promise<void>;
  private stopping = false;
  /** set when stop() gives up on what is still in flight: no more attempts to record */
  private closed = false;
  private wakeUp?: () => void;
  private renewTimer?: NodeJS.Timeout;

  constructor(private readonly db: Database, private readonly connectors: ConnectorRegistry, private readonly options: OutboxWorkerOptions) {
    this.instanceId = (options.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`).slice(0, 100);
    this.clock = options.clock ?? (() => new Date());
    this.random = options.random ?? Math.random;
    if (options.registry) this.metrics = OutboxMetrics.on(options.registry, db);
    for (const target of connectors.targets()) {
      this.limiters.set(target, new RateLimiter(connectors.get(target)!.ratePerSecond, () => this.clock().getTime()));
    }
  }

  /** Starts claiming and running operations in the background until stop(). */
  start(): void {
    if (this.loop) return;
    this.stopping = false;
    this.closed = false;
    this.loop = this.run();
    this.startRenewing();
  }

  /**
   * Stops claiming, then waits up to `graceMs` for operations in flight to finish and their
   * results to be written. Whatever is still running after that keeps its lease until it
   * expires, and another worker runs it again.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.loop = undefined;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.settle(), grace]);
    this.closed = true;
    clearTimeout(timer);
    this.stopRenewing();
  }

  /** Tells a started worker that operations may have become due (an enqueue just committed). */
  notify(): void {
    this.wake();
  }

  /**
   * Runs operations until nothing is due: claims, runs and records until a claim finds nothing
   * and nothing is in flight. Waits for rate limits; a target paused by Retry-After counts as
   * not due. For tests and one-off runs, on a worker that is not started.
   */
  async drain(): Promise<WorkerStats> {
    if (this.loop) throw new Error('drain() runs a worker that is not started');
    const before = { ...this.stats };
    this.expiredDue = true;
    this.startRenewing();
    try {
      await this.drainLoop();
    } finally {
      this.stopRenewing();
    }
    return {
      done: this.stats.done - before.done, retried: this.stats.retried - before.retried,
      dead: this.stats.dead - before.dead, stale: this.stats.stale - before.stale,
    };
  }

  private async drainLoop(): Promise<void> {
    for (;;) {
      const { claimed } = await this.cycle();
      if (claimed > 0) continue;
      if (this.executing.size > 0 || this.outcomes.length > 0 || this.recording) {
        await this.sleep(this.options.pollIntervalMs);
        continue;
      }
      const limited = this.rateLimitedWait();
      if (limited > 0) {
        await this.sleep(limited);
        continue;
      }
      // A last look: the final results may have made later operations of their accounts due.
      this.expiredDue = true;
      if ((await this.cycle()).claimed === 0 && this.executing.size === 0) break;
    }
    await this.settle();
  }

  private startRenewing(): void {
    this.renewTimer ??= setInterval(() => void this.renewLeases(), Math.max(20, Math.floor(this.options.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private stopRenewing(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let claimed = 0;
      let wanted = 0;
      try {
        ({ claimed, wanted } = await this.cycle());
      } catch (err) {
        this.options.log?.error({ err }, 'outbox claim failed');
      }
      // A full claim means more may be waiting: claim again at once.
      if (claimed > 0 && claimed >= wanted) continue;
      if (this.stopping) break;
      const limited = this.rateLimitedWait();
      await this.sleep(limited > 0 ? Math.min(limited, this.options.pollIntervalMs) : this.options.pollIntervalMs);
    }
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    wake?.();
  }

  /** Sleeps `ms`, or less when an operation finishes, results are recorded, or notify() is called. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.wakeUp === done) this.wakeUp = undefined;
        resolve();
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.wakeUp = done;
    });
  }

  /** How many operations each target may start now: free concurrency, rate-limit tokens, no pause. */
  private capacity(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.outcomes.length >= this.options.batchSize * MAX_UNRECORDED_BATCHES) return out;
    const now = this.clock().getTime();
    const targets = this.connectors.targets();
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(i + this.firstTarget) % targets.length]!;
      if ((this.pausedUntil.get(target) ?? 0) > now) continue;
      const free = this.connectors.get(target)!.concurrency - (this.executingPerTarget.get(target) ?? 0);
      const allowed = free > 0 ? this.limiters.get(target)!.available(Math.min(free, this.options.batchSize)) : 0;
      if (allowed > 0) out.set(target, allowed);
    }
    this.firstTarget = (this.firstTarget + 1) % Math.max(1, targets.length);
    return out;
  }

  /** Milliseconds until a target held back only by its rate limit may start again; 0 when none is. */
  private rateLimitedWait(): number {
    let wait = 0;
    for (const [target, limiter] of this.limiters) {
      const free = this.connectors.get(target)!.concurrency - (this.executingPerTarget.get(target) ?? 0);
      const ms = free > 0 ? limiter.msUntilNext() : 0;
      if (ms > 0 && (wait === 0 || ms < wait)) wait = ms;
    }
    return wait;
  }

  /** One claim and the start of what it claimed. */
  private async cycle(): Promise<{ claimed: number; wanted: number }> {
    const capacity = this.capacity();
    let wanted = 0;
    for (const n of capacity.values()) wanted += n;
    wanted = Math.min(wanted, this.options.batchSize);
    if (wanted === 0) return { claimed: 0, wanted };
    const lease = `${this.instanceId}#${++this.claims}`;
    const claimed = await this.db.transaction((tx) => this.claim(tx, capacity, lease));
    for (const c of claimed) this.execute(c);
    return { claimed: claimed.length, wanted };
  }

  private async claim(tx: Transaction, capacity: Map<string, number>, lease: string): Promise<Claimed[]> {
    const now = this.clock();
    const stamp = now.toISOString();
    const mysql = tx.dialect === 'mysql';
    const lock = mysql ? ' FOR UPDATE SKIP LOCKED' : '';
    const noEarlier = noEarlierUnfinished(tx.dialect);
    type Row = Pick<OutboxRow, 'id' | 'account_id' | 'identity_id' | 'target' | 'op' | 'payload' | 'idempotency_key' | 'attempts'>;
    const rows: Row[] = [];
    let budget = this.options.batchSize;
    // Expired leases (work a crashed or stalled worker left behind) are rare: looked for every
    // quarter lease (a crash is noticed at most that late after its lease ends), first without
    // locks, so a claim does not lock every running row to find none.
    const lookForExpired = this.expiredDue || now.getTime() - this.expiredCheckedAt >= Math.max(this.options.pollIntervalMs, this.options.leaseMs / 4);
    if (lookForExpired) {
      this.expiredCheckedAt = now.getTime();
      this.expiredDue = false;
    }
    for (const [target, allowed] of capacity) {
      const limit = Math.min(allowed, budget);
      if (limit <= 0) break;
      let expired: Row[] = [];
      if (lookForExpired) {
        const candidates = await tx.query<{ id: number | string }>(
          `SELECT o.id FROM outbox o WHERE o.status = 'running' AND o.lease_until < ? AND o.target = ? AND ${noEarlier} ORDER BY o.id LIMIT ${limit}`, [stamp, target]);
        const ids = candidates.map((c) => Number(c.id)).filter((id) => !this.executing.has(id));
        if (ids.length > 0) {
          // Locked and checked again: another worker may have taken one over meanwhile.
          expired = await tx.query<Row>(
            `SELECT ${CLAIM_COLUMNS} FROM outbox o WHERE o.id IN (${placeholders(ids.length)}) AND o.status = 'running' AND o.lease_until < ? ORDER BY o.id${lock}`,
            [...ids, stamp]);
        }
      }
      // Due order (not_before, then id) follows the (target, status, not_before) index, so the claim
      // reads only the rows it takes; an account's own operations still go strictly by id.
      const due = expired.length < limit ? await tx.query<Row>(
        `SELECT ${CLAIM_COLUMNS} FROM outbox o${mysql ? ' FORCE INDEX (ix_outbox_target_due)' : ''}
          WHERE o.status = 'pending' AND o.not_before <= ? AND o.target = ? AND ${noEarlier}
          ORDER BY o.not_before, o.id LIMIT ${limit - expired.length}${lock}`, [stamp, target]) : [];
      rows.push(...expired, ...due);
      budget -= expired.length + due.length;
      this.limiters.get(target)!.take(expired.length + due.length);
    }
    if (rows.length === 0) return [];
    const ids = rows.map((r) => Number(r.id));
    const leaseUntil = new Date(now.getTime() + this.options.leaseMs).toISOString();
    await tx.execute(
      `UPDATE outbox SET status = 'running', attempts = attempts + 1, lease_until = ?, leased_by = ?, last_modified = ? WHERE id IN (${placeholders(ids.length)})`,
      [leaseUntil, lease, stamp, ...ids]);
    const keys = new Map<string, string | null>();
    for (const chunk of chunks([...new Set(rows.map((r) => r.account_id))])) {
      for (const a of await tx.query<{ id: string; account_key: string | null }>(`SELECT id, account_key FROM accounts WHERE id IN (${placeholders(chunk.length)})`, chunk)) {
        keys.set(a.id, a.account_key);
      }
    }
    return rows.map((r) => ({
      id: Number(r.id),
      account: { accountId: r.account_id, identityId: r.identity_id, target: r.target, accountKey: keys.get(r.account_id) ?? null },
      operation: operationFromRow(r.op, r.payload),
      key: r.idempotency_key,
      attempt: Number(r.attempts) + 1,
      lease,
    }));
  }

  /** Runs one claimed operation in the background; its outcome is queued for recording. */
  private execute(claimed: Claimed): void {
    const target = claimed.account.target;
    this.executing.set(claimed.id, claimed);
    this.executingPerTarget.set(target, (this.executingPerTarget.get(target) ?? 0) + 1);
    const connector = this.connectors.get(target)!.connector;
    const run = (async () => {
      let outcome: Outcome;
      try {
        outcome = { claimed, result: (await connector.execute(claimed.account, claimed.operation, claimed.key)) ?? {} };
      } catch (err) {
        outcome = { claimed, failure: this.failureOf(err, claimed) };
        if (outcome.failure.retryAfterMs !== undefined) {
          // A Retry-After speaks for the whole target (a rate limit), not just this operation.
          const until = this.clock().getTime() + outcome.failure.retryAfterMs;
          this.pausedUntil.set(target, Math.max(until, this.pausedUntil.get(target) ?? 0));
        }
      }
      this.executing.delete(claimed.id);
      this.executingPerTarget.set(target, this.executingPerTarget.get(target)! - 1);
      this.outcomes.push(outcome);
      this.scheduleRecording();
      this.wake();
    })();
    this.executions.add(run);
    void run.finally(() => this.executions.delete(run));
  }

  private failureOf(err: unknown, claimed: Claimed): Failure {
    if (err instanceof ConnectorError) {
      return { message: err.message.slice(0, MAX_ERROR_LENGTH), retryable: err.retryable, retryAfterMs: err.retryAfterMs };
    }
    // Anything else is a connector bug or an unexpected library error; its message may carry
    // what a connector should have kept out (a URL with a token), so only the log sees it.
    this.options.log?.error({ err, operation: claimed.id, target: claimed.account.target, op: claimed.operation.op }, 'connector threw an unexpected error');
    return { message: `unexpected ${(err as Error)?.name ?? 'error'} in the ${claimed.account.target} connector (see the server log)`, retryable: true };
  }

  /** Starts writing queued outcomes, unless a write is under way (it takes the new ones next). */
  private scheduleRecording(): void {
    if (this.recording) return;
    // setImmediate: outcomes that finish in the same turn (a fast connector) go in one transaction.
    this.recording = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.recordAll())
      .finally(() => {
        this.recording = undefined;
        if (this.outcomes.length > 0 && !this.closed) this.scheduleRecording();
      });
  }

  private async recordAll(): Promise<void> {
    while (this.outcomes.length > 0) {
      const batch = this.outcomes.splice(0, RECORD_BATCH);
      try {
        await this.db.transaction((tx) => this.record(tx, batch));
      } catch (err) {
        // The database is unreachable or refused: keep the results and try again; the leases
        // are renewed meanwhile, and if this process dies the operations simply run again.
        this.options.log?.error({ err, operations: batch.length }, 'recording outbox results failed; retrying');
        this.outcomes.unshift(...batch);
        if (this.closed) return;
        await new Promise((r) => setTimeout(r, this.options.pollIntervalMs));
        continue;
      }
      this.wake();
    }
  }

  private async record(tx: Transaction, batch: readonly Outcome[]): Promise<void> {
    const now = this.clock();
    const stamp = now.toISOString();
    const ids = batch.map((o) => o.claimed.id);
    // Accounts first, then outbox rows: the planner locks in the same order.
    const accountIds = [...new Set(batch.filter((o) => !o.failure).map((o) => o.claimed.account.accountId))];
    const accounts = new Map<string, { key: string | null; status: string; memberships: Set<string> }>();
    for (const chunk of chunks(accountIds)) {
      for (const a of await tx.query<{ id: string; account_key: string | null; observed_status: string; observed_memberships: string | null }>(
        `SELECT id, account_key, observed_status, observed_memberships FROM accounts WHERE id IN (${placeholders(chunk.length)})${forUpdate(tx.dialect)}`, chunk)) {
        accounts.set(a.id, { key: a.account_key, status: a.observed_status, memberships: new Set(a.observed_memberships ? (JSON.parse(a.observed_memberships) as string[]) : []) });
      }
    }
    const held = new Map<number, string | null>();
    for (const chunk of chunks(ids)) {
      for (const r of await tx.query<{ id: number | string; status: string; leased_by: string | null }>(
        `SELECT id, status, leased_by FROM outbox WHERE id IN (${placeholders(chunk.length)})${forUpdate(tx.dialect)}`, chunk)) {
        held.set(Number(r.id), r.status === 'running' ? r.leased_by : null);
      }
    }
    const done: number[] = [];
    const changed = new Set<string>();
    const counted: Array<[Outcome, AttemptOutcome]> = [];
    // In id order, so an account's observed state follows its operations in the order they ran.
    for (const outcome of [...batch].sort((a, b) => a.claimed.id - b.claimed.id)) {
      const { claimed } = outcome;
      if (held.get(claimed.id) !== claimed.lease) {
        counted.push([outcome, 'stale']);
        continue;
      }
      if (!outcome.failure) {
        done.push(claimed.id);
        const account = accounts.get(claimed.account.accountId);
        if (account) {
          observe(account, claimed.operation, outcome.result);
          changed.add(claimed.account.accountId);
        }
        counted.push([outcome, 'done']);
        continue;
      }
      const { failure } = outcome;
      if (failure.retryable && claimed.attempt < this.options.maxAttempts) {
        const notBefore = new Date(now.getTime() + retryDelay(claimed.attempt, this.options, failure.retryAfterMs, this.random)).toISOString();
        await tx.execute(
          `UPDATE outbox SET status = 'pending', not_before = ?, lease_until = NULL, last_error = ?, last_modified = ? WHERE id = ?`,
          [notBefore, failure.message, stamp, claimed.id]);
        counted.push([outcome, 'retry']);
      } else {
        await tx.execute(
          `UPDATE outbox SET status = 'dead', lease_until = NULL, last_error = ?, last_modified = ? WHERE id = ?`,
          [failure.message, stamp, claimed.id]);
        counted.push([outcome, 'dead']);
      }
    }
    for (const chunk of chunks(done)) {
      await tx.execute(
        `UPDATE outbox SET status = 'done', lease_until = NULL, last_error = NULL, completed = ?, last_modified = ? WHERE id IN (${placeholders(chunk.length)})`,
        [stamp, stamp, ...chunk]);
    }
    await updateRows(tx, 'accounts', 'id', ['account_key', 'observed_status', 'observed_memberships', 'observed_at', 'last_modified'],
      [...changed].map((id) => {
        const a = accounts.get(id)!;
        return [id, a.key, a.status, JSON.stringify([...a.memberships].sort()), stamp, stamp];
      }));
    // Counted once the transaction commits: a rolled-back batch is recorded again later.
    tx.afterCommit(() => {
      for (const [{ claimed, failure }, what] of counted) {
        this.stats[what === 'retry' ? 'retried' : what] += 1;
        this.metrics?.count(claimed.account.target, claimed.operation.op, what);
        if (what === 'dead') {
          this.options.log?.warn({ operation: claimed.id, target: claimed.account.target, op: claimed.operation.op, attempts: claimed.attempt, error: failure?.message }, 'outbox operation is dead; `iam outbox retry` runs it again');
        }
      }
    });
  }

  /** Extends the leases of operations this worker is running or has not recorded yet. */
  private async renewLeases(): Promise<void> {
    const leases = new Set([...this.executing.values(), ...this.outcomes.map((o) => o.claimed)].map((c) => c.lease));
    if (leases.size === 0) return;
    const until = new Date(this.clock().getTime() + this.options.leaseMs).toISOString();
    try {
      for (const chunk of chunks([...leases])) {
        await this.db.execute(`UPDATE outbox SET lease_until = ? WHERE status = 'running' AND leased_by IN (${placeholders(chunk.length)})`, [until, ...chunk]);
      }
    } catch (err) {
      this.options.log?.warn({ err }, 'renewing outbox leases failed');
    }
  }

  /** Waits for operations in flight and the writing of their results. */
  private async settle(): Promise<void> {
    while (!this.closed && (this.executions.size > 0 || this.recording || this.outcomes.length > 0)) {
      await Promise.all([...this.executions]);
      if (this.recording) await this.recording;
      else if (this.outcomes.length > 0) this.scheduleRecording();
    }
  }
}

/** Moves an account's observed state on by one successful operation. */
function observe(account: { key: string | null; status: string; memberships: Set<string> }, operation: Operation, result: OperationResult): void {
  switch (operation.op) {
    case 'create':
      account.status = operation.enabled ? 'enabled' : 'disabled';
      account.memberships = new Set(operation.memberships);
      break;
    case 'enable':
      account.status = 'enabled';
      break;
    case 'disable':
      account.status = 'disabled';
      break;
    case 'delete':
      account.status = 'deleted';
      account.memberships.clear();
      break;
    case 'add-membership':
      account.memberships.add(operation.entitlement);
      break;
    case 'remove-membership':
      account.memberships.delete(operation.entitlement);
      break;
    case 'update':
      break;
  }
  if (result.accountKey !== undefined) account.key = result.accountKey;
}
