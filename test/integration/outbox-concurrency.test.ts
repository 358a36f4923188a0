import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { MemoryConnector } from '../../connectors/memory/index.js';
import { Database } from '../../src/db/database.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';
import { count, create, insertAccounts, insertOperations, RecordingConnector, statuses, TEST_WORKER } from '../support/outbox-fixtures.js';

// SKIP LOCKED is what keeps workers apart on MySQL; SQLite has one process, so this is MariaDB only.
describe('two outbox workers on one MariaDB database', () => {
  let database: TestDatabase;
  let other: Database;

  before(async function () {
    this.timeout(60_000);
    database = await createTestDatabase('mariadb');
    // The second worker has its own connection pool, as a second server process would.
    other = await Database.connect(database.url);
  });
  after(async () => {
    await other?.close();
    await database?.drop();
  });

  it('never run one operation, or two operations of one account, at the same time, and each runs once', async function () {
    this.timeout(120_000);
    const { db } = database;
    const memory = new MemoryConnector('shared');
    // One recorder for both workers: an overlap between them shows up here.
    const recorder = new RecordingConnector(memory, () => Math.floor(Math.random() * 3));
    const accounts = await insertAccounts(db, 'shared', 150);
    const operations = accounts.flatMap((account, i) => [
      { account, operation: create(`w${i}`) },
      ...Array.from({ length: 9 }, (_, j) => ({ account, operation: { op: 'add-membership' as const, entitlement: `g${j}` } })),
    ]);
    await insertOperations(db, operations);
    const workers = [db, other].map((sql, i) => new OutboxWorker(sql, new ConnectorRegistry([{ connector: recorder, concurrency: 16, ratePerSecond: 0 }]),
      { ...TEST_WORKER, batchSize: 20, instanceId: `worker-${i}` }));
    for (const w of workers) w.start();
    try {
      const deadline = Date.now() + 90_000;
      while (await count(db, `SELECT COUNT(*) AS n FROM outbox WHERE status = 'done'`) < operations.length) {
        if (Date.now() > deadline) throw new Error(`not done in time: ${JSON.stringify(await statuses(db))}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    expect(recorder.overlaps).to.deep.equal([]);
    // Each operation ran exactly once: no lease expired, so no re-run was needed.
    expect(recorder.runs).to.have.length(operations.length);
    expect(new Set(recorder.runs.map((r) => r.key)).size).to.equal(operations.length);
    expect(memory.replayed).to.equal(0);
    // Both took a share of the work.
    for (const w of workers) expect(w.stats.done, w.instanceId).to.be.above(operations.length / 10);
    expect(workers[0]!.stats.done + workers[1]!.stats.done).to.equal(operations.length);
    const byWorker = await db.query<{ leased_by: string }>(`SELECT leased_by FROM outbox WHERE status = 'done'`);
    expect(new Set(byWorker.map((r) => r.leased_by.split('#')[0]))).to.deep.equal(new Set(['worker-0', 'worker-1']));
    for (const account of accounts) expect(memory.accounts.get(account.accountId)!.memberships.size).to.equal(9);
  });
});
