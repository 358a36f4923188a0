import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { configWith } from '../../src/config/index.js';
import { GovernanceError } from '../../src/governance/errors.js';
import type { Actor } from '../../src/governance/actor.js';
import { closeServices, createServices, type AppServices } from '../../src/http/app.js';
import { createLogger } from '../../src/log/logger.js';
import { loadCatalog } from '../../src/policy/catalog.js';
import { onEachDatabase } from '../support/databases.js';
import { governanceFixtures, type GovernanceFixtures, type Person } from '../support/governance-fixtures.js';

const DAY = 86_400_000;
const SETUP = { actor: 'test:setup' };

/** The GovernanceError a promise is refused with. */
async function refusal(work: Promise<unknown>, kind?: GovernanceError['kind']): Promise<GovernanceError> {
  try {
    await work;
  } catch (err) {
    expect(err, (err as Error).stack).to.be.instanceOf(GovernanceError);
    if (kind) expect((err as GovernanceError).kind, (err as Error).message).to.equal(kind);
    return err as GovernanceError;
  }
  throw new Error('expected a GovernanceError');
}

/*
 * Access requests end to end below the HTTP layer, on real databases: approval chains resolved
 * stage by stage, the people who may and may not decide, delegation, escalation and expiry with a
 * moved clock, separation of duties at request and at approval, the grant an approval makes and
 * the provisioning it queues, mail, leavers.
 */
onEachDatabase('governance: access requests', (database) => {
  const suffix = randomBytes(3).toString('hex');
  const userName = (local: string) => `${local}.${suffix}@example.com`;
  const financeGroup = `Finance Approvers ${suffix}`;
  let now = new Date();
  let services: AppServices;
  let f: GovernanceFixtures;
  const people: Record<string, Person> = {};
  const as = (p: Person, scopes?: string[]): Actor => ({ identityId: p.id, actor: `test:${p.userName}`, ...(scopes && { scopes }) });
  const db = () => database().db;

  const mails = async (recipient: Person, kind: string) => db().query<{ subject: string; body_text: string; dedupe_key: string | null; address: string }>(
    'SELECT subject, body_text, dedupe_key, address FROM mail_outbox WHERE recipient_id = ? AND kind = ? ORDER BY id', [recipient.id, kind]);
  const tasks = async (requestId: string) => db().query<{ approver_id: string; stage: number | string; reason: string; status: string; on_behalf_of: string | null; escalate_at: string | null }>(
    'SELECT approver_id, stage, reason, status, on_behalf_of, escalate_at FROM approval_tasks WHERE request_id = ? ORDER BY stage, created, id', [requestId]);
  const audit = async (requestId: string) => (await db().query<{ action: string }>(
    "SELECT action FROM audit_events WHERE target_type = 'accessRequest' AND target_id = ? ORDER BY id", [requestId])).map((r) => r.action);
  /** A fresh person reporting to `manager`. */
  const report = (manager: Person, extra: Parameters<GovernanceFixtures['createPerson']>[0] = {}) => f.createPerson({ manager, department: 'Finance', ...extra });

  before(async function () {
    this.timeout(60_000);
    const config = configWith({
      logLevel: 'silent',
      targets: { mem: { connector: 'memory' } },
      governance: {
        requestExpiryDays: 14, escalationDays: 3, expiryNoticeDays: 7, managersRequestForReports: true,
        defaultChain: [{ approver: 'manager' }, { approver: 'role-owner' }],
        chains: {
          'role:pair': [{ approver: 'people', people: [userName('pone'), userName('ptwo')] }],
          'ent:mem/finance': [{ approver: 'group', group: financeGroup }],
          'role:solo': [{ approver: 'manager' }],
          'role:target-owned': [{ approver: 'target-owner' }],
          'role:late-manager': [{ approver: 'role-owner' }, { approver: 'manager' }],
        },
        targetOwners: { mem: userName('targetowner') },
      },
    });
    services = await createServices(config, db(), createLogger('silent'), { clock: () => now });
    f = governanceFixtures(services, suffix);
    people.director = await f.createPerson({ userName: 'director' });
    people.mgr = await f.createPerson({ userName: 'mgr', manager: people.director });
    people.owner = await f.createPerson({ userName: 'owner' });
    people.ciso = await f.createPerson({ userName: 'ciso' });
    people.deputy = await f.createPerson({ userName: 'deputy' });
    people.stranger = await f.createPerson({ userName: 'stranger' });
    people.pone = await f.createPerson({ userName: 'pone' });
    people.ptwo = await f.createPerson({ userName: 'ptwo' });
    people.targetowner = await f.createPerson({ userName: 'targetowner' });
    people.finA = await f.createPerson({ userName: 'fina' });
    people.finB = await f.createPerson({ userName: 'finb' });
    people.finSilent = await f.createPerson({ userName: 'finsilent', email: null });
    await f.createGroup(financeGroup, [people.finA, people.finB, people.finSilent]);

    await f.createTarget('mem');
    for (const key of ['staff', 'finance', 'payments', 'clerks', 'ledger', 'treasury', 'secret']) {
      await f.createEntitlement({ target: 'mem', key, kind: 'group', requestable: key !== 'secret' });
    }
    const owner = people.owner;
    await f.createRole({ name: 'finance-reader', owner, entitlements: ['mem/finance'], maxDurationDays: 90 });
    await f.createRole({ name: 'payer', owner, entitlements: ['mem/payments'], maxDurationDays: 30 });
    await f.createRole({ name: 'clerk', owner, entitlements: ['mem/clerks'] });
    await f.createRole({ name: 'ledger', owner, entitlements: ['mem/ledger'] });
    await f.createRole({ name: 'treasury', owner, entitlements: ['mem/treasury'] });
    await f.createRole({ name: 'secret', owner, requestable: false, entitlements: ['mem/secret'] });
    await f.createRole({ name: 'pair', owner, entitlements: ['mem/staff'] });
    await f.createRole({ name: 'solo', owner, entitlements: ['mem/staff'] });
    await f.createRole({ name: 'orphan', entitlements: ['mem/staff'] });
    await f.createRole({ name: 'target-owned', entitlements: ['mem/staff'] });
    await f.createRole({ name: 'late-manager', owner, entitlements: ['mem/staff'] });
    await f.createSodRule({ name: 'clerk-payer', owner: people.ciso, left: { items: ['role:clerk'] }, right: { items: ['role:payer'] } });
    await f.createSodRule({ name: 'ledger-treasury', left: { items: ['role:ledger'] }, right: { items: ['role:treasury'] } });
  });
  after(async () => {
    if (services) await closeServices(services);
  });
  beforeEach(() => {
    now = new Date();
  });

  it('stores an SoD rule\'s owner, reads it back from the catalogue, and forgets it when a put leaves it out', async () => {
    const rule = { name: `owned-${suffix}`, left: { items: ['role:clerk'] }, right: { items: ['role:ledger'] } };
    await services.policyStore.putSodRule({ ...rule, owner: people.ciso.userName }, SETUP);
    expect((await services.policyStore.getSodRule(rule.name)).owner).to.equal(people.ciso.userName);
    expect((await loadCatalog(db())).sodRules.get(rule.name)!.owner).to.equal(people.ciso.userName);
    await services.policyStore.putSodRule(rule, SETUP);
    expect((await services.policyStore.getSodRule(rule.name)).owner).to.equal(undefined);
    const [row] = await db().query<{ owner: string | null }>('SELECT owner FROM sod_rules WHERE name = ?', [rule.name]);
    expect(row!.owner).to.equal(null);
    await services.policyStore.deleteSodRule(rule.name, SETUP);
  });

  it('walks a two-stage chain (manager, then role owner) to a time-bound grant that provisioning follows', async () => {
    const alice = await report(people.mgr, { userName: 'alice' });
    const { created, request } = await services.requests.create({ item: 'role:finance-reader', justification: 'quarter close', durationDays: 7 }, as(alice));
    expect(created).to.equal(true);
    expect(request).to.deep.include({ status: 'pending', item: 'role:finance-reader', stage: 0, durationDays: 7, grantId: null });
    expect(request.beneficiary).to.deep.equal({ id: alice.id, userName: alice.userName });
    expect(request.stages.map((s) => [s.approver, s.status, s.approvers])).to.deep.equal([
      ['manager', 'open', [people.mgr.userName]], ['role-owner', 'waiting', []],
    ]);
    expect(Date.parse(request.expiresAt) - now.getTime()).to.equal(14 * DAY);
    const [managerMail] = await mails(people.mgr, 'request.awaiting');
    expect(managerMail!.address).to.equal(people.mgr.email);
    expect(managerMail!.body_text).to.include(request.id).and.include('quarter close').and.match(/\{\{baseUrl\}\}\/m\/[\w-]+\.[\w-]+/);
    expect(await services.requests.awaiting(people.mgr.id)).to.have.length.at.least(1);
    expect((await services.requests.awaiting(people.owner.id)).map((r) => r.id)).to.not.include(request.id);

    const afterManager = await services.requests.decide(request.id, { decision: 'approve', comment: 'fine by me' }, as(people.mgr));
    expect(afterManager.status).to.equal('pending');
    expect(afterManager.stage).to.equal(1);
    expect(afterManager.stages[0]).to.deep.include({ status: 'approved', decidedBy: people.mgr.userName, comment: 'fine by me' });
    expect(afterManager.stages[1]).to.deep.include({ status: 'open', approvers: [people.owner.userName] });
    expect((await mails(people.owner, 'request.awaiting')).filter((m) => m.body_text.includes(request.id))).to.have.length(1);

    const done = await services.requests.decide(request.id, { decision: 'approve' }, as(people.owner));
    expect(done.status).to.equal('approved');
    expect(done.grantId).to.be.a('string');
    const grant = await services.grants.get(done.grantId!);
    expect(grant).to.deep.include({ identityId: alice.id, item: 'role:finance-reader', source: 'request', sourceRef: request.id, reason: 'quarter close' });
    expect(Math.abs(Date.parse(grant.validUntil!) - (now.getTime() + 7 * DAY))).to.be.below(1000);
    const ops = await db().query<{ target: string; op: string }>("SELECT target, op FROM outbox WHERE identity_id = ? AND status = 'pending'", [alice.id]);
    expect(ops.map((o) => `${o.target}:${o.op}`)).to.deep.equal(['mem:create']);
    expect(await audit(request.id)).to.deep.equal(['request.create', 'request.approve', 'request.approve', 'request.grant']);
    // requester and beneficiary are one person: one mail
    const decided = await mails(alice, 'request.decided');
    expect(decided).to.have.length(1);
    expect(decided[0]!.subject).to.match(/^Access granted/);
    expect(decided[0]!.body_text).to.include('{{baseUrl}}/m/');
    expect((await tasks(request.id)).map((t) => [t.approver_id, Number(t.stage), t.reason, t.status])).to.deep.equal([
      [people.mgr.id, 0, 'manager', 'approved'], [people.owner.id, 1, 'role-owner', 'approved'],
    ]);
  });

  it('resolves each stage when it opens, so a manager changed meanwhile is the one asked', async () => {
    const rae = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:late-manager', justification: 'moving team' }, as(rae));
    expect(request.stages.map((s) => [s.approver, s.status, s.approvers])).to.deep.equal([['role-owner', 'open', [people.owner.userName]], ['manager', 'waiting', []]]);
    const newManager = await f.createPerson({ manager: people.director });
    await db().execute('UPDATE identities SET manager_id = ? WHERE id = ?', [newManager.id, rae.id]);
    const next = await services.requests.decide(request.id, { decision: 'approve' }, as(people.owner));
    expect(next.stages[1]).to.deep.include({ status: 'open', approvers: [newManager.userName] });
    await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr)), 'forbidden');
  });

  it('never lets the beneficiary or the requester decide: their stage goes to someone else, and their attempts are refused', async () => {
    const bob = await report(people.mgr, { userName: 'bob' });
    // The manager asks for their report: the manager stage would name the requester, so it is skipped.
    const { request } = await services.requests.create({ beneficiary: bob.userName, item: 'role:finance-reader', justification: 'audit season', durationDays: 5 }, as(people.mgr));
    expect(request.requester.id).to.equal(people.mgr.id);
    expect(request.stages.map((s) => [s.approver, s.status])).to.deep.equal([['manager', 'skipped'], ['role-owner', 'open']]);
    expect((await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr)), 'forbidden')).message).to.match(/they made/);
    expect((await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(bob)), 'forbidden')).message).to.match(/their own access/);
    await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.stranger)), 'forbidden');

    // The role's owner asks for themselves: the owner stage skips them, the manager decides.
    const ownerReport = await report(people.mgr);
    await services.policyStore.putRole({ name: 'self-owned', owner: ownerReport.userName, requestable: true, entitlements: ['mem/staff'] }, SETUP);
    const own = (await services.requests.create({ item: 'role:self-owned', justification: 'mine' }, as(ownerReport))).request;
    expect(own.stages.map((s) => [s.approver, s.status])).to.deep.equal([['manager', 'open'], ['role-owner', 'waiting']]);
    const approved = await services.requests.decide(own.id, { decision: 'approve' }, as(people.mgr));
    expect(approved.stages[1]!.status).to.equal('skipped');
    expect(approved.status).to.equal('approved');
  });

  it('lets a person request for themselves and their direct and indirect reports only (an iam-admin for anyone)', async () => {
    const lead = await report(people.mgr);
    const member = await report(lead);
    const other = await f.createPerson({ manager: people.director });
    const indirect = await services.requests.create({ beneficiary: member.id, item: 'role:clerk', justification: 'team' }, as(people.mgr));
    expect(indirect.request.beneficiary.id).to.equal(member.id);
    const refused = await refusal(services.requests.create({ beneficiary: other.userName, item: 'role:clerk', justification: 'x' }, as(people.mgr)), 'forbidden');
    expect(refused.message).to.include(other.userName);
    await refusal(services.requests.create({ beneficiary: lead.userName, item: 'role:clerk', justification: 'x' }, as(member)), 'forbidden');
    const admin = await services.requests.create({ beneficiary: other.userName, item: 'role:clerk', justification: 'x' }, as(people.stranger, ['iam-admin']));
    expect(admin.created).to.equal(true);
  });

  it('refuses what cannot be requested: unknown (404), not requestable or too long (422), by nobody (403), twice (409)', async () => {
    const carl = await report(people.mgr);
    await refusal(services.requests.create({ item: 'role:no-such-role', justification: 'x' }, as(carl)), 'notFound');
    await refusal(services.requests.create({ beneficiary: 'nobody@example.com', item: 'role:clerk', justification: 'x' }, as(carl)), 'notFound');
    expect((await refusal(services.requests.create({ item: 'role:secret', justification: 'x' }, as(carl)), 'invalid')).message).to.match(/not requestable/);
    expect((await refusal(services.requests.create({ item: 'ent:mem/secret', justification: 'x' }, as(carl)), 'invalid')).message).to.match(/not requestable/);
    const tooLong = await refusal(services.requests.create({ item: 'role:payer', justification: 'x', durationDays: 31 }, as(carl)), 'invalid');
    expect(tooLong.details).to.deep.equal({ maxDurationDays: 30 });
    expect((await refusal(services.requests.create({ item: 'role:payer', justification: 'x' }, as(carl)), 'invalid')).message).to.match(/give durationDays/);
    const nobody = await refusal(services.requests.create({ beneficiary: carl.userName, item: 'role:clerk', justification: 'x' }, { identityId: null, actor: 'token:system', scopes: ['iam-admin'] }), 'forbidden');
    expect(nobody.message).to.match(/only a person can request access: this token belongs to no identity/);
    const contractor = await report(people.mgr, { userType: 'Contractor' });
    await services.policyStore.putBirthrightRule({ name: `no-contractor-treasury-${suffix}`, expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'role:treasury' }, SETUP);
    const denied = await refusal(services.requests.create({ item: 'role:treasury', justification: 'x' }, as(contractor)), 'invalid');
    expect(denied.details).to.deep.equal({ denyRules: [`no-contractor-treasury-${suffix}`] });
    await services.policyStore.deleteBirthrightRule(`no-contractor-treasury-${suffix}`, SETUP);
    await services.requests.create({ item: 'role:clerk', justification: 'first' }, as(carl));
    expect((await refusal(services.requests.create({ item: 'role:clerk', justification: 'again' }, as(carl)), 'conflict')).message).to.match(/already pending/);
    expect(await db().query('SELECT id FROM access_requests WHERE beneficiary_id = ?', [carl.id])).to.have.length(1);
  });

  it('makes one request per Idempotency-Key and caller, also for two at once; another body under the key is a conflict', async () => {
    const dana = await report(people.mgr);
    const input = { item: 'role:clerk', justification: 'retry me' };
    const by = { ...as(dana), idempotencyKey: `key-${suffix}-1` };
    const first = await services.requests.create(input, by);
    const again = await services.requests.create(input, by);
    expect(first.created).to.equal(true);
    expect(again.created).to.equal(false);
    expect(again.request.id).to.equal(first.request.id);
    expect(await db().query('SELECT id FROM access_requests WHERE beneficiary_id = ?', [dana.id])).to.have.length(1);
    const other = await refusal(services.requests.create({ ...input, justification: 'something else' }, by), 'conflict');
    expect(other.details).to.deep.equal({ requestId: first.request.id });

    const erin = await report(people.mgr);
    const both = await Promise.all([0, 1].map(() => services.requests.create({ item: 'role:ledger', justification: 'at once' }, { ...as(erin), idempotencyKey: `key-${suffix}-2` })));
    expect(both.map((b) => b.request.id)[0]).to.equal(both[1]!.request.id);
    expect(both.map((b) => b.created).sort()).to.deep.equal([false, true]);
    expect(await db().query('SELECT id FROM access_requests WHERE beneficiary_id = ?', [erin.id])).to.have.length(1);
    expect(await mails(people.mgr, 'request.awaiting').then((m) => m.filter((x) => x.body_text.includes(first.request.id)))).to.have.length(1);
  });

  it('lets a deputy decide the delegator\'s approvals while the delegation is in force, and not outside it', async () => {
    const fay = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:finance-reader', justification: 'cover', durationDays: 3 }, as(fay));
    await services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr));
    // A delegation that starts later does not let the deputy in now.
    const later = await services.delegations.create({ deputy: people.deputy.userName, from: new Date(now.getTime() + 10 * DAY).toISOString(), until: new Date(now.getTime() + 20 * DAY).toISOString() }, as(people.owner));
    expect(later.active).to.equal(false);
    expect((await services.requests.awaiting(people.deputy.id)).map((r) => r.id)).to.not.include(request.id);
    await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.deputy)), 'forbidden');
    await refusal(services.requests.read(request.id, as(people.deputy)), 'notFound');

    const inForce = await services.delegations.create({ deputy: people.deputy.id, until: new Date(now.getTime() + 5 * DAY).toISOString() }, as(people.owner));
    expect(inForce).to.deep.include({ active: true, delegator: { id: people.owner.id, userName: people.owner.userName } });
    expect((await services.delegations.list(people.deputy.id)).map((d) => d.id)).to.include.members([later.id, inForce.id]);
    expect((await services.requests.awaiting(people.deputy.id)).map((r) => r.id)).to.include(request.id);
    expect((await services.requests.read(request.id, as(people.deputy))).id).to.equal(request.id);
    const decided = await services.requests.decide(request.id, { decision: 'approve', comment: 'owner is away' }, as(people.deputy));
    expect(decided.status).to.equal('approved');
    expect(decided.stages[1]).to.deep.include({ decidedBy: people.deputy.userName, onBehalfOf: people.owner.userName });
    const rows = (await tasks(request.id)).filter((t) => Number(t.stage) === 1);
    expect(rows.map((t) => [t.approver_id, t.reason, t.status, t.on_behalf_of])).to.have.deep.members([
      [people.owner.id, 'role-owner', 'closed', null], [people.deputy.id, 'delegate', 'approved', people.owner.id],
    ]);

    // A stage opening while the delegation is in force mails the deputy too.
    const second = (await services.requests.create({ item: 'role:finance-reader', justification: 'cover again', durationDays: 3 }, as(await report(people.mgr)))).request;
    await services.requests.decide(second.id, { decision: 'approve' }, as(people.mgr));
    const deputyMail = (await mails(people.deputy, 'request.awaiting')).filter((m) => m.body_text.includes(second.id));
    expect(deputyMail).to.have.length(1);
    expect(deputyMail[0]!.body_text).to.include('as deputy of');

    // Withdrawn, it no longer counts; a deputy never decides their own request.
    await services.delegations.revoke(inForce.id, as(people.owner));
    await refusal(services.delegations.revoke(inForce.id, as(people.owner)), 'conflict');
    await services.delegations.create({ deputy: people.deputy.id, until: new Date(now.getTime() + 5 * DAY).toISOString() }, as(people.mgr));
    const deputyOwn = await services.requests.create({ beneficiary: people.deputy.id, item: 'role:clerk', justification: 'mine' }, as(people.stranger, ['iam-admin']));
    expect((await services.requests.awaiting(people.deputy.id)).map((r) => r.id)).to.not.include(deputyOwn.request.id);
    await refusal(services.requests.decide(deputyOwn.request.id, { decision: 'approve' }, as(people.deputy)), 'forbidden');
    await refusal(services.delegations.create({ deputy: people.mgr.id, until: new Date(now.getTime() + DAY).toISOString() }, as(people.mgr)), 'invalid');
    await refusal(services.delegations.create({ deputy: people.owner.id, until: new Date(now.getTime() + 400 * DAY).toISOString() }, as(people.mgr)), 'invalid');
  });

  it('escalates a task undecided for escalationDays to the approver\'s manager, once, and mails them', async () => {
    const gus = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:finance-reader', justification: 'slow manager', durationDays: 5 }, as(gus));
    const [task] = await tasks(request.id);
    expect(Date.parse(task!.escalate_at!)).to.equal(now.getTime() + 3 * DAY);
    now = new Date(now.getTime() + 2 * DAY);
    await services.requests.processDue();
    expect(await tasks(request.id)).to.have.length(1);

    now = new Date(now.getTime() + 2 * DAY);
    const first = await services.requests.processDue();
    expect(first.escalated).to.be.at.least(1);
    const rows = await tasks(request.id);
    expect(rows.map((t) => [t.approver_id, t.reason, t.status, t.on_behalf_of, t.escalate_at])).to.have.deep.members([
      [people.mgr.id, 'manager', 'open', null, null], [people.director.id, 'escalation', 'open', people.mgr.id, null],
    ]);
    const escalatedMail = (await mails(people.director, 'request.escalated')).filter((m) => m.body_text.includes(request.id));
    expect(escalatedMail).to.have.length(1);
    expect(escalatedMail[0]!.body_text).to.include('{{baseUrl}}/m/');
    expect(await audit(request.id)).to.include('request.escalate');

    now = new Date(now.getTime() + 4 * DAY);
    await services.requests.processDue();
    expect(await tasks(request.id)).to.have.length(2);
    const decided = await services.requests.decide(request.id, { decision: 'approve' }, as(people.director));
    expect(decided.stage).to.equal(1);
    expect(decided.stages[0]!.decidedBy).to.equal(people.director.userName);
  });

  it('expires a request undecided past requestExpiryDays: tasks closed, the requester mailed', async () => {
    const hal = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:clerk', justification: 'forgotten' }, as(hal));
    now = new Date(now.getTime() + 13 * DAY);
    await services.requests.processDue();
    expect((await services.requests.get(request.id)).status).to.equal('pending');
    now = new Date(now.getTime() + 2 * DAY);
    const run = await services.requests.processDue();
    expect(run.expired).to.be.at.least(1);
    const expired = await services.requests.get(request.id);
    expect(expired.status).to.equal('expired');
    expect(expired.decidedAt).to.equal(now.toISOString());
    expect((await tasks(request.id)).map((t) => t.status)).to.deep.equal(['closed', 'closed']);
    const [mail] = await mails(hal, 'request.expired');
    expect(mail!.body_text).to.include(request.id).and.include('make a new request');
    expect(await audit(request.id)).to.include('request.expire');
    await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr)), 'conflict');
  });

  it('refuses a request that would break an SoD rule without an owner (409 sod_violation)', async () => {
    const ivy = await report(people.mgr);
    await services.grants.grant({ identity: ivy.id, item: 'role:ledger' }, SETUP);
    const refused = await refusal(services.requests.create({ item: 'role:treasury', justification: 'both' }, as(ivy)), 'sod');
    expect(refused.message).to.include('ledger-treasury');
    expect(refused.details).to.deep.include({ rule: 'ledger-treasury' });
    expect(await db().query('SELECT id FROM access_requests WHERE beneficiary_id = ?', [ivy.id])).to.deep.equal([]);
  });

  it('adds a last stage for the owner of a broken SoD rule; their approval records the exception, then the grant is made', async () => {
    const jo = await report(people.mgr);
    await services.grants.grant({ identity: jo.id, item: 'role:clerk' }, SETUP);
    const { request } = await services.requests.create({ item: 'role:payer', justification: 'month end', durationDays: 10 }, as(jo));
    expect(request.sodConflicts).to.deep.equal([{ rule: 'clerk-payer', items: ['role:clerk', 'role:payer'] }]);
    expect(request.stages.map((s) => s.approver)).to.deep.equal(['manager', 'role-owner', 'sod-owner']);
    expect(request.stages[2]).to.deep.include({ rule: 'clerk-payer', status: 'waiting' });
    await services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr));
    const atOwner = await services.requests.decide(request.id, { decision: 'approve' }, as(people.owner));
    expect(atOwner.stages[2]).to.deep.include({ status: 'open', approvers: [people.ciso.userName] });
    expect(await db().query('SELECT id FROM sod_exceptions WHERE identity_id = ?', [jo.id])).to.deep.equal([]);
    const done = await services.requests.decide(request.id, { decision: 'approve', comment: 'accepted risk' }, as(people.ciso));
    expect(done.status).to.equal('approved');
    const grant = await services.grants.get(done.grantId!);
    const [exception] = await db().query<{ rule: string; approved_by: string; valid_until: string }>('SELECT rule, approved_by, valid_until FROM sod_exceptions WHERE identity_id = ?', [jo.id]);
    expect(exception).to.deep.equal({ rule: 'clerk-payer', approved_by: people.ciso.userName, valid_until: grant.validUntil });
  });

  it('checks SoD again at the last approval: a conflict arisen since, with no owner, fails the request and tells the requester', async () => {
    const kim = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:treasury', justification: 'cash' }, as(kim));
    expect(request.sodConflicts).to.deep.equal([]);
    await services.grants.grant({ identity: kim.id, item: 'role:ledger' }, SETUP);
    await services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr));
    const failed = await services.requests.decide(request.id, { decision: 'approve' }, as(people.owner));
    expect(failed.status).to.equal('failed');
    expect(failed.outcome).to.match(/ledger-treasury/);
    expect(failed.grantId).to.equal(null);
    expect(await audit(request.id)).to.deep.equal(['request.create', 'request.approve', 'request.approve', 'request.fail']);
    const [mail] = await mails(kim, 'request.decided');
    expect(mail!.subject).to.match(/could not be granted/);
    expect(await db().query("SELECT id FROM grants WHERE identity_id = ? AND item = 'role:treasury'", [kim.id])).to.deep.equal([]);
  });

  it('ends a request on a deny, and tells requester and beneficiary (one mail each)', async () => {
    const lee = await report(people.mgr);
    const { request } = await services.requests.create({ beneficiary: lee.id, item: 'role:clerk', justification: 'for lee' }, as(people.stranger, ['iam-admin']));
    const denied = await services.requests.decide(request.id, { decision: 'deny', comment: 'not in this team' }, as(people.mgr));
    expect(denied.status).to.equal('denied');
    expect(denied.stages.map((s) => s.status)).to.deep.equal(['denied', 'waiting']);
    expect((await tasks(request.id)).map((t) => t.status)).to.deep.equal(['denied']);
    for (const who of [lee, people.stranger]) {
      const decided = (await mails(who, 'request.decided')).filter((m) => m.body_text.includes(request.id));
      expect(decided, who.userName).to.have.length(1);
      expect(decided[0]!.body_text).to.include('not in this team');
    }
    expect(await audit(request.id)).to.deep.equal(['request.create', 'request.deny']);
    await refusal(services.requests.decide(request.id, { decision: 'approve' }, as(people.mgr)), 'conflict');
  });

  it('lets exactly one of two approvers deciding the same stage at once win; the other gets a conflict', async () => {
    const max = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:pair', justification: 'two approvers' }, as(max));
    expect(request.stages[0]!.approvers.sort()).to.deep.equal([people.pone.userName, people.ptwo.userName].sort());
    const outcomes = await Promise.allSettled([people.pone, people.ptwo].map((p) => services.requests.decide(request.id, { decision: 'approve' }, as(p))));
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).to.have.length(1);
    expect(lost).to.have.length(1);
    expect(lost[0]!.reason).to.be.instanceOf(GovernanceError);
    expect((lost[0]!.reason as GovernanceError).kind).to.equal('conflict');
    expect((await services.requests.get(request.id)).status).to.equal('approved');
    expect(await db().query("SELECT id FROM grants WHERE source = 'request' AND source_ref = ?", [request.id])).to.have.length(1);
  });

  it('resolves group and target-owner stages, mails each member with an address once, and asks the role owner when no stage names anyone', async () => {
    const ned = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'ent:mem/finance', justification: 'group' }, as(ned));
    expect(request.stages[0]!.approvers.sort()).to.deep.equal([people.finA.userName, people.finB.userName, people.finSilent.userName].sort());
    for (const member of [people.finA, people.finB]) expect((await mails(member, 'request.awaiting')).filter((m) => m.body_text.includes(request.id))).to.have.length(1);
    expect(await db().query('SELECT id FROM mail_outbox WHERE recipient_id = ?', [people.finSilent.id])).to.deep.equal([]);
    await services.requests.decide(request.id, { decision: 'approve' }, as(people.finSilent));
    expect((await services.requests.get(request.id)).status).to.equal('approved');

    const owned = (await services.requests.create({ item: 'role:target-owned', justification: 'target' }, as(ned))).request;
    expect(owned.stages[0]).to.deep.include({ approver: 'target-owner', approvers: [people.targetowner.userName] });

    // No manager: the only stage names nobody, so the role's owner decides.
    const loner = await f.createPerson();
    const solo = (await services.requests.create({ item: 'role:solo', justification: 'alone' }, as(loner))).request;
    expect(solo.stages.map((s) => [s.approver, s.status])).to.deep.equal([['manager', 'skipped'], ['role-owner', 'open']]);
    // No manager, and an entitlement has no owner: nobody can approve.
    const nobody = await refusal(services.requests.create({ item: 'ent:mem/staff', justification: 'alone' }, as(loner)), 'invalid');
    expect(nobody.message).to.match(/nobody can approve/);
  });

  it('cancels a pending request for its requester or beneficiary, not for an approver', async () => {
    const ola = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:clerk', justification: 'changed my mind' }, as(ola));
    await refusal(services.requests.cancel(request.id, as(people.mgr)), 'forbidden');
    await refusal(services.requests.cancel(request.id, as(people.stranger)), 'notFound');
    const cancelled = await services.requests.cancel(request.id, as(ola));
    expect(cancelled).to.deep.include({ status: 'cancelled', outcome: `cancelled by ${ola.userName}` });
    expect((await tasks(request.id)).map((t) => t.status)).to.deep.equal(['closed']);
    await refusal(services.requests.cancel(request.id, as(ola)), 'conflict');
    expect(await audit(request.id)).to.deep.equal(['request.create', 'request.cancel']);
  });

  it('hands a leaver\'s approvals to their manager, cancels requests for them, withdraws their delegations, and fails what nobody can take over', async () => {
    const lead = await f.createPerson({ manager: people.director });
    const member = await report(lead);
    const leaving = await report(people.mgr);
    const waiting = (await services.requests.create({ item: 'role:clerk', justification: 'x' }, as(member))).request;
    const theirs = (await services.requests.create({ item: 'role:clerk', justification: 'x' }, as(leaving))).request;
    const delegation = await services.delegations.create({ deputy: people.deputy.id, until: new Date(now.getTime() + DAY).toISOString() }, as(lead));
    // A request whose only possible approver leaves: no manager above them, no role owner.
    const topless = await f.createPerson();
    const under = await report(topless);
    const orphan = (await services.requests.create({ item: 'role:orphan', justification: 'x' }, as(under))).request;

    await db().execute(`UPDATE identities SET active = 0 WHERE id IN (?, ?, ?)`, [lead.id, leaving.id, topless.id]);
    await db().transaction((tx) => services.requests.leaversLeft(tx, [lead.id, leaving.id, topless.id], { actor: 'test:jml', requestId: 'leaver-run' }));

    const rows = await tasks(waiting.id);
    expect(rows.map((t) => [t.approver_id, t.reason, t.status, t.on_behalf_of])).to.have.deep.members([
      [lead.id, 'manager', 'closed', null], [people.director.id, 'reassigned', 'open', lead.id],
    ]);
    expect((await mails(people.director, 'request.awaiting')).filter((m) => m.body_text.includes(waiting.id) && m.body_text.includes('has left'))).to.have.length(1);
    expect(await audit(waiting.id)).to.include('request.reassign');
    expect((await services.requests.get(theirs.id))).to.deep.include({ status: 'cancelled', outcome: 'cancelled: the beneficiary left' });
    expect((await services.delegations.list(lead.id, { includeEnded: true })).find((d) => d.id === delegation.id)!.revoked).to.be.a('string');
    const failed = await services.requests.get(orphan.id);
    expect(failed.status).to.equal('failed');
    expect(failed.outcome).to.match(/nobody is left to approve/);
    const approved = await services.requests.decide(waiting.id, { decision: 'approve' }, as(people.director));
    expect(approved.stage).to.equal(1);
  });

  it('grants an approved request whose grant a crash interrupted, once, when the job runs', async () => {
    const pat = await report(people.mgr);
    const { request } = await services.requests.create({ item: 'role:finance-reader', justification: 'crash', durationDays: 2 }, as(pat));
    // As if the last approval committed and the process died before the grant.
    await db().execute("UPDATE access_requests SET status = 'approved', decided_at = ?, updated = ? WHERE id = ?", [now.toISOString(), now.toISOString(), request.id]);
    now = new Date(now.getTime() + 60_000);
    expect((await services.requests.processDue()).fulfilled).to.equal(0);
    now = new Date(now.getTime() + 10 * 60_000);
    const run = await services.requests.processDue();
    expect(run.fulfilled).to.be.at.least(1);
    const fulfilled = await services.requests.get(request.id);
    expect(fulfilled.grantId).to.be.a('string');
    await services.requests.processDue();
    expect(await db().query("SELECT id FROM grants WHERE source = 'request' AND source_ref = ?", [request.id])).to.have.length(1);
    expect(await mails(pat, 'request.decided')).to.have.length(1);
  });

  it('mails the holder of a grant ending within expiryNoticeDays once per grant and end date', async () => {
    const quinn = await report(people.mgr);
    const soon = await services.grants.grant({ identity: quinn.id, item: 'role:clerk', source: 'request', sourceRef: `ext-${suffix}`, validUntil: new Date(now.getTime() + 5 * DAY).toISOString() }, SETUP);
    await services.grants.grant({ identity: quinn.id, item: 'role:ledger', source: 'request', sourceRef: `ext2-${suffix}`, validUntil: new Date(now.getTime() + 30 * DAY).toISOString() }, SETUP);
    const first = await services.requests.notifyExpiringGrants();
    expect(first.mailed).to.be.at.least(1);
    const sent = await mails(quinn, 'grant.expiring');
    expect(sent).to.have.length(1);
    expect(sent[0]!.dedupe_key).to.equal(`grant.expiring:${soon.grant.id}:${soon.grant.validUntil}`);
    expect(sent[0]!.body_text).to.include('role:clerk').and.include('new request').and.include('{{baseUrl}}/m/');
    await services.requests.notifyExpiringGrants();
    expect(await mails(quinn, 'grant.expiring')).to.have.length(1);
  });
});
