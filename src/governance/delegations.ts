/*
 * Delegation: an approver names a deputy for a period; while it lasts, the deputy sees and may
 * decide the approvals assigned to the approver. Nothing is copied when a delegation is made:
 * who may decide is worked out from the delegations in force when a task is read or decided, so
 * a delegation made or withdrawn takes effect at once, for tasks old and new. A deputy's deputy
 * is not a deputy: delegation goes one step.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { recordAudit } from '../audit/recorder.js';
import { chunks, placeholders } from '../db/batches.js';
import { forUpdate, type Database, type Sql, type Transaction } from '../db/database.js';
import type { ChangeContext } from '../identity/resources.js';
import { daysAfter } from '../lifecycle/dates.js';
import { identitiesById, resolveIdentity } from '../policy/identity-ref.js';
import { GovernanceError } from './errors.js';
import { requirePerson, type Actor } from './actor.js';
import { isoDateTime } from '../policy/model.js';

/** The longest a delegation may last: a deputy stands in for an absence, not for good. */
export const MAX_DELEGATION_DAYS = 366;


/** The body of POST /delegations. */
export const delegationInput = z.strictObject({
  deputy: z.string().min(1).max(255).describe('identity id or userName of who decides in your place'),
  from: isoDateTime.optional().describe('when the delegation starts; absent: now'),
  until: isoDateTime.describe('when it ends'),
});
export type DelegationInput = z.infer<typeof delegationInput>;

/** A delegation as clients read it. */
export interface DelegationView {
  id: string;
  delegator: { id: string; userName: string };
  deputy: { id: string; userName: string };
  from: string;
  until: string;
  createdBy: string;
  created: string;
  revoked: string | null;
  /** in force now */
  active: boolean;
}

interface DelegationRow {
  id: string;
  delegator_id: string;
  deputy_id: string;
  starts_at: string;
  ends_at: string;
  created_by: string;
  created: string;
  revoked: string | null;
}

const COLUMNS = 'id, delegator_id, deputy_id, starts_at, ends_at, created_by, created, revoked';

/** Checks a delegation's period: it ends after it starts and after now, and lasts at most MAX_DELEGATION_DAYS. */
export function delegationPeriod(from: string | undefined, until: string, now: Date): { from: string; until: string } {
  const start = from === undefined ? now : new Date(from);
  const end = new Date(until);
  if (end.getTime() <= start.getTime()) throw new GovernanceError('invalid', `until (${end.toISOString()}) must be after from (${start.toISOString()})`);
  if (end.getTime() <= now.getTime()) throw new GovernanceError('invalid', `until (${end.toISOString()}) is already past`);
  if (end.getTime() > daysAfter(start, MAX_DELEGATION_DAYS).getTime()) {
    throw new GovernanceError('invalid', `a delegation lasts at most ${MAX_DELEGATION_DAYS} days`, { maxDays: MAX_DELEGATION_DAYS });
  }
  return { from: start.toISOString(), until: end.toISOString() };
}

/** Records, lists and withdraws delegations. */
export class DelegationService {
  constructor(
    private readonly db: Database,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The caller names a deputy for a period; refused for a token that belongs to no person. */
  async create(input: DelegationInput, by: Actor): Promise<DelegationView> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      // The deputy is looked up first, so an unknown one is a 404 whoever asks.
      const deputy = await resolveIdentity(tx, input.deputy);
      if (!deputy) throw new GovernanceError('notFound', `identity ${input.deputy} does not exist`);
      const delegatorId = requirePerson(by, 'name a deputy');
      if (deputy.id === delegatorId) throw new GovernanceError('invalid', 'you cannot be your own deputy');
      if (!deputy.active) throw new GovernanceError('invalid', `${deputy.userName} is not active and cannot be a deputy`);
      const period = delegationPeriod(input.from, input.until, now);
      const row: DelegationRow = {
        id: randomUUID(), delegator_id: delegatorId, deputy_id: deputy.id, starts_at: period.from, ends_at: period.until,
        created_by: by.actor, created: now.toISOString(), revoked: null,
      };
      await tx.execute(`INSERT INTO delegations (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [row.id, row.delegator_id, row.deputy_id, row.starts_at, row.ends_at, row.created_by, row.created, row.revoked]);
      const [view] = await toViews(tx, [row], now);
      await recordAudit(tx, {
        actor: by.actor, action: 'delegation.create', targetType: 'delegation', targetId: row.id, requestId: by.requestId,
        details: { delegator: view!.delegator.userName, deputy: view!.deputy.userName, from: row.starts_at, until: row.ends_at },
      });
      return view!;
    });
  }

  /**
   * The delegations a person gave or received that have not ended (with `includeEnded`, also
   * those that have ended or were withdrawn), newest first.
   */
  async list(identityId: string, options: { includeEnded?: boolean } = {}): Promise<DelegationView[]> {
    const now = this.clock();
    const current = options.includeEnded ? '' : ' AND revoked IS NULL AND ends_at > ?';
    const rows = await this.db.query<DelegationRow>(
      `SELECT ${COLUMNS} FROM delegations WHERE (delegator_id = ? OR deputy_id = ?)${current} ORDER BY created DESC, id DESC LIMIT 1000`,
      options.includeEnded ? [identityId, identityId] : [identityId, identityId, now.toISOString()]);
    return toViews(this.db, rows, now);
  }

  /** Withdraws a delegation: by the person who gave it (or an iam-admin). */
  async revoke(id: string, by: Actor): Promise<DelegationView> {
    const now = this.clock();
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<DelegationRow>(`SELECT ${COLUMNS} FROM delegations WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
      if (!row) throw new GovernanceError('notFound', `delegation ${id} does not exist`);
      const admin = by.scopes?.includes('iam-admin') === true;
      if (!admin && by.identityId !== row.delegator_id) {
        // Someone else's delegation is not shown to the deputy's colleagues; the deputy may know it exists.
        if (by.identityId !== row.deputy_id) throw new GovernanceError('notFound', `delegation ${id} does not exist`);
        throw new GovernanceError('forbidden', 'only the person who named the deputy can withdraw a delegation');
      }
      if (row.revoked !== null) throw new GovernanceError('conflict', `delegation ${id} was already withdrawn at ${row.revoked}`);
      if (row.ends_at <= now.toISOString()) throw new GovernanceError('conflict', `delegation ${id} ended at ${row.ends_at}`);
      await tx.execute('UPDATE delegations SET revoked = ? WHERE id = ?', [now.toISOString(), id]);
      const [view] = await toViews(tx, [{ ...row, revoked: now.toISOString() }], now);
      await recordAudit(tx, {
        actor: by.actor, action: 'delegation.revoke', targetType: 'delegation', targetId: id, requestId: by.requestId,
        details: { delegator: view!.delegator.userName, deputy: view!.deputy.userName, from: row.starts_at, until: row.ends_at },
      });
      return view!;
    });
  }
}

/** The people whose approvals `deputyId` may decide at `at`: delegators of delegations in force. */
export async function delegatorsOf(sql: Sql, deputyId: string, at: Date): Promise<string[]> {
  const now = at.toISOString();
  const rows = await sql.query<{ delegator_id: string }>(
    'SELECT DISTINCT delegator_id FROM delegations WHERE deputy_id = ? AND revoked IS NULL AND starts_at <= ? AND ends_at > ?', [deputyId, now, now]);
  return rows.map((r) => r.delegator_id);
}

/** The deputies in force at `at` of each of these people. */
export async function deputiesOf(sql: Sql, delegatorIds: readonly string[], at: Date): Promise<Map<string, string[]>> {
  const now = at.toISOString();
  const out = new Map<string, string[]>();
  for (const chunk of chunks([...new Set(delegatorIds)])) {
    const rows = await sql.query<{ delegator_id: string; deputy_id: string }>(
      `SELECT DISTINCT delegator_id, deputy_id FROM delegations WHERE delegator_id IN (${placeholders(chunk.length)}) AND revoked IS NULL AND starts_at <= ? AND ends_at > ?`,
      [...chunk, now, now]);
    for (const row of rows) out.set(row.delegator_id, [...(out.get(row.delegator_id) ?? []), row.deputy_id]);
  }
  return out;
}

/** Withdraws every delegation not yet ended that these people gave or received (they have left), audited. */
export async function revokeDelegationsOf(tx: Transaction, identityIds: readonly string[], at: Date, ctx: ChangeContext): Promise<number> {
  const now = at.toISOString();
  let revoked = 0;
  for (const chunk of chunks([...new Set(identityIds)])) {
    const marks = placeholders(chunk.length);
    const rows = await tx.query<DelegationRow>(
      `SELECT ${COLUMNS} FROM delegations WHERE (delegator_id IN (${marks}) OR deputy_id IN (${marks})) AND revoked IS NULL AND ends_at > ?${forUpdate(tx.dialect)}`,
      [...chunk, ...chunk, now]);
    if (rows.length === 0) continue;
    for (const ids of chunks(rows.map((r) => r.id))) {
      await tx.execute(`UPDATE delegations SET revoked = ? WHERE id IN (${placeholders(ids.length)})`, [now, ...ids]);
    }
    const views = await toViews(tx, rows, at);
    await recordAudit(tx, views.map((v) => ({
      actor: ctx.actor, action: 'delegation.revoke', targetType: 'delegation', targetId: v.id, requestId: ctx.requestId,
      details: { delegator: v.delegator.userName, deputy: v.deputy.userName, from: v.from, until: v.until, reason: 'leaver' },
    })));
    revoked += rows.length;
  }
  return revoked;
}

async function toViews(sql: Sql, rows: DelegationRow[], now: Date): Promise<DelegationView[]> {
  const names = await identitiesById(sql, rows.flatMap((r) => [r.delegator_id, r.deputy_id]));
  const person = (id: string) => ({ id, userName: names.get(id)?.userName ?? id });
  const at = now.toISOString();
  return rows.map((r) => ({
    id: r.id, delegator: person(r.delegator_id), deputy: person(r.deputy_id), from: r.starts_at, until: r.ends_at,
    createdBy: r.created_by, created: r.created, revoked: r.revoked,
    active: r.revoked === null && r.starts_at <= at && r.ends_at > at,
  }));
}
