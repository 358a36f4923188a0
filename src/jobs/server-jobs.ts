/*
 * Every job a server runs on a schedule, in one place: which jobs exist and when they run
 * (serverJobSchedules, read from config and the scheduled review campaigns), and what each does
 * (registerServerJobs). `iam jobs`, GET /jobs and `iam serve` all read this list.
 */
import type { Config } from '../config/index.js';
import type { AppServices } from '../http/app.js';
import type { Logger } from '../log/logger.js';
import { AUDIT_REPORT_JOB, auditReportJob } from '../audit/report-job.js';
import { GovernanceError } from '../governance/errors.js';
import { dropFolderJob, DROP_FOLDER_JOB } from '../lifecycle/drop-folder.js';
import { CatalogCache } from '../policy/catalog.js';
import { planAllAccounts, PLAN_ACCOUNTS_JOB } from '../provisioning/plan-all.js';
import { reconcileAllTargets, RECONCILE_JOB } from '../provisioning/reconciliation/reconciler.js';
import type { JobFunction, JobSchedule, JobScheduler } from './scheduler.js';

/** Applies hires, terminations and grant ends as their dates arrive. */
export const EFFECTIVE_DATES_JOB = 'effective-dates';
/** Escalates and expires requests, mails expiry notices, reminds, escalates and closes reviews. */
export const GOVERNANCE_JOB = 'governance';
/** Sends mail that could not be sent at once. */
export const MAIL_JOB = 'mail';
/** `review-<campaign>` starts a campaign that has a schedule. */
export const REVIEW_JOB_PREFIX = 'review-';

/** The jobs a server with this config runs, and when; the drop folder and the audit report only when their folder is set. */
export function serverJobSchedules(config: Config, reviews: Pick<AppServices['reviews'], 'scheduledDefinitions'>): JobSchedule[] {
  const jobs: JobSchedule[] = [
    { name: EFFECTIVE_DATES_JOB, schedule: config.lifecycle.effectiveDatesSchedule },
    { name: PLAN_ACCOUNTS_JOB, schedule: config.outbox.planSchedule },
    { name: RECONCILE_JOB, schedule: config.reconcile.schedule },
  ];
  if (config.hr.dropFolder.trim() !== '') jobs.push({ name: DROP_FOLDER_JOB, schedule: config.hr.dropSchedule });
  jobs.push({ name: GOVERNANCE_JOB, schedule: config.governance.schedule }, { name: MAIL_JOB, schedule: config.mail.sendSchedule });
  if (config.audit.reportFolder.trim() !== '') jobs.push({ name: AUDIT_REPORT_JOB, schedule: config.audit.reportSchedule });
  for (const campaign of reviews.scheduledDefinitions()) jobs.push({ name: `${REVIEW_JOB_PREFIX}${campaign.name}`, schedule: campaign.schedule });
  return jobs;
}

/**
 * The governance steps, each run even when one before it failed (an expired request must not
 * hold back review reminders); the run fails, naming every step that did.
 */
async function governance(services: AppServices, log: Logger): Promise<Record<string, unknown>> {
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['requests', () => services.requests.processDue()],
    ['expiringGrants', () => services.requests.notifyExpiringGrants()],
    ['reviews', () => services.reviews.tick()],
  ];
  const done: Record<string, unknown> = {};
  const failed: string[] = [];
  for (const [step, run] of steps) {
    try {
      done[step] = await run();
    } catch (err) {
      log.error({ err, step }, 'governance step failed');
      failed.push(`${step}: ${(err as Error).message}`);
    }
  }
  // Reminders, escalations and expiry notices just queued go out now rather than at the next mail job.
  services.mailer.sendSoon();
  if (failed.length > 0) throw new Error(`${failed.join('; ')} (done: ${JSON.stringify(done)})`);
  return done;
}

/** What each job does, by name. */
function jobWork(services: AppServices): (name: string) => JobFunction {
  const { config, db, log } = services;
  const drop = dropFolderJob(config, services.feeds, log);
  const work = new Map<string, JobFunction>([
    [EFFECTIVE_DATES_JOB, () => services.effectiveDates.run()],
    [PLAN_ACCOUNTS_JOB, ({ slot }) => planAllAccounts(db, services.planner, CatalogCache.of(db), `job:${PLAN_ACCOUNTS_JOB}:${slot}`, services.clock())],
    [RECONCILE_JOB, () => reconcileAllTargets(services.reconciler, services.connectors.targets(), { fix: config.reconcile.fix, actor: `system:${RECONCILE_JOB}` })],
    [GOVERNANCE_JOB, () => governance(services, log)],
    [MAIL_JOB, () => services.mailer.sendDue()],
    [AUDIT_REPORT_JOB, () => auditReportJob({ db, config, clock: services.clock, mailer: services.mailer })],
  ]);
  if (drop) work.set(drop.name, drop.run);
  return (name) => {
    const known = work.get(name);
    if (known) return known;
    if (!name.startsWith(REVIEW_JOB_PREFIX)) throw new Error(`no work is defined for the job ${name}`);
    const campaign = name.slice(REVIEW_JOB_PREFIX.length);
    return async () => {
      try {
        const started = await services.reviews.start(campaign, { identityId: null, actor: `system:${name}` });
        return { started: campaign, campaignId: started.id };
      } catch (err) {
        // The last campaign of this definition is still open: this slot has nothing to do.
        if (err instanceof GovernanceError && err.kind === 'conflict') return { skipped: err.message };
        throw err;
      }
    };
  };
}

/**
 * Registers every server job on the scheduler, after reading the stored review definitions'
 * schedules. A review campaign whose job cannot be registered (its name too long to be a job
 * name) is logged and left to be started by hand, rather than keeping the server from starting.
 */
export async function registerServerJobs(scheduler: JobScheduler, services: AppServices): Promise<JobScheduler> {
  const { config, log } = services;
  await services.reviews.refreshScheduled();
  const work = jobWork(services);
  for (const { name, schedule } of serverJobSchedules(config, services.reviews)) {
    try {
      scheduler.register({ name, schedule, run: work(name) });
    } catch (err) {
      if (!name.startsWith(REVIEW_JOB_PREFIX)) throw err;
      log.error({ err, job: name }, 'the scheduled review campaign cannot be scheduled; start it with iam review start');
    }
  }
  return scheduler;
}
