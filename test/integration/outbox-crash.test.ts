import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onEachDatabase } from '../support/databases.js';
import { MemoryConnector, type JournalEntry } from '../../connectors/memory/index.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';
import { count, create, insertAccounts, insertOperations, statuses } from '../support/outbox-fixtures.js';

const CHILD = fileURLToPath(new URL('../support/outbox-crash-worker.ts', import.meta.url));

onEachDatabase('an outbox worker killed mid-run', (database) => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'iam-outbox-crash-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loses nothing, and after the leases expire nothing is applied twice', async function () {
    this.timeout(120_000);
    const { db, url } = database();
    const journal = join(dir, 'journal.jsonl');
    const accounts = await insertAccounts(db, 'mem', 150);
    const ops = accounts.flatMap((account, i) => [
      { account, operation: create(`k${i}`, ['a']) },
      { account, operation: { op: 'add-membership' as const, entitlement: 'b' } },
      { account, operation: { op: 'add-membership' as const, entitlement: 'c' } },
      { account, operation: { op: 'remove-membership' as const, entitlement: 'a' } },
      { account, operation: { op: 'update' as const, attributes: { userName: `k${i}-new`, extra: {} } } },
      { account, operation: { op: 'disable' as const } },
    ]);
    await insertOperations(db, ops);

    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, journal], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Kill it a third of the way through.
    const deadline = Date.now() + 60_000;
    while (await count(db, `SELECT COUNT(*) AS n FROM outbox WHERE status = 'done'`) < ops.length / 3) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the worker process did not get going: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    const atKill = await statuses(db);
    expect(atKill.running ?? 0, 'operations the dead process held').to.be.above(0);
    expect(atKill.pending ?? 0).to.be.above(0);

    // A new process (here: this one) with the target's state as the journal left it.
    const memory = new MemoryConnector('mem', { stateFile: journal });
    const appliedBefore = memory.applied.size;
    expect(appliedBefore, 'applied but not recorded as done').to.be.above(atKill.done ?? 0);
    const recovery = new OutboxWorker(db, new ConnectorRegistry([{ connector: memory, concurrency: 8, ratePerSecond: 0 }]), {
      pollIntervalMs: 20, batchSize: 50, leaseMs: 1000, maxAttempts: 5, backoffBaseMs: 100, backoffMaxMs: 1000,
      // Past the dead process's leases (1 s), as a restart after the lease would be.
      clock: () => new Date(Date.now() + 5000),
    });
    await recovery.drain();

    expect(await statuses(db)).to.deep.equal({ done: ops.length });
    // Every operation was applied exactly once: one journal line per idempotency key.
    const lines = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as JournalEntry);
    expect(lines).to.have.length(ops.length);
    expect(new Set(lines.map((l) => l.key)).size).to.equal(ops.length);
    // The operations the dead process had applied without recording ran again, and were recognised.
    expect(memory.replayed).to.be.at.least(1);
    for (const [i, account] of accounts.entries()) {
      const held = memory.accounts.get(account.accountId)!;
      expect([held.enabled, [...held.memberships].sort(), held.attributes.userName]).to.deep.equal([false, ['b', 'c'], `k${i}-new`]);
    }
    expect(await count(db, `SELECT COUNT(*) AS n FROM accounts WHERE target = 'mem' AND observed_status = 'disabled' AND observed_memberships = '["b","c"]'`)).to.equal(150);
  });
});
