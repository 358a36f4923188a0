/*
 * Scheduled jobs: each a name, a cron expression and an async function, run by node-cron 4 as a
 * `distributed: true` task whose run coordinator claims (job, slot) in job_runs (see
 * run-coordinator.ts), so any number of server instances run each slot once. The instance that
 * ran a slot writes when it finished and how (`outcome`, JSON) into the same row.
 *
 * Runs of one job never overlap inside one process (a run due while the previous one is still
 * going waits for it). Across instances a slow run may still be going when another instance
 * claims the next slot, so every job must tolerate a run of itself elsewhere: the drop folder
 * claims each file by renaming it, the effective-dates job locks the rows it changes.
 *
 * A run that fails is logged, written to job_runs, audited (`job.fail`, actor `system:<job>`) and
 * counted in /metrics; the next slot runs as usual.
 */
import cron, { type Logger as CronLogger, type ScheduledTask, type TaskContext } from 'node-cron';
import type { Registry } from 'prom-client';
import { recordAudit } from '../audit/recorder.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { JobMetrics } from './job-metrics.js';
import { JOB_NAME, JobRunCoordinator, type JobRunRow } from './run-coordinator.js';
import { DAY_MS } from '../lifecycle/dates.js';

/** What a job's function is told about the run. */
export interface JobContext {
  job: string;
  /** the claimed slot: the scheduled time as ISO text, or `now:<time>` for runNow */
  slot: string;
  /** the scheduled time of the slot, or when runNow was called */
  scheduledAt: Date;
  reason: 'scheduled' | 'now';
  log: Logger;
}

/** A job's work; what it returns (a small summary) is stored as the run's outcome. */
export type JobFunction = (context: JobContext) => Promise<unknown>;

/** A job as registered: its name, when it runs and what it does. */
export interface JobDefinition {
  /** lowercase words joined by dashes, unique in the scheduler: `hr-drop-folder` */
  name: string;
  /** a node-cron expression: five fields, or six with seconds first */
  schedule: string;
  run: JobFunction;
}

/** A job's name and cron schedule. */
export type JobSchedule = Pick<JobDefinition, 'name' | 'schedule'>;

/** How one run ended, as runNow returns it; job_runs.outcome stores it as JSON without job and slot. */
export interface JobRunResult {
  job: string;
  slot: string;
  ok: boolean;
  /** what the job function returned */
  result?: unknown;
  /** the error's message when it failed */
  error?: string;
  durationMs?: number;
}

/** How a scheduler identifies itself, tells time and keeps job_runs short. */
export interface JobSchedulerOptions {
  /** this process's id in job_runs.instance; default host:pid:random */
  instance?: string;
  /** the time written into job_runs (claimed, finished) and given to runNow; default the system clock */
  clock?: () => Date;
  /** the time zone cron expressions are read in; default the process's */
  timezone?: string;
  /** days a job's rows are kept in job_runs; older ones are deleted after each successful run */
  retentionDays?: number;
  /** where iam_job_runs_total and iam_job_last_success_timestamp_seconds are kept; none: not counted */
  registry?: Registry;
  /** told of every failed run after job_runs has it; default: the audit event `job.fail` (auditJobFailure) */
  onFailure?: (failure: JobFailure) => Promise<void>;
}

/** A run that failed, as the failure hook hears it. */
export interface JobFailure {
  job: string;
  slot: string;
  error: string;
}

/** The default failure hook: an audit event `job.fail` by `system:<job>` with the slot and the error. */
export function auditJobFailure(db: Database): (failure: JobFailure) => Promise<void> {
  return (failure) => db.transaction((tx) => recordAudit(tx, {
    actor: `system:${failure.job}`, action: 'job.fail', targetType: 'job', targetId: failure.job,
    details: { slot: failure.slot, error: failure.error },
  }));
}

const DEFAULT_RETENTION_DAYS = 30;

/** node-cron's log lines, written through our logger. */
function cronLogger(log: Logger): CronLogger {
  const write = (level: 'info' | 'warn' | 'error' | 'debug') => (message: string | Error, err?: Error) => {
    if (message instanceof Error) log[level]({ err: message }, 'scheduler');
    else log[level](err ? { err } : {}, `scheduler: ${message}`);
  };
  return { info: write('info'), warn: write('warn'), error: write('error'), debug: write('debug') };
}

/** Runs named jobs on their schedules, each slot once across every instance sharing the database. */
export class JobScheduler {
  readonly coordinator: JobRunCoordinator;
  private readonly jobs = new Map<string, JobDefinition>();
  private readonly tasks: ScheduledTask[] = [];
  /** per job, the end of its latest run in this process: the next run starts after it */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** every run or claim under way, scheduled or asked for: stop() waits for them */
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly clock: () => Date;
  private readonly retentionMs: number;
  private readonly metrics?: JobMetrics;
  private readonly onFailure: (failure: JobFailure) => Promise<void>;
  private started = false;
  private stopped = false;

  constructor(db: Database, private readonly log: Logger, private readonly options: JobSchedulerOptions = {}) {
    this.clock = options.clock ?? (() => new Date());
    this.coordinator = new JobRunCoordinator(db, options.instance, this.clock);
    this.retentionMs = (options.retentionDays ?? DEFAULT_RETENTION_DAYS) * DAY_MS;
    if (options.registry) this.metrics = JobMetrics.on(options.registry);
    this.onFailure = options.onFailure ?? auditJobFailure(db);
  }

  /** This process's id in job_runs.instance. */
  get instance(): string {
    return this.coordinator.instance;
  }

  /** Adds a job; throws on a bad name, a duplicate or a cron expression node-cron cannot read. */
  register(definition: JobDefinition): this {
    if (!JOB_NAME.test(definition.name)) throw new Error(`job name "${definition.name}" must be lowercase letters, digits, dashes, dots and underscores, starting with a letter`);
    if (this.jobs.has(definition.name)) throw new Error(`job "${definition.name}" is registered twice`);
    const check = cron.validateDetailed(definition.schedule);
    if (!check.valid) {
      throw new Error(`job "${definition.name}": the schedule "${definition.schedule}" is not a cron expression: ${check.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
    }
    this.jobs.set(definition.name, definition);
    if (this.started) this.schedule(definition);
    return this;
  }

  /** The registered job names. */
  get names(): string[] {
    return [...this.jobs.keys()];
  }

  /** The registered jobs' names and schedules, in registration order. */
  get schedules(): JobSchedule[] {
    return [...this.jobs.values()].map(({ name, schedule }) => ({ name, schedule }));
  }

  /** Starts every registered job's schedule (and any registered later). */
  start(): void {
    if (this.stopped) throw new Error('the scheduler was stopped; make a new one');
    if (this.started) return;
    this.started = true;
    for (const job of this.jobs.values()) this.schedule(job);
  }

  private schedule(job: JobDefinition): void {
    const task = cron.createTask(job.schedule, (context: TaskContext) => this.track((async () => {
      // node-cron calls this only after the coordinator claimed the slot for this instance.
      const slot = context.date.toISOString();
      if (this.stopped) {
        // Claimed in the moment stop() was called: say so rather than leave the row unfinished.
        await this.coordinator.finish(job.name, slot, JSON.stringify({ ok: false, error: 'the scheduler stopped before the run started' }));
        return;
      }
      await this.execute(job, slot, context.date, 'scheduled');
    })()), {
      name: job.name,
      distributed: true,
      // Once stopping, this instance claims no more slots: another instance may run them.
      runCoordinator: { shouldRun: (key, ttlMs) => this.track((async () => !this.stopped && this.coordinator.shouldRun(key, ttlMs))()) },
      // A slot already running here is not claimed again by this instance; another may take it.
      noOverlap: true,
      logger: cronLogger(this.log),
      ...(this.options.timezone !== undefined && { timezone: this.options.timezone }),
    });
    task.on('execution:skipped', (context) => {
      if (context.reason === 'coordinator-error') this.log.error({ job: job.name, slot: context.date.toISOString() }, 'job slot skipped: the run coordinator could not claim it');
    });
    void task.start();
    this.tasks.push(task);
  }

  /**
   * Runs a job at once, outside its schedule, under its own slot `now:<time>`: at start-up, for
   * what came due while the server was down, and in tests. It waits for a run of the same job
   * in flight in this process. Never throws for the job's own failure: the result says how it went.
   */
  runNow(name: string): Promise<JobRunResult> {
    const job = this.jobs.get(name);
    if (!job) return Promise.reject(new Error(`no job named "${name}"; registered: ${this.names.join(', ') || 'none'}`));
    if (this.stopped) return Promise.reject(new Error('the scheduler was stopped'));
    return this.track(this.claimAndRun(job));
  }

  private async claimAndRun(job: JobDefinition): Promise<JobRunResult> {
    const name = job.name;
    const at = this.clock();
    // An explicit call always runs: when its millisecond's slot is taken (another call in the
    // same millisecond, here or on another instance), the next free millisecond names it.
    for (let offset = 0; offset < 1000; offset++) {
      const slot = `now:${new Date(at.getTime() + offset).toISOString()}`;
      if (await this.coordinator.claim(name, slot)) return this.execute(job, slot, at, 'now');
    }
    throw new Error(`job "${name}": no free slot to run it now`);
  }

  /** The most recent runs of a job as job_runs holds them, newest first. */
  recentRuns(name: string, limit?: number): Promise<JobRunRow[]> {
    return this.coordinator.recent(name, limit);
  }

  /** Keeps `work` in inFlight until it settles. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const forget = () => this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** Runs a claimed slot after the job's previous run in this process, and records its outcome. */
  private execute(job: JobDefinition, slot: string, scheduledAt: Date, reason: JobContext['reason']): Promise<JobRunResult> {
    const previous = this.tails.get(job.name) ?? Promise.resolve();
    const run = previous.then(() => this.runOnce(job, slot, scheduledAt, reason));
    const tail = run.catch(() => undefined);
    this.tails.set(job.name, tail);
    void tail.then(() => {
      if (this.tails.get(job.name) === tail) this.tails.delete(job.name);
    });
    return run;
  }

  private async runOnce(job: JobDefinition, slot: string, scheduledAt: Date, reason: JobContext['reason']): Promise<JobRunResult> {
    const log = this.log.child({ job: job.name, slot });
    const started = Date.now();
    let outcome: JobRunResult;
    try {
      const result = await job.run({ job: job.name, slot, scheduledAt, reason, log });
      outcome = { job: job.name, slot, ok: true, ...(result !== undefined && { result }), durationMs: Date.now() - started };
      log.debug({ durationMs: outcome.durationMs }, 'job finished');
    } catch (err) {
      outcome = { job: job.name, slot, ok: false, error: (err as Error).message ?? String(err), durationMs: Date.now() - started };
      log.error({ err, durationMs: outcome.durationMs }, 'job failed');
    }
    try {
      const { job: _job, slot: _slot, ...stored } = outcome;
      await this.coordinator.finish(job.name, slot, JSON.stringify(stored));
      if (outcome.ok) await this.coordinator.prune(job.name, new Date(this.clock().getTime() - this.retentionMs).toISOString());
    } catch (err) {
      // The run itself is over; failing to record it must not make it look failed or run again.
      log.error({ err }, 'could not record the job run in job_runs');
    }
    this.metrics?.record(job.name, outcome.ok, this.clock());
    if (!outcome.ok) {
      try {
        await this.onFailure({ job: job.name, slot, error: outcome.error ?? 'failed' });
      } catch (err) {
        // The database may be what failed the job; the log line above still says it failed.
        log.error({ err }, 'could not record the job failure in the audit trail');
      }
    }
    return outcome;
  }

  /** Stops every schedule and waits for runs in flight to end; the scheduler cannot be started again. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const task of this.tasks.splice(0)) await task.destroy();
    await Promise.allSettled([...this.inFlight]);
  }
}
