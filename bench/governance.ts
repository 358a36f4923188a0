/*
 * Governance benchmark: `npm run bench:governance [-- --identities N --grants G --events E --db sqlite,mariadb]`.
 *
 * For each database, in an empty one:
 *
 * 1. Review campaign start over N identities (100,000 by default) holding G grants each (10):
 *    a manager hierarchy (ten reports per manager, so about N/10 reviewers, each mailed once),
 *    ten departments, 20 roles with owners and 30 entitlements on three targets, one SoD rule
 *    that about a fifth of the people break. People and grants are seeded with raw multi-row
 *    INSERTs (not timed). The start runs in a process of its own, as `iam review start` would,
 *    so its peak RSS is its own: N×G items, each with its context. Baseline, in the same run: the
 *    same item rows, read back from review_items, inserted through the driver into a bare table
 *    of the same shape (primary key only), in one transaction (SQLite: one prepared statement
 *    per row; MariaDB: INSERTs of 2,000 rows); only the inserts are timed.
 * 2. Audit export of E events (1,000,000 by default) as CSV through exportAuditEvents to
 *    /dev/null, in a process of its own. Events are seeded with raw INSERTs (hashes filled, the
 *    chain not valid: export does not check it). Baseline: a raw streaming SELECT of the same
 *    rows through the driver (better-sqlite3 iterate, mysql2 stream), formatting nothing.
 *
 * Targets from the issue: the start < 60 s and < 500 MB peak RSS on both databases.
 * Prints a table and writes JSON under bench/results/.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { createConnection } from 'mysql2';
import { createPool } from 'mysql2/promise';
import { exportAuditEvents } from '../src/audit/export.js';
import { configWith } from '../src/config/index.js';
import { insertRows, placeholders } from '../src/db/batches.js';
import { Database } from '../src/db/database.js';
import { ReviewService } from '../src/governance/reviews/service.js';
import { BirthrightService } from '../src/policy/birthright.js';
import { PolicyChangeLog } from '../src/policy/changes.js';
import { GrantService } from '../src/policy/grants.js';
import type { CatalogDocumentInput } from '../src/policy/model.js';
import { SodService } from '../src/policy/sod.js';
import { PolicyStore } from '../src/policy/store.js';
import { ensureMariaDb, stopMariaDb } from '../test/support/mariadb.js';
import { runScriptInChild } from './lib/process.js';
import { peakRssMb } from './lib/rss.js';
import { markdownTable } from './lib/table.js';
import { arg, databaseKinds, writeResults, dropDatabase } from './lib/setup.js';

const SELF = fileURLToPath(import.meta.url);
const TARGETS = { startSeconds: 60, startPeakRssMb: 500 };
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ROLES = 20;
const ENTITLEMENTS = 30;
const DEPARTMENTS = 10;
const FAN_OUT = 10;

const say = (text: string) => process.stderr.write(`${text}\n`);
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
/** Ids that sort in creation order, like the server's own. */
const idOf = (prefix: string, i: number) => `${prefix}-0000-7000-8000-${String(i).padStart(12, '0')}`;
const personId = (i: number) => idOf('00000001', i);

/** The benchmark's policy: 20 roles (owned by the first 20 people), 30 entitlements, one SoD rule. */
function policy(): CatalogDocumentInput {
  const targets = ['ldap', 'github', 'slack'];
  const entitlements = Array.from({ length: ENTITLEMENTS }, (_, i) => ({ target: targets[i % 3]!, key: `e${i}`, kind: 'group' as const }));
  const roles = Array.from({ length: ROLES }, (_, i) => ({
    name: `r${i}`, owner: `user${i}@bench.example`, entitlements: [`${targets[i % 3]}/e${i}`, `${targets[(i + 1) % 3]}/e${(i + 1) % ENTITLEMENTS}`],
  }));
  return {
    targets: targets.map((name) => ({ name, type: name as 'ldap' | 'github' | 'slack' })),
    entitlements, roles,
    sodRules: [{ name: 'r0-r1', left: { mode: 'any', items: ['role:r0'] }, right: { mode: 'any', items: ['role:r1'] } }],
  };
}

/** The G distinct items person i holds: roles and entitlements by a fixed pattern (r0 with r1 for a fifth of them). */
function itemsOf(i: number, g: number): string[] {
  const pool = [...Array.from({ length: ROLES }, (_, r) => `role:r${r}`), ...Array.from({ length: ENTITLEMENTS }, (_, e) => `ent:${['ldap', 'github', 'slack'][e % 3]}/e${e}`)];
  const out = new Set<string>();
  if (i % 5 === 0) {
    out.add('role:r0');
    out.add('role:r1');
  }
  for (let k = 0; out.size < Math.min(g, pool.length); k++) out.add(pool[(i * 7 + k * 13) % pool.length]!);
  return [...out];
}

async function seed(db: Database, n: number, g: number): Promise<{ grants: number }> {
  const changes = new PolicyChangeLog();
  await new PolicyStore(db, changes, new BirthrightService(db, changes)).replaceAll(policy(), { actor: 'bench:seed' });
  const now = new Date().toISOString();
  const page = 5000;
  let grants = 0;
  for (let from = 0; from < n; from += page) {
    const to = Math.min(n, from + page);
    const people: unknown[][] = [];
    const held: unknown[][] = [];
    for (let i = from; i < to; i++) {
      const userName = `user${i}@bench.example`;
      const doc = { schemas: [USER], id: personId(i), userName, displayName: `User ${i}`, active: true, emails: [{ value: userName, primary: true, type: 'work' }] };
      people.push([personId(i), userName, `User ${i}`, `department ${i % DEPARTMENTS}`, i === 0 ? null : personId(Math.floor((i - 1) / FAN_OUT)), 1, 1, now, now, JSON.stringify(doc)]);
      itemsOf(i, g).forEach((item, k) => {
        held.push([idOf('00000002', i * 100 + k), personId(i), item, k % 2 === 0 ? 'manual' : 'request', k % 2 === 0 ? '' : `REQ-${i}-${k}`, 'bench:seed', null, null, null, now]);
      });
    }
    grants += held.length;
    await db.transaction(async (tx) => {
      await insertRows(tx, 'identities', ['id', 'user_name', 'display_label', 'department', 'manager_id', 'active', 'version', 'created', 'last_modified', 'doc'], people, 500);
      await insertRows(tx, 'grants', ['id', 'identity_id', 'item', 'source', 'source_ref', 'granted_by', 'reason', 'valid_from', 'valid_until', 'created'], held, 1000);
    });
  }
  return { grants };
}

async function seedAudit(db: Database, events: number): Promise<void> {
  const hash = 'ab'.repeat(32);
  const page = 10_000;
  const at = new Date().toISOString();
  for (let from = 0; from < events; from += page) {
    const rows: unknown[][] = [];
    for (let i = from; i < Math.min(events, from + page); i++) {
      rows.push([at, 'bench:seed', 'grant.create', 'grant', idOf('00000003', i), `req-${i}`,
        JSON.stringify({ after: { item: `role:r${i % ROLES}`, identityId: personId(i % 1000), reason: 'a reason, with "quotes"' } }), hash, hash]);
    }
    await db.transaction((tx) => insertRows(tx, 'audit_events', ['occurred_at', 'actor', 'action', 'target_type', 'target_id', 'request_id', 'details', 'prev_hash', 'hash'], rows, 1000));
  }
}

/** What a child process reports. */
interface ChildRun {
  seconds: number;
  peakRssMb: number;
  startRssMb: number;
  detail: Record<string, number | string>;
}

/** The child: starts the campaign `bench` on the database at `url`. */
async function childStart(url: string): Promise<void> {
  const db = await Database.connect(url);
  try {
    const config = configWith({ databaseUrl: url, reviews: { campaigns: { bench: { scope: {}, stages: [{ reviewer: 'manager', durationDays: 14 }], reminderDays: [3] } } } });
    const changes = new PolicyChangeLog();
    const sod = new SodService(db);
    const reviews = new ReviewService(db, config, new GrantService(db, changes, new BirthrightService(db, changes), sod));
    const startRssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    // Where the memory goes, sampled: the heap's share of the peak, and the rest (SQLite's cache, buffers).
    const most = { heapUsed: 0, heapTotal: 0, external: 0, rss: 0 };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      for (const k of Object.keys(most) as Array<keyof typeof most>) most[k] = Math.max(most[k], Math.round(m[k] / 2 ** 20));
    }, 200);
    const started = performance.now();
    const result = await reviews.startWithCounts('bench', { identityId: null, actor: 'bench:governance' });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const run: ChildRun = {
      seconds: round(seconds), peakRssMb: peakRssMb(process.pid), startRssMb,
      detail: { ...result, maxHeapUsedMb: most.heapUsed, maxHeapTotalMb: most.heapTotal, maxExternalMb: most.external },
    };
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } finally {
    await db.close();
  }
}

/** The child: exports every audit event as CSV to /dev/null. */
async function childExport(url: string): Promise<void> {
  const db = await Database.connect(url);
  try {
    const startRssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const out = createWriteStream('/dev/null');
    let bytes = 0;
    let lines = 0;
    const started = performance.now();
    // The export yields a batch of lines at a time.
    for await (const text of exportAuditEvents(db, 'csv')) {
      bytes += text.length;
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lines++;
      if (!out.write(text)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(`${JSON.stringify({ seconds: round(seconds), peakRssMb: peakRssMb(process.pid), startRssMb, detail: { lines: lines - 1, bytes } } satisfies ChildRun)}\n`);
  } finally {
    await db.close();
  }
}

/** The child: the raw streaming SELECT of the audit events. */
async function childRawSelect(url: string): Promise<void> {
  const startRssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
  const sql = 'SELECT id, occurred_at, actor, action, target_type, target_id, request_id, details, prev_hash, hash FROM audit_events ORDER BY id';
  let rows = 0;
  const started = performance.now();
  if (url.startsWith('sqlite:')) {
    const db = new BetterSqlite3(url.slice('sqlite:'.length), { readonly: true });
    for (const _row of db.prepare(sql).iterate()) rows++;
    db.close();
  } else {
    const u = new URL(url);
    const conn = createConnection({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) });
    for await (const _row of conn.query(sql).stream()) rows++;
    await new Promise<void>((resolve, reject) => conn.end((err) => (err ? reject(err) : resolve())));
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ seconds: round(seconds), peakRssMb: peakRssMb(process.pid), startRssMb, detail: { rows } } satisfies ChildRun)}\n`);
}

/** Runs this file as a child with `args`; resolves with what it printed last. */
function inChild(args: string[]): Promise<ChildRun> {
  return runScriptInChild<ChildRun>(SELF, args);
}

const BARE_COLUMNS = ['campaign_id', 'stage', 'identity_id', 'grant_id', 'item', 'reviewer_id', 'reviewer_reason', 'decision', 'comment', 'decided_by', 'decided_at', 'context'];
const BARE_LIST = BARE_COLUMNS.join(', ');

/**
 * Baseline for the start: the campaign's item rows inserted through the driver into a bare
 * table of review_items' shape (primary key only), in one transaction; reads are not timed.
 */
async function rawItemInsertSeconds(kind: 'sqlite' | 'mariadb', url: string, campaignId: string): Promise<number> {
  const page = 20_000;
  let seconds = 0;
  if (kind === 'sqlite') {
    const db = new BetterSqlite3(url.slice('sqlite:'.length));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE bench_items (id INTEGER PRIMARY KEY AUTOINCREMENT, campaign_id varchar(36) NOT NULL, stage integer NOT NULL, identity_id varchar(36) NOT NULL,
      grant_id varchar(36) NOT NULL, item varchar(255) NOT NULL, reviewer_id varchar(36) NOT NULL, reviewer_reason varchar(16) NOT NULL, decision varchar(8),
      comment text, decided_by varchar(255), decided_at varchar(24), context text)`);
    const read = db.prepare(`SELECT id, ${BARE_LIST} FROM review_items WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ${page}`);
    const insert = db.prepare(`INSERT INTO bench_items (${BARE_LIST}) VALUES (${placeholders(BARE_COLUMNS.length)})`);
    let after = 0;
    db.exec('BEGIN');
    for (;;) {
      const rows = read.all(campaignId, after) as Array<Record<string, unknown>>;
      if (rows.length === 0) break;
      const started = performance.now();
      for (const r of rows) insert.run(...BARE_COLUMNS.map((c) => r[c] ?? null));
      seconds += (performance.now() - started) / 1000;
      after = Number(rows[rows.length - 1]!.id);
    }
    const started = performance.now();
    db.exec('COMMIT');
    seconds += (performance.now() - started) / 1000;
    db.close();
    return seconds;
  }
  const u = new URL(url);
  const pool = createPool({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1), connectionLimit: 2 });
  await pool.query(`CREATE TABLE bench_items (id bigint PRIMARY KEY AUTO_INCREMENT, campaign_id varchar(36) NOT NULL, stage int NOT NULL, identity_id varchar(36) NOT NULL,
    grant_id varchar(36) NOT NULL, item varchar(255) NOT NULL, reviewer_id varchar(36) NOT NULL, reviewer_reason varchar(16) NOT NULL, decision varchar(8),
    comment text, decided_by varchar(255), decided_at varchar(24), context text) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  const reader = await pool.getConnection();
  const writer = await pool.getConnection();
  try {
    await writer.beginTransaction();
    let after = 0;
    const one = `(${placeholders(BARE_COLUMNS.length)})`;
    for (;;) {
      const [rows] = (await reader.query(`SELECT id, ${BARE_LIST} FROM review_items WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ${page}`, [campaignId, after])) as unknown as [Array<Record<string, unknown>>];
      if (rows.length === 0) break;
      const started = performance.now();
      for (let i = 0; i < rows.length; i += 2000) {
        const chunk = rows.slice(i, i + 2000);
        await writer.query(`INSERT INTO bench_items (${BARE_LIST}) VALUES ${chunk.map(() => one).join(', ')}`, chunk.flatMap((r) => BARE_COLUMNS.map((c) => r[c] ?? null)) as never[]);
      }
      seconds += (performance.now() - started) / 1000;
      after = Number(rows[rows.length - 1]!.id);
    }
    const started = performance.now();
    await writer.commit();
    seconds += (performance.now() - started) / 1000;
    return seconds;
  } finally {
    reader.release();
    writer.release();
    await pool.end();
  }
}

interface Result {
  database: string;
  identities: number;
  grantsPerIdentity: number;
  seedSeconds: number;
  start: ChildRun;
  rawItemInsertSeconds: number;
  startVsRaw: number;
  auditEvents: number;
  exportCsv: ChildRun;
  rawSelect: ChildRun;
  exportVsRaw: number;
  underTargets: { startTime: boolean; startRss: boolean };
}

async function measure(kind: 'sqlite' | 'mariadb', dir: string, n: number, g: number, events: number): Promise<Result> {
  const name = `iam_bench_governance_${Date.now().toString(36)}`;
  const server = kind === 'mariadb' ? await ensureMariaDb() : '';
  const url = kind === 'sqlite' ? `sqlite:${join(dir, `${kind}.sqlite`)}` : `${server}/${name}`;
  try {
    await Database.ensureExists(url);
    let db = await Database.connect(url);
    await db.migrate();
    say(`[${kind}] seeding ${n} identities with ${g} grants each`);
    let started = performance.now();
    const { grants } = await seed(db, n, g);
    const seedSeconds = round((performance.now() - started) / 1000);
    say(`[${kind}] seeded ${grants} grants in ${seedSeconds} s; starting the campaign`);
    await db.close();

    const start = await inChild(['--child', 'start', '--url', url]);
    say(`[${kind}] start: ${start.seconds} s, peak RSS ${start.peakRssMb} MB, ${JSON.stringify(start.detail)}`);
    const rawSeconds = round(await rawItemInsertSeconds(kind, url, String(start.detail.id)));
    say(`[${kind}] baseline: the same ${start.detail.items} rows inserted raw in ${rawSeconds} s`);

    db = await Database.connect(url);
    say(`[${kind}] seeding ${events} audit events`);
    started = performance.now();
    await seedAudit(db, events);
    say(`[${kind}] seeded in ${round((performance.now() - started) / 1000)} s`);
    await db.close();
    const exportCsv = await inChild(['--child', 'export', '--url', url]);
    say(`[${kind}] export: ${exportCsv.seconds} s, peak RSS ${exportCsv.peakRssMb} MB`);
    const rawSelect = await inChild(['--child', 'raw-select', '--url', url]);
    say(`[${kind}] raw select: ${rawSelect.seconds} s, peak RSS ${rawSelect.peakRssMb} MB`);
    return {
      database: kind, identities: n, grantsPerIdentity: g, seedSeconds, start, rawItemInsertSeconds: rawSeconds, startVsRaw: round(start.seconds / rawSeconds, 1),
      auditEvents: Number(exportCsv.detail.lines), exportCsv, rawSelect, exportVsRaw: round(exportCsv.seconds / rawSelect.seconds, 1),
      underTargets: { startTime: start.seconds < TARGETS.startSeconds, startRss: start.peakRssMb < TARGETS.startPeakRssMb },
    };
  } finally {
    await dropDatabase(kind, url);
  }
}

function table(results: Result[]): string {
  const rows: Array<[string, (r: Result) => string]> = [
    ['identities x grants each', (r) => `${r.identities} x ${r.grantsPerIdentity}`],
    ['seeding (raw inserts, not timed), s', (r) => String(r.seedSeconds)],
    [`campaign start, s (target < ${TARGETS.startSeconds})`, (r) => String(r.start.seconds)],
    ['  items / reviewers mailed', (r) => `${r.start.detail.items} / ${r.start.detail.reviewers}`],
    ['  items/s', (r) => String(Math.round(Number(r.start.detail.items) / r.start.seconds))],
    [`  peak RSS, MB (target < ${TARGETS.startPeakRssMb}; at start)`, (r) => `${r.start.peakRssMb} (${r.start.startRssMb})`],
    ['raw driver insert of the same rows into a bare table, s (baseline)', (r) => String(r.rawItemInsertSeconds)],
    ['start / raw insert', (r) => `${r.startVsRaw}x`],
    ['audit export, CSV to /dev/null, s', (r) => `${r.exportCsv.seconds} (${r.auditEvents} events, ${Math.round(Number(r.exportCsv.detail.bytes) / 2 ** 20)} MB)`],
    ['  events/s', (r) => String(Math.round(r.auditEvents / r.exportCsv.seconds))],
    ['  peak RSS, MB (at start)', (r) => `${r.exportCsv.peakRssMb} (${r.exportCsv.startRssMb})`],
    ['raw streaming SELECT of the same rows, s (baseline)', (r) => `${r.rawSelect.seconds} (peak RSS ${r.rawSelect.peakRssMb} MB)`],
    ['export / raw select', (r) => `${r.exportVsRaw}x`],
    ['start targets met', (r) => (Object.values(r.underTargets).every(Boolean) ? 'yes' : `no: ${Object.entries(r.underTargets).filter(([, ok]) => !ok).map(([k]) => k).join(', ')}`)],
  ];
  const header = ['metric', ...results.map((r) => r.database)];
  const body = rows.map(([label, f]) => [label, ...results.map(f)]);
  return markdownTable(header, body);
}

const child = arg('child', '');
if (child === 'seed') {
  // Seeds a database for running a child by hand (profiling): --url, --identities, --grants.
  const db = await Database.connect(arg('url', ''));
  await db.migrate();
  await seed(db, Number(arg('identities', '100000')), Number(arg('grants', '10')));
  await db.close();
} else if (child === 'start') {
  await childStart(arg('url', ''));
} else if (child === 'export') {
  await childExport(arg('url', ''));
} else if (child === 'raw-select') {
  await childRawSelect(arg('url', ''));
} else {
  const N = Number(arg('identities', '100000'));
  const G = Number(arg('grants', '10'));
  const EVENTS = Number(arg('events', '1000000'));
  const dir = mkdtempSync(join(tmpdir(), 'iam-bench-governance-'));
  const results: Result[] = [];
  try {
    for (const kind of databaseKinds()) results.push(await measure(kind, dir, N, G, EVENTS));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stopMariaDb();
  }
  process.stdout.write(`${table(results)}\n`);
  process.stdout.write(`wrote ${writeResults('governance', results)}\n`);
}
