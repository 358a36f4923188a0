/*
 * Lifecycle benchmark: `npm run bench:lifecycle [-- --count N --db sqlite,mariadb --outbox-ops N]`.
 *
 * For each database, into an empty one with the example catalogue (policies/catalog.json): the
 * HR generator's day-0 feed of N people (100,000 by default) imported through FeedService, end
 * to end (identities, lifecycle rows, birthright grants, accounts, outbox rows, audit), then the
 * day-1 feed (about 1% churn) on the next day. Each import runs in a process of its own, with the
 * Node flags bin/iam.js runs with, reading the file as a stream as the CLI does, so its peak RSS
 * is the import's alone. Then the outbox's throughput with the no-op connector
 * (bench/lib/outbox-throughput.ts).
 *
 * The baseline, in the same run: the same identity rows (as the import stored them) inserted
 * straight through the driver into an empty migrated database, in one transaction.
 * Each import's counts per class are checked against test/support/hr-expectations.ts.
 * Targets from the issue: day 0 < 60 s, day 1 < 5 s, peak RSS < 500 MB, outbox ≥ 2,000 ops/s.
 * Prints a table and writes JSON under bench/results/.
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configWith } from '../src/config/index.js';
import { Database } from '../src/db/database.js';
import type { FeedReport } from '../src/lifecycle/feed-service.js';
import { createLifecycleServices } from '../src/lifecycle/services.js';
import { BirthrightService } from '../src/policy/birthright.js';
import { PolicyChangeLog } from '../src/policy/changes.js';
import { readPolicyFile } from '../src/policy/seed.js';
import { PolicyStore } from '../src/policy/store.js';
import { expectFeed } from '../test/support/hr-expectations.js';
import { ensureMariaDb, stopMariaDb } from '../test/support/mariadb.js';
import { rawInsertSeconds } from './lib/raw-insert.js';
import { runScriptInChild } from './lib/process.js';
import { peakRssMb } from './lib/rss.js';
import { markdownTable } from './lib/table.js';
import { arg, databaseKinds, ROOT, writeResults, dropDatabase } from './lib/setup.js';

const SELF = fileURLToPath(import.meta.url);
const HRGEN = join(ROOT, 'test', 'support', 'hrgen.mjs');
const DAY0 = '2026-01-05';
const DAY1 = '2026-01-06';
const TARGETS = { day0Seconds: 60, day1Seconds: 5, peakRssMb: 500, outboxOpsPerSecond: 2000 };

const say = (text: string) => process.stderr.write(`${text}\n`);
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** What one import process reports back. */
interface ImportRun {
  seconds: number;
  peakRssMb: number;
  /** RSS with every module loaded, before the import: the part of the peak that is not the import's */
  startRssMb: number;
  report: FeedReport;
}

/**
 * The child: imports one feed file into the database at `url` with the clock on `today`, wired
 * as the server wires it, and prints an ImportRun as JSON on stdout.
 */
async function child(url: string, file: string, today: string): Promise<void> {
  const db = await Database.connect(url);
  try {
    const config = configWith({ databaseUrl: url });
    const clock = () => new Date(`${today}T09:00:00Z`);
    const changes = new PolicyChangeLog();
    const { feeds } = createLifecycleServices(db, config, changes, new BirthrightService(db, changes), clock);
    const startRssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const started = performance.now();
    const report = await feeds.import({ content: createReadStream(file), fileName: file, source: 'cli', actor: 'bench:lifecycle' });
    const seconds = (performance.now() - started) / 1000;
    const run: ImportRun = { seconds: round(seconds), peakRssMb: peakRssMb(process.pid), startRssMb, report };
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } finally {
    await db.close();
  }
}

/** Runs an import in its own process. */
function importInChild(url: string, file: string, today: string): Promise<ImportRun> {
  return runScriptInChild<ImportRun>(SELF, ['--child', 'import', '--url', url, '--file', file, '--today', today]);
}

/** Writes hrgen's feed for a day to a file (not timed). */
async function generate(count: number, day: number, file: string): Promise<number> {
  const proc = spawn(process.execPath, [HRGEN, '--count', String(count), '--day', String(day), '--seed', '1', '--today', DAY0], { stdio: ['ignore', 'pipe', 'inherit'] });
  const parts: Buffer[] = [];
  for await (const part of proc.stdout) parts.push(part as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  writeFileSync(file, text);
  return text.trimEnd().split('\n').length - 1;
}

const count = async (db: Database, sql: string): Promise<number> => Number((await db.query<{ n: number | string }>(sql))[0]!.n);

/**
 * Baseline: the identity rows the import stored, inserted straight through the driver into the
 * identities table of an empty migrated database, in one transaction (SQLite: one prepared
 * statement per row; MariaDB: INSERTs of 2,000 rows).
 */
async function rawIdentityInsertSeconds(kind: 'sqlite' | 'mariadb', url: string, rows: Array<Record<string, unknown>>): Promise<number> {
  await Database.ensureExists(url);
  const empty = await Database.connect(url);
  await empty.migrate();
  await empty.close();
  const columns = Object.keys(rows[0] ?? {});
  return rawInsertSeconds(kind, url, 'identities', columns, rows.map((r) => columns.map((c) => r[c] ?? null)));
}

interface Step {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
  startRssMb: number;
  /** whether the counts per class are those test/support/hr-expectations.ts computes from the feeds */
  countsAsExpected: boolean;
  status: string;
  counts: Record<string, number>;
  operationsEnqueued: number;
  grantsAdded: number;
  grantsRemoved: number;
}

interface Result {
  database: string;
  people: number;
  day0: Step;
  day1: Step;
  stored: { identities: number; grants: number; accounts: number; outboxRows: number; auditEvents: number };
  rawIdentityInsertSeconds: number;
  day0VsRaw: number;
  outbox: { operations: number; opsPerSecond: number; baselineOpsPerSecond: number };
  underTargets: { day0: boolean; day1: boolean; peakRss: boolean; outbox: boolean };
}

function step(run: ImportRun, rows: number, expected: Record<string, number>): Step {
  const { report } = run;
  const countsAsExpected = Object.entries(expected).every(([c, n]) => report.counts[c as keyof FeedReport['counts']] === n) && report.counts.rejected === 0;
  return {
    rows, seconds: run.seconds, rowsPerSecond: Math.round(rows / run.seconds), peakRssMb: run.peakRssMb, startRssMb: run.startRssMb, countsAsExpected,
    status: report.status,
    counts: Object.fromEntries(Object.entries(report.counts).filter(([, n]) => n > 0)),
    operationsEnqueued: report.applied?.operationsEnqueued ?? 0, grantsAdded: report.applied?.grantsAdded ?? 0,
    grantsRemoved: (report.applied?.grantsRemoved ?? 0) + (report.applied?.grantsRevoked ?? 0),
  };
}

interface Feeds {
  day0: string;
  day1: string;
  rows0: number;
  rows1: number;
  /** the counts per class each import should report */
  expected0: Record<string, number>;
  expected1: Record<string, number>;
}

async function measure(kind: 'sqlite' | 'mariadb', dir: string, files: Feeds, outboxOps: number): Promise<Result> {
  const name = `iam_bench_lifecycle_${Date.now().toString(36)}`;
  const server = kind === 'mariadb' ? await ensureMariaDb() : '';
  const url = kind === 'sqlite' ? `sqlite:${join(dir, `${kind}.sqlite`)}` : `${server}/${name}`;
  const rawUrl = kind === 'sqlite' ? `sqlite:${join(dir, `${kind}-raw.sqlite`)}` : `${server}/${name}_raw`;
  const outboxUrl = kind === 'sqlite' ? `sqlite:${join(dir, `${kind}-outbox.sqlite`)}` : `${server}/${name}_outbox`;
  try {
    await Database.ensureExists(url);
    let db = await Database.connect(url);
    await db.migrate();
    const changes = new PolicyChangeLog();
    await new PolicyStore(db, changes, new BirthrightService(db, changes)).replaceAll(await readPolicyFile(join(ROOT, 'policies', 'catalog.json')), { actor: 'bench:seed' });
    await db.close();

    say(`[${kind}] day 0: ${files.rows0} people`);
    const day0 = step(await importInChild(url, files.day0, DAY0), files.rows0, files.expected0);
    say(`[${kind}] day 0: ${day0.seconds} s, ${day0.operationsEnqueued} operations, peak RSS ${day0.peakRssMb} MB`);
    say(`[${kind}] day 1: ${files.rows1} rows`);
    const day1 = step(await importInChild(url, files.day1, DAY1), files.rows1, files.expected1);
    say(`[${kind}] day 1: ${day1.seconds} s, ${JSON.stringify(day1.counts)}`);

    db = await Database.connect(url);
    const stored = {
      identities: await count(db, 'SELECT COUNT(*) AS n FROM identities'),
      grants: await count(db, 'SELECT COUNT(*) AS n FROM grants'),
      accounts: await count(db, 'SELECT COUNT(*) AS n FROM accounts'),
      outboxRows: await count(db, 'SELECT COUNT(*) AS n FROM outbox'),
      auditEvents: await count(db, 'SELECT COUNT(*) AS n FROM audit_events'),
    };
    say(`[${kind}] baseline: ${stored.identities} identity rows through the driver`);
    const rows = await db.query<Record<string, unknown>>('SELECT * FROM identities ORDER BY id');
    await db.close();
    const rawSeconds = round(await rawIdentityInsertSeconds(kind, rawUrl, rows));

    say(`[${kind}] outbox: ${outboxOps} operations with the no-op connector`);
    await Database.ensureExists(outboxUrl);
    const outboxDb = await Database.connect(outboxUrl);
    let outbox: Result['outbox'];
    try {
      await outboxDb.migrate();
      // Loaded here, not at the top: the import processes need none of it.
      const { measureOutbox } = await import('./lib/outbox-throughput.js');
      const measured = await measureOutbox(outboxDb, { operations: outboxOps });
      outbox = { operations: outboxOps, opsPerSecond: Math.round(measured.opsPerSecond), baselineOpsPerSecond: Math.round(measured.baselineOpsPerSecond) };
    } finally {
      await outboxDb.close();
    }

    return {
      database: kind, people: files.rows0, day0, day1, stored, rawIdentityInsertSeconds: rawSeconds, day0VsRaw: round(day0.seconds / rawSeconds, 1), outbox,
      underTargets: {
        day0: day0.status === 'applied' && day0.countsAsExpected && day0.seconds < TARGETS.day0Seconds,
        day1: day1.status === 'applied' && day1.countsAsExpected && day1.seconds < TARGETS.day1Seconds,
        peakRss: Math.max(day0.peakRssMb, day1.peakRssMb) < TARGETS.peakRssMb,
        outbox: outbox.opsPerSecond >= TARGETS.outboxOpsPerSecond,
      },
    };
  } finally {
    for (const u of [url, rawUrl, outboxUrl]) await dropDatabase(kind, u);
  }
}

function table(results: Result[]): string {
  const classes = (s: Step) => ['joiner', 'pending', 'mover', 'leaver', 'scheduled-leaver', 'rehire', 'update', 'rejected']
    .filter((c) => (s.counts[c] ?? 0) > 0).map((c) => `${c} ${s.counts[c]}`).join(', ');
  const rows: Array<[string, (r: Result) => string]> = [
    ['people in the day-0 feed', (r) => String(r.people)],
    [`day 0 end to end, s (target < ${TARGETS.day0Seconds})`, (r) => `${r.day0.seconds} (${r.day0.status})`],
    ['  rows/s', (r) => String(r.day0.rowsPerSecond)],
    [`  peak RSS, MB (target < ${TARGETS.peakRssMb}; at start)`, (r) => `${r.day0.peakRssMb} (${r.day0.startRssMb})`],
    ['  classes as computed independently', (r) => (r.day0.countsAsExpected ? 'yes' : 'NO')],
    ['  grants added / operations enqueued', (r) => `${r.day0.grantsAdded} / ${r.day0.operationsEnqueued}`],
    ['raw driver insert of the identity rows, s (baseline)', (r) => String(r.rawIdentityInsertSeconds)],
    ['day 0 / raw insert', (r) => `${r.day0VsRaw}x`],
    [`day 1, s (target < ${TARGETS.day1Seconds})`, (r) => `${r.day1.seconds} (${r.day1.status})`],
    ['  rows/s', (r) => String(r.day1.rowsPerSecond)],
    [`  peak RSS, MB (target < ${TARGETS.peakRssMb}; at start)`, (r) => `${r.day1.peakRssMb} (${r.day1.startRssMb})`],
    ['  classes', (r) => classes(r.day1)],
    ['  classes as computed independently', (r) => (r.day1.countsAsExpected ? 'yes' : 'NO')],
    ['  grants added / removed / operations enqueued', (r) => `${r.day1.grantsAdded} / ${r.day1.grantsRemoved} / ${r.day1.operationsEnqueued}`],
    ['stored: identities / grants / accounts / outbox rows', (r) => `${r.stored.identities} / ${r.stored.grants} / ${r.stored.accounts} / ${r.stored.outboxRows}`],
    [`outbox, no-op connector, ops/s (target >= ${TARGETS.outboxOpsPerSecond})`, (r) => `${r.outbox.opsPerSecond} (${r.outbox.operations} ops)`],
    ['  raw UPDATE loop, ops/s (baseline)', (r) => String(r.outbox.baselineOpsPerSecond)],
    ['all targets met', (r) => (Object.values(r.underTargets).every(Boolean) ? 'yes' : `no: ${Object.entries(r.underTargets).filter(([, ok]) => !ok).map(([k]) => k).join(', ')}`)],
  ];
  const header = ['metric', ...results.map((r) => r.database)];
  const body = rows.map(([name, f]) => [name, ...results.map(f)]);
  return markdownTable(header, body);
}

if (arg('child', '') === 'import') {
  await child(arg('url', ''), arg('file', ''), arg('today', DAY0));
} else {
  const COUNT = Number(arg('count', '100000'));
  const OUTBOX_OPS = Number(arg('outbox-ops', '20000'));
  const dir = mkdtempSync(join(tmpdir(), 'iam-bench-lifecycle-'));
  const results: Result[] = [];
  try {
    say(`generating the day-0 and day-1 feeds of ${COUNT} people`);
    const files: Feeds = { day0: join(dir, 'hr-day-0.csv'), day1: join(dir, 'hr-day-1.csv'), rows0: 0, rows1: 0, expected0: {}, expected1: {} };
    files.rows0 = await generate(COUNT, 0, files.day0);
    files.rows1 = await generate(COUNT, 1, files.day1);
    const first = expectFeed(new Map(), readFileSync(files.day0, 'utf8'), DAY0);
    files.expected0 = first.counts;
    files.expected1 = expectFeed(first.after, readFileSync(files.day1, 'utf8'), DAY1).counts;
    for (const kind of databaseKinds()) results.push(await measure(kind, dir, files, OUTBOX_OPS));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stopMariaDb();
  }
  process.stdout.write(`${table(results)}\n`);
  process.stdout.write(`wrote ${writeResults('lifecycle', results)}\n`);
}
