import { expect } from 'chai';
import { breakerDecision } from '../../../src/lifecycle/circuit-breaker.js';
import {
  attributeChanges, classifyFeed, DEFAULT_MOVER_ATTRIBUTES, entriesOf, normaliseAttribute, PLAN_CLASSES,
  type ClassifyOptions, type FeedPlan, type PersonAttributes, type PlanClass, type PlanEntry, type StoredPerson,
  type StoredStatus,
} from '../../../src/lifecycle/classify.js';
import type { HrRecord } from '../../../src/lifecycle/hr-record.js';
import { hrgenRows, hrgenToday, parseCsv, toHrRecord, type HrgenRow } from '../../support/hr-feeds.js';
import { prng } from '../../support/prng.js';

const TODAY = '2026-01-10';
const YESTERDAY = '2026-01-09';
const TOMORROW = '2026-01-11';
const NEXT_WEEK = '2026-01-17';

let nextRow = 1;
/** A normalised record as a feed reader delivers it; unique email per employee id. */
function record(employeeId: string, over: Partial<HrRecord> = {}): HrRecord {
  return {
    row: nextRow++,
    employeeId,
    givenName: 'Ana',
    familyName: 'Núñez',
    preferredName: null,
    email: `${employeeId.toLowerCase()}@example.com`,
    department: 'Engineering',
    title: 'Software Engineer',
    managerEmployeeId: null,
    location: 'Berlin',
    costCenter: 'CC-1000',
    employmentType: 'Employee',
    status: 'active',
    hireDate: '2024-03-01',
    terminationDate: null,
    extra: {},
    ...over,
  };
}

function attributesOf(r: PersonAttributes): PersonAttributes {
  const { givenName, familyName, preferredName, email, department, title, managerEmployeeId, location, costCenter,
    employmentType, hireDate, terminationDate } = r;
  return { givenName, familyName, preferredName, email, department, title, managerEmployeeId, location, costCenter,
    employmentType, hireDate, terminationDate };
}

/** A stored person equal to the record unless overridden. */
function storedAs(r: HrRecord, status: StoredStatus, over: Partial<StoredPerson> = {}): StoredPerson {
  return { ...attributesOf(r), identityId: `id-${r.employeeId}`, employeeId: r.employeeId, status, ...over };
}

function storeOf(...people: StoredPerson[]): Map<string, StoredPerson> {
  return new Map(people.map((p) => [p.employeeId, p]));
}

const snapshot = (over: Partial<ClassifyOptions> = {}): ClassifyOptions => ({ kind: 'snapshot', today: TODAY, ...over });
const delta = (over: Partial<ClassifyOptions> = {}): ClassifyOptions => ({ kind: 'delta', today: TODAY, ...over });

function only(plan: FeedPlan): PlanEntry {
  expect(plan.rejected, JSON.stringify(plan.rejected)).to.deep.equal([]);
  expect(plan.entries).to.have.length(1);
  return plan.entries[0]!;
}

function kindsById(plan: FeedPlan): Record<string, PlanClass> {
  return Object.fromEntries(plan.entries.map((e) => [e.employeeId, e.kind]));
}

/** What the store holds after a plan is applied, as the identity service is meant to do it. */
function applyPlan(stored: ReadonlyMap<string, StoredPerson>, plan: FeedPlan): Map<string, StoredPerson> {
  const next = new Map(stored);
  for (const e of plan.entries) {
    if (e.kind === 'skipped' || e.kind === 'unchanged') continue;
    if (e.record === null) {
      next.set(e.employeeId, { ...e.stored, status: 'terminated' });
      continue;
    }
    const status: StoredStatus = e.kind === 'pending' ? 'pending'
      : e.kind === 'leaver' ? 'terminated'
      : e.kind === 'mover' || e.kind === 'update' ? e.stored.status
      : 'active';
    next.set(e.employeeId, {
      ...attributesOf(e.record), employeeId: e.employeeId, status, identityId: e.identityId ?? `new-${e.employeeId}`,
    });
  }
  return next;
}

function expectNothingToDo(plan: FeedPlan): void {
  const busy = plan.entries.filter((e) => e.kind !== 'unchanged' && e.kind !== 'skipped');
  expect(busy.map((e) => `${e.employeeId}:${e.kind}`)).to.deep.equal([]);
  expect(plan.rejected).to.deep.equal([]);
}

describe('lifecycle/classify', () => {
  describe('one row against the store', () => {
    interface Case {
      name: string;
      stored?: (r: HrRecord) => StoredPerson;
      row: Partial<HrRecord>;
      options?: Partial<ClassifyOptions>;
      expected: Record<string, unknown> & { kind: PlanClass };
    }
    const cases: Case[] = [
      { name: 'a new person hired in the past is a joiner', row: {}, expected: { kind: 'joiner', identityId: null } },
      { name: 'a new person hired today is a joiner', row: { hireDate: TODAY }, expected: { kind: 'joiner', identityId: null } },
      { name: 'a new person without a hire date is a joiner', row: { hireDate: null }, expected: { kind: 'joiner' } },
      { name: 'a new person hired tomorrow is pending, with the date', row: { hireDate: TOMORROW }, expected: { kind: 'pending', startsOn: TOMORROW, rehire: false, identityId: null } },
      { name: 'a new person already terminated is skipped', row: { status: 'terminated', terminationDate: YESTERDAY }, expected: { kind: 'skipped', identityId: null } },
      { name: 'a new person whose termination date has come is skipped', row: { terminationDate: TODAY }, expected: { kind: 'skipped' } },
      { name: 'a new person with a future termination is a joiner (the date travels with the record)', row: { terminationDate: NEXT_WEEK }, expected: { kind: 'joiner' } },

      { name: 'stored pending, still starting later, nothing changed: unchanged', row: { hireDate: TOMORROW }, stored: (r) => storedAs(r, 'pending'), expected: { kind: 'unchanged', identityId: 'id-E1' } },
      { name: 'stored pending, still later, manager changed: pending with the change', row: { hireDate: NEXT_WEEK, managerEmployeeId: 'E1' }, stored: (r) => storedAs(r, 'pending', { managerEmployeeId: null }), expected: { kind: 'pending', startsOn: NEXT_WEEK, identityId: 'id-E1', moved: ['managerEmployeeId'] } },
      { name: 'stored pending, start date moved: pending with the new date', row: { hireDate: NEXT_WEEK }, stored: (r) => storedAs(r, 'pending', { hireDate: TOMORROW }), expected: { kind: 'pending', startsOn: NEXT_WEEK } },
      { name: 'stored pending whose start date came is a joiner on the same identity', row: { hireDate: TODAY }, stored: (r) => storedAs(r, 'pending'), expected: { kind: 'joiner', identityId: 'id-E1' } },
      { name: 'stored pending withdrawn (terminated) is a leaver', row: { hireDate: TOMORROW, status: 'terminated' }, stored: (r) => storedAs(r, 'pending', { status: 'pending' }), expected: { kind: 'leaver', reason: 'terminated', effectiveDate: TODAY } },

      { name: 'stored active, same row: unchanged', row: {}, stored: (r) => storedAs(r, 'active'), expected: { kind: 'unchanged', changes: [], moved: [] } },
      { name: 'stored active, department changed: mover', row: { department: 'Sales' }, stored: (r) => storedAs(r, 'active', { department: 'Engineering' }), expected: { kind: 'mover', moved: ['department'], changes: [{ attribute: 'department', from: 'Engineering', to: 'Sales' }] } },
      { name: 'a department change in case only is a move (policies compare it exactly)', row: { department: 'engineering' }, stored: (r) => storedAs(r, 'active', { department: 'Engineering' }), expected: { kind: 'mover', moved: ['department'] } },
      { name: 'a department change in whitespace only is not', row: { department: 'Human Resources' }, stored: (r) => storedAs(r, 'active', { department: ' Human  Resources ' }), expected: { kind: 'unchanged' } },
      { name: 'a given name change is an update, not a move', row: { givenName: 'Anna' }, stored: (r) => storedAs(r, 'active', { givenName: 'Ana' }), expected: { kind: 'update', moved: [], changes: [{ attribute: 'givenName', from: 'Ana', to: 'Anna' }] } },
      { name: 'an email change is an update', row: { email: 'ana.nunez@example.com' }, stored: (r) => storedAs(r, 'active', { email: 'ana@example.com' }), expected: { kind: 'update', moved: [] } },
      { name: 'a preferred name added is an update', row: { preferredName: 'Ani' }, stored: (r) => storedAs(r, 'active', { preferredName: null }), expected: { kind: 'update' } },
      { name: 'a hire date correction is an update', row: { hireDate: '2024-03-02' }, stored: (r) => storedAs(r, 'active', { hireDate: '2024-03-01' }), expected: { kind: 'update', moved: [] } },
      { name: 'whitespace and case noise in names and email: unchanged', row: {}, stored: (r) => storedAs(r, 'active', { givenName: '  ANA ', familyName: 'núñez\t', email: ' E1@Example.COM ' }), expected: { kind: 'unchanged' } },
      { name: 'inner whitespace runs in names: unchanged', row: { familyName: 'Van der Berg' }, stored: (r) => storedAs(r, 'active', { familyName: 'Van  der\u00a0Berg' }), expected: { kind: 'unchanged' } },
      { name: 'decomposed accents (NFD) against composed (NFC): unchanged', row: { givenName: 'Zoë' }, stored: (r) => storedAs(r, 'active', { givenName: 'Zoe\u0308' }), expected: { kind: 'unchanged' } },
      { name: 'empty strings stored where the feed has null: unchanged', row: { preferredName: null, location: null }, stored: (r) => storedAs(r, 'active', { preferredName: '', location: '  ' }), expected: { kind: 'unchanged' } },
      { name: 'an active identity is not demoted by a later hire date', row: { hireDate: NEXT_WEEK }, stored: (r) => storedAs(r, 'active', { hireDate: '2024-03-01' }), expected: { kind: 'update' } },
      { name: 'HR status leave keeps an active identity', row: { status: 'leave' }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'unchanged' } },

      { name: 'status terminated is a leaver today when no date is given', row: { status: 'terminated' }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'leaver', reason: 'terminated', effectiveDate: TODAY, identityId: 'id-E1' } },
      { name: 'status terminated wins over a future date', row: { status: 'terminated', terminationDate: NEXT_WEEK }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'leaver', reason: 'terminated', effectiveDate: TODAY } },
      { name: 'termination date today, still active in HR: leaver', row: { terminationDate: TODAY }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'leaver', reason: 'termination-date-reached', effectiveDate: TODAY } },
      { name: 'termination date yesterday: leaver as of yesterday', row: { terminationDate: YESTERDAY }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'leaver', reason: 'termination-date-reached', effectiveDate: YESTERDAY } },
      { name: 'termination date tomorrow: scheduled leaver, with the date', row: { terminationDate: TOMORROW }, stored: (r) => storedAs(r, 'active', { terminationDate: null }), expected: { kind: 'scheduled-leaver', leavesOn: TOMORROW } },
      { name: 'a scheduled termination already stored: unchanged', row: { terminationDate: TOMORROW }, stored: (r) => storedAs(r, 'active'), expected: { kind: 'unchanged' } },
      { name: 'a scheduled termination moved: scheduled leaver with the new date', row: { terminationDate: NEXT_WEEK }, stored: (r) => storedAs(r, 'active', { terminationDate: TOMORROW }), expected: { kind: 'scheduled-leaver', leavesOn: NEXT_WEEK } },
      { name: 'a scheduled termination cancelled: update of terminationDate', row: { terminationDate: null }, stored: (r) => storedAs(r, 'active', { terminationDate: TOMORROW }), expected: { kind: 'update', changes: [{ attribute: 'terminationDate', from: TOMORROW, to: null }] } },
      { name: 'a scheduled leaver who also moves keeps the move in `moved`', row: { terminationDate: TOMORROW, title: 'Staff Engineer' }, stored: (r) => storedAs(r, 'active', { title: 'Software Engineer', terminationDate: null }), expected: { kind: 'scheduled-leaver', leavesOn: TOMORROW, moved: ['title'] } },
      { name: 'a scheduled date reached on a stored active identity: leaver', row: { terminationDate: YESTERDAY }, stored: (r) => storedAs(r, 'active', { terminationDate: YESTERDAY }), expected: { kind: 'leaver', reason: 'termination-date-reached' } },

      { name: 'stored terminated, active again: rehire on the same identity', row: { hireDate: TODAY }, stored: (r) => storedAs(r, 'terminated', { hireDate: '2020-01-01', terminationDate: '2025-06-30' }), expected: { kind: 'rehire', identityId: 'id-E1' } },
      { name: 'stored terminated, coming back later: pending rehire on the same identity', row: { hireDate: NEXT_WEEK }, stored: (r) => storedAs(r, 'terminated', { terminationDate: '2025-06-30' }), expected: { kind: 'pending', rehire: true, startsOn: NEXT_WEEK, identityId: 'id-E1' } },
      { name: 'stored terminated, still terminated: unchanged', row: { status: 'terminated', terminationDate: '2025-06-30' }, stored: (r) => storedAs(r, 'terminated'), expected: { kind: 'unchanged' } },
      { name: 'stored terminated, still terminated, a title corrected: update', row: { status: 'terminated', terminationDate: '2025-06-30', title: 'Staff Engineer' }, stored: (r) => storedAs(r, 'terminated', { title: 'Software Engineer' }), expected: { kind: 'update' } },

      { name: 'configured mover attributes: a title change is then an update', row: { title: 'Staff Engineer' }, options: { moverAttributes: ['department'] }, stored: (r) => storedAs(r, 'active', { title: 'Software Engineer' }), expected: { kind: 'update', moved: [] } },
      { name: 'configured mover attributes: an email change can make a mover', row: { email: 'new@example.com' }, options: { moverAttributes: ['email'] }, stored: (r) => storedAs(r, 'active', { email: 'old@example.com' }), expected: { kind: 'mover', moved: ['email'] } },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r = record('E1', c.row);
        const plan = classifyFeed([r], c.stored ? storeOf(c.stored(r)) : new Map(), snapshot(c.options));
        const entry = only(plan);
        expect(entry).to.deep.include(c.expected);
        expect(entry.record).to.equal(r);
        expect(plan.counts[c.expected.kind]).to.equal(1);
      });
    }

    for (const attribute of DEFAULT_MOVER_ATTRIBUTES) {
      it(`a change of ${attribute} alone makes a mover by default`, () => {
        const r = record('E1', { [attribute]: 'changed' });
        // 'before' and 'changed' are also stored people, so as manager ids they resolve.
        const managers = ['before', 'changed'].map((id) => storedAs(record(id, { email: `${id}@example.com` }), 'active'));
        const entry = only(classifyFeed([r], storeOf(storedAs(r, 'active', { [attribute]: 'before' }), ...managers), delta()));
        expect(entry).to.deep.include({ kind: 'mover', moved: [attribute] });
      });
    }

    it('keeps the stored value as stored and the feed value as given in changes', () => {
      const r = record('E1', { location: 'London' });
      const entry = only(classifyFeed([r], storeOf(storedAs(r, 'active', { location: ' berlin ' })), snapshot()));
      expect(entry.changes).to.deep.equal([{ attribute: 'location', from: ' berlin ', to: 'London' }]);
    });
  });

  describe('normalisation', () => {
    const same: Array<[Parameters<typeof normaliseAttribute>[0], string | null, string | null]> = [
      ['givenName', ' José ', 'JOSÉ'],
      ['familyName', "o'brien", "O'Brien"],
      ['email', 'Ana.Nunez@Example.com ', 'ana.nunez@example.com'],
      ['familyName', 'De la  Cruz', 'de la cruz'],
      ['preferredName', '', null],
      ['department', '  Sales\n', 'Sales'],
    ];
    for (const [attribute, a, b] of same) {
      it(`${attribute}: ${JSON.stringify(a)} compares equal to ${JSON.stringify(b)}`, () => {
        expect(normaliseAttribute(attribute, a)).to.equal(normaliseAttribute(attribute, b));
      });
    }
    const different: Array<[Parameters<typeof normaliseAttribute>[0], string, string]> = [
      ['department', 'sales', 'Sales'],
      ['title', 'Staff engineer', 'Staff Engineer'],
      ['givenName', 'Ana', 'Anna'],
      ['familyName', 'Müller', 'Muller'],
    ];
    for (const [attribute, a, b] of different) {
      it(`${attribute}: ${JSON.stringify(a)} differs from ${JSON.stringify(b)}`, () => {
        expect(normaliseAttribute(attribute, a)).not.to.equal(normaliseAttribute(attribute, b));
      });
    }
    it('attributeChanges lists every differing attribute in a fixed order', () => {
      const a = record('E1');
      const b = { ...a, title: 'Staff Engineer', givenName: 'Anna', location: 'Tokyo' };
      expect(attributeChanges(a, b).map((c) => c.attribute)).to.deep.equal(['givenName', 'title', 'location']);
    });
  });

  describe('absence', () => {
    const here = record('E1');
    const activeGone = storedAs(record('E2'), 'active');
    const pendingGone = storedAs(record('E3', { hireDate: NEXT_WEEK }), 'pending');
    const terminatedGone = storedAs(record('E4', { status: 'terminated' }), 'terminated');
    const stored = storeOf(storedAs(here, 'active'), activeGone, pendingGone, terminatedGone);

    it('means nothing in a snapshot unless configured', () => {
      const plan = classifyFeed([here], stored, snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged' });
    });

    it('makes leavers of active and pending identities in a snapshot when configured', () => {
      const plan = classifyFeed([here], stored, snapshot({ absentIsLeaver: true }));
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged', E2: 'leaver', E3: 'leaver' });
      expect(entriesOf(plan, 'leaver')).to.deep.equal([
        { kind: 'leaver', reason: 'absent-from-snapshot', employeeId: 'E2', identityId: 'id-E2', stored: activeGone, row: null, record: null, changes: [], moved: [], effectiveDate: TODAY },
        { kind: 'leaver', reason: 'absent-from-snapshot', employeeId: 'E3', identityId: 'id-E3', stored: pendingGone, row: null, record: null, changes: [], moved: [], effectiveDate: TODAY },
      ]);
      expect(plan.counts.leaver).to.equal(2);
    });

    it('means nothing in a delta', () => {
      const plan = classifyFeed([here], stored, delta());
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged' });
    });

    it('cannot be configured to mean leaving in a delta', () => {
      expect(() => classifyFeed([here], stored, delta({ absentIsLeaver: true }))).to.throw(/snapshots only/);
    });

    it('does not count a row the reader rejected: that person is in the file', () => {
      const plan = classifyFeed([here], stored, snapshot({
        absentIsLeaver: true,
        rejectedByReader: [{ row: 7, employeeId: 'E2', reason: 'hire_date "2026-13-01" is not a date' }],
      }));
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged', E3: 'leaver' });
      expect(plan.rejected).to.deep.equal([{ row: 7, employeeId: 'E2', reason: 'hire_date "2026-13-01" is not a date' }]);
      expect(plan.counts.rejected).to.equal(1);
    });

    it('makes no leaver by absence when a rejected row has no employee id', () => {
      const plan = classifyFeed([here], stored, snapshot({
        absentIsLeaver: true,
        rejectedByReader: [{ row: 9, employeeId: null, reason: 'employee_id is missing' }],
      }));
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged' });
      expect(plan.warnings.join('\n')).to.match(/no employee id/);
    });

    it('does not count a row that classification rejected', () => {
      const stray = record('E2', { managerEmployeeId: 'E404' });
      const plan = classifyFeed([here, stray], stored, snapshot({ absentIsLeaver: true }));
      expect(kindsById(plan)).to.deep.equal({ E1: 'unchanged', E3: 'leaver' });
      expect(plan.rejected.map((r) => r.employeeId)).to.deep.equal(['E2']);
    });
  });

  describe('managers', () => {
    it('rejects a row whose manager is nowhere, with the reason, and applies the rest', () => {
      const ok = record('E1');
      const orphan = record('E2', { managerEmployeeId: 'E999' });
      const plan = classifyFeed([ok, orphan], new Map(), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'joiner' });
      expect(plan.rejected).to.deep.equal([{ row: orphan.row, employeeId: 'E2', reason: 'manager E999 is neither in this feed nor stored' }]);
      expect(plan.counts).to.include({ joiner: 1, rejected: 1 });
    });

    it('finds a manager whose row comes later in the file', () => {
      const report = record('E2', { managerEmployeeId: 'E1' });
      const manager = record('E1');
      const plan = classifyFeed([report, manager], new Map(), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E2: 'joiner', E1: 'joiner' });
    });

    it('finds a manager only in the store (a delta without their row)', () => {
      const plan = classifyFeed([record('E2', { managerEmployeeId: 'E1' })], storeOf(storedAs(record('E1'), 'active')), delta());
      expect(kindsById(plan)).to.deep.equal({ E2: 'joiner' });
    });

    it('finds a manager who is terminated in the store', () => {
      const plan = classifyFeed([record('E2', { managerEmployeeId: 'E1' })], storeOf(storedAs(record('E1'), 'terminated')), delta());
      expect(plan.rejected).to.deep.equal([]);
    });

    it('still knows a manager who leaves in the same feed', () => {
      const manager = record('E1', { status: 'terminated', terminationDate: TODAY });
      const report = record('E2', { managerEmployeeId: 'E1' });
      const plan = classifyFeed([manager, report], storeOf(storedAs(record('E1'), 'active')), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'leaver', E2: 'joiner' });
    });

    it('still knows a manager who leaves by absence from the same snapshot', () => {
      const report = record('E2', { managerEmployeeId: 'E1' });
      const plan = classifyFeed([report], storeOf(storedAs(record('E1'), 'active')), snapshot({ absentIsLeaver: true }));
      expect(kindsById(plan)).to.deep.equal({ E2: 'joiner', E1: 'leaver' });
    });

    it('rejects the reports of a new manager whose own row is rejected, down the chain', () => {
      const top = record('E1', { managerEmployeeId: 'E999' });
      const middle = record('E2', { managerEmployeeId: 'E1' });
      const bottom = record('E3', { managerEmployeeId: 'E2' });
      const plan = classifyFeed([bottom, middle, top], new Map(), snapshot());
      expect(plan.entries).to.deep.equal([]);
      expect(plan.rejected.map((r) => [r.employeeId, r.reason])).to.deep.equal([
        ['E1', 'manager E999 is neither in this feed nor stored'],
        ['E2', `manager E1 is not known: their own row ${top.row} was rejected`],
        ['E3', `manager E2 is not known: their own row ${middle.row} was rejected`],
      ]);
    });

    it('keeps the reports of a stored manager whose row is rejected: the identity still exists', () => {
      const manager = record('E1', { managerEmployeeId: 'E999', title: 'Engineering Manager' });
      const report = record('E2', { managerEmployeeId: 'E1' });
      const plan = classifyFeed([manager, report], storeOf(storedAs(record('E1'), 'active')), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E2: 'joiner' });
      expect(plan.rejected.map((r) => r.employeeId)).to.deep.equal(['E1']);
    });

    it('rejects a row whose manager left before ever being imported', () => {
      const manager = record('E1', { status: 'terminated' });
      const report = record('E2', { managerEmployeeId: 'E1' });
      const plan = classifyFeed([manager, report], new Map(), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'skipped' });
      expect(plan.rejected[0]!.reason).to.equal(`manager E1 (row ${manager.row}) left before ever being imported`);
    });

    it('applies a leaver whose manager is unknown, with a warning: access removal is never blocked', () => {
      const r = record('E1', { status: 'terminated', managerEmployeeId: 'E999' });
      const plan = classifyFeed([r], storeOf(storedAs(record('E1'), 'active')), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'leaver' });
      expect(plan.rejected).to.deep.equal([]);
      expect(plan.warnings).to.deep.equal([`row ${r.row} (E1): manager E999 is neither in this feed nor stored; the leaver is applied anyway`]);
    });

    it('accepts a person who is their own manager (the top of the tree in some exports)', () => {
      const plan = classifyFeed([record('E1', { managerEmployeeId: 'E1' })], new Map(), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'joiner' });
    });
  });

  describe('uniqueness', () => {
    it('rejects every row of an employee id that appears twice', () => {
      const a = record('E1');
      const b = record('E1', { email: 'other@example.com' });
      const plan = classifyFeed([a, b, record('E2')], new Map(), snapshot());
      expect(kindsById(plan)).to.deep.equal({ E2: 'joiner' });
      expect(plan.rejected.map((r) => r.reason)).to.deep.equal([
        `employee id E1 appears on rows ${a.row}, ${b.row}`, `employee id E1 appears on rows ${a.row}, ${b.row}`,
      ]);
    });

    it('rejects every row of an email that appears twice, whatever its case', () => {
      const a = record('E1', { email: 'ana@example.com' });
      const b = record('E2', { email: 'ANA@example.com' });
      const plan = classifyFeed([a, b], new Map(), snapshot());
      expect(plan.entries).to.deep.equal([]);
      expect(plan.rejected.map((r) => r.employeeId)).to.deep.equal(['E1', 'E2']);
      expect(plan.rejected[0]!.reason).to.equal(`email ana@example.com appears on rows ${a.row}, ${b.row}`);
    });

    it('rejects a row taking the email of a stored person who keeps it', () => {
      const taker = record('E2', { email: 'e1@example.com' });
      const plan = classifyFeed([taker], storeOf(storedAs(record('E1'), 'active')), delta());
      expect(plan.rejected).to.deep.equal([{ row: taker.row, employeeId: 'E2', reason: 'email e1@example.com belongs to stored employee E1' }]);
    });

    it('accepts two people swapping emails in one feed', () => {
      const stored = storeOf(storedAs(record('E1'), 'active'), storedAs(record('E2'), 'active'));
      const plan = classifyFeed([record('E1', { email: 'e2@example.com' }), record('E2', { email: 'e1@example.com' })], stored, snapshot());
      expect(kindsById(plan)).to.deep.equal({ E1: 'update', E2: 'update' });
    });
  });

  describe('the plan as a whole', () => {
    /** One feed touching every class, with the store it is compared with. */
    function everything(): { records: HrRecord[]; stored: Map<string, StoredPerson> } {
      nextRow = 2;
      const records = [
        record('E1', { managerEmployeeId: null, title: 'Chief Executive Officer' }),
        record('E2', { managerEmployeeId: 'E1' }),
        record('E3', { managerEmployeeId: 'E1', hireDate: NEXT_WEEK }),
        record('E4', { managerEmployeeId: 'E1', department: 'Sales' }),
        record('E5', { managerEmployeeId: 'E1', email: 'renamed@example.com' }),
        record('E6', { managerEmployeeId: 'E1', status: 'terminated', terminationDate: TODAY }),
        record('E7', { managerEmployeeId: 'E6', terminationDate: NEXT_WEEK }),
        record('E8', { managerEmployeeId: 'E1', hireDate: TODAY }),
        record('E9', { managerEmployeeId: 'E999' }),
        record('E10', { status: 'terminated', terminationDate: '2025-01-01' }),
        record('E11', { givenName: 'Zoë' }),
      ];
      const stored = storeOf(
        storedAs(records[0]!, 'active', { givenName: ' ana ', email: 'E1@EXAMPLE.com' }),
        storedAs(records[3]!, 'active', { department: 'Engineering' }),
        storedAs(records[4]!, 'active', { email: 'e5@example.com' }),
        storedAs(records[5]!, 'active', { status: 'active', terminationDate: null }),
        storedAs(records[6]!, 'active', { terminationDate: null }),
        storedAs(records[7]!, 'terminated', { hireDate: '2019-05-01', terminationDate: '2023-02-28' }),
        storedAs(records[10]!, 'pending', { givenName: 'Zoë', hireDate: NEXT_WEEK }),
        storedAs(record('E12'), 'active'),
      );
      return { records, stored };
    }

    it('classifies a mixed feed, one entry per applied row, the rest rejected', () => {
      const { records, stored } = everything();
      const plan = classifyFeed(records, stored, snapshot({ absentIsLeaver: true }));
      expect(kindsById(plan)).to.deep.equal({
        E1: 'unchanged', E2: 'joiner', E3: 'pending', E4: 'mover', E5: 'update', E6: 'leaver', E7: 'scheduled-leaver',
        E8: 'rehire', E10: 'skipped', E11: 'joiner', E12: 'leaver',
      });
      expect(plan.rejected.map((r) => r.employeeId)).to.deep.equal(['E9']);
      expect(plan.counts).to.deep.equal({
        joiner: 2, pending: 1, mover: 1, update: 1, leaver: 2, 'scheduled-leaver': 1, rehire: 1, unchanged: 1, skipped: 1, rejected: 1,
      });
      const rowsAccountedFor = [...plan.entries.flatMap((e) => (e.row === null ? [] : [e.row])), ...plan.rejected.map((r) => r.row)];
      expect(rowsAccountedFor.sort((a, b) => a - b)).to.deep.equal(records.map((r) => r.row));
    });

    it('activates the stored pending identity whose start date came, rather than making a new one', () => {
      const { records, stored } = everything();
      const e11 = classifyFeed(records, stored, snapshot()).entries.find((e) => e.employeeId === 'E11')!;
      expect(e11).to.deep.include({ kind: 'joiner', identityId: 'id-E11' });
    });

    it('is in row order, then absent leavers by employee id, whatever order the records come in', () => {
      const { records, stored } = everything();
      const expected = classifyFeed(records, stored, snapshot({ absentIsLeaver: true }));
      const random = prng(42);
      for (let i = 0; i < 5; i++) {
        const shuffled = [...records].sort(() => random() - 0.5);
        const storeShuffled = new Map([...stored].sort(() => random() - 0.5));
        expect(classifyFeed(shuffled, storeShuffled, snapshot({ absentIsLeaver: true }))).to.deep.equal(expected);
      }
      const rows = expected.entries.map((e) => e.row);
      expect(rows.slice(0, -1)).to.deep.equal([...rows.slice(0, -1)].sort((a, b) => a! - b!));
      expect(rows.at(-1)).to.equal(null);
    });

    it('finds nothing to do when the same feed is classified again after applying it', () => {
      const { records, stored } = everything();
      const options = snapshot({ absentIsLeaver: true });
      const applied = applyPlan(stored, classifyFeed(records, stored, options));
      const again = classifyFeed(records.filter((r) => r.employeeId !== 'E9'), applied, options);
      expectNothingToDo(again);
      expect(again.counts.skipped).to.equal(1);
    });

    it('refuses a today that is not an ISO date', () => {
      expect(() => classifyFeed([], new Map(), { kind: 'snapshot', today: '10/01/2026' })).to.throw();
      expect(() => classifyFeed([], new Map(), { kind: 'snapshot', today: '2026-02-30' })).to.throw();
    });

    it('counts every class, zero included', () => {
      const plan = classifyFeed([], new Map(), snapshot());
      expect(Object.keys(plan.counts).sort()).to.deep.equal([...PLAN_CLASSES, 'rejected'].sort());
      expect(Object.values(plan.counts).every((n) => n === 0)).to.equal(true);
    });
  });

  describe('end to end with the HR generator', function () {
    this.timeout(60_000);
    const FEED = { count: 400, seed: 3, churn: 0.05 };
    const MOVER_COLUMNS = ['department', 'title', 'manager_id', 'location', 'cost_center', 'employment_type'];
    const OTHER_COLUMNS = ['first_name', 'last_name', 'preferred_name', 'work_email', 'hire_date'];
    const days = [0, 1, 2, 3].map((day) => hrgenRows({ ...FEED, day }));

    /** The store as it stands after a day's feed, built straight from the raw cells (un-normalised), plus noise. */
    function storeFromFeed(rows: HrgenRow[]): Map<string, StoredPerson> {
      const statusOf: Record<string, StoredStatus> = { Active: 'active', Pending: 'pending', Terminated: 'terminated' };
      return new Map(rows.map(({ cells: c }, i) => {
        const noisy = i % 7 === 0;
        const employeeId = c.employee_id!;
        return [employeeId, {
          identityId: `id-${employeeId}`, employeeId, status: statusOf[c.status!]!,
          givenName: noisy ? ` ${c.first_name!.toUpperCase()}  ` : c.first_name!,
          familyName: noisy ? c.last_name!.toLowerCase() : c.last_name!,
          preferredName: c.preferred_name!,
          email: noisy ? c.work_email!.toUpperCase() : c.work_email!,
          department: c.department!, title: c.title!, managerEmployeeId: c.manager_id!, location: c.location!,
          costCenter: c.cost_center!, employmentType: c.employment_type!, hireDate: c.hire_date!, terminationDate: c.termination_date!,
        }];
      }));
    }

    /** The class a row-by-row diff of two consecutive feeds gives, from the generator's own status column. */
    function expectedClasses(previous: HrgenRow[], current: HrgenRow[]): Record<string, PlanClass> {
      const before = new Map(previous.map((r) => [r.cells.employee_id!, r.cells]));
      const loose = (column: string, v: string) => (column.endsWith('name') || column === 'work_email' ? v.trim().toLowerCase() : v.trim());
      const out: Record<string, PlanClass> = {};
      for (const { cells: now } of current) {
        const id = now.employee_id!;
        const was = before.get(id);
        const differs = (columns: string[]) => columns.some((c) => loose(c, was![c]!) !== loose(c, now[c]!));
        const anyChange = () => differs([...MOVER_COLUMNS, ...OTHER_COLUMNS, 'termination_date']);
        let kind: PlanClass;
        if (!was) kind = now.status === 'Terminated' ? 'skipped' : now.status === 'Pending' ? 'pending' : 'joiner';
        else if (was.status === 'Terminated') kind = now.status === 'Terminated' ? (anyChange() ? 'update' : 'unchanged') : now.status === 'Pending' ? 'pending' : 'rehire';
        else if (now.status === 'Terminated') kind = 'leaver';
        else if (was.status === 'Pending') kind = now.status === 'Active' ? 'joiner' : anyChange() ? 'pending' : 'unchanged';
        else if (now.termination_date !== '' && now.termination_date !== was.termination_date) kind = 'scheduled-leaver';
        else if (differs(MOVER_COLUMNS)) kind = 'mover';
        else if (anyChange()) kind = 'update';
        else kind = 'unchanged';
        out[id] = kind;
      }
      return out;
    }

    it('reads the generator as expected: every row, the padded names kept for the store', () => {
      expect(days[0]).to.have.length(FEED.count);
      expect(days[0]!.some((r) => r.cells.first_name !== r.cells.first_name!.trim())).to.equal(true);
      expect(days[3]!.length).to.be.greaterThan(FEED.count);
    });

    it('day 0 into an empty store: everyone is a joiner, and the breaker lets it through', () => {
      const plan = classifyFeed(days[0]!.map(toHrRecord), new Map(), { kind: 'snapshot', today: hrgenToday(0), absentIsLeaver: true });
      expect(plan.rejected).to.deep.equal([]);
      expect(plan.counts.joiner).to.equal(FEED.count);
      expect(breakerDecision({ leavers: plan.counts.leaver, activeIdentities: 0 }).held).to.equal(false);
    });

    const totals: Partial<Record<PlanClass, number>> = {};
    for (const day of [1, 2, 3]) {
      it(`day ${day} against day ${day - 1}: every class matches a plain diff of the two feeds`, () => {
        const stored = storeFromFeed(days[day - 1]!);
        const records = days[day]!.map(toHrRecord);
        const plan = classifyFeed(records, stored, { kind: 'snapshot', today: hrgenToday(day), absentIsLeaver: true });
        expect(plan.rejected).to.deep.equal([]);
        expect(plan.warnings).to.deep.equal([]);
        const expected = expectedClasses(days[day - 1]!, days[day]!);
        const actual = kindsById(plan);
        const mismatches = Object.keys(expected).filter((id) => expected[id] !== actual[id]).map((id) => `${id}: expected ${expected[id]}, got ${actual[id]}`);
        expect(mismatches).to.deep.equal([]);
        expect(Object.keys(actual)).to.have.length(Object.keys(expected).length);
        for (const entry of entriesOf(plan, 'rehire')) expect(entry.identityId).to.equal(`id-${entry.employeeId}`);
        for (const kind of PLAN_CLASSES) totals[kind] = (totals[kind] ?? 0) + plan.counts[kind];
        expect(breakerDecision({ leavers: plan.counts.leaver, activeIdentities: [...stored.values()].filter((p) => p.status === 'active').length }).held).to.equal(false);
      });
    }

    it('days 1 to 3 between them hold every lifecycle class (so the diff above tested something)', () => {
      for (const kind of ['joiner', 'pending', 'mover', 'leaver', 'scheduled-leaver', 'rehire', 'unchanged'] as const) {
        expect(totals[kind], kind).to.be.greaterThan(0);
      }
    });

    it('re-importing a day, with the store as that day left it, finds nothing to do', () => {
      for (const day of [0, 1, 2, 3]) {
        expectNothingToDo(classifyFeed(days[day]!.map(toHrRecord), storeFromFeed(days[day]!), { kind: 'snapshot', today: hrgenToday(day), absentIsLeaver: true }));
      }
    });

    it('applying day after day and classifying each day again finds nothing to do', () => {
      let stored = new Map<string, StoredPerson>();
      for (const day of [0, 1, 2, 3]) {
        const records = days[day]!.map(toHrRecord);
        const options = { kind: 'snapshot', today: hrgenToday(day), absentIsLeaver: true } as const;
        stored = applyPlan(stored, classifyFeed(records, stored, options));
        expectNothingToDo(classifyFeed(records, stored, options));
      }
    });

    it('a truncated export looks like mass leaving: the breaker holds it', () => {
      const stored = storeFromFeed(days[0]!);
      const truncated = days[1]!.slice(0, days[1]!.length / 2).map(toHrRecord);
      const plan = classifyFeed(truncated, stored, { kind: 'snapshot', today: hrgenToday(1), absentIsLeaver: true });
      const active = [...stored.values()].filter((p) => p.status === 'active').length;
      expect(plan.counts.leaver).to.be.greaterThan(150);
      expect(breakerDecision({ leavers: plan.counts.leaver, activeIdentities: active })).to.include({ held: true, threshold: 20 });
    });
  });

  describe('test support: the plain CSV reader', () => {
    it('reads quoted cells with commas, doubled quotes and line breaks, CRLF and a BOM', () => {
      const text = '\uFEFFa,b,c\r\n1," x, y ","say ""hi"""\r\n2,"two\nlines",\n3,,"O\'Brien"';
      expect(parseCsv(text)).to.deep.equal([
        { line: 1, fields: ['a', 'b', 'c'] },
        { line: 2, fields: ['1', ' x, y ', 'say "hi"'] },
        { line: 3, fields: ['2', 'two\nlines', ''] },
        { line: 5, fields: ['3', '', "O'Brien"] },
      ]);
    });

    it('refuses an unterminated quote', () => {
      expect(() => parseCsv('a\n"open')).to.throw(/unterminated/);
    });
  });
});
