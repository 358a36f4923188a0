/*
 * Keep or revoke, one item or many at once. All the items of a call are decided together or not
 * at all: an unknown item is 404; an item the caller may not decide 403 (only its reviewer, or in
 * a stage of named people any of them, never for their own access; an unassigned item only an
 * iam-admin token); an item already decided, of a stage that is over, or of a campaign not
 * running 409; revoking a birthright grant 422 (it follows its rule, not a reviewer).
 * A revocation is carried out once the decisions are committed (definition flag applyImmediately,
 * the default) through GrantService.revoke, which queues the deprovisioning in the outbox; a
 * revocation that fails then is retried when the campaign closes, as are all revocations of a
 * definition that applies them at the end.
 */
import { recordAudit } from '../../audit/recorder.js';
import { placeholders } from '../../db/batches.js';
import { forUpdate, type Database } from '../../db/database.js';
import type { GrantService } from '../../policy/grants.js';
import { PolicyError } from '../../policy/model.js';
import type { ReviewStage } from '../definitions.js';
import { GovernanceError } from '../errors.js';
import { ITEM_ROW_COLUMNS, type ItemRow } from './items.js';
import { namedReviewers } from './reviewers.js';
import { UNASSIGNED, type Actor, type CampaignSnapshot, type Decision } from './types.js';

/** Items one call may decide. */
export const MAX_DECISIONS = 1000;
/** Item ids an audit event lists before it only counts. */
const AUDITED_IDS = 200;
const COMMENT_MAX = 4000;

interface DecideRow extends ItemRow {
  c_status: string;
  c_stage: number | string;
  c_definition: string;
  grant_source: string | null;
}

/** What a call decided and revoked. */
export interface DecideResult {
  decided: number;
  /** grants removed now (applyImmediately) */
  revoked: number;
  /** revocations that failed now and will be retried at close */
  failed: number;
}

/** Revokes grants one by one; an already revoked grant counts as done. Returns how many went and the first error. */
export async function revokeGrants(grants: GrantService, grantIds: readonly string[], by: { actor: string; requestId?: string }): Promise<{ revoked: number; failed: number; firstError?: string }> {
  let revoked = 0;
  let failed = 0;
  let firstError: string | undefined;
  for (const id of grantIds) {
    try {
      await grants.revoke(id, { actor: by.actor, ...(by.requestId !== undefined && { requestId: by.requestId }) });
      revoked++;
    } catch (err) {
      if (err instanceof PolicyError && err.kind === 'notFound') continue;
      failed++;
      firstError ??= (err as Error).message;
    }
  }
  return { revoked, failed, ...(firstError !== undefined && { firstError }) };
}

/** Records a decision on items; see the module comment for who may and when. */
export async function decideItems(
  db: Database, grants: GrantService, clock: () => Date,
  itemIds: readonly number[], input: { decision: Decision; comment?: string }, by: Actor,
): Promise<DecideResult> {
  const ids = [...new Set(itemIds)];
  if (ids.length === 0) throw new GovernanceError('invalid', 'name at least one review item');
  if (ids.length > MAX_DECISIONS) throw new GovernanceError('invalid', `at most ${MAX_DECISIONS} items can be decided in one call`);
  const comment = input.comment?.slice(0, COMMENT_MAX) ?? null;
  const now = clock().toISOString();
  const isAdmin = by.scopes?.includes('iam-admin') ?? false;

  const toRevoke = await db.transaction(async (tx) => {
    const rows = await tx.query<DecideRow>(
      `SELECT ${ITEM_ROW_COLUMNS}, c.status AS c_status, c.stage AS c_stage, c.definition AS c_definition, g.source AS grant_source
       FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id LEFT JOIN grants g ON g.id = i.grant_id
       WHERE i.id IN (${placeholders(ids.length)})${forUpdate(tx.dialect)}`, ids);
    const found = new Set(rows.map((r) => Number(r.id)));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new GovernanceError('notFound', `review item${missing.length > 1 ? 's' : ''} ${missing.slice(0, 20).join(', ')} do${missing.length > 1 ? '' : 'es'} not exist`, { items: missing.slice(0, 100) });

    // Each campaign's definition, and the named people of its current stage.
    const snapshots = new Map<string, CampaignSnapshot>();
    const stages: Array<{ id: string; stage: ReviewStage | undefined }> = [];
    for (const row of rows) {
      if (snapshots.has(row.campaign_id)) continue;
      const snapshot = JSON.parse(row.c_definition) as CampaignSnapshot;
      snapshots.set(row.campaign_id, snapshot);
      stages.push({ id: row.campaign_id, stage: snapshot.definition.stages[Number(row.c_stage)] });
    }
    const named = await namedReviewers(tx, stages);
    const me = by.identityId;
    const mayDecide = (row: DecideRow) => {
      if (me !== null && row.identity_id === me) return false;
      if (row.reviewer_id === UNASSIGNED) return isAdmin;
      if (me === null) return false;
      return row.reviewer_id === me || (Number(row.stage) === Number(row.c_stage) && named.get(row.campaign_id)?.has(me) === true);
    };
    const refused = rows.filter((r) => !mayDecide(r)).map((r) => Number(r.id));
    if (refused.length > 0) {
      throw new GovernanceError('forbidden', `you are not the reviewer of item${refused.length > 1 ? 's' : ''} ${refused.slice(0, 20).join(', ')}`, { items: refused.slice(0, 100) });
    }
    const notRunning = rows.filter((r) => r.c_status !== 'running');
    if (notRunning.length > 0) {
      throw new GovernanceError('conflict', `campaign ${notRunning[0]!.campaign_id} is ${notRunning[0]!.c_status}; its items can no longer be decided`, { items: notRunning.slice(0, 100).map((r) => Number(r.id)) });
    }
    const over = rows.filter((r) => Number(r.stage) !== Number(r.c_stage));
    if (over.length > 0) throw new GovernanceError('conflict', `the stage of item${over.length > 1 ? 's' : ''} ${over.slice(0, 20).map((r) => r.id).join(', ')} is over`, { items: over.slice(0, 100).map((r) => Number(r.id)) });
    const decided = rows.filter((r) => r.decision !== null);
    if (decided.length > 0) {
      throw new GovernanceError('conflict', `item${decided.length > 1 ? 's' : ''} ${decided.slice(0, 20).map((r) => r.id).join(', ')} ${decided.length > 1 ? 'are' : 'is'} already decided`, { items: decided.slice(0, 100).map((r) => Number(r.id)) });
    }
    if (input.decision === 'revoke') {
      const birthright = rows.filter((r) => r.grant_source === 'birthright');
      if (birthright.length > 0) {
        throw new GovernanceError('invalid', `item${birthright.length > 1 ? 's' : ''} ${birthright.slice(0, 20).map((r) => r.id).join(', ')} review${birthright.length > 1 ? '' : 's'} birthright access, which follows its rule and cannot be revoked by a reviewer; change the rule or the person's attributes`,
          { items: birthright.slice(0, 100).map((r) => Number(r.id)) });
      }
    }

    const decidedBy = me ?? by.actor;
    const changed = await tx.execute(
      `UPDATE review_items SET decision = ?, comment = ?, decided_by = ?, decided_at = ? WHERE id IN (${placeholders(ids.length)}) AND decision IS NULL`,
      [input.decision, comment, decidedBy, now, ...ids]);
    if (changed !== ids.length) throw new GovernanceError('conflict', 'some of these items were decided meanwhile; read them again');
    const byCampaign = new Map<string, number[]>();
    for (const row of rows) byCampaign.set(row.campaign_id, [...(byCampaign.get(row.campaign_id) ?? []), Number(row.id)]);
    await recordAudit(tx, [...byCampaign].map(([campaignId, list]) => ({
      actor: by.actor, action: 'review.decide', targetType: 'review_campaign', targetId: campaignId, requestId: by.requestId ?? null,
      details: {
        decision: input.decision, decidedBy, count: list.length, items: list.slice(0, AUDITED_IDS),
        ...(list.length > AUDITED_IDS && { itemsNotListed: list.length - AUDITED_IDS }),
        ...(comment !== null && { comment: comment.slice(0, 500) }),
      },
    })));
    if (input.decision !== 'revoke') return [];
    return rows.filter((r) => r.grant_source !== null && snapshots.get(r.campaign_id)!.definition.applyImmediately !== false).map((r) => r.grant_id);
  });

  const outcome = toRevoke.length > 0 ? await revokeGrants(grants, toRevoke, by) : { revoked: 0, failed: 0 };
  return { decided: ids.length, revoked: outcome.revoked, failed: outcome.failed };
}
