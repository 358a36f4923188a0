import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { Catalog, loadCatalog } from '../../src/policy/catalog.js';
import { PolicyChangeLog, readPolicyState, type PolicyChange } from '../../src/policy/changes.js';
import { GrantService } from '../../src/policy/grants.js';
import { PolicyError, type CatalogDocumentInput } from '../../src/policy/model.js';
import { SodService } from '../../src/policy/sod.js';
import { SodExceptions } from '../../src/policy/sod-exceptions.js';
import { PolicyStore } from '../../src/policy/store.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:store', requestId: 'req-store' };

async function refusal(work: Promise<unknown>): Promise<PolicyError> {
  try {
    await work;
  } catch (err) {
    expect(err, (err as Error).stack).to.be.instanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected a PolicyError');
}

/** A name no other test uses. */
const fresh = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

onEachDatabase('policy store', (database) => {
  let store: PolicyStore;
  let exceptions: SodExceptions;
  let grants: GrantService;
  let identities: IdentityService;
  let changes: PolicyChangeLog;

  const version = async () => (await readPolicyState(database().db)).version;
  const events = (action: string, targetId: string) => database().db.query<{ actor: string; request_id: string; details: string }>(
    'SELECT actor, request_id, details FROM audit_events WHERE action = ? AND target_id = ? ORDER BY id', [action, targetId]);
  const detailsOf = async (action: string, targetId: string) => (await events(action, targetId)).map((e) => JSON.parse(e.details) as Record<string, unknown>);
  const person = async (department: string) => {
    const userName = `${fresh('p')}@example.com`;
    return (await identities.create({ schemas: [USER, ENTERPRISE], userName, [ENTERPRISE]: { department } }, ctx)).id;
  };

  before(async () => {
    const { db } = database();
    changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    identities = new IdentityService(db, changes);
    store = new PolicyStore(db, changes, birthright);
    exceptions = new SodExceptions(db);
    grants = new GrantService(db, changes, birthright, new SodService(db));
    await store.putTarget({ name: 'ldap', type: 'ldap' }, ctx);
    await store.putTarget({ name: 'github', type: 'github' }, ctx);
    for (const key of ['finance', 'staff', 'ops']) await store.putEntitlement({ target: 'ldap', key, kind: 'group' }, ctx);
  });

  describe('create, read, replace', () => {
    it('creates and replaces a target: one new version each, audited with the policy version', async () => {
      const name = fresh('slack');
      const start = await version();
      const created = await store.putTarget({ name, type: 'slack' }, ctx);
      expect(created.created).to.equal(true);
      expect(created.value).to.include({ name, type: 'slack', version: 1 });
      expect(created.value.created).to.equal(created.value.lastModified);
      const replaced = await store.putTarget({ name, type: 'slack', displayName: 'Slack' }, ctx);
      expect(replaced.created).to.equal(false);
      expect(replaced.value).to.include({ displayName: 'Slack', version: 2, created: created.value.created });
      expect(await store.getTarget(name)).to.deep.equal(replaced.value);
      expect((await store.listTargets()).find((t) => t.name === name)).to.deep.equal(replaced.value);
      expect(await version()).to.equal(start + 2);

      const [create] = await events('target.create', name);
      expect(create).to.include({ actor: 'test:store', request_id: 'req-store' });
      expect(JSON.parse(create!.details)).to.deep.equal({ after: { name, type: 'slack' }, version: 1, policyVersion: start + 1 });
      expect(await detailsOf('target.update', name)).to.deep.equal([{ changed: { displayName: { from: null, to: 'Slack' } }, version: 2, policyVersion: start + 2 }]);
    });

    it('tells listeners after commit, with the new version', async () => {
      const seen: PolicyChange[] = [];
      const stop = changes.onChange((c) => seen.push(c));
      try {
        await store.putEntitlement({ target: 'github', key: fresh('team'), kind: 'team' }, ctx);
      } finally {
        stop();
      }
      expect(seen).to.deep.equal([{ kind: 'catalog', version: await version() }]);
    });

    it('a put that changes nothing is no change: same version, no audit event', async () => {
      const name = fresh('role');
      await store.putRole({ name, inherits: [], entitlements: ['ldap/staff'], owner: null }, ctx);
      const start = await version();
      const again = await store.putRole({ name, entitlements: ['ldap/staff'] }, ctx);
      expect(again).to.deep.include({ created: false });
      expect(again.value.version).to.equal(1);
      expect(await version()).to.equal(start);
      expect(await events('role.update', name)).to.deep.equal([]);
    });

    it('stores a role hierarchy, its bundles and permissions in order, and lists roles', async () => {
      const base = fresh('base');
      const mid = fresh('mid');
      const top = fresh('top');
      await store.putRole({ name: base, entitlements: ['ldap/staff'], permissions: [{ object: '/wiki/*', action: 'read' }] }, ctx);
      await store.putRole({ name: mid, inherits: [base], entitlements: ['ldap/ops', 'ldap/finance'] }, ctx);
      const { value } = await store.putRole({
        name: top, inherits: [mid, base], risk: 'high', maxDurationDays: 30, requestable: true, owner: 'boss@example.com',
        permissions: [{ object: '/deploy/:env', action: 'write' }, { object: '/deploy/:env', action: 'read' }],
      }, ctx);
      expect(value).to.deep.include({ inherits: [mid, base], risk: 'high', maxDurationDays: 30, requestable: true, owner: 'boss@example.com', version: 1 });
      expect(await store.getRole(mid)).to.deep.include({ entitlements: ['ldap/ops', 'ldap/finance'] });
      expect((await store.getRole(top)).permissions).to.deep.equal([{ object: '/deploy/:env', action: 'write' }, { object: '/deploy/:env', action: 'read' }]);
      expect((await store.listRoles()).map((r) => r.name)).to.include.members([base, mid, top]);
      const catalog = await store.catalog();
      expect(catalog.expand([`role:${top}`]).get('ent:ldap/staff')).to.deep.equal([`role:${top}`, `role:${base}`, 'ent:ldap/staff']);
      expect(catalog.accessIndex().decideFor('x', [`role:${top}`], '/wiki/page', 'read').allowed).to.equal(true);
    });

    it('lists entitlements of one target', async () => {
      const listed = await store.listEntitlements({ target: 'ldap' });
      expect(listed.map((e) => e.key)).to.include.members(['finance', 'staff', 'ops']);
      expect(listed.every((e) => e.target === 'ldap' && e.version >= 1)).to.equal(true);
      expect(await store.getEntitlement('ldap', 'ops')).to.deep.include({ kind: 'group', requestable: true, risk: 'low' });
      expect((await refusal(store.getEntitlement('ldap', 'nope'))).kind).to.equal('notFound');
    });
  });

  describe('refusals', () => {
    it('stale ifVersion: preconditionFailed, nothing written; 0 means "must not exist yet"', async () => {
      const name = fresh('role');
      await store.putRole({ name }, ctx, 0);
      await store.putRole({ name, description: 'v2' }, ctx, 1);
      const start = await version();
      const stale = await refusal(store.putRole({ name, description: 'v3' }, ctx, 1));
      expect(stale.kind).to.equal('preconditionFailed');
      expect(stale.message).to.equal(`role ${name} is at version 2, not 1`);
      expect((await refusal(store.putRole({ name, description: 'v3' }, ctx, 0))).kind).to.equal('preconditionFailed');
      expect((await refusal(store.deleteRole(name, ctx, 1))).kind).to.equal('preconditionFailed');
      expect((await refusal(store.putRole({ name: fresh('ghost') }, ctx, 3))).message).to.match(/does not exist \(expected version 3\)/);
      expect((await store.getRole(name)).description).to.equal('v2');
      expect(await version()).to.equal(start);
      await store.deleteRole(name, ctx, 2);
    });

    it('cyclic inheritance is refused naming the cycle, and nothing changes', async () => {
      const [a, b, c] = [fresh('a'), fresh('b'), fresh('c')];
      await store.putRole({ name: a }, ctx);
      await store.putRole({ name: b, inherits: [a] }, ctx);
      await store.putRole({ name: c, inherits: [b] }, ctx);
      const start = await version();
      const err = await refusal(store.putRole({ name: a, inherits: [c] }, ctx));
      expect(err.kind).to.equal('invalid');
      expect(err.message).to.contain('cyclic role inheritance').and.to.match(new RegExp(`role:${a} -> role:${c} -> role:${b} -> role:${a}`));
      const self = await refusal(store.putRole({ name: b, inherits: [b] }, ctx));
      expect(self.message).to.contain(`role:${b} -> role:${b}`);
      expect((await store.getRole(a)).inherits).to.deep.equal([]);
      expect(await version()).to.equal(start);
    });

    type Dangling = [name: string, write: () => Promise<unknown>, message: RegExp];
    const DANGLING: Dangling[] = [
      ['an entitlement of an unknown target', () => store.putEntitlement({ target: 'nowhere', key: 'x', kind: 'group' }, ctx), /entitlement ent:nowhere\/x names unknown target nowhere/],
      ['a role inheriting an unknown role', () => store.putRole({ name: 'r-dangling', inherits: ['nobody'] }, ctx), /role r-dangling inherits unknown role nobody/],
      ['a role bundling an unknown entitlement', () => store.putRole({ name: 'r-dangling', entitlements: ['ldap/nope'] }, ctx), /role r-dangling bundles unknown entitlement ldap\/nope/],
      ['a birthright rule for an unknown item', () => store.putBirthrightRule({ name: 'b-dangling', expression: 'r.sub.active', item: 'role:nobody' }, ctx), /birthright rule b-dangling names unknown item role:nobody/],
      ['an SoD rule naming an unknown item', () => store.putSodRule({ name: 's-dangling', left: { items: ['ent:ldap/ops'] }, right: { items: ['ent:ldap/ghost'] } }, ctx), /SoD rule s-dangling names unknown item ent:ldap\/ghost/],
      ['an SoD rule naming an item on both sides', () => store.putSodRule({ name: 's-both', left: { items: ['ent:ldap/ops'] }, right: { items: ['ent:ldap/ops'] } }, ctx), /names ent:ldap\/ops on both sides/],
      ['a role listing a parent twice', () => store.putRole({ name: 'r-twice', entitlements: ['ldap/ops', 'ldap/ops'] }, ctx), /role r-twice bundles ldap\/ops twice/],
      ['a permission pattern Casbin cannot evaluate', () => store.putRole({ name: 'r-pattern', permissions: [{ object: '/a/:', action: 'read' }] }, ctx), /keyMatch2 never returns/],
      ['a target name that is not a slug', () => store.putTarget({ name: 'Not A Slug', type: 'ldap' }, ctx), /the target is not valid: name:/],
    ];
    for (const [name, write, message] of DANGLING) {
      it(`refuses ${name}`, async () => {
        const start = await version();
        const err = await refusal(write());
        expect(err.kind).to.equal('invalid');
        expect(err.message).to.match(message);
        expect(await version()).to.equal(start);
      });
    }

    it('refuses deleting what is still referenced, naming every referrer', async () => {
      const ent = fresh('ent');
      const [parent, child] = [fresh('parent'), fresh('child')];
      await store.putEntitlement({ target: 'ldap', key: ent, kind: 'group' }, ctx);
      await store.putRole({ name: parent, entitlements: [`ldap/${ent}`] }, ctx);
      await store.putRole({ name: child, inherits: [parent] }, ctx);
      const rule = fresh('rule');
      await store.putBirthrightRule({ name: rule, expression: "r.sub.department == 'Nowhere'", item: `role:${parent}` }, ctx);
      const sodRule = fresh('sod');
      await store.putSodRule({ name: sodRule, left: { items: [`role:${parent}`] }, right: { items: ['ent:ldap/finance'] } }, ctx);
      const holder = await person('Ops');
      await grants.grant({ identity: holder, item: `role:${parent}` }, ctx);

      const role = await refusal(store.deleteRole(parent, ctx));
      expect(role.kind).to.equal('conflict');
      expect(role.message).to.equal(`role ${parent} is still in use: roles ${child} inherit or bundle it; birthright rules ${rule} name it; SoD rules ${sodRule} name it; 1 grant hold it`);
      expect(role.details).to.deep.equal({ references: { entitlements: [], roles: [child], birthrightRules: [rule], sodRules: [sodRule], grants: 1 } });
      const entitlement = await refusal(store.deleteEntitlement('ldap', ent, ctx));
      expect(entitlement.message).to.equal(`entitlement ldap/${ent} is still in use: roles ${parent} inherit or bundle it`);
      const target = await refusal(store.deleteTarget('ldap', ctx));
      expect(target.kind).to.equal('conflict');
      expect(target.message).to.match(/target ldap is still in use: it still has entitlements ent:ldap\/\S+/);
      expect(await store.getRole(parent)).to.deep.include({ version: 1 });
    });

    it('deleting something missing is notFound', async () => {
      for (const work of [store.deleteRole('ghost', ctx), store.deleteTarget('ghost', ctx), store.deleteEntitlement('ldap', 'ghost', ctx), store.deleteBirthrightRule('ghost', ctx), store.deleteSodRule('ghost', ctx)]) {
        const err = await refusal(work);
        expect(err.kind).to.equal('notFound');
        expect(err.message).to.match(/ghost does not exist$/);
      }
    });
  });

  describe('delete', () => {
    it('deletes a role and its links, audited with what it was', async () => {
      const { db } = database();
      const name = fresh('gone');
      await store.putRole({ name, entitlements: ['ldap/ops'], permissions: [{ object: '/x', action: 'read' }] }, ctx);
      const start = await version();
      await store.deleteRole(name, ctx, 1);
      expect((await refusal(store.getRole(name))).kind).to.equal('notFound');
      expect((await store.catalog()).roles.has(name)).to.equal(false);
      for (const table of ['role_entitlements', 'role_permissions', 'role_inherits']) {
        expect(await db.query(`SELECT role FROM ${table} WHERE role = ?`, [name])).to.deep.equal([]);
      }
      const [details] = await detailsOf('role.delete', name);
      expect(details).to.deep.include({ version: 1, policyVersion: start + 1 });
      expect(details!.before).to.deep.include({ name, entitlements: ['ldap/ops'] });
    });
  });

  describe('birthright rules', () => {
    it('stores the expression in canonical form', async () => {
      const name = fresh('canon');
      const { value } = await store.putBirthrightRule({ name, expression: `r.sub.department=="Ops"&&!r.sub.active`, item: 'ent:ldap/ops', effect: 'deny' }, ctx);
      expect(value.expression).to.equal("r.sub.department == 'Ops' && !r.sub.active");
      expect((await store.getBirthrightRule(name)).expression).to.equal("r.sub.department == 'Ops' && !r.sub.active");
      await store.deleteBirthrightRule(name, ctx);
    });

    type BadExpression = [name: string, expression: string, at: (e: string) => number, message: RegExp];
    const BAD: BadExpression[] = [
      ['an unknown attribute', "r.sub.department == 'Ops' && r.sub.salary > '3'", (e) => e.indexOf('salary'), /Unknown attribute 'salary'/],
      ['a call outside the language', 'process.exit()', () => 0, /Unknown name/],
      ['arithmetic', "r.sub.title == 'a' + 'b'", (e) => e.indexOf('+'), /arithmetic is not allowed/],
    ];
    for (const [name, expression, at, message] of BAD) {
      it(`refuses ${name}, naming the position`, async () => {
        const start = await version();
        const err = await refusal(store.putBirthrightRule({ name: 'bad-rule', expression, item: 'ent:ldap/ops' }, ctx));
        expect(err.kind).to.equal('invalid');
        expect(err.message).to.match(message).and.to.match(/^birthright rule bad-rule: /).and.to.contain(`position ${at(expression)}`);
        expect(err.details).to.deep.include({ rule: 'bad-rule', position: at(expression), expression });
        expect(await version()).to.equal(start);
      });
    }

    it('a rule put recomputes the grants of the identities it matches; its delete takes them away', async () => {
      const { db } = database();
      const department = fresh('Dept');
      const [a, b] = [await person(department), await person(department)];
      const outsider = await person('Elsewhere');
      const name = fresh('dept');
      const put = await store.putBirthrightRule({ name, expression: `r.sub.department == '${department}'`, item: 'ent:ldap/staff' }, ctx);
      expect(put.recompute).to.deep.include({ added: 2, removed: 0 });
      const held = async () => (await db.query<{ identity_id: string }>("SELECT identity_id FROM grants WHERE source = 'birthright' AND source_ref = ? ORDER BY identity_id", [name]))
        .map((r) => r.identity_id);
      expect(await held()).to.deep.equal([a, b].sort());
      expect(await held()).not.to.include(outsider);
      const removed = await store.deleteBirthrightRule(name, ctx);
      expect(removed.recompute).to.deep.include({ removed: 2 });
      expect(await held()).to.deep.equal([]);
    });
  });

  describe('SoD rules and exceptions', () => {
    it('stores both sides and their modes', async () => {
      const name = fresh('sod');
      const { value } = await store.putSodRule({ name, severity: 'medium', left: { mode: 'all', items: ['ent:ldap/ops', 'ent:ldap/staff'] }, right: { items: ['ent:ldap/finance'] } }, ctx);
      expect(value).to.deep.include({ severity: 'medium', enabled: true, left: { mode: 'all', items: ['ent:ldap/ops', 'ent:ldap/staff'] }, right: { mode: 'any', items: ['ent:ldap/finance'] } });
      expect(await store.getSodRule(name)).to.deep.equal(value);
      expect((await store.listSodRules()).map((r) => r.name)).to.include(name);
    });

    it('records, renews, lists and deletes exceptions, each audited', async () => {
      const rule = fresh('sod');
      await store.putSodRule({ name: rule, left: { items: ['ent:ldap/ops'] }, right: { items: ['ent:ldap/finance'] } }, ctx);
      const who = await person('Ops');
      const until = new Date(Date.now() + 5 * 86_400_000).toISOString();
      const first = await exceptions.create({ rule, identity: who, reason: 'small team', approvedBy: 'ciso@example.com', validUntil: until }, ctx);
      expect(first).to.include({ rule, identityId: who, reason: 'small team', approvedBy: 'ciso@example.com', validUntil: until });
      expect(first.userName).to.match(/@example\.com$/);
      const renewed = await exceptions.create({ rule, identity: first.userName!, reason: 'still small', approvedBy: 'ciso@example.com' }, ctx);
      expect(renewed).to.include({ id: first.id, reason: 'still small', validUntil: null });
      expect(await exceptions.list({ rule })).to.deep.equal([renewed]);
      expect(await exceptions.list({ identityId: first.userName!.toUpperCase() })).to.deep.equal([renewed]);
      expect(await exceptions.list({ identityId: 'ghost' })).to.deep.equal([]);
      expect((await detailsOf('sodException.create', first.id))[0]!.after).to.deep.include({ reason: 'small team' });
      expect((await detailsOf('sodException.update', first.id))[0]!.before).to.deep.include({ reason: 'small team' });
      await exceptions.remove(first.id, ctx);
      expect(await exceptions.list({ rule })).to.deep.equal([]);
      expect(await detailsOf('sodException.delete', first.id)).to.have.length(1);
      expect((await refusal(exceptions.remove(first.id, ctx))).kind).to.equal('notFound');
    });

    it('refuses exceptions for unknown rules and identities, and ones already over', async () => {
      const who = await person('Ops');
      const rule = (await store.listSodRules())[0]!.name;
      expect((await refusal(exceptions.create({ rule: 'ghost', identity: who, reason: 'x', approvedBy: 'y' }, ctx))).kind).to.equal('notFound');
      expect((await refusal(exceptions.create({ rule, identity: 'ghost', reason: 'x', approvedBy: 'y' }, ctx))).kind).to.equal('notFound');
      const past = await refusal(exceptions.create({ rule, identity: who, reason: 'x', approvedBy: 'y', validUntil: '2001-01-01T00:00:00Z' }, ctx));
      expect(past.kind).to.equal('invalid');
      expect((await refusal(exceptions.create({ rule, identity: who, approvedBy: 'y' }, ctx))).message).to.match(/reason:/);
    });

    it('deleting a rule deletes its exceptions with it', async () => {
      const rule = fresh('sod');
      await store.putSodRule({ name: rule, left: { items: ['ent:ldap/ops'] }, right: { items: ['ent:ldap/finance'] } }, ctx);
      const exception = await exceptions.create({ rule, identity: await person('Ops'), reason: 'x', approvedBy: 'y' }, ctx);
      await store.deleteSodRule(rule, ctx);
      expect(await exceptions.list({ rule })).to.deep.equal([]);
      expect((await detailsOf('sodRule.delete', rule))[0]).to.deep.include({ exceptionsDeleted: [exception.id] });
    });
  });

  it('a write that would dangle on a concurrent one is refused: writes see each other', async () => {
    // sod_rules name items in JSON, so no foreign key would catch this: only the writers taking turns does.
    for (let round = 0; round < 5; round++) {
      const role = fresh('racy');
      await store.putRole({ name: role }, ctx);
      const results = await Promise.allSettled([
        store.deleteRole(role, ctx),
        store.putSodRule({ name: fresh('racy-sod'), left: { items: [`role:${role}`] }, right: { items: ['ent:ldap/finance'] } }, ctx),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled'), JSON.stringify(results)).to.have.length(1);
      expect(await loadCatalog(database().db)).to.be.an.instanceOf(Catalog);
    }
  });

  it('concurrent writes of different roles all land, each with a version of its own', async () => {
    const names = Array.from({ length: 6 }, () => fresh('conc'));
    const start = await version();
    await Promise.all(names.map((name) => store.putRole({ name, entitlements: ['ldap/staff'] }, ctx)));
    expect(await version()).to.equal(start + names.length);
    const versions = (await Promise.all(names.map((n) => detailsOf('role.create', n)))).map(([d]) => d!.policyVersion as number);
    expect(new Set(versions).size).to.equal(names.length);
    expect((await store.catalog()).roles.size).to.be.at.least(names.length);
  });
});

onEachDatabase('policy store: replacing the whole policy', (database) => {
  let store: PolicyStore;
  let grants: GrantService;
  let identities: IdentityService;

  const version = async () => (await readPolicyState(database().db)).version;
  const detailsOf = async (action: string, targetId: string) => (await database().db.query<{ details: string }>(
    'SELECT details FROM audit_events WHERE action = ? AND target_id = ? ORDER BY id', [action, targetId])).map((e) => JSON.parse(e.details) as Record<string, unknown>);
  const person = async (department: string) => {
    const userName = `${fresh('p')}@example.com`;
    return (await identities.create({ schemas: [USER, ENTERPRISE], userName, [ENTERPRISE]: { department } }, ctx)).id;
  };

  before(async () => {
    const { db } = database();
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    identities = new IdentityService(db, changes);
    store = new PolicyStore(db, changes, birthright);
    grants = new GrantService(db, changes, birthright, new SodService(db));
    // What the document below replaces: one target it drops, one entitlement it changes.
    await store.putTarget({ name: 'github', type: 'github' }, ctx);
    await store.putTarget({ name: 'ldap', type: 'ldap' }, ctx);
    await store.putEntitlement({ target: 'ldap', key: 'finance', kind: 'group' }, ctx);
    for (let i = 0; i < 3; i++) await person('Finance');
  });

  const document = (): CatalogDocumentInput => ({
    targets: [{ name: 'ldap', type: 'ldap' }, { name: 'slack', type: 'slack' }],
    entitlements: [
      { target: 'ldap', key: 'staff', kind: 'group' },
      { target: 'ldap', key: 'finance', kind: 'group', risk: 'high' },
      { target: 'slack', key: 'account', kind: 'account' },
    ],
    roles: [
      { name: 'workforce', entitlements: ['ldap/staff', 'slack/account'] },
      { name: 'employee', inherits: ['workforce'] },
      { name: 'finance-reader', inherits: ['employee'], entitlements: ['ldap/finance'] },
    ],
    birthrightRules: [{ name: 'everyone', expression: 'r.sub.active==true', item: 'role:workforce' }],
    sodRules: [],
  });

  it('replaces the whole policy in one version, counting what changed, and recomputes birthright grants', async () => {
    const { db } = database();
    const before = await version();
    const result = await store.replaceAll(document(), ctx);
    expect(result.version).to.equal(before + 1);
    expect(await version()).to.equal(before + 1);
    expect(result.changes.targets).to.deep.include({ created: 1, deleted: 1 });
    expect(result.changes.entitlements).to.deep.equal({ created: 2, updated: 1, deleted: 0 });
    expect(result.changes.roles.created).to.equal(3);
    expect(result.changes.birthrightRules.created).to.equal(1);
    const [{ n: people }] = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM identities');
    expect(result.recompute.added).to.equal(Number(people));
    const catalog = await store.catalog();
    expect(catalog.document.roles.map((r) => [r.name, r.inherits, r.entitlements])).to.have.deep.members(document().roles!.map((r) => [r.name, r.inherits ?? [], r.entitlements ?? []]));
    expect([...catalog.targets.keys()].sort()).to.deep.equal(['ldap', 'slack']);
    expect([...catalog.entitlements.keys()].sort()).to.deep.equal(['ent:ldap/finance', 'ent:ldap/staff', 'ent:slack/account']);
    expect(catalog.birthrightRules.get('everyone')).to.deep.include({ expression: 'r.sub.active == true', item: 'role:workforce', effect: 'grant', enabled: true });
    expect((await store.getEntitlement('ldap', 'finance'))).to.deep.include({ risk: 'high', version: 2 });
    const [details] = await detailsOf('policy.replace', String(result.version));
    expect(details).to.deep.include({ policyVersion: result.version });
    expect((details!.changes as { roles: { created: string[] } }).roles.created).to.have.members(['workforce', 'employee', 'finance-reader']);

    const again = await store.replaceAll(document(), ctx);
    expect(again.version).to.equal(result.version);
    expect(again.recompute.added).to.equal(0);
    expect(await version()).to.equal(result.version);
  });

  it('refuses to remove an item grants still hold, and a document that does not hold together, changing nothing', async () => {
    const holder = await person('Finance');
    await grants.grant({ identity: holder, item: 'role:finance-reader' }, ctx);
    const start = await version();
    const without = document();
    without.roles = without.roles!.filter((r) => r.name !== 'finance-reader');
    const held = await refusal(store.replaceAll(without, ctx));
    expect(held.kind).to.equal('conflict');
    expect(held.message).to.contain('role:finance-reader (1 grant)');

    const cyclic = document();
    cyclic.roles![0]!.inherits = ['finance-reader'];
    const cycle = await refusal(store.replaceAll(cyclic, ctx));
    expect(cycle.kind).to.equal('invalid');
    expect(cycle.message).to.match(/cyclic role inheritance: .*role:workforce/);

    const badRule = document();
    badRule.birthrightRules![0]!.expression = 'r.sub.nope';
    expect((await refusal(store.replaceAll(badRule, ctx))).details).to.deep.include({ rule: 'everyone', position: 6 });
    expect((await refusal(store.replaceAll({ roles: 'x' }, ctx))).message).to.match(/the policy document is not valid: roles:/);
    expect(await version()).to.equal(start);
    expect((await store.catalog()).roles.has('finance-reader')).to.equal(true);
  });

  it('removes roles, entitlements and targets no grant holds, in an order the foreign keys accept', async () => {
    const smaller = document();
    smaller.targets = smaller.targets!.filter((t) => t.name !== 'slack');
    smaller.entitlements = smaller.entitlements!.filter((e) => e.target !== 'slack');
    smaller.roles = smaller.roles!.map((r) => (r.name === 'workforce' ? { ...r, entitlements: ['ldap/staff'] } : r));
    const result = await store.replaceAll(smaller, ctx);
    expect(result.changes.targets.deleted).to.equal(1);
    expect(result.changes.entitlements.deleted).to.equal(1);
    expect(result.changes.roles.updated).to.equal(1);
    expect((await store.catalog()).targets.has('slack')).to.equal(false);
    expect((await store.getRole('workforce')).entitlements).to.deep.equal(['ldap/staff']);
  });
  });
