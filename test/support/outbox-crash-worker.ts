/*
 * A worker process for outbox-crash.test.ts, to be killed with SIGKILL mid-run:
 *   node --import tsx outbox-crash-worker.ts DATABASE_URL JOURNAL_FILE
 * It runs the outbox of target "mem" through a memory connector whose journal file survives the
 * kill, and says "ready" once started.
 */
import { MemoryConnector } from '../../connectors/memory/index.js';
import { Database } from '../../src/db/database.js';
import { ConnectorRegistry } from '../../src/provisioning/registry.js';
import { OutboxWorker } from '../../src/provisioning/worker.js';

const [url, journal] = process.argv.slice(2);
if (!url || !journal) throw new Error('usage: outbox-crash-worker.ts DATABASE_URL JOURNAL_FILE');
const db = await Database.connect(url);
// The delay comes after each change is made: a kill finds operations applied but not recorded.
const connector = new MemoryConnector('mem', { stateFile: journal, latencyMs: 5 });
const worker = new OutboxWorker(db, new ConnectorRegistry([{ connector, concurrency: 8, ratePerSecond: 0 }]), {
  pollIntervalMs: 20, batchSize: 20, leaseMs: 1000, maxAttempts: 5, backoffBaseMs: 100, backoffMaxMs: 1000, instanceId: 'doomed',
});
worker.start();
process.stdout.write('ready\n');
