/* A job_runs row read back for people: `iam jobs list` and GET /jobs. */
import type { JobRunRow } from './run-coordinator.js';

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
