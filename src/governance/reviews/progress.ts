/*
 * What time does to a running campaign (tick() runs these, from the governance job):
 *   - advance: when a stage's durationDays have passed, the items kept in it go on to the next
 *     stage as new rows, assigned to that stage's reviewer. Revoked items stop (the revoke stands);
 *     undecided items stop too and get the definition's outcome at close (midPoint's default:
 *     the review stops on "revoke" and on "no response"); items whose grant or identity went
 *     meanwhile are dropped. A stage with nothing to carry closes the campaign at once.
 *   - escalate: escalationDays after a stage started, its undecided items go to their reviewer's
 *     manager (reason 'escalated'), once: escalated items never escalate again.
 *   - remind: N days before a stage ends, for each N in reminderDays, each reviewer with
 *     undecided items is mailed once (the mail's dedupe key names campaign, stage, reviewer, N).
 * Advancing writes rows in batches like the start; the campaign is 'advancing' meanwhile (no
 * decisions), and an advance that stopped half way is redone from scratch by the next tick.
 */
import { recordAudit } from '../../audit/recorder.js';
import type { Config } from '../../config/index.js';
import { chunks, placeholders } from '../../db/batches.js';
import type { Database, Transaction } from '../../db/database.js';
import { DAY_MS, daysAfter } from '../../lifecycle/dates.js';
import { CatalogCache } from '../../policy/catalog.js';
import type { Progress } from './close.js';
import { getCampaign, type CampaignRecord } from './campaigns.js';
import { deleteItems, ItemWriter } from './item-writer.js';
import { mailReviewers, reviewMailKey, type MailCampaign, type Notice } from './mails.js';
import { managementChains, resolvePeople } from '../people.js';
import { activeManagers, personRefs, ReviewerResolver, upTheChain } from './reviewers.js';
import { resolveScope } from './scope.js';
import { UNASSIGNED, type ReviewDeps } from './types.js';

const PAGE = 5000;
const FLUSH_ROWS = 10_000;
/** The actor of what time does to a campaign. */
export const TICK_ACTOR = 'system:review-tick';

/** When the campaign's current stage started. */
function stageStart(campaign: CampaignRecord): Date {
  const days = campaign.snapshot.definition.stages[campaign.stage]?.durationDays ?? 0;
  return daysAfter(new Date(campaign.stageEnds), -days);
}

function mailCampaign(campaign: CampaignRecord, stage = campaign.stage, stageEnds = campaign.stageEnds): MailCampaign {
  return { id: campaign.id, name: campaign.name, stage, stages: campaign.stages, stageEnds };
}

/**
 * Moves a running campaign whose stage is over to its next stage (or redoes an advance that
 * stopped, with `resume`). Returns the items carried, or undefined when another caller got there first.
 */
export async function advanceCampaign(deps: ReviewDeps, campaignId: string, resume = false): Promise<number | undefined> {
  const { db, config } = deps;
  const now = deps.clock();
  const claimed = await db.transaction(async (tx) => {
    const campaign = await getCampaign(tx, campaignId, true);
    const progress = (campaign.summary ?? {}) as Progress;
    if (campaign.status === 'advancing' && resume) return { campaign, progress };
    if (campaign.status !== 'running' || campaign.stage + 1 >= campaign.stages || campaign.stageEnds > now.toISOString()) return undefined;
    const next: Progress = { ...progress, phase: 'advancing', since: now.toISOString() };
    await tx.execute("UPDATE review_campaigns SET status = 'advancing', summary = ? WHERE id = ?", [JSON.stringify(next), campaignId]);
    return { campaign, progress: next };
  });
  if (!claimed) return undefined;
  const { campaign, progress } = claimed;
  const from = campaign.stage;
  const to = from + 1;
  const definition = campaign.snapshot.definition;
  await deleteItems(db, campaignId, to);

  const { catalog } = await CatalogCache.of(db).read(db);
  const managers = await activeManagers(db);
  const people = await resolvePeople(db, personRefs(catalog, config.governance.targetOwners, definition.stages));
  let scopeTarget: string | undefined;
  try {
    scopeTarget = resolveScope(catalog, definition.scope).target;
  } catch {
    // The scope's role or target left the policy since the start: owners are found without it.
  }
  const resolver = new ReviewerResolver(definition.stages[to]!, {
    catalog, managers, people, targetOwners: config.governance.targetOwners, starterId: campaign.snapshot.starterId,
    ...(scopeTarget !== undefined && { scopeTarget }),
  });
  const writer = new ItemWriter(db, campaignId, to);
  let dropped = 0;
  let after = 0;
  for (;;) {
    // Kept items whose grant is still there go on; the LEFT JOIN finds those whose grant went.
    const rows = await db.query<{ id: number | string; identity_id: string; grant_id: string; item: string; context: string | null; present: string | null }>(
      `SELECT i.id, i.identity_id, i.grant_id, i.item, i.context, g.id AS present FROM review_items i LEFT JOIN grants g ON g.id = i.grant_id
       WHERE i.campaign_id = ? AND i.stage = ? AND i.decision = 'keep' AND i.id > ? ORDER BY i.id LIMIT ${PAGE}`, [campaignId, from, after]);
    if (rows.length === 0) break;
    for (const row of rows) {
      if (row.present === null || !managers.has(row.identity_id)) {
        dropped++;
        continue;
      }
      const { reviewerId, reason } = resolver.resolve(row.identity_id, row.item);
      writer.add(row.identity_id, row.grant_id, row.item, reviewerId, reason, row.context ?? '{}');
    }
    if (writer.buffered >= FLUSH_ROWS) await writer.flush();
    after = Number(rows[rows.length - 1]!.id);
  }
  await writer.flush();

  const ends = daysAfter(now, definition.stages[to]!.durationDays).toISOString();
  const history = [...(progress.history ?? []).filter((h) => h.stage !== from), { stage: from, carried: writer.written, dropped }];
  await db.transaction(async (tx) => {
    const changed = await tx.execute(
      "UPDATE review_campaigns SET status = 'running', stage = ?, stage_ends = ?, summary = ? WHERE id = ? AND status = 'advancing'",
      [to, ends, JSON.stringify({ history } satisfies Progress), campaignId]);
    if (changed === 0) return;
    await recordAudit(tx, {
      actor: TICK_ACTOR, action: 'review.advance', targetType: 'review_campaign', targetId: campaignId,
      details: { name: campaign.name, stage: to, items: writer.written, dropped, stageEnds: ends },
    });
    await mailReviewers(tx, 'started', mailCampaign(campaign, to, ends), writer.notices(),
      { now, linkTtlHours: config.governance.linkTtlHours, dedupe: (n) => reviewMailKey(campaignId, to, 'started', n.reviewerId) });
  });
  return writer.written;
}

/** Undecided items per reviewer in the campaign's current stage; `unescalated` leaves out those already escalated. */
async function undecidedPerReviewer(db: Database, campaign: CampaignRecord, unescalated: boolean): Promise<Map<string, number>> {
  const rows = await db.query<{ reviewer_id: string; n: number | string }>(
    `SELECT reviewer_id, COUNT(*) AS n FROM review_items WHERE campaign_id = ? AND stage = ? AND decision IS NULL AND reviewer_id <> ?${unescalated ? " AND reviewer_reason <> 'escalated'" : ''}
     GROUP BY reviewer_id`, [campaign.id, campaign.stage, UNASSIGNED]);
  return new Map(rows.map((r) => [r.reviewer_id, Number(r.n)]));
}

/** Escalates the current stage's undecided items once escalationDays have passed; returns how many moved. */
export async function escalate(deps: ReviewDeps, campaign: CampaignRecord): Promise<number> {
  const days = campaign.snapshot.definition.escalationDays;
  const now = deps.clock();
  if (days === undefined || now.getTime() < daysAfter(stageStart(campaign), days).getTime()) return 0;
  const pending = await undecidedPerReviewer(deps.db, campaign, true);
  if (pending.size === 0) return 0;
  const chains = await managementChains(deps.db, pending.keys(), 1);
  const moved = new Map<string, number>();
  let total = 0;
  const reviewers = [...pending.keys()];
  for (const chunk of chunks(reviewers, 200)) {
    await deps.db.transaction(async (tx) => {
      for (const reviewerId of chunk) {
        const manager = chains.get(reviewerId)?.managerId ?? null;
        if (manager === null || chains.get(manager)?.active !== true) continue;
        // Items of the manager's own access stay where they are: nobody reviews themselves.
        const n = await tx.execute(
          `UPDATE review_items SET reviewer_id = ?, reviewer_reason = 'escalated'
           WHERE campaign_id = ? AND stage = ? AND reviewer_id = ? AND decision IS NULL AND reviewer_reason <> 'escalated' AND identity_id <> ?`,
          [manager, campaign.id, campaign.stage, reviewerId, manager]);
        if (n > 0) moved.set(manager, (moved.get(manager) ?? 0) + n);
        total += n;
      }
    });
  }
  if (total === 0) return 0;
  await deps.db.transaction(async (tx) => {
    await recordAudit(tx, {
      actor: TICK_ACTOR, action: 'review.escalate', targetType: 'review_campaign', targetId: campaign.id,
      details: { stage: campaign.stage, items: total, managers: moved.size },
    });
    await mailReviewers(tx, 'escalated', mailCampaign(campaign), [...moved].map(([reviewerId, count]) => ({ reviewerId, count })),
      { now, linkTtlHours: deps.config.governance.linkTtlHours, dedupe: (n) => reviewMailKey(campaign.id, campaign.stage, 'escalated', n.reviewerId) });
  });
  return total;
}

/**
 * Reminds reviewers with undecided items when a reminder day has come: the nearest N with the
 * stage ending within N days, so a tick that comes late sends one reminder, not several.
 * Returns the mails newly queued.
 */
export async function remind(deps: ReviewDeps, campaign: CampaignRecord): Promise<number> {
  const now = deps.clock();
  const left = Date.parse(campaign.stageEnds) - now.getTime();
  if (left <= 0) return 0;
  const due = [...campaign.snapshot.definition.reminderDays].sort((a, b) => a - b).find((n) => left <= n * DAY_MS);
  if (due === undefined) return 0;
  const pending = await undecidedPerReviewer(deps.db, campaign, false);
  if (pending.size === 0) return 0;
  const notices: Notice[] = [...pending].map(([reviewerId, count]) => ({ reviewerId, count, days: Math.ceil(left / DAY_MS) }));
  return deps.db.transaction((tx) => mailReviewers(tx, 'reminder', mailCampaign(campaign), notices, {
    now, linkTtlHours: deps.config.governance.linkTtlHours, dedupe: (n) => reviewMailKey(campaign.id, campaign.stage, 'reminder', n.reviewerId, String(due)),
  }));
}

/**
 * Gives the undecided items of leavers to someone else: up the leaver's management chain to the
 * first active person who is not leaving too and not the identity under review (reason
 * 'reassigned'), else unassigned. Runs in the leaver's transaction; mails each new reviewer once.
 */
export async function reassignLeavers(
  tx: Transaction, config: Config, leaverIds: readonly string[], actor: { actor: string; requestId?: string }, now: Date,
): Promise<number> {
  const leavers = new Set(leaverIds);
  if (leavers.size === 0) return 0;
  const rows: Array<{ id: number | string; campaign_id: string; identity_id: string; reviewer_id: string; c_name: string; c_stage: number | string; c_stages: number | string; c_ends: string }> = [];
  for (const chunk of chunks([...leavers])) {
    rows.push(...await tx.query<(typeof rows)[number]>(
      `SELECT i.id, i.campaign_id, i.identity_id, i.reviewer_id, c.name AS c_name, c.stage AS c_stage, c.stages AS c_stages, c.stage_ends AS c_ends
       FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id
       WHERE c.status = 'running' AND i.stage = c.stage AND i.decision IS NULL AND i.reviewer_id IN (${placeholders(chunk.length)})`, chunk));
  }
  if (rows.length === 0) return 0;
  const chains = await managementChains(tx, leavers);
  // campaign → new reviewer → item ids
  const plan = new Map<string, Map<string, number[]>>();
  for (const row of rows) {
    const to = upTheChain(chains, row.reviewer_id, row.identity_id, leavers) ?? UNASSIGNED;
    const perCampaign = plan.get(row.campaign_id) ?? new Map<string, number[]>();
    plan.set(row.campaign_id, perCampaign);
    const ids = perCampaign.get(to);
    if (ids) ids.push(Number(row.id));
    else perCampaign.set(to, [Number(row.id)]);
  }
  const names = leavers.size === 1 ? await tx.query<{ display_label: string | null; user_name: string }>('SELECT display_label, user_name FROM identities WHERE id = ?', [[...leavers][0]]) : [];
  const leaver = names[0] ? (names[0].display_label ?? names[0].user_name) : 'a reviewer';
  for (const [campaignId, perReviewer] of plan) {
    const first = rows.find((r) => r.campaign_id === campaignId)!;
    const campaign: MailCampaign = { id: campaignId, name: first.c_name, stage: Number(first.c_stage), stages: Number(first.c_stages), stageEnds: first.c_ends };
    for (const [to, ids] of perReviewer) {
      for (const chunk of chunks(ids)) {
        await tx.execute(`UPDATE review_items SET reviewer_id = ?, reviewer_reason = ? WHERE id IN (${placeholders(chunk.length)})`,
          [to, to === UNASSIGNED ? 'unassigned' : 'reassigned', ...chunk]);
      }
    }
    await recordAudit(tx, {
      actor: actor.actor, action: 'review.reassign', targetType: 'review_campaign', targetId: campaignId, requestId: actor.requestId ?? null,
      details: { from: [...leavers].slice(0, 100), items: [...perReviewer.values()].reduce((n, ids) => n + ids.length, 0), to: [...perReviewer.keys()].filter((id) => id !== UNASSIGNED).slice(0, 100), unassigned: perReviewer.get(UNASSIGNED)?.length ?? 0 },
    });
    const notices = [...perReviewer].filter(([id]) => id !== UNASSIGNED).map(([reviewerId, ids]) => ({ reviewerId, count: ids.length, leaver }));
    await mailReviewers(tx, 'reassigned', campaign, notices, {
      now, linkTtlHours: config.governance.linkTtlHours, dedupe: (n) => reviewMailKey(campaignId, campaign.stage, 'reassigned', n.reviewerId, `${now.toISOString()}:${[...leavers].sort().join(',').slice(0, 40)}`),
    });
  }
  return rows.length;
}
