import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { verifyAuditChain } from '../../src/audit/verify.js';
import type { Database } from '../../src/db/database.js';
import { columnValues } from '../../src/identity/columns.js';
import { GroupService } from '../../src/identity/group-service.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService, MANY_IDENTITIES, type RecomputeReport } from '../../src/policy/birthright.js';
import { Catalog } from '../../src/policy/catalog.js';
import { PolicyChangeLog, readPolicyState, type PolicyChange } from '../../src/policy/changes.js';
import { loadIdentityAttributes, MANAGER_CHAIN_DEPTH } from '../../src/policy/identity-attributes.js';
import type { BirthrightRuleInput, CatalogDocumentInput } from '../../src/policy/model.js';
import { USER_COLUMNS } from '../../src/scim/sql-map.js';
import { onEachDatabase } from '../support/databases.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:birthright', requestId: 'req-birthright' };

const RULES: BirthrightRuleInput[] = [
  { name: 'everyone', expression: 'r.sub.active', item: 'role:workforce' },
  { name: 'employees', expression: "r.sub.employmentType == 'Employee'", item: 'role:employee' },
  { name: 'engineering', expression: "r.sub.department == 'Engineering' && r.sub.employmentType == 'Employee'", item: 'role:engineer' },
  { name: 'platform-team', expression: "hasItem(r.sub.groups, 'Platform Team')", item: 'role:engineer' },
  { name: 'reports-to-e1', expression: "hasItem(r.sub.managerChain, 'E1')", item: 'ent:slack/eng-leads' },
  { name: 'dublin', expression: "r.sub.location == 'Dublin'", item: 'ent:ldap/vpn-users' },
  { name: 'finance', expression: "r.sub.department == 'Finance'", item: 'role:finance-reader' },
  { name: 'accountants', expression: "r.sub.department == 'Finance' && r.sub.title == 'Accountant'", item: 'role:accountant' },
  { name: 'contractors-no-finance', expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'role:finance-reader' },
];

function document(rules: BirthrightRuleInput[] = RULES): CatalogDocumentInput {
  return {
    targets: [{ name: 'ldap', type: 'ldap' }, { name: 'slack', type: 'slack' }],
    entitlements: [
      { target: 'ldap', key: 'account', kind: 'account' },
      { target: 'ldap', key: 'vpn-users', kind: 'group' },
      { target: 'ldap', key: 'finance', kind: 'group' },
      { target: 'slack', key: 'eng-leads', kind: 'usergroup' },
    ],
    roles: [
      { name: 'workforce', entitlements: ['ldap/account'] },
      { name: 'employee', inherits: ['workforce'] },
      { name: 'engineer', inherits: ['employee'] },
      { name: 'finance-reader', entitlements: ['ldap/finance'] },
      { name: 'accountant', inherits: ['finance-reader'] },
      { name: 'bulk' },
    ],
    birthrightRules: rules,
  };
}

const withRules = (change: (rules: BirthrightRuleInput[]) => BirthrightRuleInput[]) => Catalog.fromDocument(document(change(RULES.map((r) => ({ ...r })))));

type Doc = Record<string, unknown>;

function user(userName: string, attrs: { employeeNumber?: string; department?: string; type?: string; title?: string; manager?: string; active?: boolean; addresses?: Doc[] }): Doc {
  return {
    schemas: [USER, ENT],
    userName,
    ...(attrs.type !== undefined && { userType: attrs.type }),
    ...(attrs.title !== undefined && { title: attrs.title }),
    ...(attrs.active !== undefined && { active: attrs.active }),
    ...(attrs.addresses && { addresses: attrs.addresses }),
    [ENT]: {
      ...(attrs.employeeNumber !== undefined && { employeeNumber: attrs.employeeNumber }),
      ...(attrs.department !== undefined && { department: attrs.department }),
      ...(attrs.manager !== undefined && { manager: { value: attrs.manager } }),
    },
  };
}

/** Inserts many identities at once through the same column mapping the identity service uses. */
async function insertIdentities(db: Database, docs: Doc[]): Promise<string[]> {
  const ids = docs.map(() => randomUUID());
  const now = new Date().toISOString();
  const columns = ['id', ...USER_COLUMNS.map((c) => c.column), 'display_label', 'version', 'created', 'last_modified', 'doc'];
  for (let i = 0; i < docs.length; i += 500) {
    const rows = docs.slice(i, i + 500).map((doc) => ({ active: true, ...doc })).map((doc, j) => [ids[i + j], ...columnValues(doc, USER_COLUMNS), null, 1, now, now, JSON.stringify(doc)]);
    await db.execute(`INSERT INTO identities (${columns.join(', ')}) VALUES ${rows.map(() => `(${columns.map(() => '?').join(', ')})`).join(', ')}`, rows.flat());
  }
  return ids;
}

interface GrantRow { identity_id: string; item: string; source: string; source_ref: string; granted_by: string }

async function grantsOf(db: Database, identityId?: string): Promise<string[]> {
  const rows = await db.query<GrantRow>(
    `SELECT identity_id, item, source, source_ref, granted_by FROM grants${identityId ? ' WHERE identity_id = ?' : ''}`, identityId ? [identityId] : []);
  return rows.map((r) => `${r.item} ${r.source}:${r.source_ref}`).sort();
}

async function birthrightAudit(db: Database, afterId: number): Promise<Array<{ target_id: string; actor: string; request_id: string; details: Doc }>> {
  const rows = await db.query<{ target_id: string; actor: string; request_id: string; details: string }>(
    "SELECT target_id, actor, request_id, details FROM audit_events WHERE action = 'grant.birthright' AND id > ? ORDER BY id", [afterId]);
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Doc }));
}

const lastAuditId = async (db: Database) => Number((await db.query<{ m: number | null }>('SELECT MAX(id) AS m FROM audit_events'))[0]!.m ?? 0);

onEachDatabase('birthright rules on identities', (database) => {
  let identities: IdentityService;
  let changes: PolicyChangeLog;
  let service: BirthrightService;
  const heard: PolicyChange[] = [];
  const id: Record<string, string> = {};
  const catalog = Catalog.fromDocument(document());
  const recompute = (c: Catalog, ids: string[] | 'all') => database().db.transaction((tx) => service.recompute(tx, c, ids, ctx));

  before(async () => {
    const { db } = database();
    identities = new IdentityService(db);
    changes = new PolicyChangeLog();
    changes.onChange((c) => heard.push(c));
    service = new BirthrightService(db, changes);
    const make = async (key: string, doc: Doc) => {
      id[key] = (await identities.create(doc, ctx)).id;
    };
    await make('boss', user('Boss@Example.com', { employeeNumber: 'E1', department: 'Engineering', type: 'Employee', title: 'VP Engineering' }));
    await make('lead', user('lead@example.com', { employeeNumber: 'E2', department: 'Engineering', type: 'Employee', manager: id.boss }));
    await make('eng', user('eng@example.com', {
      employeeNumber: 'E3', department: 'Engineering', type: 'Employee', title: 'Software Engineer', manager: id.lead,
      addresses: [{ type: 'home', locality: 'Berlin', primary: true }, { type: 'work', locality: 'Dublin' }],
    }));
    await make('contractor', user('contractor@example.com', {
      employeeNumber: 'E4', department: 'Engineering', type: 'Contractor', manager: id.lead,
      addresses: [{ type: 'home', locality: 'Lisbon' }, { type: 'other', locality: 'Porto', primary: true }],
    }));
    await make('accountant', user('accountant@example.com', { employeeNumber: 'E5', department: 'Finance', type: 'Employee', title: 'Accountant', addresses: [{ locality: 'Dublin' }] }));
    await make('financeContractor', user('fc@example.com', { employeeNumber: 'E6', department: 'Finance', type: 'Contractor', title: 'Accountant' }));
    await make('leaver', user('leaver@example.com', { employeeNumber: 'E7', department: 'Engineering', type: 'Employee', active: false }));
    await make('bare', { schemas: [USER], userName: 'bare@example.com' });
    await make('dangling', user('dangling@example.com', { manager: 'no-such-identity' }));
    await make('cycleA', user('cycle-a@example.com', { employeeNumber: 'C1' }));
    await make('cycleB', user('cycle-b@example.com', { employeeNumber: 'C2', manager: id.cycleA }));
    await identities.update(id.cycleA!, (doc) => ({ ...doc, [ENT]: { employeeNumber: 'C1', manager: { value: id.cycleB } } }), ctx);
    const groups = new GroupService(db);
    await groups.create({ schemas: [GROUP], displayName: 'Platform Team' }, [id.eng!, id.contractor!], ctx);
    await groups.create({ schemas: [GROUP], displayName: 'VPN Users' }, [id.eng!], ctx);
  });

  describe('what a rule sees of an identity', () => {
    it('reads the attributes as written, the work address locality, groups and the manager chain', async () => {
      const all = await loadIdentityAttributes(database().db);
      expect(all.get(id.eng!)).to.deep.equal({
        id: id.eng, userName: 'eng@example.com', active: true, department: 'Engineering', title: 'Software Engineer', location: 'Dublin',
        employmentType: 'Employee', userType: 'Employee', employeeNumber: 'E3',
        managerChain: [id.lead, 'lead@example.com', 'E2', id.boss, 'Boss@Example.com', 'E1'],
        groups: ['Platform Team', 'VPN Users'],
      });
      expect(all.get(id.contractor!)!.location, 'the primary address when there is no work one').to.equal('Porto');
      expect(all.get(id.accountant!)!.location, 'the first address otherwise').to.equal('Dublin');
      expect(all.get(id.boss!)).to.include({ userName: 'Boss@Example.com', department: 'Engineering' });
      expect(all.get(id.leaver!)!.active).to.equal(false);
      expect(all.get(id.bare!)).to.deep.equal({ id: id.bare, userName: 'bare@example.com', active: true, managerChain: [], groups: [] });
      expect(all.get(id.dangling!)!.managerChain, 'a manager that is no identity is named, nothing above it').to.deep.equal(['no-such-identity']);
      expect(all.get(id.cycleA!)!.managerChain, 'a cycle stops before repeating').to.deep.equal([id.cycleB, 'cycle-b@example.com', 'C2']);
      expect(all.get(id.cycleB!)!.managerChain).to.deep.equal([id.cycleA, 'cycle-a@example.com', 'C1']);
    });

    it('reads a few identities the same as all, including managers outside the few', async () => {
      const { db } = database();
      const all = await loadIdentityAttributes(db);
      const few = await loadIdentityAttributes(db, [id.eng!, id.cycleA!, id.dangling!, 'no-such-id', id.eng!]);
      expect([...few.keys()].sort()).to.deep.equal([id.eng, id.cycleA, id.dangling].sort());
      for (const [key, attrs] of few) expect(attrs).to.deep.equal(all.get(key));
    });

    it(`follows a chain at most ${MANAGER_CHAIN_DEPTH} managers up`, async () => {
      const { db } = database();
      let manager: string | undefined;
      const chain: string[] = [];
      for (let i = 0; i < MANAGER_CHAIN_DEPTH + 5; i++) {
        const created = await identities.create(user(`chain${i}@example.com`, { employeeNumber: `K${i}`, ...(manager && { manager }) }), ctx);
        manager = created.id;
        chain.unshift(created.id);
      }
      const bottom = chain[0]!;
      const expected = chain.slice(1, MANAGER_CHAIN_DEPTH + 1).flatMap((m) => {
        const i = chain.length - 1 - chain.indexOf(m);
        return [m, `chain${i}@example.com`, `K${i}`];
      });
      expect((await loadIdentityAttributes(db, [bottom])).get(bottom)!.managerChain).to.deep.equal(expected);
      expect((await loadIdentityAttributes(db)).get(bottom)!.managerChain).to.deep.equal(expected);
      await db.execute(`DELETE FROM identities WHERE user_name LIKE ?`, ['chain%']);
    });
  });

  describe('recompute', () => {
    it('grants what the rules give to every identity, audited and announced', async () => {
      const { db } = database();
      const audited = await lastAuditId(db);
      heard.length = 0;
      const report = await recompute(catalog, 'all');
      expect(await grantsOf(db, id.eng)).to.deep.equal([
        'ent:ldap/vpn-users birthright:dublin', 'ent:slack/eng-leads birthright:reports-to-e1', 'role:employee birthright:employees',
        'role:engineer birthright:engineering', 'role:engineer birthright:platform-team', 'role:workforce birthright:everyone',
      ]);
      expect(await grantsOf(db, id.contractor), 'a contractor: no employee role').to.deep.equal([
        'ent:slack/eng-leads birthright:reports-to-e1', 'role:engineer birthright:platform-team', 'role:workforce birthright:everyone',
      ]);
      expect(await grantsOf(db, id.accountant)).to.deep.equal([
        'ent:ldap/vpn-users birthright:dublin', 'role:accountant birthright:accountants', 'role:employee birthright:employees',
        'role:finance-reader birthright:finance', 'role:workforce birthright:everyone',
      ]);
      expect(await grantsOf(db, id.financeContractor), 'accountant inherits the denied finance-reader').to.deep.equal(['role:workforce birthright:everyone']);
      expect(await grantsOf(db, id.leaver), 'inactive: nothing').to.deep.equal([]);
      expect(await grantsOf(db, id.boss)).to.deep.equal(['role:employee birthright:employees', 'role:engineer birthright:engineering', 'role:workforce birthright:everyone']);
      const rows = await db.query<GrantRow>('SELECT granted_by FROM grants');
      expect(new Set(rows.map((r) => r.granted_by))).to.deep.equal(new Set(['system:birthright']));

      const people = (await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM identities'))[0]!.n;
      expect(report.identities).to.equal(Number(people));
      expect(report.identitiesChanged).to.equal(Number(people) - 1); // all but the leaver
      expect(report.added).to.equal(rows.length);
      expect(report).to.include({ removed: 0, revokedByDeny: 0 });

      const events = await birthrightAudit(db, audited);
      expect(events).to.have.length(report.identitiesChanged);
      const engEvent = events.find((e) => e.target_id === id.eng)!;
      expect(engEvent).to.include({ actor: ctx.actor, request_id: ctx.requestId });
      expect(engEvent.details.added).to.deep.include({ item: 'role:engineer', rule: 'platform-team' });
      expect(engEvent.details).to.include({ policyVersion: (await readPolicyState(db)).version });
      expect(heard).to.deep.equal([{ kind: 'identities', identityIds: events.map((e) => e.target_id) }]);
      const logged = await db.query<{ identity_id: string }>('SELECT identity_id FROM access_changes');
      expect(new Set(logged.map((r) => r.identity_id))).to.deep.equal(new Set(events.map((e) => e.target_id)));
      expect((await verifyAuditChain(db)).ok).to.equal(true);
    });

    it('changes nothing, and audits nothing, when run again', async () => {
      const { db } = database();
      const before = await grantsOf(db);
      const audited = await lastAuditId(db);
      const report = await recompute(catalog, 'all');
      expect(report).to.include({ added: 0, removed: 0, revokedByDeny: 0, identitiesChanged: 0 });
      expect(await grantsOf(db)).to.deep.equal(before);
      expect(await lastAuditId(db)).to.equal(audited);
    });

    it('revokes grants from other sources of an item a deny rule keeps, and leaves other grants alone', async () => {
      const { db } = database();
      const insert = (identityId: string, item: string, source: string, ref: string) => db.execute(
        'INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [randomUUID(), identityId, item, source, ref, 'test', new Date().toISOString()]);
      await insert(id.financeContractor!, 'role:accountant', 'manual', '');
      await insert(id.financeContractor!, 'role:finance-reader', 'request', 'req-7');
      await insert(id.financeContractor!, 'ent:ldap/finance', 'request', 'req-8');
      await insert(id.contractor!, 'role:finance-reader', 'review', 'rev-1');
      await insert(id.eng!, 'role:finance-reader', 'manual', '');
      const audited = await lastAuditId(db);
      const report = await recompute(catalog, [id.financeContractor!, id.eng!]);
      expect(report).to.include({ identities: 2, revokedByDeny: 2, added: 0, removed: 0, identitiesChanged: 1 });
      expect(report.changes).to.deep.equal([{ identityId: id.financeContractor, added: [], removed: [], revoked: ['role:accountant', 'role:finance-reader'] }]);
      expect(await grantsOf(db, id.financeContractor)).to.deep.equal(['ent:ldap/finance request:req-8', 'role:workforce birthright:everyone']);
      expect(await grantsOf(db, id.eng)).to.include('role:finance-reader manual:');
      expect(await grantsOf(db, id.contractor), 'not in the recomputed set').to.include('role:finance-reader review:rev-1');
      const [event] = await birthrightAudit(db, audited);
      expect(event!.target_id).to.equal(id.financeContractor);
      expect((event!.details.revoked as Doc[]).map((r) => [r.item, r.source, r.rules])).to.deep.equal([
        ['role:accountant', 'manual', ['contractors-no-finance']], ['role:finance-reader', 'request', ['contractors-no-finance']],
      ]);
      await recompute(catalog, 'all');
      expect(await grantsOf(db, id.contractor)).not.to.include('role:finance-reader review:rev-1');
    });

    it('removes the birthright grants of an identity that became inactive', async () => {
      const { db } = database();
      await identities.update(id.lead!, (doc) => ({ ...doc, active: false }), ctx);
      const report = await recompute(catalog, [id.lead!]);
      expect(report.removed).to.equal(4);
      expect(await grantsOf(db, id.lead)).to.deep.equal([]);
      await identities.update(id.lead!, (doc) => ({ ...doc, active: true }), ctx);
      expect((await recompute(catalog, [id.lead!])).added).to.equal(4);
    });

    it('writes nothing when the surrounding transaction fails', async () => {
      const { db } = database();
      const before = await grantsOf(db);
      const audited = await lastAuditId(db);
      const narrowed = withRules((rules) => rules.filter((r) => r.name !== 'everyone'));
      let report: RecomputeReport | undefined;
      const failed = await db.transaction(async (tx) => {
        report = await service.recompute(tx, narrowed, 'all', ctx);
        throw new Error('something later in the transaction failed');
      }).catch((err: Error) => err.message);
      expect(failed).to.match(/later in the transaction/);
      expect(report!.removed, 'the recompute did remove grants inside the transaction').to.be.greaterThan(5);
      expect(await grantsOf(db)).to.deep.equal(before);
      expect(await lastAuditId(db)).to.equal(audited);
    });

    it('names the deny rules that keep an item from an identity, through inheritance', async () => {
      const { db } = database();
      expect(await service.denyingRules(db, catalog, id.financeContractor!, 'role:finance-reader')).to.deep.equal(['contractors-no-finance']);
      expect(await service.denyingRules(db, catalog, id.financeContractor!, 'role:accountant')).to.deep.equal(['contractors-no-finance']);
      expect(await service.denyingRules(db, catalog, id.financeContractor!, 'ent:ldap/finance')).to.deep.equal([]);
      expect(await service.denyingRules(db, catalog, id.accountant!, 'role:finance-reader')).to.deep.equal([]);
      expect(await service.denyingRules(db, catalog, 'no-such-identity', 'role:finance-reader')).to.deep.equal([]);
    });
  });

  describe('rule changes recompute exactly the identities they affect', () => {
    // recomputed: the identities the changed rules treat differently; changed: those whose grants change (when not all of them)
    const cases: Array<{ change: string; after: () => Catalog; rules: string[]; recomputed?: string[]; changed: string[]; grants: Record<string, string[]> }> = [
      {
        change: 'a rule narrowed', after: () => withRules((rules) => rules.map((r) => (r.name === 'dublin' ? { ...r, expression: "r.sub.location == 'Dublin' && r.sub.department == 'Finance'" } : r))),
        rules: ['dublin'], changed: ['eng'], grants: { eng: [] },
      },
      {
        change: 'a rule widened to contractors', after: () => withRules((rules) => rules.map((r) => (r.name === 'employees' ? { ...r, expression: "inList(r.sub.employmentType, 'Employee', 'Contractor')" } : r))),
        rules: ['employees'], changed: ['contractor', 'financeContractor'], grants: { contractor: ['role:employee birthright:employees'] },
      },
      {
        change: 'a deny rule disabled', after: () => withRules((rules) => rules.map((r) => (r.name === 'contractors-no-finance' ? { ...r, enabled: false } : r))),
        rules: ['contractors-no-finance'], recomputed: ['contractor', 'financeContractor'], changed: ['financeContractor'], grants: { financeContractor: ['role:accountant birthright:accountants', 'role:finance-reader birthright:finance'] },
      },
      {
        change: 'a rule renamed', after: () => withRules((rules) => rules.map((r) => (r.name === 'reports-to-e1' ? { ...r, name: 'eng-org' } : r))),
        rules: ['eng-org', 'reports-to-e1'], changed: ['lead', 'eng', 'contractor'], grants: { lead: ['ent:slack/eng-leads birthright:eng-org'] },
      },
      {
        change: 'a rule added', after: () => withRules((rules) => [...rules, { name: 'no-e-numbers', expression: "!startsWith(r.sub.employeeNumber, 'E')", item: 'role:bulk' }]),
        rules: ['no-e-numbers'], changed: ['bare', 'dangling', 'cycleA', 'cycleB'], grants: { cycleA: ['role:bulk birthright:no-e-numbers'] },
      },
      { change: 'only a description', after: () => withRules((rules) => rules.map((r) => ({ ...r, description: 'documented' }))), rules: [], changed: [], grants: {} },
    ];

    for (const c of cases) {
      it(`${c.change}: only the identities it treats differently are recomputed`, async () => {
        const { db } = database();
        const after = c.after();
        await recompute(catalog, 'all');
        const before = await grantsOf(db);
        const report = await db.transaction((tx) => service.applyRuleChange(tx, catalog, after, ctx));
        const people = Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM identities'))[0]!.n);
        expect(report.rulesChanged).to.deep.equal(c.rules);
        expect(report.evaluated).to.equal(c.rules.length === 0 ? 0 : people);
        expect(report.identities, 'recomputed').to.equal((c.recomputed ?? c.changed).length);
        expect(report.changes.map((x) => x.identityId).sort()).to.deep.equal(c.changed.map((k) => id[k]).sort());
        for (const [key, expected] of Object.entries(c.grants)) {
          const mine = (await grantsOf(db, id[key])).filter((g) => c.rules.some((r) => g.endsWith(`birthright:${r}`)) || expected.includes(g));
          expect(mine, key).to.deep.equal(expected);
        }
        // a full recompute under the new rules finds nothing left to do
        const full = await recompute(after, 'all');
        expect(full.identitiesChanged, JSON.stringify(full.changes)).to.equal(0);
        // and going back restores the grants
        await db.transaction((tx) => service.applyRuleChange(tx, after, catalog, ctx));
        expect(await grantsOf(db)).to.deep.equal(before);
      });
    }
  });

  describe('many identities', () => {
    const COUNT = 2600;
    let bulk: string[];
    const bulkRule = (enabled: boolean) => withRules((rules) => [
      ...rules,
      { name: 'bulk-a', expression: "startsWith(r.sub.userName, 'bulk')", item: 'role:bulk', enabled },
      { name: 'bulk-b', expression: "r.sub.department == 'Bulk'", item: 'role:bulk', enabled },
    ]);

    before(async function () {
      this.timeout(60_000);
      bulk = await insertIdentities(database().db, Array.from({ length: COUNT }, (_, i) => user(`bulk${i}@example.com`, { department: 'Bulk', type: 'Employee', employeeNumber: `B${i}` })));
    });

    it(`writes and removes thousands of grants in bounded statements, and tells every instance to reload all grants`, async function () {
      this.timeout(120_000);
      const { db } = database();
      const epoch = (await readPolicyState(db)).grantsEpoch;
      heard.length = 0;
      const audited = await lastAuditId(db);
      const granted = await db.transaction((tx) => service.applyRuleChange(tx, catalog, bulkRule(true), ctx));
      // everyone, employees and the two bulk rules, for each new identity
      expect(granted).to.include({ identities: COUNT, identitiesChanged: COUNT, added: COUNT * 4, removed: 0 });
      expect(granted.changes).to.have.length(100);
      expect(COUNT).to.be.greaterThan(MANY_IDENTITIES);
      expect((await readPolicyState(db)).grantsEpoch).to.equal(epoch + 1);
      expect(heard).to.deep.equal([{ kind: 'allGrants', epoch: epoch + 1 }]);
      expect(await birthrightAudit(db, audited)).to.have.length(COUNT);
      const held = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM grants WHERE item = 'role:bulk'");
      expect(Number(held[0]!.n)).to.equal(COUNT * 2);

      const removed = await db.transaction((tx) => service.applyRuleChange(tx, bulkRule(true), bulkRule(false), ctx));
      expect(removed).to.include({ identities: COUNT, removed: COUNT * 2, added: 0 });
      expect(Number((await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM grants WHERE item = 'role:bulk'"))[0]!.n)).to.equal(0);
      expect((await verifyAuditChain(db)).ok).to.equal(true);
      expect(bulk).to.have.length(COUNT);
    });
  });
});
