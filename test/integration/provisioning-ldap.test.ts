import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Attribute, Change, Client } from 'ldapts';
import { createLdapConnector } from '../../connectors/ldap/index.js';
import { insertRows } from '../../src/db/batches.js';
import type { Database } from '../../src/db/database.js';
import { timeOrderedId } from '../../src/db/ids.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import type { Connector } from '../../src/provisioning/connector.js';
import { attributesJson, operationPayload } from '../../src/provisioning/operations.js';
import { Reconciler } from '../../src/provisioning/reconciliation/reconciler.js';
import { readFindings } from '../../src/provisioning/reconciliation/findings.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker, type OutboxWorkerOptions } from '../../src/provisioning/worker.js';
import { onEachDatabase } from '../support/databases.js';
import { count, statuses } from '../support/outbox-fixtures.js';
import { startSlapd, type SlapdServer } from '../support/slapd.js';

/*
 * The outbox, the LDAP connector and reconciliation together, against a real slapd: what the
 * issue asks of them as a whole (a restart in the middle of a run loses nothing; drift made by
 * hand is found and repaired), beyond each part's own tests.
 */
const PEOPLE = 120;
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const WORKER: OutboxWorkerOptions = { pollIntervalMs: 10, batchSize: 20, leaseMs: 60_000, maxAttempts: 100, backoffBaseMs: 20, backoffMaxMs: 200 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

onEachDatabase('provisioning into a real slapd', (database, kind) => {
  let slapd: SlapdServer;
  let db: Database;
  let connector: Connector;
  let registry: ConnectorRegistry;
  let ldap: Client;
  const prefix = `${kind}-${randomBytes(3).toString('hex')}`;
  const userName = (i: number) => `${prefix}-${i}`;
  const groupsOf = (i: number) => ['staff', i % 2 ? 'eng' : 'ops'].sort();

  /**
   * The entries below the people DN made by this suite, with the cns of the groups that list them.
   * Read from the groups' member values, the truth: slapd's memberOf can miss an update made as
   * the server stops.
   */
  async function directory(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for await (const page of ldap.searchPaginated(slapd.peopleDn, { scope: 'sub', filter: `(uid=${prefix}-*)`, attributes: ['uid'], paged: { pageSize: 500 } })) {
      for (const e of page.searchEntries) out.set(String(e.uid), []);
    }
    const { searchEntries: groups } = await ldap.search(slapd.groupsDn, { scope: 'one', filter: '(objectClass=groupOfNames)', attributes: ['cn', 'member'] });
    for (const group of groups) {
      for (const member of ([] as string[]).concat((group.member as string | string[] | undefined) ?? [])) {
        const uid = /^uid=([^,]+),/.exec(member)?.[1];
        if (uid !== undefined) out.get(uid)?.push(String(group.cn));
      }
    }
    for (const list of out.values()) list.sort();
    return out;
  }

  before(async function () {
    this.timeout(30_000);
    slapd = await startSlapd();
    db = database().db;
    const settings = { url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.bindPassword, peopleDn: slapd.peopleDn, groupsDn: slapd.groupsDn, poolSize: 4, timeoutMs: 3000 };
    connector = createLdapConnector('ldap', settings);
    registry = new ConnectorRegistry([{ connector, concurrency: 4, ratePerSecond: 0 }]);
    await connectLdap();
  });

  /** (Re)connects the test's own ldapts client: slapd's restart drops its connection and its bind. */
  async function connectLdap(): Promise<void> {
    await ldap?.unbind().catch(() => undefined);
    ldap = new Client({ url: slapd.url });
    await ldap.bind(slapd.bindDn, slapd.bindPassword);
  }

  after(async () => {
    await ldap?.unbind().catch(() => undefined);
    await connector?.close?.();
    await slapd?.close();
  });

  it('loses nothing when slapd restarts in the middle of a run: every person is made once, with both groups', async function () {
    this.timeout(60_000);
    const now = new Date().toISOString();
    const people = Array.from({ length: PEOPLE }, (_, i) => ({ i, accountId: timeOrderedId(), identityId: timeOrderedId(), attributes: { userName: userName(i), extra: {} } }));
    await db.transaction((tx) => new IdentityService(db).insertMany(tx, people.map((p) => ({ id: p.identityId, doc: { schemas: [USER], userName: p.attributes.userName } })), { actor: 'test' }));
    await insertRows(db, 'accounts',
      ['id', 'identity_id', 'target', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'created', 'last_modified'],
      people.map((p) => [p.accountId, p.identityId, 'ldap', 'enabled', JSON.stringify(groupsOf(p.i)), attributesJson(p.attributes), 'absent', now, now]));
    await insertRows(db, 'outbox',
      ['account_id', 'identity_id', 'target', 'op', 'payload', 'idempotency_key', 'status', 'attempts', 'not_before', 'cause', 'created', 'last_modified'],
      people.map((p) => [p.accountId, p.identityId, 'ldap', 'create', operationPayload({ op: 'create', attributes: p.attributes, enabled: true, memberships: groupsOf(p.i) }), timeOrderedId(), 'pending', 0, now, 'test', now, now]));

    const worker = new OutboxWorker(db, registry, WORKER);
    worker.start();
    try {
      while ((await statuses(db)).done === undefined || (await statuses(db)).done! < 20) await sleep(10);
      await slapd.stop();
      // Operations run meanwhile fail as retryable and wait for their next attempt.
      await sleep(600);
      await slapd.restart();
      await connectLdap();
      const deadline = Date.now() + 40_000;
      while ((await statuses(db)).done !== PEOPLE && Date.now() < deadline) await sleep(50);
    } finally {
      await worker.stop();
    }
    expect(await statuses(db)).to.deep.equal({ done: PEOPLE });
    // The restart was felt: some operation needed more than one attempt.
    expect(await count(db, "SELECT COUNT(*) AS n FROM outbox WHERE target = 'ldap' AND attempts > 1")).to.be.greaterThan(0);
    const found = await directory();
    expect(found.size).to.equal(PEOPLE);
    for (const p of people) expect(found.get(userName(p.i)), userName(p.i)).to.deep.equal(groupsOf(p.i));
  });

  it('finds a membership removed and an entry added by hand, and --fix puts the directory back', async function () {
    this.timeout(30_000);
    await connectLdap();
    const reconciler = new Reconciler(db, registry);
    expect((await reconciler.run('ldap', { fix: false, actor: 'test' })).summary).to.deep.include({ accountsRead: PEOPLE, drift: 0, missing: 0, orphans: 0 });

    const victim = `uid=${userName(3)},${slapd.peopleDn}`;
    await ldap.modify(`cn=staff,${slapd.groupsDn}`, [new Change({ operation: 'delete', modification: new Attribute({ type: 'member', values: [victim] }) })]);
    const strayDn = `uid=${prefix}-stray,${slapd.peopleDn}`;
    await ldap.add(strayDn, { objectClass: ['inetOrgPerson'], uid: `${prefix}-stray`, cn: 'Stray', sn: 'Stray' });
    await ldap.modify(`cn=staff,${slapd.groupsDn}`, [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [strayDn] }) })]);

    const report = await reconciler.run('ldap', { fix: false, actor: 'test' });
    expect(report.summary).to.deep.include({ accountsRead: PEOPLE + 1, drift: 1, missing: 0, orphans: 1 });
    const findings = await readFindings(db, report.id, { limit: 10 });
    expect(findings.map((f) => `${f.kind} ${f.reason}`).sort()).to.deep.equal(['drift memberships', 'orphan no-identity']);

    const fix = await reconciler.run('ldap', { fix: true, actor: 'test' });
    expect(fix.summary).to.deep.include({ enqueued: 3 });
    expect(await new OutboxWorker(db, registry, WORKER).drain()).to.deep.include({ done: 3, dead: 0 });
    const found = await directory();
    expect(found.get(userName(3))).to.deep.equal(groupsOf(3));
    // The stray entry is switched off (moved to the disabled OU, out of its groups), not deleted.
    expect(found.has(`${prefix}-stray`)).to.equal(false);
    const [stray] = (await ldap.search(slapd.disabledDn, { scope: 'one', filter: `(uid=${prefix}-stray)`, attributes: ['uid'] })).searchEntries;
    expect(stray).to.not.equal(undefined);
    const listing = await ldap.search(slapd.groupsDn, { scope: 'one', filter: `(|(member=${strayDn})(member=${stray!.dn}))`, attributes: ['cn'] });
    expect(listing.searchEntries.map((g) => g.cn)).to.deep.equal([]);
    const after = await reconciler.run('ldap', { fix: false, actor: 'test' });
    // Only the switched-off stray is left to report: an account nobody owns.
    expect(after.summary).to.deep.include({ drift: 0, missing: 0, orphans: 1 });
  });
});
