import { expect } from 'chai';
import type { Database } from '../../src/db/database.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import type { Catalog } from '../../src/policy/catalog.js';
import { PolicyChangeLog, readPolicyState } from '../../src/policy/changes.js';
import { GrantService } from '../../src/policy/grants.js';
import { PolicyError, type CatalogDocumentInput } from '../../src/policy/model.js';
import { simulate, type SimulationResult } from '../../src/policy/simulate.js';
import { SodService } from '../../src/policy/sod.js';
import { PolicyStore } from '../../src/policy/store.js';
import { onEachDatabase } from '../support/databases.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:simulate' };

const BASE: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }, { name: 'slack', type: 'slack' }],
  entitlements: [
    { target: 'ldap', key: 'account', kind: 'account' },
    { target: 'ldap', key: 'finance', kind: 'group' },
    { target: 'ldap', key: 'ap-clerks', kind: 'group' },
    { target: 'ldap', key: 'payment-approvers', kind: 'group' },
    { target: 'github', key: 'platform', kind: 'team' },
    { target: 'slack', key: 'oncall', kind: 'usergroup' },
  ],
  roles: [
    { name: 'workforce', entitlements: ['ldap/account'] },
    { name: 'employee', inherits: ['workforce'] },
    { name: 'engineer', inherits: ['employee'], entitlements: ['github/platform'] },
    { name: 'sre', inherits: ['engineer'], entitlements: ['slack/oncall'] },
    { name: 'finance-reader', entitlements: ['ldap/finance'] },
    { name: 'accountant', inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'] },
    { name: 'payment-approver', inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'] },
  ],
  birthrightRules: [
    { name: 'everyone', expression: 'r.sub.active', item: 'role:workforce' },
    { name: 'employees', expression: "r.sub.employmentType == 'Employee'", item: 'role:employee' },
    { name: 'engineering', expression: "r.sub.department == 'Engineering' && r.sub.employmentType == 'Employee'", item: 'role:engineer' },
    { name: 'finance', expression: "r.sub.department == 'Finance'", item: 'role:finance-reader' },
    { name: 'accountants', expression: "r.sub.department == 'Finance' && r.sub.title == 'Accountant'", item: 'role:accountant' },
    { name: 'contractors-no-finance', expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'role:finance-reader' },
  ],
  sodRules: [{
    name: 'pay-what-you-enter',
    left: { mode: 'any', items: ['role:accountant', 'ent:ldap/ap-clerks'] },
    right: { mode: 'any', items: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
  }],
};

interface GrantRow { id: string; identity_id: string; item: string; source: string; source_ref: string; valid_from: string | null; valid_until: string | null }

const grantRows = (db: Database) => db.query<GrantRow>('SELECT id, identity_id, item, source, source_ref, valid_from, valid_until FROM grants');

/** Effective items per identity from the grants in force, as the catalogue expands them. */
function effective(catalog: Catalog, rows: GrantRow[]): Map<string, Set<string>> {
  const now = new Date().toISOString();
  const held = new Map<string, string[]>();
  for (const r of rows) {
    if ((r.valid_from !== null && r.valid_from > now) || (r.valid_until !== null && r.valid_until <= now)) continue;
    held.set(r.identity_id, [...(held.get(r.identity_id) ?? []), r.item]);
  }
  return new Map([...held].map(([id, items]) => [id, new Set(catalog.expand(items).keys())]));
}

const grantKey = (g: { identity: string; item: string; source: string; sourceRef: string }) => `${g.identity} ${g.item} ${g.source}:${g.sourceRef}`;

onEachDatabase('policy simulation', (database) => {
  let store: PolicyStore;
  let sod: SodService;
  let grants: GrantService;
  const id: Record<string, string> = {};

  before(async () => {
    const { db } = database();
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    store = new PolicyStore(db, changes, birthright);
    sod = new SodService(db);
    grants = new GrantService(db, changes, birthright, sod);
    const identities = new IdentityService(db);
    const people: Array<[string, string, string, string, string?, boolean?]> = [
      ['alice', 'Engineering', 'Employee', 'Software Engineer', 'Berlin'],
      ['bob', 'Engineering', 'Contractor', 'Software Engineer'],
      ['carol', 'Finance', 'Employee', 'Accountant'],
      ['dan', 'Finance', 'Employee', 'Controller'],
      ['erin', 'Finance', 'Contractor', 'Analyst'],
      ['frank', 'Sales', 'Employee', 'Account Executive'],
      ['hank', 'Finance', 'Employee', 'Accountant', undefined, false],
      ['ivy', 'Support', 'Contractor', 'Support Engineer', 'Berlin'],
      ['judy', 'Engineering', 'Employee', 'Site Reliability Engineer', 'Dublin'],
    ];
    for (const [name, department, type, title, city, active] of people) {
      id[name] = (await identities.create({
        schemas: [USER, ENT], userName: `${name}@example.com`, userType: type, title, active: active ?? true,
        ...(city && { addresses: [{ type: 'work', locality: city }] }),
        [ENT]: { department },
      }, ctx)).id;
    }
    await store.replaceAll(BASE, ctx);
    // Someone who joined after the last recompute: a change recomputes only whom its rules treat
    // differently, so gus gets nothing until one does, and simulate must predict exactly that.
    id.gus = (await identities.create({ schemas: [USER, ENT], userName: 'gus@example.com', userType: 'Employee', title: 'Accountant', [ENT]: { department: 'Finance' } }, ctx)).id;
    const grant = (who: string, item: string, extra: Record<string, unknown> = {}) => grants.grant({ identity: `${who}@example.com`, item, source: 'manual', ...extra }, ctx);
    await grant('bob', 'role:sre');
    await grant('frank', 'role:finance-reader');
    await grant('ivy', 'ent:github/platform');
    await grant('ivy', 'ent:github/platform', { source: 'request', sourceRef: 'req-later', validFrom: new Date(Date.now() + 30 * 86_400_000).toISOString() });
    await grant('dan', 'role:payment-approver');
    await grant('judy', 'role:sre');
  });

  /** Simulates the change, checks that nothing was written, applies it for real, and compares. */
  async function predictsApply(proposal: unknown, apply: () => Promise<unknown>): Promise<SimulationResult> {
    const { db } = database();
    const catalogBefore = await store.catalog();
    const rowsBefore = await grantRows(db);
    const versionBefore = (await readPolicyState(db)).version;
    const auditBefore = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM audit_events');
    const violationsBefore = await sod.report(catalogBefore);

    const predicted = await simulate(db, catalogBefore, proposal, sod);
    expect(await grantRows(db), 'simulate writes no grant').to.deep.equal(rowsBefore);
    expect((await readPolicyState(db)).version, 'nor a policy version').to.equal(versionBefore);
    expect(await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM audit_events'), 'nor an audit event').to.deep.equal(auditBefore);
    expect(predicted.policyVersion).to.equal(versionBefore);

    await apply();
    const catalogAfter = await store.catalog();
    const rowsAfter = await grantRows(db);
    const violationsAfter = await sod.report(catalogAfter);

    const afterIds = new Set(rowsAfter.map((r) => r.id));
    const beforeIds = new Set(rowsBefore.map((r) => r.id));
    const removed = rowsBefore.filter((r) => !afterIds.has(r.id)).map((r) => r.id).sort();
    const added = rowsAfter.filter((r) => !beforeIds.has(r.id)).map((r) => grantKey({ identity: r.identity_id, item: r.item, source: r.source, sourceRef: r.source_ref })).sort();
    const predictedRemoved = predicted.identities.flatMap((i) => i.grantsRemoved.map((g) => g.grantId!)).sort();
    const predictedAdded = predicted.identities.flatMap((i) => i.grantsAdded.map((g) => grantKey({ identity: i.identityId, ...g }))).sort();
    expect(predictedRemoved, 'grants removed').to.deep.equal(removed);
    expect(predictedAdded, 'grants added').to.deep.equal(added);

    const was = effective(catalogBefore, rowsBefore);
    const is = effective(catalogAfter, rowsAfter);
    const actual: Record<string, { gains: string[]; losses: string[] }> = {};
    for (const identityId of new Set([...was.keys(), ...is.keys()])) {
      const a = was.get(identityId) ?? new Set<string>();
      const b = is.get(identityId) ?? new Set<string>();
      const gains = [...b].filter((x) => !a.has(x)).sort();
      const losses = [...a].filter((x) => !b.has(x)).sort();
      if (gains.length + losses.length > 0) actual[identityId] = { gains, losses };
    }
    const foretold = Object.fromEntries(predicted.identities.filter((i) => i.gains.length + i.losses.length > 0).map((i) => [i.identityId, { gains: i.gains, losses: i.losses }]));
    expect(foretold, 'effective gains and losses').to.deep.equal(actual);

    const key = (v: { rule: string; identityId: string }) => `${v.rule} ${v.identityId}`;
    const keysBefore = new Set(violationsBefore.map(key));
    const keysAfter = new Set(violationsAfter.map(key));
    expect(predicted.sodViolationsAdded.map(key).sort(), 'SoD violations added').to.deep.equal(violationsAfter.map(key).filter((k) => !keysBefore.has(k)).sort());
    expect(predicted.sodViolationsRemoved.map(key).sort(), 'SoD violations removed').to.deep.equal(violationsBefore.map(key).filter((k) => !keysAfter.has(k)).sort());
    expect(predicted.totals).to.include({
      identitiesChanged: predicted.identities.length,
      grantsAdded: added.length,
      grantsRemoved: removed.length,
      sodViolationsAdded: predicted.sodViolationsAdded.length,
    });
    return predicted;
  }

  const who = (result: SimulationResult) => Object.fromEntries(result.identities.map((i) => [i.userName.replace('@example.com', ''), { gains: i.gains, losses: i.losses }]));

  describe('predicts exactly what applying the change does', () => {
    it('a grant rule added: a birthright grant beside a manual one, no effective change', async () => {
      const rule = { name: 'controllers-approve', expression: "r.sub.title == 'Controller'", item: 'role:payment-approver' };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'birthrightRule', value: rule }] }, () => store.putBirthrightRule(rule, ctx));
      expect(result.rulesChanged).to.deep.equal(['controllers-approve']);
      expect(result.identities.map((i) => [i.userName, i.grantsAdded])).to.deep.equal([['dan@example.com', [{ item: 'role:payment-approver', source: 'birthright', sourceRef: 'controllers-approve' }]]]);
      expect(who(result)).to.deep.equal({ dan: { gains: [], losses: [] } });
    });

    it('a rule widened: gains, and the SoD violation they cause', async () => {
      const rule = { ...BASE.birthrightRules![4]!, expression: "r.sub.department == 'Finance' && inList(r.sub.title, 'Accountant', 'Controller')" };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'birthrightRule', value: rule }] }, () => store.putBirthrightRule(rule, ctx));
      expect(who(result)).to.deep.equal({ dan: { gains: ['ent:ldap/ap-clerks', 'role:accountant'], losses: [] } });
      expect(result.sodViolationsAdded.map((v) => [v.rule, v.userName, v.excepted])).to.deep.equal([['pay-what-you-enter', 'dan@example.com', false]]);
      expect(result.sodViolationsRemoved).to.deep.equal([]);
    });

    it('a deny rule added: birthright grants withheld through roles, other grants revoked, future ones too', async () => {
      const rule = { name: 'berlin-no-platform', expression: "r.sub.location == 'Berlin'", effect: 'deny', item: 'ent:github/platform' };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'birthrightRule', value: rule }] }, () => store.putBirthrightRule(rule, ctx));
      expect(who(result)).to.deep.equal({
        alice: { gains: [], losses: ['ent:github/platform', 'role:engineer'] },
        ivy: { gains: [], losses: ['ent:github/platform'] },
      });
      const ivy = result.identities.find((i) => i.userName === 'ivy@example.com')!;
      expect(ivy.grantsRemoved.map((g) => `${g.source}:${g.sourceRef}`).sort()).to.deep.equal(['manual:', 'request:req-later']);
    });

    it('a role change that makes a deny rule reach further revokes grants of the role that now gives the denied item', async () => {
      const engineer = { ...BASE.roles![2]!, inherits: ['employee', 'finance-reader'] };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'role', value: engineer }] }, () => store.putRole(engineer, ctx));
      expect(result.rulesChanged).to.deep.equal(['contractors-no-finance']);
      // bob's manual sre inherits engineer, which now gives finance-reader, denied to contractors
      // (bob keeps ent:ldap/account: workforce is his own birthright grant)
      expect(who(result).bob).to.deep.equal({ gains: [], losses: ['ent:github/platform', 'ent:slack/oncall', 'role:employee', 'role:engineer', 'role:sre'] });
      expect(who(result).judy).to.deep.equal({ gains: ['ent:ldap/finance', 'role:finance-reader'], losses: [] });
    });

    it('an entitlement bundled into a role: effective gains only', async () => {
      const workforce = { ...BASE.roles![0]!, entitlements: ['ldap/account', 'slack/oncall'] };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'role', value: workforce }] }, () => store.putRole(workforce, ctx));
      expect(result.totals).to.include({ grantsAdded: 0, grantsRemoved: 0 });
      // everyone holding workforce, except judy, whose sre already gives the user group, and hank, inactive
      expect(result.identities.map((i) => i.userName).sort()).to.deep.equal(['alice', 'bob', 'carol', 'dan', 'erin', 'frank', 'ivy'].map((n) => `${n}@example.com`));
      expect(result.identities.every((i) => i.gains.join() === 'ent:slack/oncall')).to.equal(true);
    });

    it('a SoD rule added: violations appear without any access change', async () => {
      const rule = { name: 'engineers-not-finance', severity: 'medium', left: { mode: 'any', items: ['role:engineer'] }, right: { mode: 'any', items: ['ent:ldap/finance'] } };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'sodRule', value: rule }] }, () => store.putSodRule(rule, ctx));
      expect(result.identities).to.deep.equal([]);
      expect(result.sodViolationsAdded.map((v) => [v.rule, v.userName, v.severity])).to.deep.equal([['engineers-not-finance', 'judy@example.com', 'medium']]);
    });

    it('a rule disabled: its birthright grant goes, access held another way stays (and so does the violation)', async () => {
      const rule = { ...BASE.birthrightRules![2]!, enabled: false };
      const result = await predictsApply({ changes: [{ op: 'put', kind: 'birthrightRule', value: rule }] }, () => store.putBirthrightRule(rule, ctx));
      // judy still holds engineer through her manual sre grant; alice's engineer was already withheld by the Berlin deny rule
      expect(who(result)).to.deep.equal({ judy: { gains: [], losses: [] } });
      expect(result.identities[0]!.grantsRemoved.map((g) => `${g.item} ${g.source}:${g.sourceRef}`)).to.deep.equal(['role:engineer birthright:engineering']);
      expect(result.sodViolationsRemoved).to.deep.equal([]);
    });

    it('a rule deleted', async () => {
      const result = await predictsApply({ changes: [{ op: 'delete', kind: 'birthrightRule', name: 'controllers-approve' }] }, () => store.deleteBirthrightRule('controllers-approve', ctx));
      expect(result.identities.map((i) => [i.userName, i.grantsRemoved.map((g) => g.sourceRef)])).to.deep.equal([['dan@example.com', ['controllers-approve']]]);
    });

    it('several changes at once', async () => {
      const sales = { name: 'sales-oncall', expression: "r.sub.department == 'Sales'", item: 'ent:slack/oncall' };
      const engineering = { ...BASE.birthrightRules![2]!, enabled: true };
      const proposal = {
        changes: [
          { op: 'put', kind: 'birthrightRule', value: sales },
          { op: 'put', kind: 'birthrightRule', value: engineering },
          { op: 'delete', kind: 'birthrightRule', name: 'berlin-no-platform' },
        ],
      };
      const result = await predictsApply(proposal, async () => {
        await store.putBirthrightRule(sales, ctx);
        await store.putBirthrightRule(engineering, ctx);
        await store.deleteBirthrightRule('berlin-no-platform', ctx);
      });
      expect(result.rulesChanged).to.deep.equal(['berlin-no-platform', 'engineering', 'sales-oncall']);
      expect(who(result).alice!.gains).to.include('role:engineer');
      // judy's violation exists already
      expect(result.sodViolationsAdded.map((v) => v.userName)).to.deep.equal(['alice@example.com']);
    });

    it('a whole replacement document (an import)', async () => {
      const document = { ...BASE, sodRules: [], birthrightRules: [...BASE.birthrightRules!, { name: 'all-contractors-finance', expression: "r.sub.employmentType == 'Contractor'", item: 'ent:ldap/finance' }] };
      const result = await predictsApply({ document }, () => store.replaceAll(document, ctx));
      expect(result.rulesChanged).to.include('all-contractors-finance');
      // the deny rule names role:finance-reader, not the entitlement it bundles; workforce no longer bundles the user group
      expect(who(result).erin).to.deep.equal({ gains: ['ent:ldap/finance'], losses: ['ent:slack/oncall'] });
      expect(result.sodViolationsRemoved.map((v) => v.rule).sort()).to.deep.equal(['engineers-not-finance', 'engineers-not-finance', 'pay-what-you-enter']);
      expect(result.totals.identitiesEvaluated).to.equal(Object.keys(id).length);
    });
  });

  describe('bad proposals are refused, and nothing is written', () => {
    const cases: Array<{ why: string; proposal: unknown; kind: PolicyError['kind']; message: RegExp }> = [
      { why: 'not a proposal', proposal: { rules: [] }, kind: 'invalid', message: /the proposal is not valid/ },
      { why: 'no changes', proposal: { changes: [] }, kind: 'invalid', message: /the proposal is not valid: changes/ },
      { why: 'an unknown kind', proposal: { changes: [{ op: 'put', kind: 'grant', value: {} }] }, kind: 'invalid', message: /changes\.0\.kind/ },
      { why: 'a put without a value', proposal: { changes: [{ op: 'put', kind: 'role' }] }, kind: 'invalid', message: /changes\.0\.value/ },
      { why: 'a put with a value that is not a role', proposal: { changes: [{ op: 'put', kind: 'role', value: { name: 'Bad Name' } }] }, kind: 'invalid', message: /change 1 \(put role\): name/ },
      { why: 'a malformed rule', proposal: { changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'x', expression: "r.sub.department == 'x' &&", item: 'role:employee' } }] }, kind: 'invalid', message: /birthright rule x: Expected a condition/ },
      { why: 'an unknown attribute', proposal: { changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'x', expression: "r.sub.salary > '1'", item: 'role:employee' } }] }, kind: 'invalid', message: /Unknown attribute 'salary'/ },
      { why: 'a rule reaching outside', proposal: { changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'x', expression: 'r.sub.constructor', item: 'role:employee' } }] }, kind: 'invalid', message: /Unknown attribute 'constructor'/ },
      { why: 'a rule calling a Casbin function', proposal: { changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'x', expression: "keyMatch(r.sub.title, '*')", item: 'role:employee' } }] }, kind: 'invalid', message: /Unknown function 'keyMatch'/ },
      { why: 'an unknown item', proposal: { changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'x', expression: 'r.sub.active', item: 'role:nope' } }] }, kind: 'invalid', message: /unknown item role:nope/ },
      { why: 'cyclic inheritance', proposal: { changes: [{ op: 'put', kind: 'role', value: { name: 'workforce', inherits: ['sre'] } }] }, kind: 'invalid', message: /cycl|inherit/i },
      { why: 'deleting what does not exist', proposal: { changes: [{ op: 'delete', kind: 'role', name: 'ghost' }] }, kind: 'invalid', message: /deletes role ghost, which does not exist/ },
      { why: 'deleting a role still granted by hand', proposal: { changes: [{ op: 'delete', kind: 'role', name: 'payment-approver' }] }, kind: 'conflict', message: /grants still hold: role:payment-approver \(1 grant\)/ },
      { why: 'deleting a role a SoD rule names', proposal: { changes: [{ op: 'put', kind: 'sodRule', value: { name: 's', left: { items: ['role:sre'] }, right: { items: ['role:auditor-x'] } } }] }, kind: 'invalid', message: /SoD rule s names unknown item role:auditor-x/ },
      { why: 'a document removing a role still granted', proposal: { document: { ...BASE, roles: BASE.roles!.filter((r) => r.name !== 'sre'), sodRules: [] } }, kind: 'conflict', message: /removes items that grants still hold: role:sre \(1 grant\)/ },
    ];
    for (const c of cases) {
      it(`${c.why}`, async () => {
        const { db } = database();
        const before = await grantRows(db);
        let thrown: unknown;
        try {
          await simulate(db, await store.catalog(), c.proposal, sod);
        } catch (err) {
          thrown = err;
        }
        expect(thrown, String(thrown)).to.be.instanceOf(PolicyError);
        expect((thrown as PolicyError).kind, (thrown as Error).message).to.equal(c.kind);
        expect((thrown as Error).message).to.match(c.message);
        expect(await grantRows(db)).to.deep.equal(before);
      });
    }
  });
});
