/*
 * The run coordinator scheduled jobs share across server instances: the first instance to insert
 * the row (job, slot) into job_runs runs that slot, every other instance skips it. A plain insert
 * that ignores duplicates is atomic on both databases, so no lock is held while a job runs and a
 * crashed instance leaves nothing to clean up. (A lock such as GET_LOCK is not enough: an instance
 * whose clock or timer is a little late takes the lock after the first one released it and runs
 * the same slot a second time.)
 *
 * A claimed slot is never claimed again, even when the instance that claimed it died mid-run: the
 * next slot runs, so every job is written to catch up with whatever earlier slots left undone.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { RunCoordinator } from 'node-cron';
import { insertIgnore, type Database } from '../db/database.js';

/**
 * A job's name: lowercase words joined by dashes (dots and underscores allowed, as review campaign
 * names have them); it is half of the coordination key, so never a colon.
 */
export const JOB_NAME = /^[a-z][a-z0-9._-]{0,63}$/;

/** The longest outcome stored: well under MySQL's 65,535-byte TEXT even in 4-byte characters. */
const MAX_OUTCOME_CHARS = 16_000;

/** What a finished run left behind, as job_runs stores it. */
export interface JobRunRow {
  job: string;
  slot: string;
  instance: string;
  claimed: string;
  finished: string | null;
  outcome: string | null;
}

/** An id for this process, unique across instances and restarts: host, pid and a random part. */
export function instanceId(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`.slice(0, 128);
}

/** Claims and closes (job, slot) rows in job_runs for one instance. */
export class JobRunCoordinator implements RunCoordinator {
  constructor(
    private readonly db: Database,
    readonly instance: string = instanceId(),
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Claims the slot for this instance; true only for the one instance whose insert went in. */
  async claim(job: string, slot: string): Promise<boolean> {
    const changed = await this.db.execute(
      `${insertIgnore(this.db.dialect)} INTO job_runs (job, slot, instance, claimed) VALUES (?, ?, ?, ?)`,
      [job, slot, this.instance, this.clock().toISOString()],
    );
    return changed === 1;
  }

  /** Records how a claimed run ended; only this instance's own claim is written. */
  async finish(job: string, slot: string, outcome: string): Promise<void> {
    const text = outcome.length > MAX_OUTCOME_CHARS ? `${outcome.slice(0, MAX_OUTCOME_CHARS - 1)}…` : outcome;
    await this.db.execute(
      'UPDATE job_runs SET finished = ?, outcome = ? WHERE job = ? AND slot = ? AND instance = ?',
      [this.clock().toISOString(), text, job, slot, this.instance],
    );
  }

  /** Deletes a job's rows claimed before `before` (ISO time): the table would otherwise grow by every slot forever. */
  async prune(job: string, before: string): Promise<number> {
    return this.db.execute('DELETE FROM job_runs WHERE job = ? AND claimed < ?', [job, before]);
  }

  /** The most recent runs of a job, newest slot first. */
  async recent(job: string, limit = 20): Promise<JobRunRow[]> {
    return this.db.query<JobRunRow>(
      `SELECT job, slot, instance, claimed, finished, outcome FROM job_runs WHERE job = ? ORDER BY claimed DESC, slot DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
      [job],
    );
  }

  /**
   * node-cron's hook for a `distributed: true` task: the key is `<task name>:<slot ISO time>`.
   * The ttl is not needed: a slot's row is never given to another instance.
   */
  async shouldRun(key: string, _ttlMs: number): Promise<boolean> {
    const { job, slot } = parseKey(key);
    return this.claim(job, slot);
  }
}

/** Splits node-cron's coordination key; job names contain no colon, slot times do. */
export function parseKey(key: string): { job: string; slot: string } {
  const at = key.indexOf(':');
  const job = key.slice(0, at);
  if (at <= 0 || !JOB_NAME.test(job)) throw new Error(`not a job coordination key: ${key}`);
  return { job, slot: key.slice(at + 1) };
}
