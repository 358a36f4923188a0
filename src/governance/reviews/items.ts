/*
 * Reading review items: a reviewer's own (assigned to them, or, in a stage of named people, any
 * item of that stage but their own), keyset-paged by item id, with names filled in.
 */
import { chunks, placeholders } from '../../db/batches.js';
import type { Sql } from '../../db/database.js';
import { campaignsIn } from './campaigns.js';
import { contextOf } from './item-writer.js';
import { namedReviewers } from './reviewers.js';
import { UNASSIGNED, type Decision, type ReviewerReason, type ReviewItemView } from './types.js';

/** A review_items row. */
export interface ItemRow {
  id: number | string;
  campaign_id: string;
  stage: number | string;
  identity_id: string;
  grant_id: string;
  item: string;
  reviewer_id: string;
  reviewer_reason: string;
  decision: string | null;
  comment: string | null;
  decided_by: string | null;
  decided_at: string | null;
  context: string | null;
}

/** The review_items columns an ItemRow holds, of the table aliased `i`. */
export const ITEM_ROW_COLUMNS = 'i.id, i.campaign_id, i.stage, i.identity_id, i.grant_id, i.item, i.reviewer_id, i.reviewer_reason, i.decision, i.comment, i.decided_by, i.decided_at, i.context';

/** How a person is shown. */
export interface Names {
  userName: string;
  displayName: string;
}

/** userName (as written) and display name of these identities; unknown ids are left out. */
export async function namesOf(sql: Sql, ids: Iterable<string>): Promise<Map<string, Names>> {
  const out = new Map<string, Names>();
  for (const chunk of chunks([...new Set(ids)].filter((id) => id !== UNASSIGNED))) {
    const rows = await sql.query<{ id: string; user_name: string; display_label: string | null; doc: string }>(
      `SELECT id, user_name, display_label, doc FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk);
    for (const row of rows) {
      let userName = row.user_name;
      try {
        const written = (JSON.parse(row.doc) as { userName?: unknown }).userName;
        if (typeof written === 'string') userName = written;
      } catch {
        // the comparison form names the same person
      }
      out.set(row.id, { userName, displayName: row.display_label ?? userName });
    }
  }
  return out;
}

/** Item rows as views, names read in one batch. */
export async function itemViews(sql: Sql, rows: readonly ItemRow[]): Promise<ReviewItemView[]> {
  const names = await namesOf(sql, rows.flatMap((r) => [r.identity_id, r.reviewer_id]));
  const nobody = { userName: '', displayName: '' };
  return rows.map((row) => {
    const identity = names.get(row.identity_id) ?? nobody;
    return {
      id: Number(row.id), campaignId: row.campaign_id, stage: Number(row.stage),
      identity: { id: row.identity_id, userName: identity.userName, displayName: identity.displayName },
      item: row.item, grantId: row.grant_id,
      reviewer: { id: row.reviewer_id, userName: names.get(row.reviewer_id)?.userName ?? '' },
      reviewerReason: row.reviewer_reason as ReviewerReason,
      decision: row.decision as Decision | null, comment: row.comment, decidedBy: row.decided_by, decidedAt: row.decided_at,
      context: contextOf(row.context, row.item),
    };
  });
}

/** The running campaigns whose current stage names `identityId` among its people: campaign id → stage. */
async function namedStages(sql: Sql, identityId: string): Promise<Map<string, number>> {
  const running = await campaignsIn(sql, ['running']);
  const named = await namedReviewers(sql, running.map((c) => ({ id: c.id, stage: c.snapshot.definition.stages[c.stage] })));
  return new Map(running.filter((c) => named.get(c.id)?.has(identityId)).map((c) => [c.id, c.stage]));
}

/**
 * A page of the items `reviewerId` may see: those assigned to them, and in a running stage of
 * named people that names them, the stage's items but their own. `undecidedOnly` keeps the items
 * they can still decide (undecided, in the current stage of a running campaign).
 */
export async function itemsFor(
  sql: Sql, reviewerId: string, filter: { campaignId?: string; undecidedOnly?: boolean }, page: { limit: number; after?: number },
): Promise<{ items: ReviewItemView[]; next?: number }> {
  const named = [...(await namedStages(sql, reviewerId))].filter(([id]) => filter.campaignId === undefined || id === filter.campaignId);
  const who = ['i.reviewer_id = ?', ...named.map(() => '(i.campaign_id = ? AND i.stage = ? AND i.identity_id <> ?)')];
  const params: unknown[] = [reviewerId, ...named.flatMap(([id, stage]) => [id, stage, reviewerId])];
  const where = [`(${who.join(' OR ')})`, "c.status NOT IN ('starting', 'failed')"];
  if (filter.campaignId !== undefined) {
    where.push('i.campaign_id = ?');
    params.push(filter.campaignId);
  }
  if (filter.undecidedOnly) where.push("i.decision IS NULL AND c.status = 'running' AND i.stage = c.stage");
  if (page.after !== undefined) {
    where.push('i.id > ?');
    params.push(page.after);
  }
  const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), 1000);
  const rows = await sql.query<ItemRow>(
    `SELECT ${ITEM_ROW_COLUMNS} FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id WHERE ${where.join(' AND ')} ORDER BY i.id LIMIT ${limit + 1}`, params);
  const items = await itemViews(sql, rows.slice(0, limit));
  return rows.length > limit ? { items, next: items[items.length - 1]!.id } : { items };
}
