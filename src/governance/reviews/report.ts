/*
 * A campaign's report: completion per reviewer (assigned, decided, kept, revoked), every decision
 * (one CSV row per item) and whether each revocation was carried out (the grant is gone).
 * Streamed in item order, a thousand items per read, so a campaign of a million items is
 * reported in constant memory.
 */
import { csvLine } from '../../audit/csv.js';
import type { Sql } from '../../db/database.js';
import { campaignCounts, campaignView, type CampaignRecord } from './campaigns.js';
import { ITEM_ROW_COLUMNS, namesOf, type ItemRow } from './items.js';
import { contextOf } from './item-writer.js';
import { UNASSIGNED } from './types.js';

const PAGE = 1000;

/** One reviewer's progress. */
export interface ReviewerCompletion {
  reviewer: { id: string; userName: string };
  assigned: number;
  decided: number;
  kept: number;
  revoked: number;
}

/** Completion per reviewer (items as they are assigned now), most items first. */
export async function reviewerCompletion(sql: Sql, campaignId: string): Promise<ReviewerCompletion[]> {
  const rows = await sql.query<{ reviewer_id: string; assigned: number | string; kept: number | string | null; revoked: number | string | null }>(
    `SELECT reviewer_id, COUNT(*) AS assigned, SUM(CASE WHEN decision = 'keep' THEN 1 ELSE 0 END) AS kept, SUM(CASE WHEN decision = 'revoke' THEN 1 ELSE 0 END) AS revoked
     FROM review_items WHERE campaign_id = ? GROUP BY reviewer_id`, [campaignId]);
  const names = await namesOf(sql, rows.map((r) => r.reviewer_id));
  return rows.map((r) => {
    const kept = Number(r.kept ?? 0);
    const revoked = Number(r.revoked ?? 0);
    return { reviewer: { id: r.reviewer_id, userName: r.reviewer_id === UNASSIGNED ? '(unassigned)' : names.get(r.reviewer_id)?.userName ?? '' }, assigned: Number(r.assigned), decided: kept + revoked, kept, revoked };
  }).sort((a, b) => b.assigned - a.assigned || a.reviewer.userName.localeCompare(b.reviewer.userName));
}

/** One decision as the report lists it. */
export interface DecisionLine {
  itemId: number;
  stage: number;
  identity: { id: string; userName: string; displayName: string };
  item: string;
  grantId: string;
  source: string;
  reviewer: string;
  reviewerReason: string;
  decision: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  comment: string | null;
  /** for a revoke decision: applied (the grant is gone) or pending; otherwise null */
  revocation: 'applied' | 'pending' | null;
}

/** Every item of a campaign as a decision line, in item order. */
export async function* decisionLines(sql: Sql, campaignId: string): AsyncGenerator<DecisionLine> {
  let after = 0;
  for (;;) {
    const rows = await sql.query<ItemRow & { present: string | null }>(
      `SELECT ${ITEM_ROW_COLUMNS}, g.id AS present FROM review_items i LEFT JOIN grants g ON g.id = i.grant_id
       WHERE i.campaign_id = ? AND i.id > ? ORDER BY i.id LIMIT ${PAGE}`, [campaignId, after]);
    if (rows.length === 0) return;
    const names = await namesOf(sql, rows.flatMap((r) => [r.identity_id, r.reviewer_id, ...(r.decided_by === null ? [] : [r.decided_by])]));
    for (const row of rows) {
      const identity = names.get(row.identity_id);
      const context = contextOf(row.context, row.item);
      yield {
        itemId: Number(row.id), stage: Number(row.stage),
        identity: { id: row.identity_id, userName: identity?.userName ?? '', displayName: identity?.displayName ?? '' },
        item: row.item, grantId: row.grant_id, source: context.source,
        reviewer: row.reviewer_id === UNASSIGNED ? '' : names.get(row.reviewer_id)?.userName ?? row.reviewer_id,
        reviewerReason: row.reviewer_reason, decision: row.decision,
        decidedBy: row.decided_by === null ? null : names.get(row.decided_by)?.userName ?? row.decided_by,
        decidedAt: row.decided_at, comment: row.comment,
        revocation: row.decision === 'revoke' ? (row.present === null ? 'applied' : 'pending') : null,
      };
    }
    after = Number(rows[rows.length - 1]!.id);
  }
}

/** The CSV header of the decisions report. */
export const DECISION_CSV_COLUMNS = [
  'item_id', 'stage', 'identity_id', 'user_name', 'display_name', 'item', 'grant_id', 'source', 'reviewer', 'reviewer_reason',
  'decision', 'decided_by', 'decided_at', 'comment', 'revocation',
];

function decisionLine(d: DecisionLine): string {
  return csvLine([d.itemId, d.stage + 1, d.identity.id, d.identity.userName, d.identity.displayName, d.item, d.grantId, d.source, d.reviewer,
    d.reviewerReason, d.decision, d.decidedBy, d.decidedAt, d.comment, d.revocation]);
}

/** The decisions as CSV (RFC 4180), header first; stages are numbered from 1. */
export async function* decisionsCsv(sql: Sql, campaignId: string): AsyncGenerator<string> {
  yield csvLine(DECISION_CSV_COLUMNS);
  for await (const line of decisionLines(sql, campaignId)) yield decisionLine(line);
}

/** Revoke decisions carried out and not yet. */
export async function revocationTotals(sql: Sql, campaignId: string): Promise<{ decided: number; applied: number; pending: number }> {
  const [row] = await sql.query<{ decided: number | string; applied: number | string | null }>(
    `SELECT COUNT(*) AS decided, SUM(CASE WHEN g.id IS NULL THEN 1 ELSE 0 END) AS applied
     FROM review_items i LEFT JOIN grants g ON g.id = i.grant_id WHERE i.campaign_id = ? AND i.decision = 'revoke'`, [campaignId]);
  const decided = Number(row?.decided ?? 0);
  const applied = Number(row?.applied ?? 0);
  return { decided, applied, pending: decided - applied };
}

/**
 * The whole report as JSON text, streamed: the campaign with its counts, completion per reviewer,
 * the revocation totals, then every decision.
 */
export async function* reportJson(sql: Sql, campaign: CampaignRecord): AsyncGenerator<string> {
  const view = campaignView(campaign, await campaignCounts(sql, campaign.id));
  yield `{"campaign":${JSON.stringify(view)},\n"reviewers":${JSON.stringify(await reviewerCompletion(sql, campaign.id))},\n`;
  yield `"revocations":${JSON.stringify(await revocationTotals(sql, campaign.id))},\n"decisions":[`;
  let separator = '\n';
  for await (const line of decisionLines(sql, campaign.id)) {
    yield `${separator}${JSON.stringify(line)}`;
    separator = ',\n';
  }
  yield '\n]}\n';
}
