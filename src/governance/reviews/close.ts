/*
 * Closing a campaign, by hand or when its last stage's time is up. Items nobody decided (in any
 * stage: an undecided item stops at the end of its stage, as midPoint's "no response") get the
 * definition's outcome: keep or revoke, decided by 'system:review-close', or open (left
 * undecided and counted). Then every revoke decision whose grant still exists is carried out,
 * and the summary is stored.
 *
 * Three steps, so a crash between them loses nothing: (1) in one transaction the campaign turns
 * 'closing' (decisions are refused from then on) and the outcome is applied; (2) revocations,
 * one grant at a time, each in GrantService's own transaction (a revoked grant is simply no
 * longer found, so running this again is harmless); (3) in one transaction the summary is
 * written and the campaign turns 'closed'. tick() finishes a close that stopped after (1).
 */
import { recordAudit } from '../../audit/recorder.js';
import { GovernanceError } from '../errors.js';
import { campaignCounts, getCampaign, type CampaignRecord } from './campaigns.js';
import { revokeGrants } from './decide.js';
import { revocationTotals } from './report.js';
import type { Actor, CampaignCounts, CampaignSummary, ReviewDeps } from './types.js';

/** Who decides the undecided items at close. */
export const CLOSE_ACTOR = 'system:review-close';
const PAGE = 1000;

/** What the advance steps recorded while the campaign ran: per stage, items carried to the next and dropped. */
export interface StageHistory {
  stage: number;
  carried: number;
  dropped: number;
}

/** The progress a campaign's summary column holds while it runs, advances or closes. */
export interface Progress {
  phase?: 'advancing' | 'closing';
  since?: string;
  by?: string;
  decidedAtClose?: number;
  history?: StageHistory[];
}

/** The summary of a closed campaign from its final counts and the advance history. */
export function summarize(record: CampaignRecord, counts: CampaignCounts, progress: Progress, revocations: CampaignSummary['revocations'], closedBy: string): CampaignSummary {
  const at = (stage: number) => counts.stages.find((s) => s.stage === stage) ?? { stage, items: 0, kept: 0, revoked: 0, undecided: 0 };
  const history = progress.history ?? [];
  const last = record.stage;
  let kept = at(last).kept;
  let dropped = 0;
  for (const h of history) {
    if (h.stage >= last) continue;
    // A stage's keeps that did not go on were either dropped (grant or person gone) or decided at close.
    kept += at(h.stage).kept - h.carried - h.dropped;
    dropped += h.dropped;
  }
  return {
    reviewed: at(0).items, kept, revoked: counts.revoked, open: counts.undecided, dropped,
    undecidedOutcome: record.snapshot.definition.undecided, decidedAtClose: progress.decidedAtClose ?? 0,
    revocations, stagesRun: last + 1, closedBy, stages: counts.stages,
  };
}

/**
 * Closes a running campaign (or, with `resume`, finishes one left 'closing'). Refused (conflict)
 * for a campaign that is closed, failed, still starting or advancing.
 */
export async function closeCampaign(deps: ReviewDeps, campaignId: string, by: Actor, resume = false): Promise<void> {
  const { db } = deps;
  const now = deps.clock();
  const progress = await db.transaction(async (tx) => {
    const campaign = await getCampaign(tx, campaignId, true);
    const current = (campaign.summary ?? {}) as Progress;
    if (campaign.status === 'closing' && resume) return current;
    if (campaign.status !== 'running') {
      const why = campaign.status === 'closing' ? 'is being closed' : campaign.status === 'advancing' ? 'is moving to its next stage; try again in a moment' : `is ${campaign.status}`;
      throw new GovernanceError('conflict', `campaign ${campaignId} ${why}`);
    }
    const outcome = campaign.snapshot.definition.undecided;
    let decidedAtClose = 0;
    if (outcome !== 'open') {
      // A birthright grant cannot be revoked: under a revoke outcome its item stays open.
      const birthright = outcome === 'revoke' ? " AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = review_items.grant_id AND g.source = 'birthright')" : '';
      decidedAtClose = await tx.execute(
        `UPDATE review_items SET decision = ?, decided_by = ?, decided_at = ?, comment = ? WHERE campaign_id = ? AND decision IS NULL${birthright}`,
        [outcome, CLOSE_ACTOR, now.toISOString(), 'undecided when the campaign closed', campaignId]);
    }
    const next: Progress = { ...current, phase: 'closing', since: now.toISOString(), by: by.actor, decidedAtClose };
    await tx.execute("UPDATE review_campaigns SET status = 'closing', summary = ? WHERE id = ?", [JSON.stringify(next), campaignId]);
    return next;
  });

  // Revocations: every revoke decision whose grant is still there, in item order.
  let after = 0;
  let revoked = 0;
  let firstError: string | undefined;
  for (;;) {
    const rows = await db.query<{ id: number | string; grant_id: string }>(
      `SELECT i.id, i.grant_id FROM review_items i JOIN grants g ON g.id = i.grant_id
       WHERE i.campaign_id = ? AND i.decision = 'revoke' AND i.id > ? ORDER BY i.id LIMIT ${PAGE}`, [campaignId, after]);
    if (rows.length === 0) break;
    const outcome = await revokeGrants(deps.grants, rows.map((r) => r.grant_id), { actor: CLOSE_ACTOR, ...(by.requestId !== undefined && { requestId: by.requestId }) });
    revoked += outcome.revoked;
    firstError ??= outcome.firstError;
    after = Number(rows[rows.length - 1]!.id);
  }

  const counts = await campaignCounts(db, campaignId);
  const totals = await revocationTotals(db, campaignId);
  await db.transaction(async (tx) => {
    const campaign = await getCampaign(tx, campaignId, true);
    if (campaign.status !== 'closing') return;
    const summary = summarize(campaign, counts, progress, {
      applied: totals.applied, failed: totals.pending, ...(firstError !== undefined && { firstError: firstError.slice(0, 500) }),
    }, progress.by ?? by.actor);
    await tx.execute("UPDATE review_campaigns SET status = 'closed', closed = ?, summary = ? WHERE id = ?", [now.toISOString(), JSON.stringify(summary), campaignId]);
    await recordAudit(tx, {
      actor: by.actor, action: 'review.close', targetType: 'review_campaign', targetId: campaignId, requestId: by.requestId ?? null,
      details: { name: campaign.name, reviewed: summary.reviewed, kept: summary.kept, revoked: summary.revoked, open: summary.open, dropped: summary.dropped,
        undecidedOutcome: summary.undecidedOutcome, decidedAtClose: summary.decidedAtClose, revocations: summary.revocations, revokedAtClose: revoked },
    });
  });
}
