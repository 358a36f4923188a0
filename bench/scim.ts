/*
 * SCIM benchmark: `npm run bench:scim [-- --count N --db sqlite,mariadb]`.
 *
 * For each database: the raw rate of inserting the same identity rows straight through the
 * driver (the baseline), then the real server in its own process, loaded over loopback by 16
 * keep-alive clients: SCIM POST of every user, filter lookups, a deep page, and add-member PATCHes
 * to a 10,000-member group. Prints a table and writes JSON under bench/results/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createPool } from 'mysql2/promise';
import { Database } from '../src/db/database.js';
import { columnValues, valueRows, VALUE_ROW_COLUMNS } from '../src/identity/columns.js';
import { USER_COLUMNS } from '../src/scim/sql-map.js';
import { arg, databaseKinds, hrFeedRows, ROOT, writeResults } from './lib/setup.js';
import { ensureMariaDb, stopMariaDb } from '../test/support/mariadb.js';
import { httpClient } from './lib/http.js';
import { createToken, startIamServer, startProcess } from './lib/process.js';
import { peakRssMb } from './lib/rss.js';
import { runConcurrent, summarize, type Summary } from './lib/stats.js';

const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const COUNT = Number(arg('count', '100000'));
const KINDS = databaseKinds();
const CONCURRENCY = 16;
const LOOKUPS = 1000;
const GROUP_SIZE = Math.min(10_000, Math.floor(COUNT / 2));

const say = (text: string) => process.stderr.write(`${text}\n`);

type Doc = Record<string, unknown>;

/** SCIM users from the HR generator: realistic names, departments and managers. */
function scimUsers(count: number): Doc[] {
  const rows = hrFeedRows({ count, seed: 7 });
  return rows.map((r) => {
    const email = r.work_email!.trim().toLowerCase();
    return {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENT],
      userName: email,
      externalId: r.employee_id,
      name: { givenName: r.first_name!.trim(), familyName: r.last_name!.trim() },
      displayName: `${(r.preferred_name || r.first_name)!.trim()} ${r.last_name!.trim()}`,
      title: r.title,
      emails: [{ value: email, type: 'work', primary: true }],
      active: r.status !== 'Terminated',
      [ENT]: { employeeNumber: r.employee_id, department: r.department, costCenter: r.cost_center },
    };
  });
}

/** The rows a user becomes, built by the same mapping the server uses. */
function rowsOf(id: string, doc: Doc, now: string) {
  return {
    identity: [id, ...columnValues(doc, USER_COLUMNS), doc.displayName ?? null, now, now, JSON.stringify(doc)],
    values: valueRows(id, doc),
  };
}
const IDENTITY_INSERT = `INSERT INTO identities (id, ${USER_COLUMNS.map((c) => c.column).join(', ')}, display_label, version, created, last_modified, doc) VALUES (?, ${USER_COLUMNS.map(() => '?').join(', ')}, ?, 1, ?, ?, ?)`;
const VALUE_INSERT = `INSERT INTO identity_values (${VALUE_ROW_COLUMNS.join(', ')}) VALUES (${VALUE_ROW_COLUMNS.map(() => '?').join(', ')})`;

/** Baseline: one transaction per user (identity row + value rows) straight through the driver. */
async function rawInsertRate(kind: 'sqlite' | 'mariadb', url: string, users: Doc[]): Promise<number> {
  await Database.ensureExists(url);
  const schema = await Database.connect(url);
  await schema.migrate();
  await schema.close();
  const now = new Date().toISOString();
  if (kind === 'sqlite') {
    const db = new BetterSqlite3(url.slice('sqlite:'.length));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const insertIdentity = db.prepare(IDENTITY_INSERT);
    const insertValue = db.prepare(VALUE_INSERT);
    const insertOne = db.transaction((rows: ReturnType<typeof rowsOf>) => {
      insertIdentity.run(...rows.identity);
      for (const v of rows.values) insertValue.run(...v);
    });
    const started = performance.now();
    users.forEach((u, i) => insertOne(rowsOf(`raw-${i}`, u, now)));
    const seconds = (performance.now() - started) / 1000;
    db.close();
    return users.length / seconds;
  }
  const u = new URL(url);
  const pool = createPool({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1), connectionLimit: CONCURRENCY });
  const { seconds } = await runConcurrent(users.length, CONCURRENCY, async (i) => {
    const rows = rowsOf(`raw-${i}`, users[i]!, now);
    const conn = await pool.getConnection();
    try {
      await conn.beginTransaction();
      // The row values are strings, numbers and nulls; mysql2's parameter type is narrower than unknown[].
      await conn.execute(IDENTITY_INSERT, rows.identity as never[]);
      for (const v of rows.values) await conn.execute(VALUE_INSERT, v as never[]);
      await conn.commit();
    } finally {
      conn.release();
    }
  });
  await pool.end();
  return users.length / seconds;
}

function expectStatus(res: { status: number; body: string }, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status}: ${res.body.slice(0, 300)}`);
}

interface Result {
  database: string;
  users: number;
  rawInsertPerSec: number;
  bareEndpointPerSec: number;
  postVsBare: number;
  postPerSec: number;
  postVsRaw: number;
  post: Summary;
  filterUserName: Summary;
  filterEmail: Summary;
  deepPage: Summary;
  addMember: Summary;
  groupMembers: number;
  serverPeakRssMb: number;
}

/** Drops the benchmark's MySQL databases, or its SQLite directory. */
async function cleanUp(kind: 'sqlite' | 'mariadb', dir: string, databaseUrls: string[]): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  if (kind !== 'mariadb') return;
  for (const url of databaseUrls) {
    const u = new URL(url);
    const pool = createPool({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) });
    await pool.query(`DROP DATABASE IF EXISTS \`${u.pathname.slice(1)}\``);
    await pool.end();
  }
}

async function benchmark(kind: 'sqlite' | 'mariadb', users: Doc[], mysqlServer?: string): Promise<Result> {
  const tag = `${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'iam-bench-'));
  const urlFor = (name: string) => (kind === 'sqlite' ? `sqlite:${join(dir, `${name}.sqlite`)}` : `${mysqlServer}/iam_bench_${name}_${tag}`);
  try {
    return await measure(kind, users, urlFor, tag);
  } finally {
    await cleanUp(kind, dir, [urlFor('raw'), urlFor('server')]);
  }
}

/** The HTTP ceiling: POSTs of the same bodies to a bare Koa endpoint, same clients, same concurrency. */
async function bareEndpointRate(users: Doc[]): Promise<number> {
  const bare = await startProcess(['--import', 'tsx', join(ROOT, 'bench', 'lib', 'bare-server.ts')]);
  try {
    const call = httpClient(bare.url, 'none', CONCURRENCY);
    const { seconds } = await runConcurrent(users.length, CONCURRENCY, async (i) => expectStatus(await call('POST', '/Users', users[i]), 201, 'bare POST'));
    return users.length / seconds;
  } finally {
    await bare.stop();
  }
}

async function measure(kind: 'sqlite' | 'mariadb', users: Doc[], urlFor: (name: string) => string, tag: string): Promise<Result> {
  say(`[${kind}] baseline: raw driver inserts of ${users.length} users`);
  const rawRate = await rawInsertRate(kind, urlFor('raw'), users);
  say(`[${kind}] baseline: bare Koa endpoint`);
  const bareRate = await bareEndpointRate(users);

  const databaseUrl = urlFor('server');
  const token = createToken(databaseUrl, 'scim:read,scim:write');
  const server = await startIamServer(databaseUrl);
  try {
    const call = httpClient(`${server.url}/scim/v2`, token, CONCURRENCY);
    say(`[${kind}] SCIM POST of ${users.length} users, ${CONCURRENCY} clients`);
    const ids = new Array<string>(users.length);
    const post = await runConcurrent(users.length, CONCURRENCY, async (i) => {
      const res = await call('POST', '/Users', users[i]);
      expectStatus(res, 201, 'POST /Users');
      ids[i] = (JSON.parse(res.body) as { id: string }).id;
    }, (done) => say(`  ${done}/${users.length}`));

    const pick = (i: number) => users[(i * 7919) % users.length]!;
    say(`[${kind}] filter lookups`);
    const byUserName = await runConcurrent(LOOKUPS, 1, async (i) => {
      const res = await call('GET', `/Users?filter=${encodeURIComponent(`userName eq "${String(pick(i).userName).toUpperCase()}"`)}`);
      expectStatus(res, 200, 'filter userName');
      if (!res.body.includes('"totalResults":1,')) throw new Error(`filter userName found no single match: ${res.body.slice(0, 200)}`);
    });
    const byEmail = await runConcurrent(LOOKUPS, 1, async (i) => {
      const email = (pick(i + 1).emails as Array<{ value: string }>)[0]!.value;
      const res = await call('GET', `/Users?filter=${encodeURIComponent(`emails[value eq "${email}"]`)}`);
      expectStatus(res, 200, 'filter emails');
      if (!res.body.includes('"totalResults":1,')) throw new Error('filter emails found no single match');
    });
    const start = Math.floor(users.length / 2);
    const deepPage = await runConcurrent(50, 1, async () => {
      const res = await call('GET', `/Users?startIndex=${start}&count=100`);
      expectStatus(res, 200, 'deep page');
      if (!res.body.includes('"itemsPerPage":100,')) throw new Error('deep page is not 100 items');
    });

    say(`[${kind}] group of ${GROUP_SIZE} members, then single add-member PATCHes`);
    const group = await call('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `bench-${tag}` });
    expectStatus(group, 201, 'POST /Groups');
    const groupId = (JSON.parse(group.body) as { id: string }).id;
    const patchOf = (members: string[]) => ({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: members.map((value) => ({ value })) }] });
    for (let i = 0; i < GROUP_SIZE; i += 500) {
      expectStatus(await call('PATCH', `/Groups/${groupId}`, patchOf(ids.slice(i, Math.min(GROUP_SIZE, i + 500)))), 204, 'bulk add members');
    }
    const adds = Math.min(500, users.length - GROUP_SIZE);
    const addMember = await runConcurrent(adds, 1, async (i) => {
      expectStatus(await call('PATCH', `/Groups/${groupId}`, patchOf([ids[GROUP_SIZE + i]!])), 204, 'add member');
    });
    const check = await call('GET', `/Groups?filter=${encodeURIComponent(`displayName eq "bench-${tag}"`)}&attributes=displayName`);
    expectStatus(check, 200, 'group check');
    const members = Number((await call('GET', `/Users?filter=${encodeURIComponent(`groups.value eq "${groupId}"`)}&count=0`)).body.match(/"totalResults":(\d+)/)?.[1]);
    if (members !== GROUP_SIZE + adds) throw new Error(`group has ${members} members, expected ${GROUP_SIZE + adds}`);

    const postRate = users.length / post.seconds;
    return {
      database: kind,
      users: users.length,
      rawInsertPerSec: Math.round(rawRate),
      bareEndpointPerSec: Math.round(bareRate),
      postVsBare: Math.round((postRate / bareRate) * 1000) / 1000,
      postPerSec: Math.round(postRate),
      postVsRaw: Math.round((postRate / rawRate) * 1000) / 1000,
      post: summarize(post.latencies),
      filterUserName: summarize(byUserName.latencies),
      filterEmail: summarize(byEmail.latencies),
      deepPage: summarize(deepPage.latencies),
      addMember: summarize(addMember.latencies),
      groupMembers: members,
      serverPeakRssMb: peakRssMb(server.pid),
    };
  } finally {
    await server.stop();
  }
}

function table(results: Result[]): string {
  const rows: Array<[string, (r: Result) => string]> = [
    ['users created', (r) => String(r.users)],
    ['raw driver insert, rows/s (baseline)', (r) => String(r.rawInsertPerSec)],
    ['SCIM POST, users/s (16 clients)', (r) => String(r.postPerSec)],
    ['bare Koa endpoint POST, requests/s (baseline)', (r) => String(r.bareEndpointPerSec)],
    ['SCIM POST / raw insert', (r) => `${(r.postVsRaw * 100).toFixed(1)}%`],
    ['SCIM POST / bare endpoint', (r) => `${(r.postVsBare * 100).toFixed(1)}%`],
    ['POST p50 / p99 ms', (r) => `${r.post.p50} / ${r.post.p99}`],
    ['filter userName eq, p50 / p99 ms', (r) => `${r.filterUserName.p50} / ${r.filterUserName.p99}`],
    ['filter emails[value eq], p50 / p99 ms', (r) => `${r.filterEmail.p50} / ${r.filterEmail.p99}`],
    ['page of 100 at startIndex=N/2, p50 / p99 ms', (r) => `${r.deepPage.p50} / ${r.deepPage.p99}`],
    ['PATCH add-member to a large group, p50 / p99 ms', (r) => `${r.addMember.p50} / ${r.addMember.p99}`],
    ['members in that group at the end', (r) => String(r.groupMembers)],
    ['server peak RSS, MB', (r) => String(r.serverPeakRssMb)],
  ];
  const header = ['metric', ...results.map((r) => r.database)];
  const body = rows.map(([name, f]) => [name, ...results.map(f)]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const users = scimUsers(COUNT);
const results: Result[] = [];
let mysqlServer: string | undefined;
try {
  for (const kind of KINDS) {
    if (kind === 'mariadb') mysqlServer ??= await ensureMariaDb();
    results.push(await benchmark(kind, users, mysqlServer));
  }
} finally {
  await stopMariaDb();
}
const output = table(results);
process.stdout.write(`${output}\n`);
const file = writeResults('scim', results);
process.stdout.write(`wrote ${file}\n`);
