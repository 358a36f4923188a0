import { expect } from 'chai';
import {
  applyEffectiveDates, changedFields, clean, dayDate, EXPECTED_CLASSES, expectedChanges, expectFeed, generateFeed,
  editFeed, readCsvRecords, readFeed, storeFromFeed, type ExpectedClass, type FeedPerson, type StoredExpectation,
} from '../../support/hr-expectations.js';

/*
 * The expectations the end-to-end lifecycle tests compare the server with. They are only worth
 * something if they are right, so they are checked here against what the generator is known to do
 * by construction (its JSON output, its documented churn) and against small hand-written feeds.
 */

const DAY0 = '2026-01-05';
const HEADER = 'employee_id,first_name,last_name,preferred_name,work_email,department,title,manager_id,location,cost_center,employment_type,status,hire_date,termination_date,github_login';

/** A CSV feed of hand-written rows over HEADER. */
function feed(...rows: string[]): string {
  return `${HEADER}\n${rows.join('\n')}\n`;
}

/** A row in HEADER's columns from a base person and overrides. */
function row(id: string, over: Partial<Record<string, string>> = {}): string {
  const base: Record<string, string> = {
    employee_id: id, first_name: 'Ana', last_name: 'Núñez', preferred_name: '', work_email: `${id.toLowerCase()}@example.com`,
    department: 'Engineering', title: 'Software Engineer', manager_id: '', location: 'Berlin', cost_center: 'CC-1000',
    employment_type: 'Employee', status: 'Active', hire_date: '2024-03-01', termination_date: '', github_login: '',
  };
  const cells = { ...base, ...over };
  return HEADER.split(',').map((c) => {
    const v = cells[c] ?? '';
    return /[",\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
  }).join(',');
}

function classesOf(expected: Map<string, ExpectedClass>): Record<string, ExpectedClass> {
  return Object.fromEntries([...expected].sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe('HR expectations: the CSV reader', () => {
  it('reads quoted cells with commas, doubled quotes and line breaks, CRLF, a BOM and blank lines', () => {
    const text = '\uFEFFa,b,c\r\n1,"x, y","say ""hi"""\r\n\r\n2,"two\nlines",\n3,,"last"';
    expect(readCsvRecords(text)).to.deep.equal([
      { line: 1, cells: ['a', 'b', 'c'] },
      { line: 2, cells: ['1', 'x, y', 'say "hi"'] },
      { line: 4, cells: ['2', 'two\nlines', ''] },
      { line: 6, cells: ['3', '', 'last'] },
    ]);
  });

  it('refuses a quoted cell that never closes', () => {
    expect(() => readCsvRecords('a,b\n1,"open\n2,3\n')).to.throw(/line 2/);
  });

  it('reads every generator row as the generator meant it (its JSON output of the same feed)', () => {
    const csv = readFeed(generateFeed({ count: 1500, day: 20, seed: 3, churn: 0.02 }));
    const json = JSON.parse(generateFeed({ count: 1500, day: 20, seed: 3, churn: 0.02, format: 'json' })) as Array<Record<string, string>>;
    expect(csv).to.have.length(json.length);
    // The generator pads some names with spaces and capitalises some emails: the reader must undo exactly that.
    expect(json.some((r) => r.first_name !== r.first_name!.trim())).to.equal(true);
    expect(json.some((r) => r.work_email !== r.work_email!.toLowerCase())).to.equal(true);
    json.forEach((r, i) => {
      const p = csv[i]!;
      expect(p.line).to.equal(i + 2);
      expect([p.employeeId, p.givenName, p.familyName, p.preferredName, p.email, p.department, p.title, p.managerId, p.location,
        p.costCenter, p.employmentType, p.status, p.hireDate, p.terminationDate, p.githubLogin]).to.deep.equal([
        r.employee_id, clean(r.first_name), clean(r.last_name), clean(r.preferred_name), clean(r.work_email)?.toLowerCase() ?? null,
        clean(r.department), clean(r.title), clean(r.manager_id), clean(r.location), clean(r.cost_center), clean(r.employment_type),
        r.status!.toLowerCase(), clean(r.hire_date), clean(r.termination_date), clean(r.github_login),
      ]);
    });
  });

  it('normalises whitespace and Unicode form, and lowercases emails only', () => {
    const [p] = readFeed(feed(row('E1', { first_name: '  Zoe\u0308  ', last_name: 'Van  der\tBerg', work_email: ' Zoe.VDB@Example.COM ' })));
    expect(p!.givenName).to.equal('Zoë');
    expect(p!.familyName).to.equal('Van der Berg');
    expect(p!.email).to.equal('zoe.vdb@example.com');
  });
});

describe('HR expectations: classes on hand-written feeds', () => {
  const TODAY = '2026-02-10';
  const before = feed(
    row('E1'),
    row('E2', { manager_id: 'E1' }),
    row('E3', { first_name: 'Seán' }),
    row('E4', { work_email: 'e4@example.com' }),
    row('E5'),
    row('E6'),
    row('E7', { status: 'Terminated', termination_date: '2025-12-31' }),
    row('E8', { status: 'Pending', hire_date: '2026-03-01' }),
    row('E9', { status: 'Pending', hire_date: '2026-03-01' }),
    row('E10', { status: 'Pending', hire_date: '2026-02-10' }),
    row('E11', { termination_date: '2026-02-20' }),
    row('E12', { termination_date: '2026-02-20' }),
    row('E13', { status: 'Terminated', termination_date: '2025-12-31' }),
    row('E14', { employment_type: 'Employee' }),
    row('E15', { status: 'Pending', hire_date: '2026-03-01' }),
    row('E16'),
  );
  const after = feed(
    row('E1'), // unchanged
    row('E2', { manager_id: 'E5' }), // mover: manager
    row('E3', { first_name: '  SEÁN ' }), // case and padding only: unchanged
    row('E4', { work_email: 'ana.nunez@example.com' }), // update: a new email, nothing that moves
    row('E5', { status: 'Terminated', termination_date: TODAY }), // leaver
    row('E6', { termination_date: '2026-02-09' }), // leaver by date, status still Active
    row('E7', { status: 'Active', hire_date: TODAY }), // rehire
    row('E8', { status: 'Pending', hire_date: '2026-03-01' }), // still pending, nothing new: unchanged
    row('E9', { status: 'Pending', hire_date: '2026-03-02', manager_id: 'E1' }), // pending, changed
    row('E10', { status: 'Active', hire_date: '2026-02-10' }), // start reached: joiner
    row('E11', { termination_date: '2026-02-20', location: 'Dublin' }), // same date, moved: mover
    row('E12', { termination_date: '2026-02-27' }), // date moved later: scheduled leaver
    row('E13', { status: 'Terminated', termination_date: '2025-12-31', title: 'Counsel' }), // gone, changed: update
    row('E14', { employment_type: 'Contractor' }), // mover: employment type
    row('E15', { status: 'Pending', hire_date: '2026-03-05' }), // pending with a new date
    row('E16', { hire_date: '2024-03-04' }), // a corrected past hire date: update
    row('E20', { termination_date: '2026-02-28' }), // new, leaving later: a joiner now
    row('E21', { status: 'Pending', hire_date: '2026-02-11' }), // new, tomorrow: pending
    row('E22', { status: 'Terminated', termination_date: '2026-01-31' }), // never imported: skipped
    row('E23', { hire_date: TODAY }), // new today: joiner
    row('E24', { termination_date: '2026-02-10' }), // new, leaving today: skipped
  );

  it('gives the class the issue defines for each case', () => {
    expect(classesOf(expectedChanges(before, after, TODAY))).to.deep.equal({
      E1: 'unchanged', E10: 'joiner', E11: 'mover', E12: 'scheduled-leaver', E13: 'update', E14: 'mover', E15: 'pending', E16: 'update',
      E2: 'mover', E20: 'joiner', E21: 'pending', E22: 'skipped', E23: 'joiner', E24: 'skipped', E3: 'unchanged',
      E4: 'update', E5: 'leaver', E6: 'leaver', E7: 'rehire', E8: 'unchanged', E9: 'pending',
    });
  });

  it('sets a new future termination date on an active person as a scheduled leaver, even with a move', () => {
    const classes = expectedChanges(feed(row('E1')), feed(row('E1', { termination_date: '2026-03-01', department: 'Sales' })), TODAY);
    expect(classes.get('E1')).to.equal('scheduled-leaver');
  });

  it('takes stored statuses from the caller when given, else from the previous feed', () => {
    const prev = feed(row('E1'), row('E2'), row('E3', { status: 'Terminated', termination_date: '2026-01-01' }));
    const next = feed(row('E1'), row('E2'), row('E3', { status: 'Terminated', termination_date: '2026-01-01' }));
    expect(classesOf(expectedChanges(prev, next, TODAY))).to.deep.equal({ E1: 'unchanged', E2: 'unchanged', E3: 'unchanged' });
    // E1 terminated in the store and active in the feed is back; E2 still pending; E3 was never imported.
    const stored = new Map([['E1', 'terminated' as const], ['E2', 'pending' as const], ['E3', undefined]]);
    expect(classesOf(expectedChanges(prev, next, TODAY, stored))).to.deep.equal({ E1: 'rehire', E2: 'joiner', E3: 'skipped' });
  });

  it('leaves rows it is told to ignore out of the classes and the store', () => {
    const e = expectFeed(new Map(), feed(row('E1'), row('E2'), row('E2', { work_email: 'x@example.com' })), TODAY, new Set(['E2']));
    expect([...e.classes.keys()]).to.deep.equal(['E1']);
    expect([...e.after.keys()]).to.deep.equal(['E1']);
    expect(() => expectFeed(new Map(), feed(row('E1'), row('E1')), TODAY)).to.throw(/twice/);
  });

  it('makes absent people leavers only when asked, and never the ones already gone', () => {
    const store = storeFromFeed(feed(row('E1'), row('E2', { status: 'Pending', hire_date: '2026-03-01' }), row('E3', { status: 'Terminated', termination_date: '2026-01-01' }), row('E4')));
    const next = feed(row('E4'));
    expect(expectFeed(store, next, TODAY).counts.leaver).to.equal(0);
    const e = expectFeed(store, next, TODAY, { absentIsLeaver: true });
    expect(classesOf(e.classes)).to.deep.equal({ E1: 'leaver', E2: 'leaver', E4: 'unchanged' });
    expect(e.after.get('E2')!.status).to.equal('terminated');
    // a row left out on purpose is still present in the file
    expect(expectFeed(store, feed(row('E1'), row('E2', { status: 'Pending', hire_date: '2026-03-01' }), row('E4')), TODAY, { absentIsLeaver: true, ignoreIds: new Set(['E1']) }).counts.leaver).to.equal(0);
  });

  it('runs effective dates: due starts become active, due terminations terminated, nothing else moves', () => {
    const store = storeFromFeed(feed(
      row('E1', { status: 'Pending', hire_date: '2026-02-12' }), row('E2', { status: 'Pending', hire_date: '2026-02-13' }),
      row('E3', { termination_date: '2026-02-12' }), row('E4', { termination_date: '2026-02-13' }), row('E5'),
    ));
    const { after, started, terminated } = applyEffectiveDates(store, '2026-02-12');
    expect(started).to.deep.equal(['E1']);
    expect(terminated).to.deep.equal(['E3']);
    expect(Object.fromEntries([...after].map(([id, s]) => [id, s.status]))).to.deep.equal({
      E1: 'active', E2: 'pending', E3: 'terminated', E4: 'active', E5: 'active',
    });
  });
});

describe('HR expectations: generated feeds', function () {
  this.timeout(120_000);

  it('day 0 makes everyone a joiner (the generator hires nobody later and fires nobody on day 0)', () => {
    const csv = generateFeed({ count: 800, day: 0, seed: 5 });
    const e = expectFeed(new Map(), csv, DAY0);
    expect(e.counts.joiner).to.equal(800);
    expect(Object.values(e.counts).reduce((a, b) => a + b, 0)).to.equal(800);
  });

  it('a feed read first on a later day gives only joiners, pending and skipped, as its status words say', () => {
    const csv = generateFeed({ count: 800, day: 30, seed: 5, churn: 0.02 });
    const rows = readFeed(csv);
    const e = expectFeed(new Map(), csv, dayDate(DAY0, 30));
    expect(e.counts.joiner).to.equal(rows.filter((r) => r.status === 'active').length);
    expect(e.counts.pending).to.equal(rows.filter((r) => r.status === 'pending').length).and.to.be.greaterThan(0);
    expect(e.counts.skipped).to.equal(rows.filter((r) => r.status === 'terminated').length).and.to.be.greaterThan(0);
    expect(e.counts.joiner + e.counts.pending + e.counts.skipped).to.equal(rows.length);
    expect([...e.after.values()].every((s) => s.status !== 'terminated')).to.equal(true);
  });

  it('a feed compared with itself is unchanged throughout, on any day', () => {
    for (const day of [0, 7, 25]) {
      const csv = generateFeed({ count: 600, day, seed: 8, churn: 0.03 });
      const store = storeFromFeed(csv);
      const e = expectFeed(store, csv, dayDate(DAY0, day));
      expect(e.counts.unchanged, `day ${day}`).to.equal(readFeed(csv).length);
      // ...including the pending, terminated and scheduled-to-leave people it holds.
      if (day > 0) expect([...store.values()].filter((s) => s.status !== 'active' || s.person.terminationDate !== null)).to.not.be.empty;
    }
  });

  /**
   * Day 1 against day 0 for a seed. Every one of the day's `changes` picks is a joiner (2/9), a
   * mover (5/9) or a leaver (2/9, a quarter of them dated later), and a rehire brings back one of
   * the day's leavers; besides, a leaver's reports move to the leaver's manager. Each pick shows as
   * at most one class, so the class counts, once the reassigned reports are set apart, add up to
   * at most `changes`; misses are only picks that change nothing (a move to the same value, a
   * second pick of one person), which are rare.
   */
  for (const seed of [1, 4, 9]) {
    it(`day 1 against day 0 (seed ${seed}): the generator's churn mix, person by person`, () => {
      const count = 3000;
      const churn = 0.03;
      const changes = Math.round(count * churn);
      const today = dayDate(DAY0, 1);
      const d0 = generateFeed({ count, day: 0, seed, churn, day0: DAY0 });
      const d1 = generateFeed({ count, day: 1, seed, churn, day0: DAY0 });
      const stored = expectFeed(new Map(), d0, DAY0).after;
      const e = expectFeed(stored, d1, today);
      const prev = new Map(readFeed(d0).map((p) => [p.employeeId, p]));
      const next = new Map(readFeed(d1).map((p) => [p.employeeId, p]));

      expect(Object.values(e.counts).reduce((a, b) => a + b, 0)).to.equal(next.size);
      // Nobody was terminated on day 0, so nobody can be rehired or skipped on day 1.
      expect(e.counts.rehire).to.equal(0);
      expect(e.counts.skipped).to.equal(0);

      // New employee ids are the day's joiner picks, about 30% of them starting later.
      const fresh = [...next.keys()].filter((id) => !prev.has(id)).sort();
      expect([...e.ids('joiner'), ...e.ids('pending')].sort()).to.deep.equal(fresh);
      for (const id of e.ids('pending')) expect(next.get(id)!.hireDate! > today).to.equal(true);
      for (const id of e.ids('joiner')) expect(next.get(id)!.hireDate).to.equal(today);

      // Leavers leave today; scheduled leavers within the two weeks the generator uses.
      for (const id of e.ids('leaver')) expect(next.get(id)!.terminationDate).to.equal(today);
      for (const id of e.ids('scheduled-leaver')) {
        const date = next.get(id)!.terminationDate!;
        expect(date > today && date <= dayDate(today, 14), `${id} leaves on ${date}`).to.equal(true);
      }

      // Updates: only day-1 leavers rehired the same day (a new hire date, no termination date).
      for (const id of e.ids('update')) {
        expect(changedFields(prev.get(id)!, next.get(id)!)).to.include('hireDate');
        expect(next.get(id)!.hireDate).to.equal(today);
      }
      // the generator rehires at least two of the day's leavers (floor(90 × 3% + rand))
      expect(e.counts.update).to.be.within(1, Math.floor(changes * 0.03) + 1);

      // Movers: either picked, or a report handed to their departing manager's manager (a manager
      // who left today, and may have been rehired the same day).
      const reassigned = e.ids('mover').filter((id) => {
        const before = prev.get(id)!;
        const after = next.get(id)!;
        const fields = changedFields(before, after);
        const manager = next.get(before.managerId ?? '');
        return fields.length === 1 && fields[0] === 'managerId' && after.managerId === prev.get(before.managerId!)?.managerId
          && manager !== undefined && (manager.terminationDate === today || manager.hireDate === today);
      });
      const movers = e.counts.mover - reassigned.length;

      const joiners = e.counts.joiner + e.counts.pending;
      const leavers = e.counts.leaver + e.counts['scheduled-leaver'];
      const picks = joiners + movers + leavers + e.counts.update;
      expect(picks, 'classes from picks').to.be.at.most(changes).and.at.least(Math.floor(changes * 0.85));
      const within = (n: number, p: number, what: string) => {
        const sd = Math.sqrt(changes * p * (1 - p));
        expect(n, `${what}: ${n} of ${changes}, expected about ${(changes * p).toFixed(1)}`).to.be.within(changes * p - 4 * sd, changes * p + 4 * sd);
      };
      within(joiners, 2 / 9, 'joiners');
      within(leavers, 2 / 9, 'leavers');
      within(movers, 5 / 9, 'movers');
      expect(e.counts.pending / joiners).to.be.within(0.05, 0.6);
      expect(e.counts['scheduled-leaver'] / leavers).to.be.within(0.02, 0.6);
      expect(e.counts.unchanged).to.equal(next.size - fresh.length - (e.counts.mover + leavers + e.counts.update));
    });
  }

  it('a chain of days: every class shows up, and the store follows the feed', () => {
    const count = 400;
    const churn = 0.03;
    let store: Map<string, StoredExpectation> = new Map();
    const totals = Object.fromEntries(EXPECTED_CLASSES.map((c) => [c, 0])) as Record<ExpectedClass, number>;
    for (let day = 0; day <= 12; day++) {
      const csv = generateFeed({ count, day, seed: 7, churn });
      const today = dayDate(DAY0, day);
      const e = expectFeed(store, csv, today);
      for (const c of EXPECTED_CLASSES) totals[c] += day === 0 ? 0 : e.counts[c];
      store = e.after;
      // What hrgen says each person's status is today is what the store holds after the feed.
      for (const p of readFeed(csv)) {
        const expected = p.status === 'terminated' ? 'terminated' : p.status === 'pending' ? 'pending' : 'active';
        expect(store.get(p.employeeId)?.status, `${p.employeeId} on day ${day}`).to.equal(expected);
      }
      // Fed again, the same file changes nothing.
      expect(expectFeed(store, csv, today).counts.unchanged).to.equal(readFeed(csv).length);
    }
    for (const c of ['joiner', 'pending', 'mover', 'leaver', 'scheduled-leaver', 'rehire', 'unchanged'] as const) {
      expect(totals[c], `${c} over twelve days`).to.be.greaterThan(0);
    }
    // Imported from day 0, everyone who was ever terminated was stored first.
    expect(totals.skipped).to.equal(0);
  });

  it('with the effective-dates job run before each feed, the feed finds due starts and leavings done', () => {
    let store: Map<string, StoredExpectation> = expectFeed(new Map(), generateFeed({ count: 400, day: 0, seed: 7, churn: 0.03 }), DAY0).after;
    let started = 0;
    let ended = 0;
    for (let day = 1; day <= 12; day++) {
      const today = dayDate(DAY0, day);
      const job = applyEffectiveDates(store, today);
      started += job.started.length;
      ended += job.terminated.length;
      const e = expectFeed(job.after, generateFeed({ count: 400, day, seed: 7, churn: 0.03 }), today);
      for (const id of [...job.started, ...job.terminated]) expect(['unchanged', 'mover', 'update']).to.include(e.classes.get(id));
      // joiners are only new people now: a stored pending person never reaches the feed on their start date
      for (const id of e.ids('joiner')) expect(job.after.has(id)).to.equal(false);
      store = e.after;
    }
    expect(started).to.be.greaterThan(0);
    expect(ended).to.be.greaterThan(0);
  });

  it('names the changed fields without case or padding noise', () => {
    const [a, b] = readFeed(feed(row('E1', { first_name: 'Ana', work_email: 'A@X.COM' }), row('E2', { first_name: ' ANA ', work_email: 'a@x.com', title: 'Counsel' })));
    expect(changedFields(a as FeedPerson, b as FeedPerson)).to.deep.equal(['title']);
  });
});

describe('HR expectations: editing feeds', () => {
  it('writes back what it read, byte for byte, for a generated feed', () => {
    const csv = generateFeed({ count: 500, day: 3, seed: 2 });
    expect(editFeed(csv)).to.equal(csv);
  });

  it('changes, drops and adds rows by column name', () => {
    const csv = feed(row('E1'), row('E2', { last_name: "O'Brien, Jr." }), row('E3'));
    const edited = editFeed(csv, (c) => (c.employee_id === 'E3' ? null : { ...c, title: c.employee_id === 'E1' ? 'Staff "Engineer"' : c.title! }),
      [{ employee_id: 'E4', first_name: ' Li ', work_email: 'li@example.com' }]);
    const people = readFeed(edited);
    expect(people.map((p) => p.employeeId)).to.deep.equal(['E1', 'E2', 'E4']);
    expect(people[0]!.title).to.equal('Staff "Engineer"');
    expect(people[1]!.familyName).to.equal("O'Brien, Jr.");
    expect(people[2]!.givenName).to.equal('Li');
    expect(people[2]!.department).to.equal(null);
    expect(readCsvRecords(edited)[3]!.cells[1]).to.equal(' Li ');
  });
});
