/*
 * Applies a classified feed (a FeedPlan) through the identity write path and the JML actions, in
 * transactions of CHUNK_SIZE entries: each chunk's identities, lifecycle rows, grants, outbox
 * operations and audit events commit together. A crash between chunks leaves whole people
 * applied or not at all; importing the same feed again classifies what was applied as unchanged
 * and applies the rest.
 *
 * New people get their identity ids before anything is written, so a report can name a manager
 * whose row comes later in the file; entries are applied managers first (by depth in the feed's
 * manager tree), so when a report's birthright rules read the manager chain, the chain is stored.
 */
import { recordAudit } from '../audit/recorder.js';
import type { Database } from '../db/database.js';
import { timeOrderedId } from '../db/ids.js';
import type { IdentityService, IdentityUpdate, NewIdentity } from '../identity/identity-service.js';
import type { ChangeContext } from '../identity/resources.js';
import { ENTERPRISE_SCHEMA, USER_SCHEMA } from '../scim/schema.js';
import type { FeedPlan, PlanEntry, StoredPerson } from './classify.js';
import type { HrRecord } from './hr-record.js';
import { identityDocument } from './identity-document.js';
import type { JmlActions, JmlOutcome, LifecycleEvent, LifecycleState } from './jml.js';

type Doc = Record<string, unknown>;

/** Entries per transaction: large enough for multi-row statements to pay, small enough to keep locks short. */
export const CHUNK_SIZE = 1000;

/** Attributes a feed owns in the identity document; everything else (set through SCIM) is kept. */
const HR_ATTRIBUTES = ['externalId', 'userName', 'name', 'displayName', 'title', 'userType', 'active', 'emails', 'addresses'];
const HR_ENTERPRISE_ATTRIBUTES = ['employeeNumber', 'costCenter', 'department', 'manager'];

/** The most manager levels followed to order entries; deeper (or cyclic) chains go last. */
const MAX_DEPTH = 64;

type Actionable = Exclude<PlanEntry, { kind: 'unchanged' } | { kind: 'skipped' }>;

export interface ApplyFeedOptions {
  onProgress?: (done: number, total: number) => void;
}

/** The current document with the feed's attributes replaced by those of `hr`. */
export function mergeHrDocument(current: Doc, hr: Doc): Doc {
  const merged: Doc = { ...current };
  for (const key of HR_ATTRIBUTES) delete merged[key];
  const enterprise: Doc = { ...((current[ENTERPRISE_SCHEMA] as Doc | undefined) ?? {}) };
  for (const key of HR_ENTERPRISE_ATTRIBUTES) delete enterprise[key];
  Object.assign(merged, hr, { [ENTERPRISE_SCHEMA]: { ...enterprise, ...(hr[ENTERPRISE_SCHEMA] as Doc) } });
  merged.schemas = [...new Set([USER_SCHEMA, ENTERPRISE_SCHEMA, ...((current.schemas as string[] | undefined) ?? [])])];
  return merged;
}

/**
 * The entry's record, with the stored spelling of every compared attribute the classification
 * found unchanged: case noise in a name (ANA for Ana) is not written, nor sent to the targets,
 * when the row is applied for another reason.
 */
function keepStoredSpelling(entry: Actionable): HrRecord {
  const record = entry.record!;
  if (entry.stored === null) return record;
  const changed = new Set(entry.changes.map((c) => c.attribute));
  const kept: HrRecord = { ...record };
  for (const attribute of NOISY_ATTRIBUTES) {
    const stored = entry.stored[attribute];
    if (!changed.has(attribute) && stored !== null && stored !== '') kept[attribute] = stored;
  }
  return kept;
}

/** Attributes compared without case or spacing noise: the only ones whose spelling may differ while equal. */
const NOISY_ATTRIBUTES = ['givenName', 'familyName', 'preferredName', 'email'] as const;

/** Whether the person holds access once the entry is applied. */
function activeAfter(entry: Actionable): boolean {
  switch (entry.kind) {
    case 'joiner': case 'rehire': case 'mover': case 'scheduled-leaver': return true;
    case 'pending': case 'leaver': return false;
    case 'update': return entry.stored.status === 'active';
  }
}

/** The lifecycle row an entry leaves behind. */
function stateAfter(entry: Actionable, today: string): Partial<LifecycleState> {
  if (entry.record === null) return {};
  const record = entry.record;
  const status = entry.kind === 'pending' ? 'pending' : entry.kind === 'leaver' ? 'terminated'
    : entry.kind === 'update' ? entry.stored.status : 'active';
  return {
    employeeId: record.employeeId,
    status,
    preferredName: record.preferredName,
    hireDate: record.hireDate,
    terminationDate: record.terminationDate,
    startsOn: status === 'pending' ? record.hireDate : null,
    leavesOn: status === 'active' && record.terminationDate !== null && record.terminationDate > today ? record.terminationDate : null,
    extra: record.extra,
  };
}

/** Depth of each employee id in the feed's manager tree (0: no manager in the feed). */
function managerDepths(records: ReadonlyMap<string, HrRecord>): Map<string, number> {
  const depth = new Map<string, number>();
  const walk = (employeeId: string): number => {
    const known = depth.get(employeeId);
    if (known !== undefined) return known;
    const chain: string[] = [];
    let at: string | null = employeeId;
    while (at !== null && records.has(at) && !depth.has(at) && chain.length < MAX_DEPTH && !chain.includes(at)) {
      chain.push(at);
      at = records.get(at)!.managerEmployeeId;
    }
    let d = at !== null && depth.has(at) ? depth.get(at)! + 1 : chain.length >= MAX_DEPTH ? MAX_DEPTH : 0;
    for (const id of chain.reverse()) depth.set(id, d++);
    return depth.get(employeeId)!;
  };
  for (const id of records.keys()) walk(id);
  return depth;
}

/** An entry to apply and the identity id it is applied to (made now for a new person). */
interface Work {
  entry: Actionable;
  id: string;
  isNew: boolean;
}

/** The plan's entries to apply, managers first; takes them out of the plan (see applyFeedPlan). */
function takeWork(plan: FeedPlan, stored: ReadonlyMap<string, StoredPerson>): { work: Work[]; identityOf: Map<string, string> } {
  const identityOf = new Map<string, string>();
  for (const person of stored.values()) identityOf.set(person.employeeId, person.identityId);
  const records = new Map<string, HrRecord>();
  for (const e of plan.entries) if (e.record !== null) records.set(e.employeeId, e.record);
  const depth = managerDepths(records);
  const work: Array<Work & { index: number }> = [];
  for (const entry of plan.entries.splice(0)) {
    if (entry.kind === 'unchanged' || entry.kind === 'skipped') continue;
    const isNew = entry.identityId === null;
    const id = isNew ? timeOrderedId() : entry.identityId!;
    if (isNew) identityOf.set(entry.employeeId, id);
    work.push({ entry, id, isNew, index: work.length });
  }
  work.sort((a, b) => (depth.get(a.entry.employeeId) ?? 0) - (depth.get(b.entry.employeeId) ?? 0) || a.index - b.index);
  return { work, identityOf };
}

/**
 * Applies the plan; returns what the JML actions did, summed over the chunks. The plan's entries
 * are taken out of it and each chunk's are let go once committed, so the memory a large feed
 * holds falls as it is applied.
 */
export async function applyFeedPlan(
  db: Database, identities: IdentityService, jml: JmlActions,
  plan: FeedPlan, stored: ReadonlyMap<string, StoredPerson>, ctx: ChangeContext, now: Date, options: ApplyFeedOptions = {},
): Promise<JmlOutcome> {
  const { work, identityOf } = takeWork(plan, stored);
  const count = work.length;
  const total: JmlOutcome = { grantsAdded: 0, grantsRemoved: 0, grantsRevoked: 0, grantsFlagged: 0, operationsEnqueued: 0 };
  options.onProgress?.(0, count);
  while (work.length > 0) {
    const chunk = work.splice(0, CHUNK_SIZE);
    const inserts: NewIdentity[] = [];
    const updates: IdentityUpdate[] = [];
    const events: LifecycleEvent[] = [];
    const entryOf = new Map<string, Actionable>();
    for (const { entry, id, isNew } of chunk) {
      const audit = { lifecycle: entry.kind, ...(entry.row !== null && { feedRow: entry.row }) };
      const active = activeAfter(entry);
      let document: Doc | undefined;
      if (entry.record !== null) {
        const record = keepStoredSpelling(entry);
        const managerEmployeeId = record.managerEmployeeId;
        document = { ...identityDocument(record, managerEmployeeId === null ? undefined : identityOf.get(managerEmployeeId)), active };
      }
      entryOf.set(id, entry);
      if (isNew) inserts.push({ id, doc: document!, audit });
      else updates.push({ id, change: (current) => (document ? mergeHrDocument(current, document) : { ...current, active }), audit });
      const managerChanged = entry.changes.some((c) => c.attribute === 'managerEmployeeId');
      events.push({
        identityId: id, kind: entry.kind, state: stateAfter(entry, plan.today),
        moved: entry.moved.length > 0 && (entry.kind === 'mover' || entry.kind === 'scheduled-leaver'), managerChanged,
      });
    }
    const outcome = await db.transaction(async (tx) => {
      await identities.insertMany(tx, inserts, ctx);
      const updated = await identities.updateMany(tx, updates, ctx);
      // Entries that change only what the document does not show (HR dates: a scheduled or
      // withdrawn termination, a new hire date) have no identity event: they get their own.
      const unwritten = updated.filter((u) => u.after === u.before).map((u) => u.before.id);
      await recordAudit(tx, unwritten.map((id) => {
        const entry = entryOf.get(id)!;
        return {
          actor: ctx.actor, action: `lifecycle.${entry.kind}`, targetType: 'identity', targetId: id, requestId: ctx.requestId,
          details: { feedRow: entry.row, changed: Object.fromEntries(entry.changes.map((c) => [c.attribute, { from: c.from, to: c.to }])) },
        };
      }));
      // An identity deleted since classification has nothing left to apply.
      const present = new Set([...inserts.map((i) => i.id), ...updated.map((u) => u.before.id)]);
      return jml.apply(tx, events.filter((e) => present.has(e.identityId)), ctx, now);
    });
    for (const key of Object.keys(total) as Array<keyof JmlOutcome>) total[key] += outcome[key];
    options.onProgress?.(count - work.length, count);
  }
  return total;
}
