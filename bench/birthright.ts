/*
 * Birthright benchmark: `npm run bench:birthright [-- --count N --db sqlite,mariadb]`.
 *
 * For each database: N identities from the HR generator (departments, titles, locations,
 * contractors, a manager hierarchy, leavers) loaded straight through the driver, a few directory
 * groups, and the example catalogue of policies/catalog.json plus rules on groups and the manager
 * chain. Then, timed: reading every identity's attributes; recomputing every identity's birthright
 * grants from none (the target: 100,000 in under 30 s); recomputing again when nothing
 * changed; simulating one rule edit, then applying it through applyRuleChange (the prediction is
 * checked against what was applied). The baseline, in the same run: inserting the same grant rows
 * straight through the driver. Prints a table and writes JSON under bench/results/.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { insertRows } from '../src/db/batches.js';
import { Database } from '../src/db/database.js';
import { columnValues } from '../src/identity/columns.js';
import { BirthrightEvaluator, BirthrightService, type RecomputeReport } from '../src/policy/birthright.js';
import { Catalog } from '../src/policy/catalog.js';
import { PolicyChangeLog } from '../src/policy/changes.js';
import { loadIdentityAttributes } from '../src/policy/identity-attributes.js';
import type { BirthrightRuleInput, CatalogDocumentInput } from '../src/policy/model.js';
import { simulate } from '../src/policy/simulate.js';
import { SodService } from '../src/policy/sod.js';
import { USER_COLUMNS } from '../src/scim/sql-map.js';
import { rawInsertSeconds } from './lib/raw-insert.js';
import { arg, databaseKinds, hrFeedRows, ROOT, writeResults, dropDatabase } from './lib/setup.js';
import { ensureMariaDb, stopMariaDb } from '../test/support/mariadb.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const COUNT = Number(arg('count', '100000'));
const KINDS = databaseKinds();
const TARGET_SECONDS = 30;
const ctx = { actor: 'bench:birthright' };

const say = (text: string) => process.stderr.write(`${text}\n`);

type Doc = Record<string, unknown>;

/** SCIM users from the HR generator, 60 days into its churn (so some have left), managers by identity id. */
function hrUsers(count: number): Array<{ id: string; doc: Doc; department: string }> {
  const rows = hrFeedRows({ count, seed: 11, day: 60 });
  const byEmployee = new Map<string, string>();
  const seen = new Set<string>();
  const people = rows.filter((r) => {
    const email = r.work_email!.trim().toLowerCase();
    if (seen.has(email)) return false;
    seen.add(email);
    return true;
  }).map((r) => ({ id: randomUUID(), row: r }));
  for (const p of people) byEmployee.set(p.row.employee_id!, p.id);
  return people.map(({ id, row: r }) => {
    const manager = byEmployee.get(r.manager_id!);
    return {
      id,
      department: r.department!.trim(),
      doc: {
        schemas: [USER, ENT],
        userName: r.work_email!.trim().toLowerCase(),
        externalId: r.employee_id,
        title: r.title!.trim(),
        userType: r.employment_type!.trim(),
        active: r.status !== 'Terminated',
        addresses: [{ type: 'work', locality: r.location!.trim() }],
        [ENT]: { employeeNumber: r.employee_id, department: r.department!.trim(), costCenter: r.cost_center!.trim(), ...(manager && { manager: { value: manager } }) },
      },
    };
  });
}

/** The example catalogue, plus rules that read groups and the manager chain. */
function benchDocument(): CatalogDocumentInput {
  const doc = JSON.parse(readFileSync(join(ROOT, 'policies', 'catalog.json'), 'utf8')) as CatalogDocumentInput;
  const extra: BirthrightRuleInput[] = [
    { name: 'vpn-group', expression: "hasItem(r.sub.groups, 'VPN Users')", item: 'ent:ldap/vpn-users' },
    { name: 'finance-org', expression: "hasItem(r.sub.managerChain, 'E100006') && r.sub.employmentType == 'Employee'", item: 'ent:slack/finance' },
    { name: 'oncall-engineers', expression: "r.sub.department == 'Engineering' && (contains(r.sub.title, 'Reliability') || hasItem(r.sub.groups, 'On-call'))", item: 'ent:slack/oncall' },
    { name: 'remote-contractors-no-prod', expression: "r.sub.employmentType == 'Contractor' && inList(r.sub.location, 'Remote', 'Bangalore')", effect: 'deny', item: 'ent:ldap/prod-access' },
  ];
  return { ...doc, birthrightRules: [...(doc.birthrightRules ?? []), ...extra] };
}

const IDENTITY_COLUMNS = ['id', ...USER_COLUMNS.map((c) => c.column), 'display_label', 'version', 'created', 'last_modified', 'doc'];

/** Loads identities and groups straight through the database layer in large statements (setup, not measured). */
async function loadPeople(db: Database, users: Array<{ id: string; doc: Doc; department: string }>): Promise<void> {
  const now = new Date().toISOString();
  await db.transaction(async (tx) => {
    const rows = users.map((u) => [u.id, ...columnValues(u.doc, USER_COLUMNS), null, 1, now, now, JSON.stringify(u.doc)]);
    await insertRows(tx, 'identities', IDENTITY_COLUMNS, rows, 500);
    const groups: Array<[string, (u: { department: string }, i: number) => boolean]> = [
      ['VPN Users', (_u, i) => i % 5 === 0],
      ['On-call', (u, i) => u.department === 'Engineering' && i % 3 === 0],
      ['All Hands', () => true],
    ];
    for (const [name, member] of groups) {
      const groupId = randomUUID();
      await tx.execute('INSERT INTO directory_groups (id, display_name, display_label, version, created, last_modified, doc) VALUES (?, ?, ?, 1, ?, ?, ?)',
        [groupId, name.toLowerCase(), name, now, now, JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: name })]);
      const members = users.filter(member).map((u) => [groupId, u.id, 'user', now]);
      await insertRows(tx, 'group_members', ['group_id', 'member_id', 'member_type', 'added'], members, 2000);
    }
  });
}

interface GrantRow { identity_id: string; item: string; source_ref: string }

/**
 * Baseline: the same grant rows inserted straight through the driver in one transaction, in the
 * order recompute writes them (by identity, ids ascending), in statements of the same size.
 */
async function rawGrantInsertSeconds(kind: 'sqlite' | 'mariadb', url: string, rows: GrantRow[]): Promise<number> {
  const now = new Date().toISOString();
  const ids = rows.map(() => randomUUID()).sort();
  const values = rows.map((r, i) => [ids[i], r.identity_id, r.item, 'birthright', r.source_ref, 'system:birthright', now]);
  return rawInsertSeconds(kind, url, 'grants', ['id', 'identity_id', 'item', 'source', 'source_ref', 'granted_by', 'created'], values, { deleteAfter: true });
}

interface Result {
  database: string;
  identities: number;
  activeIdentities: number;
  rules: number;
  loadAttributesSeconds: number;
  evaluateSeconds: number;
  casbinEvaluations: number;
  fullRecomputeSeconds: number;
  grantRows: number;
  auditEvents: number;
  rawInsertSeconds: number;
  fullVsRaw: number;
  unchangedRecomputeSeconds: number;
  simulateSeconds: number;
  simulatedIdentities: number;
  ruleChange: { rule: string; seconds: number; evaluated: number; recomputed: number; changed: number; added: number; removed: number };
  underTarget: boolean;
}

const seconds = (from: number) => Math.round((performance.now() - from) / 10) / 100;

async function measure(kind: 'sqlite' | 'mariadb', url: string, users: Array<{ id: string; doc: Doc; department: string }>): Promise<Result> {
  await Database.ensureExists(url);
  const db = await Database.connect(url);
  try {
    await db.migrate();
    say(`[${kind}] loading ${users.length} identities and 3 groups (setup, not timed)`);
    await loadPeople(db, users);
    const document = benchDocument();

    say(`[${kind}] reading every identity's attributes`);
    let t = performance.now();
    const people = await loadIdentityAttributes(db);
    const loadAttributesSeconds = seconds(t);

    say(`[${kind}] evaluating every rule for every identity in memory`);
    const evaluator = await BirthrightEvaluator.build(Catalog.fromDocument(document).birthrightRules.values());
    t = performance.now();
    for (const attrs of people.values()) evaluator.evaluate(attrs);
    const evaluateSeconds = seconds(t);

    say(`[${kind}] full recompute from no grants`);
    const service = new BirthrightService(db, new PolicyChangeLog());
    const catalog = Catalog.fromDocument(document);
    t = performance.now();
    const full: RecomputeReport = await db.transaction((tx) => service.recompute(tx, catalog, 'all', ctx));
    const fullRecomputeSeconds = seconds(t);
    const casbinEvaluations = (await service.evaluator(catalog)).stats.casbin;
    const rows = await db.query<GrantRow>('SELECT identity_id, item, source_ref FROM grants ORDER BY identity_id, item, source_ref');
    const auditEvents = Number((await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'grant.birthright'"))[0]!.n);
    if (rows.length !== full.added) throw new Error(`recompute reported ${full.added} grants added, the table holds ${rows.length}`);

    say(`[${kind}] recompute again, nothing changed`);
    t = performance.now();
    const again = await db.transaction((tx) => service.recompute(tx, catalog, 'all', ctx));
    const unchangedRecomputeSeconds = seconds(t);
    if (again.identitiesChanged !== 0) throw new Error(`a second recompute changed ${again.identitiesChanged} identities`);

    say(`[${kind}] one rule edited: site-reliability widened to every Engineering title with "Engineer"`);
    const edited = { ...document, birthrightRules: document.birthrightRules!.map((r) => (r.name === 'site-reliability' ? { ...r, expression: "r.sub.department == 'Engineering' && contains(r.sub.title, 'Engineer')" } : r)) };
    const after = Catalog.fromDocument(edited);
    t = performance.now();
    const predicted = await simulate(db, catalog, { changes: [{ op: 'put', kind: 'birthrightRule', value: edited.birthrightRules!.find((r) => r.name === 'site-reliability') }] }, new SodService(db));
    const simulateSeconds = seconds(t);
    t = performance.now();
    const change = await db.transaction((tx) => service.applyRuleChange(tx, catalog, after, ctx));
    const ruleChangeSeconds = seconds(t);
    if (predicted.totals.grantsAdded !== change.added || predicted.totals.grantsRemoved !== change.removed + change.revokedByDeny) {
      throw new Error(`simulate predicted +${predicted.totals.grantsAdded} -${predicted.totals.grantsRemoved}, applying did +${change.added} -${change.removed + change.revokedByDeny}`);
    }

    say(`[${kind}] baseline: ${rows.length} grant rows through the driver`);
    await db.execute('DELETE FROM grants');
    await db.close();
    const rawInsertSeconds = Math.round((await rawGrantInsertSeconds(kind, url, rows)) * 100) / 100;

    return {
      database: kind,
      identities: people.size,
      activeIdentities: [...people.values()].filter((p) => p.active).length,
      rules: document.birthrightRules!.length,
      loadAttributesSeconds,
      evaluateSeconds,
      casbinEvaluations,
      fullRecomputeSeconds,
      grantRows: rows.length,
      auditEvents,
      rawInsertSeconds,
      fullVsRaw: Math.round((fullRecomputeSeconds / rawInsertSeconds) * 10) / 10,
      unchangedRecomputeSeconds,
      simulateSeconds,
      simulatedIdentities: predicted.identities.length,
      ruleChange: {
        rule: 'site-reliability', seconds: ruleChangeSeconds, evaluated: change.evaluated ?? 0, recomputed: change.identities,
        changed: change.identitiesChanged, added: change.added, removed: change.removed,
      },
      underTarget: fullRecomputeSeconds < TARGET_SECONDS,
    };
  } finally {
    await db.close();
  }
}

async function dropBenchDatabase(kind: 'sqlite' | 'mariadb', url: string, dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await dropDatabase(kind, url);
}

function table(results: Result[]): string {
  const rows: Array<[string, (r: Result) => string]> = [
    ['identities (active)', (r) => `${r.identities} (${r.activeIdentities})`],
    ['birthright rules', (r) => String(r.rules)],
    ['read all attributes, s', (r) => String(r.loadAttributesSeconds)],
    ['evaluate all rules for all, in memory, s', (r) => String(r.evaluateSeconds)],
    ['  Casbin evaluations (rest remembered)', (r) => String(r.casbinEvaluations)],
    [`full recompute from no grants, s (target < ${TARGET_SECONDS})`, (r) => String(r.fullRecomputeSeconds)],
    ['  grant rows written / audit events', (r) => `${r.grantRows} / ${r.auditEvents}`],
    ['raw driver insert of the same rows, s (baseline)', (r) => String(r.rawInsertSeconds)],
    ['full recompute / raw insert', (r) => `${r.fullVsRaw}x`],
    ['recompute with nothing to change, s', (r) => String(r.unchangedRecomputeSeconds)],
    ['simulate that rule edit, s (identities listed)', (r) => `${r.simulateSeconds} (${r.simulatedIdentities})`],
    ['one rule edited (applyRuleChange), s', (r) => String(r.ruleChange.seconds)],
    ['  identities evaluated / recomputed / changed', (r) => `${r.ruleChange.evaluated} / ${r.ruleChange.recomputed} / ${r.ruleChange.changed}`],
    ['  grants added / removed', (r) => `${r.ruleChange.added} / ${r.ruleChange.removed}`],
  ];
  const header = ['metric', ...results.map((r) => r.database)];
  const body = rows.map(([name, f]) => [name, ...results.map(f)]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

say(`generating ${COUNT} HR records`);
const users = hrUsers(COUNT);
const results: Result[] = [];
try {
  for (const kind of KINDS) {
    const dir = mkdtempSync(join(tmpdir(), 'iam-bench-birthright-'));
    const url = kind === 'sqlite' ? `sqlite:${join(dir, 'bench.sqlite')}` : `${await ensureMariaDb()}/iam_bench_birthright_${Date.now().toString(36)}`;
    try {
      results.push(await measure(kind, url, users));
    } finally {
      await dropBenchDatabase(kind, url, dir);
    }
  }
} finally {
  await stopMariaDb();
}
const output = table(results);
process.stdout.write(`${output}\n`);
const file = writeResults('birthright', results);
process.stdout.write(`wrote ${file}\n`);
