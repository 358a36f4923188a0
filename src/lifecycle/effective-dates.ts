/*
 * The effective-dates job: applies what has come due without a feed saying so again. Pending
 * hires whose start date has arrived become joiners (rehires when they had left before);
 * scheduled terminations that have arrived become leavers; grants whose validity ended (a mover's
 * grace period, a time-limited request) are removed and the accounts follow, as they do for
 * grants whose validity began; pending people
 * entering the pre-provisioning window get their disabled accounts. It runs on a schedule and
 * at start-up, so what came due while the server was down is applied when it starts.
 */
import { chunks, placeholders } from '../db/batches.js';
import { recordAudit } from '../audit/recorder.js';
import type { Database } from '../db/database.js';
import type { IdentityService } from '../identity/identity-service.js';
import type { ChangeContext } from '../identity/resources.js';
import { CHUNK_SIZE } from './feed-apply.js';
import { daysAfter, isoDate } from './dates.js';
import type { JmlActions, LifecycleEvent } from './jml.js';

export const EFFECTIVE_DATES_ACTOR = 'system:effective-dates';

export interface EffectiveDatesReport {
  started: number;
  left: number;
  grantsExpired: number;
  preProvisioned: number;
}


export class EffectiveDates {
  constructor(
    private readonly db: Database,
    private readonly identities: IdentityService,
    private readonly jml: JmlActions,
    private readonly options: { preProvisionDays: number },
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Applies everything due at the clock's time. */
  async run(): Promise<EffectiveDatesReport> {
    const now = this.clock();
    const today = isoDate(now);
    const ctx: ChangeContext = { actor: EFFECTIVE_DATES_ACTOR, requestId: `schedule:${today}` };

    const starting = await this.db.query<{ identity_id: string; starts_on: string; terminated_at: string | null }>(
      "SELECT identity_id, starts_on, terminated_at FROM identity_lifecycle WHERE status = 'pending' AND starts_on IS NOT NULL AND starts_on <= ? ORDER BY identity_id",
      [today]);
    await this.activate(starting.map((r) => ({
      identityId: r.identity_id, kind: r.terminated_at === null ? 'joiner' : 'rehire', state: { status: 'active' }, effective: r.starts_on,
    })), true, ctx, now);

    const leaving = await this.db.query<{ identity_id: string; leaves_on: string }>(
      "SELECT identity_id, leaves_on FROM identity_lifecycle WHERE status = 'active' AND leaves_on IS NOT NULL AND leaves_on <= ? ORDER BY identity_id",
      [today]);
    await this.activate(leaving.map((r) => ({ identityId: r.identity_id, kind: 'leaver', state: {}, effective: r.leaves_on })), false, ctx, now);

    const grantsExpired = await this.expireGrants(ctx, now);

    // Grants that started since the previous runs (valid_from reached): their accounts follow. Two
    // days back covers a missed run or a server down over a weekend night; planning twice is free.
    const since = daysAfter(now, -2).toISOString();
    const grantsStarted = await this.db.query<{ identity_id: string }>(
      'SELECT DISTINCT identity_id FROM grants WHERE valid_from IS NOT NULL AND valid_from > ? AND valid_from <= ? ORDER BY identity_id', [since, now.toISOString()]);
    for (const chunk of chunks(grantsStarted.map((r) => r.identity_id), CHUNK_SIZE)) {
      await this.db.transaction((tx) => this.jml.planOnly(tx, chunk, ctx, now));
    }

    let preProvisioned = 0;
    if (this.options.preProvisionDays > 0) {
      const horizon = isoDate(daysAfter(now, this.options.preProvisionDays));
      const soon = await this.db.query<{ identity_id: string }>(
        "SELECT identity_id FROM identity_lifecycle WHERE status = 'pending' AND starts_on IS NOT NULL AND starts_on <= ? ORDER BY identity_id", [horizon]);
      for (const chunk of chunks(soon.map((r) => r.identity_id), CHUNK_SIZE)) {
        // A pending event with nothing to change: the JML actions plan the disabled accounts of the window.
        const outcome = await this.db.transaction((tx) => this.jml.apply(tx, chunk.map((identityId) => ({ identityId, kind: 'pending', state: {} })), ctx, now));
        preProvisioned += outcome.operationsEnqueued;
      }
    }
    return { started: starting.length, left: leaving.length, grantsExpired, preProvisioned };
  }

  /** Sets each identity's active flag and runs its lifecycle event, a chunk per transaction. */
  private async activate(due: Array<LifecycleEvent & { effective: string }>, active: boolean, ctx: ChangeContext, now: Date): Promise<void> {
    for (const chunk of chunks(due, CHUNK_SIZE)) {
      await this.db.transaction(async (tx) => {
        const effective = new Map(chunk.map((e) => [e.identityId, e.effective]));
        const updated = await this.identities.updateMany(tx, chunk.map((e) => ({
          id: e.identityId,
          change: (current) => ({ ...current, active }),
          audit: { lifecycle: e.kind, effectiveDate: effective.get(e.identityId) },
        })), ctx);
        const present = new Set(updated.map((u) => u.before.id));
        await this.jml.apply(tx, chunk.filter((e) => present.has(e.identityId)).map(({ effective: _e, ...event }) => event), ctx, now);
      });
    }
  }

  /**
   * Removes grants whose validity has ended: other sources' grants are deleted (audited), and
   * birthright grants on a grace period go through the birthright recompute, which removes them
   * unless a rule gives them again; then the accounts follow.
   */
  private async expireGrants(ctx: ChangeContext, now: Date): Promise<number> {
    const stamp = now.toISOString();
    const rows = await this.db.query<{ identity_id: string }>(
      'SELECT DISTINCT identity_id FROM grants WHERE valid_until IS NOT NULL AND valid_until <= ? ORDER BY identity_id', [stamp]);
    let expired = 0;
    for (const chunk of chunks(rows.map((r) => r.identity_id), CHUNK_SIZE)) {
      expired += await this.db.transaction(async (tx) => {
        const ids = placeholders(chunk.length);
        const ended = await tx.query<{ id: string; identity_id: string; item: string; source: string; source_ref: string; valid_until: string }>(
          `SELECT id, identity_id, item, source, source_ref, valid_until FROM grants
            WHERE identity_id IN (${ids}) AND valid_until IS NOT NULL AND valid_until <= ? AND source <> 'birthright' ORDER BY id`,
          [...chunk, stamp]);
        for (const part of chunks(ended.map((g) => g.id))) await tx.execute(`DELETE FROM grants WHERE id IN (${placeholders(part.length)})`, part);
        if (ended.length > 0) {
          await recordAudit(tx, ended.map((g) => ({
            actor: ctx.actor, action: 'grant.expire', targetType: 'identity', targetId: g.identity_id, requestId: ctx.requestId,
            details: { grantId: g.id, item: g.item, source: g.source, sourceRef: g.source_ref, validUntil: g.valid_until },
          })));
        }
        const outcome = await this.jml.refresh(tx, chunk, ctx, now);
        return ended.length + outcome.grantsRemoved;
      });
    }
    return expired;
  }
}
