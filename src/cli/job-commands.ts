/*
 * `iam jobs list|run`: the server's scheduled jobs (the same list `iam serve` schedules), how each
 * last ran on any instance, and running one now, outside its schedule.
 */
import type { Command } from 'commander';
import { jobStatuses, type LastRun } from '../jobs/last-run.js';
import { JobScheduler } from '../jobs/scheduler.js';
import { registerServerJobs } from '../jobs/server-jobs.js';
import type { AppServices } from '../http/app.js';
import { CliError, type WithServices } from './with.js';
import { formatTable } from './table.js';

/** The server's jobs on a scheduler that is never started: for listing and runNow. */
function serverScheduler(services: AppServices): Promise<JobScheduler> {
  return registerServerJobs(new JobScheduler(services.db, services.log), services);
}

function describeRun(run: LastRun | null): string[] {
  if (!run) return ['never', '-'];
  const when = run.finished ?? run.claimed;
  return [when, run.outcome === 'failed' ? `failed: ${run.error ?? 'no error recorded'}` : run.outcome];
}

/** Adds `iam jobs list|run`. */
export function registerJobCommands(program: Command, withServices: WithServices): void {
  const jobs = program.command('jobs').description('the scheduled jobs: list them with their last run, or run one now');
  jobs.command('list')
    .description('each job, its schedule, when it last ran (on any instance) and how: ok, failed with the error, or running')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const list = await withServices(async (services) => {
        const scheduler = await serverScheduler(services);
        try {
          return await jobStatuses(scheduler.coordinator, scheduler.schedules);
        } finally {
          await scheduler.stop();
        }
      });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const header = ['JOB', 'SCHEDULE', 'LAST RUN', 'OUTCOME'];
      const rows = list.map((j) => [j.name, j.schedule, ...describeRun(j.lastRun)]);
      // The outcome (with its error) is last: an error may be long.
      process.stdout.write(formatTable([header, ...rows]));
    });
  jobs.command('run')
    .description('run a job now, outside its schedule, as the server would (recorded in job_runs); exit 1 when it fails')
    .argument('<name>', 'the job, as iam jobs list names it')
    .action(async (name: string) => {
      const outcome = await withServices(async (services) => {
        const scheduler = await serverScheduler(services);
        try {
          if (!scheduler.names.includes(name)) throw new CliError(`no job named "${name}"; the jobs are: ${scheduler.names.join(', ')}`);
          return await scheduler.runNow(name);
        } finally {
          await scheduler.stop();
        }
      });
      if (outcome.ok) {
        const result = outcome.result === undefined ? '' : `: ${JSON.stringify(outcome.result)}`;
        process.stdout.write(`job ${name} ok in ${outcome.durationMs ?? 0} ms${result}\n`);
      } else {
        process.stdout.write(`job ${name} FAILED after ${outcome.durationMs ?? 0} ms: ${outcome.error ?? 'unknown error'}\n`);
        process.exitCode = 1;
      }
    });
}
