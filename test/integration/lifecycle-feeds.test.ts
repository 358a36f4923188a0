import { expect } from 'chai';
import { configWith, type Config } from '../../src/config/index.js';
import type { Database } from '../../src/db/database.js';
import { FeedError, type FeedReport } from '../../src/lifecycle/feed-service.js';
import { createLifecycleServices } from '../../src/lifecycle/services.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { PolicyChangeLog } from '../../src/policy/changes.js';
import type { CatalogDocumentInput } from '../../src/policy/model.js';
import { PolicyStore } from '../../src/policy/store.js';
import { onEachDatabase } from '../support/databases.js';
import {
  applyEffectiveDates, dayDate, editFeed, EXPECTED_CLASSES, expectFeed, generateFeed, readFeed,
  type ExpectedClass, type ExpectedStore, type FeedPerson, type StoredExpectation,
} from '../support/hr-expectations.js';
import { MemoryTargets } from '../support/outbox-drain.js';

/*
 * The HR lifecycle end to end: feeds from the generator imported through FeedService on both
 * databases, with the expected classes worked out independently (test/support/hr-expectations.ts)
 * and the stored state checked person by person: lifecycle status, the active flag, the manager,
 * the birthright grants a small catalogue gives, the accounts planned, and the outbox operations
 * each feed enqueued, predicted from the accounts as they stood before it.
 */

const DAY0 = '2026-01-05';
const ACTOR = 'test:hr';
const RETENTION_DAYS = 30;

/**
 * A catalogue whose birthright grants follow directly from the feed's columns, so the expected
 * grants of every person can be written down: everyone active gets accounts on ldap and slack;
 * employees join ldap/staff; Engineering gets GitHub; Remote gets the VPN; site reliability
 * engineers get @oncall; Finance gets @finance, except contractors (a deny rule).
 */
const CATALOG: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }, { name: 'slack', type: 'slack' }],
  entitlements: [
    { target: 'ldap', key: 'account', kind: 'account' },
    { target: 'ldap', key: 'staff', kind: 'group' },
    { target: 'ldap', key: 'vpn-users', kind: 'group' },
    { target: 'github', key: 'account', kind: 'account' },
    { target: 'github', key: 'engineering', kind: 'team' },
    { target: 'slack', key: 'account', kind: 'account' },
    { target: 'slack', key: 'finance', kind: 'usergroup' },
    { target: 'slack', key: 'oncall', kind: 'usergroup' },
  ],
  roles: [
    { name: 'workforce', entitlements: ['ldap/account', 'slack/account'] },
    { name: 'engineer', inherits: ['workforce'], entitlements: ['github/account', 'github/engineering'] },
    { name: 'finance', entitlements: ['slack/finance'] },
  ],
  birthrightRules: [
    { name: 'everyone', expression: 'r.sub.active == true', item: 'role:workforce' },
    { name: 'employees', expression: "r.sub.employmentType == 'Employee'", item: 'ent:ldap/staff' },
    { name: 'engineering', expression: "r.sub.department == 'Engineering'", item: 'role:engineer' },
    { name: 'remote', expression: "r.sub.location == 'Remote'", item: 'ent:ldap/vpn-users' },
    { name: 'reliability', expression: "r.sub.title == 'Site Reliability Engineer'", item: 'ent:slack/oncall' },
    { name: 'finance', expression: "r.sub.department == 'Finance'", item: 'role:finance' },
    { name: 'no-finance-for-contractors', expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'role:finance' },
  ],
};

/** The birthright items an active person holds under CATALOG. */
function birthrightItems(p: FeedPerson): string[] {
  const items = ['role:workforce'];
  if (p.employmentType === 'Employee') items.push('ent:ldap/staff');
  if (p.department === 'Engineering') items.push('role:engineer');
  if (p.location === 'Remote') items.push('ent:ldap/vpn-users');
  if (p.title === 'Site Reliability Engineer') items.push('ent:slack/oncall');
  if (p.department === 'Finance' && p.employmentType !== 'Contractor') items.push('role:finance');
  return items.sort();
}

/** Target → memberships (entitlement keys other than the account) an active person's accounts should have. */
function desiredAccounts(p: FeedPerson): Map<string, Set<string>> {
  const accounts = new Map<string, Set<string>>([['ldap', new Set()], ['slack', new Set()]]);
  if (p.employmentType === 'Employee') accounts.get('ldap')!.add('staff');
  if (p.location === 'Remote') accounts.get('ldap')!.add('vpn-users');
  if (p.department === 'Engineering') accounts.set('github', new Set(['engineering']));
  if (p.title === 'Site Reliability Engineer') accounts.get('slack')!.add('oncall');
  if (p.department === 'Finance' && p.employmentType !== 'Contractor') accounts.get('slack')!.add('finance');
  return accounts;
}

type OpCounts = Record<string, number>;

/** An account as the targets hold it once every due operation has run. */
interface AccountState { enabled: boolean; memberships: Set<string>; deletePending: boolean; attributes: string }

/**
 * What a target is told about a person, in comparison form: a change here is an `update` of
 * their accounts. Case is left out as the feed comparison leaves it out.
 */
function accountAttributes(p: FeedPerson): string {
  return JSON.stringify([p.email, p.givenName?.toLowerCase(), p.familyName?.toLowerCase(), p.preferredName?.toLowerCase() ?? null, p.githubLogin]);
}

/**
 * The accounts of every person after the outbox is drained, and the operations a plan must
 * enqueue to move them to what the stored people should have: the provisioning rules of the
 * issue (create with its memberships; disable and remove memberships at once for someone losing
 * access, deletion after the retention period when the person is gone; a pending deletion
 * cancelled and the account enabled when they come back). Deletions never fall due within the
 * few days a test covers.
 */
class AccountModel {
  private readonly accounts = new Map<string, Map<string, AccountState>>();

  /** Moves the model to `store` and returns the operations that takes, counted by name. */
  advance(store: ExpectedStore): OpCounts {
    const ops: OpCounts = {};
    const add = (op: string, n = 1) => { if (n > 0) ops[op] = (ops[op] ?? 0) + n; };
    for (const [employeeId, s] of store) {
      const want = s.status === 'active' ? desiredAccounts(s.person) : new Map<string, Set<string>>();
      const have = this.accounts.get(employeeId) ?? new Map<string, AccountState>();
      const attributes = accountAttributes(s.person);
      for (const target of new Set([...want.keys(), ...have.keys()])) {
        const w = want.get(target);
        const h = have.get(target);
        if (w && !h) {
          add('create');
          have.set(target, { enabled: true, memberships: new Set(w), deletePending: false, attributes });
        } else if (w && h) {
          if (!h.enabled) add('enable');
          if (h.attributes !== attributes) add('update');
          add('add-membership', [...w].filter((m) => !h.memberships.has(m)).length);
          add('remove-membership', [...h.memberships].filter((m) => !w.has(m)).length);
          have.set(target, { enabled: true, memberships: new Set(w), deletePending: false, attributes });
        } else if (h) {
          if (h.enabled) {
            add('disable');
            add('remove-membership', h.memberships.size);
          }
          const gone = s.status !== 'active';
          if (gone && !h.deletePending) add('delete');
          have.set(target, { ...h, enabled: false, memberships: new Set(), deletePending: h.deletePending || gone });
        }
      }
      if (have.size > 0) this.accounts.set(employeeId, have);
    }
    return ops;
  }

  /** What the targets should hold for each person, in the form MemoryTargets.holdings() gives. */
  holdings(): Map<string, Map<string, string[]>> {
    return new Map([...this.accounts].map(([employeeId, byTarget]) => [employeeId, new Map([...byTarget].map(([target, a]) => [
      target, a.enabled ? [...a.memberships].sort() : ['(disabled)'],
    ]))]));
  }
}

const TARGETS = ['ldap', 'github', 'slack'];

/** Every difference between what the memory targets hold and what the model says they should, as readable lines. */
async function targetDifferences(db: Database, targets: MemoryTargets, model: AccountModel): Promise<string[]> {
  const employeeOf = new Map((await db.query<{ identity_id: string; employee_id: string }>('SELECT identity_id, employee_id FROM identity_lifecycle'))
    .map((r) => [r.identity_id, r.employee_id]));
  const actual = new Map([...targets.holdings()].map(([identityId, held]) => [employeeOf.get(identityId) ?? `identity ${identityId}`, held]));
  const expected = model.holdings();
  const problems: string[] = [];
  for (const employeeId of new Set([...actual.keys(), ...expected.keys()])) {
    for (const target of TARGETS) {
      const a = JSON.stringify(actual.get(employeeId)?.get(target) ?? null);
      const e = JSON.stringify(expected.get(employeeId)?.get(target) ?? null);
      if (a !== e) problems.push(`${employeeId} on ${target}: ${a}, expected ${e}`);
    }
  }
  return problems;
}

/** The services a server builds (the same wiring), with a clock the test moves. */
function wiring(db: Database, config: Config, clock: () => Date) {
  const changes = new PolicyChangeLog();
  const birthright = new BirthrightService(db, changes);
  const { feeds, effectiveDates } = createLifecycleServices(db, config, changes, birthright, clock);
  return { policy: new PolicyStore(db, changes, birthright), feeds, dates: effectiveDates };
}

/** wiring() over a database given the test catalogue, with memory targets that run the outbox. */
async function lifecycle(db: Database, config: Config, clock: () => Date) {
  const services = wiring(db, config, clock);
  await services.policy.replaceAll(CATALOG, { actor: 'test:seed' });
  return { ...services, targets: new MemoryTargets(db, TARGETS, clock) };
}

interface PersonRow {
  employee_id: string;
  status: string;
  identity_id: string;
  active: number | string;
  manager_id: string | null;
  doc: string;
}

type Doc = Record<string, unknown>;
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/**
 * Every difference between the database and the expected store, as readable lines (empty when
 * they agree): who is stored, lifecycle status, active flag, manager, the attributes a move
 * changes, birthright grants, and which accounts are planned enabled.
 */
async function differences(db: Database, store: ExpectedStore): Promise<string[]> {
  const problems: string[] = [];
  const rows = await db.query<PersonRow>(
    `SELECT l.employee_id, l.status, i.id AS identity_id, i.active, i.manager_id, i.doc
       FROM identities i LEFT JOIN identity_lifecycle l ON l.identity_id = i.id`);
  const byEmployee = new Map<string, PersonRow>();
  for (const r of rows) {
    if (r.employee_id === null) problems.push(`identity ${r.identity_id} has no lifecycle row`);
    else if (byEmployee.has(r.employee_id)) problems.push(`employee ${r.employee_id} has two identities`);
    else byEmployee.set(r.employee_id, r);
  }
  for (const id of byEmployee.keys()) if (!store.has(id)) problems.push(`${id} is stored but should not be`);

  const grants = new Map<string, string[]>();
  for (const g of await db.query<{ identity_id: string; item: string; source: string }>('SELECT identity_id, item, source FROM grants')) {
    grants.set(g.identity_id, [...(grants.get(g.identity_id) ?? []), `${g.source === 'birthright' ? '' : `${g.source}:`}${g.item}`]);
  }
  const enabledAccounts = new Map<string, string[]>();
  for (const a of await db.query<{ identity_id: string; target: string; planned_status: string }>('SELECT identity_id, target, planned_status FROM accounts')) {
    if (a.planned_status === 'enabled') enabledAccounts.set(a.identity_id, [...(enabledAccounts.get(a.identity_id) ?? []), a.target]);
  }

  for (const [employeeId, expected] of store) {
    const row = byEmployee.get(employeeId);
    if (!row) {
      problems.push(`${employeeId} should be stored (${expected.status}) but is not`);
      continue;
    }
    const p = expected.person;
    const doc = JSON.parse(row.doc) as Doc;
    const enterprise = (doc[ENT] ?? {}) as Doc;
    const active = expected.status === 'active';
    const say = (what: string, actual: unknown, wanted: unknown) => {
      if (JSON.stringify(actual) !== JSON.stringify(wanted)) problems.push(`${employeeId} ${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(wanted)}`);
    };
    say('status', row.status, expected.status);
    say('active', Number(row.active) === 1, active);
    say('userName', doc.userName, p.email);
    say('department', enterprise.department ?? null, p.department);
    say('title', doc.title ?? null, p.title);
    say('location', ((doc.addresses as Doc[] | undefined)?.[0]?.locality as string | undefined) ?? null, p.location);
    say('employment type', doc.userType ?? null, p.employmentType);
    say('manager', row.manager_id, p.managerId === null ? null : byEmployee.get(p.managerId)?.identity_id ?? `(${p.managerId} not stored)`);
    say('grants', (grants.get(row.identity_id) ?? []).sort(), active ? birthrightItems(p) : []);
    say('enabled accounts', (enabledAccounts.get(row.identity_id) ?? []).sort(), active ? [...desiredAccounts(p).keys()].sort() : []);
  }
  return problems;
}

/** Runs every due operation on the memory targets, then checks they hold what the model says. */
async function settle(db: Database, targets: MemoryTargets, model: AccountModel): Promise<void> {
  await targets.drain();
  expect(await targetDifferences(db, targets, model), 'what the targets hold').to.deep.equal([]);
}

/**
 * The class each person's change was audited with, by employee id: every identity event a cause
 * wrote names the lifecycle class that made it.
 */
async function auditedClasses(db: Database, cause: string): Promise<Record<string, string>> {
  const employeeOf = new Map((await db.query<{ identity_id: string; employee_id: string }>('SELECT identity_id, employee_id FROM identity_lifecycle'))
    .map((r) => [r.identity_id, r.employee_id]));
  const rows = await db.query<{ action: string; target_id: string; details: string }>(
    "SELECT action, target_id, details FROM audit_events WHERE request_id = ? AND (action IN ('identity.create', 'identity.update') OR action LIKE 'lifecycle.%') ORDER BY id",
    [cause]);
  const out: Record<string, string> = {};
  for (const r of rows) {
    // An identity event names the class in its details; a change the document does not show has its own lifecycle.<class> event.
    const lifecycle = r.action.startsWith('lifecycle.') ? r.action.slice('lifecycle.'.length)
      : (JSON.parse(r.details) as { lifecycle?: string }).lifecycle ?? `(${r.action} without a class)`;
    const key = employeeOf.get(r.target_id) ?? `identity ${r.target_id}`;
    out[key] = key in out ? `${out[key]} and ${lifecycle}` : lifecycle;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The expected classes of the people a feed changes (everyone but the unchanged and skipped), sorted by employee id. */
function changedClasses(classes: ReadonlyMap<string, ExpectedClass>): Record<string, string> {
  return Object.fromEntries([...classes].filter(([, c]) => c !== 'unchanged' && c !== 'skipped').sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Outbox rows a cause enqueued, counted by operation name. */
async function opsOf(db: Database, cause: string): Promise<OpCounts> {
  const rows = await db.query<{ op: string; n: number | string }>('SELECT op, COUNT(*) AS n FROM outbox WHERE cause = ? GROUP BY op', [cause]);
  return Object.fromEntries(rows.map((r) => [r.op, Number(r.n)]).sort(([a], [b]) => (a! < b! ? -1 : 1)));
}

const sorted = (ops: OpCounts): OpCounts => Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : 1)));
const total = (ops: OpCounts): number => Object.values(ops).reduce((a, b) => a + b, 0);

/** The report's counts per class as the expectations count them (rejected apart). */
function classCounts(report: FeedReport): Record<ExpectedClass, number> {
  return Object.fromEntries(EXPECTED_CLASSES.map((c) => [c, report.counts[c]])) as Record<ExpectedClass, number>;
}

/** A clock the test sets: 09:00 UTC on a date. */
function testClock() {
  let now = new Date(`${DAY0}T09:00:00Z`);
  return {
    now: () => now,
    set(date: string) { now = new Date(`${date}T09:00:00Z`); },
  };
}

onEachDatabase('HR feeds day by day: day 0, then days 1 to 5 of churn', (database) => {
  const COUNT = 300;
  const SEED = 3;
  const CHURN = 0.04;
  const clock = testClock();
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let store: Map<string, StoredExpectation> = new Map();
  const model = new AccountModel();
  let targets: MemoryTargets;
  const feeds: string[] = [];
  const reports: FeedReport[] = [];
  const seen = Object.fromEntries(EXPECTED_CLASSES.map((c) => [c, 0])) as Record<ExpectedClass, number>;

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({ lifecycle: { retentionDays: RETENTION_DAYS } }), clock.now);
    targets = services.targets;
    for (let day = 0; day <= 5; day++) feeds.push(generateFeed({ count: COUNT, day, seed: SEED, churn: CHURN, day0: DAY0 }));
  });

  /** People a feed changed but no identity event of it names, by day: see the audit test below. */
  const unaudited: string[] = [];

  /** Imports day N's feed on day N and checks the report, the stored people and the outbox against the expectations. */
  async function importDay(day: number): Promise<void> {
    const { db } = database();
    const today = dayDate(DAY0, day);
    clock.set(today);
    const expected = expectFeed(store, feeds[day]!, today);
    const report = await services.feeds.import({ content: feeds[day]!, fileName: `hr-day-${day}.csv`, source: 'cli', actor: ACTOR });
    // The expectations move on whatever the checks find, so one failing day does not fail the next ones too.
    reports.push(report);
    store = expected.after;
    const predicted = sorted(model.advance(store));
    for (const c of EXPECTED_CLASSES) seen[c] += day === 0 ? 0 : expected.counts[c];
    try {
      expect(report.status, report.error ?? '').to.equal('applied');
      expect(report.today).to.equal(today);
      expect(report.rejected, 'rejected rows').to.deep.equal([]);
      expect(classCounts(report), `classes on day ${day}`).to.deep.equal(expected.counts);
      // Person by person, as far as the audit names the class: everyone it names has the expected one.
      const audited = await auditedClasses(db, `hr-feed:${report.feedId}`);
      const wanted = changedClasses(expected.classes);
      expect(Object.fromEntries(Object.keys(audited).map((id) => [id, wanted[id] ?? '(not changed)'])), `classes person by person on day ${day}`).to.deep.equal(audited);
      unaudited.push(...Object.keys(wanted).filter((id) => !(id in audited)).map((id) => `day ${day}: ${id} (${wanted[id]})`));
      expect(await differences(db, store), `stored state after day ${day}`).to.deep.equal([]);
      expect(await opsOf(db, `hr-feed:${report.feedId}`), `operations of day ${day}'s feed`).to.deep.equal(predicted);
      expect(report.applied?.operationsEnqueued).to.equal(total(predicted));
    } finally {
      await targets.drain();
    }
    expect(await targetDifferences(db, targets, model), 'what the targets hold').to.deep.equal([]);
  }

  it('day 0: everyone joins, with birthright grants and accounts planned', async function () {
    this.timeout(60_000);
    await importDay(0);
    expect(reports[0]!.counts.joiner).to.equal(COUNT);
  });

  it('importing the same file again changes nothing and enqueues nothing', async function () {
    this.timeout(60_000);
    const { db } = database();
    const outboxBefore = await db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM outbox');
    const auditBefore = await db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM audit_events WHERE action NOT LIKE 'hr.feed.%'");
    const again = await services.feeds.import({ content: feeds[0]!, fileName: 'hr-day-0.csv', source: 'cli', actor: ACTOR });
    expect(again.status).to.equal('applied');
    expect(again.counts.unchanged).to.equal(COUNT);
    expect(Object.entries(again.counts).filter(([k, v]) => k !== 'unchanged' && v !== 0)).to.deep.equal([]);
    expect(again.applied).to.deep.include({ grantsAdded: 0, grantsRemoved: 0, grantsRevoked: 0, operationsEnqueued: 0 });
    expect(again.sha256).to.equal(reports[0]!.sha256);
    expect(await db.query('SELECT COUNT(*) AS n FROM outbox')).to.deep.equal(outboxBefore);
    expect(await db.query("SELECT COUNT(*) AS n FROM audit_events WHERE action NOT LIKE 'hr.feed.%'")).to.deep.equal(auditBefore);
  });

  for (const day of [1, 2, 3]) {
    it(`day ${day}: joiners, movers, leavers and the rest as computed from the feeds`, async function () {
      this.timeout(60_000);
      await importDay(day);
    });
  }

  for (const day of [4, 5]) {
    it(`day ${day}: the effective-dates job runs first, then the feed finds its work done`, async function () {
      this.timeout(60_000);
      const { db } = database();
      const today = dayDate(DAY0, day);
      clock.set(today);
      const job = applyEffectiveDates(store, today);
      const ran = await services.dates.run();
      expect({ started: ran.started, left: ran.left }).to.deep.equal({ started: job.started.length, left: job.terminated.length });
      store = job.after;
      const predicted = sorted(model.advance(store));
      expect(await opsOf(db, `schedule:${today}`), `operations of the job on day ${day}`).to.deep.equal(predicted);
      expect(await differences(db, store), `stored state after the job on day ${day}`).to.deep.equal([]);
      await settle(db, targets, model);
      await importDay(day);
    });
  }

  it('importing day 5 again, with pending and scheduled people in it, changes nothing', async function () {
    this.timeout(60_000);
    const { db } = database();
    const outboxBefore = await db.query('SELECT COUNT(*) AS n FROM outbox');
    const again = await services.feeds.import({ content: feeds[5]!, source: 'cli', actor: ACTOR });
    expect(again.counts.unchanged).to.equal(readFeed(feeds[5]!).length);
    expect([...store.values()].filter((s) => s.status === 'pending' || s.person.terminationDate !== null && s.status === 'active')).to.not.be.empty;
    expect(again.applied?.operationsEnqueued).to.equal(0);
    expect(await db.query('SELECT COUNT(*) AS n FROM outbox')).to.deep.equal(outboxBefore);
    expect(await differences(db, store)).to.deep.equal([]);
  });

  it('every person a feed changed is audited with the feed and the class of the change', () => {
    // A scheduled termination, or a date that changes nothing in the identity document, is a
    // change the feed made: it must be traceable to the feed like any other.
    expect(unaudited).to.deep.equal([]);
  });

  it('over the five days the feeds held every kind of change', () => {
    for (const c of ['joiner', 'pending', 'mover', 'leaver', 'scheduled-leaver', 'rehire'] as const) {
      expect(seen[c], c).to.be.greaterThan(0);
    }
  });

  it('every feed is listed with its report, newest first', async () => {
    const { feeds: listed } = await services.feeds.list({ limit: 100 });
    const ours = reports.map((r) => r.feedId);
    expect(listed.map((f) => f.feedId).filter((id) => ours.includes(id))).to.deep.equal([...ours].reverse());
    const one = await services.feeds.get(reports[3]!.feedId);
    expect(one.counts).to.deep.equal(reports[3]!.counts);
    expect(one.fileName).to.equal('hr-day-3.csv');
  });
});

onEachDatabase('HR feeds with future dates, under a clock the test moves', (database) => {
  const clock = testClock();
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let base: string;
  let store: Map<string, StoredExpectation>;
  const model = new AccountModel();
  let targets: MemoryTargets;

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({}), clock.now);
    targets = services.targets;
    base = generateFeed({ count: 120, day: 0, seed: 21, day0: DAY0 });
    clock.set(DAY0);
    const report = await services.feeds.import({ content: base, source: 'api', actor: ACTOR });
    expect(report.counts.joiner).to.equal(120);
    store = expectFeed(new Map(), base, DAY0).after;
    model.advance(store);
    await settle(db, targets, model);
  });

  it('a future hire is pending with no access; a future termination is scheduled with access kept', async () => {
    const { db } = database();
    const manager = readFeed(base)[3]!.employeeId;
    const leaving = readFeed(base)[10]!.employeeId;
    const feed = editFeed(base, (c) => (c.employee_id === leaving ? { ...c, termination_date: dayDate(DAY0, 2) } : c), [
      { employee_id: 'E900001', first_name: 'Ngozi', last_name: 'Okafor', work_email: 'ngozi.okafor.future@example.com', department: 'Engineering', title: 'Software Engineer', manager_id: manager, location: 'Remote', cost_center: 'CC-1000', employment_type: 'Employee', status: 'Pending', hire_date: dayDate(DAY0, 3) },
      { employee_id: 'E900002', first_name: 'Wei', last_name: 'Chen', work_email: 'wei.chen.future@example.com', department: 'Finance', title: 'Accountant', manager_id: 'E900001', location: 'Dublin', cost_center: 'CC-1040', employment_type: 'Employee', status: 'Pending', hire_date: dayDate(DAY0, 5) },
    ]);
    const expected = expectFeed(store, feed, DAY0);
    expect(expected.classes.get('E900001')).to.equal('pending');
    expect(expected.classes.get(leaving)).to.equal('scheduled-leaver');
    const report = await services.feeds.import({ content: feed, source: 'api', actor: ACTOR });
    expect(classCounts(report)).to.deep.equal(expected.counts);
    store = expected.after;
    expect(await opsOf(db, `hr-feed:${report.feedId}`), 'nothing to provision yet').to.deep.equal(sorted(model.advance(store)));
    expect(await differences(db, store)).to.deep.equal([]);
    const [row] = await db.query<{ status: string; starts_on: string; active: number | string }>(
      "SELECT l.status, l.starts_on, i.active FROM identity_lifecycle l JOIN identities i ON i.id = l.identity_id WHERE l.employee_id = 'E900002'");
    expect({ ...row, active: Number(row!.active) }).to.deep.equal({ status: 'pending', starts_on: dayDate(DAY0, 5), active: 0 });
  });

  it('the job does nothing before the dates, however often it runs', async () => {
    clock.set(dayDate(DAY0, 1));
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 0 });
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 0 });
    expect(await differences(database().db, store)).to.deep.equal([]);
  });

  it('on the termination date the job makes the leaver: grants revoked, accounts disabled, deletion scheduled', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 2);
    clock.set(today);
    const job = applyEffectiveDates(store, today);
    expect(job.terminated).to.have.length(1);
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 1 });
    store = job.after;
    expect(await opsOf(db, `schedule:${today}`)).to.deep.equal(sorted(model.advance(store)));
    expect(await differences(db, store)).to.deep.equal([]);
    const deletes = await db.query<{ not_before: string }>("SELECT not_before FROM outbox WHERE cause = ? AND op = 'delete'", [`schedule:${today}`]);
    expect(deletes).to.not.be.empty;
    for (const d of deletes) expect(d.not_before.slice(0, 10)).to.equal(dayDate(today, RETENTION_DAYS));
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 0 });
    await settle(db, targets, model);
  });

  it('the day after the start date (the server was down on it), the job starts the hire with access', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 4);
    clock.set(today);
    const job = applyEffectiveDates(store, today);
    expect(job.started).to.deep.equal(['E900001']);
    expect(await services.dates.run()).to.deep.include({ started: 1, left: 0 });
    store = job.after;
    const ops = await opsOf(db, `schedule:${today}`);
    expect(ops).to.deep.equal(sorted(model.advance(store)));
    expect(ops.create).to.equal(3); // ldap, slack and github for an engineer
    expect(await differences(db, store)).to.deep.equal([]);
    await settle(db, targets, model);
  });

  it('the same feed imported after the dates changes nothing: the job already did it', async () => {
    const { db } = database();
    const feed = editFeed(base, (c) => (c.employee_id === readFeed(base)[10]!.employeeId ? { ...c, status: 'Terminated', termination_date: dayDate(DAY0, 2) } : c), [
      { employee_id: 'E900001', first_name: 'Ngozi', last_name: 'Okafor', work_email: 'ngozi.okafor.future@example.com', department: 'Engineering', title: 'Software Engineer', manager_id: readFeed(base)[3]!.employeeId, location: 'Remote', cost_center: 'CC-1000', employment_type: 'Employee', status: 'Active', hire_date: dayDate(DAY0, 3) },
      { employee_id: 'E900002', first_name: 'Wei', last_name: 'Chen', work_email: 'wei.chen.future@example.com', department: 'Finance', title: 'Accountant', manager_id: 'E900001', location: 'Dublin', cost_center: 'CC-1040', employment_type: 'Employee', status: 'Pending', hire_date: dayDate(DAY0, 5) },
    ]);
    const report = await services.feeds.import({ content: feed, source: 'api', actor: ACTOR });
    expect(classCounts(report)).to.deep.equal(expectFeed(store, feed, dayDate(DAY0, 4)).counts);
    expect(report.counts.unchanged).to.equal(122);
    expect(report.applied?.operationsEnqueued).to.equal(0);
    expect(await differences(db, store)).to.deep.equal([]);
  });

  it('a pending hire whose start comes with the next feed joins through the feed', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 5);
    clock.set(today);
    const feed = editFeed(base, (c) => (c.employee_id === readFeed(base)[10]!.employeeId ? { ...c, status: 'Terminated', termination_date: dayDate(DAY0, 2) } : c), [
      { employee_id: 'E900001', first_name: 'Ngozi', last_name: 'Okafor', work_email: 'ngozi.okafor.future@example.com', department: 'Engineering', title: 'Software Engineer', manager_id: readFeed(base)[3]!.employeeId, location: 'Remote', cost_center: 'CC-1000', employment_type: 'Employee', status: 'Active', hire_date: dayDate(DAY0, 3) },
      { employee_id: 'E900002', first_name: 'Wei', last_name: 'Chen', work_email: 'wei.chen.future@example.com', department: 'Finance', title: 'Accountant', manager_id: 'E900001', location: 'Dublin', cost_center: 'CC-1040', employment_type: 'Employee', status: 'Active', hire_date: dayDate(DAY0, 5) },
    ]);
    const expected = expectFeed(store, feed, today);
    expect(expected.classes.get('E900002')).to.equal('joiner');
    const report = await services.feeds.import({ content: feed, source: 'api', actor: ACTOR });
    expect(classCounts(report)).to.deep.equal(expected.counts);
    store = expected.after;
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    expect(await differences(db, store)).to.deep.equal([]);
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 0 });
  });
});

onEachDatabase('HR feeds with broken rows', (database) => {
  const clock = testClock();
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let store: Map<string, StoredExpectation>;
  const model = new AccountModel();
  let targets: MemoryTargets;

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({}), clock.now);
    targets = services.targets;
    const base = generateFeed({ count: 200, day: 0, seed: 5, churn: 0.04, day0: DAY0 });
    await services.feeds.import({ content: base, source: 'cli', actor: ACTOR });
    store = expectFeed(new Map(), base, DAY0).after;
    model.advance(store);
    await settle(db, targets, model);
  });

  it('rejects each broken row with its line and reason, and applies the rest', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 1);
    clock.set(today);
    const day1 = generateFeed({ count: 200, day: 1, seed: 5, churn: 0.04, day0: DAY0 });
    const lines = day1.trimEnd().split('\n').length;
    const person = (id: string, over: Record<string, string>) => ({
      employee_id: id, first_name: 'Test', last_name: `Person ${id}`, work_email: `${id.toLowerCase()}@example.com`, department: 'Sales',
      title: 'Account Executive', manager_id: 'E100001', location: 'Berlin', cost_center: 'CC-1020', employment_type: 'Employee',
      status: 'Active', hire_date: '2025-06-01', ...over,
    });
    const broken = editFeed(day1, undefined, [
      person('E910001', { hire_date: '2026-02-30' }), // line lines+1: not a date
      person('E910002', {}), // line lines+2 and lines+3: the same employee id twice
      person('E910002', { work_email: 'someone.else@example.com' }),
      person('E910003', { manager_id: 'E000000' }), // line lines+4: no such manager
      person('E910004', { work_email: '' }), // line lines+5: no email
      person('E910005', { manager_id: 'E910003' }), // line lines+6: manager only in a rejected row
    ]);
    const brokenIds = new Set(['E910001', 'E910002', 'E910003', 'E910004', 'E910005']);
    const expected = expectFeed(store, broken, today, brokenIds);
    const report = await services.feeds.import({ content: broken, fileName: 'broken.csv', source: 'cli', actor: ACTOR });
    expect(report.status).to.equal('applied');
    // The second row with an id already seen is refused; whether the first is too is the reader's choice.
    const firstDuplicateKept = !report.rejected.some((r) => r.row === lines + 2);
    expect(classCounts(report), JSON.stringify(report.rejected)).to.deep.equal({ ...expected.counts, joiner: expected.counts.joiner + (firstDuplicateKept ? 1 : 0) });

    const byLine = new Map(report.rejected.map((r) => [r.row, r]));
    const reason = (line: number) => byLine.get(line)?.reason ?? '(not rejected)';
    expect(reason(lines + 1)).to.match(/hire.?date|date/i);
    expect(byLine.get(lines + 1)?.employeeId).to.equal('E910001');
    expect(reason(lines + 3)).to.match(/E910002/);
    expect(reason(lines + 4)).to.match(/E000000/);
    expect(reason(lines + 5)).to.match(/email/i);
    expect(reason(lines + 6)).to.match(/E910003/);
    expect([...byLine.keys()].every((line) => line > lines), 'only the broken rows').to.equal(true);
    expect(report.counts.rejected).to.equal(report.rejected.length).and.to.equal(firstDuplicateKept ? 5 : 6);

    store = expected.after;
    if (firstDuplicateKept) store.set('E910002', { status: 'active', person: readFeed(broken).find((p) => p.employeeId === 'E910002')! });
    expect(await differences(db, store), 'only the rows kept are stored').to.deep.equal([]);
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
  });

  it('a feed that cannot be read at all records nothing and says why', async () => {
    const { db } = database();
    const before = await db.query('SELECT COUNT(*) AS n FROM hr_feeds');
    let error: Error | undefined;
    try {
      await services.feeds.import({ content: 'name,email\nAna,ana@example.com\n', source: 'cli', actor: ACTOR });
    } catch (err) {
      error = err as Error;
    }
    expect(error?.name).to.match(/HrFeedError|HrMappingError/);
    expect(error?.message).to.match(/employee_id/);
    expect(await db.query('SELECT COUNT(*) AS n FROM hr_feeds')).to.deep.equal(before);
  });
});

onEachDatabase('the circuit breaker on HR feeds', (database) => {
  const COUNT = 400;
  const clock = testClock();
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let base: string;
  let store: Map<string, StoredExpectation>;
  const model = new AccountModel();
  let targets: MemoryTargets;

  /** The day-0 feed with `n` people terminated today, the first ones after `from` (the CEO stays). */
  const withLeavers = (n: number, from: number) => {
    const ids = new Set(readFeed(base).slice(from, from + n).map((p) => p.employeeId));
    return editFeed(base, (c) => (ids.has(c.employee_id!) ? { ...c, status: 'Terminated', termination_date: dayDate(DAY0, 1) } : c));
  };
  const activeCount = async () => Number((await database().db.query<{ n: number | string }>(
    "SELECT COUNT(*) AS n FROM identity_lifecycle WHERE status = 'active'"))[0]!.n);

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({}), clock.now);
    targets = services.targets;
    base = generateFeed({ count: COUNT, day: 0, seed: 9, day0: DAY0 });
    await services.feeds.import({ content: base, source: 'cli', actor: ACTOR });
    store = expectFeed(new Map(), base, DAY0).after;
    model.advance(store);
    await settle(db, targets, model);
    clock.set(dayDate(DAY0, 1));
  });

  it('applies a feed with as many leavers as the threshold: 5% of 400 active', async () => {
    const { db } = database();
    const feed = withLeavers(20, 1);
    base = feed;
    const report = await services.feeds.import({ content: feed, source: 'cli', actor: ACTOR });
    expect(report.breaker).to.deep.include({ held: false, threshold: 20, leavers: 20 });
    expect(report.status).to.equal('applied');
    store = expectFeed(store, feed, dayDate(DAY0, 1)).after;
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    expect(await activeCount()).to.equal(380);
    await settle(db, targets, model);
  });

  it('holds a feed with one leaver more than the threshold, applying nothing', async () => {
    const { db } = database();
    const feed = withLeavers(20, 30); // 380 active now: threshold 19
    const outboxBefore = await db.query('SELECT COUNT(*) AS n FROM outbox');
    const report = await services.feeds.import({ content: feed, fileName: 'too-many.csv', source: 'api', actor: ACTOR });
    expect(report.status).to.equal('held');
    expect(report.breaker).to.deep.include({ held: true, threshold: 19, leavers: 20 });
    expect(report.applied).to.equal(null);
    expect((await services.feeds.get(report.feedId)).status).to.equal('held');
    expect((await services.feeds.list({ status: 'held', limit: 10 })).feeds.map((f) => f.feedId)).to.deep.equal([report.feedId]);
    expect(await activeCount()).to.equal(380);
    expect(await db.query('SELECT COUNT(*) AS n FROM outbox')).to.deep.equal(outboxBefore);
    expect(await differences(db, store)).to.deep.equal([]);

    // Rejected: nothing applied, and no second decision.
    const rejected = await services.feeds.reject(report.feedId, 'admin:alice', 'req-reject');
    expect(rejected).to.deep.include({ status: 'rejected', decidedBy: 'admin:alice' });
    expect(await activeCount()).to.equal(380);
    for (const decide of [() => services.feeds.approve(report.feedId, 'admin:bob'), () => services.feeds.reject(report.feedId, 'admin:bob')]) {
      const error = await decide().then(() => undefined, (err: unknown) => err);
      expect(error).to.be.instanceOf(FeedError);
      expect((error as FeedError).kind).to.equal('conflict');
    }
    const audit = await db.query<{ actor: string; request_id: string | null }>(
      "SELECT actor, request_id FROM audit_events WHERE action = 'hr.feed.reject' AND target_id = ?", [report.feedId]);
    expect(audit).to.deep.equal([{ actor: 'admin:alice', request_id: 'req-reject' }]);
  });

  it('applies a held feed once approved, as classified at approval', async () => {
    const { db } = database();
    const feed = withLeavers(25, 60);
    const held = await services.feeds.import({ content: feed, source: 'api', actor: ACTOR });
    expect(held.status).to.equal('held');
    expect(await activeCount()).to.equal(380);

    const expected = expectFeed(store, feed, dayDate(DAY0, 1));
    expect(expected.counts.leaver).to.equal(25);
    const approved = await services.feeds.approve(held.feedId, 'admin:bob', 'req-approve');
    expect(approved).to.deep.include({ status: 'applied', decidedBy: 'admin:bob' });
    expect(classCounts(approved)).to.deep.equal(expected.counts);
    store = expected.after;
    expect(await activeCount()).to.equal(355);
    expect(await opsOf(db, `hr-feed:${held.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    expect(await differences(db, store)).to.deep.equal([]);
    expect((await services.feeds.get(held.feedId)).status).to.equal('applied');
    const error = await services.feeds.approve(held.feedId, 'admin:bob').then(() => undefined, (err: unknown) => err);
    expect((error as FeedError).kind).to.equal('conflict');
    const audit = await db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE action = 'hr.feed.approve' AND target_id = ?", [held.feedId]);
    expect(audit).to.deep.equal([{ actor: 'admin:bob' }]);
    const notFound = await services.feeds.approve('00000000-0000-0000-0000-000000000000', 'admin:bob').then(() => undefined, (err: unknown) => err);
    expect((notFound as FeedError).kind).to.equal('notFound');
  });
});

onEachDatabase('HR feeds in any row order, as JSON, and with absence meaning leaving', (database) => {
  const clock = testClock();
  const model = new AccountModel();
  let targets: MemoryTargets;
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let store: Map<string, StoredExpectation> = new Map();
  const csv = (day: number) => generateFeed({ count: 150, day, seed: 17, churn: 0.05, day0: DAY0 });

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({}), clock.now);
    targets = services.targets;
  });

  it('resolves managers by employee id wherever their rows are: reports first, the CEO last', async () => {
    const { db } = database();
    const [header, ...rows] = csv(0).trimEnd().split('\n');
    const reversed = `${header}\n${rows.reverse().join('\n')}\n`;
    expect(readFeed(reversed).at(-1)!.managerId).to.equal(null);
    const report = await services.feeds.import({ content: reversed, source: 'cli', actor: ACTOR });
    const expected = expectFeed(store, reversed, DAY0);
    expect(classCounts(report)).to.deep.equal(expected.counts);
    store = expected.after;
    expect(await differences(db, store)).to.deep.equal([]);
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    await settle(db, targets, model);
  });

  it('reads the same feed as JSON as it reads the CSV', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 2);
    clock.set(today);
    const json = generateFeed({ count: 150, day: 2, seed: 17, churn: 0.05, day0: DAY0, format: 'json' });
    const expected = expectFeed(store, csv(2), today);
    const report = await services.feeds.import({ content: Buffer.from(json), fileName: 'hr-day-2.json', source: 'api', actor: ACTOR });
    expect(report.format).to.equal('json');
    expect(classCounts(report)).to.deep.equal(expected.counts);
    expect(expected.counts.unchanged).to.be.lessThan(150);
    store = expected.after;
    expect(await differences(db, store)).to.deep.equal([]);
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    await settle(db, targets, model);
    const again = await services.feeds.import({ content: csv(2), fileName: 'hr-day-2.csv', source: 'api', actor: ACTOR });
    expect(again.counts.unchanged, 'the CSV of the same day after its JSON').to.equal(readFeed(csv(2)).length);
  });

  it('makes people missing from a snapshot leavers when so configured, and only then', async () => {
    const { db } = database();
    const today = dayDate(DAY0, 2);
    const people = readFeed(csv(2));
    const employed = people.filter((p) => p.status !== 'terminated' && p.managerId !== null);
    const missing = new Set([employed[5]!.employeeId, employed[40]!.employeeId, employed[77]!.employeeId]);
    // Their reports move to another manager, so nobody in the file names a missing person.
    const other = employed[1]!.employeeId;
    const feed = editFeed(csv(2), (c) => (missing.has(c.employee_id!) ? null : missing.has(c.manager_id!) ? { ...c, manager_id: other } : c));

    const plain = await services.feeds.import({ content: feed, source: 'cli', actor: ACTOR, dryRun: true });
    expect(plain.status).to.equal('dry-run');
    expect(plain.counts.leaver, 'absence means nothing by default').to.equal(0);

    const absentLeaves = wiring(db, configWith({ hr: { absentIsLeaver: true } }), clock.now);
    const expected = expectFeed(store, feed, today, { absentIsLeaver: true });
    expect(expected.counts.leaver).to.equal(3);
    const report = await absentLeaves.feeds.import({ content: feed, source: 'cli', actor: ACTOR });
    expect(report.status).to.equal('applied');
    expect(classCounts(report)).to.deep.equal(expected.counts);
    store = expected.after;
    expect(await differences(db, store)).to.deep.equal([]);
    expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(sorted(model.advance(store)));
    await settle(db, targets, model);
  });
});

onEachDatabase('HR feeds: noise, updates, withdrawn terminations and late rehires', (database) => {
  const clock = testClock();
  const model = new AccountModel();
  let targets: MemoryTargets;
  let services: Awaited<ReturnType<typeof lifecycle>>;
  let base: string;
  let store: Map<string, StoredExpectation>;
  let people: FeedPerson[];

  /** Imports a feed on the clock's day and checks classes, stored state, operations and targets; returns the report. */
  async function apply(feed: string, check?: (e: ReturnType<typeof expectFeed>) => void): Promise<FeedReport> {
    const { db } = database();
    const expected = expectFeed(store, feed, clock.now().toISOString().slice(0, 10));
    check?.(expected);
    const report = await services.feeds.import({ content: feed, source: 'cli', actor: ACTOR });
    store = expected.after;
    const predicted = sorted(model.advance(store));
    try {
      expect(report.status).to.equal('applied');
      expect(classCounts(report)).to.deep.equal(expected.counts);
      expect(await differences(db, store)).to.deep.equal([]);
      expect(await opsOf(db, `hr-feed:${report.feedId}`)).to.deep.equal(predicted);
      expect(report.applied?.operationsEnqueued).to.equal(total(predicted));
    } finally {
      await targets.drain();
    }
    expect(await targetDifferences(db, targets, model), 'what the targets hold').to.deep.equal([]);
    return report;
  }
  const identityOf = async (employeeId: string) => (await database().db.query<{ identity_id: string }>(
    'SELECT identity_id FROM identity_lifecycle WHERE employee_id = ?', [employeeId]))[0]?.identity_id;

  before(async function () {
    this.timeout(60_000);
    const { db } = database();
    services = await lifecycle(db, configWith({}), clock.now);
    targets = services.targets;
    base = generateFeed({ count: 120, day: 0, seed: 31, day0: DAY0 });
    people = readFeed(base);
    store = new Map();
    await apply(base);
  });

  /** Names with their case swapped (ASCII names only: case folding of others is not noise), padded, in NFD. */
  const swapCase = (v: string) => (/^[A-Za-z -]+$/.test(v) ? [...v].map((ch) => (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase())).join('') : v);

  it('whitespace, case and Unicode-form noise in names and emails changes nothing', async () => {
    const noisy = editFeed(base, (c) => ({
      ...c, first_name: `  ${swapCase(c.first_name!)}\t`, last_name: c.last_name!.normalize('NFD').replace(' ', '  '), work_email: ` ${c.work_email!.toUpperCase()} `,
    }));
    expect(noisy).to.not.equal(base);
    const report = await apply(noisy, (e) => expect(e.counts.unchanged).to.equal(120));
    expect(report.applied).to.deep.include({ grantsAdded: 0, grantsRemoved: 0, operationsEnqueued: 0 });
  });

  it('a new email or family name is an update: the accounts are told, access stays', async () => {
    const [a, b] = [people[20]!, people[21]!];
    const feed = editFeed(base, (c) => (c.employee_id === a.employeeId ? { ...c, work_email: 'renamed.person@example.com' }
      : c.employee_id === b.employeeId ? { ...c, last_name: 'Haddad-Okafor' } : c));
    const report = await apply(feed, (e) => expect(e.ids('update')).to.deep.equal([a.employeeId, b.employeeId].sort()));
    base = feed;
    expect(report.applied).to.deep.include({ grantsAdded: 0, grantsRemoved: 0 });
    const [row] = await database().db.query<{ doc: string }>('SELECT doc FROM identities WHERE id = ?', [await identityOf(a.employeeId)]);
    expect(JSON.parse(row!.doc).userName).to.equal('renamed.person@example.com');
  });

  it('a termination withdrawn before its date is an update, and the date passes without anyone leaving', async () => {
    const c = people[30]!;
    const leaving = editFeed(base, (r) => (r.employee_id === c.employeeId ? { ...r, termination_date: dayDate(DAY0, 3) } : r));
    await apply(leaving, (e) => expect(e.ids('scheduled-leaver')).to.deep.equal([c.employeeId]));
    clock.set(dayDate(DAY0, 1));
    await apply(base, (e) => expect(e.ids('update')).to.deep.equal([c.employeeId]));
    clock.set(dayDate(DAY0, 3));
    expect(await services.dates.run()).to.deep.include({ started: 0, left: 0 });
    expect(store.get(c.employeeId)!.status).to.equal('active');
    expect(await differences(database().db, store)).to.deep.equal([]);
  });

  it('a leaver back with a later start is pending on the same identity, and active again on the day', async () => {
    const { db } = database();
    const d = people[40]!;
    const identity = await identityOf(d.employeeId);
    await apply(editFeed(base, (r) => (r.employee_id === d.employeeId ? { ...r, status: 'Terminated', termination_date: dayDate(DAY0, 3) } : r)),
      (e) => expect(e.ids('leaver')).to.deep.equal([d.employeeId]));
    clock.set(dayDate(DAY0, 4));
    base = editFeed(base, (r) => (r.employee_id === d.employeeId ? { ...r, status: 'Pending', termination_date: '', hire_date: dayDate(DAY0, 6) } : r));
    await apply(base, (e) => expect(e.ids('pending')).to.deep.equal([d.employeeId]));
    expect(await identityOf(d.employeeId)).to.equal(identity);
    const today = dayDate(DAY0, 6);
    clock.set(today);
    const job = applyEffectiveDates(store, today);
    expect(job.started).to.deep.equal([d.employeeId]);
    expect(await services.dates.run()).to.deep.include({ started: 1, left: 0 });
    store = job.after;
    const ops = await opsOf(db, `schedule:${today}`);
    expect(ops).to.deep.equal(sorted(model.advance(store)));
    expect(ops.enable, 'the same accounts enabled again').to.be.greaterThan(0);
    expect(ops.create ?? 0).to.equal(0);
    expect(await differences(db, store)).to.deep.equal([]);
    await settle(db, targets, model);
    expect(await db.query('SELECT COUNT(*) AS n FROM identities')).to.deep.equal(await db.query('SELECT COUNT(*) AS n FROM identity_lifecycle'));
    const deletes = await db.query<{ status: string }>("SELECT status FROM outbox WHERE identity_id = ? AND op = 'delete'", [identity]);
    expect(deletes).to.not.be.empty;
    expect(deletes.map((r) => r.status).filter((st) => st !== 'cancelled'), 'deletions left scheduled').to.deep.equal([]);
  });

  it('case noise in a name reaches neither the identity nor the targets when the row changes for another reason', async () => {
    const { db } = database();
    const x = people.slice(50).find((p) => /^[A-Za-z]+$/.test(p.givenName ?? '') && p.status === 'active')!;
    const feed = editFeed(base, (r) => (r.employee_id === x.employeeId ? { ...r, first_name: swapCase(r.first_name!.trim()), location: r.location === 'Remote' ? 'Berlin' : 'Remote' } : r));
    const report = await apply(feed, (e) => expect(e.ids('mover')).to.deep.equal([x.employeeId]));
    expect(report.counts.update).to.equal(0);
    const [row] = await db.query<{ doc: string }>('SELECT doc FROM identities WHERE id = ?', [await identityOf(x.employeeId)]);
    expect((JSON.parse(row!.doc) as { name: { givenName: string } }).name.givenName, 'the name as first stored').to.equal(x.givenName);
  });
});
