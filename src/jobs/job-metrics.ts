/*
 * The jobs' figures in /metrics: runs by job and outcome, and when each job last succeeded (an
 * alert on `time() - iam_job_last_success_timestamp_seconds` catches a job that keeps failing or
 * stopped running). Each instance counts the runs it ran.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { oncePerRegistry } from '../http/metrics.js';

/** The counter and gauge one registry holds for every scheduler on it. */
export class JobMetrics {
  private constructor(
    readonly runs: Counter<'job' | 'outcome'>,
    readonly lastSuccess: Gauge<'job'>,
  ) {}

  /** The jobs' metrics in `registry`, registered on first use (prom-client refuses a name twice). */
  static readonly on = oncePerRegistry((registry: Registry) => new JobMetrics(
    new Counter({ name: 'iam_job_runs_total', help: 'Scheduled job runs this instance ran, by job and outcome (ok, failed)', labelNames: ['job', 'outcome'] as const, registers: [registry] }),
    new Gauge({ name: 'iam_job_last_success_timestamp_seconds', help: 'When each job last finished without error on this instance (Unix time)', labelNames: ['job'] as const, registers: [registry] }),
  ));

  /** Counts a finished run. */
  record(job: string, ok: boolean, at: Date): void {
    this.runs.inc({ job, outcome: ok ? 'ok' : 'failed' });
    if (ok) this.lastSuccess.set({ job }, at.getTime() / 1000);
  }
}
