/*
 * Approved exceptions to separation-of-duties rules: an identity that may break one rule, until
 * a date or for good. Recording one is the end of an approval made elsewhere; SodService reads
 * them when it checks a grant and when it reports violations.
 */
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../audit/recorder.js';
import { forUpdate, type Database, type Sql, type Transaction } from '../db/database.js';
import type { ChangeContext } from '../identity/resources.js';
import { CatalogCache } from './catalog.js';
import { identitiesById, resolveIdentity } from './identity-ref.js';
import { describeIssues, PolicyError, sodExceptionInput } from './model.js';
import type { SodException } from './sod.js';

/** Records, lists and withdraws SoD exceptions, each change audited. */
export class SodExceptions {

  constructor(private readonly db: Database, private readonly clock: () => Date = () => new Date()) {}

  /** Recorded SoD exceptions, valid or expired; the identity by id or userName. */
  async list(filter: { rule?: string; identityId?: string } = {}): Promise<SodException[]> {
    let identityId: string | undefined;
    if (filter.identityId !== undefined) {
      identityId = (await resolveIdentity(this.db, filter.identityId))?.id;
      if (identityId === undefined) return [];
    }
    return readSodExceptions(this.db, { rule: filter.rule, identityId });
  }

  /**
   * Records an approved exception: the identity may break the rule (until validUntil, if given).
   * One exception per rule and identity; recording another replaces it (a renewal).
   */
  async create(input: unknown, ctx: ChangeContext): Promise<SodException> {
    return this.db.transaction((tx) => this.recordIn(tx, input, ctx));
  }

  /** As create, inside the caller's transaction: an approved request records its exceptions in the transaction that grants. */
  async recordIn(tx: Transaction, input: unknown, ctx: ChangeContext): Promise<SodException> {
    const parsed = sodExceptionInput.safeParse(input);
    if (!parsed.success) throw new PolicyError('invalid', `the SoD exception is not valid: ${describeIssues(parsed.error)}`);
    const request = parsed.data;
    const validUntil = request.validUntil == null ? null : new Date(request.validUntil).toISOString();
    const now = this.clock().toISOString();
    if (validUntil !== null && validUntil <= now) throw new PolicyError('invalid', `validUntil ${validUntil} is already past`);
    const { catalog } = await CatalogCache.of(this.db).read(tx, 'share');
    if (!catalog.sodRules.has(request.rule)) throw new PolicyError('notFound', `SoD rule ${request.rule} does not exist`);
    const identity = await resolveIdentity(tx, request.identity);
    if (!identity) throw new PolicyError('notFound', `identity ${request.identity} does not exist`);
    const previous = await lockSodException(tx, 'rule = ? AND identity_id = ?', [request.rule, identity.id]);
    const exception: SodException = {
      id: previous?.id ?? randomUUID(), rule: request.rule, identityId: identity.id, userName: identity.userName,
      reason: request.reason, approvedBy: request.approvedBy, validUntil, created: now,
    };
    if (previous) {
      await tx.execute('UPDATE sod_exceptions SET reason = ?, approved_by = ?, valid_until = ?, created = ? WHERE id = ?',
        [exception.reason, exception.approvedBy, exception.validUntil, exception.created, exception.id]);
    } else {
      await tx.execute('INSERT INTO sod_exceptions (id, rule, identity_id, reason, approved_by, valid_until, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [exception.id, exception.rule, exception.identityId, exception.reason, exception.approvedBy, exception.validUntil, exception.created]);
    }
    await recordAudit(tx, {
      actor: ctx.actor, action: previous ? 'sodException.update' : 'sodException.create', targetType: 'sodException', targetId: exception.id,
      requestId: ctx.requestId, details: { ...(previous && { before: previous }), after: exception },
    });
    return exception;
  }

  /** Deletes a recorded exception; grants it allowed stay, and show in the violations report from then on. */
  async remove(id: string, ctx: ChangeContext): Promise<void> {
    await this.db.transaction(async (tx) => {
      const previous = await lockSodException(tx, 'id = ?', [id]);
      if (!previous) throw new PolicyError('notFound', `SoD exception ${id} does not exist`);
      await tx.execute('DELETE FROM sod_exceptions WHERE id = ?', [id]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'sodException.delete', targetType: 'sodException', targetId: id, requestId: ctx.requestId,
        details: { before: previous },
      });
    });
  }
}

interface ExceptionRow {
  id: string;
  rule: string;
  identity_id: string;
  reason: string | null;
  approved_by: string;
  valid_until: string | null;
  created: string;
}

/** Locks the exception `where` selects (or, on MySQL, the gap it would fill) and reads it. */
async function lockSodException(tx: Transaction, where: string, params: string[]): Promise<SodException | undefined> {
  const [row] = await tx.query<{ id: string }>(`SELECT id FROM sod_exceptions WHERE ${where}${forUpdate(tx.dialect)}`, params);
  return row ? (await readSodExceptions(tx, { id: row.id }))[0] : undefined;
}

/** Recorded exceptions (valid or not), by rule then identity, each with its identity's userName. */
export async function readSodExceptions(sql: Sql, filter: { rule?: string; identityId?: string; id?: string } = {}): Promise<SodException[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [['id', filter.id], ['rule', filter.rule], ['identity_id', filter.identityId]] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  const rows = await sql.query<ExceptionRow>(
    `SELECT id, rule, identity_id, reason, approved_by, valid_until, created FROM sod_exceptions${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY rule, identity_id`,
    params);
  const names = await identitiesById(sql, rows.map((r) => r.identity_id));
  return rows.map((row) => {
    const userName = names.get(row.identity_id)?.userName;
    return {
      id: row.id, rule: row.rule, identityId: row.identity_id, ...(userName !== undefined && { userName }),
      reason: row.reason, approvedBy: row.approved_by, validUntil: row.valid_until, created: row.created,
    };
  });
}
