/*
 * What an HR feed from test/support/hrgen.mjs should do to the identity store, worked out from the
 * issue's definitions alone: a CSV reader of its own and a classification of its own, so a test
 * that compares the server's report with these expectations checks the server's reading and
 * classification rather than repeating them. Nothing here imports src/.
 *
 * The classes, for a row compared with what is stored under its employee id:
 * - not stored: terminated (or termination date reached) → skipped, nothing to take away;
 *   hire date after today → pending; otherwise → joiner.
 * - stored terminated: still leaving → update when an attribute differs, else unchanged;
 *   back with a later start → pending; back now → rehire (the same identity).
 * - stored pending: leaving → leaver; start still later → pending when something changed, else
 *   unchanged; start reached → joiner.
 * - stored active: leaving → leaver; a future termination date that differs from the stored
 *   one → scheduled-leaver; a change of department, title, manager, location, cost center or
 *   employment type → mover; any other change (names, email, dates) → update; else unchanged.
 * Names and emails compare without case; every value is trimmed, inner whitespace collapsed and
 * put in Unicode NFC first, so the generator's padded cells and mixed-case emails are noise.
 * hrgen writes a future hire as status "Pending" and a reached termination as "Terminated"; both
 * the status word and the dates are read, as an HR system may send either.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type ExpectedClass =
  | 'joiner' | 'pending' | 'mover' | 'update' | 'leaver' | 'scheduled-leaver' | 'rehire' | 'unchanged' | 'skipped';

export const EXPECTED_CLASSES: readonly ExpectedClass[] = Object.freeze([
  'joiner', 'pending', 'mover', 'update', 'leaver', 'scheduled-leaver', 'rehire', 'unchanged', 'skipped',
]);

export type StoredStatus = 'active' | 'pending' | 'terminated';

/** One person as a feed row states them, normalised for comparison (null for an empty cell). */
export interface FeedPerson {
  /** the line of the file the row starts on (the header is line 1) */
  line: number;
  employeeId: string;
  givenName: string | null;
  familyName: string | null;
  preferredName: string | null;
  /** trimmed and lowercased */
  email: string | null;
  department: string | null;
  title: string | null;
  managerId: string | null;
  location: string | null;
  costCenter: string | null;
  employmentType: string | null;
  /** the status word lowercased: active, pending, terminated, leave, … */
  status: string;
  hireDate: string | null;
  terminationDate: string | null;
  githubLogin: string | null;
}

/** Attributes whose change makes a mover: what birthright rules and approvals look at. */
export const MOVER_FIELDS = ['department', 'title', 'managerId', 'location', 'costCenter', 'employmentType'] as const;
/** Attributes whose change alone is an update. */
export const UPDATE_FIELDS = ['givenName', 'familyName', 'preferredName', 'email', 'hireDate', 'terminationDate'] as const;
type ComparedField = (typeof MOVER_FIELDS)[number] | (typeof UPDATE_FIELDS)[number];
const COMPARED: readonly ComparedField[] = [...MOVER_FIELDS, ...UPDATE_FIELDS];
const CASE_INSENSITIVE = new Set<ComparedField>(['givenName', 'familyName', 'preferredName', 'email']);

/**
 * RFC 4180 records of a CSV text: quoted cells may hold commas, line breaks and doubled quotes;
 * lines end in CRLF or LF; a leading BOM is dropped; blank lines are skipped. Each record carries
 * the line it starts on.
 */
export function readCsvRecords(text: string): Array<{ line: number; cells: string[] }> {
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let inQuotes = false;
  let touched = false;
  let line = 1;
  let start = 1;
  const endRecord = () => {
    if (touched) records.push({ line: start, cells: [...cells, cell] });
    cells = [];
    cell = '';
    touched = false;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (inQuotes) {
      if (c === '"') {
        if (src[i + 1] === '"') { cell += '"'; i++; } else inQuotes = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
    } else if (c === '"') {
      inQuotes = true;
      touched = true;
    } else if (c === ',') {
      cells.push(cell);
      cell = '';
      touched = true;
    } else if (c === '\r' || c === '\n') {
      if (c === '\r' && src[i + 1] === '\n') i++;
      endRecord();
      line++;
      start = line;
    } else {
      cell += c;
      touched = true;
    }
  }
  if (inQuotes) throw new Error(`CSV: quoted cell opened on line ${start} never closes`);
  endRecord();
  return records;
}

/** Trimmed, inner whitespace collapsed, NFC; empty as null. */
export function clean(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.normalize('NFC').replace(/\s+/g, ' ').trim();
  return v === '' ? null : v;
}

/** The rows of an hrgen CSV feed, keyed by header name (matched trimmed and without case). */
export function readFeed(csv: string): FeedPerson[] {
  const [header, ...rows] = readCsvRecords(csv);
  if (!header) return [];
  const index = new Map(header.cells.map((name, i) => [name.trim().toLowerCase(), i]));
  const at = (cells: string[], name: string) => {
    const i = index.get(name);
    return i === undefined ? undefined : cells[i];
  };
  return rows.map(({ line, cells }) => {
    const get = (name: string) => clean(at(cells, name));
    return {
      line,
      employeeId: get('employee_id') ?? '',
      givenName: get('first_name'),
      familyName: get('last_name'),
      preferredName: get('preferred_name'),
      email: get('work_email')?.toLowerCase() ?? null,
      department: get('department'),
      title: get('title'),
      managerId: get('manager_id'),
      location: get('location'),
      costCenter: get('cost_center'),
      employmentType: get('employment_type'),
      status: (get('status') ?? '').toLowerCase(),
      hireDate: get('hire_date'),
      terminationDate: get('termination_date'),
      githubLogin: get('github_login'),
    };
  });
}

/** What the store holds about one employee id once feeds are applied. */
export interface StoredExpectation {
  status: StoredStatus;
  person: FeedPerson;
}
export type ExpectedStore = ReadonlyMap<string, StoredExpectation>;

export interface FeedExpectation {
  /** the expected class of each row, by employee id */
  classes: Map<string, ExpectedClass>;
  counts: Record<ExpectedClass, number>;
  /** the store once the feed is applied */
  after: Map<string, StoredExpectation>;
  /** employee ids of one class, sorted */
  ids(kind: ExpectedClass): string[];
}

/** The attributes that differ between two versions of a person, after normalisation. */
export function changedFields(before: FeedPerson, after: FeedPerson): ComparedField[] {
  const form = (f: ComparedField, v: string | null) => (v !== null && CASE_INSENSITIVE.has(f) ? v.toLowerCase() : v);
  return COMPARED.filter((f) => form(f, before[f]) !== form(f, after[f]));
}

/** One row's class against what is stored under its id, and the status it leaves stored (null: nothing stored). */
function classify(row: FeedPerson, stored: StoredExpectation | undefined, today: string): { kind: ExpectedClass; status: StoredStatus | null } {
  const leaving = row.status === 'terminated' || (row.terminationDate !== null && row.terminationDate <= today);
  const startsLater = row.hireDate !== null && row.hireDate > today;
  if (!stored) {
    if (leaving) return { kind: 'skipped', status: null };
    return startsLater ? { kind: 'pending', status: 'pending' } : { kind: 'joiner', status: 'active' };
  }
  const changed = changedFields(stored.person, row);
  switch (stored.status) {
    case 'terminated':
      if (leaving) return { kind: changed.length ? 'update' : 'unchanged', status: 'terminated' };
      return startsLater ? { kind: 'pending', status: 'pending' } : { kind: 'rehire', status: 'active' };
    case 'pending':
      if (leaving) return { kind: 'leaver', status: 'terminated' };
      if (startsLater) return { kind: changed.length ? 'pending' : 'unchanged', status: 'pending' };
      return { kind: 'joiner', status: 'active' };
    case 'active':
      if (leaving) return { kind: 'leaver', status: 'terminated' };
      if (row.terminationDate !== null && row.terminationDate !== stored.person.terminationDate) return { kind: 'scheduled-leaver', status: 'active' };
      if (changed.some((f) => (MOVER_FIELDS as readonly string[]).includes(f))) return { kind: 'mover', status: 'active' };
      return { kind: changed.length ? 'update' : 'unchanged', status: 'active' };
  }
}

/** An empty count per class. */
export function zeroCounts(): Record<ExpectedClass, number> {
  return Object.fromEntries(EXPECTED_CLASSES.map((c) => [c, 0])) as Record<ExpectedClass, number>;
}

export interface ExpectFeedOptions {
  /** rows to leave out (rows a test broke on purpose and expects rejected); their ids still count as present */
  ignoreIds?: ReadonlySet<string>;
  /** a stored active or pending person missing from the file leaves (a snapshot so configured) */
  absentIsLeaver?: boolean;
}

/**
 * What importing `feedCsv` as a snapshot on `today` should do to `store`. Absence from the file
 * changes nothing unless `absentIsLeaver`. A set of ids as the last argument is `ignoreIds`.
 */
export function expectFeed(
  store: ExpectedStore, feedCsv: string | readonly FeedPerson[], today: string, options: ExpectFeedOptions | ReadonlySet<string> = {},
): FeedExpectation {
  const { ignoreIds = new Set<string>(), absentIsLeaver = false } = options instanceof Set ? { ignoreIds: options } : options as ExpectFeedOptions;
  const rows = typeof feedCsv === 'string' ? readFeed(feedCsv) : feedCsv;
  const classes = new Map<string, ExpectedClass>();
  const counts = zeroCounts();
  const after = new Map(store);
  for (const row of rows) {
    if (ignoreIds.has(row.employeeId)) continue;
    if (classes.has(row.employeeId)) throw new Error(`expectations: employee id ${row.employeeId} appears twice; list it in ignoreIds`);
    const { kind, status } = classify(row, store.get(row.employeeId), today);
    classes.set(row.employeeId, kind);
    counts[kind]++;
    if (status !== null) after.set(row.employeeId, { status, person: row });
  }
  if (absentIsLeaver) {
    const present = new Set(rows.map((r) => r.employeeId));
    for (const [id, s] of store) {
      if (present.has(id) || s.status === 'terminated') continue;
      classes.set(id, 'leaver');
      counts.leaver++;
      after.set(id, { ...s, status: 'terminated' });
    }
  }
  return {
    classes, counts, after,
    ids: (kind) => [...classes].filter(([, k]) => k === kind).map(([id]) => id).sort(),
  };
}

/**
 * The store a feed leaves when every row of it was applied: hrgen's status words (Terminated,
 * Pending, Active) say each person's status; `statusByEmployeeId` overrides them (an id mapped to
 * undefined is taken as never stored).
 */
export function storeFromFeed(feedCsv: string, statusByEmployeeId?: ReadonlyMap<string, StoredStatus | undefined>): Map<string, StoredExpectation> {
  const store = new Map<string, StoredExpectation>();
  for (const person of readFeed(feedCsv)) {
    const fromFeed: StoredStatus = person.status === 'terminated' ? 'terminated' : person.status === 'pending' ? 'pending' : 'active';
    const status = statusByEmployeeId && statusByEmployeeId.has(person.employeeId) ? statusByEmployeeId.get(person.employeeId) : fromFeed;
    if (status !== undefined) store.set(person.employeeId, { status, person });
  }
  return store;
}

/**
 * The expected class of each row of `feedCsv` imported on `today`, by employee id, when the
 * previous feed (null: none, an empty store) was applied before it. Stored statuses come from the
 * previous feed's status words unless `storedStatusByEmployeeId` gives them.
 */
export function expectedChanges(
  previousFeedCsv: string | null,
  feedCsv: string,
  today: string,
  storedStatusByEmployeeId?: ReadonlyMap<string, StoredStatus | undefined>,
): Map<string, ExpectedClass> {
  const store = previousFeedCsv === null ? new Map<string, StoredExpectation>() : storeFromFeed(previousFeedCsv, storedStatusByEmployeeId);
  return expectFeed(store, feedCsv, today).classes;
}

/**
 * The effective-dates job on `today`: pending people whose hire date has come become active,
 * active people whose termination date has come become terminated.
 */
export function applyEffectiveDates(store: ExpectedStore, today: string): { after: Map<string, StoredExpectation>; started: string[]; terminated: string[] } {
  const after = new Map(store);
  const started: string[] = [];
  const terminated: string[] = [];
  for (const [id, s] of store) {
    if (s.status === 'pending' && (s.person.hireDate === null || s.person.hireDate <= today)) {
      after.set(id, { ...s, status: 'active' });
      started.push(id);
    } else if (s.status === 'active' && s.person.terminationDate !== null && s.person.terminationDate <= today) {
      after.set(id, { ...s, status: 'terminated' });
      terminated.push(id);
    }
  }
  return { after, started: started.sort(), terminated: terminated.sort() };
}

// --- the generator -------------------------------------------------------------------------

const HRGEN = fileURLToPath(new URL('./hrgen.mjs', import.meta.url));

/** hrgen's day-0 date unless --today says otherwise. */
export const HRGEN_DEFAULT_TODAY = '2026-01-05';

export interface GenerateOptions {
  count: number;
  day: number;
  seed?: number;
  churn?: number;
  /** the date of day 0 (hrgen's --today); day N is this date plus N days */
  day0?: string;
  format?: 'csv' | 'json';
}

/**
 * Runs hrgen. Its --today is the date of day 0, not of day N: day N describes the company on
 * day0 + N, so a test's clock for day N is dayDate(day0, N).
 */
export function generateFeed({ count, day, seed = 1, churn = 0.01, day0 = HRGEN_DEFAULT_TODAY, format = 'csv' }: GenerateOptions): string {
  const args = ['--count', String(count), '--day', String(day), '--seed', String(seed), '--churn', String(churn), '--today', day0, '--format', format];
  return execFileSync(process.execPath, [HRGEN, ...args], { maxBuffer: 1 << 30 }).toString('utf8');
}

/** The date (YYYY-MM-DD) `days` after `day0`. */
export function dayDate(day0: string, days: number): string {
  return new Date(Date.parse(`${day0}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

// --- editing feeds ---------------------------------------------------------------------------

/** A cell as hrgen writes it: quoted when it holds a quote, comma or line break, or has padding. */
function csvCell(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim() ? `"${value.replace(/"/g, '""')}"` : value;
}

/** CSV text of records, one per line, LF line ends. */
export function writeCsv(records: readonly (readonly string[])[]): string {
  return records.map((cells) => cells.map(csvCell).join(',')).join('\n') + '\n';
}

/**
 * A copy of a feed with rows changed, dropped and added, working on header-keyed cells: `edit`
 * returns the row's new cells, or null to drop it; `extra` rows go at the end (missing columns
 * empty). Broken feeds for tests are made with it.
 */
export function editFeed(
  csv: string,
  edit: (cells: Record<string, string>) => Record<string, string> | null = (cells) => cells,
  extra: ReadonlyArray<Record<string, string>> = [],
): string {
  const [header, ...rows] = readCsvRecords(csv);
  if (!header) throw new Error('editFeed: the feed has no header');
  const names = header.cells;
  const keyed = (cells: string[]) => Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
  const out: string[][] = [names];
  for (const { cells } of rows) {
    const edited = edit(keyed(cells));
    if (edited !== null) out.push(names.map((n) => edited[n] ?? ''));
  }
  for (const row of extra) out.push(names.map((n) => row[n] ?? ''));
  return writeCsv(out);
}
