import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { ENTERPRISE, newUser, patchOf, scimClient, type ScimClient } from '../support/scim-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { readPolicyFile } from '../../src/policy/seed.js';
import { EffectiveDates } from '../../src/lifecycle/effective-dates.js';
import { MANAGER_CONFIRM_FLAG } from '../../src/lifecycle/jml.js';
import { CatalogCache } from '../../src/policy/catalog.js';
import { planAllAccounts } from '../../src/provisioning/plan-all.js';
import type { CatalogDocumentInput } from '../../src/policy/model.js';
import type { MemoryConnector } from '../../connectors/memory/index.js';

const DAY = 86_400_000;

/*
 * SCIM-driven joiner / mover / leaver through a real server with the example catalogue
 * (policies/catalog.json): a POST is a joiner, a PATCH of department a mover, active=false a
 * leaver, active=true again a rehire; plus the mover grace period, and the effective-dates job
 * with a clock moved forward.
 */
onEachDatabase('lifecycle: SCIM-driven joiner, mover, leaver', (database) => {
  let server: TestServer;
  let scim: ScimClient;

  const grantsOf = async (id: string) => (await database().db.query<{ item: string; source: string; valid_until: string | null; review_flag: string | null }>(
    'SELECT item, source, valid_until, review_flag FROM grants WHERE identity_id = ? ORDER BY item, source', [id]));
  const birthrightItems = async (id: string) => (await grantsOf(id)).filter((g) => g.source === 'birthright').map((g) => g.item);
  const accountsOf = async (id: string) => new Map((await database().db.query<{ target: string; planned_status: string; planned_memberships: string }>(
    'SELECT target, planned_status, planned_memberships FROM accounts WHERE identity_id = ? ORDER BY target', [id]))
    .map((a) => [a.target, { status: a.planned_status, memberships: JSON.parse(a.planned_memberships) as string[] }]));
  const lifecycleOf = async (id: string) => (await database().db.query<{ employee_id: string | null; status: string; terminated_at: string | null }>(
    'SELECT employee_id, status, terminated_at FROM identity_lifecycle WHERE identity_id = ?', [id]))[0];
  const auditActions = async (id: string) => (await database().db.query<{ action: string }>(
    'SELECT action FROM audit_events WHERE target_id = ? ORDER BY id', [id])).map((e) => e.action);

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer(database().db, {
      lifecycle: { moverGraceDays: 0, retentionDays: 30, preProvisionDays: 0, effectiveDatesSchedule: '5 * * * *' },
      targets: Object.fromEntries(['ldap', 'github', 'slack'].map((t) => [t, { connector: 'memory', concurrency: 2, ratePerSecond: 0 }])),
    });
    await server.services.policyStore.replaceAll(await readPolicyFile('policies/catalog.json') as CatalogDocumentInput, { actor: 'test:setup' });
    scim = scimClient(server.scimUrl, await server.token());
  });
  after(() => server?.close());

  it('a POST is a joiner: lifecycle row, birthright grants, accounts planned on every target they need', async () => {
    const res = await scim.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'J-1', department: 'Engineering' } }));
    expect(res.status, JSON.stringify(res.body)).to.equal(201);
    const id = res.body.id as string;
    expect(await lifecycleOf(id)).to.deep.include({ employee_id: 'J-1', status: 'active', terminated_at: null });
    expect(await birthrightItems(id)).to.deep.equal(['role:employee', 'role:engineer', 'role:workforce']);
    const accounts = await accountsOf(id);
    expect([...accounts.keys()]).to.deep.equal(['github', 'ldap', 'slack']);
    expect(accounts.get('ldap')).to.deep.equal({ status: 'enabled', memberships: ['staff', 'vpn-users'] });
    expect(accounts.get('github')).to.deep.equal({ status: 'enabled', memberships: ['engineering'] });
    const ops = await database().db.query<{ target: string; op: string; cause: string }>("SELECT target, op, cause FROM outbox WHERE identity_id = ? AND status = 'pending' ORDER BY id", [id]);
    expect(ops.map((o) => `${o.target}:${o.op}`).sort()).to.deep.equal(['github:create', 'ldap:create', 'slack:create']);
    expect(ops.every((o) => o.cause.startsWith('scim:'))).to.equal(true);
    expect(await auditActions(id)).to.include.members(['identity.create', 'grant.birthright', 'lifecycle.joiner']);
  });

  it('a PATCH of department is a mover: birthright recomputed, requested access kept but flagged for the manager', async () => {
    const created = await scim.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'M-1', department: 'Engineering' } }));
    const id = created.body.id as string;
    await server.services.grants.grant({ identity: id, item: 'role:sre', source: 'request', sourceRef: 'REQ-7', validUntil: new Date(Date.now() + 90 * DAY).toISOString() }, { actor: 'test:approver' });

    const moved = await scim.patch(`/Users/${id}`, patchOf({ op: 'replace', path: `${ENTERPRISE}:department`, value: 'Finance' }));
    expect(moved.status, JSON.stringify(moved.body)).to.equal(200);
    expect(await birthrightItems(id)).to.deep.equal(['role:employee', 'role:finance-reader', 'role:workforce']);
    const requested = (await grantsOf(id)).find((g) => g.source === 'request');
    expect(requested).to.include({ item: 'role:sre', review_flag: MANAGER_CONFIRM_FLAG });
    const accounts = await accountsOf(id);
    expect(accounts.get('ldap')!.memberships).to.include.members(['finance', 'prod-access']);
    // role:sre (requested) still needs github; role:engineer's team went with the move
    expect(accounts.get('github')).to.deep.equal({ status: 'enabled', memberships: ['engineering'] });
    expect(await auditActions(id)).to.include('lifecycle.mover');
  });

  it('active=false is a leaver: every grant revoked, every account disabled; active=true again is a rehire of the same identity', async () => {
    const created = await scim.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'L-1', department: 'Engineering' } }));
    const id = created.body.id as string;
    await server.services.grants.grant({ identity: id, item: 'role:sre', source: 'request', sourceRef: 'REQ-8', validUntil: new Date(Date.now() + 90 * DAY).toISOString() }, { actor: 'test:approver' });

    await server.services.outbox.drain();
    const ldap = server.services.connectors.get('ldap')!.connector as MemoryConnector;
    expect(ldap.accountOf(id)).to.include({ enabled: true });
    expect([...ldap.accountOf(id)!.memberships].sort()).to.deep.equal(['prod-access', 'staff', 'vpn-users']);

    const leftAt = Date.now();
    const left = await scim.patch(`/Users/${id}`, patchOf({ op: 'replace', path: 'active', value: false }));
    expect(left.status, JSON.stringify(left.body)).to.equal(200);
    expect(await grantsOf(id)).to.deep.equal([]);
    expect(await lifecycleOf(id)).to.deep.include({ status: 'terminated' });
    expect((await lifecycleOf(id))!.terminated_at).to.be.a('string');
    // planned: disabled and emptied now, deleted after the retention period
    for (const account of (await accountsOf(id)).values()) expect(account).to.deep.equal({ status: 'deleted', memberships: [] });
    // the targets follow at once: disabled and emptied; the deletion waits for the retention period
    const queued = await database().db.query<{ target: string; op: string; not_before: string }>(
      "SELECT target, op, not_before FROM outbox WHERE identity_id = ? AND status = 'pending' ORDER BY id", [id]);
    expect(queued.filter((o) => o.op === 'delete').map((o) => o.target).sort()).to.deep.equal(['github', 'ldap', 'slack']);
    for (const op of queued.filter((o) => o.op === 'delete')) expect(Date.parse(op.not_before)).to.be.at.least(leftAt + 30 * DAY - 60_000);
    await server.services.outbox.drain();
    expect(ldap.accountOf(id)).to.include({ enabled: false });
    expect(ldap.accountOf(id)!.memberships.size).to.equal(0);
    const revoked = await database().db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'grant.revoke' AND target_id = ?", [id]);
    expect(JSON.parse(revoked[0]!.details)).to.deep.include({ reason: 'leaver' });

    const back = await scim.patch(`/Users/${id}`, patchOf({ op: 'replace', path: 'active', value: true }));
    expect(back.status).to.equal(200);
    expect(back.body.id).to.equal(id);
    expect(await lifecycleOf(id)).to.deep.include({ status: 'active', terminated_at: null });
    expect(await birthrightItems(id)).to.deep.equal(['role:employee', 'role:engineer', 'role:workforce']);
    // the requested grant was revoked on leaving and does not come back by itself
    expect((await grantsOf(id)).some((g) => g.source === 'request')).to.equal(false);
    expect((await accountsOf(id)).get('ldap')!.status).to.equal('enabled');
    // back before the deletion ran: it is cancelled and the same account enabled again
    await server.services.outbox.drain();
    expect(ldap.accountOf(id)).to.include({ enabled: true });
    const deletes = await database().db.query<{ status: string }>("SELECT status FROM outbox WHERE identity_id = ? AND op = 'delete'", [id]);
    expect(deletes.map((d) => d.status)).to.deep.equal(['cancelled', 'cancelled', 'cancelled']);
    expect(await auditActions(id)).to.include.members(['lifecycle.leaver', 'lifecycle.rehire']);
  });

  it('refuses a second identity with an employee id already taken, with a 409 naming it', async () => {
    const first = await scim.post('/Users', newUser({ [ENTERPRISE]: { employeeNumber: 'DUP-1' } }));
    expect(first.status).to.equal(201);
    const second = await scim.post('/Users', newUser({ [ENTERPRISE]: { employeeNumber: 'DUP-1' } }));
    expect(second.status).to.equal(409);
    expect(String(second.body.detail)).to.match(/employee id DUP-1 already belongs to identity/);
    const count = await database().db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM identities WHERE employee_number = 'dup-1'");
    expect(Number(count[0]!.n)).to.equal(1);
  });

  it('a deleted identity has its accounts disabled and its deletion scheduled', async () => {
    const created = await scim.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'D-1', department: 'Sales' } }));
    const id = created.body.id as string;
    expect((await scim.delete(`/Users/${id}`)).status).to.equal(204);
    const accounts = await accountsOf(id);
    expect(accounts.size).to.be.greaterThan(0);
    for (const account of accounts.values()) expect(account.status).to.be.oneOf(['disabled', 'deleted']);
  });

  it('a catalogue edit reaches the accounts at the next plan-accounts pass, and a second pass enqueues nothing', async () => {
    const created = await scim.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'C-1', department: 'Sales' } }));
    const id = created.body.id as string;
    expect((await accountsOf(id)).get('slack')!.memberships).to.deep.equal([]);
    const { policyStore, planner } = server.services;
    const workforce = (await policyStore.catalog()).document.roles.find((r) => r.name === 'workforce')!;
    await policyStore.putRole({ ...workforce, entitlements: [...(workforce.entitlements ?? []), 'slack/oncall'] }, { actor: 'test:admin' });
    expect((await accountsOf(id)).get('slack')!.memberships, 'not before the pass').to.deep.equal([]);

    const pass = await planAllAccounts(database().db, planner, CatalogCache.of(database().db), 'job:plan-accounts:test', new Date());
    expect(pass.identities).to.be.at.least(1);
    expect((await accountsOf(id)).get('slack')!.memberships).to.deep.equal(['oncall']);
    const again = await planAllAccounts(database().db, planner, CatalogCache.of(database().db), 'job:plan-accounts:test', new Date());
    expect(again.enqueued).to.equal(0);
    await policyStore.putRole(workforce, { actor: 'test:admin' });
    await planAllAccounts(database().db, planner, CatalogCache.of(database().db), 'job:plan-accounts:test', new Date());
  });

  it('with a grace period a mover keeps what the move took for that long; the effective-dates job then removes it', async () => {
    const graceServer = await startTestServer(database().db, { lifecycle: { moverGraceDays: 7, retentionDays: 30, preProvisionDays: 0, effectiveDatesSchedule: '5 * * * *' } });
    try {
      const client = scimClient(graceServer.scimUrl, await graceServer.token());
      const created = await client.post('/Users', newUser({ userType: 'Employee', [ENTERPRISE]: { employeeNumber: 'G-1', department: 'Engineering' } }));
      const id = created.body.id as string;
      const movedAt = Date.now();
      await client.patch(`/Users/${id}`, patchOf({ op: 'replace', path: `${ENTERPRISE}:department`, value: 'Sales' }));
      const engineer = (await grantsOf(id)).find((g) => g.item === 'role:engineer')!;
      expect(engineer, 'the role the move took is kept during the grace period').to.exist;
      const until = Date.parse(engineer.valid_until!);
      expect(until).to.be.within(movedAt + 7 * DAY - 60_000, Date.now() + 7 * DAY);
      expect((await accountsOf(id)).get('github')!.status).to.equal('enabled');

      const { identities, jml } = graceServer.services;
      const early = new EffectiveDates(database().db, identities, jml, { preProvisionDays: 0 }, () => new Date(movedAt + 6 * DAY));
      await early.run();
      expect(await birthrightItems(id)).to.include('role:engineer');

      const later = new EffectiveDates(database().db, identities, jml, { preProvisionDays: 0 }, () => new Date(movedAt + 8 * DAY));
      const report = await later.run();
      expect(report.grantsExpired).to.be.at.least(1);
      expect(await birthrightItems(id)).to.deep.equal(['role:employee', 'role:workforce']);
      expect((await accountsOf(id)).get('github')!.status).to.equal('disabled');
    } finally {
      await graceServer.close();
    }
  });

  it('a new manager moves the birthright of everyone below, when a rule reads the manager chain', async () => {
    const catalog = await readPolicyFile('policies/catalog.json') as CatalogDocumentInput;
    const rule = { name: 'under-the-cto', expression: "hasItem(r.sub.managerChain, 'CTO-1')", item: 'ent:slack/oncall' };
    await server.services.policyStore.replaceAll({ ...catalog, birthrightRules: [...catalog.birthrightRules!, rule] }, { actor: 'test:setup' });
    try {
      const person = async (employeeNumber: string, manager?: string) => (await scim.post('/Users', newUser({
        userType: 'Employee', [ENTERPRISE]: { employeeNumber, department: 'Engineering', ...(manager && { manager: { value: manager } }) },
      }))).body.id as string;
      const cto = await person('CTO-1');
      const lead = await person('LEAD-1');
      const report = await person('DEV-1', lead);
      expect(await birthrightItems(report)).not.to.include('ent:slack/oncall');

      const moved = await scim.patch(`/Users/${lead}`, patchOf({ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: cto } }));
      expect(moved.status, JSON.stringify(moved.body)).to.equal(200);
      expect(await birthrightItems(lead)).to.include('ent:slack/oncall');
      expect(await birthrightItems(report), 'the report below the lead moved with them').to.include('ent:slack/oncall');
    } finally {
      await server.services.policyStore.replaceAll(catalog, { actor: 'test:setup' });
    }
  });
});
