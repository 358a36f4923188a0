/*
 * Policy-check benchmark: `node --import tsx bench/policy-check.ts [--seed N] [--identities N] [--roles N] [--rules N] [--apps N]`.
 *
 * Generates a workforce-shaped RBAC policy (by default 10,000 identities, 1,000 roles in three
 * inheritance levels, 5,000 rules over keyMatch2 object patterns), then measures in one run:
 * Casbin's enforceSync on a small sample (the baseline, and a check that both agree), AccessIndex
 * build time, decisions/s on repeated subjects (roles cached), on never-seen subjects (cache
 * cleared before each pass), p50/p99 per decision, and decideMany. Prints a table and writes JSON
 * under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newEnforcer, newModelFromString } from 'casbin';
import { ACCESS_MODEL, AccessIndex, type AccessPolicy, type AccessRequest } from '../src/policy/access-index.js';
import { prng } from '../test/support/prng.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}
const SEED = arg('seed', 42);
const IDENTITIES = arg('identities', 10_000);
const ROLES = arg('roles', 1_000);
const RULES = arg('rules', 5_000);
const APPS = arg('apps', 100);
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

const results = {
  policy: { identities: IDENTITIES, roles: ROLES, rules: RULES, links: index.stats.links, seed: SEED, stats: index.stats },
  build: { firstMs: round(firstBuildMs), maxMs: round(buildTimes[buildTimes.length - 1]!), medianMs: round(buildTimes[2]!), minMs: round(buildTimes[0]!) },
  casbin: { loadMs: round(casbinLoadMs), sample: CASBIN_SAMPLE, perSecond: round(CASBIN_SAMPLE / casbinSeconds, 1), meanMs: round((casbinSeconds * 1000) / CASBIN_SAMPLE), allowedShare: round(casbinAllowed / CASBIN_SAMPLE), disagreements },
  repeated: { decisions: REPEATED_DECISIONS, perSecond: Math.round(repeated.perSecond), allowedShare: round(repeated.allowed), p50us: round(percentile(repeatedLatency, 0.5)), p99us: round(percentile(repeatedLatency, 0.99)), p999us: round(percentile(repeatedLatency, 0.999)), maxUs: round(repeatedLatency[repeatedLatency.length - 1]!) },
  neverSeen: { decisions: FRESH_ROUNDS * freshRequests.length, perSecond: Math.round(fresh.perSecond), allowedShare: round(fresh.allowed), p50us: round(percentile(freshLatency, 0.5)), p99us: round(percentile(freshLatency, 0.99)), p999us: round(percentile(freshLatency, 0.999)), maxUs: round(freshLatency[freshLatency.length - 1]!) },
  unknownSubjects: { perSecond: Math.round(unknown.perSecond) },
  decideMany: { batch: batch.length, perSecond: Math.round(batchPerSecond) },
  speedup: { repeated: Math.round(repeated.perSecond / (CASBIN_SAMPLE / casbinSeconds)), neverSeen: Math.round(fresh.perSecond / (CASBIN_SAMPLE / casbinSeconds)) },
};

const fmt = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: 2 });
const rows: Array<[string, string, string, string]> = [
  ['Casbin enforceSync (baseline)', fmt(results.casbin.perSecond), `${fmt(results.casbin.meanMs * 1000)} (mean)`, ''],
  ['AccessIndex, repeated subjects', fmt(results.repeated.perSecond), fmt(results.repeated.p50us), fmt(results.repeated.p99us)],
  ['AccessIndex, never-seen subjects', fmt(results.neverSeen.perSecond), fmt(results.neverSeen.p50us), fmt(results.neverSeen.p99us)],
  ['AccessIndex, subjects not in policy', fmt(results.unknownSubjects.perSecond), '', ''],
  ['AccessIndex.decideMany (1,000/batch)', fmt(results.decideMany.perSecond), '', ''],
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
].join('\n');
process.stdout.write(`${output}\n`);

mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
const file = join(ROOT, 'bench', 'results', `policy-check-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, results }, null, 2)}\n`);
say(`wrote ${file}`);
if (disagreements > 0) process.exitCode = 1;
