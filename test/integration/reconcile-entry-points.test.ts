import { expect } from 'chai';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MemoryConnector, type JournalEntry } from '../../connectors/memory/index.js';
import { registerReconcileCommands } from '../../src/cli/reconcile-commands.js';
import { reconciliationRoutes } from '../../src/http/api/routes/reconciliations.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { contractClient, type ApiClient } from '../support/api-client.js';
import { runInProcess } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';
import { PLANNER_CATALOG } from '../support/outbox-fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

onEachDatabase('reconciliation through the API and the CLI', (database) => {
  let dir: string;
  let journal: string;
  let server: TestServer;
  let admin: ApiClient;
  let auditor: ApiClient;
  let savedConfig: string | undefined;

  const iam = (...args: string[]) => runInProcess((program) => registerReconcileCommands(program, (work) => work(database().db), () => 'cli:tester'), ['reconcile', ...args]);
  /** Polls a run until it is no longer running. */
  const finished = async (client: ApiClient, id: string) => {
    for (let i = 0; i < 200; i++) {
      const res = await client.get(`/reconciliations/${id}`);
      expect(res.status, res.text).to.equal(200);
      if (res.body.status !== 'running') return res.body;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`run ${id} still running after 5 s`);
  };

  before(async () => {
    const { db } = database();
    await db.execute('DELETE FROM outbox');
    await db.execute('DELETE FROM accounts');
    dir = mkdtempSync(join(tmpdir(), 'iam-reconcile-'));
    journal = join(dir, 'ldap.journal');
    // An account someone made on the target by hand, before the server started.
    const byHand: JournalEntry = {
      key: 'by-hand', account: { accountId: 'by-hand', identityId: 'nobody', target: 'ldap', accountKey: null },
      operation: { op: 'create', attributes: { userName: 'made.by.hand', extra: {} }, enabled: true, memberships: ['staff'] }, result: { accountKey: 'uid=made.by.hand' },
    };
    appendFileSync(journal, `${JSON.stringify(byHand)}\n`);
    const targets = { ldap: { connector: 'memory', stateFile: journal } };
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ targets }));
    savedConfig = process.env.IAM_CONFIG;
    process.env.IAM_CONFIG = join(dir, 'config.json');
    server = await startTestServer(db, { targets });
    const routes = reconciliationRoutes(server.services);
    admin = contractClient(server.apiUrl, await server.token('iam-admin'), routes);
    auditor = contractClient(server.apiUrl, await server.token('auditor'), routes);
    const identities = new IdentityService(db);
    const ids: string[] = [];
    for (const name of ['ann', 'ben']) {
      const { id } = await identities.create({ schemas: [USER], userName: `${name}.reconcile@example.com` }, { actor: 'test' });
      await db.execute(`INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, 'role:employee', 'manual', '', 'test', ?)`, [randomUUID(), id, new Date().toISOString()]);
      ids.push(id);
    }
    await db.transaction((tx) => server.services.planner.plan(tx, PLANNER_CATALOG, ids, 'test', new Date()));
    expect(await server.services.outbox.drain()).to.deep.include({ done: 2 });
  });

  after(async () => {
    await server.close();
    if (savedConfig === undefined) delete process.env.IAM_CONFIG;
    else process.env.IAM_CONFIG = savedConfig;
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a report from the API in the background, pages its findings and exports them as CSV; an auditor may read but not start', async () => {
    const started = await admin.post('/reconciliations', { target: 'ldap' });
    expect(started.status, started.text).to.equal(202);
    expect(started.headers.get('location')).to.equal(`/api/v1/reconciliations/${started.body.id}`);
    const run = await finished(auditor, started.body.id);
    expect(run).to.deep.include({ status: 'done', mode: 'report', target: 'ldap' });
    expect(run.summary).to.deep.include({ accountsRead: 3, matched: 2, orphans: 1, missing: 0, drift: 0 });
    const page = await auditor.get(`/reconciliations/${run.id}/findings?limit=10`);
    expect(page.body.items).to.have.length(1);
    expect(page.body.items[0]).to.deep.include({ kind: 'orphan', reason: 'no-identity', accountKey: 'uid=made.by.hand', enqueued: 0 });
    const csv = await auditor.get(`/reconciliations/${run.id}/findings?format=csv`);
    expect(csv.status).to.equal(200);
    expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
    expect(csv.text.trim().split('\n')).to.have.length(2);
    expect(csv.text).to.include('orphan,no-identity,uid=made.by.hand');
    const list = await auditor.get('/reconciliations?target=ldap');
    expect(list.body.items.map((r: { id: string }) => r.id)).to.include(run.id);
    expect((await auditor.post('/reconciliations', { target: 'ldap' })).status).to.equal(403);
    expect((await admin.post('/reconciliations', { target: 'nowhere' })).status).to.equal(404);
    expect((await admin.get('/reconciliations/no-such-run')).status).to.equal(404);
  });

  it('`iam reconcile` prints the findings, writes the CSV and exits 1; --fix queues the repair', async () => {
    const csvFile = join(dir, 'findings.csv');
    const report = await iam('ldap', '--csv', csvFile);
    expect(report.code, report.stderr).to.equal(1);
    expect(report.stdout).to.match(/ldap: 3 accounts read, 2 matched/);
    expect(report.stdout).to.match(/orphans 1, missing 0, drift 0/);
    expect(report.stdout).to.match(/orphan\s+no-identity\s+-\s+uid=made\.by\.hand/);
    expect(readFileSync(csvFile, 'utf8')).to.include('orphan,no-identity,uid=made.by.hand');

    const fix = await iam('ldap', '--fix', '--json');
    const out = JSON.parse(fix.stdout) as { run: { summary: { enqueued: number } } };
    expect(out.run.summary.enqueued).to.equal(2);
    await server.services.outbox.drain();
    // The server's connector ran the repair: the by-hand account is off and empty, and still there.
    const ldap = server.services.connectors.get('ldap')!.connector as MemoryConnector;
    const [byHand] = [...ldap.accounts.values()].filter((a) => a.accountKey === 'uid=made.by.hand');
    expect(byHand).to.deep.include({ enabled: false });
    expect([...byHand!.memberships]).to.deep.equal([]);
    expect((await iam('nowhere')).stderr).to.match(/target nowhere has no connector configured/);
    const help = await iam('--help');
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/--fix\s+queue the outbox operations/).and.match(/Exit status: 0 when the target is as planned/);
  });
});
