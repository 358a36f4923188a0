/*
 * The scheduled jobs, for administrators and auditors: each job the server runs, its schedule,
 * and how its latest run went (from job_runs, whichever instance ran it).
 */
import { z } from 'zod';
import { JobRunCoordinator } from '../../../jobs/run-coordinator.js';
import { serverJobSchedules } from '../../../jobs/server-jobs.js';
import { jobStatuses } from '../../../jobs/last-run.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { listOf } from '../schemas.js';

const JobSchema = z.strictObject({
  name: z.string(),
  schedule: z.string().describe('cron expression'),
  lastRun: z.strictObject({
    slot: z.string().describe('the scheduled time, or now:<time> for a run asked for'),
    instance: z.string(),
    claimed: z.string(),
    finished: z.string().nullable().describe('null while running (or when the instance died mid-run)'),
    outcome: z.enum(['running', 'ok', 'failed']),
    error: z.string().optional(),
  }).nullable().describe('null when it has not run yet'),
});
const JobList = listOf('JobList', JobSchema);

/** The jobs route. */
export function jobRoutes(deps: Pick<ApiDeps, 'db' | 'config' | 'reviews'>): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', path: '/jobs', operationId: 'listJobs', tag: 'Jobs',
      summary: 'The scheduled jobs and how each last ran',
      responses: { 200: { description: 'the jobs', schema: JobList } },
      async handle() {
        const items = await jobStatuses(new JobRunCoordinator(deps.db), serverJobSchedules(deps.config, deps.reviews));
        return { status: 200, body: { items } };
      },
    }),
  ];
}
