import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import {
  createOwners, DAY, freshDepartment, freshName, grant, grantExists, itemRows, mailsTo, person, REVIEW_POLICY, reviewConfig,
  type TestPerson,
} from '../support/review-fixtures.js';
import { GovernanceError } from '../../src/governance/errors.js';
import type { Actor, CampaignView, ReviewItemView } from '../../src/governance/reviews/types.js';
import { contextOf } from '../../src/governance/reviews/item-writer.js';
import type { ReviewService } from '../../src/governance/reviews/service.js';
import type { Database } from '../../src/db/database.js';
import { TestClock } from '../support/clock.js';

/*
 * Review campaigns through the service, on a real server's wiring (grants provision through the
 * outbox to memory targets) and a clock the tests move. Each test defines its own campaign over a
 * department of its own, so campaigns of other tests never see its people.
 */
onEachDatabase('governance: review campaigns', (database) => {
  let server: TestServer;
  let reviews: ReviewService;
  let db: Database;
  const clock = new TestClock();
  let owners: Awaited<ReturnType<typeof createOwners>>;
  const admin: Actor = { identityId: null, actor: 'test:admin' };
  const as = (p: TestPerson, scopes?: string[]): Actor => ({ identityId: p.id, actor: `test:${p.userName}`, ...(scopes && { scopes }) });

  const define = async (definition: Record<string, unknown>, name = freshName()) => {
    await reviews.putDefinition(name, definition, { actor: 'test:admin' });
    return name;
  };
  const refusal = async (work: Promise<unknown>): Promise<GovernanceError> => {
    try {
      await work;
    } catch (err) {
      expect(err, (err as Error).stack).to.be.instanceOf(GovernanceError);
      return err as GovernanceError;
    }
    throw new Error('expected a GovernanceError');
  };
  const undecidedOf = async (reviewer: TestPerson, campaignId: string): Promise<ReviewItemView[]> =>
    (await reviews.itemsFor(reviewer.id, { campaignId, undecidedOnly: true }, { limit: 1000 })).items;

  /** A manager with two reports holding access, in a fresh department. */
  const team = async () => {
    const department = freshDepartment();
    const boss = await person(server.services, { department });
    const manager = await person(server.services, { department, manager: boss.id });
    const alice = await person(server.services, { department, manager: manager.id });
    const bob = await person(server.services, { department, manager: manager.id });
    return { department, boss, manager, alice, bob };
  };

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer(database().db, reviewConfig(), { clock: clock.now });
    await server.services.policyStore.replaceAll(REVIEW_POLICY, { actor: 'test:setup' });
    reviews = server.services.reviews;
    db = database().db;
    owners = await createOwners(server.services);
  });
  after(() => server?.close());

  describe('start', () => {
    it('makes one item per active identity and grant in force, for the manager, with where the access comes from', async () => {
      const { department, manager, alice, bob } = await team();
      const a1 = await grant(server.services, alice.id, 'role:accountant', { reason: 'month end' });
      const a2 = await grant(server.services, alice.id, 'ent:github/api', { source: 'request', sourceRef: 'REQ-9' });
      const b1 = await grant(server.services, bob.id, 'role:engineer', { validUntil: new Date(Date.now() + 400 * DAY).toISOString() });
      // not in force: starts next year; not active: carol left
      await grant(server.services, bob.id, 'ent:ldap/wiki', { validFrom: new Date(Date.now() + 365 * DAY).toISOString() });
      const carol = await person(server.services, { department, manager: manager.id });
      await grant(server.services, carol.id, 'role:engineer');
      await server.services.identities.update(carol.id, (doc) => ({ ...doc, active: false }), { actor: 'test:setup' });

      const name = await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 14 }] });
      const campaign = await reviews.start(name, as(owners.finance));
      expect(campaign).to.deep.include({ name, status: 'running', stage: 0, stages: 1, startedBy: `test:${owners.finance.userName}` });
      expect(campaign.counts).to.deep.include({ items: 3, undecided: 3, decided: 0 });
      expect(Date.parse(campaign.stageEnds) - clock.now().getTime()).to.equal(14 * DAY);

      const rows = await itemRows(db, campaign.id);
      expect(rows.map((r) => r.grant_id).sort()).to.deep.equal([a1, a2, b1].sort());
      expect(rows.every((r) => r.reviewer_id === manager.id && r.reviewer_reason === 'manager' && r.stage === 0)).to.equal(true);

      const items = await undecidedOf(manager, campaign.id);
      expect(items).to.have.length(3);
      const accountant = items.find((i) => i.grantId === a1)!;
      expect(accountant.identity).to.deep.include({ id: alice.id, userName: alice.userName });
      expect(accountant.reviewer).to.deep.equal({ id: manager.id, userName: manager.userName });
      expect(accountant.context).to.deep.include({ source: 'manual', sourceRef: '', grantedBy: 'test:granter', validUntil: null, sodConflicts: [] });
      expect(accountant.context.path).to.deep.equal(['role:accountant', 'role:finance-reader']);
      const requested = items.find((i) => i.grantId === a2)!.context;
      expect(requested).to.deep.include({ source: 'request', sourceRef: 'REQ-9' });
      expect(items.find((i) => i.grantId === b1)!.context.validUntil).to.be.a('string');

      // one mail to the manager, counting the items, with a signed link to the campaign
      const mails = await mailsTo(db, manager.id, 'review.started');
      expect(mails).to.have.length(1);
      expect(mails[0]!.subject).to.include('3 items to review');
      expect(mails[0]!.body_text).to.match(/\{\{baseUrl\}\}\/m\/[\w-]+\.[\w-]+/);
      // one audit event for the start, with counts
      const events = await db.query<{ actor: string; details: string }>("SELECT actor, details FROM audit_events WHERE action = 'review.start' AND target_id = ?", [campaign.id]);
      expect(events).to.have.length(1);
      expect(JSON.parse(events[0]!.details)).to.deep.include({ name, items: 3, identities: 2, reviewers: 1, unassigned: 0 });
    });

    it('lists the SoD conflicts an item takes part in', async () => {
      const { department, alice } = await team();
      // an approved exception lets the conflicting grants both be made
      await server.services.sodExceptions.create({ rule: 'pay-what-you-enter', identity: alice.id, reason: 'small office', approvedBy: 'cfo' }, { actor: 'test:setup' });
      const acc = await grant(server.services, alice.id, 'role:accountant');
      const pay = await grant(server.services, alice.id, 'role:payment-approver');
      const wiki = await grant(server.services, alice.id, 'ent:ldap/wiki');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] });
      const campaign = await reviews.start(name, admin);
      const rows = await itemRows(db, campaign.id);
      const context = (grantId: string) => { const row = rows.find((r) => r.grant_id === grantId)!; return contextOf(row.context, row.item); };
      expect(context(acc).sodConflicts).to.deep.equal([{ rule: 'pay-what-you-enter', items: ['role:accountant', 'ent:ldap/ap-clerks', 'role:payment-approver', 'ent:ldap/payment-approvers'] }]);
      expect(context(pay).sodConflicts.map((c) => c.rule)).to.deep.equal(['pay-what-you-enter']);
      expect(context(wiki).sodConflicts).to.deep.equal([]);
    });

    it('assigns role-owner items to the owner, and an owner\'s own access to their manager (nobody reviews themselves)', async () => {
      const { department, manager, alice } = await team();
      const aliceGrant = await grant(server.services, alice.id, 'role:finance-reader');
      // the finance owner, moved into this department for the test's scope, holds a role they own
      await server.services.identities.update(owners.finance.id, (doc) => ({ ...doc, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { ...(doc['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User'] as object), department } }), { actor: 'test:setup' });
      const ownGrant = await grant(server.services, owners.finance.id, 'role:accountant');
      // an entitlement has no role owner: its holder's manager reviews it
      const entGrant = await grant(server.services, alice.id, 'ent:github/api');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'role-owner', durationDays: 7 }] });
      const campaign = await reviews.start(name, admin);
      const byGrant = new Map((await itemRows(db, campaign.id)).map((r) => [r.grant_id, r]));
      expect(byGrant.get(aliceGrant)).to.include({ reviewer_id: owners.finance.id, reviewer_reason: 'role-owner' });
      const financeBoss = (await db.query<{ manager_id: string }>('SELECT manager_id FROM identities WHERE id = ?', [owners.finance.id]))[0]!.manager_id;
      expect(byGrant.get(ownGrant)).to.include({ reviewer_id: financeBoss, reviewer_reason: 'self-manager' });
      expect(byGrant.get(entGrant)).to.include({ reviewer_id: manager.id, reviewer_reason: 'manager' });
      await reviews.close(campaign.id, admin);
      await grant(server.services, owners.finance.id, 'role:finance-reader').catch(() => undefined);
      await server.services.grants.revoke(ownGrant, { actor: 'test:cleanup' });
    });

    it('assigns target-owner items to the owner of the item\'s target (a role: the target it reaches)', async () => {
      const { department, alice, bob } = await team();
      const eng = await grant(server.services, alice.id, 'role:engineer');
      const api = await grant(server.services, bob.id, 'ent:github/api');
      const wiki = await grant(server.services, bob.id, 'ent:ldap/wiki');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'target-owner', durationDays: 7 }] });
      const campaign = await reviews.start(name, admin);
      const byGrant = new Map((await itemRows(db, campaign.id)).map((r) => [r.grant_id, r]));
      expect(byGrant.get(eng)).to.include({ reviewer_id: owners.github.id, reviewer_reason: 'target-owner' });
      expect(byGrant.get(api)).to.include({ reviewer_id: owners.github.id, reviewer_reason: 'target-owner' });
      expect(byGrant.get(wiki)).to.include({ reviewer_id: owners.ldap.id, reviewer_reason: 'target-owner' });
      // a target-scoped campaign asks that target's owner about roles reaching it
      const ldapOnly = await define({ scope: { department, target: 'ldap' }, stages: [{ reviewer: 'target-owner', durationDays: 7 }] });
      const second = await reviews.start(ldapOnly, admin);
      const rows = await itemRows(db, second.id);
      expect(rows.map((r) => r.grant_id).sort()).to.deep.equal([eng, wiki].sort());
      expect(rows.every((r) => r.reviewer_id === owners.ldap.id)).to.equal(true);
    });

    it('assigns a people stage to the first named person; the others named may decide too; a third may not', async () => {
      const { department, manager, alice, bob } = await team();
      const g1 = await grant(server.services, alice.id, 'ent:ldap/wiki');
      const g2 = await grant(server.services, bob.id, 'ent:ldap/wiki');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'people', people: [owners.ldap.userName, owners.github.userName.toUpperCase()], durationDays: 7 }] });
      const campaign = await reviews.start(name, admin);
      const rows = await itemRows(db, campaign.id);
      expect(rows.every((r) => r.reviewer_id === owners.ldap.id && r.reviewer_reason === 'people')).to.equal(true);
      // the second named person sees the stage's items and may decide them
      expect((await undecidedOf(owners.github, campaign.id)).map((i) => i.grantId).sort()).to.deep.equal([g1, g2].sort());
      const [first, second] = rows;
      await reviews.decide([first!.id], { decision: 'keep' }, as(owners.github));
      const denied = await refusal(reviews.decide([second!.id], { decision: 'keep' }, as(manager)));
      expect(denied.kind).to.equal('forbidden');
      await reviews.decide([second!.id], { decision: 'keep', comment: 'ok' }, as(owners.ldap));
      expect((await itemRows(db, campaign.id)).map((r) => r.decided_by)).to.deep.equal([owners.github.id, owners.ldap.id]);
    });

    it('falls back to the starter, then to nobody (unassigned), when no reviewer resolves', async () => {
      const department = freshDepartment();
      const loner = await person(server.services, { department });
      const g = await grant(server.services, loner.id, 'ent:ldap/wiki');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] });
      const started = await reviews.start(name, as(owners.ldap));
      expect((await itemRows(db, started.id))[0]).to.include({ grant_id: g, reviewer_id: owners.ldap.id, reviewer_reason: 'starter' });
      await reviews.close(started.id, admin);
      const scheduled = await reviews.startScheduled(name);
      const rows = await itemRows(db, scheduled!.id);
      expect(rows[0]).to.include({ reviewer_id: '', reviewer_reason: 'unassigned' });
      // an unassigned item: only an iam-admin token may decide it
      expect((await refusal(reviews.decide([rows[0]!.id], { decision: 'keep' }, as(owners.ldap)))).kind).to.equal('forbidden');
      expect(await reviews.decide([rows[0]!.id], { decision: 'keep' }, { identityId: null, actor: 'token:admin', scopes: ['iam-admin'] })).to.deep.include({ decided: 1 });
    });

    it('filters by department, role, target and grant source (birthright only when asked)', async () => {
      const { department, alice, bob } = await team();
      const acc = await grant(server.services, alice.id, 'role:accountant');
      const eng = await grant(server.services, bob.id, 'role:engineer');
      const api = await grant(server.services, bob.id, 'ent:github/api', { source: 'request', sourceRef: 'R-1' });
      const elsewhere = await team();
      await grant(server.services, elsewhere.alice.id, 'role:accountant');
      const started = async (scope: Record<string, unknown>) => {
        const campaign = await reviews.start(await define({ scope, stages: [{ reviewer: 'manager', durationDays: 7 }] }), admin);
        return (await itemRows(db, campaign.id)).map((r) => r.grant_id).sort();
      };
      expect(await started({ department })).to.deep.equal([acc, eng, api].sort());
      expect(await started({ department, role: 'role:accountant' })).to.deep.equal([acc]);
      expect(await started({ department, role: 'engineer' })).to.deep.equal([eng]);
      expect(await started({ department, target: 'github' })).to.deep.equal([eng, api].sort());
      expect(await started({ department, sources: ['request'] })).to.deep.equal([api]);
      // role scope over every department: this department's holder and the other one's
      const everywhere = await started({ role: 'role:accountant' });
      expect(everywhere).to.include(acc);
      expect(everywhere.length).to.be.at.least(2);
      // birthright access is left out unless the scope names it
      const born = await person(server.services, { department: 'birthright' });
      const birthright = (await db.query<{ id: string }>("SELECT id FROM grants WHERE identity_id = ? AND source = 'birthright'", [born.id])).map((r) => r.id);
      expect(birthright).to.have.length(1);
      expect(await started({ department: 'birthright' })).to.deep.equal([]);
      // (other tests put people in the 'birthright' department too)
      const everyBirthright = (await db.query<{ id: string }>(
        "SELECT g.id FROM grants g JOIN identities i ON i.id = g.identity_id WHERE i.department = 'birthright' AND i.active = 1 AND g.source = 'birthright'")).map((r) => r.id).sort();
      expect(everyBirthright).to.include(birthright[0]);
      expect(await started({ department: 'birthright', sources: ['birthright'] })).to.deep.equal(everyBirthright);
      expect((await refusal(started({ role: 'role:no-such-role' }))).kind).to.equal('invalid');
      expect((await refusal(started({ target: 'no-such-target' }))).kind).to.equal('invalid');
    });

    it('refuses a second campaign of a definition while one runs, and an unknown definition', async () => {
      const { department, alice } = await team();
      await grant(server.services, alice.id, 'ent:ldap/wiki');
      const name = await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] });
      const first = await reviews.start(name, admin);
      const again = await refusal(reviews.start(name, admin));
      expect(again.kind).to.equal('conflict');
      expect(again.message).to.include(first.id);
      expect(await reviews.startScheduled(name)).to.equal(null);
      expect((await refusal(reviews.start('no-such-definition', admin))).kind).to.equal('notFound');
      await reviews.close(first.id, admin);
      expect((await reviews.start(name, admin)).status).to.equal('running');
    });

    it('fails a start that stopped half way (tick, an hour later): marked failed, items deleted', async () => {
      const id = `00000000-0000-4000-8000-${Date.now().toString().slice(-12)}`;
      const snapshot = { definition: { scope: {}, stages: [{ reviewer: 'manager', durationDays: 7 }], reminderDays: [], undecided: 'keep', applyImmediately: true }, source: 'api', starterId: null };
      await db.execute("INSERT INTO review_campaigns (id, name, status, stage, stages, definition, started_by, started, stage_ends) VALUES (?, ?, 'starting', 0, 1, ?, 'test', ?, ?)",
        [id, freshName('crashed'), JSON.stringify(snapshot), clock.now().toISOString(), new Date(clock.now().getTime() + 7 * DAY).toISOString()]);
      await db.execute("INSERT INTO review_items (campaign_id, stage, identity_id, grant_id, item, reviewer_id, reviewer_reason) VALUES (?, 0, 'x', 'g', 'role:engineer', 'r', 'manager')", [id]);
      await reviews.tick();
      expect((await reviews.get(id)).status).to.equal('starting');
      clock.advanceDays(1);
      await reviews.tick();
      const failed = await reviews.get(id);
      expect(failed.status).to.equal('failed');
      expect(failed.error).to.include('did not finish');
      expect(await itemRows(db, id)).to.deep.equal([]);
    });
  });

  describe('decisions', () => {
    let campaign: CampaignView;
    let t: Awaited<ReturnType<typeof team>>;
    const grants: Record<string, string> = {};

    beforeEach(async () => {
      t = await team();
      grants.aliceEng = await grant(server.services, t.alice.id, 'role:engineer');
      grants.aliceWiki = await grant(server.services, t.alice.id, 'ent:ldap/wiki');
      grants.bobEng = await grant(server.services, t.bob.id, 'role:engineer');
      grants.bobApi = await grant(server.services, t.bob.id, 'ent:github/api');
      campaign = await reviews.start(await define({ scope: { department: t.department }, stages: [{ reviewer: 'manager', durationDays: 7 }] }), admin);
    });

    it('keeps items in bulk, audited once with the item ids', async () => {
      const items = await undecidedOf(t.manager, campaign.id);
      const ids = items.map((i) => i.id);
      expect(await reviews.decide(ids, { decision: 'keep', comment: 'all fine' }, as(t.manager))).to.deep.equal({ decided: 4, revoked: 0, failed: 0 });
      expect(await undecidedOf(t.manager, campaign.id)).to.deep.equal([]);
      const all = (await reviews.itemsFor(t.manager.id, { campaignId: campaign.id }, { limit: 10 })).items;
      expect(all.every((i) => i.decision === 'keep' && i.comment === 'all fine' && i.decidedBy === t.manager.id)).to.equal(true);
      const events = await db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'review.decide' AND target_id = ?", [campaign.id]);
      expect(events).to.have.length(1);
      expect(JSON.parse(events[0]!.details)).to.deep.include({ decision: 'keep', count: 4, items: ids, decidedBy: t.manager.id });
      // pages follow each other by id
      const first = await reviews.itemsFor(t.manager.id, { campaignId: campaign.id }, { limit: 3 });
      const rest = await reviews.itemsFor(t.manager.id, { campaignId: campaign.id }, { limit: 3, after: first.next! });
      expect([...first.items, ...rest.items].map((i) => i.id)).to.deep.equal(ids);
      expect(rest.next).to.equal(undefined);
    });

    it('revokes: the grant goes and deprovisioning is queued in the outbox', async () => {
      await server.services.outbox.drain();
      const items = await undecidedOf(t.manager, campaign.id);
      const eng = items.find((i) => i.grantId === grants.aliceEng)!;
      const reviewer = { ...as(t.manager), actor: `test:revoker-${t.manager.id.slice(0, 8)}` };
      expect(await reviews.decide([eng.id], { decision: 'revoke', comment: 'moved teams' }, reviewer)).to.deep.equal({ decided: 1, revoked: 1, failed: 0 });
      expect(await grantExists(db, grants.aliceEng!)).to.equal(false);
      const ops = await db.query<{ target: string; op: string }>("SELECT target, op FROM outbox WHERE identity_id = ? AND status = 'pending' AND cause = ?", [t.alice.id, reviewer.actor]);
      expect([...new Set(ops.map((o) => o.target))].sort()).to.deep.equal(['github', 'ldap']);
      const revoked = await db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE action = 'grant.revoke' AND target_id = ?", [grants.aliceEng]);
      expect(revoked.map((r) => r.actor)).to.deep.equal([reviewer.actor]);
      await server.services.outbox.drain();
    });

    it('refuses others (403), a second decision (409), unknown items (404), all or nothing', async () => {
      const items = await undecidedOf(t.manager, campaign.id);
      const ids = items.map((i) => i.id);
      expect((await refusal(reviews.decide(ids, { decision: 'keep' }, as(t.alice)))).kind).to.equal('forbidden');
      expect((await refusal(reviews.decide(ids, { decision: 'keep' }, as(t.boss)))).kind).to.equal('forbidden');
      expect((await refusal(reviews.decide(ids, { decision: 'keep' }, { identityId: null, actor: 'token:system' }))).kind).to.equal('forbidden');
      expect((await refusal(reviews.decide([...ids, 999_999_999], { decision: 'keep' }, as(t.manager)))).kind).to.equal('notFound');
      await reviews.decide([ids[0]!], { decision: 'keep' }, as(t.manager));
      const twice = await refusal(reviews.decide(ids, { decision: 'revoke' }, as(t.manager)));
      expect(twice.kind).to.equal('conflict');
      // nothing of the refused call happened
      expect((await undecidedOf(t.manager, campaign.id)).map((i) => i.id)).to.deep.equal(ids.slice(1));
      expect(await grantExists(db, grants.bobApi!)).to.equal(true);
    });

    it('refuses decisions once the campaign is closed (409)', async () => {
      const items = await undecidedOf(t.manager, campaign.id);
      await reviews.close(campaign.id, admin);
      expect((await refusal(reviews.decide([items[0]!.id], { decision: 'keep' }, as(t.manager)))).kind).to.equal('conflict');
      expect((await refusal(reviews.close(campaign.id, admin))).kind).to.equal('conflict');
    });
  });

  it('refuses to revoke birthright access (422)', async () => {
    const manager = await person(server.services, { department: freshDepartment() });
    const born = await person(server.services, { department: 'birthright', manager: manager.id });
    const campaign = await reviews.start(await define({ scope: { department: 'birthright', sources: ['birthright'] }, stages: [{ reviewer: 'manager', durationDays: 7 }] }), admin);
    const item = (await itemRows(db, campaign.id)).find((r) => r.identity_id === born.id)!;
    const refused = await refusal(reviews.decide([item.id], { decision: 'revoke' }, as(manager)));
    expect(refused.kind).to.equal('invalid');
    expect(refused.message).to.include('birthright');
    expect(await grantExists(db, item.grant_id)).to.equal(true);
    await reviews.close(campaign.id, admin);
  });

  it('runs three stages as the clock moves: kept items go on, revoked and undecided ones stop', async () => {
    const { department, manager, alice, bob } = await team();
    const acc = await grant(server.services, alice.id, 'role:accountant');
    const reader = await grant(server.services, bob.id, 'role:finance-reader');
    const wiki = await grant(server.services, bob.id, 'ent:ldap/wiki');
    const api = await grant(server.services, alice.id, 'ent:github/api');
    const name = await define({
      scope: { department },
      stages: [
        { reviewer: 'manager', durationDays: 5 },
        { reviewer: 'role-owner', durationDays: 5 },
        { reviewer: 'people', people: [owners.github.userName], durationDays: 5 },
      ],
      undecided: 'keep',
    });
    const campaign = await reviews.start(name, admin);
    const stage0 = await undecidedOf(manager, campaign.id);
    const id0 = (grantId: string) => stage0.find((i) => i.grantId === grantId)!.id;
    await reviews.decide([id0(acc), id0(reader), id0(api)], { decision: 'keep' }, as(manager));
    // wiki stays undecided: it stops after stage 1 and is kept at close (the outcome)

    clock.advanceDays(4);
    expect((await reviews.tick()).advanced).to.equal(0);
    clock.advanceDays(1);
    const ticked = await reviews.tick();
    expect(ticked.advanced).to.be.at.least(1);
    let view = await reviews.get(campaign.id);
    expect(view).to.deep.include({ stage: 1, status: 'running' });
    expect(Date.parse(view.stageEnds) - clock.now().getTime()).to.equal(5 * DAY);
    const stage1 = (await itemRows(db, campaign.id)).filter((r) => r.stage === 1);
    expect(stage1.map((r) => r.grant_id).sort()).to.deep.equal([acc, reader, api].sort());
    expect(stage1.find((r) => r.grant_id === acc)).to.include({ reviewer_id: owners.finance.id, reviewer_reason: 'role-owner' });
    // an entitlement has no role owner: the holder's manager
    expect(stage1.find((r) => r.grant_id === api)).to.include({ reviewer_id: manager.id, reviewer_reason: 'manager' });
    expect(await mailsTo(db, owners.finance.id, 'review.started')).to.satisfy((m: Array<{ dedupe_key: string }>) => m.some((x) => x.dedupe_key.includes(`${campaign.id}:1:started`)));
    // the manager's stage-0 items cannot be decided any more
    expect((await refusal(reviews.decide([id0(wiki)], { decision: 'keep' }, as(manager)))).kind).to.equal('conflict');

    const fin = (await undecidedOf(owners.finance, campaign.id)).filter((i) => i.stage === 1);
    await reviews.decide([fin.find((i) => i.grantId === reader)!.id], { decision: 'revoke' }, as(owners.finance));
    expect(await grantExists(db, reader)).to.equal(false);
    await reviews.decide([fin.find((i) => i.grantId === acc)!.id], { decision: 'keep' }, as(owners.finance));
    await reviews.decide([stage1.find((r) => r.grant_id === api)!.id], { decision: 'keep' }, as(manager));

    clock.advanceDays(5);
    await reviews.tick();
    view = await reviews.get(campaign.id);
    expect(view.stage).to.equal(2);
    const stage2 = (await itemRows(db, campaign.id)).filter((r) => r.stage === 2);
    expect(stage2.map((r) => r.grant_id).sort()).to.deep.equal([acc, api].sort());
    expect(stage2.every((r) => r.reviewer_id === owners.github.id && r.reviewer_reason === 'people')).to.equal(true);
    await reviews.decide([stage2.find((r) => r.grant_id === api)!.id], { decision: 'revoke', comment: 'not needed' }, as(owners.github));
    expect(await grantExists(db, api)).to.equal(false);

    clock.advanceDays(5);
    expect((await reviews.tick()).closed).to.be.at.least(1);
    view = await reviews.get(campaign.id);
    expect(view.status).to.equal('closed');
    // acc undecided at the last stage and wiki undecided at the first: both kept by the outcome
    expect(view.summary).to.deep.include({ reviewed: 4, kept: 2, revoked: 2, open: 0, dropped: 0, undecidedOutcome: 'keep', decidedAtClose: 2, stagesRun: 3 });
    expect(view.summary!.revocations).to.deep.include({ applied: 2, failed: 0 });
    expect(await grantExists(db, acc)).to.equal(true);
    expect(await grantExists(db, wiki)).to.equal(true);
    const closedRows = await itemRows(db, campaign.id);
    expect(closedRows.filter((r) => r.decided_by === 'system:review-close').map((r) => `${r.stage}:${r.grant_id}`).sort()).to.deep.equal([`0:${wiki}`, `2:${acc}`].sort());
  });

  it('reminds each reviewer once per reminder day, and only while they have undecided items', async () => {
    const { department, manager, alice, bob } = await team();
    await grant(server.services, alice.id, 'ent:ldap/wiki');
    const g = await grant(server.services, bob.id, 'ent:ldap/wiki');
    const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 10 }], reminderDays: [3, 1] }), admin);
    await reviews.tick();
    expect(await mailsTo(db, manager.id, 'review.reminder')).to.deep.equal([]);
    clock.advanceDays(7);
    await reviews.tick();
    await reviews.tick();
    let reminders = await mailsTo(db, manager.id, 'review.reminder');
    expect(reminders).to.have.length(1);
    expect(reminders[0]!.subject).to.include('2 items');
    expect(reminders[0]!.dedupe_key).to.equal(`review:${campaign.id}:0:reminder:3:${manager.id}`);
    const items = await undecidedOf(manager, campaign.id);
    await reviews.decide([items.find((i) => i.grantId === g)!.id], { decision: 'keep' }, as(manager));
    clock.advanceDays(2);
    await reviews.tick();
    await reviews.tick();
    reminders = await mailsTo(db, manager.id, 'review.reminder');
    expect(reminders).to.have.length(2);
    expect(reminders[1]!.subject).to.include('1 item ');
    await reviews.decide([items.find((i) => i.grantId !== g)!.id], { decision: 'keep' }, as(manager));
    await reviews.close(campaign.id, admin);
  });

  it('escalates undecided items to the reviewer\'s manager once, with one mail', async () => {
    const { department, boss, manager, alice, bob } = await team();
    await grant(server.services, alice.id, 'ent:ldap/wiki');
    await grant(server.services, bob.id, 'ent:ldap/wiki');
    const decidedGrant = await grant(server.services, bob.id, 'ent:github/api');
    const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 10 }], escalationDays: 3 }), admin);
    const items = await undecidedOf(manager, campaign.id);
    await reviews.decide([items.find((i) => i.grantId === decidedGrant)!.id], { decision: 'keep' }, as(manager));
    clock.advanceDays(2);
    await reviews.tick();
    expect((await itemRows(db, campaign.id)).filter((r) => r.reviewer_id === boss.id)).to.deep.equal([]);
    clock.advanceDays(1);
    const first = await reviews.tick();
    expect(first.escalated).to.be.at.least(2);
    const rows = await itemRows(db, campaign.id);
    expect(rows.filter((r) => r.reviewer_id === boss.id && r.reviewer_reason === 'escalated')).to.have.length(2);
    expect(rows.find((r) => r.grant_id === decidedGrant)).to.include({ reviewer_id: manager.id });
    const mails = await mailsTo(db, boss.id, 'review.escalated');
    expect(mails).to.have.length(1);
    expect(mails[0]!.subject).to.include('2 items escalated');
    // the manager no longer holds them; the boss does, and decides
    expect(await undecidedOf(manager, campaign.id)).to.deep.equal([]);
    expect((await refusal(reviews.decide([rows[0]!.id], { decision: 'keep' }, as(manager)))).kind).to.equal('forbidden');
    clock.advanceDays(1);
    await reviews.tick();
    // once: escalated items do not climb further
    expect((await itemRows(db, campaign.id)).filter((r) => r.reviewer_reason === 'escalated').every((r) => r.reviewer_id === boss.id)).to.equal(true);
    expect(await mailsTo(db, boss.id, 'review.escalated')).to.have.length(1);
    await reviews.decide((await undecidedOf(boss, campaign.id)).map((i) => i.id), { decision: 'keep' }, as(boss));
    await reviews.close(campaign.id, admin);
  });

  describe('close with each undecided outcome', () => {
    const run = async (undecided: 'keep' | 'revoke' | 'open', applyImmediately = true) => {
      const { department, manager, alice, bob } = await team();
      const decided = await grant(server.services, alice.id, 'ent:ldap/wiki');
      const left = await grant(server.services, bob.id, 'ent:ldap/wiki');
      const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }], undecided, applyImmediately }), admin);
      const items = await undecidedOf(manager, campaign.id);
      await reviews.decide([items.find((i) => i.grantId === decided)!.id], { decision: 'revoke' }, as(manager));
      const closed = await reviews.close(campaign.id, { identityId: null, actor: 'test:closer' });
      return { decided, left, closed, rows: await itemRows(db, campaign.id) };
    };

    it('keep: undecided items are kept by system:review-close', async () => {
      const { left, closed, rows } = await run('keep');
      expect(closed.status).to.equal('closed');
      expect(rows.find((r) => r.grant_id === left)).to.include({ decision: 'keep', decided_by: 'system:review-close' });
      expect(await grantExists(db, left)).to.equal(true);
      expect(closed.summary).to.deep.include({ reviewed: 2, kept: 1, revoked: 1, open: 0, decidedAtClose: 1, closedBy: 'test:closer' });
      const events = await db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE action = 'review.close' AND target_id = ?", [closed.id]);
      expect(events.map((e) => e.actor)).to.deep.equal(['test:closer']);
    });

    it('revoke: undecided items are revoked, and their grants removed', async () => {
      const { left, closed, rows } = await run('revoke');
      expect(rows.find((r) => r.grant_id === left)).to.include({ decision: 'revoke', decided_by: 'system:review-close' });
      expect(await grantExists(db, left)).to.equal(false);
      expect(closed.summary).to.deep.include({ reviewed: 2, kept: 0, revoked: 2, open: 0 });
      expect(closed.summary!.revocations).to.deep.include({ applied: 2, failed: 0 });
    });

    it('open: undecided items stay undecided and are counted', async () => {
      const { left, closed, rows } = await run('open');
      expect(rows.find((r) => r.grant_id === left)).to.include({ decision: null });
      expect(await grantExists(db, left)).to.equal(true);
      expect(closed.summary).to.deep.include({ reviewed: 2, kept: 0, revoked: 1, open: 1, decidedAtClose: 0 });
    });

    it('applyImmediately false: a revoke decision removes the grant only at close', async () => {
      const { department, manager, alice } = await team();
      const g = await grant(server.services, alice.id, 'ent:ldap/wiki');
      const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }], applyImmediately: false }), admin);
      const [item] = await undecidedOf(manager, campaign.id);
      expect(await reviews.decide([item!.id], { decision: 'revoke' }, as(manager))).to.deep.equal({ decided: 1, revoked: 0, failed: 0 });
      expect(await grantExists(db, g)).to.equal(true);
      const closed = await reviews.close(campaign.id, admin);
      expect(await grantExists(db, g)).to.equal(false);
      expect(closed.summary!.revocations).to.deep.include({ applied: 1, failed: 0 });
    });
  });

  it('reports completion per reviewer, every decision, and revocations carried out (CSV and JSON)', async () => {
    const { department, manager, alice, bob } = await team();
    const kept = await grant(server.services, alice.id, 'ent:ldap/wiki');
    const revoked = await grant(server.services, bob.id, 'ent:ldap/wiki');
    await grant(server.services, bob.id, 'ent:github/api');
    const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] }), admin);
    const items = await undecidedOf(manager, campaign.id);
    await reviews.decide([items.find((i) => i.grantId === kept)!.id], { decision: 'keep', comment: 'needs it, "daily"' }, as(manager));
    await reviews.decide([items.find((i) => i.grantId === revoked)!.id], { decision: 'revoke' }, as(manager));

    let csv = '';
    for await (const line of await reviews.report(campaign.id, 'csv')) csv += line;
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).to.equal('item_id,stage,identity_id,user_name,display_name,item,grant_id,source,reviewer,reviewer_reason,decision,decided_by,decided_at,comment,revocation');
    expect(lines).to.have.length(4);
    const keptLine = lines.find((l) => l.includes(kept))!;
    expect(keptLine).to.include(`,${alice.userName},`);
    expect(keptLine).to.include(`,ent:ldap/wiki,${kept},manual,${manager.userName},manager,keep,${manager.userName},`);
    expect(keptLine).to.include(',"needs it, ""daily""",');
    expect(lines.find((l) => l.includes(revoked))).to.match(/,revoke,.*,applied$/);
    expect(lines.find((l) => l.includes('ent:github/api'))).to.match(/,,,,,$/);

    let text = '';
    for await (const part of await reviews.report(campaign.id, 'json')) text += part;
    const report = JSON.parse(text) as { campaign: CampaignView; reviewers: Array<Record<string, unknown>>; revocations: Record<string, number>; decisions: Array<Record<string, unknown>> };
    expect(report.campaign.id).to.equal(campaign.id);
    expect(report.campaign.counts).to.deep.include({ items: 3, kept: 1, revoked: 1, undecided: 1 });
    expect(report.reviewers).to.deep.equal([{ reviewer: { id: manager.id, userName: manager.userName }, assigned: 3, decided: 2, kept: 1, revoked: 1 }]);
    expect(report.revocations).to.deep.equal({ decided: 1, applied: 1, pending: 0 });
    expect(report.decisions).to.have.length(3);
    expect(report.decisions.find((d) => d.grantId === revoked)).to.deep.include({ decision: 'revoke', revocation: 'applied', decidedBy: manager.userName });
    await reviews.close(campaign.id, admin);
  });

  it('gives a leaving reviewer\'s undecided items to their manager, with one mail', async () => {
    const { department, boss, manager, alice, bob } = await team();
    await grant(server.services, alice.id, 'ent:ldap/wiki');
    await grant(server.services, bob.id, 'ent:ldap/wiki');
    const decidedGrant = await grant(server.services, bob.id, 'ent:github/api');
    const campaign = await reviews.start(await define({ scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] }), admin);
    const items = await undecidedOf(manager, campaign.id);
    await reviews.decide([items.find((i) => i.grantId === decidedGrant)!.id], { decision: 'keep' }, as(manager));
    await db.transaction((tx) => reviews.leaversLeft(tx, [manager.id], { actor: 'test:jml' }));
    const rows = await itemRows(db, campaign.id);
    expect(rows.filter((r) => r.decision === null).every((r) => r.reviewer_id === boss.id && r.reviewer_reason === 'reassigned')).to.equal(true);
    expect(rows.find((r) => r.grant_id === decidedGrant)).to.include({ reviewer_id: manager.id, decision: 'keep' });
    const mails = await mailsTo(db, boss.id, 'review.reassigned');
    expect(mails).to.have.length(1);
    expect(mails[0]!.subject).to.include('2 items reassigned');
    const events = await db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'review.reassign' AND target_id = ?", [campaign.id]);
    expect(JSON.parse(events[0]!.details)).to.deep.include({ items: 2, from: [manager.id], to: [boss.id] });
    await reviews.decide((await undecidedOf(boss, campaign.id)).map((i) => i.id), { decision: 'keep' }, as(boss));
  });

  it('lists scheduled definitions: the config\'s and stored ones', async () => {
    const name = await define({ scope: { department: freshDepartment() }, stages: [{ reviewer: 'manager', durationDays: 7 }], schedule: '0 6 1 */3 *' });
    expect(reviews.scheduledDefinitions()).to.deep.include({ name, schedule: '0 6 1 */3 *' });
    expect(await reviews.refreshScheduled()).to.deep.include({ name, schedule: '0 6 1 */3 *' });
    await reviews.deleteDefinition(name, { actor: 'test:admin' });
    expect(reviews.scheduledDefinitions().map((s) => s.name)).to.not.include(name);
  });
});
