/*
 * The account planner: brings the planned accounts of identities in line with what they should
 * hold, in the caller's transaction, and enqueues the operations that make the targets follow.
 *
 * Desired state, per identity and target (identities row, identity_lifecycle row, grants in force):
 * - active (identities.active = 1, lifecycle status not pending/terminated): an enabled account
 *   on every target where it holds an entitlement, member of the held entitlements that are not
 *   the account itself;
 * - pending and inside the pre-provisioning window (`wouldHold`): a disabled account without
 *   memberships on the targets it will need;
 * - otherwise no account: an existing one is disabled and emptied, and when the identity itself
 *   is inactive, terminated or gone, deleted after the retention period.
 * The plan is a diff against accounts.planned_* (what the outbox has already been told), so
 * planning an identity twice enqueues nothing the second time.
 *
 * Work goes in chunks of 1,000 identities: each chunk is read with a handful of IN-list queries
 * and written with multi-row statements, so a day-0 feed of 100,000 people costs a few hundred
 * statements, not a few hundred thousand.
 */
import { chunks, insertRows, placeholders } from '../db/batches.js';
import { forUpdate, type Transaction } from '../db/database.js';
import { timeOrderedId } from '../db/ids.js';
import type { Catalog } from '../policy/catalog.js';
import { grantedItems, inForceAt } from '../policy/grants.js';
import { employeeIdOf, primaryEmail } from '../identity/user-document.js';
import { AccountQueue } from './coalesce.js';
import type { AccountAttributes, OpName } from './connector.js';
import { attributesJson, canonicalAttributes } from './operations.js';
import { readUnfinished, writeQueues, type AccountTarget } from './outbox.js';
import { updateRows } from './rows.js';
import { daysAfter } from '../lifecycle/dates.js';

export interface PlanSummary {
  /** outbox rows inserted */
  enqueued: number;
  byOp: Partial<Record<OpName, number>>;
  /** unstarted rows cancelled by coalescing (a rehire before the leaver's operations ran, ...) */
  cancelled: number;
}

export interface PlannerOptions {
  /** days after an identity leaves before its accounts are deleted */
  retentionDays: number;
}

/** Identities per chunk; every IN list stays at or below this. */
const CHUNK = 1000;

type Doc = Record<string, unknown>;

/** An account as planned: the state the outbox has been told to reach. */
interface PlannedAccount {
  status: 'enabled' | 'disabled' | 'deleted';
  memberships: string[];
  attributes: string;
}

/** What an identity should have on one target. */
interface Wanted {
  status: 'enabled' | 'disabled';
  memberships: string[];
}

interface AccountRow {
  id: string;
  identity_id: string;
  target: string;
  planned_status: PlannedAccount['status'];
  planned_memberships: string;
  planned_attributes: string;
}

/** The attributes a target is told about a person: from the SCIM document, plus HR's extra attributes. */
export function accountAttributes(doc: Doc, extra: Record<string, string> = {}): AccountAttributes {
  // Empty text is left out: a target is not told to set an attribute to nothing.
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const name = (doc.name ?? {}) as Doc;
  return canonicalAttributes({
    userName: String(doc.userName ?? ''),
    givenName: text(name.givenName),
    familyName: text(name.familyName),
    displayName: text(doc.displayName),
    email: text(primaryEmail(doc)),
    employeeId: text(employeeIdOf(doc)),
    extra,
  });
}

/**
 * The targets a set of held items reaches, each with its memberships: the entitlement keys held
 * there, except the account entitlement itself (holding only that still means an account).
 */
export function targetsHeld(catalog: Catalog, items: Iterable<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const item of catalog.expand(items).keys()) {
    const entitlement = catalog.entitlements.get(item);
    if (!entitlement) continue;
    let memberships = out.get(entitlement.target);
    if (!memberships) out.set(entitlement.target, (memberships = []));
    if (entitlement.kind !== 'account') memberships.push(entitlement.key);
  }
  for (const list of out.values()) list.sort();
  return out;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Whether an account must change to match what is wanted (false: nothing to plan for it). */
function needsChange(current: PlannedAccount | undefined, wanted: Wanted | undefined, attributes: string, terminal: boolean): boolean {
  if (wanted) {
    return !current || current.status !== wanted.status || !sameList(current.memberships, wanted.memberships) || current.attributes !== attributes;
  }
  if (!current || current.status === 'deleted') return false;
  return terminal || current.status === 'enabled' || current.memberships.length > 0;
}

/** Plans accounts and enqueues their operations; see the module comment. */
export class AccountPlanner {
  constructor(private readonly options: PlannerOptions) {}

  /**
   * Brings the planned accounts of these identities in line with what they should hold at `now`,
   * writing `accounts` rows and enqueuing outbox operations. `wouldHold` (optional): for pending
   * identities inside the pre-provisioning window, the items they will hold; they get disabled
   * accounts without memberships on those targets. Identity rows are locked, so two plans of
   * one person run one after the other.
   */
  async plan(tx: Transaction, catalog: Catalog, identityIds: readonly string[], cause: string, now: Date, wouldHold?: ReadonlyMap<string, readonly string[]>): Promise<PlanSummary> {
    const total: PlanSummary = { enqueued: 0, byOp: {}, cancelled: 0 };
    // Sorted, so concurrent plans lock identities in the same order.
    for (const chunk of chunks([...new Set(identityIds)].sort(), CHUNK)) {
      const summary = await this.planChunk(tx, catalog, chunk, cause, now, wouldHold);
      total.enqueued += summary.enqueued;
      total.cancelled += summary.cancelled;
      for (const [op, n] of Object.entries(summary.byOp) as Array<[OpName, number]>) total.byOp[op] = (total.byOp[op] ?? 0) + n;
    }
    return total;
  }

  private async planChunk(tx: Transaction, catalog: Catalog, ids: string[], cause: string, now: Date, wouldHold?: ReadonlyMap<string, readonly string[]>): Promise<PlanSummary> {
    const stamp = now.toISOString();
    const deleteAt = daysAfter(now, this.options.retentionDays).toISOString();
    const inList = placeholders(ids.length);

    const identities = new Map<string, { active: boolean; doc: Doc }>();
    for (const row of await tx.query<{ id: string; active: number | string; doc: string }>(
      `SELECT id, active, doc FROM identities WHERE id IN (${inList})${forUpdate(tx.dialect)}`, ids)) {
      identities.set(row.id, { active: Number(row.active) === 1, doc: JSON.parse(row.doc) as Doc });
    }
    const lifecycle = new Map<string, { status: string; extra: Record<string, string> }>();
    for (const row of await tx.query<{ identity_id: string; status: string; extra: string | null }>(
      `SELECT identity_id, status, extra FROM identity_lifecycle WHERE identity_id IN (${inList})`, ids)) {
      lifecycle.set(row.identity_id, { status: row.status, extra: row.extra ? (JSON.parse(row.extra) as Record<string, string>) : {} });
    }
    const isActive = (id: string) => {
      const status = lifecycle.get(id)?.status;
      return identities.get(id)?.active === true && status !== 'pending' && status !== 'terminated';
    };
    const held = await grantedItems(tx, ids.filter(isActive), inForceAt(now));
    const accounts = new Map<string, AccountRow[]>();
    for (const row of await tx.query<AccountRow>(
      `SELECT id, identity_id, target, planned_status, planned_memberships, planned_attributes FROM accounts
        WHERE identity_id IN (${inList}) ORDER BY identity_id, target${forUpdate(tx.dialect)}`, ids)) {
      const list = accounts.get(row.identity_id);
      if (list) list.push(row);
      else accounts.set(row.identity_id, [row]);
    }

    // First pass: which accounts change, and to what. Only those need their queues read.
    interface Change { account: AccountTarget; row?: AccountRow; current?: PlannedAccount; wanted?: Wanted; attributes: AccountAttributes; json: string; terminal: boolean }
    const changes: Change[] = [];
    for (const id of ids) {
      const identity = identities.get(id);
      const status = lifecycle.get(id)?.status;
      // Gone, deactivated or terminated: accounts go after the retention period. A pending
      // hire is not terminal: their pre-provisioned accounts wait for the start date.
      const terminal = !identity || status === 'terminated' || (!identity.active && status !== 'pending');
      let wanted: Map<string, Wanted>;
      if (isActive(id)) {
        wanted = new Map([...targetsHeld(catalog, held.get(id) ?? [])].map(([t, memberships]) => [t, { status: 'enabled', memberships }]));
      } else if (status === 'pending' && wouldHold?.has(id)) {
        wanted = new Map([...targetsHeld(catalog, wouldHold.get(id)!).keys()].map((t) => [t, { status: 'disabled', memberships: [] }]));
      } else {
        wanted = new Map();
      }
      const attributes = accountAttributes(identity?.doc ?? {}, lifecycle.get(id)?.extra);
      const json = attributesJson(attributes);
      const rows = new Map((accounts.get(id) ?? []).map((r) => [r.target, r]));
      for (const target of new Set([...rows.keys(), ...wanted.keys()])) {
        const row = rows.get(target);
        const current: PlannedAccount | undefined = row && {
          status: row.planned_status, memberships: JSON.parse(row.planned_memberships) as string[], attributes: row.planned_attributes,
        };
        if (!needsChange(current, wanted.get(target), json, terminal)) continue;
        // Time-ordered ids: a day-0 plan's accounts (and their outbox index entries) go in at the
        // right edge of each index rather than all over it.
        changes.push({ account: { accountId: row?.id ?? timeOrderedId(), identityId: id, target }, row, current, wanted: wanted.get(target), attributes, json, terminal });
      }
    }
    if (changes.length === 0) return { enqueued: 0, byOp: {}, cancelled: 0 };

    // Second pass: the operations, coalesced with what each account still has queued.
    const unfinished = await readUnfinished(tx, changes.filter((c) => c.row).map((c) => c.account.accountId));
    const queues: Array<{ account: AccountTarget; queue: AccountQueue }> = [];
    const inserts: unknown[][] = [];
    const updates: unknown[][] = [];
    for (const c of changes) {
      const queue = new AccountQueue(unfinished.get(c.account.accountId));
      const next = planOperations(queue, c.current, c.wanted, c.attributes, c.json, c.terminal, stamp, deleteAt);
      queues.push({ account: c.account, queue });
      const memberships = JSON.stringify(next.memberships);
      if (c.row) updates.push([c.account.accountId, next.status, memberships, next.attributes, stamp]);
      else inserts.push([c.account.accountId, c.account.identityId, c.account.target, null, next.status, memberships, next.attributes, 'absent', stamp, stamp]);
    }
    await insertRows(tx, 'accounts', ACCOUNT_INSERT_COLUMNS, inserts);
    await updateRows(tx, 'accounts', 'id', ['planned_status', 'planned_memberships', 'planned_attributes', 'last_modified'], updates);
    return writeQueues(tx, queues, cause, now);
  }
}

const ACCOUNT_INSERT_COLUMNS = ['id', 'identity_id', 'target', 'account_key', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'created', 'last_modified'];

/**
 * Pushes onto `queue` the operations that take an account from `current` (as planned) to
 * `wanted` (undefined: no account), and returns the new planned state. `json` is attributesJson(attributes). Orders: create before
 * anything else; update and enable before memberships; disable before removing memberships;
 * delete last, after the retention period.
 */
function planOperations(queue: AccountQueue, current: PlannedAccount | undefined, wanted: Wanted | undefined, attributes: AccountAttributes, json: string, terminal: boolean, now: string, deleteAt: string): PlannedAccount {
  if (!wanted) {
    // needsChange let through only accounts that exist and are not already being deleted.
    const from = current!;
    if (from.status === 'enabled') queue.push({ op: 'disable' }, now);
    for (const entitlement of from.memberships) queue.push({ op: 'remove-membership', entitlement }, now);
    if (terminal) queue.push({ op: 'delete' }, deleteAt);
    return { status: terminal ? 'deleted' : 'disabled', memberships: [], attributes: from.attributes };
  }
  let base: PlannedAccount | undefined = current?.status === 'deleted' ? undefined : current;
  if (current?.status === 'deleted') {
    // Back before the deletion ran: cancel it and start from the disabled, emptied account.
    // Otherwise the delete has started or finished, and the account is made again after it.
    const deletion = queue.pendingDelete();
    if (deletion && queue.cancel(deletion)) base = { ...current, status: 'disabled' };
  }
  if (!base) {
    queue.push({ op: 'create', attributes, enabled: wanted.status === 'enabled', memberships: wanted.memberships }, now);
  } else {
    const removes = base.memberships.filter((m) => !wanted.memberships.includes(m));
    const adds = wanted.memberships.filter((m) => !base.memberships.includes(m));
    if (wanted.status === 'enabled') {
      if (base.attributes !== json) queue.push({ op: 'update', attributes }, now);
      if (base.status === 'disabled') queue.push({ op: 'enable' }, now);
    } else if (base.status === 'enabled') {
      queue.push({ op: 'disable' }, now);
    }
    for (const entitlement of removes) queue.push({ op: 'remove-membership', entitlement }, now);
    for (const entitlement of adds) queue.push({ op: 'add-membership', entitlement }, now);
    if (wanted.status === 'disabled' && base.attributes !== json) queue.push({ op: 'update', attributes }, now);
  }
  return { status: wanted.status, memberships: wanted.memberships, attributes: json };
}
