import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { PolicyChangeLog, readPolicyState } from '../../src/policy/changes.js';
import { effectiveAccess } from '../../src/policy/effective-access.js';
import { GrantService } from '../../src/policy/grants.js';
import { PolicyError, type CatalogDocumentInput, type GrantInput } from '../../src/policy/model.js';
import { SodService } from '../../src/policy/sod.js';
import { SodExceptions } from '../../src/policy/sod-exceptions.js';
import { PolicyStore } from '../../src/policy/store.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:grants', requestId: 'req-grants' };
const DAY = 86_400_000;
const inDays = (days: number) => new Date(Date.now() + days * DAY).toISOString();

const POLICY: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }],
  entitlements: ['finance', 'ap-clerks', 'payment-approvers', 'vendor-master', 'treasury', 'wiki']
    .map((key) => ({ target: 'ldap', key, kind: 'group' as const })),
  roles: [
    { name: 'finance-reader', entitlements: ['ldap/finance'], requestable: true },
    { name: 'accountant', inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'] },
    { name: 'senior-accountant', inherits: ['accountant'], requestable: true },
    { name: 'payment-approver', inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'], requestable: true, maxDurationDays: 30 },
    { name: 'vendor-admin', entitlements: ['ldap/vendor-master'] },
    { name: 'approver-plus', inherits: ['payment-approver'] },
  ],
  birthrightRules: [
    { name: 'no-contractor-approvers', expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'ent:ldap/payment-approvers' },
  ],
  sodRules: [
    {
      name: 'pay-what-you-enter', severity: 'critical',
      left: { mode: 'any', items: ['role:accountant', 'ent:ldap/ap-clerks'] },
      right: { mode: 'any', items: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
    },
    {
      name: 'vendor-and-pay',
      left: { mode: 'all', items: ['ent:ldap/vendor-master', 'ent:ldap/ap-clerks'] },
      right: { mode: 'any', items: ['ent:ldap/treasury'] },
    },
  ],
};

async function refusal(work: Promise<unknown>): Promise<PolicyError> {
  try {
    await work;
  } catch (err) {
    expect(err, (err as Error).stack).to.be.instanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected a PolicyError');
}

onEachDatabase('policy grants, SoD and effective access', (database) => {
  let identities: IdentityService;
  let store: PolicyStore;
  let exceptions: SodExceptions;
  let grants: GrantService;
  let sod: SodService;

  /** A fresh identity; Employee unless told otherwise. */
  const person = async (userType = 'Employee') => {
    const userName = `p.${randomBytes(4).toString('hex')}@example.com`;
    const created = await identities.create({ schemas: [USER, ENTERPRISE], userName, userType, [ENTERPRISE]: { department: 'Finance' } }, ctx);
    return { id: created.id, userName };
  };
  const grant = (identity: string, item: string, extra: Partial<GrantInput> = {}) => grants.grant({ identity, item, ...extra }, ctx);

  before(async () => {
    const { db } = database();
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    identities = new IdentityService(db, changes);
    store = new PolicyStore(db, changes, birthright);
    exceptions = new SodExceptions(db);
    sod = new SodService(db);
    grants = new GrantService(db, changes, birthright, sod);
    await store.replaceAll(POLICY, { actor: 'test:setup' });
  });

  describe('grant', () => {
    it('grants an item, idempotent on identity, item, source and sourceRef, audited once', async () => {
      const { db } = database();
      const who = await person();
      const first = await grant(who.userName.toUpperCase(), 'role:finance-reader', { reason: 'onboarding' });
      expect(first.created).to.equal(true);
      expect(first.grant).to.include({ identityId: who.id, item: 'role:finance-reader', source: 'manual', sourceRef: '', grantedBy: 'test:grants', reason: 'onboarding' });
      const again = await grant(who.id, 'role:finance-reader');
      expect(again).to.deep.equal({ created: false, grant: first.grant });
      const other = await grant(who.id, 'role:finance-reader', { source: 'request', sourceRef: 'REQ-1', validUntil: inDays(10) });
      expect(other.created).to.equal(true);
      expect(other.grant.id).not.to.equal(first.grant.id);

      const events = await db.query<{ target_id: string; actor: string; request_id: string; details: string }>(
        "SELECT target_id, actor, request_id, details FROM audit_events WHERE action = 'grant.create' AND target_id IN (?, ?) ORDER BY id", [first.grant.id, other.grant.id]);
      expect(events.map((e) => e.target_id)).to.deep.equal([first.grant.id, other.grant.id]);
      expect(events[0]).to.include({ actor: 'test:grants', request_id: 'req-grants' });
      expect(JSON.parse(events[0]!.details)).to.deep.include({ userName: who.userName, after: first.grant });
      const [{ n }] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE identity_id = ?', [who.id]);
      // one for the identity's creation, one per grant made
      expect(Number(n)).to.equal(3);
    });

    it('records a grant as an identity change, never as a policy version', async () => {
      const { db } = database();
      const who = await person();
      const before = await readPolicyState(db);
      const seen: unknown[] = [];
      const changes = new PolicyChangeLog();
      const service = new GrantService(db, changes, new BirthrightService(db, changes), sod);
      changes.onChange((c) => seen.push(c));
      await service.grant({ identity: who.id, item: 'ent:ldap/wiki' }, ctx);
      expect((await readPolicyState(db)).version).to.equal(before.version);
      expect(seen).to.deep.equal([{ kind: 'identities', identityIds: [who.id] }]);
    });

    type Bad = [name: string, input: Record<string, unknown>, kind: PolicyError['kind'], message: RegExp];
    const BAD: Bad[] = [
      ['an unknown identity', { identity: 'nobody@example.com', item: 'role:accountant' }, 'notFound', /identity nobody@example.com does not exist/],
      ['an unknown item', { item: 'role:astronaut' }, 'notFound', /role:astronaut does not exist/],
      ['a malformed item', { item: 'accountant' }, 'invalid', /item: must name a role/],
      ['a window that ends before it starts', { item: 'role:accountant', validFrom: inDays(5), validUntil: inDays(2) }, 'invalid', /validFrom .* must be before validUntil/],
      ['a window that is already over', { item: 'role:accountant', validUntil: inDays(-1) }, 'invalid', /already past/],
      ['a time without an offset', { item: 'role:accountant', validUntil: '2030-01-01 00:00' }, 'invalid', /validUntil: must be an ISO-8601/],
      ['a birthright grant by hand', { item: 'role:accountant', source: 'birthright', sourceRef: 'x' }, 'invalid', /made by birthright rules only/],
      ['a request for a time-limited role without an end', { item: 'role:payment-approver', source: 'request', sourceRef: 'REQ-2' }, 'invalid', /at most 30 days: give validUntil/],
      ['a request beyond the role maximum', { item: 'role:payment-approver', source: 'request', sourceRef: 'REQ-3', validUntil: inDays(45) }, 'invalid', /at most 30 days; this grant would last 45/],
      ['an unknown field', { item: 'role:accountant', approvedBy: 'me' }, 'invalid', /Unrecognized key/],
    ];
    for (const [name, input, kind, message] of BAD) {
      it(`refuses ${name}`, async () => {
        const who = await person();
        const err = await refusal(grants.grant({ identity: who.id, ...input }, ctx));
        expect(err.kind).to.equal(kind);
        expect(err.message).to.match(message);
        const listed = await grants.list({ identityId: who.id }, { limit: 10 });
        expect(listed.grants).to.deep.equal([]);
      });
    }

    it('accepts a requested time-limited role within its maximum, and a manual one without an end', async () => {
      const who = await person();
      expect((await grant(who.id, 'role:payment-approver', { source: 'request', sourceRef: 'REQ-4', validUntil: inDays(29) })).created).to.equal(true);
      const other = await person();
      expect((await grant(other.id, 'role:payment-approver')).created).to.equal(true);
    });

    it('refuses an item a deny rule keeps from the identity, directly or through a role, naming the rule', async () => {
      const contractor = await person('Contractor');
      const direct = await refusal(grant(contractor.id, 'ent:ldap/payment-approvers'));
      expect(direct.kind).to.equal('invalid');
      expect(direct.message).to.match(/may not hold ent:ldap\/payment-approvers: deny rule no-contractor-approvers matches them/);
      const nested = await refusal(grant(contractor.id, 'role:approver-plus'));
      expect(nested.message).to.contain('(through role:approver-plus -> role:payment-approver -> ent:ldap/payment-approvers)');
      expect(nested.details).to.deep.include({ denyRules: ['no-contractor-approvers'] });
      // The same items are fine for an employee, and other items for the contractor.
      const employee = await person();
      expect((await grant(employee.id, 'role:approver-plus')).created).to.equal(true);
      expect((await grant(contractor.id, 'role:accountant')).created).to.equal(true);
    });

    it('revokes: deleted, audited, recorded as a change; unknown ids and birthright grants refused', async () => {
      const { db } = database();
      const who = await person();
      const { grant: made } = await grant(who.id, 'ent:ldap/wiki');
      await grants.revoke(made.id, ctx);
      expect((await refusal(grants.get(made.id))).kind).to.equal('notFound');
      expect((await refusal(grants.revoke(made.id, ctx))).kind).to.equal('notFound');
      const [event] = await db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'grant.revoke' AND target_id = ?", [made.id]);
      expect(JSON.parse(event!.details).before).to.deep.equal(made);
      const [{ n }] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE identity_id = ?', [who.id]);
      expect(Number(n)).to.equal(3);

      const id = `b-${randomBytes(6).toString('hex')}`;
      await db.execute("INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, 'ent:ldap/wiki', 'birthright', 'some-rule', 'system:birthright', ?)",
        [id, who.id, new Date().toISOString()]);
      const err = await refusal(grants.revoke(id, ctx));
      expect(err.kind).to.equal('conflict');
      expect(err.message).to.contain('birthright rule some-rule');
    });

    it('lists by identity, item and source, in pages', async () => {
      const who = await person();
      const items = ['ent:ldap/wiki', 'ent:ldap/finance', 'ent:ldap/treasury', 'role:finance-reader', 'role:vendor-admin'];
      for (const item of items) await grant(who.id, item);
      await grant(who.id, 'ent:ldap/wiki', { source: 'review', sourceRef: 'rev-1' });
      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 10; page++) {
        const result = await grants.list({ identityId: who.userName }, { limit: 2, ...(after !== undefined && { after }) });
        seen.push(...result.grants.map((g) => g.id));
        if (!result.next) break;
        after = result.next;
      }
      expect(seen).to.have.length(6);
      expect(new Set(seen).size).to.equal(6);
      expect([...seen].sort()).to.deep.equal(seen);
      expect((await grants.list({ identityId: who.id, item: 'ent:ldap/wiki' }, { limit: 10 })).grants).to.have.length(2);
      expect((await grants.list({ identityId: who.id, source: 'review' }, { limit: 10 })).grants.map((g) => g.sourceRef)).to.deep.equal(['rev-1']);
      expect((await grants.list({ identityId: 'ghost@example.com' }, { limit: 10 })).grants).to.deep.equal([]);
    });
  });

  describe('requests, expiry and re-granting', () => {
    it('refuses a request for a role that is not requestable, naming the manual route', async () => {
      const who = await person();
      const err = await refusal(grant(who.id, 'role:vendor-admin', { source: 'request', sourceRef: 'REQ-77' }));
      expect(err.kind).to.equal('invalid');
      expect(err.message).to.equal('role:vendor-admin is not requestable; an administrator can grant it with source manual');
      expect((await grant(who.id, 'role:vendor-admin')).created).to.equal(true);
    });

    it('replaces an expired grant of the same origin instead of answering with it', async () => {
      const { db } = database();
      const who = await person();
      const { grant: old } = await grant(who.id, 'ent:ldap/wiki', { validUntil: inDays(1) });
      await db.execute('UPDATE grants SET valid_until = ? WHERE id = ?', [new Date(Date.now() - 60_000).toISOString(), old.id]);
      const renewed = await grant(who.id, 'ent:ldap/wiki');
      expect(renewed.created).to.equal(true);
      expect(renewed.grant.id).not.to.equal(old.id);
      expect(renewed.grant.validUntil).to.equal(null);
      const rows = await db.query<{ id: string }>('SELECT id FROM grants WHERE identity_id = ? AND item = ?', [who.id, 'ent:ldap/wiki']);
      expect(rows.map((r) => r.id)).to.deep.equal([renewed.grant.id]);
      const [event] = await db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'grant.create' AND target_id = ?", [renewed.grant.id]);
      expect(JSON.parse(event!.details).replacesExpired).to.equal(old.id);
    });

    it('does not count an expired grant as held when a grant without validFrom is checked for SoD', async () => {
      const { db } = database();
      const who = await person();
      const { grant: clerk } = await grant(who.id, 'role:accountant', { validUntil: inDays(1) });
      await db.execute('UPDATE grants SET valid_until = ? WHERE id = ?', [new Date(Date.now() - 60_000).toISOString(), clerk.id]);
      expect((await grant(who.id, 'role:payment-approver', { source: 'request', sourceRef: 'REQ-78', validUntil: inDays(10) })).created).to.equal(true);
    });
  });

  describe('separation of duties', () => {
    type SodCase = [name: string, held: Array<[string, Partial<GrantInput>?]>, item: string, extra: Partial<GrantInput>, refusedBy?: string, conflicting?: string[]];
    const CASES: SodCase[] = [
      ['any/any: a role on each side', [['role:accountant']], 'role:payment-approver', {}, 'pay-what-you-enter',
        ['role:accountant', 'ent:ldap/ap-clerks', 'role:payment-approver', 'ent:ldap/payment-approvers']],
      ['the left side held through inheritance', [['role:senior-accountant']], 'ent:ldap/payment-approvers', {}, 'pay-what-you-enter',
        ['role:accountant', 'ent:ldap/ap-clerks', 'ent:ldap/payment-approvers']],
      ['the right side reached through two levels', [['ent:ldap/ap-clerks']], 'role:approver-plus', {}, 'pay-what-you-enter',
        ['ent:ldap/ap-clerks', 'role:payment-approver', 'ent:ldap/payment-approvers']],
      ['all: the left side completed by a bundled entitlement', [['role:vendor-admin'], ['ent:ldap/treasury']], 'role:accountant', {}, 'vendor-and-pay',
        ['ent:ldap/vendor-master', 'ent:ldap/ap-clerks', 'ent:ldap/treasury']],
      ['all: half of the left side is allowed', [['role:vendor-admin']], 'ent:ldap/treasury', {}],
      ['one side only is allowed', [['role:finance-reader']], 'role:accountant', {}],
      ['a grant that starts later still conflicts with one in force then', [['role:accountant', { validFrom: inDays(30) }]], 'role:payment-approver', {}, 'pay-what-you-enter'],
      ['windows that never overlap do not conflict', [['role:accountant', { validUntil: inDays(1) }]], 'role:payment-approver', { validFrom: inDays(2) }],
    ];
    for (const [name, held, item, extra, refusedBy, conflicting] of CASES) {
      it(`${refusedBy ? 'refuses' : 'allows'}: ${name}`, async () => {
        const who = await person();
        for (const [have, options] of held) await grant(who.id, have, options ?? {});
        if (!refusedBy) {
          expect((await grant(who.id, item, extra)).created).to.equal(true);
          return;
        }
        const err = await refusal(grant(who.id, item, extra));
        expect(err.kind).to.equal('sod');
        expect(err.message).to.contain(`SoD rule ${refusedBy}`).and.to.contain(who.userName).and.to.contain(item);
        expect(err.details).to.include({ rule: refusedBy });
        if (conflicting) {
          expect(err.details!.conflicting).to.have.members(conflicting);
          for (const c of conflicting) expect(err.message).to.contain(c);
        }
        expect((await grants.list({ identityId: who.id, item }, { limit: 10 })).grants).to.deep.equal([]);
      });
    }

    it('an approved exception lets the grant through (audited with it); an expired one does not', async () => {
      const { db } = database();
      const who = await person();
      await grant(who.id, 'role:accountant');
      const exception = await exceptions.create({ rule: 'pay-what-you-enter', identity: who.userName, reason: 'two-person office', approvedBy: 'cfo@example.com', validUntil: inDays(90) }, ctx);
      const { grant: made } = await grant(who.id, 'role:payment-approver');
      const [event] = await db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'grant.create' AND target_id = ?", [made.id]);
      expect(JSON.parse(event!.details).sodExceptions).to.deep.equal([{
        rule: 'pay-what-you-enter', exceptionId: exception.id,
        left: ['role:accountant', 'ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'],
      }]);

      const later = await person();
      await grant(later.id, 'role:accountant');
      await exceptions.create({ rule: 'pay-what-you-enter', identity: later.id, reason: 'cover', approvedBy: 'cfo@example.com', validUntil: inDays(1) }, ctx);
      await db.execute('UPDATE sod_exceptions SET valid_until = ? WHERE identity_id = ?', [inDays(-1), later.id]);
      const err = await refusal(grant(later.id, 'role:payment-approver'));
      expect(err.kind).to.equal('sod');
    });

    it('an exception for another rule or another person does not count', async () => {
      const who = await person();
      const colleague = await person();
      await grant(who.id, 'role:vendor-admin');
      await grant(who.id, 'ent:ldap/treasury');
      await grant(who.id, 'role:finance-reader');
      await exceptions.create({ rule: 'vendor-and-pay', identity: colleague.id, reason: 'x', approvedBy: 'cfo@example.com' }, ctx);
      await exceptions.create({ rule: 'pay-what-you-enter', identity: who.id, reason: 'x', approvedBy: 'cfo@example.com' }, ctx);
      const err = await refusal(grant(who.id, 'role:accountant'));
      expect(err.details).to.include({ rule: 'vendor-and-pay' });
    });

    it('a violation that already exists does not block unrelated grants', async () => {
      const who = await person();
      await grant(who.id, 'role:accountant');
      const exception = await exceptions.create({ rule: 'pay-what-you-enter', identity: who.id, reason: 'x', approvedBy: 'cfo@example.com' }, ctx);
      await grant(who.id, 'role:payment-approver');
      await exceptions.remove(exception.id, ctx);
      expect((await grant(who.id, 'ent:ldap/wiki')).created).to.equal(true);
    });

    it('of two conflicting grants made at the same time, exactly one is made', async () => {
      const who = await person();
      const results = await Promise.allSettled([grant(who.id, 'role:accountant'), grant(who.id, 'role:payment-approver')]);
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      const [rejected] = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected!.reason).to.be.instanceOf(PolicyError).and.to.include({ kind: 'sod' });
    });

    it('reports the violations that exist now, excepted ones marked, and only from grants in force', async () => {
      const { db } = database();
      const plain = await person();
      const excepted = await person();
      const future = await person();
      await grant(plain.id, 'role:senior-accountant');
      const exception = await exceptions.create({ rule: 'pay-what-you-enter', identity: excepted.id, reason: 'x', approvedBy: 'cfo@example.com' }, ctx);
      for (const id of [plain.id, excepted.id]) {
        // Birthright grants are never held back by SoD, so a violation can exist without an exception.
        await db.execute("INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, 'role:payment-approver', 'manual', 'seeded', 'test', ?)",
          [randomBytes(8).toString('hex'), id, new Date().toISOString()]);
      }
      await grant(excepted.id, 'ent:ldap/ap-clerks');
      await grant(future.id, 'ent:ldap/ap-clerks', { validFrom: inDays(3) });
      await grant(future.id, 'role:finance-reader');

      const catalog = await store.catalog();
      const report = await sod.report(catalog);
      const mine = report.filter((v) => [plain.id, excepted.id, future.id].includes(v.identityId));
      expect(mine).to.deep.equal([
        {
          rule: 'pay-what-you-enter', severity: 'critical', identityId: plain.id, userName: plain.userName, excepted: false,
          left: ['role:accountant', 'ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'],
        },
        {
          rule: 'pay-what-you-enter', severity: 'critical', identityId: excepted.id, userName: excepted.userName, excepted: true, exceptionId: exception.id,
          left: ['ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'],
        },
      ].sort((a, b) => a.userName.localeCompare(b.userName)));
      expect((await sod.report(catalog, { rule: 'vendor-and-pay' })).filter((v) => v.identityId === plain.id)).to.deep.equal([]);
      expect((await refusal(sod.report(catalog, { rule: 'no-such-rule' }))).kind).to.equal('notFound');

      const simulated = await sod.violationsOf(catalog, new Map([[future.id, ['ent:ldap/ap-clerks', 'role:approver-plus']], [plain.id, ['role:finance-reader']]]));
      expect(simulated).to.deep.equal([{
        rule: 'pay-what-you-enter', severity: 'critical', identityId: future.id, userName: future.userName, excepted: false,
        left: ['ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'],
      }]);
    });
  });

  describe('effective access', () => {
    it('gives each item with the grants that give it, the role path, and the validity', async () => {
      const { db } = database();
      const who = await person();
      const until = inDays(20);
      const { grant: senior } = await grant(who.id, 'role:senior-accountant', { source: 'request', sourceRef: 'REQ-9', validUntil: until });
      const { grant: direct } = await grant(who.id, 'ent:ldap/finance');
      const { grant: later } = await grant(who.id, 'ent:ldap/wiki', { validFrom: inDays(5) });
      const catalog = await store.catalog();

      const access = await effectiveAccess(db, catalog, who.userName.toUpperCase());
      expect(access.identityId).to.equal(who.id);
      expect(access.userName).to.equal(who.userName);
      expect(access.items.map((i) => i.item)).to.deep.equal([
        'ent:ldap/ap-clerks', 'ent:ldap/finance', 'role:accountant', 'role:finance-reader', 'role:senior-accountant',
      ]);
      const finance = access.items.find((i) => i.item === 'ent:ldap/finance')!;
      expect(finance).to.include({ kind: 'entitlement', target: 'ldap' });
      // The direct grant first: routes are listed shortest path first.
      expect(finance.via).to.deep.equal([
        { grantId: direct.id, source: 'manual', sourceRef: '', grantedBy: 'test:grants', validFrom: null, validUntil: null, path: ['ent:ldap/finance'] },
        {
          grantId: senior.id, source: 'request', sourceRef: 'REQ-9', grantedBy: 'test:grants', validFrom: null, validUntil: new Date(until).toISOString(),
          path: ['role:senior-accountant', 'role:accountant', 'role:finance-reader', 'ent:ldap/finance'],
        },
      ]);
      expect(access.items.find((i) => i.item === 'role:accountant')).to.deep.include({ kind: 'role' });

      const afterwards = await effectiveAccess(db, catalog, who.id, new Date(Date.now() + 6 * DAY));
      expect(afterwards.items.map((i) => i.item)).to.include('ent:ldap/wiki');
      const everything = await effectiveAccess(db, catalog, who.id, new Date(Date.now() + 60 * DAY), { allGrants: true });
      expect(everything.items.find((i) => i.item === 'ent:ldap/wiki')!.via[0]!.grantId).to.equal(later.id);
      expect(everything.items.map((i) => i.item)).to.include('role:senior-accountant');
      const expired = await effectiveAccess(db, catalog, who.id, new Date(Date.now() + 60 * DAY));
      expect(expired.items.map((i) => i.item)).to.deep.equal(['ent:ldap/finance', 'ent:ldap/wiki']);
      expect((await refusal(effectiveAccess(db, catalog, 'ghost@example.com'))).kind).to.equal('notFound');
    });
  });
});
