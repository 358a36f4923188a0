import { expect } from 'chai';
import type { Browser, BrowserContext } from 'playwright-core';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import { registerServerJobs } from '../../src/jobs/server-jobs.js';
import { createLogger } from '../../src/log/logger.js';
import { apiClient } from '../support/api-client.js';
import type { JsonClient } from '../support/json-client.js';
import { launchBrowser, noScriptContext } from '../support/browser.js';
import { onEachDatabase } from '../support/databases.js';
import { governanceFixtures, type Person } from '../support/governance-fixtures.js';
import { MemoryTargets } from '../support/outbox-drain.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestSmtp, type CapturedMail, type TestSmtp } from '../support/smtp.js';

/*
 * Governance from end to end, through the doors people use: API tokens that belong to people,
 * mail captured by a real SMTP server, the links in it followed in headless Chromium with
 * JavaScript off, the server's own scheduled jobs run slot by slot on a clock the test moves, and
 * provisioning drained into in-memory targets. A request walks its two-stage chain to a
 * time-bound grant that reaches the target and is taken back when it ends; a quarterly campaign
 * starts from its schedule, reminds, is decided from the mail link, and revokes at close what
 * nobody decided.
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('governance end to end', function () {
  this.timeout(120_000);
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  onEachDatabase('governance end to end', (database) => {
    let now = Date.parse('2027-01-04T09:00:00Z');
    const clock = () => new Date(now);
    let server: TestServer;
    let smtp: TestSmtp;
    let targets: MemoryTargets;
    let scheduler: JobScheduler;
    let context: BrowserContext;
    let role: string;
    const people = {} as Record<'dana' | 'carol' | 'alice' | 'erin' | 'frank' | 'gina' | 'bob', Person>;
    const admin = () => server.token('iam-admin');
    const as = async (p: Person): Promise<JsonClient> => apiClient(server.apiUrl, await server.token('self-service', undefined, p.userName));

    /** Mail delivered to a person so far, after the mailer sent what was due. */
    const mailTo = async (p: Person): Promise<CapturedMail[]> => {
      await server.services.mailer.sendDue();
      return smtp.mails.filter((m) => m.to.includes(p.email!));
    };
    const linkIn = (mail: CapturedMail): string => {
      const link = /http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(mail.text)?.[0];
      expect(link, mail.text).to.be.a('string');
      return link!;
    };
    const runJob = async (name: string): Promise<unknown> => {
      const outcome = await scheduler.runNow(name);
      expect(outcome.ok, outcome.error).to.equal(true);
      return outcome.result;
    };
    const holds = (p: Person): string[] => targets.holdings().get(p.id)?.get('apps') ?? [];

    before(async () => {
      smtp = await startTestSmtp();
      server = await startTestServer(database().db, {
        mail: smtp.mailConfig(),
        targets: { apps: { connector: 'memory' } },
        governance: { defaultChain: [{ approver: 'manager' }, { approver: 'role-owner' }], expiryNoticeDays: 7, escalationDays: 0 },
        reviews: {
          campaigns: {
            quarterly: {
              description: 'who holds access to the payment application',
              schedule: '0 6 1 */3 *',
              scope: { target: 'apps' },
              stages: [{ reviewer: 'manager', durationDays: 14 }],
              reminderDays: [7],
              undecided: 'revoke',
            },
          },
        },
      }, { clock });
      const f = governanceFixtures(server.services);
      people.dana = await f.createPerson({ userName: 'dana', displayName: 'Dana Director' });
      people.carol = await f.createPerson({ userName: 'carol', manager: people.dana, displayName: 'Carol Manager' });
      people.bob = await f.createPerson({ userName: 'bob', displayName: 'Bob Owner' });
      for (const name of ['alice', 'erin', 'frank'] as const) people[name] = await f.createPerson({ userName: name, manager: people.carol, department: 'Finance' });
      people.gina = await f.createPerson({ userName: 'gina', manager: people.dana, department: 'Finance' });
      await f.createTarget('apps');
      await f.createEntitlement({ target: 'apps', key: 'payments', kind: 'group', requestable: false });
      role = await f.createRole({ name: `payments-${f.suffix}`, owner: people.bob, maxDurationDays: 30, entitlements: ['apps/payments'] });
      targets = new MemoryTargets(database().db, ['apps'], clock);
      scheduler = new JobScheduler(database().db, createLogger('silent'), { clock });
      await registerServerJobs(scheduler, server.services);
      context = await noScriptContext(browser);
    });
    after(async () => {
      await context?.close();
      await scheduler?.stop();
      await server?.close();
      await smtp?.close();
    });

    it('takes a request through manager and role owner to a grant in the target, warns before it ends, and takes it back when it ends', async () => {
      const alice = await as(people.alice);
      const body = { beneficiary: people.alice.userName, role: role.slice('role:'.length), justification: 'month-end close', durationDays: 10 };
      const made = await alice.post('/access-requests', body, { 'Idempotency-Key': 'close-2027-01' });
      expect(made.status, JSON.stringify(made.body)).to.equal(201);
      const id = (made.body as { id: string }).id;
      // A client retrying after a lost answer gets the same request, not a second one.
      const retried = await alice.post('/access-requests', body, { 'Idempotency-Key': 'close-2027-01' });
      expect(retried.status).to.equal(200);
      expect((retried.body as { id: string }).id).to.equal(id);
      expect(await database().db.query('SELECT id FROM access_requests WHERE beneficiary_id = ?', [people.alice.id])).to.have.length(1);
      // Nobody approves their own request.
      expect((await alice.post(`/access-requests/${id}/decision`, { decision: 'approve' })).status).to.equal(403);

      // Stage 1: the manager, by API with her own token, after reading what waits for her.
      const carol = await as(people.carol);
      expect((await mailTo(people.carol)).map((m) => m.subject)).to.satisfy((subjects: string[]) => subjects.some((s) => s.startsWith('Access request awaiting your decision')));
      const waiting = await carol.get('/approvals');
      expect((waiting.body as { items: Array<{ id: string }> }).items.map((r) => r.id)).to.include(id);
      const first = await carol.post(`/access-requests/${id}/decision`, { decision: 'approve', comment: 'needed for the close' });
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      expect(first.body).to.include({ status: 'pending', stage: 1 });

      // Stage 2: the role owner, from the link in his mail, with the page's form in Chromium.
      const ownerMail = (await mailTo(people.bob)).find((m) => m.subject.startsWith('Access request awaiting your decision'));
      expect(ownerMail, 'no mail to the role owner').to.not.equal(undefined);
      const page = await context.newPage();
      await page.goto(linkIn(ownerMail!));
      expect((await server.services.requests.get(id)).status, 'opening the link decided something').to.equal('pending');
      const card = page.locator('section.card', { has: page.locator(`input[name="request"][value="${id}"]`) });
      await card.locator('button[value="approve"]').click();
      await page.waitForURL(/\?done=approved$/);
      await page.close();
      const approved = await server.services.requests.get(id);
      expect(approved.status, JSON.stringify(approved)).to.equal('approved');
      expect(approved.stages.map((s) => [s.status, s.decidedBy])).to.deep.equal([['approved', people.carol.userName], ['approved', people.bob.userName]]);

      // The grant ends when the request said, and provisioning puts alice in the group.
      const grant = await server.services.grants.get(approved.grantId!);
      expect(Date.parse(grant.validUntil!) - now).to.be.within(10 * DAY - HOUR, 10 * DAY + HOUR);
      await targets.drain();
      expect(holds(people.alice)).to.include('payments');
      const aliceMail = (await mailTo(people.alice)).map((m) => m.subject);
      expect(aliceMail.filter((subject) => subject.startsWith(`Access granted: ${role} for `)), aliceMail.join('; ')).to.have.length(1);

      // Four days on, the governance job tells her it ends within the notice period — once.
      now += 4 * DAY;
      await runJob('governance');
      await runJob('governance');
      const expiring = (await mailTo(people.alice)).filter((m) => m.subject.toLowerCase().includes('end'));
      expect(expiring, 'no expiry notice').to.have.length(1);
      expect(linkIn(expiring[0]!)).to.include('/m/');

      // Past its end, the effective-dates job removes the grant and the target follows.
      now += 7 * DAY;
      await runJob('effective-dates');
      expect(await database().db.query('SELECT id FROM grants WHERE id = ?', [grant.id])).to.deep.equal([]);
      await targets.drain();
      expect(holds(people.alice)).to.not.include('payments');

      const actions = (await database().db.query<{ action: string }>(
        "SELECT action FROM audit_events WHERE (target_type = 'accessRequest' AND target_id = ?) OR action IN ('grant.create', 'grant.expire') ORDER BY id", [id])).map((r) => r.action);
      expect(actions).to.include.members(['request.create', 'request.approve', 'grant.create', 'grant.expire']);
      expect(actions.filter((a) => a === 'request.approve')).to.have.length(2);
      expect((await verifyAuditChain(database().db)).ok).to.equal(true);
    });

    it('starts the quarterly campaign from its schedule, reminds once, is decided from the mail link, and revokes what nobody decided', async () => {
      const grantOf = async (p: Person) => (await server.services.grants.grant({ identity: p.id, item: role, source: 'manual', reason: 'team member' }, { actor: 'test:setup' })).grant.id;
      const grants = { erin: await grantOf(people.erin), frank: await grantOf(people.frank), gina: await grantOf(people.gina) };
      await targets.drain();
      for (const p of [people.erin, people.frank, people.gina]) expect(holds(p)).to.include('payments');

      const started = await runJob('review-quarterly') as { campaignId: string };
      expect(started.campaignId).to.be.a('string');
      // One mail per reviewer, whatever the number of items: carol reviews erin and frank, dana reviews gina.
      const carolMail = (await mailTo(people.carol)).filter((m) => m.subject.startsWith('Access review "quarterly"'));
      const due = new Date(now + 14 * DAY).toISOString().slice(0, 10);
      expect(carolMail.map((m) => m.subject)).to.deep.equal([`Access review "quarterly": 2 items to review by ${due}`]);
      expect((await mailTo(people.dana)).filter((m) => m.subject.startsWith('Access review "quarterly"'))).to.have.length(1);

      // Carol keeps erin from the page and leaves frank undecided.
      const page = await context.newPage();
      await page.goto(linkIn(carolMail[0]!));
      expect(await page.locator('tbody tr').count()).to.equal(2);
      await page.locator('tbody tr').filter({ hasText: people.erin.userName }).locator('input[type="checkbox"]').check();
      await page.locator('textarea[name="comment"]').fill('still closes the books');
      await page.locator('button[value="keep"]').click();
      await page.waitForURL(/\?done=kept&count=1$/);
      expect(await page.locator('tbody tr').count()).to.equal(1);
      await page.close();

      // A week before the end, reviewers with undecided items are reminded, once.
      now += 7 * DAY + HOUR;
      await runJob('governance');
      await runJob('governance');
      const reminders = (await mailTo(people.carol)).filter((m) => m.subject.startsWith('Reminder:'));
      expect(reminders.map((m) => m.subject)).to.deep.equal(['Reminder: 1 item in "quarterly" still need your decision']);

      // When the stage is over the campaign closes; what nobody decided is revoked and the target follows.
      now += 8 * DAY;
      await runJob('governance');
      const campaign = await server.services.db.query<{ status: string }>('SELECT status FROM review_campaigns WHERE id = ?', [started.campaignId]);
      expect(campaign[0]!.status).to.equal('closed');
      const left = (await database().db.query<{ id: string }>('SELECT id FROM grants WHERE id IN (?, ?, ?)', [grants.erin, grants.frank, grants.gina])).map((g) => g.id);
      expect(left).to.deep.equal([grants.erin]);
      await targets.drain();
      expect(holds(people.erin)).to.include('payments');
      expect(holds(people.frank)).to.not.include('payments');
      expect(holds(people.gina)).to.not.include('payments');

      // The campaign report says who decided what.
      const report = await apiClient(server.apiUrl, await admin()).get(`/review-campaigns/${started.campaignId}/report?format=json`);
      expect(report.status).to.equal(200);
      const reviewers = (report.body as { reviewers: Array<{ reviewer: { userName: string }; assigned: number; kept: number; revoked: number }> }).reviewers;
      // Carol kept erin herself; frank's item, which nobody decided, was revoked at close.
      expect(reviewers.find((r) => r.reviewer.userName === people.carol.userName)).to.include({ assigned: 2, kept: 1, revoked: 1 });
      expect((await verifyAuditChain(database().db)).ok).to.equal(true);
    });
  });
});
