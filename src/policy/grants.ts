/*
 * Grants: who should hold which role or entitlement, why, and from when until when. Every write
 * runs in one transaction that locks the identity first, so two grants to one person are checked
 * one after the other and neither can slip past the SoD check the other would fail.
 */
import { chunks, placeholders } from '../db/batches.js';
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../audit/recorder.js';
import { forUpdate, uniqueViolation, type Database, type Sql, type Transaction } from '../db/database.js';
import type { ChangeContext } from '../identity/resources.js';
import type { BirthrightService } from './birthright.js';
import { CatalogCache, type Catalog } from './catalog.js';
import type { PolicyChangeLog } from './changes.js';
import { resolveIdentity, type IdentityRef } from './identity-ref.js';
import { describeIssues, grantInput, parseItem, PolicyError, type Grant, type GrantSource } from './model.js';
import type { SodService, SodViolation } from './sod.js';
import { DAY_MS } from '../lifecycle/dates.js';

/** The columns a Grant is read from, in grantFromRow's order. */
export const GRANT_COLUMNS = 'id, identity_id, item, source, source_ref, granted_by, reason, valid_from, valid_until, created';

/** A grants row as the database returns it. */
export interface GrantRow {
  id: string;
  identity_id: string;
  item: string;
  source: string;
  source_ref: string;
  granted_by: string;
  reason: string | null;
  valid_from: string | null;
  valid_until: string | null;
  created: string;
}

/** Turns a grants row into a Grant. */
export function grantFromRow(row: GrantRow): Grant {
  return {
    id: row.id, identityId: row.identity_id, item: row.item, source: row.source as GrantSource, sourceRef: row.source_ref,
    grantedBy: row.granted_by, reason: row.reason, validFrom: row.valid_from, validUntil: row.valid_until, created: row.created,
  };
}

/** A stretch of time, each end open when null; times are ISO strings as toISOString() writes them, so they compare as text. */
export interface Window {
  from: string | null;
  until: string | null;
}

/**
 * The SQL condition (with its parameters) for grants whose validity overlaps `window`: with a
 * window of one instant, the grants in force at that instant.
 */
export function overlapping(window: Window): { sql: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (window.from !== null) {
    parts.push('(valid_until IS NULL OR valid_until > ?)');
    params.push(window.from);
  }
  if (window.until !== null) {
    parts.push('(valid_from IS NULL OR valid_from < ?)');
    params.push(window.until);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1 = 1', params };
}

/** The grants condition for "in force at `at`": started at or before it, not yet ended. */
export function inForceAt(at: Date): { sql: string; params: string[] } {
  const now = at.toISOString();
  return { sql: '(valid_from IS NULL OR valid_from <= ?) AND (valid_until IS NULL OR valid_until > ?)', params: [now, now] };
}

/** The items directly granted to each of these identities by grants matching `condition`, read in batches. */
export async function grantedItems(sql: Sql, identityIds: Iterable<string>, condition: { sql: string; params: string[] }): Promise<Map<string, string[]>> {
  const ids = [...new Set(identityIds)];
  const out = new Map<string, string[]>();
  for (const chunk of chunks(ids)) {
    const rows = await sql.query<{ identity_id: string; item: string }>(
      `SELECT identity_id, item FROM grants WHERE identity_id IN (${placeholders(chunk.length)}) AND ${condition.sql}`,
      [...chunk, ...condition.params]);
    for (const row of rows) {
      const list = out.get(row.identity_id);
      if (list) list.push(row.item);
      else out.set(row.identity_id, [row.item]);
    }
  }
  return out;
}

/** Page size bounds for list(). */
const MAX_PAGE = 1000;

/** Makes, revokes and lists grants, enforcing validity, deny rules, role durations and SoD on the way in. */
/** Told, inside the transaction, whose grants a grant or revocation changed: provisioning follows it. */
export interface GrantFollower {
  grantsChanged(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<unknown>;
}

export class GrantService {

  constructor(
    private readonly db: Database,
    private readonly changes: PolicyChangeLog,
    private readonly birthright: BirthrightService,
    private readonly sod: SodService,
    private readonly follower?: GrantFollower,
    /** the time validity windows and role durations are judged at (the server's governance clock) */
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Grants matching the filter (identity by id or userName), ordered by id; `next` continues the listing. */
  async list(filter: { identityId?: string; item?: string; source?: GrantSource }, page: { limit: number; after?: string }): Promise<{ grants: Grant[]; next?: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.identityId !== undefined) {
      const identity = await resolveIdentity(this.db, filter.identityId);
      if (!identity) return { grants: [] };
      where.push('identity_id = ?');
      params.push(identity.id);
    }
    if (filter.item !== undefined) {
      where.push('item = ?');
      params.push(filter.item);
    }
    if (filter.source !== undefined) {
      where.push('source = ?');
      params.push(filter.source);
    }
    if (page.after !== undefined) {
      where.push('id > ?');
      params.push(page.after);
    }
    const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), MAX_PAGE);
    const rows = await this.db.query<GrantRow>(
      `SELECT ${GRANT_COLUMNS} FROM grants${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit + 1}`, params);
    const grants = rows.slice(0, limit).map(grantFromRow);
    return rows.length > limit ? { grants, next: grants[grants.length - 1]!.id } : { grants };
  }

  /** One grant by id. */
  async get(id: string): Promise<Grant> {
    const [row] = await this.db.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants WHERE id = ?`, [id]);
    if (!row) throw new PolicyError('notFound', `grant ${id} does not exist`);
    return grantFromRow(row);
  }

  /**
   * Grants an item to an identity. Idempotent on (identity, item, source, sourceRef): a repeat
   * returns the existing grant with created=false. Refused when the identity or item is unknown
   * (notFound), the validity window is empty or over, a deny rule matches the identity for the
   * item or anything it gives, a requested role would outlast its maxDurationDays, or the grant
   * would add an SoD violation no valid exception covers (kind 'sod'). `options.before` runs in
   * the grant's transaction once the identity is locked, before the SoD check: an approved
   * request records the SoD exceptions its approvers granted there, so exception and grant
   * commit together or not at all.
   */
  async grant(input: unknown, ctx: ChangeContext, options: { before?: (tx: Transaction) => Promise<unknown> } = {}): Promise<{ created: boolean; grant: Grant }> {
    const parsed = grantInput.safeParse(input);
    if (!parsed.success) throw new PolicyError('invalid', `the grant is not valid: ${describeIssues(parsed.error)}`);
    const request = parsed.data;
    if (request.source === 'birthright') {
      throw new PolicyError('invalid', 'birthright grants are made by birthright rules only; use source manual, request or review');
    }
    const now = this.clock();
    const window = grantWindow(request.validFrom ?? null, request.validUntil ?? null, now);
    let identityId: string | undefined;
    try {
      return await this.db.transaction(async (tx) => {
        // The identity lock comes before any plain read (the catalogue load may be one), so on
        // MySQL the snapshot this transaction reads grants from is taken after every earlier
        // grant to this identity has committed.
        const identity = await lockIdentity(tx, request.identity);
        identityId = identity.id;
        // Checked under the identity's lock, so an approval racing the person's leaving cannot grant them access after they left.
        if (request.source === 'request' && !identity.active) throw new PolicyError('invalid', `${identity.userName} is no longer active; a request cannot be granted to them`);
        const { catalog } = await CatalogCache.of(this.db).read(tx, 'share');
        if (!catalog.has(request.item)) throw new PolicyError('notFound', `${request.item} does not exist in the policy`);
        const existing = await findGrant(tx, identity.id, request.item, request.source, request.sourceRef);
        const expired = existing !== undefined && existing.validUntil !== null && existing.validUntil <= now.toISOString();
        if (existing && !expired) return { created: false, grant: existing };

        checkRequestable(catalog, request.item, request.source);
        await options.before?.(tx);
        checkMaxDuration(catalog, request.item, request.source, window, now);
        await this.refuseDenied(tx, catalog, identity, request.item);
        // A grant starting now is checked against what is in force from now on, not what has expired.
        const violations = await this.sod.checkGrant(tx, catalog, identity.id, [request.item], { from: window.from ?? now.toISOString(), until: window.until });
        // An expired grant of the same origin is replaced: it no longer gives anything.
        if (existing && expired) await tx.execute('DELETE FROM grants WHERE id = ?', [existing.id]);
        const blocking = violations.filter((v) => !v.excepted);
        if (blocking.length > 0) throw sodRefusal(identity, request.item, blocking);

        const grant: Grant = {
          id: randomUUID(), identityId: identity.id, item: request.item, source: request.source, sourceRef: request.sourceRef,
          grantedBy: ctx.actor, reason: request.reason ?? null, validFrom: window.from, validUntil: window.until, created: now.toISOString(),
        };
        await tx.execute(
          `INSERT INTO grants (${GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [grant.id, grant.identityId, grant.item, grant.source, grant.sourceRef, grant.grantedBy, grant.reason, grant.validFrom, grant.validUntil, grant.created]);
        await this.changes.identitiesChanged(tx, [identity.id]);
        await this.follower?.grantsChanged(tx, [identity.id], ctx);
        await recordAudit(tx, {
          actor: ctx.actor, action: 'grant.create', targetType: 'grant', targetId: grant.id, requestId: ctx.requestId,
          details: {
            after: grant, userName: identity.userName,
            ...(existing && expired && { replacesExpired: existing.id }),
            ...(violations.length > 0 && { sodExceptions: violations.map((v) => ({ rule: v.rule, exceptionId: v.exceptionId, left: v.left, right: v.right })) }),
          },
        });
        return { created: true, grant };
      });
    } catch (err) {
      // A concurrent identical grant won the race: the same answer as a repeat.
      if (identityId !== undefined && /grants/.test(uniqueViolation(err) ?? '')) {
        const existing = await findGrant(this.db, identityId, request.item, request.source, request.sourceRef);
        if (existing) return { created: false, grant: existing };
      }
      throw err;
    }
  }

  /** Deletes a grant; birthright grants follow their rule and cannot be revoked by hand. */
  async revoke(id: string, ctx: ChangeContext): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx.query<GrantRow>(`SELECT ${GRANT_COLUMNS} FROM grants WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
      if (!row) throw new PolicyError('notFound', `grant ${id} does not exist`);
      const grant = grantFromRow(row);
      if (grant.source === 'birthright') {
        throw new PolicyError('conflict', `grant ${id} comes from birthright rule ${grant.sourceRef}; it goes when the rule or the identity's attributes stop matching`);
      }
      await tx.execute('DELETE FROM grants WHERE id = ?', [id]);
      await this.changes.identitiesChanged(tx, [grant.identityId]);
      await this.follower?.grantsChanged(tx, [grant.identityId], ctx);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'grant.revoke', targetType: 'grant', targetId: id, requestId: ctx.requestId,
        details: { before: grant },
      });
    });
  }

  /** Refuses an item when an enabled deny rule keeps this identity from it or from anything it gives. */
  private async refuseDenied(tx: Transaction, catalog: Catalog, identity: IdentityRef, item: string): Promise<void> {
    const rules = await this.birthright.denyingRules(tx, catalog, identity.id, item);
    if (rules.length === 0) return;
    // The message names the denied item and how the granted one leads to it.
    const deniedItems = new Set(rules.map((name) => catalog.birthrightRules.get(name)!.item));
    const { item: denied, path } = catalog.closure(item).find((reached) => deniedItems.has(reached.item))!;
    const route = path.length > 1 ? ` (through ${path.join(' -> ')})` : '';
    throw new PolicyError('invalid',
      `${identity.userName} may not hold ${denied}${route}: deny rule${rules.length > 1 ? 's' : ''} ${rules.join(', ')} match${rules.length > 1 ? '' : 'es'} them`,
      { denyRules: rules, item: denied, path });
  }
}

/** The identity `ref` names, its row locked until the transaction ends. */
async function lockIdentity(tx: Transaction, ref: string): Promise<IdentityRef> {
  const identity = await resolveIdentity(tx, ref, { lock: true });
  if (!identity) throw new PolicyError('notFound', `identity ${ref} does not exist`);
  return identity;
}

async function findGrant(sql: Sql, identityId: string, item: string, source: string, sourceRef: string): Promise<Grant | undefined> {
  const [row] = await sql.query<GrantRow>(
    `SELECT ${GRANT_COLUMNS} FROM grants WHERE identity_id = ? AND item = ? AND source = ? AND source_ref = ?`, [identityId, item, source, sourceRef]);
  return row ? grantFromRow(row) : undefined;
}

/** The validity window in stored form (UTC, so text order is time order); refuses empty and finished windows. */
export function grantWindow(validFrom: string | null, validUntil: string | null, now: Date): Window {
  const from = validFrom === null ? null : new Date(validFrom).toISOString();
  const until = validUntil === null ? null : new Date(validUntil).toISOString();
  if (from !== null && until !== null && from >= until) throw new PolicyError('invalid', `validFrom ${from} must be before validUntil ${until}`);
  if (until !== null && until <= now.toISOString()) throw new PolicyError('invalid', `validUntil ${until} is already past`);
  return { from, until };
}

/** Only a requestable role or entitlement can be granted through an access request. */
function checkRequestable(catalog: Catalog, item: string, source: GrantSource): void {
  if (source !== 'request') return;
  const ref = parseItem(item);
  const requestable = ref?.kind === 'role' ? catalog.roles.get(ref.name)?.requestable : catalog.entitlements.get(item)?.requestable;
  if (requestable === false) throw new PolicyError('invalid', `${item} is not requestable; an administrator can grant it with source manual`);
}

/** A requested role may not last longer than its maxDurationDays, and so must say when it ends. */
function checkMaxDuration(catalog: Catalog, item: string, source: GrantSource, window: Window, now: Date): void {
  if (source !== 'request') return;
  const ref = parseItem(item);
  if (ref?.kind !== 'role') return;
  const maxDays = catalog.roles.get(ref.name)?.maxDurationDays;
  if (maxDays === undefined || maxDays === null) return;
  if (window.until === null) throw new PolicyError('invalid', `${item} may be requested for at most ${maxDays} days: give validUntil`, { maxDurationDays: maxDays });
  const start = window.from === null ? now.getTime() : Math.max(Date.parse(window.from), now.getTime());
  const days = (Date.parse(window.until) - start) / DAY_MS;
  if (days > maxDays) {
    throw new PolicyError('invalid', `${item} may be requested for at most ${maxDays} days; this grant would last ${Math.ceil(days)}`, { maxDurationDays: maxDays });
  }
}

function sodRefusal(identity: IdentityRef, item: string, violations: SodViolation[]): PolicyError {
  const describe = (v: SodViolation) => `${v.rule} (${v.left.join(', ')} conflicts with ${v.right.join(', ')})`;
  const [first] = violations;
  return new PolicyError('sod',
    `granting ${item} to ${identity.userName} would violate SoD rule${violations.length > 1 ? 's' : ''} ${violations.map(describe).join('; ')}, and no valid exception is recorded`,
    {
      rule: first!.rule,
      conflicting: [...first!.left, ...first!.right],
      violations: violations.map((v) => ({ rule: v.rule, severity: v.severity, left: v.left, right: v.right })),
    });
}
