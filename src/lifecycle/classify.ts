/*
 * Classification of an HR feed against the stored identities: what each row means for the
 * lifecycle (joiner, pending, mover, update, leaver, scheduled leaver, rehire, unchanged, skipped)
 * and which rows cannot be applied. Pure: no database, no clock; `today` is passed in, so effective
 * dates are decided by the caller's clock and tests can move it.
 *
 * Choices worth knowing:
 * - Name and email changes are an `update`, not a `mover`: they must be written (and pushed to
 *   targets) but do not change what a person should hold, so no birthright recomputation.
 * - One entry per row. When several things happen at once, leaving wins over everything; then,
 *   by stored status: terminated → rehire (or pending with `rehire: true` if the start is later);
 *   pending → joiner once the start date has come; active → scheduled leaver > mover > update.
 *   Every entry compared with a stored person carries all its `changes` plus the `moved` subset,
 *   so a scheduled leaver who also changes department still has its mover actions run.
 * - An active identity is never demoted to pending by a later hire date: it already has access.
 * - HR status `leave` (leave of absence) counts as employed; suspension is a policy decision,
 *   not a classification.
 * - A terminated row for an employee id that was never stored is `skipped`: there is nothing to
 *   take away, and creating an identity for someone already gone would only make noise.
 * - A manager is known if stored, or if their row in the same feed is applied (a leaver's row is
 *   applied, so a manager leaving in the same feed is known). Rows whose manager is not known are
 *   rejected, and that cascades to their own reports when they are new. Rows that make a leaver
 *   are never rejected for an unknown manager: a dangling manager reference on a departing person
 *   is harmless, keeping their access is not; a warning says so.
 */
import { z } from 'zod';
import { normaliseText } from './hr-feed/read.js';
import type { HrRecord, RejectedRow } from './hr-record.js';

/** The attributes compared between a feed row and a stored identity. */
export const PERSON_ATTRIBUTES = [
  'givenName', 'familyName', 'preferredName', 'email', 'department', 'title', 'managerEmployeeId',
  'location', 'costCenter', 'employmentType', 'hireDate', 'terminationDate',
] as const;
export type PersonAttribute = (typeof PERSON_ATTRIBUTES)[number];

/** Attributes that may be configured to make a mover; the dates drive other classes instead. */
export const MOVABLE_ATTRIBUTES = [
  'givenName', 'familyName', 'preferredName', 'email', 'department', 'title', 'managerEmployeeId',
  'location', 'costCenter', 'employmentType',
] as const satisfies readonly PersonAttribute[];
export type MovableAttribute = (typeof MOVABLE_ATTRIBUTES)[number];

/** What makes a mover unless configured otherwise: what birthright rules and approvals look at. */
export const DEFAULT_MOVER_ATTRIBUTES: readonly MovableAttribute[] = Object.freeze([
  'department', 'title', 'managerEmployeeId', 'location', 'costCenter', 'employmentType',
]);

/** Names and emails are compared without case: HR systems and people retype them freely. */
const CASE_INSENSITIVE: ReadonlySet<PersonAttribute> = new Set(['givenName', 'familyName', 'preferredName', 'email']);

export type PersonAttributes = Pick<HrRecord, PersonAttribute>;

/** The lifecycle status of a stored identity. */
export type StoredStatus = 'active' | 'terminated' | 'pending';

/** What classification needs to know about a stored identity; values may be un-normalised. */
export interface StoredPerson extends PersonAttributes {
  identityId: string;
  employeeId: string;
  status: StoredStatus;
}

export type FeedKind = 'snapshot' | 'delta';

export interface ClassifyOptions {
  kind: FeedKind;
  /** ISO date (YYYY-MM-DD) that effective dates are compared with */
  today: string;
  /** snapshot only: a stored active or pending identity missing from the file is a leaver */
  absentIsLeaver?: boolean;
  /** attributes whose change makes a mover; default DEFAULT_MOVER_ATTRIBUTES */
  moverAttributes?: readonly MovableAttribute[];
  /**
   * Rows the feed reader already rejected. Their employee ids are in the file, so their absence
   * never makes a leaver; they are reported in the plan's `rejected` with the others.
   */
  rejectedByReader?: readonly RejectedRow[];
  /**
   * Lowercased userNames held by identities that are not stored people (no employee id, so no
   * feed row can be theirs), with the identity id: a row with such an email is rejected.
   */
  takenUserNames?: ReadonlyMap<string, string>;
}

const optionsSchema = z.object({
  kind: z.enum(['snapshot', 'delta']),
  today: z.iso.date(),
  absentIsLeaver: z.boolean().default(false),
  moverAttributes: z.array(z.enum(MOVABLE_ATTRIBUTES)).default([...DEFAULT_MOVER_ATTRIBUTES]),
}).refine((o) => o.kind === 'snapshot' || !o.absentIsLeaver, {
  message: 'absentIsLeaver applies to snapshots only: absence from a delta means nothing',
  path: ['absentIsLeaver'],
});

export interface AttributeChange {
  attribute: PersonAttribute;
  /** the stored value as stored */
  from: string | null;
  /** the feed's value */
  to: string | null;
}

interface FromRow {
  employeeId: string;
  row: number;
  record: HrRecord;
  /** every attribute that differs from the stored person after normalisation; empty for new people */
  changes: AttributeChange[];
  /** the changed attributes that make a mover */
  moved: MovableAttribute[];
}
interface OfStored {
  identityId: string;
  stored: StoredPerson;
}
interface MaybeStored {
  /** the stored pending (or terminated) identity this row activates; null for a new person */
  identityId: string | null;
  stored: StoredPerson | null;
}

/** A new person starting today or earlier, or a stored pending identity whose start date came. */
export interface JoinerEntry extends FromRow, MaybeStored { kind: 'joiner' }
/** A person who starts later: an identity without access until `startsOn`. */
export interface PendingEntry extends FromRow, MaybeStored {
  kind: 'pending';
  startsOn: string;
  /** a terminated identity coming back later: the same identity is reused on `startsOn` */
  rehire: boolean;
}
/** An active person whose mover attributes changed. */
export interface MoverEntry extends FromRow, OfStored { kind: 'mover' }
/**
 * A change that moves nothing: names, email, dates (a cancelled scheduled termination shows here
 * as terminationDate going to null), or attributes of someone already gone.
 */
export interface UpdateEntry extends FromRow, OfStored { kind: 'update' }
/** A terminated identity active again: the same identity, never a new one. */
export interface RehireEntry extends FromRow, OfStored { kind: 'rehire' }
/** An active person whose termination date was set or moved and lies after today. */
export interface ScheduledLeaverEntry extends FromRow, OfStored { kind: 'scheduled-leaver'; leavesOn: string }
export interface UnchangedEntry extends FromRow, OfStored { kind: 'unchanged' }
/** A row with nothing to do and nothing to store: terminated before it was ever imported. */
export interface SkippedEntry extends FromRow { kind: 'skipped'; identityId: null; stored: null; reason: string }
/** A person losing access today. */
export interface RowLeaverEntry extends FromRow, OfStored {
  kind: 'leaver';
  reason: 'terminated' | 'termination-date-reached';
  /** the termination date when it has been reached, otherwise today */
  effectiveDate: string;
}
/** A stored person missing from a snapshot, when absence is configured to mean leaving. */
export interface AbsentLeaverEntry extends OfStored {
  kind: 'leaver';
  reason: 'absent-from-snapshot';
  employeeId: string;
  row: null;
  record: null;
  changes: [];
  moved: [];
  effectiveDate: string;
}
export type LeaverEntry = RowLeaverEntry | AbsentLeaverEntry;

export type PlanEntry =
  | JoinerEntry | PendingEntry | MoverEntry | UpdateEntry | RehireEntry | ScheduledLeaverEntry
  | UnchangedEntry | SkippedEntry | LeaverEntry;
export type PlanClass = PlanEntry['kind'];

export const PLAN_CLASSES: readonly PlanClass[] = Object.freeze([
  'joiner', 'pending', 'mover', 'update', 'leaver', 'scheduled-leaver', 'rehire', 'unchanged', 'skipped',
]);

export interface FeedPlan {
  kind: FeedKind;
  today: string;
  /** one entry per applied row, in row order, then leavers by absence in employee id order */
  entries: PlanEntry[];
  /** the reader's rejections and classification's, in row order */
  rejected: RejectedRow[];
  counts: Record<PlanClass | 'rejected', number>;
  /** things applied despite a problem, and absence checks not made */
  warnings: string[];
}

/**
 * The form an attribute value is compared in: Unicode NFC, inner whitespace collapsed, trimmed,
 * empty as null; names and email also lowercased. Used on feed and stored values alike.
 */
export function normaliseAttribute(attribute: PersonAttribute, value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  // The same text normalisation the feed reader applies, so stored values written before it compare alike.
  const collapsed = normaliseText(value);
  if (collapsed === '') return null;
  return CASE_INSENSITIVE.has(attribute) ? collapsed.toLowerCase() : collapsed;
}

/** Every compared attribute of a person in its comparison form (see normaliseAttribute). */
export function normalisePerson(person: PersonAttributes): Record<PersonAttribute, string | null> {
  const out = {} as Record<PersonAttribute, string | null>;
  for (const attribute of PERSON_ATTRIBUTES) out[attribute] = normaliseAttribute(attribute, person[attribute]);
  return out;
}

/** The attributes that differ between a stored person and a feed record, after normalisation. */
export function attributeChanges(stored: PersonAttributes, record: PersonAttributes): AttributeChange[] {
  const before = normalisePerson(stored);
  const after = normalisePerson(record);
  return PERSON_ATTRIBUTES
    .filter((attribute) => before[attribute] !== after[attribute])
    .map((attribute) => ({ attribute, from: stored[attribute], to: record[attribute] }));
}

/** The entries of one class, typed as that class. */
export function entriesOf<K extends PlanClass>(plan: FeedPlan, kind: K): Array<Extract<PlanEntry, { kind: K }>> {
  return plan.entries.filter((entry): entry is Extract<PlanEntry, { kind: K }> => entry.kind === kind);
}

/** Classifies every record against the stored identities (keyed by employee id). */
export function classifyFeed(
  records: readonly HrRecord[],
  stored: ReadonlyMap<string, StoredPerson>,
  options: ClassifyOptions,
): FeedPlan {
  const { kind, today, absentIsLeaver, moverAttributes } = optionsSchema.parse(options);
  const movable = new Set<PersonAttribute>(moverAttributes);
  const rejected: RejectedRow[] = [...(options.rejectedByReader ?? [])];
  const warnings: string[] = [];

  const ordered = [...records].sort((a, b) => a.row - b.row || compareText(a.employeeId, b.employeeId));
  const uniquenessProblems = findUniquenessProblems(ordered, stored, options.takenUserNames ?? new Map());
  let entries: Array<Exclude<PlanEntry, AbsentLeaverEntry>> = [];
  for (const record of ordered) {
    const problem = uniquenessProblems.get(record);
    if (problem) rejected.push({ row: record.row, employeeId: record.employeeId, reason: problem });
    else entries.push(classifyRow(record, stored.get(record.employeeId) ?? null, today, movable));
  }

  const managerProblems = findUnknownManagers(entries, stored);
  entries = entries.filter((entry) => {
    const problem = managerProblems.get(entry);
    if (!problem) return true;
    if (entry.kind === 'leaver' || entry.kind === 'skipped') {
      if (entry.kind === 'leaver') warnings.push(`row ${entry.row} (${entry.employeeId}): ${problem}; the leaver is applied anyway`);
      return true;
    }
    rejected.push({ row: entry.row, employeeId: entry.employeeId, reason: problem });
    return false;
  });

  const all: PlanEntry[] = [...entries];
  if (absentIsLeaver) {
    const unidentified = rejected.filter((r) => r.employeeId === null).length;
    if (unidentified > 0) {
      // A row without a readable employee id may belong to anyone stored: absence proves nothing.
      warnings.push(`${unidentified} rejected row(s) have no employee id, so nobody is made a leaver by absence from this feed`);
    } else {
      const present = new Set([...records.map((r) => r.employeeId), ...rejected.map((r) => r.employeeId!)]);
      all.push(...absentLeavers(stored, present, today));
    }
  }

  rejected.sort((a, b) => a.row - b.row || compareText(a.employeeId ?? '', b.employeeId ?? ''));
  return { kind, today, entries: all, rejected, counts: countByClass(all, rejected.length), warnings };
}

/** The class of one record, given the stored person with its employee id (if any). */
function classifyRow(
  record: HrRecord,
  stored: StoredPerson | null,
  today: string,
  movable: ReadonlySet<PersonAttribute>,
): Exclude<PlanEntry, AbsentLeaverEntry> {
  const terminationDate = normaliseAttribute('terminationDate', record.terminationDate);
  const hireDate = normaliseAttribute('hireDate', record.hireDate);
  const leaving = record.status === 'terminated' || (terminationDate !== null && terminationDate <= today);
  const startsLater = hireDate !== null && hireDate > today;
  const base = { employeeId: record.employeeId, row: record.row, record };

  if (!stored) {
    const fresh = { ...base, changes: [], moved: [], identityId: null, stored: null };
    if (leaving) return { ...fresh, kind: 'skipped', reason: 'terminated before it was ever imported' };
    if (startsLater) return { ...fresh, kind: 'pending', startsOn: hireDate, rehire: false };
    return { ...fresh, kind: 'joiner' };
  }

  const changes = attributeChanges(stored, record);
  const moved = changes.map((c) => c.attribute).filter((a): a is MovableAttribute => movable.has(a));
  const known = { ...base, changes, moved, identityId: stored.identityId, stored };
  const leaver = (): RowLeaverEntry => ({
    ...known,
    kind: 'leaver',
    reason: record.status === 'terminated' ? 'terminated' : 'termination-date-reached',
    effectiveDate: terminationDate !== null && terminationDate <= today ? terminationDate : today,
  });
  const updateOrUnchanged = (): UpdateEntry | UnchangedEntry => ({ ...known, kind: changes.length > 0 ? 'update' : 'unchanged' });

  switch (stored.status) {
    case 'terminated':
      if (leaving) return updateOrUnchanged();
      if (startsLater) return { ...known, kind: 'pending', startsOn: hireDate, rehire: true };
      return { ...known, kind: 'rehire' };
    case 'pending':
      if (leaving) return leaver();
      if (startsLater) return changes.length > 0 ? { ...known, kind: 'pending', startsOn: hireDate, rehire: false } : { ...known, kind: 'unchanged' };
      return { ...known, kind: 'joiner' };
    case 'active':
      if (leaving) return leaver();
      if (terminationDate !== null && terminationDate !== normaliseAttribute('terminationDate', stored.terminationDate)) {
        return { ...known, kind: 'scheduled-leaver', leavesOn: terminationDate };
      }
      if (moved.length > 0) return { ...known, kind: 'mover' };
      return updateOrUnchanged();
  }
}

/**
 * Rows that would break uniqueness: an employee id or an email on several records (every such
 * record is rejected, since nothing says which one is right; records from the feed reader never
 * repeat, as it keeps the first row and rejects later ones naming it), or an email held by a stored person
 * whose own row is not in the file and so keeps it, or the userName of an identity no feed row
 * can match.
 */
function findUniquenessProblems(
  records: readonly HrRecord[],
  stored: ReadonlyMap<string, StoredPerson>,
  takenUserNames: ReadonlyMap<string, string>,
): Map<HrRecord, string> {
  const problems = new Map<HrRecord, string>();
  for (const [employeeId, rows] of groupBy(records, (r) => r.employeeId)) {
    if (rows.length < 2) continue;
    for (const r of rows) problems.set(r, `employee id ${employeeId} appears on rows ${rows.map((x) => x.row).join(', ')}`);
  }
  for (const [email, rows] of groupBy(records, (r) => normaliseAttribute('email', r.email) ?? '')) {
    if (email === '' || rows.length < 2) continue;
    for (const r of rows) if (!problems.has(r)) problems.set(r, `email ${email} appears on rows ${rows.map((x) => x.row).join(', ')}`);
  }

  const inFile = new Set(records.map((r) => r.employeeId));
  const keptEmails = new Map<string, string>();
  for (const person of stored.values()) {
    const email = normaliseAttribute('email', person.email);
    if (email !== null && !inFile.has(person.employeeId)) keptEmails.set(email, person.employeeId);
  }
  for (const r of records) {
    const holder = keptEmails.get(normaliseAttribute('email', r.email) ?? '');
    if (holder !== undefined && holder !== r.employeeId && !problems.has(r)) {
      problems.set(r, `email ${normaliseAttribute('email', r.email)} belongs to stored employee ${holder}`);
    }
    const identity = takenUserNames.get(normaliseAttribute('email', r.email) ?? '');
    if (identity !== undefined && !problems.has(r)) {
      problems.set(r, `email ${normaliseAttribute('email', r.email)} is the userName of identity ${identity}, which has no employee id`);
    }
  }
  return problems;
}

/**
 * Entries whose manager will not exist once the plan is applied, with the reason. Known managers
 * are the stored ones and the new people whose rows are applied; rejecting a new person makes
 * their reports' manager unknown in turn, so this runs until nothing changes.
 */
function findUnknownManagers(
  entries: ReadonlyArray<Exclude<PlanEntry, AbsentLeaverEntry>>,
  stored: ReadonlyMap<string, StoredPerson>,
): Map<PlanEntry, string> {
  const rowOf = new Map(entries.map((e) => [e.employeeId, e]));
  const existing = new Set(stored.keys());
  for (const e of entries) if (e.kind !== 'skipped') existing.add(e.employeeId);

  const problems = new Map<PlanEntry, string>();
  for (let changed = true; changed;) {
    changed = false;
    for (const entry of entries) {
      const manager = entry.record.managerEmployeeId;
      if (manager === null || existing.has(manager) || problems.has(entry)) continue;
      problems.set(entry, unknownManagerReason(manager, rowOf.get(manager), problems));
      // A leaver's or skipped row stays in the plan (see the header), so it still counts as known.
      if (entry.kind !== 'leaver' && entry.kind !== 'skipped' && !stored.has(entry.employeeId)) {
        existing.delete(entry.employeeId);
        changed = true;
      }
    }
  }
  return problems;
}

function unknownManagerReason(manager: string, managerRow: PlanEntry | undefined, problems: ReadonlyMap<PlanEntry, string>): string {
  if (!managerRow) return `manager ${manager} is neither in this feed nor stored`;
  if (managerRow.kind === 'skipped') return `manager ${manager} (row ${managerRow.row}) left before ever being imported`;
  if (problems.has(managerRow)) return `manager ${manager} is not known: their own row ${managerRow.row} was rejected`;
  return `manager ${manager} is not known`;
}

/** Stored people still employed (active or pending) whose employee id is not in the file at all. */
function absentLeavers(stored: ReadonlyMap<string, StoredPerson>, present: ReadonlySet<string>, today: string): AbsentLeaverEntry[] {
  return [...stored.values()]
    .filter((p) => p.status !== 'terminated' && !present.has(p.employeeId))
    .sort((a, b) => compareText(a.employeeId, b.employeeId))
    .map((p) => ({
      kind: 'leaver', reason: 'absent-from-snapshot', employeeId: p.employeeId, identityId: p.identityId, stored: p,
      row: null, record: null, changes: [], moved: [], effectiveDate: today,
    }));
}

function countByClass(entries: readonly PlanEntry[], rejected: number): FeedPlan['counts'] {
  const counts = Object.fromEntries(PLAN_CLASSES.map((c) => [c, 0])) as FeedPlan['counts'];
  for (const entry of entries) counts[entry.kind]++;
  counts.rejected = rejected;
  return counts;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Code-unit order, not locale order: the same on every machine. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
