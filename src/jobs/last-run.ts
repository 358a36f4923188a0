/* A job_runs row read back for people: `iam jobs list` and GET /jobs. */
import type { JobRunCoordinator, JobRunRow } from './run-coordinator.js';
import type { JobSchedule } from './scheduler.js';

/** How a run went, from its job_runs row. */
export interface LastRun {
  slot: string;
  instance: string;
  claimed: string;
  finished: string | null;
  outcome: 'running' | 'ok' | 'failed';
  error?: string;
}

/** The run a job_runs row records: running until finished, then ok or failed with the error. */
export function lastRunOf(row: JobRunRow): LastRun {
  const base = { slot: row.slot, instance: row.instance, claimed: row.claimed, finished: row.finished };
  if (row.finished === null || row.outcome === null) return { ...base, outcome: 'running' };
  let stored: { ok?: unknown; error?: unknown };
  try {
    stored = JSON.parse(row.outcome) as { ok?: unknown; error?: unknown };
  } catch {
    return { ...base, outcome: 'failed', error: row.outcome };
  }
  if (stored.ok === true) return { ...base, outcome: 'ok' };
  return { ...base, outcome: 'failed', ...(typeof stored.error === 'string' && { error: stored.error }) };
}

/** A job, its schedule, and how its latest run went (null before the first). */
export interface JobStatus extends JobSchedule {
  lastRun: LastRun | null;
}

/** Each job with its latest run on any instance, as job_runs holds it. */
export async function jobStatuses(coordinator: JobRunCoordinator, jobs: readonly JobSchedule[]): Promise<JobStatus[]> {
  const out: JobStatus[] = [];
  for (const { name, schedule } of jobs) {
    const [row] = await coordinator.recent(name, 1);
    out.push({ name, schedule, lastRun: row ? lastRunOf(row) : null });
  }
  return out;
}
