/*
 * Joiner / mover / leaver actions: what a lifecycle event does to access, in the transaction of
 * the identity change that caused it, so a person and their access never disagree after a crash.
 *
 * - joiner, rehire: birthright grants from policy; accounts planned on every target they need.
 * - mover: birthright recomputed (new access added at once; access no longer justified removed
 *   at once, or after `moverGraceDays`); grants from past requests kept but flagged for the new
 *   manager to confirm; when the manager changed, the reports below are recomputed too if any
 *   rule reads the manager chain.
 * - leaver: every grant revoked, every account disabled at once and its deletion scheduled after
 *   the retention period (the planner does both); their pending access requests cancelled and the
 *   approvals and review items waiting for them handed to their manager (the LeaverFollowers).
 * - pending: no access; with pre-provisioning, disabled accounts on the targets the person will
 *   need, `preProvisionDays` before the start.
 * - update (names, email): accounts updated.
 *
 * Events come from a feed (src/lifecycle/feed-apply.ts), from the effective-dates job, or from a
 * SCIM change through the IdentityService hook (classifyIdentityChange below).
 */
import { chunks, insertRows, placeholders } from '../db/batches.js';
import { recordAudit } from '../audit/recorder.js';
import type { Sql, Transaction } from '../db/database.js';
import type { IdentityChange, IdentityLifecycleHook } from '../identity/identity-service.js';
import type { ChangeContext, StoredResource } from '../identity/resources.js';
import type { BirthrightService } from '../policy/birthright.js';
import type { GrantFollower } from '../policy/grants.js';
import type { PolicyChangeLog } from '../policy/changes.js';
import type { Catalog, CatalogCache } from '../policy/catalog.js';
import { loadIdentityAttributes } from '../policy/identity-attributes.js';
import type { AccountPlanner } from '../provisioning/planner.js';
import { ENTERPRISE_SCHEMA } from '../scim/schema.js';
import { IdentityError } from '../identity/errors.js';
import { readPath } from '../identity/columns.js';
import { employeeIdOf } from '../identity/user-document.js';
import type { MovableAttribute, StoredStatus } from './classify.js';
import { daysAfter, isoDate } from './dates.js';

type Doc = Record<string, unknown>;

export type LifecycleKind = 'joiner' | 'pending' | 'mover' | 'update' | 'leaver' | 'rehire' | 'scheduled-leaver';

/** What identity_lifecycle holds for one identity. */
export interface LifecycleState {
  employeeId: string | null;
  status: StoredStatus;
  preferredName: string | null;
  hireDate: string | null;
  terminationDate: string | null;
  /** pending: the day access starts */
  startsOn: string | null;
  /** active: the day a scheduled termination takes effect */
  leavesOn: string | null;
  terminatedAt: string | null;
  /** HR attributes no SCIM attribute carries, for connectors */
  extra: Record<string, string>;
}

export interface LifecycleEvent {
  identityId: string;
  kind: LifecycleKind;
  /** the lifecycle row after the event; fields left out keep their stored values */
  state: Partial<LifecycleState>;
  /** mover actions apply (always for a mover; a scheduled leaver may move too) */
  moved?: boolean;
  /** the manager changed: the manager chains of the reports below changed too */
  managerChanged?: boolean;
}

export interface JmlOutcome {
  grantsAdded: number;
  grantsRemoved: number;
  grantsRevoked: number;
  grantsFlagged: number;
  operationsEnqueued: number;
}

export interface JmlOptions {
  /** days a mover keeps access no longer justified; 0 removes it at once */
  moverGraceDays: number;
  /** days before a start date that disabled accounts are created; 0 creates none early */
  preProvisionDays: number;
}

/** The flag a mover's requested grants carry until their new manager confirms them. */
export const MANAGER_CONFIRM_FLAG = 'manager-confirm';

const LIFECYCLE_COLUMNS = [
  'identity_id', 'employee_id', 'status', 'preferred_name', 'extra', 'hire_date', 'termination_date', 'starts_on', 'leaves_on',
  'terminated_at', 'last_cause', 'last_modified',
];

interface LifecycleRow {
  identity_id: string;
  employee_id: string | null;
  status: StoredStatus;
  preferred_name: string | null;
  extra: string | null;
  hire_date: string | null;
  termination_date: string | null;
  starts_on: string | null;
  leaves_on: string | null;
  terminated_at: string | null;
}

/** Told, inside the transaction, who has left: governance cancels and reassigns what waited on them. */
export interface LeaverFollower {
  leaversLeft(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<void>;
}

export class JmlActions implements GrantFollower {
  private readonly leaverFollowers: LeaverFollower[] = [];

  constructor(
    private readonly birthright: BirthrightService,
    private readonly changes: PolicyChangeLog,
    private readonly planner: AccountPlanner,
    private readonly catalogs: CatalogCache,
    private readonly options: JmlOptions,
  ) {}

  /** Adds a follower told about every leaver, in the leaver's transaction. */
  followLeavers(follower: LeaverFollower): void {
    this.leaverFollowers.push(follower);
  }

  /**
   * Runs the actions of `events` in `tx`. `ctx.requestId` names the cause (hr-feed:<id>,
   * scim:<request>, schedule) in every audit event and outbox row. Events of one identity are
   * not expected twice in a call.
   */
  async apply(tx: Transaction, events: readonly LifecycleEvent[], ctx: ChangeContext, now: Date): Promise<JmlOutcome> {
    const outcome: JmlOutcome = { grantsAdded: 0, grantsRemoved: 0, grantsRevoked: 0, grantsFlagged: 0, operationsEnqueued: 0 };
    if (events.length === 0) return outcome;
    const { catalog } = await this.catalogs.read(tx);
    const cause = ctx.requestId ?? ctx.actor;
    const states = await this.storeStates(tx, events, cause, now);

    const leavers = events.filter((e) => e.kind === 'leaver').map((e) => e.identityId);
    outcome.grantsRevoked = await revokeAll(tx, leavers, ctx);
    if (outcome.grantsRevoked > 0) await this.changes.identitiesChanged(tx, leavers);
    if (leavers.length > 0) for (const follower of this.leaverFollowers) await follower.leaversLeft(tx, leavers, ctx);
    const movers = events.filter((e) => e.kind === 'mover' || e.moved);
    outcome.grantsFlagged = await flagRequestedGrants(tx, movers.map((e) => e.identityId), now);

    const recomputed = new Set(events.filter((e) => e.kind !== 'leaver').map((e) => e.identityId));
    const managersMoved = events.filter((e) => e.managerChanged).map((e) => e.identityId);
    if (managersMoved.length > 0 && (await this.birthright.evaluator(catalog)).needs.managerChain) {
      for (const id of await reportsBelow(tx, managersMoved)) recomputed.add(id);
    }
    if (recomputed.size > 0) {
      const grace = movers.length > 0 && this.options.moverGraceDays > 0
        ? { identities: new Set(movers.map((e) => e.identityId)), until: daysAfter(now, this.options.moverGraceDays).toISOString() }
        : undefined;
      const report = await this.birthright.recompute(tx, catalog, [...recomputed], ctx, { grace, now });
      outcome.grantsAdded = report.added;
      outcome.grantsRemoved = report.removed + report.revokedByDeny;
    }

    const planned = new Set([...events.map((e) => e.identityId), ...recomputed]);
    const wouldHold = await this.preProvisioned(tx, catalog, states, now);
    const summary = await this.planner.plan(tx, catalog, [...planned], cause, now, wouldHold);
    outcome.operationsEnqueued = summary.enqueued;
    return outcome;
  }

  /** Plans the accounts of these identities and nothing else: an identity was deleted, a grant made by hand. */
  async planOnly(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext, now: Date): Promise<JmlOutcome> {
    const { catalog } = await this.catalogs.read(tx);
    const summary = await this.planner.plan(tx, catalog, identityIds, ctx.requestId ?? ctx.actor, now);
    return { grantsAdded: 0, grantsRemoved: 0, grantsRevoked: 0, grantsFlagged: 0, operationsEnqueued: summary.enqueued };
  }

  /** A grant made or revoked by hand (API, CLI): the accounts follow in the same transaction. */
  async grantsChanged(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<JmlOutcome> {
    return this.planOnly(tx, identityIds, ctx, new Date());
  }

  /** Recomputes birthright grants and plans accounts, with no lifecycle event: grants whose validity ended. */
  async refresh(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext, now: Date): Promise<JmlOutcome> {
    const { catalog } = await this.catalogs.read(tx);
    // The caller may have deleted grants of these identities: every instance reloads them.
    await this.changes.identitiesChanged(tx, identityIds);
    const report = await this.birthright.recompute(tx, catalog, [...identityIds], ctx, { now });
    const summary = await this.planner.plan(tx, catalog, identityIds, ctx.requestId ?? ctx.actor, now);
    return {
      grantsAdded: report.added, grantsRemoved: report.removed + report.revokedByDeny, grantsRevoked: 0, grantsFlagged: 0,
      operationsEnqueued: summary.enqueued,
    };
  }

  /** Writes the lifecycle rows of the events (stored values kept where an event leaves a field out); returns them by identity. */
  private async storeStates(tx: Transaction, events: readonly LifecycleEvent[], cause: string, now: Date): Promise<Map<string, LifecycleState>> {
    const ids = events.map((e) => e.identityId);
    const stored = new Map<string, LifecycleState>();
    for (const chunk of chunks(ids)) {
      const rows = await tx.query<LifecycleRow>(
        `SELECT identity_id, employee_id, status, preferred_name, extra, hire_date, termination_date, starts_on, leaves_on, terminated_at
           FROM identity_lifecycle WHERE identity_id IN (${placeholders(chunk.length)})`, chunk);
      for (const row of rows) stored.set(row.identity_id, stateOf(row));
    }
    const states = new Map<string, LifecycleState>();
    const stamp = now.toISOString();
    for (const event of events) {
      const before = stored.get(event.identityId) ?? EMPTY_STATE;
      const state: LifecycleState = { ...before, ...event.state };
      if (event.kind === 'leaver') {
        state.status = 'terminated';
        state.leavesOn = null;
        state.terminatedAt ??= stamp;
      } else if (state.status !== 'terminated') {
        state.terminatedAt = null;
      }
      if (state.status !== 'pending') state.startsOn = null;
      states.set(event.identityId, state);
    }
    await this.checkEmployeeIds(tx, states);
    for (const chunk of chunks([...stored.keys()])) await tx.execute(`DELETE FROM identity_lifecycle WHERE identity_id IN (${placeholders(chunk.length)})`, chunk);
    await insertRows(tx, 'identity_lifecycle', LIFECYCLE_COLUMNS, [...states].map(([id, s]) => [
      id, s.employeeId, s.status, s.preferredName, Object.keys(s.extra).length > 0 ? JSON.stringify(s.extra) : null,
      s.hireDate, s.terminationDate, s.startsOn, s.leavesOn, s.terminatedAt, cause.slice(0, 128), stamp,
    ]), 1000);
    return states;
  }

  /** An employee id names one identity: a second identity claiming it is refused with both named. */
  private async checkEmployeeIds(sql: Sql, states: ReadonlyMap<string, LifecycleState>): Promise<void> {
    const claimed = [...states].filter(([, s]) => s.employeeId !== null).map(([id, s]) => ({ id, employeeId: s.employeeId! }));
    for (const chunk of chunks(claimed)) {
      const holders = await sql.query<{ identity_id: string; employee_id: string }>(
        `SELECT identity_id, employee_id FROM identity_lifecycle WHERE employee_id IN (${placeholders(chunk.length)})`, chunk.map((c) => c.employeeId));
      const holderOf = new Map(holders.map((h) => [h.employee_id, h.identity_id]));
      for (const { id, employeeId } of chunk) {
        const holder = holderOf.get(employeeId);
        if (holder !== undefined && holder !== id && !states.has(holder)) {
          throw new IdentityError('conflict', `employee id ${employeeId} already belongs to identity ${holder}`);
        }
      }
    }
  }

  /** For pending people inside the pre-provisioning window: the items they will hold once they start. */
  private async preProvisioned(sql: Sql, catalog: Catalog, states: ReadonlyMap<string, LifecycleState>, now: Date): Promise<Map<string, string[]> | undefined> {
    if (this.options.preProvisionDays <= 0) return undefined;
    const horizon = isoDate(daysAfter(now, this.options.preProvisionDays));
    const soon = [...states].filter(([, s]) => s.status === 'pending' && s.startsOn !== null && s.startsOn <= horizon).map(([id]) => id);
    if (soon.length === 0) return undefined;
    const evaluator = await this.birthright.evaluator(catalog);
    const wouldHold = new Map<string, string[]>();
    for (const attrs of (await loadIdentityAttributes(sql, soon)).values()) {
      const evaluation = evaluator.evaluate({ ...attrs, active: true });
      wouldHold.set(attrs.id, [...evaluation.grants.keys()].filter((item) => (evaluation.denies.get(item) ?? []).length === 0));
    }
    return wouldHold;
  }
}

const EMPTY_STATE: LifecycleState = {
  employeeId: null, status: 'active', preferredName: null, hireDate: null, terminationDate: null,
  startsOn: null, leavesOn: null, terminatedAt: null, extra: {},
};

function stateOf(row: LifecycleRow): LifecycleState {
  return {
    employeeId: row.employee_id,
    status: row.status,
    preferredName: row.preferred_name,
    hireDate: row.hire_date,
    terminationDate: row.termination_date,
    startsOn: row.starts_on,
    leavesOn: row.leaves_on,
    terminatedAt: row.terminated_at,
    extra: row.extra ? (JSON.parse(row.extra) as Record<string, string>) : {},
  };
}

/** Deletes every grant of the leavers, one audit event per leaver listing what went. */
async function revokeAll(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<number> {
  let revoked = 0;
  for (const chunk of chunks(identityIds)) {
    const grants = await tx.query<{ id: string; identity_id: string; item: string; source: string; source_ref: string }>(
      `SELECT id, identity_id, item, source, source_ref FROM grants WHERE identity_id IN (${placeholders(chunk.length)}) ORDER BY identity_id, item`, chunk);
    if (grants.length === 0) continue;
    await tx.execute(`DELETE FROM grants WHERE identity_id IN (${placeholders(chunk.length)})`, chunk);
    const byIdentity = new Map<string, typeof grants>();
    for (const g of grants) byIdentity.set(g.identity_id, [...(byIdentity.get(g.identity_id) ?? []), g]);
    await recordAudit(tx, [...byIdentity].map(([identityId, list]) => ({
      actor: ctx.actor, action: 'grant.revoke', targetType: 'identity', targetId: identityId, requestId: ctx.requestId,
      details: { reason: 'leaver', revoked: list.map((g) => ({ grantId: g.id, item: g.item, source: g.source, sourceRef: g.source_ref })) },
    })));
    revoked += grants.length;
  }
  return revoked;
}

/** Flags the movers' grants from past requests for their (new) manager to confirm; the grants are kept. */
async function flagRequestedGrants(tx: Transaction, identityIds: readonly string[], now: Date): Promise<number> {
  let flagged = 0;
  for (const chunk of chunks(identityIds)) {
    flagged += (await tx.execute(
      `UPDATE grants SET review_flag = ?, review_flag_since = ? WHERE source = 'request' AND review_flag IS NULL AND identity_id IN (${placeholders(chunk.length)})`,
      [MANAGER_CONFIRM_FLAG, now.toISOString(), ...chunk],
    ));
  }
  return flagged;
}

/** Everyone below these managers, at any depth. */
async function reportsBelow(sql: Sql, managerIds: readonly string[]): Promise<string[]> {
  const found = new Set<string>();
  let level = [...managerIds];
  while (level.length > 0) {
    const next: string[] = [];
    for (const chunk of chunks(level)) {
      const rows = await sql.query<{ id: string }>(`SELECT id FROM identities WHERE manager_id IN (${placeholders(chunk.length)})`, chunk);
      for (const { id } of rows) if (!found.has(id) && !managerIds.includes(id)) { found.add(id); next.push(id); }
    }
    level = next;
  }
  return [...found];
}

/** Where each feed attribute that can make a mover stands in a SCIM User (see identity-document.ts). */
const SCIM_PATHS: Record<MovableAttribute, string> = {
  givenName: 'name.givenName',
  familyName: 'name.familyName',
  preferredName: 'displayName',
  email: 'emails',
  department: `${ENTERPRISE_SCHEMA}:department`,
  title: 'title',
  managerEmployeeId: `${ENTERPRISE_SCHEMA}:manager.value`,
  location: 'addresses',
  costCenter: `${ENTERPRISE_SCHEMA}:costCenter`,
  employmentType: 'userType',
};

/** Whether a document's value at the attribute's path differs between two documents (lists compared whole). */
const differs = (attribute: MovableAttribute, before: Doc, after: Doc): boolean =>
  JSON.stringify(readPath(before, SCIM_PATHS[attribute])) !== JSON.stringify(readPath(after, SCIM_PATHS[attribute]));

/**
 * What a change made through SCIM means for the lifecycle, with the same classes a feed uses:
 * a new identity is a joiner (pending while created inactive), active → inactive a leaver,
 * inactive → active a rehire (of a terminated identity) or a joiner, a change of a mover
 * attribute a mover, any other change an update; a deleted identity is a leaver.
 */
export function classifyIdentityChange(
  change: IdentityChange, storedStatus: StoredStatus | undefined, moverAttributes: readonly MovableAttribute[],
): LifecycleEvent | undefined {
  const { before, after } = change;
  if (!after) return before ? { identityId: before.id, kind: 'leaver', state: {} } : undefined;
  const active = after.doc.active !== false;
  const employeeId = employeeIdOf(after.doc) ?? null;
  if (!before) return { identityId: after.id, kind: active ? 'joiner' : 'pending', state: { employeeId, status: active ? 'active' : 'pending' } };
  const wasActive = before.doc.active !== false;
  const state: Partial<LifecycleState> = { employeeId };
  if (wasActive && !active) return { identityId: after.id, kind: 'leaver', state };
  if (!wasActive && active) {
    return { identityId: after.id, kind: storedStatus === 'terminated' ? 'rehire' : 'joiner', state: { ...state, status: 'active' } };
  }
  const moved = active && moverAttributes.some((a) => differs(a, before.doc, after.doc));
  const managerChanged = differs('managerEmployeeId', before.doc, after.doc);
  return { identityId: after.id, kind: moved ? 'mover' : 'update', state, moved, managerChanged: moved && managerChanged };
}

/** Runs the lifecycle for changes made through the IdentityService (SCIM, REST), in their transaction. */
export class IdentityLifecycle implements IdentityLifecycleHook {
  constructor(
    private readonly jml: JmlActions,
    private readonly moverAttributes: readonly MovableAttribute[],
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async afterChange(tx: Transaction, change: IdentityChange, ctx: ChangeContext): Promise<void> {
    const id = (change.after ?? change.before as StoredResource).id;
    const [row] = await tx.query<{ status: StoredStatus }>('SELECT status FROM identity_lifecycle WHERE identity_id = ?', [id]);
    const event = classifyIdentityChange(change, row?.status, this.moverAttributes);
    if (!event) return;
    const cause: ChangeContext = { actor: ctx.actor, requestId: ctx.requestId ? `scim:${ctx.requestId}` : 'scim' };
    // A deleted identity has no lifecycle row to keep (it went with the identity): only its accounts are planned.
    const outcome = change.after
      ? await this.jml.apply(tx, [event], cause, this.clock())
      : await this.jml.planOnly(tx, [id], cause, this.clock());
    await recordAudit(tx, {
      actor: ctx.actor, action: `lifecycle.${event.kind}`, targetType: 'identity', targetId: id, requestId: ctx.requestId,
      details: { source: 'scim', ...outcome },
    });
  }
}
