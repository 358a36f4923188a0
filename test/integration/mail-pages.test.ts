import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { AccessRequestView } from '../../src/governance/requests/service.js';
import { onEachDatabase } from '../support/databases.js';
import { launchBrowser, noScriptContext } from '../support/browser.js';
import { TestClock } from '../support/clock.js';
import { ENTERPRISE, newUser } from '../support/scim-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTestSmtp, type CapturedMail, type TestSmtp } from '../support/smtp.js';

/*
 * The pages mail links open, end to end: the governance services queue mail, the mailer sends it
 * to a captured SMTP server, and headless Chromium (JavaScript off) follows the link and decides
 * with the page's plain HTML forms.
 */

const HOUR = 3_600_000;
const setup = { actor: 'test:setup' };
const BRIEN = `O'Brien <x> & Zoë`;
const UNAL = 'Zoë "Z" Ünal <b>';

const POLICY = {
  targets: [{ name: 'ldap', type: 'ldap' }],
  entitlements: [{ target: 'ldap', key: 'ledger', kind: 'group' }],
  roles: [{ name: 'ledger-reader', entitlements: ['ldap/ledger'], requestable: true, maxDurationDays: 90 }],
};

interface Person { id: string; userName: string; email: string }

let browser: Browser;

describe('mail-link pages', function () {
  this.timeout(60_000);
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  onEachDatabase('mail-link pages', (database) => {
    let server: TestServer;
    let smtp: TestSmtp;
    let context: BrowserContext;
    let clock: TestClock;
    const people = {} as Record<'mgrA' | 'mgrB' | 'repA' | 'repA2' | 'repB', Person>;

    const person = async (displayName: string, manager?: Person): Promise<Person> => {
      const doc = newUser({ displayName, [ENTERPRISE]: { department: 'Finance', ...(manager && { manager: { value: manager.id } }) } });
      const made = await server.services.identities.create(doc, setup);
      const email = (doc.emails as Array<{ value: string }>)[0]!.value;
      return { id: made.id, userName: String(doc.userName).toLowerCase(), email };
    };
    const actor = (p: Person) => ({ identityId: p.id, actor: `test:${p.userName}` });
    /** The mails sent so far to a person, after sending what is due. */
    const mailsTo = async (p: Person): Promise<CapturedMail[]> => {
      await server.services.mailer.sendDue();
      return smtp.mails.filter((m) => m.to.includes(p.email));
    };
    const linkIn = (mail: CapturedMail): string => {
      const links = mail.text.match(/http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g) ?? [];
      expect(links, mail.text).to.have.length.greaterThan(0);
      return links[0]!;
    };
    const proofOf = async (link: string): Promise<string> => {
      const text = await (await fetch(link)).text();
      return /name="form" value="([^"]+)"/.exec(text)![1]!;
    };
    const post = (link: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) => {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
      return fetch(link, { method: 'POST', body, redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
    };
    const request = async (beneficiary: Person, justification: string): Promise<AccessRequestView> =>
      (await server.services.requests.create({ item: 'role:ledger-reader', justification, durationDays: 30 }, actor(beneficiary))).request;
    const awaitingLink = async (approver: Person): Promise<string> => {
      const mail = (await mailsTo(approver)).filter((m) => m.subject.startsWith('Access request awaiting your decision')).at(-1);
      expect(mail, `no approval mail to ${approver.userName}`).to.not.equal(undefined);
      return linkIn(mail!);
    };
    const openPage = async (link: string): Promise<{ page: Page; status: number; headers: Record<string, string>; raw: string }> => {
      const page = await context.newPage();
      const res = await page.goto(link);
      return { page, status: res!.status(), headers: res!.headers(), raw: await res!.text() };
    };

    before(async () => {
      smtp = await startTestSmtp();
      clock = new TestClock();
      server = await startTestServer(database().db, {
        mail: smtp.mailConfig(),
        governance: { defaultChain: [{ approver: 'manager' }], linkTtlHours: 24, escalationDays: 0 },
        reviews: {
          campaigns: {
            'ledger-review': { scope: { role: 'role:ledger-reader' }, stages: [{ reviewer: 'manager', durationDays: 14 }] },
            'other-review': { scope: { role: 'role:ledger-reader' }, stages: [{ reviewer: 'manager', durationDays: 14 }] },
          },
        },
      }, { clock: clock.now });
      await server.services.policyStore.replaceAll(POLICY, setup);
      people.mgrA = await person(BRIEN);
      people.mgrB = await person('Bea Manager');
      people.repA = await person(UNAL, people.mgrA);
      people.repA2 = await person('Ann Second', people.mgrA);
      people.repB = await person('Ben Report', people.mgrB);
      context = await noScriptContext(browser);
    });
    after(async () => {
      await context?.close();
      await server?.close();
      await smtp?.close();
    });

    it('shows a waiting request from the mail link without deciding it, and approves it with the page\'s form', async () => {
      const justification = 'Quarter <close> & "audit" for Łódź';
      const req = await request(people.repA, justification);
      const link = await awaitingLink(people.mgrA);
      const { page, status, headers, raw } = await openPage(link);
      expect(status).to.equal(200);
      expect(headers['content-security-policy']).to.include("default-src 'none'").and.include("form-action 'self'");
      expect(headers['referrer-policy']).to.equal('no-referrer');
      expect(headers['cache-control']).to.equal('no-store');
      expect(headers['x-frame-options']).to.equal('DENY');
      expect(raw).not.to.include('<script');
      const card = page.locator('section.card', { has: page.locator(`input[name="request"][value="${req.id}"]`) });
      expect(await card.locator('h2').textContent()).to.equal(`role:ledger-reader for ${people.repA.userName}`);
      expect(await card.locator('dd', { hasText: 'Quarter' }).textContent()).to.equal(justification);
      expect(await card.locator('dd', { hasText: 'days' }).textContent()).to.equal('30 days');

      // Opening, reloading and a HEAD (what mail scanners do) decide nothing.
      await page.reload();
      expect((await fetch(link, { method: 'HEAD' })).status).to.equal(200);
      const still = await server.services.requests.get(req.id);
      expect(still.status).to.equal('pending');
      expect(still.stages[0]!.status).to.equal('open');

      await card.locator('textarea[name="comment"]').fill('ok for the close <b>');
      await card.locator('button[value="approve"]').click();
      await page.waitForURL(/\?done=approved$/);
      expect(await page.locator('.notice.done').textContent()).to.match(/^Approved/);
      expect(await page.locator(`input[name="request"][value="${req.id}"]`).count()).to.equal(0);
      const decided = await server.services.requests.get(req.id);
      expect(decided.status).to.equal('approved');
      expect(decided.stages[0]).to.include({ status: 'approved', decidedBy: people.mgrA.userName, comment: 'ok for the close <b>' });
      expect(decided.grantId).to.be.a('string');
      const audit = await server.services.db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE action = 'request.approve' AND target_id = ?", [req.id]);
      expect(audit.map((a) => a.actor)).to.deep.equal([`link:${people.mgrA.userName}`]);
      await page.close();
    });

    it('escapes names and texts: quotes, angle brackets, ampersands and non-ASCII letters show as written', async () => {
      await request(people.repA2, 'needs <ledger> & "more"');
      const { page, raw } = await openPage(await awaitingLink(people.mgrA));
      expect(await page.locator('header p').textContent()).to.equal(`for ${BRIEN}`);
      expect(raw).to.include('for O&#39;Brien &lt;x&gt; &amp; Zoë');
      expect(raw).to.include('needs &lt;ledger&gt; &amp; &quot;more&quot;');
      // Nothing from the data became an element.
      expect(await page.locator('x, ledger').count()).to.equal(0);
      expect(await page.locator('dd', { hasText: 'needs <ledger> & "more"' }).count()).to.equal(1);
      await page.close();
    });

    it('refuses a decision posted without the page\'s form proof, or from another site', async () => {
      const pending = (await server.services.requests.awaiting(people.mgrA.id))[0]!;
      const link = await awaitingLink(people.mgrA);
      const blind = await post(link, { request: pending.id, decision: 'approve' });
      expect(blind.status).to.equal(403);
      expect(await blind.text()).to.include('did not come from the page of this link');
      const forged = await post(link, { request: pending.id, decision: 'approve', form: 'A'.repeat(43) });
      expect(forged.status).to.equal(403);
      const crossSite = await post(link, { request: pending.id, decision: 'approve', form: await proofOf(link) }, { 'sec-fetch-site': 'cross-site' });
      expect(crossSite.status).to.equal(403);
      expect((await server.services.requests.get(pending.id)).status).to.equal('pending');
    });

    it('does not let one person\'s link decide another person\'s request', async () => {
      const forB = await request(people.repB, 'B needs it');
      const linkA = await awaitingLink(people.mgrA);
      const res = await post(linkA, { request: forB.id, decision: 'approve', form: await proofOf(linkA) });
      expect(res.status).to.equal(409);
      const text = await res.text();
      expect(text).to.include('no longer waits for your decision');
      expect(text).not.to.match(/at \S+\.ts:\d+/);
      expect((await server.services.requests.get(forB.id)).status).to.equal('pending');
      // B's own link decides it, with a plain form post and the redirect back.
      const linkB = await awaitingLink(people.mgrB);
      const ok = await post(linkB, { request: forB.id, decision: 'deny', comment: 'not now', form: await proofOf(linkB) });
      expect(ok.status).to.equal(303);
      expect(ok.headers.get('location')).to.match(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\?done=denied$/);
      expect((await server.services.requests.get(forB.id)).status).to.equal('denied');
    });

    it('shows a refused decision on the page with its status: deciding what was already decided', async () => {
      const forB = await request(people.repB, 'B asks again');
      const linkB = await awaitingLink(people.mgrB);
      const proof = await proofOf(linkB);
      expect((await post(linkB, { request: forB.id, decision: 'approve', form: proof })).status).to.equal(303);
      const again = await post(linkB, { request: forB.id, decision: 'deny', form: proof });
      expect(again.status).to.equal(409);
      const text = await again.text();
      expect(text).to.include('class="notice refused"');
      expect(again.headers.get('content-type')).to.match(/^text\/html/);
      const bad = await post(linkB, { request: forB.id, decision: 'maybe', form: proof });
      expect(bad.status).to.equal(422);
    });

    it('refuses a tampered link and a made-up one with 403, and answers no page for what is not a link', async () => {
      const link = await awaitingLink(people.mgrA);
      const [base, token] = [link.slice(0, link.lastIndexOf('/') + 1), link.slice(link.lastIndexOf('/') + 1)];
      const [payload, signature] = token.split('.') as [string, string];
      // The claims of mgrB under mgrA's signature: the recipient cannot be swapped.
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
      claims[0] = people.mgrB.id;
      const swapped = `${base}${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      const flipped = `${base}${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
      for (const bad of [swapped, flipped]) {
        const { page, status, raw } = await openPage(bad);
        expect(status, bad).to.equal(403);
        expect(await page.locator('.notice.refused').textContent()).to.include('not valid');
        expect(raw).not.to.match(/Error|at \S+\.ts/);
        await page.close();
        expect((await post(bad, { request: 'x', decision: 'approve', form: 'x' })).status).to.equal(403);
      }
      expect((await fetch(`${server.url}/m/not-a-token`)).status).to.equal(404);
    });

    it('shows the recipient\'s own requests and access that ends, read-only, from the decision mail', async () => {
      const mail = (await mailsTo(people.repA)).find((m) => m.subject.startsWith('Access granted'));
      expect(mail, 'no decision mail').to.not.equal(undefined);
      const link = linkIn(mail!);
      const { page, status } = await openPage(link);
      expect(status).to.equal(200);
      expect(await page.locator('header p').textContent()).to.equal(`for ${UNAL}`);
      const row = page.locator('table').first().locator('tr', { hasText: 'role:ledger-reader' });
      expect(await row.locator('td').nth(3).textContent()).to.equal('approved');
      const ending = page.locator('table').nth(1).locator('tr', { hasText: 'role:ledger-reader' });
      expect(await ending.count()).to.equal(1);
      expect(await page.textContent('main')).to.include('an extension is a new request');
      expect(await page.locator('form').count()).to.equal(0);
      await page.close();
      // Nothing to decide: the page has no form, and a post is refused whatever it carries.
      const res = await post(link, { form: 'x' });
      expect(res.status).to.equal(405);
    });

    it('reviews from the campaign mail: tick an item, revoke it, and its grant is gone', async () => {
      // repA holds the role through the approved request; repA2 and repB get it directly.
      const granted = async (p: Person) => (await server.services.grants.grant({ identity: p.id, item: 'role:ledger-reader', source: 'manual', reason: 'setup' }, setup)).grant.id;
      const grantA2 = await granted(people.repA2);
      const grantB = await granted(people.repB);
      const campaign = await server.services.reviews.start('ledger-review', { identityId: people.mgrB.id, actor: 'test:setup' });
      const mails = (await mailsTo(people.mgrA)).filter((m) => `${m.subject}\n${m.text}`.includes('ledger-review'));
      expect(mails, 'no review mail to mgrA').to.have.length(1);
      const link = linkIn(mails[0]!);
      const { page, status } = await openPage(link);
      expect(status).to.equal(200);
      expect(await page.locator('header h1').textContent()).to.equal('Access review: ledger-review');
      const rows = page.locator('tbody tr');
      expect(await rows.count()).to.equal(2);
      const rowA = rows.filter({ hasText: people.repA.userName });
      expect(await rowA.locator('label').textContent()).to.equal(UNAL);
      const rowA2 = rows.filter({ hasText: people.repA2.userName });
      await rowA2.locator('input[type="checkbox"]').check();
      await page.locator('textarea[name="comment"]').fill('left the team');
      await page.locator('button[value="revoke"]').click();
      await page.waitForURL(/\?done=revoked&count=1$/);
      expect(await page.locator('.notice.done').textContent()).to.equal('Revoked 1 item.');
      expect(await page.locator('tbody tr').count()).to.equal(1);
      const left = await server.services.db.query<{ id: string }>('SELECT id FROM grants WHERE id IN (?, ?)', [grantA2, grantB]);
      expect(left.map((g) => g.id)).to.deep.equal([grantB]);

      // mgrA's link cannot decide mgrB's item in the same campaign.
      const itemsB = await server.services.reviews.itemsFor(people.mgrB.id, { campaignId: campaign.id, undecidedOnly: true }, { limit: 10 });
      const itemB = itemsB.items.find((i) => i.grantId === grantB);
      expect(itemB, 'no item for grantB').to.not.equal(undefined);
      // Alone, and hidden among mgrA's own: either way the whole decision is refused.
      const own = await server.services.reviews.itemsFor(people.mgrA.id, { campaignId: campaign.id, undecidedOnly: true }, { limit: 10 });
      for (const items of [[itemB!.id], [own.items[0]!.id, itemB!.id]]) {
        const res = await post(link, { item: items.map(String), decision: 'revoke', form: await proofOf(link) });
        expect(res.status).to.equal(403);
      }
      // Nor the recipient's own item of another campaign: a link opens one campaign.
      const other = await server.services.reviews.start('other-review', { identityId: people.mgrB.id, actor: 'test:setup' });
      const elsewhere = (await server.services.reviews.itemsFor(people.mgrA.id, { campaignId: other.id, undecidedOnly: true }, { limit: 10 })).items;
      expect(elsewhere).to.have.length(1);
      const res = await post(link, { item: String(elsewhere[0]!.id), decision: 'keep', form: await proofOf(link) });
      expect(res.status).to.equal(403);
      expect(await res.text()).to.include('not part of this campaign');
      expect((await server.services.reviews.itemsFor(people.mgrA.id, { campaignId: other.id, undecidedOnly: true }, { limit: 10 })).items).to.have.length(1);
      expect((await server.services.reviews.itemsFor(people.mgrA.id, { campaignId: campaign.id, undecidedOnly: true }, { limit: 10 })).items).to.have.length(1);
      expect((await server.services.db.query('SELECT id FROM grants WHERE id = ?', [grantB]))).to.have.length(1);
      const none = await post(link, { decision: 'keep', form: await proofOf(link) });
      expect(none.status).to.equal(422);
      // Paging goes by item id: past the last item there is nothing, with a way back to the first page.
      const past = await (await fetch(`${link}?after=${Number.MAX_SAFE_INTEGER}`)).text();
      expect(past).to.include('No more items on this page').and.include('First page');
      expect(await (await fetch(`${link}?after=0`)).text()).to.include(people.repA.userName);
      await page.close();
    });

    it('refuses an expired link with 410, to show and to decide', async () => {
      const link = await awaitingLink(people.mgrA);
      const proof = await proofOf(link);
      const pending = (await server.services.requests.awaiting(people.mgrA.id))[0]!;
      const start = clock.now().getTime();
      try {
        clock.set(start + 25 * HOUR);
        const { page, status } = await openPage(link);
        expect(status).to.equal(410);
        expect(await page.locator('.notice.refused').textContent()).to.include('expired');
        await page.close();
        expect((await post(link, { request: pending.id, decision: 'approve', form: proof })).status).to.equal(410);
        expect((await server.services.requests.get(pending.id)).status).to.equal('pending');
      } finally {
        clock.set(start);
      }
    });
  });
});
