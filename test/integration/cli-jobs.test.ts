import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerJobCommands } from '../../src/cli/job-commands.js';
import { CliError, type WithServices } from '../../src/cli/with.js';
import { configWith, type Config } from '../../src/config/index.js';
import { closeServices, createServices, type AppServices } from '../../src/http/app.js';
import { jobRoutes } from '../../src/http/api/routes/jobs.js';
import { createLogger } from '../../src/log/logger.js';
import { runInProcess } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';

const CAMPAIGN = { stages: [{ reviewer: 'manager' as const, durationDays: 14 }], schedule: '0 6 1 */3 *' };

interface Listed {
  name: string;
  schedule: string;
  lastRun: { slot: string; outcome: 'running' | 'ok' | 'failed'; error?: string; finished: string | null } | null;
}

onEachDatabase('iam jobs', (database) => {
  const root = mkdtempSync(join(tmpdir(), 'iam-cli-jobs-'));
  const reports = join(root, 'reports');
  let services: AppServices;
  let broken: AppServices;

  const configFor = (reportFolder: string): Config => configWith({
    audit: { reportFolder, reportRecipients: ['audit@example.com'], reportSchedule: '0 3 * * 1' },
    reviews: { campaigns: { 'q1.managers': CAMPAIGN, 'by-hand': { stages: CAMPAIGN.stages } } },
  });
  const iamWith = (svc: () => AppServices) => (...args: string[]) => {
    const withServices: WithServices = (work) => work(svc());
    return runInProcess((program) => registerJobCommands(program, withServices), ['jobs', ...args]);
  };
  const iam = iamWith(() => services);
  const list = async (): Promise<Listed[]> => {
    const result = await iam('list', '--json');
    expect(result.code, result.stderr).to.equal(0);
    return JSON.parse(result.stdout) as Listed[];
  };

  before(async () => {
    const log = createLogger('silent');
    services = await createServices(configFor(reports), database().db, log);
    // The report folder is a file: the audit report job cannot write there.
    const file = join(root, 'not-a-folder');
    writeFileSync(file, 'x');
    broken = await createServices(configFor(file), database().db, log);
  });
  after(async () => {
    await closeServices(services);
    await closeServices(broken);
    rmSync(root, { recursive: true, force: true });
  });

  it('lists every job the server schedules, with its schedule, never run yet', async () => {
    const jobs = await list();
    expect(jobs.map((j) => [j.name, j.schedule, j.lastRun])).to.deep.equal([
      ['effective-dates', services.config.lifecycle.effectiveDatesSchedule, null],
      ['plan-accounts', services.config.outbox.planSchedule, null],
      ['reconcile', services.config.reconcile.schedule, null],
      ['governance', services.config.governance.schedule, null],
      ['mail', services.config.mail.sendSchedule, null],
      ['audit-report', '0 3 * * 1', null],
      // Only campaigns with a schedule get a job.
      ['review-q1.managers', CAMPAIGN.schedule, null],
    ]);
    const table = await iam('list');
    expect(table.stdout.split('\n')[0]).to.match(/^JOB\s+SCHEDULE\s+LAST RUN\s+OUTCOME$/);
    expect(table.stdout).to.match(/\naudit-report\s+0 3 \* \* 1\s+never\s+-\n/);
  });

  it('runs a job now and prints its outcome', async () => {
    const result = await iam('run', 'governance');
    expect(result.code, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.match(/^job governance ok in \d+ ms: \{"requests":\{.*\},"expiringGrants":\{.*\},"reviews":\{.*\}\}\n$/);
    const report = await iam('run', 'audit-report');
    expect(report.code, report.stdout).to.equal(0);
    const [folder] = readdirSync(reports);
    expect(existsSync(join(reports, folder!, 'manifest.sig'))).to.equal(true);
    const mail = await iam('run', 'mail');
    expect(mail.code, mail.stdout).to.equal(0);
    expect(mail.stdout).to.match(/^job mail ok in \d+ ms: \{"sent":\d+,"failed":\d+\}\n$/);
  });

  it('starts a scheduled review campaign, and skips a slot while it is still open', async () => {
    const first = await iam('run', 'review-q1.managers');
    expect(first.code, first.stdout).to.equal(0);
    expect(first.stdout).to.match(/^job review-q1\.managers ok in \d+ ms: \{"started":"q1\.managers","campaignId":"[0-9a-f-]{36}"\}\n$/);
    const [campaign] = await database().db.query<{ name: string; started_by: string }>('SELECT name, started_by FROM review_campaigns');
    expect(campaign).to.deep.equal({ name: 'q1.managers', started_by: 'system:review-q1.managers' });
    const second = await iam('run', 'review-q1.managers');
    expect(second.code, second.stdout).to.equal(0);
    expect(second.stdout).to.include('"skipped":"a campaign of q1.managers is still running');
  });

  it('exits 1 when the job fails, and the failure is audited', async () => {
    const result = await iamWith(() => broken)('run', 'audit-report');
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/^job audit-report FAILED after \d+ ms: .*not-a-folder/);
    const [event] = await database().db.query<{ actor: string; target_id: string; details: string }>(
      "SELECT actor, target_id, details FROM audit_events WHERE action = 'job.fail' ORDER BY id DESC LIMIT 1");
    expect(event).to.include({ actor: 'system:audit-report', target_id: 'audit-report' });
    expect(JSON.parse(event!.details).slot).to.match(/^now:/);
  });

  it('lists how each job last ran, on any instance: ok, or failed with its error', async () => {
    const jobs = new Map((await list()).map((j) => [j.name, j.lastRun]));
    expect(jobs.get('governance')).to.include({ outcome: 'ok' });
    expect(jobs.get('reconcile')).to.equal(null);
    const report = jobs.get('audit-report')!;
    expect(report.outcome).to.equal('failed');
    expect(report.error).to.include('not-a-folder');
    expect(report.slot).to.match(/^now:/);
    const table = await iam('list');
    expect(table.stdout).to.match(/\naudit-report\s+0 3 \* \* 1\s+\S+\s+failed: .*not-a-folder/);
    expect(table.stdout).to.match(/\ngovernance\s+\S+ \S+ \S+ \S+ \S+\s+\S+\s+ok\n/);
  });

  it('GET /jobs answers the same list', async () => {
    const [route] = jobRoutes(services);
    const reply = await route!.handle({ params: {}, query: {}, body: undefined }, { change: { actor: 'test' }, caller: { identityId: null, scopes: ['auditor'] } });
    const body = reply.body as { items: Listed[] };
    expect(body.items).to.deep.equal(await list());
  });

  it('refuses a job that does not exist, naming those that do', async () => {
    let error: unknown;
    await iam('run', 'nope').catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(CliError);
    expect((error as Error).message).to.equal('no job named "nope"; the jobs are: effective-dates, plan-accounts, reconcile, governance, mail, audit-report, review-q1.managers');
  });

  it('explains both commands in --help', async () => {
    for (const [command, text] of [['list', 'last ran'], ['run', 'exit 1 when it fails']] as const) {
      const result = await iam(command, '--help');
      expect(result.code, command).to.equal(0);
      expect(result.stdout, command).to.include(text);
    }
  });
});
