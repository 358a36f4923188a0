import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { MemoryConnector, type MemoryAccount } from '../../connectors/memory/index.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { PLANNER_CATALOG } from '../support/outbox-fixtures.js';
import { AccountPlanner } from '../../src/provisioning/planner.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';
import { Reconciler, ReconcileError } from '../../src/provisioning/reconciliation/reconciler.js';
import { findingsCsv, readFindings, type StoredFinding } from '../../src/provisioning/reconciliation/findings.js';
import type { Database } from '../../src/db/database.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ctx = { actor: 'test:reconcile' };

onEachDatabase('reconciliation', (database) => {
  let db: Database;
  let identities: IdentityService;
  let ldap: MemoryConnector;
  let registry: ConnectorRegistry;
  let reconciler: Reconciler;
  const planner = new AccountPlanner({ retentionDays: 30 });

  const person = async (name: string) => {
    const userName = `${name}.${randomBytes(3).toString('hex')}`;
    const created = await identities.create({ schemas: [USER], userName, name: { givenName: name, familyName: 'Doe' }, emails: [{ value: `${userName}@example.com`, primary: true }] }, ctx);
    return { id: created.id, userName };
  };
  const grant = (identityId: string, item: string) => db.execute(
    `INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, ?, 'manual', '', 'test', ?)`,
    [randomUUID(), identityId, item, new Date().toISOString()]);
  const plan = (ids: string[]) => db.transaction((tx) => planner.plan(tx, PLANNER_CATALOG, ids, 'test:plan', new Date()));
  const drain = () => new OutboxWorker(db, registry, { pollIntervalMs: 10, batchSize: 50, leaseMs: 60_000, maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 100 }).drain();
  const accountOf = (identityId: string): MemoryAccount => {
    const account = ldap.accountOf(identityId);
    if (!account) throw new Error(`no ldap account for ${identityId}`);
    return account;
  };
  const findings = async (runId: string): Promise<StoredFinding[]> => readFindings(db, runId, { limit: 1000 });
  const pendingOps = async () => (await db.query<{ op: string; payload: string; account_id: string }>(
    "SELECT op, payload, account_id FROM outbox WHERE target = 'ldap' AND status = 'pending' ORDER BY id")).map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }));

  beforeEach(async () => {
    db = database().db;
    identities = new IdentityService(db);
    // Each test gets its own target name's worth of state: the accounts table is shared per database.
    await db.execute('DELETE FROM outbox');
    await db.execute('DELETE FROM accounts');
    ldap = new MemoryConnector('ldap', { pageSize: 2 });
    registry = new ConnectorRegistry([{ connector: ldap, concurrency: 4, ratePerSecond: 0 }]);
    reconciler = new Reconciler(db, registry);
  });

  it('reports nothing for a target exactly as planned, reading it page by page', async () => {
    const people = await Promise.all(['ann', 'bob', 'cy'].map(person));
    for (const p of people) await grant(p.id, 'role:employee');
    await plan(people.map((p) => p.id));
    await drain();
    const pages: number[] = [];
    const run = await reconciler.run('ldap', { fix: false, actor: 'test', onProgress: (n) => pages.push(n) });
    expect(run).to.deep.include({ status: 'done', mode: 'report', target: 'ldap', error: null });
    expect(run.summary).to.deep.include({ accountsRead: 3, matched: 3, orphans: 0, missing: 0, drift: 0, enqueued: 0, inFlight: 0 });
    expect(pages).to.deep.equal([2, 3]);
    expect(await findings(run.id)).to.deep.equal([]);
  });

  it('finds drift, missing accounts and orphans, changes nothing when reporting, and repairs them with --fix', async () => {
    const [memberGone, disabledByHand, renamedMail, deletedByHand, rekeyed, noGrant, dup] = await Promise.all(
      ['mem', 'dis', 'mail', 'del', 'key', 'nogrant', 'dup'].map(person));
    const planned = [memberGone, disabledByHand, renamedMail, deletedByHand, rekeyed, dup];
    for (const p of planned) await grant(p.id, 'role:employee');
    await plan(planned.map((p) => p.id));
    await drain();

    // What people did on the target by hand:
    accountOf(memberGone.id).memberships.delete('staff');
    accountOf(memberGone.id).memberships.add('finance');
    accountOf(disabledByHand.id).enabled = false;
    accountOf(renamedMail.id).attributes = { ...accountOf(renamedMail.id).attributes, email: 'someone.else@example.com' };
    ldap.accounts.delete(accountOf(deletedByHand.id).accountId);
    const rekeyedAccount = accountOf(rekeyed.id);
    const oldKey = rekeyedAccount.accountKey;
    rekeyedAccount.accountKey = 'ldap-recreated-by-hand';
    const stray = (userName: string): MemoryAccount => ({
      accountId: randomUUID(), identityId: 'unknown', accountKey: `ldap-${userName}`, enabled: true,
      attributes: { userName, email: `${userName}@example.com`, extra: {} }, memberships: new Set(['staff']),
    });
    const nobody = stray('no.such.person');
    const ofNoGrant = stray(noGrant.userName);
    const secondOfDup = { ...stray('dup-second'), attributes: { userName: 'dup-second', email: `${dup.userName}@example.com`, extra: {} } };
    for (const a of [nobody, ofNoGrant, secondOfDup]) ldap.accounts.set(a.accountId, a);
    const before = JSON.stringify([...ldap.accounts.values()].map((a) => ({ ...a, memberships: [...a.memberships] })));

    const report = await reconciler.run('ldap', { fix: false, actor: 'test' });
    expect(report.summary).to.deep.include({ accountsRead: 8, orphans: 3, missing: 1, drift: 4, enqueued: 0 });
    const found = await findings(report.id);
    const by = (kind: string, reason: string) => found.filter((f) => f.kind === kind && f.reason === reason).map((f) => f.userName ?? f.accountKey);
    expect(by('drift', 'memberships')).to.deep.equal([memberGone.userName]);
    expect(by('drift', 'status')).to.deep.equal([disabledByHand.userName]);
    expect(by('drift', 'attributes')).to.deep.equal([renamedMail.userName]);
    expect(by('drift', 'key')).to.deep.equal([rekeyed.userName]);
    expect(by('missing', 'absent')).to.deep.equal([deletedByHand.userName]);
    expect(by('orphan', 'no-identity')).to.deep.equal(['ldap-no.such.person']);
    expect(by('orphan', 'no-grant')).to.deep.equal([noGrant.userName]);
    expect(by('orphan', 'duplicate')).to.deep.equal([dup.userName]);
    const mem = found.find((f) => f.userName === memberGone.userName)!;
    expect(mem.detail).to.deep.equal({ differences: [{ what: 'memberships', missing: ['staff'], extra: ['finance'] }] });
    const mail = found.find((f) => f.userName === renamedMail.userName)!;
    expect(mail.detail).to.deep.equal({ differences: [{ what: 'attribute', name: 'email', expected: `${renamedMail.userName}@example.com`, actual: 'someone.else@example.com' }] });
    // Reporting changed nothing anywhere.
    expect(await pendingOps()).to.deep.equal([]);
    expect(JSON.stringify([...ldap.accounts.values()].map((a) => ({ ...a, memberships: [...a.memberships] })))).to.equal(before);
    const csv: string[] = [];
    for await (const line of findingsCsv(db, report.id)) csv.push(line);
    expect(csv[0]).to.equal('seq,kind,reason,account_key,user_name,identity_id,account_id,enqueued,detail\n');
    expect(csv).to.have.length(found.length + 1);

    const fix = await reconciler.run('ldap', { fix: true, actor: 'test' });
    expect(fix.summary).to.deep.include({ orphans: 3, missing: 1, drift: 4, changedMeanwhile: 0 });
    const ops = (await pendingOps()).map((o) => `${o.op}${o.payload.entitlement ? ` ${String(o.payload.entitlement)}` : ''}`);
    // memberships: remove finance, add staff; status: enable; attribute: update; missing: create;
    // three orphans: disable and remove staff each; the re-keyed account needs no operation.
    expect(ops.sort()).to.deep.equal([
      'add-membership staff', 'create', 'disable', 'disable', 'disable', 'enable', 'remove-membership finance',
      'remove-membership staff', 'remove-membership staff', 'remove-membership staff', 'update',
    ]);
    expect(fix.summary!.enqueued).to.equal(11);
    const [keyRow] = await db.query<{ account_key: string }>("SELECT account_key FROM accounts WHERE identity_id = ? AND target = 'ldap'", [rekeyed.id]);
    expect(keyRow!.account_key).to.equal('ldap-recreated-by-hand').and.not.equal(oldKey);
    await drain();

    const after = await reconciler.run('ldap', { fix: false, actor: 'test' });
    // The person without a grant now has a planned, disabled account: nothing to report. The
    // accounts nobody owns are still there, switched off: we never delete what we did not make.
    expect(after.summary).to.deep.include({ missing: 0, drift: 0, orphans: 2 });
    expect((await findings(after.id)).map((f) => `${f.kind} ${f.reason} ${f.accountKey}`).sort()).to.deep.equal([
      'orphan no-identity ldap-dup-second', 'orphan no-identity ldap-no.such.person']);
    for (const a of [nobody, ofNoGrant, secondOfDup]) {
      expect(ldap.accounts.get(a.accountId)).to.deep.include({ enabled: false });
      expect([...ldap.accounts.get(a.accountId)!.memberships]).to.deep.equal([]);
    }
    expect([...accountOf(memberGone.id).memberships]).to.deep.equal(['staff']);
    expect(accountOf(disabledByHand.id).enabled).to.equal(true);
    expect(accountOf(renamedMail.id).attributes.email).to.equal(`${renamedMail.userName}@example.com`);
    expect(accountOf(deletedByHand.id).memberships.has('staff')).to.equal(true);
    // A second fix finds the orphans already off and enqueues nothing.
    const again = await reconciler.run('ldap', { fix: true, actor: 'test' });
    expect(again.summary!.enqueued).to.equal(0);
    const audit = await db.query<{ action: string }>("SELECT action FROM audit_events WHERE target_type = 'target' AND target_id = 'ldap' AND action LIKE 'reconcile.%' ORDER BY id DESC LIMIT 6");
    expect(audit.map((a) => a.action)).to.include.members(['reconcile.finish', 'reconcile.repair']);
  });

  it('leaves out the accounts a target ignores, and only reports orphans where fixOrphans is off', async () => {
    const careful = new Reconciler(db, new ConnectorRegistry([{ connector: ldap, concurrency: 4, ratePerSecond: 0, reconcile: { fixOrphans: false, ignore: ['LDAP-SVC-BACKUP', 'root'] } }]));
    const stray = (key: string, userName: string): MemoryAccount => ({
      accountId: randomUUID(), identityId: 'unknown', accountKey: key, enabled: true, attributes: { userName, extra: {} }, memberships: new Set(['staff']),
    });
    for (const a of [stray('ldap-svc-backup', 'svc-backup'), stray('ldap-root', 'root'), stray('ldap-stranger', 'stranger')]) ldap.accounts.set(a.accountId, a);
    const run = await careful.run('ldap', { fix: true, actor: 'test' });
    // Ignored by key, and by a correlation value (userName root); the stranger is reported, not touched.
    expect(run.summary).to.deep.include({ accountsRead: 3, ignored: 2, orphans: 1, enqueued: 0 });
    expect((await findings(run.id)).map((f) => f.accountKey)).to.deep.equal(['ldap-stranger']);
    expect(await pendingOps()).to.deep.equal([]);
  });

  it('leaves accounts the outbox is still working on alone', async () => {
    const p = await person('busy');
    await grant(p.id, 'role:employee');
    await plan([p.id]);
    // Not drained: the create is pending, so the account's absence is not "missing".
    const run = await reconciler.run('ldap', { fix: true, actor: 'test' });
    expect(run.summary).to.deep.include({ missing: 0, inFlight: 0, enqueued: 0 });
    expect((await pendingOps()).map((o) => o.op)).to.deep.equal(['create']);
  });

  it('records a failed run when the target cannot be read, and refuses an unknown target', async () => {
    ldap.failNext({ times: 1, op: 'list', message: 'connection refused' });
    const run = await reconciler.run('ldap', { fix: false, actor: 'test' });
    expect(run).to.deep.include({ status: 'failed', error: 'connection refused' });
    let error: unknown;
    try {
      await reconciler.run('nowhere', { fix: false, actor: 'test' });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ReconcileError).and.have.property('message').that.matches(/nowhere has no connector configured \(configured: ldap\)/);
  });
});
