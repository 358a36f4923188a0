import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { MemoryConnector } from '../../connectors/memory/index.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { PLANNER_CATALOG } from '../support/outbox-fixtures.js';
import { enqueueOperations } from '../../src/provisioning/outbox.js';
import { AccountPlanner } from '../../src/provisioning/planner.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';
import type { Database } from '../../src/db/database.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:planner' };
const DAY = 86_400_000;
const RETENTION_DAYS = 30;

const catalog = PLANNER_CATALOG;

interface Row { id: number; op: string; payload: string; status: string; target: string; not_before: string }

onEachDatabase('account planner', (database) => {
  let identities: IdentityService;
  const planner = new AccountPlanner({ retentionDays: RETENTION_DAYS });
  let db: Database;

  const person = async (extra: Record<string, unknown> = {}) => {
    const userName = `p.${randomBytes(4).toString('hex')}@example.com`;
    const created = await identities.create({
      schemas: [USER, ENTERPRISE], userName, name: { givenName: 'Pat', familyName: 'Doe' }, emails: [{ value: userName, primary: true }],
      [ENTERPRISE]: { employeeNumber: `E${randomBytes(3).toString('hex')}` }, ...extra,
    }, ctx);
    return created.id;
  };
  const grant = (identityId: string, item: string) => db.execute(
    `INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, ?, 'manual', '', 'test', ?)`,
    [randomUUID(), identityId, item, new Date().toISOString()]);
  const revoke = (identityId: string, item: string) => db.execute('DELETE FROM grants WHERE identity_id = ? AND item = ?', [identityId, item]);
  const setLifecycle = async (identityId: string, status: string, extra?: Record<string, string>) => {
    await db.execute('DELETE FROM identity_lifecycle WHERE identity_id = ?', [identityId]);
    await db.execute('INSERT INTO identity_lifecycle (identity_id, status, extra, last_modified) VALUES (?, ?, ?, ?)',
      [identityId, status, extra ? JSON.stringify(extra) : null, new Date().toISOString()]);
  };
  const setActive = (identityId: string, active: boolean) => identities.update(identityId, (doc) => ({ ...doc, active }), ctx);
  const plan = (ids: string[], now = new Date(), wouldHold?: Map<string, string[]>) =>
    db.transaction((tx) => planner.plan(tx, catalog, ids, 'test:plan', now, wouldHold));
  /** The outbox rows of an identity, in id order, as "target op detail status". */
  const queue = async (identityId: string, statuses = ['pending']) => {
    const rows = await db.query<Row>(`SELECT id, op, payload, status, target, not_before FROM outbox WHERE identity_id = ? ORDER BY id`, [identityId]);
    return rows.filter((r) => statuses.includes(r.status)).map((r) => {
      const p = JSON.parse(r.payload) as { entitlement?: string; enabled?: boolean; memberships?: string[]; attributes?: { userName: string } };
      const detail = r.op === 'create' ? ` ${p.enabled ? 'enabled' : 'disabled'} [${p.memberships!.join(',')}]` : p.entitlement ? ` ${p.entitlement}` : '';
      return `${r.target} ${r.op}${detail}`;
    });
  };
  const accounts = async (identityId: string) => Object.fromEntries((await db.query<{ target: string; planned_status: string; planned_memberships: string }>(
    'SELECT target, planned_status, planned_memberships FROM accounts WHERE identity_id = ? ORDER BY target', [identityId]))
    .map((a) => [a.target, `${a.planned_status} ${a.planned_memberships}`]));
  /** Runs every due operation on memory targets; returns the targets. */
  const targets = { github: new MemoryConnector('github'), slack: new MemoryConnector('slack'), ldap: new MemoryConnector('ldap') };
  const drain = (clock?: () => Date) => new OutboxWorker(db, new ConnectorRegistry(Object.values(targets).map((connector) => ({ connector, concurrency: 8, ratePerSecond: 0 }))), {
    pollIntervalMs: 10, batchSize: 50, leaseMs: 60_000, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100, clock,
  }).drain();

  before(() => {
    db = database().db;
    identities = new IdentityService(db);
  });

  it('plans a joiner: one create per target reached, carrying its memberships; planning again enqueues nothing', async () => {
    const id = await person();
    await grant(id, 'role:engineer');
    const summary = await plan([id]);
    expect(summary).to.deep.equal({ enqueued: 3, byOp: { create: 3 }, cancelled: 0 });
    expect((await queue(id)).sort()).to.deep.equal(['github create enabled [platform]', 'ldap create enabled [staff]', 'slack create enabled []']);
    expect(await accounts(id)).to.deep.equal({ github: 'enabled ["platform"]', ldap: 'enabled ["staff"]', slack: 'enabled []' });
    const [create] = await db.query<{ payload: string }>(`SELECT payload FROM outbox WHERE identity_id = ? AND target = 'github'`, [id]);
    expect(JSON.parse(create!.payload).attributes).to.deep.include({ givenName: 'Pat', familyName: 'Doe', extra: {} });
    expect(await plan([id])).to.deep.equal({ enqueued: 0, byOp: {}, cancelled: 0 });
  });

  it('folds changes made before the worker ran into the unstarted creates', async () => {
    const id = await person();
    await grant(id, 'role:engineer');
    await plan([id]);
    await grant(id, 'ent:github/api');
    await revoke(id, 'role:engineer');
    await grant(id, 'role:employee');
    // github keeps its create, with the new memberships; nothing new is enqueued.
    expect(await plan([id])).to.deep.equal({ enqueued: 0, byOp: {}, cancelled: 0 });
    expect((await queue(id)).sort()).to.deep.equal(['github create enabled [api]', 'ldap create enabled [staff]', 'slack create enabled []']);
    // A leaver before anything ran: every create cancelled, no delete needed.
    await setActive(id, false);
    expect(await plan([id])).to.deep.equal({ enqueued: 0, byOp: {}, cancelled: 3 });
    expect(await queue(id)).to.deep.equal([]);
    expect(await queue(id, ['cancelled'])).to.have.length(3);
  });

  it('plans a mover, a leaver and a rehire in order, and the memory targets end up as planned', async () => {
    const id = await person();
    const extra = { githubLogin: 'pat-doe' };
    await grant(id, 'role:engineer');
    await setLifecycle(id, 'active', extra);
    await plan([id]);
    await drain();
    expect(targets.github.accountOf(id)?.attributes.extra).to.deep.equal({ githubLogin: 'pat-doe' });

    // Mover: engineering to finance.
    await revoke(id, 'role:engineer');
    await grant(id, 'role:employee');
    await grant(id, 'ent:ldap/finance');
    expect(await plan([id])).to.deep.equal({ enqueued: 3, byOp: { disable: 1, 'remove-membership': 1, 'add-membership': 1 }, cancelled: 0 });
    // github is no longer reached: disabled first, then emptied; the identity stays, so no delete.
    expect(await queue(id)).to.deep.equal(['github disable', 'github remove-membership platform', 'ldap add-membership finance']);
    await drain();
    expect(targets.github.accountOf(id)).to.deep.include({ enabled: false });
    expect([...targets.github.accountOf(id)!.memberships]).to.deep.equal([]);
    expect([...targets.ldap.accountOf(id)!.memberships].sort()).to.deep.equal(['finance', 'staff']);

    // Leaver: everything disabled and emptied at once, deletion after the retention period.
    const now = new Date();
    await setLifecycle(id, 'terminated', extra);
    await plan([id], now);
    const rows = await db.query<Row>(`SELECT id, op, payload, status, target, not_before FROM outbox WHERE identity_id = ? AND status = 'pending' ORDER BY id`, [id]);
    const byTarget = (t: string) => rows.filter((r) => r.target === t).map((r) => r.op);
    expect(byTarget('ldap')).to.deep.equal(['disable', 'remove-membership', 'remove-membership', 'delete']);
    expect(byTarget('slack')).to.deep.equal(['disable', 'delete']);
    expect(byTarget('github')).to.deep.equal(['delete']);
    for (const r of rows.filter((r) => r.op === 'delete')) expect(r.not_before).to.equal(new Date(now.getTime() + RETENTION_DAYS * DAY).toISOString());
    expect(await accounts(id)).to.deep.equal({ github: 'deleted []', ldap: 'deleted []', slack: 'deleted []' });
    await drain();
    expect(targets.slack.accountOf(id)).to.deep.include({ enabled: false });
    expect(await queue(id)).to.deep.equal(['github delete', 'ldap delete', 'slack delete']);

    // Rehire inside the retention period: the deletions of the accounts still needed are
    // cancelled and those accounts enabled again; github, not needed any more, stays scheduled.
    await setLifecycle(id, 'active', extra);
    const rehire = await plan([id]);
    expect(rehire.cancelled).to.equal(2);
    expect(await queue(id)).to.deep.equal(['github delete', 'ldap enable', 'ldap add-membership finance', 'ldap add-membership staff', 'slack enable']);
    await drain();
    expect(targets.ldap.accountOf(id)).to.deep.include({ enabled: true });
    expect([...targets.ldap.accountOf(id)!.memberships].sort()).to.deep.equal(['finance', 'staff']);

    // Leaver again, the deletion runs when its day comes, then a rehire makes the accounts again.
    await setLifecycle(id, 'terminated', extra);
    await plan([id], now);
    await drain(() => new Date(now.getTime() + (RETENTION_DAYS + 1) * DAY));
    expect(targets.ldap.accountOf(id)).to.equal(undefined);
    expect(await db.query(`SELECT observed_status FROM accounts WHERE identity_id = ? AND target = 'ldap'`, [id])).to.deep.equal([{ observed_status: 'deleted' }]);
    await setLifecycle(id, 'active', extra);
    await plan([id]);
    expect((await queue(id)).sort()).to.deep.equal(['ldap create enabled [finance,staff]', 'slack create enabled []']);
    expect(targets.github.accountOf(id)).to.equal(undefined);
    await drain();
    expect([...targets.ldap.accountOf(id)!.memberships].sort()).to.deep.equal(['finance', 'staff']);
  });

  it('updates attributes, pre-provisions a pending hire disabled, and enables it on the start date', async () => {
    const id = await person();
    await setLifecycle(id, 'pending');
    await grant(id, 'role:engineer');
    // Pending outside the window: nothing. Inside it: disabled accounts, no memberships yet.
    expect((await plan([id])).enqueued).to.equal(0);
    expect((await plan([id], new Date(), new Map([[id, ['role:engineer']]]))).enqueued).to.equal(3);
    expect((await queue(id)).sort()).to.deep.equal(['github create disabled []', 'ldap create disabled []', 'slack create disabled []']);
    await drain();
    expect(targets.github.accountOf(id)).to.deep.include({ enabled: false });

    await setLifecycle(id, 'active');
    await identities.update(id, (doc) => ({ ...doc, name: { givenName: 'Patricia', familyName: 'Doe' } }), ctx);
    await plan([id]);
    expect(await queue(id)).to.deep.equal([
      'github update', 'github enable', 'github add-membership platform',
      'ldap update', 'ldap enable', 'ldap add-membership staff',
      'slack update', 'slack enable',
    ]);
    await drain();
    expect(targets.github.accountOf(id)).to.deep.include({ enabled: true });
    expect(targets.github.accountOf(id)!.attributes.givenName).to.equal('Patricia');
    expect(await db.query(`SELECT observed_status, observed_memberships FROM accounts WHERE identity_id = ? AND target = 'github'`, [id]))
      .to.deep.equal([{ observed_status: 'enabled', observed_memberships: '["platform"]' }]);
  });

  it('treats a deactivated or deleted identity as gone: accounts disabled, emptied, deleted later', async () => {
    const deactivated = await person();
    const deleted = await person();
    for (const id of [deactivated, deleted]) await grant(id, 'role:employee');
    await plan([deactivated, deleted]);
    await drain();
    await setActive(deactivated, false);
    await identities.remove(deleted, ctx);
    const summary = await plan([deactivated, deleted]);
    expect(summary.byOp).to.deep.equal({ disable: 4, 'remove-membership': 2, delete: 4 });
    for (const id of [deactivated, deleted]) {
      expect(await queue(id)).to.deep.equal(['ldap disable', 'ldap remove-membership staff', 'ldap delete', 'slack disable', 'slack delete']);
    }
  });

  it('plans thousands of identities in one call, over several chunks', async function () {
    this.timeout(120_000);
    const count = 2500;
    const now = new Date().toISOString();
    const ids = Array.from({ length: count }, () => randomUUID());
    const rows = ids.map((id, i) => {
      const userName = `bulk${i}.${randomBytes(3).toString('hex')}@example.com`;
      const doc = JSON.stringify({ schemas: [USER], userName, active: true, emails: [{ value: userName, primary: true }] });
      return [id, userName, 1, 1, now, now, doc];
    });
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await db.execute(`INSERT INTO identities (id, user_name, active, version, created, last_modified, doc) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`, chunk.flat());
      await db.execute(`INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES ${chunk.map(() => "(?, ?, 'role:engineer', 'birthright', 'r', 'test', ?)").join(', ')}`,
        chunk.flatMap((r) => [randomUUID(), r[0], now]));
    }
    const started = Date.now();
    const summary = await plan(ids);
    const ms = Date.now() - started;
    expect(summary).to.deep.equal({ enqueued: 3 * count, byOp: { create: 3 * count }, cancelled: 0 });
    const [{ n }] = await db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM accounts WHERE planned_status = 'enabled' AND identity_id IN (${ids.slice(0, 900).map(() => '?').join(', ')})`, ids.slice(0, 900));
    expect(Number(n)).to.equal(2700);
    expect((await plan(ids)).enqueued).to.equal(0);
    // Generous: the bulk path runs a few statements per 1,000 identities.
    expect(ms, `${count} identities took ${ms} ms`).to.be.below(20_000);
  });

  it('coalesces enqueued operations with unstarted rows of earlier transactions, and leaves started ones alone', async () => {
    const id = await person();
    const account = { accountId: randomUUID(), identityId: id, target: 'ldap' };
    const attributes = { userName: 'x', extra: {} };
    await db.transaction((tx) => enqueueOperations(tx, [{ account, operation: { op: 'create', attributes, enabled: true, memberships: ['a'] } }], 'first', new Date()));
    // Another transaction: folded into the create row, which gets the new payload.
    expect(await db.transaction((tx) => enqueueOperations(tx, [
      { account, operation: { op: 'add-membership', entitlement: 'b' } },
      { account, operation: { op: 'disable' } },
    ], 'second', new Date()))).to.deep.equal({ enqueued: 0, byOp: {}, cancelled: 0 });
    expect(await queue(id)).to.deep.equal(['ldap create disabled [a,b]']);
    // Once started (a worker attempted it), the create is left as it is.
    await db.execute(`UPDATE outbox SET attempts = 1 WHERE identity_id = ?`, [id]);
    const summary = await db.transaction((tx) => enqueueOperations(tx, [
      { account, operation: { op: 'enable' } },
      { account, operation: { op: 'add-membership', entitlement: 'c' } },
      { account, operation: { op: 'remove-membership', entitlement: 'c' } },
    ], 'third', new Date()));
    expect(summary).to.deep.equal({ enqueued: 1, byOp: { enable: 1 }, cancelled: 0 });
    expect(await queue(id)).to.deep.equal(['ldap create disabled [a,b]', 'ldap enable']);
    const causes = await db.query<{ cause: string }>('SELECT cause FROM outbox WHERE identity_id = ? ORDER BY id', [id]);
    expect(causes.map((c) => c.cause)).to.deep.equal(['first', 'third']);
  });
});
