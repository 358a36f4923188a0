/*
 * Connectors benchmark: `npm run bench:connectors [-- --people N --entries N --concurrency C]`.
 *
 * Against a private slapd (test/support/slapd.ts) and an SQLite database in a temp dir:
 *
 * 1. Provisioning: N people (10,000 by default), each with two group memberships, created
 *    through the outbox (create operations claimed, run by the LDAP connector, recorded), beside
 *    the baseline in the same run: a raw ldapts loop over one connection making the same adds
 *    and group modifications, one after another. Both are reported as people/s and LDAP
 *    operations/s (an add and two group modifications per person); the ratio is the outbox's
 *    share of the raw rate.
 * 2. Reconciliation: a directory of M entries (100,000 by default), loaded with slapadd, with
 *    the planned accounts in the database; 1% of the entries drift (another mail, a membership
 *    gone), 0.5% are missing and 0.5% are orphans. The run happens in a process of its own, so its
 *    peak RSS is its own, and its counts are checked against the drift that was made. Baseline:
 *    raw paged ldapts searches reading the same groups and entries.
 *
 * Targets from the issue: outbox-driven provisioning >= 70% of the raw rate; reconciliation of
 * 100k entries < 60 s and < 500 MB. Prints a table and writes JSON under bench/results/.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attribute, Change, Client } from 'ldapts';
import { createLdapConnector } from '../connectors/ldap/index.js';
import { childDn, normalizeDn } from '../connectors/ldap/dn.js';
import { insertRows } from '../src/db/batches.js';
import { Database } from '../src/db/database.js';
import { timeOrderedId } from '../src/db/ids.js';
import { IdentityService } from '../src/identity/identity-service.js';
import type { AccountAttributes, Connector } from '../src/provisioning/connector.js';
import { attributesJson, operationPayload } from '../src/provisioning/operations.js';
import { Reconciler } from '../src/provisioning/reconciliation/reconciler.js';
import type { ReconcileSummary } from '../src/provisioning/reconciliation/findings.js';
import { ConnectorRegistry } from '../src/provisioning/registry.js';
import { OutboxWorker } from '../src/provisioning/worker.js';
import { startSlapd, type SlapdServer } from '../test/support/slapd.js';
import { runScriptInChild } from './lib/process.js';
import { peakRssMb } from './lib/rss.js';
import { arg, writeResults } from './lib/setup.js';

const SELF = fileURLToPath(import.meta.url);
const TARGETS = { provisioningShare: 0.7, reconcileSeconds: 60, reconcilePeakRssMb: 500 };
const GROUPS = 20;
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

const say = (text: string) => process.stderr.write(`${text}\n`);
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Person i: the attributes the planner would send, and the two groups they belong to. */
function person(i: number): { attributes: AccountAttributes; groups: [string, string] } {
  const userName = `person${String(i).padStart(6, '0')}`;
  const a = i % GROUPS;
  const b = (i * 7 + 3) % GROUPS === a ? (a + 1) % GROUPS : (i * 7 + 3) % GROUPS;
  const groups = [`group${String(a).padStart(2, '0')}`, `group${String(b).padStart(2, '0')}`].sort() as [string, string];
  return {
    attributes: { userName, givenName: `Given${i}`, familyName: `Family${i}`, displayName: `Given${i} Family${i}`, email: `${userName}@example.com`, extra: {} },
    groups,
  };
}

/** The LDAP target's settings for a slapd. */
const ldapSettings = (slapd: SlapdServer) => ({
  url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.bindPassword, peopleDn: slapd.peopleDn, groupsDn: slapd.groupsDn,
  emptyGroupMember: slapd.emptyGroupMember,
});

async function bound(slapd: SlapdServer): Promise<Client> {
  const client = new Client({ url: slapd.url, timeout: 30_000 });
  await client.bind(slapd.bindDn, slapd.bindPassword);
  return client;
}

/** Baseline 1: the same adds and group modifications through one ldapts connection, in a plain loop. */
async function rawProvisioning(slapd: SlapdServer, people: number): Promise<number> {
  const client = await bound(slapd);
  const peopleDn = `ou=raw-people,${slapd.baseDn}`;
  const groupsDn = `ou=raw-groups,${slapd.baseDn}`;
  await client.add(peopleDn, { objectClass: ['organizationalUnit'], ou: 'raw-people' });
  await client.add(groupsDn, { objectClass: ['organizationalUnit'], ou: 'raw-groups' });
  for (let g = 0; g < GROUPS; g++) {
    await client.add(`cn=group${String(g).padStart(2, '0')},${groupsDn}`, { objectClass: ['groupOfNames'], cn: `group${String(g).padStart(2, '0')}`, member: [slapd.emptyGroupMember] });
  }
  const started = performance.now();
  for (let i = 0; i < people; i++) {
    const { attributes: a, groups } = person(i);
    const dn = `uid=${a.userName},${peopleDn}`;
    await client.add(dn, { objectClass: ['inetOrgPerson'], uid: a.userName, cn: a.displayName!, sn: a.familyName!, givenName: a.givenName!, mail: a.email! });
    for (const group of groups) {
      await client.modify(`cn=${group},${groupsDn}`, [new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [dn] }) })]);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await client.unbind();
  return seconds;
}

/** Provisioning through the outbox: creates enqueued (not timed), then the worker drains them through the LDAP connector. */
async function outboxProvisioning(slapd: SlapdServer, db: Database, people: number, concurrency: number): Promise<{ seconds: number; done: number }> {
  const now = new Date().toISOString();
  const rows = Array.from({ length: people }, (_, i) => ({ ...person(i), id: timeOrderedId(), identityId: timeOrderedId() }));
  await db.transaction(async (tx) => {
    await insertRows(tx, 'accounts',
      ['id', 'identity_id', 'target', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'created', 'last_modified'],
      rows.map((r) => [r.id, r.identityId, 'ldap', 'enabled', JSON.stringify(r.groups), attributesJson(r.attributes), 'absent', now, now]));
    await insertRows(tx, 'outbox',
      ['account_id', 'identity_id', 'target', 'op', 'payload', 'idempotency_key', 'status', 'attempts', 'not_before', 'cause', 'created', 'last_modified'],
      rows.map((r) => [r.id, r.identityId, 'ldap', 'create', operationPayload({ op: 'create', attributes: r.attributes, enabled: true, memberships: r.groups }), timeOrderedId(), 'pending', 0, now, 'bench', now, now]));
  });
  const connector = createLdapConnector('ldap', { ...ldapSettings(slapd), poolSize: concurrency });
  const worker = new OutboxWorker(db, new ConnectorRegistry([{ connector, concurrency, ratePerSecond: 0 }]), {
    pollIntervalMs: 10, batchSize: 50, leaseMs: 60_000, maxAttempts: 8, backoffBaseMs: 1000, backoffMaxMs: 60_000,
  });
  const started = performance.now();
  const stats = await worker.drain();
  const seconds = (performance.now() - started) / 1000;
  await connector.close?.();
  return { seconds, done: stats.done };
}

/** Entries under a DN, counted with a paged search. */
async function countEntries(slapd: SlapdServer, base: string, filter: string): Promise<number> {
  const client = await bound(slapd);
  let n = 0;
  for await (const page of client.searchPaginated(base, { scope: 'one', filter, attributes: ['1.1'], paged: { pageSize: 1000 } })) n += page.searchEntries.length;
  await client.unbind();
  return n;
}

/** What the reconciliation data set holds, and what a run over it must find. */
interface DriftPlan {
  entries: number;
  drift: number;
  missing: number;
  orphans: number;
}

/**
 * Builds the reconciliation data: M people as identities and planned accounts in the database,
 * and their entries (plus groups with their members) in an LDIF loaded with slapadd. Every
 * 100th entry drifts (another mail), every 200th planned account has no entry (missing), and
 * every 200th entry has no planned account (an orphan of a person with no grant).
 */
async function reconciliationData(slapd: SlapdServer, db: Database, count: number, dir: string): Promise<DriftPlan> {
  const plan: DriftPlan = { entries: 0, drift: 0, missing: 0, orphans: 0 };
  const identities = new IdentityService(db);
  const members = new Map<string, string[]>();
  const ldif: string[] = [];
  const now = new Date().toISOString();
  for (let start = 0; start < count; start += 1000) {
    const batch = Array.from({ length: Math.min(1000, count - start) }, (_, k) => ({ i: start + k, ...person(start + k), id: timeOrderedId() }));
    const accounts: unknown[][] = [];
    await db.transaction(async (tx) => {
      await identities.insertMany(tx, batch.map((b) => ({
        id: b.id,
        doc: { schemas: [USER], userName: b.attributes.userName, name: { givenName: b.attributes.givenName, familyName: b.attributes.familyName }, displayName: b.attributes.displayName, emails: [{ value: b.attributes.email, primary: true }] },
      })), { actor: 'bench:connectors' });
      for (const b of batch) {
        const dn = normalizeDn(childDn('uid', b.attributes.userName, slapd.peopleDn));
        const orphan = b.i % 200 === 101;
        const missing = b.i % 200 === 51;
        if (!orphan) accounts.push([timeOrderedId(), b.id, 'ldap', dn, 'enabled', JSON.stringify(b.groups), attributesJson(b.attributes), 'enabled', JSON.stringify(b.groups), now, now, now]);
        if (missing) { plan.missing++; continue; }
        const drifted = b.i % 100 === 7;
        if (drifted) plan.drift++;
        if (orphan) plan.orphans++;
        plan.entries++;
        const a = b.attributes;
        ldif.push([
          `dn: ${dn}`, 'objectClass: inetOrgPerson', `uid: ${a.userName}`, `cn: ${a.displayName}`, `sn: ${a.familyName}`, `givenName: ${a.givenName}`,
          `mail: ${drifted ? `someone.else.${b.i}@example.com` : a.email}`,
          '',
        ].join('\n'));
        for (const g of b.groups) {
          const list = members.get(g) ?? [];
          list.push(dn);
          members.set(g, list);
        }
      }
      await insertRows(tx, 'accounts',
        ['id', 'identity_id', 'target', 'account_key', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'observed_memberships', 'observed_at', 'created', 'last_modified'],
        accounts);
    });
  }
  for (const [g, list] of members) ldif.push([`dn: cn=${g},${slapd.groupsDn}`, 'objectClass: groupOfNames', `cn: ${g}`, ...list.map((m) => `member: ${m}`), ''].join('\n'));
  const file = join(dir, 'people.ldif');
  writeFileSync(file, `${ldif.join('\n')}\n`);
  // slapadd writes the database directly: quick, and offline, so slapd stops for it.
  await slapd.stop();
  execFileSync('/usr/sbin/slapadd', ['-q', '-f', join(slapd.dataDir, 'slapd.conf'), '-l', file], { stdio: 'inherit' });
  await slapd.restart();
  return plan;
}

/** Baseline 2: the same groups and entries read with raw paged searches, the attributes the connector asks for. */
async function rawRead(slapd: SlapdServer): Promise<{ seconds: number; entries: number }> {
  const client = await bound(slapd);
  const started = performance.now();
  let entries = 0;
  for await (const page of client.searchPaginated(slapd.groupsDn, { scope: 'one', filter: '(objectClass=groupOfNames)', attributes: ['member'], paged: { pageSize: 500 } })) {
    void page; // read in full, as the connector reads them to learn who is in which group
  }
  for await (const page of client.searchPaginated(slapd.peopleDn, { scope: 'sub', filter: '(objectClass=inetOrgPerson)', attributes: ['uid', 'cn', 'sn', 'givenName', 'mail', 'employeeNumber'], paged: { pageSize: 500 } })) {
    entries += page.searchEntries.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await client.unbind();
  return { seconds, entries };
}

interface ReconcileRun {
  seconds: number;
  peakRssMb: number;
  startRssMb: number;
  summary: ReconcileSummary;
}

/** The child: one reconciliation run over the LDAP target, printed as JSON. */
async function child(url: string, settings: string): Promise<void> {
  const db = await Database.connect(url);
  const connector: Connector = createLdapConnector('ldap', JSON.parse(settings) as Record<string, unknown>);
  try {
    const startRssMb = Math.round(process.memoryUsage().rss / 2 ** 20);
    const started = performance.now();
    const run = await new Reconciler(db, new ConnectorRegistry([{ connector, concurrency: 1, ratePerSecond: 0 }])).run('ldap', { fix: false, actor: 'bench:connectors' });
    if (run.status !== 'done') throw new Error(`reconciliation failed: ${run.error}`);
    const result: ReconcileRun = { seconds: round((performance.now() - started) / 1000), peakRssMb: peakRssMb(process.pid), startRssMb, summary: run.summary! };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await connector.close?.();
    await db.close();
  }
}

function reconcileInChild(url: string, slapd: SlapdServer): Promise<ReconcileRun> {
  return runScriptInChild<ReconcileRun>(SELF, ['--child', 'reconcile', '--url', url, '--settings', JSON.stringify(ldapSettings(slapd))]);
}

async function migrated(dir: string, name: string): Promise<{ db: Database; url: string }> {
  const url = `sqlite:${join(dir, `${name}.sqlite`)}`;
  await Database.ensureExists(url);
  const db = await Database.connect(url);
  await db.migrate();
  return { db, url };
}

async function main(): Promise<void> {
  const people = Number(arg('people', '10000'));
  const entries = Number(arg('entries', '100000'));
  const concurrency = Number(arg('concurrency', '8'));
  const dir = mkdtempSync(join(tmpdir(), 'iam-bench-connectors-'));
  const slapd = await startSlapd();
  try {
    say(`provisioning ${people} people with two memberships each: raw ldapts loop, then through the outbox…`);
    const rawSeconds = await rawProvisioning(slapd, people);
    const { db: outboxDb } = await migrated(dir, 'outbox');
    const outbox = await outboxProvisioning(slapd, outboxDb, people, concurrency);
    await outboxDb.close();
    const made = await countEntries(slapd, slapd.peopleDn, '(objectClass=inetOrgPerson)');
    if (outbox.done !== people || made !== people) throw new Error(`the outbox ran ${outbox.done} creates and the directory holds ${made} people, not ${people}`);
    const rawPerSecond = people / rawSeconds;
    const outboxPerSecond = people / outbox.seconds;
    await slapd.close();

    say(`reconciliation: loading ${entries} entries…`);
    const second = await startSlapd();
    try {
      const { db, url } = await migrated(dir, 'reconcile');
      const plan = await reconciliationData(second, db, entries, dir);
      await db.close();
      const raw = await rawRead(second);
      say('reconciling…');
      const run = await reconcileInChild(url, second);
      const s = run.summary;
      const countsAsMade = s.accountsRead === plan.entries && s.drift === plan.drift && s.missing === plan.missing && s.orphans === plan.orphans;
      const result = {
        provisioning: {
          people, concurrency,
          raw: { seconds: round(rawSeconds), peoplePerSecond: Math.round(rawPerSecond), ldapOpsPerSecond: Math.round(rawPerSecond * 3) },
          outbox: { seconds: round(outbox.seconds), peoplePerSecond: Math.round(outboxPerSecond), ldapOpsPerSecond: Math.round(outboxPerSecond * 3) },
          share: round(outboxPerSecond / rawPerSecond, 3),
        },
        reconciliation: { ...plan, seconds: run.seconds, peakRssMb: run.peakRssMb, startRssMb: run.startRssMb, summary: s, countsAsMade, rawReadSeconds: round(raw.seconds), rawReadEntries: raw.entries },
        met: {
          provisioning: outboxPerSecond / rawPerSecond >= TARGETS.provisioningShare,
          reconcileTime: run.seconds < TARGETS.reconcileSeconds,
          reconcileRss: run.peakRssMb < TARGETS.reconcilePeakRssMb,
        },
      };
      const rows: Array<[string, string]> = [
        ['people provisioned (two memberships each)', String(people)],
        ['raw ldapts loop, one connection (baseline)', `${result.provisioning.raw.peoplePerSecond} people/s (${result.provisioning.raw.ldapOpsPerSecond} LDAP ops/s), ${result.provisioning.raw.seconds} s`],
        [`through the outbox, concurrency ${concurrency}`, `${result.provisioning.outbox.peoplePerSecond} people/s (${result.provisioning.outbox.ldapOpsPerSecond} LDAP ops/s), ${result.provisioning.outbox.seconds} s`],
        [`outbox / raw (target >= ${TARGETS.provisioningShare * 100}%)`, `${Math.round(result.provisioning.share * 100)}%`],
        ['entries reconciled', `${plan.entries} (drift ${plan.drift}, missing ${plan.missing}, orphans ${plan.orphans})`],
        [`reconciliation, s (target < ${TARGETS.reconcileSeconds})`, String(run.seconds)],
        [`  peak RSS, MB (target < ${TARGETS.reconcilePeakRssMb}; at start)`, `${run.peakRssMb} (${run.startRssMb})`],
        ['  findings as made', countsAsMade ? 'yes' : `NO: ${JSON.stringify(s)}`],
        ['raw paged search of the same entries, s (baseline)', String(result.reconciliation.rawReadSeconds)],
        ['all targets met', Object.values(result.met).every(Boolean) ? 'yes' : `no: ${Object.entries(result.met).filter(([, ok]) => !ok).map(([k]) => k).join(', ')}`],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      process.stdout.write(`${rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`).join('\n')}\n`);
      say(`results: ${writeResults('connectors', result)}`);
      if (!countsAsMade) process.exitCode = 1;
    } finally {
      await second.close();
    }
  } finally {
    await slapd.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (arg('child', '') === 'reconcile') await child(arg('url', ''), arg('settings', '{}'));
else await main();
