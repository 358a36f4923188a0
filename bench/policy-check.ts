/*
 * Policy-check benchmark: `node --import tsx bench/policy-check.ts [--seed N] [--identities N] [--roles N] [--rules N] [--apps N] [--mysql mysql://user@host:port]`.
 *
 * Generates a workforce-shaped RBAC policy (by default 10,000 identities, 1,000 roles in three
 * inheritance levels, 5,000 rules over keyMatch2 object patterns), then measures in one run:
 * Casbin's enforceSync on a small sample (the baseline, and a check that both agree), AccessIndex
 * build time, decisions/s on repeated subjects (roles cached), on never-seen subjects (cache
 * cleared before each pass), p50/p99 per decision, and decideMany.
 *
 * Then the same policy goes into a real database (a temporary SQLite file, or a fresh database on
 * the MySQL/MariaDB server --mysql names): the roles as catalogue rows, each identity's roles as
 * grants. PolicyEngine, as the server runs it, loads it and answers check() on repeated subjects
 * and on subjects no engine has decided before (a freshly started engine per pass), with
 * p50/p99, and checkMany. Its answers are compared with AccessIndex.decide on the generated
 * policy. Last, a server process over that database answers POST /api/v1/authz/check, measured
 * against a bare Koa endpoint in the same run. Prints a table and writes JSON under bench/results/.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newEnforcer, newModelFromString } from 'casbin';
import { insertRows } from '../src/db/batches.js';
import { Database } from '../src/db/database.js';
import { createLogger } from '../src/log/logger.js';
import { ACCESS_MODEL, AccessIndex, type AccessPolicy, type AccessRequest } from '../src/policy/access-index.js';
import { PolicyChangeLog } from '../src/policy/changes.js';
import { PolicyEngine, type CheckRequest } from '../src/policy/engine.js';
import { prng } from '../test/support/prng.js';
import { httpClient } from './lib/http.js';
import { arg, ROOT, writeResults } from './lib/setup.js';
import { cpuSeconds } from './lib/cpu.js';
import { createToken, startIamServer, startProcess } from './lib/process.js';
import { runConcurrent, summarize } from './lib/stats.js';


const SEED = Number(arg('seed', '42'));
const IDENTITIES = Number(arg('identities', '10000'));
const ROLES = Number(arg('roles', '1000'));
const RULES = Number(arg('rules', '5000'));
const APPS = Number(arg('apps', '100'));
const MYSQL_SERVER = (() => {
  const i = process.argv.indexOf('--mysql');
  return i > 0 ? process.argv[i + 1] : undefined;
})();
const CASBIN_SAMPLE = 100;
const REPEATED_DECISIONS = 1_000_000;
const LATENCY_SAMPLES = 200_000;
const FRESH_ROUNDS = 10;

const say = (text: string) => process.stderr.write(`${text}\n`);

const random = prng(SEED);
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

const ACTIONS = ['read', 'write', 'delete', 'approve', 'admin'];

/** Three levels: leads inherit seniors, seniors inherit base roles; identities hold a few of any level. */
function generatePolicy(): { policy: AccessPolicy; identities: string[] } {
  const top = Array.from({ length: Math.round(ROLES * 0.1) }, (_, i) => `role:lead-${i}`);
  const mid = Array.from({ length: Math.round(ROLES * 0.3) }, (_, i) => `role:senior-${i}`);
  const base = Array.from({ length: ROLES - top.length - mid.length }, (_, i) => `role:base-${i}`);
  const roles = [...top, ...mid, ...base];
  const roleLinks: AccessPolicy['roleLinks'] = [];
  const linkSome = (members: string[], targets: string[]) => {
    for (const member of members) {
      const held = new Set<string>();
      while (held.size < 3) held.add(pick(targets));
      for (const role of held) roleLinks.push([member, role]);
    }
  };
  linkSome(top, mid);
  linkSome(mid, base);
  const identities = Array.from({ length: IDENTITIES }, (_, i) => `user${i}@example.com`);
  for (const identity of identities) {
    const held = new Set<string>();
    const count = 1 + int(4);
    while (held.size < count) {
      const level = random();
      held.add(pick(level < 0.6 ? base : level < 0.9 ? mid : top));
    }
    for (const role of held) roleLinks.push([identity, role]);
  }
  const templates = [
    (app: string) => `/apps/${app}/repos/:repo`,
    (app: string) => `/apps/${app}/repos/:repo/issues/:issue`,
    (app: string) => `/apps/${app}/repos/*`,
    (app: string) => `/apps/${app}/settings`,
    (app: string) => `/apps/${app}/billing`,
    (app: string) => `/apps/${app}/reports/${2020 + int(6)}`,
    (app: string) => `/apps/${app}/users/:id/profile`,
    (app: string) => `/apps/${app}/*`,
  ];
  const permissions: AccessPolicy['permissions'] = [];
  const seen = new Set<string>();
  while (permissions.length < RULES) {
    const rule: [string, string, string] = [pick(roles), pick(templates)(`app-${int(APPS)}`), random() < 0.1 ? '*' : pick(ACTIONS)];
    const key = rule.join('\u0000');
    if (seen.has(key)) continue;
    seen.add(key);
    permissions.push(rule);
  }
  return { policy: { roleLinks, permissions }, identities };
}

function randomObject(): string {
  const app = `app-${int(APPS)}`;
  switch (int(7)) {
    case 0: return `/apps/${app}/repos/r${int(500)}`;
    case 1: return `/apps/${app}/repos/r${int(500)}/issues/${int(10_000)}`;
    case 2: return `/apps/${app}/settings`;
    case 3: return `/apps/${app}/billing`;
    case 4: return `/apps/${app}/reports/${2020 + int(6)}`;
    case 5: return `/apps/${app}/users/u${int(IDENTITIES)}/profile`;
    default: return `/apps/${app}/audit/${int(100)}`;
  }
}

/** A concrete object the pattern matches: parameters and `*` filled in with random segments. */
function instantiate(pattern: string): string {
  return pattern.replace(/:[^/]+/g, () => `x${int(1000)}`).replace(/\*$/, () => (random() < 0.5 ? `y${int(100)}` : `y${int(100)}/z${int(100)}`));
}

/** Each subject's rules through its roles, so half the requests ask for something it may plausibly do. */
function rulesReachable(policy: AccessPolicy): (subject: string) => Array<[string, string, string]> {
  const links = new Map<string, string[]>();
  for (const [member, role] of policy.roleLinks) links.set(member, [...(links.get(member) ?? []), role]);
  const byRole = new Map<string, Array<[string, string, string]>>();
  for (const rule of policy.permissions) byRole.set(rule[0], [...(byRole.get(rule[0]) ?? []), rule]);
  return (subject) => {
    const seen = new Set([subject]);
    const queue = [subject];
    for (let i = 0; i < queue.length; i++) for (const role of links.get(queue[i]!) ?? []) if (!seen.has(role)) seen.add(role), queue.push(role);
    return queue.flatMap((role) => byRole.get(role) ?? []);
  };
}

function requestsFor(subjects: string[]): AccessRequest[] {
  return subjects.map((subject) => {
    const granted = reachable(subject);
    if (granted.length === 0 || random() < 0.5) return { subject, object: randomObject(), action: pick(ACTIONS) };
    const [, pattern, action] = pick(granted);
    return { subject, object: instantiate(pattern), action: action === '*' ? pick(ACTIONS) : random() < 0.8 ? action : pick(ACTIONS) };
  });
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

function percentile(sortedMicros: Float64Array, q: number): number {
  return sortedMicros[Math.min(sortedMicros.length - 1, Math.floor(q * sortedMicros.length))]!;
}

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Throughput of `decide` over `requests`, repeated until `total` decisions. */
function throughput(index: AccessIndex, requests: AccessRequest[], total: number): { perSecond: number; allowed: number } {
  let allowed = 0;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const r = requests[i % requests.length]!;
    if (index.decide(r.subject, r.object, r.action).allowed) allowed++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: total / seconds, allowed: allowed / total };
}

/** Per-decision latency in microseconds, each call timed on its own. */
function latencies(index: AccessIndex, requests: AccessRequest[], total: number, beforeEachPass?: () => void): Float64Array {
  const samples = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    if (i % requests.length === 0) beforeEachPass?.();
    const r = requests[i % requests.length]!;
    const t0 = performance.now();
    index.decide(r.subject, r.object, r.action);
    samples[i] = (performance.now() - t0) * 1000;
  }
  return samples.sort();
}

say(`generating ${IDENTITIES} identities, ${ROLES} roles, ${RULES} rules (seed ${SEED})`);
const { policy, identities } = generatePolicy();
const reachable = rulesReachable(policy);

say('building AccessIndex');
const buildTimes: number[] = [];
let index = AccessIndex.build(policy, ACCESS_MODEL);
const firstBuildMs = index.stats.buildMs;
buildTimes.push(firstBuildMs);
for (let i = 0; i < 4; i++) {
  index = AccessIndex.build(policy, ACCESS_MODEL);
  buildTimes.push(index.stats.buildMs);
}
buildTimes.sort((a, b) => a - b);

say('Casbin baseline');
const casbinLoadStarted = performance.now();
const enforcer = await newEnforcer(newModelFromString(ACCESS_MODEL));
await enforcer.addGroupingPolicies(policy.roleLinks);
await enforcer.addPolicies(policy.permissions);
const casbinLoadMs = performance.now() - casbinLoadStarted;
const sample = requestsFor(Array.from({ length: CASBIN_SAMPLE }, () => pick(identities)));
let disagreements = 0;
let casbinAllowed = 0;
const casbinStarted = performance.now();
const casbinAnswers = sample.map((r) => enforcer.enforceSync(r.subject, r.object, r.action));
const casbinSeconds = (performance.now() - casbinStarted) / 1000;
sample.forEach((r, i) => {
  if (casbinAnswers[i]) casbinAllowed++;
  if (index.decide(r.subject, r.object, r.action).allowed !== casbinAnswers[i]) disagreements++;
});
index.clearCache();

say('AccessIndex, never-seen subjects');
// Every identity once per pass, cache cleared before each pass: each decision resolves its roles.
const freshRequests = requestsFor(shuffled(identities));
let fresh = { perSecond: 0, allowed: 0 };
{
  let allowed = 0;
  let seconds = 0;
  for (let round = 0; round < FRESH_ROUNDS; round++) {
    index.clearCache();
    const started = performance.now();
    for (const r of freshRequests) if (index.decide(r.subject, r.object, r.action).allowed) allowed++;
    seconds += (performance.now() - started) / 1000;
  }
  fresh = { perSecond: (FRESH_ROUNDS * freshRequests.length) / seconds, allowed: allowed / (FRESH_ROUNDS * freshRequests.length) };
}
const freshLatency = latencies(index, freshRequests, FRESH_ROUNDS * freshRequests.length, () => index.clearCache());

say('AccessIndex, repeated subjects');
const repeatedRequests = requestsFor(Array.from({ length: 100_000 }, () => pick(identities)));
index.clearCache();
throughput(index, repeatedRequests, repeatedRequests.length); // warms the cache and the JIT
const repeated = throughput(index, repeatedRequests, REPEATED_DECISIONS);
const repeatedLatency = latencies(index, repeatedRequests, LATENCY_SAMPLES);

say('AccessIndex, unknown subjects');
const unknownRequests = requestsFor(Array.from({ length: 10_000 }, (_, i) => `stranger${i}@example.com`));
const unknown = throughput(index, unknownRequests, 200_000);

say('AccessIndex, decideMany');
const batch = repeatedRequests.slice(0, 1000);
const batchStarted = performance.now();
for (let i = 0; i < 200; i++) index.decideMany(batch);
const batchPerSecond = (200 * batch.length) / ((performance.now() - batchStarted) / 1000);

// ---------------------------------------------------------------------------------------------
// PolicyEngine.check in process, on the same policy loaded from a real database.
// ---------------------------------------------------------------------------------------------

const ROWS_PER_INSERT = 200;
const ENGINE_REPEATED_DECISIONS = 500_000;
const ENGINE_FRESH_ROUNDS = 3;

/** Inserts rows in multi-row statements, one transaction per table. */
function insertAll(db: Database, table: string, columns: string[], rows: unknown[][]): Promise<void> {
  return db.transaction((tx) => insertRows(tx, table, columns, rows, ROWS_PER_INSERT));
}

/** Writes the generated policy as catalogue rows (roles named without their `role:` prefix) and identities with grants. */
async function populate(db: Database): Promise<{ grants: number }> {
  const now = new Date().toISOString();
  const roleName = (item: string) => item.slice('role:'.length);
  const roleNames = new Set<string>();
  for (const [member, role] of policy.roleLinks) {
    if (member.startsWith('role:')) roleNames.add(roleName(member));
    roleNames.add(roleName(role));
  }
  for (const [role] of policy.permissions) roleNames.add(roleName(role));
  await insertAll(db, 'roles', ['name', 'owner', 'requestable', 'risk', 'version', 'created', 'last_modified'],
    [...roleNames].map((name) => [name, null, 0, 'low', 1, now, now]));
  const positions = new Map<string, number>();
  const position = (role: string) => {
    const next = positions.get(role) ?? 0;
    positions.set(role, next + 1);
    return next;
  };
  await insertAll(db, 'role_inherits', ['role', 'parent', 'position'],
    policy.roleLinks.filter(([member]) => member.startsWith('role:')).map(([member, role]) => [roleName(member), roleName(role), position(`i:${member}`)]));
  await insertAll(db, 'role_permissions', ['role', 'object', 'action', 'position'],
    policy.permissions.map(([role, object, action]) => [roleName(role), object, action, position(`p:${role}`)]));
  const ids = new Map(identities.map((userName) => [userName, randomUUID()]));
  await insertAll(db, 'identities', ['id', 'user_name', 'active', 'version', 'created', 'last_modified', 'doc'],
    identities.map((userName) => [ids.get(userName), userName, 1, 1, now, now, JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, active: true })]));
  const grants = policy.roleLinks.filter(([member]) => ids.has(member))
    .map(([member, role]) => [randomUUID(), ids.get(member), role, 'manual', '', 'bench', null, null, null, now]);
  await insertAll(db, 'grants', ['id', 'identity_id', 'item', 'source', 'source_ref', 'granted_by', 'reason', 'valid_from', 'valid_until', 'created'], grants);
  await db.transaction((tx) => new PolicyChangeLog().catalogChanged(tx));
  return { grants: grants.length };
}

/** A fresh database for the engine: a temporary SQLite file, or a new database on the --mysql server. */
async function benchDatabase(): Promise<{ db: Database; url: string; kind: string; drop: () => Promise<void> }> {
  if (MYSQL_SERVER === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'iam-bench-policy-'));
    const url = `sqlite:${join(dir, 'iam.sqlite')}`;
    const db = await Database.connect(url);
    return { db, url, kind: 'sqlite', drop: async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const url = `${MYSQL_SERVER.replace(/\/$/, '')}/iam_bench_${randomBytes(4).toString('hex')}`;
  await Database.ensureExists(url);
  const db = await Database.connect(url);
  const name = new URL(url).pathname.slice(1);
  return { db, url, kind: 'mysql', drop: async () => { await db.execute(`DROP DATABASE \`${name}\``); await db.close(); } };
}

/** Sequential awaited checks, as a request handler makes them; returns decisions/s. */
async function engineThroughput(engine: PolicyEngine, requests: CheckRequest[], total: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < total; i++) await engine.check(requests[i % requests.length]!);
  return total / ((performance.now() - started) / 1000);
}

async function engineLatencies(engine: PolicyEngine, requests: CheckRequest[], total: number): Promise<Float64Array> {
  const samples = new Float64Array(total);
  for (let i = 0; i < total; i++) {
    const t0 = performance.now();
    await engine.check(requests[i % requests.length]!);
    samples[i] = (performance.now() - t0) * 1000;
  }
  return samples.sort();
}

// ---------------------------------------------------------------------------------------------
// HTTP: the check endpoint of a real server process over the same database, against a bare Koa
// endpoint (bench/lib/bare-server.ts: reads the JSON body and answers with JSON) driven by the same
// client at the same concurrency. After a warm-up of each, short rounds alternate between the two;
// each pair of neighbouring rounds gives one ratio, and the median ratio is the figure, so a
// neighbour slowing the machine for a while moves one pair, not the result.
// ---------------------------------------------------------------------------------------------

const HTTP_REQUESTS = 5_000;
const HTTP_PAIRS = 21;
const HTTP_CONCURRENCY = 16;

interface HttpResults {
  requests: number;
  pairs: number;
  concurrency: number;
  bare: { medianPerSecond: number };
  check: { medianPerSecond: number; p50ms: number; p99ms: number };
  /** CPU time each server process spent per request over all measured rounds, in µs */
  serverCpuMicros: Record<'bare' | 'check', { user: number; system: number }>;
  /** median over the pairs of check/bare requests per second */
  checkVsBare: number;
  checkVsBareRange: [number, number];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function measureHttp(databaseUrl: string, checks: CheckRequest[]): Promise<HttpResults> {
  const token = createToken(databaseUrl, 'authz:check');
  const server = await startIamServer(databaseUrl, { IAM_POLICY_SEED_FILE: '' });
  const bare = await startProcess(['--import', 'tsx', join(ROOT, 'bench', 'lib', 'bare-server.ts')]);
  try {
    const endpoints = {
      bare: httpClient(`${bare.url}/api/v1`, token, HTTP_CONCURRENCY),
      check: httpClient(`${server.url}/api/v1`, token, HTTP_CONCURRENCY),
    };
    const pids = { bare: bare.pid, check: server.pid };
    const cpu = { bare: { user: 0, system: 0 }, check: { user: 0, system: 0 } };
    const run = async (name: 'bare' | 'check') => {
      const call = endpoints[name];
      const before = cpuSeconds(pids[name]);
      const { latencies, seconds } = await runConcurrent(checks.length, HTTP_CONCURRENCY, async (i) => {
        const res = await call('POST', '/authz/check', checks[i]);
        // The bare endpoint answers 201, as the SCIM POST it stands in for does.
        const expected = name === 'bare' ? 201 : 200;
        if (res.status !== expected) throw new Error(`${name}: expected ${expected}, got ${res.status}: ${res.body.slice(0, 300)}`);
      });
      const after = cpuSeconds(pids[name]);
      cpu[name].user += after.user - before.user;
      cpu[name].system += after.system - before.system;
      return { perSecond: checks.length / seconds, latencies };
    };
    await run('bare');
    await run('check');
    cpu.bare = { user: 0, system: 0 };
    cpu.check = { user: 0, system: 0 };
    const rates = { bare: [] as number[], check: [] as number[] };
    const ratios: number[] = [];
    let checkLatencies: number[] = [];
    for (let pair = 0; pair < HTTP_PAIRS; pair++) {
      // Alternate which goes first, so neither always follows the other's garbage collection.
      const order = pair % 2 === 0 ? (['bare', 'check'] as const) : (['check', 'bare'] as const);
      const got: Record<string, number> = {};
      for (const name of order) {
        const { perSecond, latencies } = await run(name);
        got[name] = perSecond;
        rates[name].push(perSecond);
        if (name === 'check') checkLatencies = checkLatencies.concat(latencies);
      }
      ratios.push(got.check! / got.bare!);
    }
    const summary = summarize(checkLatencies);
    const perRequest = (seconds: number) => round((seconds * 1e6) / (HTTP_PAIRS * checks.length), 1);
    return {
      requests: checks.length,
      pairs: HTTP_PAIRS,
      concurrency: HTTP_CONCURRENCY,
      bare: { medianPerSecond: Math.round(median(rates.bare)) },
      check: { medianPerSecond: Math.round(median(rates.check)), p50ms: summary.p50, p99ms: summary.p99 },
      serverCpuMicros: {
        bare: { user: perRequest(cpu.bare.user), system: perRequest(cpu.bare.system) },
        check: { user: perRequest(cpu.check.user), system: perRequest(cpu.check.system) },
      },
      checkVsBare: round(median(ratios), 3),
      checkVsBareRange: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)],
    };
  } finally {
    await server.stop();
    await bare.stop();
  }
}

say(`PolicyEngine: loading the policy into ${MYSQL_SERVER === undefined ? 'a temporary SQLite database' : 'a fresh MySQL database'}`);
const silent = createLogger('silent');
const benchDb = await benchDatabase();
let engineResults;
let httpResults: HttpResults | undefined;
try {
  const { db } = benchDb;
  await db.migrate();
  const populateStarted = performance.now();
  const { grants } = await populate(db);
  const populateMs = performance.now() - populateStarted;

  const startTimes: number[] = [];
  const startEngine = async () => {
    const t0 = performance.now();
    const engine = await PolicyEngine.start(db, new PolicyChangeLog(), silent, { pollIntervalMs: 1000 });
    startTimes.push(performance.now() - t0);
    return engine;
  };

  say('PolicyEngine, never-seen subjects (a freshly started engine per pass)');
  // Subjects by userName in mixed case, as callers send them; every identity once per pass.
  const asCheck = (r: AccessRequest): CheckRequest => ({ subject: r.subject.toUpperCase(), object: r.object, action: r.action });
  const freshChecks = freshRequests.map(asCheck);
  let freshSeconds = 0;
  let freshSamples: number[] = [];
  for (let pass = 0; pass < ENGINE_FRESH_ROUNDS; pass++) {
    const engine = await startEngine();
    const started = performance.now();
    if (pass % 2 === 0) {
      for (const r of freshChecks) await engine.check(r);
      freshSeconds += (performance.now() - started) / 1000;
    } else {
      // Alternate passes time each call, so throughput is not measured with the timer in the loop.
      freshSamples = freshSamples.concat([...(await engineLatencies(engine, freshChecks, freshChecks.length))]);
    }
    await engine.stop();
  }
  const freshLatencyEngine = Float64Array.from(freshSamples).sort();
  const freshPerSecond = (Math.ceil(ENGINE_FRESH_ROUNDS / 2) * freshChecks.length) / freshSeconds;

  say('PolicyEngine, repeated subjects');
  const engine = await startEngine();
  const repeatedChecks = repeatedRequests.map(asCheck);
  await engineThroughput(engine, repeatedChecks, repeatedChecks.length); // warms the caches and the JIT
  const repeatedPerSecond = await engineThroughput(engine, repeatedChecks, ENGINE_REPEATED_DECISIONS);
  const repeatedLatencyEngine = await engineLatencies(engine, repeatedChecks, LATENCY_SAMPLES);

  say('PolicyEngine, checkMany');
  const manyBatch = repeatedChecks.slice(0, 1000);
  const manyStarted = performance.now();
  for (let i = 0; i < 200; i++) await engine.checkMany(manyBatch);
  const manyPerSecond = (200 * manyBatch.length) / ((performance.now() - manyStarted) / 1000);

  // The engine decides on the identities' grants; AccessIndex on the same links written as policy lines.
  let engineDisagreements = 0;
  const agreementSample = repeatedRequests.slice(0, 20_000);
  const engineAnswers = await engine.checkMany(agreementSample.map(asCheck));
  agreementSample.forEach((r, i) => {
    if (engineAnswers[i]!.allowed !== index.decide(r.subject, r.object, r.action).allowed) engineDisagreements++;
  });
  await engine.stop();
  startTimes.sort((a, b) => a - b);

  engineResults = {
    database: benchDb.kind,
    populateMs: round(populateMs),
    identities: IDENTITIES,
    grants,
    startMs: { min: round(startTimes[0]!), max: round(startTimes[startTimes.length - 1]!) },
    repeated: { decisions: ENGINE_REPEATED_DECISIONS, perSecond: Math.round(repeatedPerSecond), p50us: round(percentile(repeatedLatencyEngine, 0.5)), p99us: round(percentile(repeatedLatencyEngine, 0.99)), p999us: round(percentile(repeatedLatencyEngine, 0.999)), maxUs: round(repeatedLatencyEngine[repeatedLatencyEngine.length - 1]!) },
    neverSeen: { decisions: ENGINE_FRESH_ROUNDS * freshChecks.length, perSecond: Math.round(freshPerSecond), p50us: round(percentile(freshLatencyEngine, 0.5)), p99us: round(percentile(freshLatencyEngine, 0.99)), p999us: round(percentile(freshLatencyEngine, 0.999)), maxUs: round(freshLatencyEngine[freshLatencyEngine.length - 1]!) },
    checkMany: { batch: manyBatch.length, perSecond: Math.round(manyPerSecond) },
    agreement: { sample: agreementSample.length, disagreements: engineDisagreements },
  };

  say('HTTP: POST /api/v1/authz/check against a bare Koa endpoint');
  httpResults = await measureHttp(benchDb.url, repeatedRequests.slice(0, HTTP_REQUESTS).map(asCheck));
} finally {
  await benchDb.drop();
}


const results = {
  policy: { identities: IDENTITIES, roles: ROLES, rules: RULES, links: index.stats.links, seed: SEED, stats: index.stats },
  build: { firstMs: round(firstBuildMs), maxMs: round(buildTimes[buildTimes.length - 1]!), medianMs: round(buildTimes[2]!), minMs: round(buildTimes[0]!) },
  casbin: { loadMs: round(casbinLoadMs), sample: CASBIN_SAMPLE, perSecond: round(CASBIN_SAMPLE / casbinSeconds, 1), meanMs: round((casbinSeconds * 1000) / CASBIN_SAMPLE), allowedShare: round(casbinAllowed / CASBIN_SAMPLE), disagreements },
  repeated: { decisions: REPEATED_DECISIONS, perSecond: Math.round(repeated.perSecond), allowedShare: round(repeated.allowed), p50us: round(percentile(repeatedLatency, 0.5)), p99us: round(percentile(repeatedLatency, 0.99)), p999us: round(percentile(repeatedLatency, 0.999)), maxUs: round(repeatedLatency[repeatedLatency.length - 1]!) },
  neverSeen: { decisions: FRESH_ROUNDS * freshRequests.length, perSecond: Math.round(fresh.perSecond), allowedShare: round(fresh.allowed), p50us: round(percentile(freshLatency, 0.5)), p99us: round(percentile(freshLatency, 0.99)), p999us: round(percentile(freshLatency, 0.999)), maxUs: round(freshLatency[freshLatency.length - 1]!) },
  unknownSubjects: { perSecond: Math.round(unknown.perSecond) },
  decideMany: { batch: batch.length, perSecond: Math.round(batchPerSecond) },
  speedup: { repeated: Math.round(repeated.perSecond / (CASBIN_SAMPLE / casbinSeconds)), neverSeen: Math.round(fresh.perSecond / (CASBIN_SAMPLE / casbinSeconds)) },
  engine: engineResults,
  http: httpResults,
};

const fmt = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 2 });
const rows: Array<[string, string, string, string]> = [
  ['Casbin enforceSync (baseline)', fmt(results.casbin.perSecond), `${fmt(results.casbin.meanMs * 1000)} (mean)`, ''],
  ['AccessIndex, repeated subjects', fmt(results.repeated.perSecond), fmt(results.repeated.p50us), fmt(results.repeated.p99us)],
  ['AccessIndex, never-seen subjects', fmt(results.neverSeen.perSecond), fmt(results.neverSeen.p50us), fmt(results.neverSeen.p99us)],
  ['AccessIndex, subjects not in policy', fmt(results.unknownSubjects.perSecond), '', ''],
  ['AccessIndex.decideMany (1,000/batch)', fmt(results.decideMany.perSecond), '', ''],
  ['PolicyEngine.check, repeated subjects', fmt(engineResults.repeated.perSecond), fmt(engineResults.repeated.p50us), fmt(engineResults.repeated.p99us)],
  ['PolicyEngine.check, never-seen subjects', fmt(engineResults.neverSeen.perSecond), fmt(engineResults.neverSeen.p50us), fmt(engineResults.neverSeen.p99us)],
  ['PolicyEngine.checkMany (1,000/batch)', fmt(engineResults.checkMany.perSecond), '', ''],
];
const header: [string, string, string, string] = ['decisions', 'per second', 'p50 µs', 'p99 µs'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (row: string[]) => `| ${row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
const output = [
  `policy: ${fmt(IDENTITIES)} identities, ${fmt(ROLES)} roles (3 levels), ${fmt(RULES)} rules, ${fmt(index.stats.links)} links; ${index.stats.objectPatterns} object patterns (${index.stats.literalObjects} literal), ${index.stats.prefixBuckets} prefix buckets`,
  `build: ${fmt(results.build.medianMs)} ms median of 5 (first, with a cold JIT: ${fmt(results.build.firstMs)} ms); Casbin enforcer load ${fmt(results.casbin.loadMs)} ms`,
  `agreement with Casbin on ${CASBIN_SAMPLE} sampled requests: ${disagreements === 0 ? 'all equal' : `${disagreements} DIFFERENT`}`,
  '',
  line(header),
  `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
  ...rows.map(line),
  '',
  `speed-up over Casbin: ×${fmt(results.speedup.repeated)} repeated, ×${fmt(results.speedup.neverSeen)} never-seen; allowed share ${fmt(results.repeated.allowedShare)}`,
  `PolicyEngine on ${engineResults.database}: ${fmt(engineResults.identities)} identities, ${fmt(engineResults.grants)} grants written in ${fmt(engineResults.populateMs)} ms; engine start (load everything) ${fmt(engineResults.startMs.min)}-${fmt(engineResults.startMs.max)} ms; agreement with AccessIndex on ${fmt(engineResults.agreement.sample)} requests: ${engineResults.agreement.disagreements === 0 ? 'all equal' : `${engineResults.agreement.disagreements} DIFFERENT`}`,
  `HTTP, ${fmt(httpResults!.concurrency)} clients, ${httpResults!.pairs} alternating pairs of ${fmt(httpResults!.requests)}-request rounds: bare Koa ${fmt(httpResults!.bare.medianPerSecond)}/s, POST /api/v1/authz/check ${fmt(httpResults!.check.medianPerSecond)}/s (medians); check/bare ${fmt(httpResults!.checkVsBare * 100)}% (median of pairs; range ${fmt(httpResults!.checkVsBareRange[0] * 100)}-${fmt(httpResults!.checkVsBareRange[1] * 100)}%); check p50 ${fmt(httpResults!.check.p50ms)} ms, p99 ${fmt(httpResults!.check.p99ms)} ms`,
  `server CPU per request (user + system): ${(['bare', 'check'] as const).map((name) => `${name} ${fmt(httpResults!.serverCpuMicros[name].user)} + ${fmt(httpResults!.serverCpuMicros[name].system)} µs`).join(', ')}`,
].join('\n');
process.stdout.write(`${output}\n`);

const file = writeResults('policy-check', results);
say(`wrote ${file}`);
if (disagreements > 0 || engineResults.agreement.disagreements > 0) process.exitCode = 1;
