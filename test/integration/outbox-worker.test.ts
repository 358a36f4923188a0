import { expect } from 'chai';
import { Registry } from 'prom-client';
import { onEachDatabase } from '../support/databases.js';
import { MemoryConnector } from '../../connectors/memory/index.js';
import { NoopConnector } from '../../connectors/noop/index.js';
import type { Database } from '../../src/db/database.js';
import { ConnectorError, type AccountRef, type Connector, type Operation } from '../../src/provisioning/connector.js';
import { retryDead } from '../../src/provisioning/outbox.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker, type OutboxWorkerOptions } from '../../src/provisioning/worker.js';
import { count, create, insertAccounts, insertOperations, RecordingConnector, statuses, withExecute, TEST_WORKER, type TestAccount } from '../support/outbox-fixtures.js';
import { TestClock } from '../support/clock.js';

const registryOf = (...targets: Array<{ connector: Connector; concurrency?: number; ratePerSecond?: number }>) =>
  new ConnectorRegistry(targets.map((t) => ({ connector: t.connector, concurrency: t.concurrency ?? 8, ratePerSecond: t.ratePerSecond ?? 0 })));

interface OpRow { id: number | string; status: string; attempts: number | string; not_before: string; last_error: string | null; leased_by: string | null }
const opRow = async (db: Database, id: number) => {
  const [row] = await db.query<OpRow>('SELECT id, status, attempts, not_before, last_error, leased_by FROM outbox WHERE id = ?', [id]);
  return { status: row!.status, attempts: Number(row!.attempts), notBefore: row!.not_before, lastError: row!.last_error, leasedBy: row!.leased_by };
};

onEachDatabase('outbox worker', (database) => {
  let db: Database;
  // Each test uses its own target name, so counts by target see only that test's rows.
  let n = 0;
  const target = () => `t${++n}`;
  const worker = (connectors: ConnectorRegistry, options: Partial<OutboxWorkerOptions> = {}) => new OutboxWorker(db, connectors, { ...TEST_WORKER, ...options });

  before(() => {
    db = database().db;
  });

  it('runs each account\'s operations one at a time, in id order, with many accounts in parallel', async function () {
    this.timeout(60_000);
    const memory = new MemoryConnector(target());
    const recorder = new RecordingConnector(memory, () => Math.floor(Math.random() * 3));
    const accounts = await insertAccounts(db, memory.target, 40);
    const plan = (a: TestAccount, i: number): Operation[] => [
      create(`u${i}`, ['a']),
      { op: 'add-membership', entitlement: 'b' },
      { op: 'update', attributes: { userName: `u${i}-renamed`, extra: {} } },
      { op: 'add-membership', entitlement: 'c' },
      { op: 'remove-membership', entitlement: 'a' },
      { op: 'disable' },
    ];
    const ids = await insertOperations(db, accounts.flatMap((account, i) => plan(account, i).map((operation) => ({ account, operation }))));
    const stats = await worker(registryOf({ connector: recorder, concurrency: 8 })).drain();
    expect(stats).to.deep.equal({ done: ids.length, retried: 0, dead: 0, stale: 0 });
    expect(recorder.overlaps).to.deep.equal([]);
    expect(recorder.maxAtOnce).to.be.above(1).and.at.most(8);
    // The order each account's operations ran in is their id order.
    const keyToId = new Map((await db.query<{ id: number | string; idempotency_key: string }>(
      `SELECT id, idempotency_key FROM outbox WHERE target = ?`, [memory.target])).map((r) => [r.idempotency_key, Number(r.id)]));
    for (const account of accounts) {
      const ran = recorder.runs.filter((r) => r.accountId === account.accountId).map((r) => keyToId.get(r.key)!);
      expect(ran).to.have.length(6);
      expect(ran).to.deep.equal([...ran].sort((a, b) => a - b));
    }
    for (const [i, account] of accounts.entries()) {
      const held = memory.accounts.get(account.accountId)!;
      expect([held.enabled, [...held.memberships].sort(), held.attributes.userName]).to.deep.equal([false, ['b', 'c'], `u${i}-renamed`]);
    }
    // The accounts table follows what the target now has, with the key the create reported.
    const observed = await db.query<{ id: string; account_key: string; observed_status: string; observed_memberships: string }>(
      'SELECT id, account_key, observed_status, observed_memberships FROM accounts WHERE target = ?', [memory.target]);
    expect(observed).to.have.length(40);
    for (const a of observed) {
      expect([a.observed_status, a.observed_memberships]).to.deep.equal(['disabled', '["b","c"]']);
      expect(a.account_key).to.equal(memory.accounts.get(a.id)!.accountKey);
    }
  });

  it('retries a retryable failure with exponential backoff, not before it is due, until it succeeds', async () => {
    const memory = new MemoryConnector(target());
    const [account] = await insertAccounts(db, memory.target, 1);
    const [id] = await insertOperations(db, [{ account: account!, operation: create('retry-me') }]);
    memory.failNext({ times: 3, message: 'connection reset by target' });
    const clock = new TestClock();
    // random() = 0.5: the delay is half of base · 2^(attempt-1).
    const w = worker(registryOf({ connector: memory }), { clock: clock.now, random: () => 0.5, backoffBaseMs: 1000 });
    for (const [attempt, delay] of [[1, 500], [2, 1000], [3, 2000]] as const) {
      expect(await w.drain()).to.deep.include({ done: 0, retried: 1 });
      const row = await opRow(db, id!);
      expect(row).to.deep.include({ status: 'pending', attempts: attempt, lastError: 'connection reset by target' });
      expect(Date.parse(row.notBefore) - clock.at()).to.equal(delay);
      // Not yet due: nothing runs.
      clock.advance(delay - 1);
      expect(await w.drain()).to.deep.include({ done: 0, retried: 0 });
      clock.advance(1);
    }
    expect(await w.drain()).to.deep.include({ done: 1 });
    expect(await opRow(db, id!)).to.deep.include({ status: 'done', attempts: 4, lastError: null });
    expect(memory.calls).to.equal(4);
    expect(memory.accounts.size).to.equal(1);
  });

  it('honours Retry-After for the operation and pauses its target meanwhile', async () => {
    const memory = new MemoryConnector(target());
    const [first, second] = await insertAccounts(db, memory.target, 2);
    const [a, b] = await insertOperations(db, [{ account: first!, operation: create('first') }, { account: second!, operation: create('second') }]);
    memory.failNext({ times: 1, retryAfterMs: 60_000, message: '429 Too Many Requests' });
    const clock = new TestClock();
    // Concurrency 1: the second operation would start right after the first; the pause stops it.
    const w = worker(registryOf({ connector: memory, concurrency: 1 }), { clock: clock.now, random: () => 0 });
    await w.drain();
    expect(Date.parse((await opRow(db, a!)).notBefore) - clock.at()).to.equal(60_000);
    expect(await opRow(db, b!)).to.deep.include({ status: 'pending', attempts: 0 });
    clock.advance(59_000);
    await w.drain();
    expect((await opRow(db, a!)).status).to.equal('pending');
    expect((await opRow(db, b!)).status).to.equal('pending');
    clock.advance(1_001);
    expect(await w.drain()).to.deep.include({ done: 2 });
  });

  it('makes an operation dead after a permanent failure or the last attempt, holds its account back, counts it, and retries it on request', async () => {
    const memory = new MemoryConnector(target());
    const registry = new Registry();
    const [permanent, flaky, healthy] = await insertAccounts(db, memory.target, 3);
    const [p1, p2, f1, h1] = await insertOperations(db, [
      { account: permanent!, operation: create('permanent') },
      { account: permanent!, operation: { op: 'add-membership', entitlement: 'x' } },
      { account: flaky!, operation: create('flaky') },
      { account: healthy!, operation: create('healthy') },
    ]);
    memory.failNext({ times: 1, retryable: false, accountId: permanent!.accountId, message: 'userName rejected by target' });
    memory.failNext({ times: 10, accountId: flaky!.accountId, message: 'timeout' });
    const clock = new TestClock();
    const w = worker(registryOf({ connector: memory }), { clock: clock.now, random: () => 0, maxAttempts: 3, registry });
    for (let i = 0; i < 3; i++) await w.drain();
    expect(await opRow(db, p1!)).to.deep.include({ status: 'dead', attempts: 1, lastError: 'userName rejected by target' });
    expect(await opRow(db, f1!)).to.deep.include({ status: 'dead', attempts: 3, lastError: 'timeout' });
    expect((await opRow(db, h1!)).status).to.equal('done');
    // The dead create holds back the account's next operation, however long it waits.
    clock.advance(86_400_000);
    await w.drain();
    expect(await opRow(db, p2!)).to.deep.include({ status: 'pending', attempts: 0 });

    const metrics = await registry.getMetricsAsJSON();
    const values = (name: string) => metrics.find((m) => m.name === name)!.values as Array<{ value: number; labels: Record<string, string> }>;
    const outcome = (o: string) => values('iam_outbox_operations_total').filter((v) => v.labels.target === memory.target && v.labels.outcome === o).reduce((s, v) => s + v.value, 0);
    expect([outcome('done'), outcome('retry'), outcome('dead')]).to.deep.equal([1, 2, 2]);
    expect(values('iam_outbox_dead').find((v) => v.labels.target === memory.target)?.value).to.equal(2);
    expect(values('iam_outbox_pending').find((v) => v.labels.target === memory.target)?.value).to.equal(1);

    const retried = await db.transaction((tx) => retryDead(tx, [p1!, h1!, 999_999], { actor: 'test:ops' }, clock.now()));
    expect(retried).to.deep.equal({ retried: [p1], skipped: [{ id: 999_999, status: 'missing' }, { id: h1, status: 'done' }] });
    expect(await opRow(db, p1!)).to.deep.include({ status: 'pending', attempts: 0 });
    const [audit] = await db.query<{ actor: string; target_id: string; details: string }>(
      `SELECT actor, target_id, details FROM audit_events WHERE action = 'outbox.retry' ORDER BY id DESC LIMIT 1`);
    expect(audit).to.deep.include({ actor: 'test:ops', target_id: String(p1) });
    expect(JSON.parse(audit!.details)).to.deep.include({ op: 'create', lastError: 'userName rejected by target', attemptsBefore: 1 });
    expect(await w.drain()).to.deep.include({ done: 2 });
    expect([...memory.accounts.get(permanent!.accountId)!.memberships]).to.deep.equal(['x']);
    expect((await db.transaction((tx) => retryDead(tx, 'all-dead', { actor: 'test:ops' }, clock.now()))).retried).to.deep.equal([f1]);
  });

  it('runs an operation again once a crashed worker\'s lease expires, and the idempotent connector applies it once', async () => {
    const memory = new MemoryConnector(target());
    const [account] = await insertAccounts(db, memory.target, 1);
    const [c, add] = await insertOperations(db, [{ account: account!, operation: create('crash') }, { account: account!, operation: { op: 'add-membership', entitlement: 'x' } }]);
    // A worker claimed both... no: it claimed the create, applied it, and died before recording.
    const [{ idempotency_key: key }] = await db.query<{ idempotency_key: string }>('SELECT idempotency_key FROM outbox WHERE id = ?', [c]);
    const ref: AccountRef = { accountId: account!.accountId, identityId: account!.identityId, target: memory.target, accountKey: null };
    await memory.execute(ref, create('crash'), key);
    const clock = new TestClock();
    const leaseUntil = new Date(clock.at() + 30_000).toISOString();
    await db.execute(`UPDATE outbox SET status = 'running', attempts = 1, lease_until = ?, leased_by = 'crashed-host:1:abc#7' WHERE id = ?`, [leaseUntil, c]);
    const w = worker(registryOf({ connector: memory }), { clock: clock.now });
    // Leased: nobody else touches it, and the account's next operation waits behind it.
    expect(await w.drain()).to.deep.include({ done: 0 });
    expect(await opRow(db, add!)).to.deep.include({ status: 'pending' });
    clock.advance(30_001);
    expect(await w.drain()).to.deep.include({ done: 2 });
    expect(await opRow(db, c!)).to.deep.include({ status: 'done', attempts: 2 });
    expect(memory.replayed).to.equal(1);
    expect(memory.accounts.size).to.equal(1);
    expect([...memory.accounts.get(account!.accountId)!.memberships]).to.deep.equal(['x']);
  });

  it('drops the result of a worker whose lease another worker has taken over', async () => {
    const memory = new MemoryConnector(target());
    const [account] = await insertAccounts(db, memory.target, 1);
    const [id] = await insertOperations(db, [{ account: account!, operation: create('slow') }]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const stalled = withExecute(memory, async (a, o, k) => { await gate; return memory.execute(a, o, k); });
    // The stalled worker's clock stands still, so its renewals never reach past the first lease.
    const frozen = Date.now();
    const first = worker(registryOf({ connector: stalled }), { clock: () => new Date(frozen), leaseMs: 1000, instanceId: 'stalled' });
    const firstRun = first.drain();
    while ((await opRow(db, id!)).status !== 'running') await new Promise((r) => setTimeout(r, 5));
    const second = worker(registryOf({ connector: memory }), { clock: () => new Date(frozen + 5000), instanceId: 'second' });
    expect(await second.drain()).to.deep.include({ done: 1 });
    release();
    expect(await firstRun).to.deep.include({ done: 0, stale: 1 });
    expect(await opRow(db, id!)).to.deep.include({ status: 'done', attempts: 2 });
    expect((await opRow(db, id!)).leasedBy).to.match(/^second#/);
    // The memory target saw the create twice, applied it once.
    expect([memory.calls, memory.replayed, memory.accounts.size]).to.deep.equal([2, 1, 1]);
  });

  it('retries an operation whose answer was lost, and the target applies it once', async () => {
    const memory = new MemoryConnector(target());
    let lose = true;
    const lossy = withExecute(memory, async (a, o, k) => {
      const result = await memory.execute(a, o, k);
      if (lose) {
        lose = false;
        throw new ConnectorError('timed out waiting for the answer', true);
      }
      return result;
    });
    const [account] = await insertAccounts(db, memory.target, 1);
    await insertOperations(db, [{ account: account!, operation: create('lossy', ['a']) }, { account: account!, operation: { op: 'add-membership', entitlement: 'b' } }]);
    const clock = new TestClock();
    const w = worker(registryOf({ connector: lossy }), { clock: clock.now, random: () => 0 });
    expect(await w.drain()).to.deep.include({ done: 2, retried: 1 });
    expect([memory.calls, memory.replayed]).to.deep.equal([3, 1]);
    expect([...memory.accounts.get(account!.accountId)!.memberships].sort()).to.deep.equal(['a', 'b']);
  });

  it('leaves the operations of a target without a connector pending, never attempted', async () => {
    const memory = new MemoryConnector(target());
    const [connected] = await insertAccounts(db, memory.target, 1);
    const [orphan] = await insertAccounts(db, 'unconfigured-target', 1);
    const [, o] = await insertOperations(db, [{ account: connected!, operation: create('c') }, { account: orphan!, operation: create('o') }]);
    const clock = new TestClock();
    const w = worker(registryOf({ connector: memory }), { clock: clock.now });
    expect(await w.drain()).to.deep.include({ done: 1 });
    clock.advance(365 * 86_400_000);
    await w.drain();
    expect(await opRow(db, o!)).to.deep.include({ status: 'pending', attempts: 0, leasedBy: null });
  });

  it('keeps to each target\'s concurrency and rate limit', async function () {
    this.timeout(30_000);
    const slow = new RecordingConnector(new NoopConnector(target()), () => 15);
    const paced = new RecordingConnector(new NoopConnector(target()));
    const slowAccounts = await insertAccounts(db, slow.target, 30);
    const pacedAccounts = await insertAccounts(db, paced.target, 30);
    await insertOperations(db, [...slowAccounts, ...pacedAccounts].map((account) => ({ account, operation: create('x') })));
    const stats = await worker(registryOf({ connector: slow, concurrency: 3 }, { connector: paced, concurrency: 50, ratePerSecond: 20 })).drain();
    expect(stats.done).to.equal(60);
    expect(slow.maxAtOnce).to.equal(3);
    // 20 at once (one second's burst), then 20 per second: the last 10 take about half a second.
    const starts = paced.runs.map((r) => r.at).sort((a, b) => a - b);
    expect(starts[29]! - starts[0]!).to.be.within(400, 1500);
    for (let i = 0; i + 25 < starts.length; i++) expect(starts[i + 25]! - starts[i]!, 'no 26 starts within 250 ms').to.be.above(250);
  });

  it('runs in the background once started, picks up work as it is enqueued, and stops cleanly', async function () {
    this.timeout(30_000);
    const memory = new MemoryConnector(target());
    const w = worker(registryOf({ connector: memory }), { pollIntervalMs: 50 });
    w.start();
    try {
      const accounts = await insertAccounts(db, memory.target, 200);
      await insertOperations(db, accounts.map((account, i) => ({ account, operation: create(`bg${i}`) })));
      w.notify();
      const deadline = Date.now() + 20_000;
      while (await count(db, `SELECT COUNT(*) AS n FROM outbox WHERE target = ? AND status = 'done'`, [memory.target]) < 200) {
        if (Date.now() > deadline) throw new Error(`not done in time: ${JSON.stringify(await statuses(db))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await w.stop();
    }
    expect(memory.accounts.size).to.equal(200);
    expect(w.stats).to.deep.include({ done: 200, stale: 0 });
  });
});
