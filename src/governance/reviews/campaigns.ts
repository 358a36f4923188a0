/* Reading campaigns: one by id (optionally locked), a page of them, and their items' counts. */
import { placeholders } from '../../db/batches.js';
import { forUpdate, type Sql } from '../../db/database.js';
import { GovernanceError } from '../errors.js';
import type { CampaignCounts, CampaignSnapshot, CampaignStatus, CampaignSummary, CampaignView, StageCounts } from './types.js';

interface CampaignRow {
  id: string;
  name: string;
  status: string;
  stage: number | string;
  stages: number | string;
  definition: string;
  started_by: string;
  started: string;
  stage_ends: string;
  closed: string | null;
  summary: string | null;
}

const COLUMNS = 'id, name, status, stage, stages, definition, started_by, started, stage_ends, closed, summary';

/** A campaign row as the service works with it. */
export interface CampaignRecord {
  id: string;
  name: string;
  status: CampaignStatus;
  stage: number;
  stages: number;
  snapshot: CampaignSnapshot;
  startedBy: string;
  started: string;
  stageEnds: string;
  closed: string | null;
  /** the summary of a closed campaign, the error of a failed one, or the progress of one advancing or closing */
  summary: Record<string, unknown> | null;
}

function fromRow(row: CampaignRow): CampaignRecord {
  return {
    id: row.id, name: row.name, status: row.status as CampaignStatus, stage: Number(row.stage), stages: Number(row.stages),
    snapshot: JSON.parse(row.definition) as CampaignSnapshot, startedBy: row.started_by, started: row.started, stageEnds: row.stage_ends,
    closed: row.closed, summary: row.summary === null ? null : (JSON.parse(row.summary) as Record<string, unknown>),
  };
}

/** A campaign by id, or undefined; with `lock`, its row stays locked until the transaction ends. */
export async function findCampaign(sql: Sql, id: string, lock = false): Promise<CampaignRecord | undefined> {
  const [row] = await sql.query<CampaignRow>(`SELECT ${COLUMNS} FROM review_campaigns WHERE id = ?${lock ? forUpdate(sql.dialect) : ''}`, [id]);
  return row && fromRow(row);
}

/** A campaign by id; notFound when there is none. */
export async function getCampaign(sql: Sql, id: string, lock = false): Promise<CampaignRecord> {
  const found = await findCampaign(sql, id, lock);
  if (!found) throw new GovernanceError('notFound', `review campaign ${id} does not exist`);
  return found;
}

/** Campaigns in a state, oldest first. */
export async function campaignsIn(sql: Sql, statuses: readonly CampaignStatus[]): Promise<CampaignRecord[]> {
  const rows = await sql.query<CampaignRow>(
    `SELECT ${COLUMNS} FROM review_campaigns WHERE status IN (${placeholders(statuses.length)}) ORDER BY started, id`, [...statuses]);
  return rows.map(fromRow);
}

/** A page of campaigns, newest first; `next` continues after the last one. */
export async function listCampaigns(sql: Sql, filter: { name?: string; status?: string }, page: { limit: number; after?: string }): Promise<{ campaigns: CampaignRecord[]; next?: string }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.name !== undefined) {
    where.push('name = ?');
    params.push(filter.name);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (page.after !== undefined) {
    // `after` is the last campaign's "started|id": newest first, ties by id.
    const [started, id] = page.after.split('|');
    where.push('(started < ? OR (started = ? AND id < ?))');
    params.push(started, started, id ?? '');
  }
  const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), 1000);
  const rows = await sql.query<CampaignRow>(
    `SELECT ${COLUMNS} FROM review_campaigns${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY started DESC, id DESC LIMIT ${limit + 1}`, params);
  const campaigns = rows.slice(0, limit).map(fromRow);
  const last = campaigns[campaigns.length - 1];
  return rows.length > limit && last ? { campaigns, next: `${last.started}|${last.id}` } : { campaigns };
}

/** The items of a campaign by stage and decision (one pass over the campaign index). */
export async function campaignCounts(sql: Sql, id: string): Promise<CampaignCounts> {
  const rows = await sql.query<{ stage: number | string; decision: string | null; n: number | string }>(
    'SELECT stage, decision, COUNT(*) AS n FROM review_items WHERE campaign_id = ? GROUP BY stage, decision', [id]);
  const stages = new Map<number, StageCounts>();
  for (const row of rows) {
    const stage = Number(row.stage);
    const counts = stages.get(stage) ?? { stage, items: 0, kept: 0, revoked: 0, undecided: 0 };
    const n = Number(row.n);
    counts.items += n;
    if (row.decision === 'keep') counts.kept += n;
    else if (row.decision === 'revoke') counts.revoked += n;
    else counts.undecided += n;
    stages.set(stage, counts);
  }
  const list = [...stages.values()].sort((a, b) => a.stage - b.stage);
  const sum = (f: (s: StageCounts) => number) => list.reduce((total, s) => total + f(s), 0);
  return {
    items: sum((s) => s.items), decided: sum((s) => s.kept + s.revoked), kept: sum((s) => s.kept), revoked: sum((s) => s.revoked),
    undecided: sum((s) => s.undecided), stages: list,
  };
}

/** A campaign as the API shows it. */
export function campaignView(record: CampaignRecord, counts?: CampaignCounts): CampaignView {
  const definition = record.snapshot.definition;
  const view: CampaignView = {
    id: record.id, name: record.name, status: record.status, stage: record.stage, stages: record.stages,
    description: definition.description ?? null, definition, startedBy: record.startedBy, started: record.started,
    stageEnds: record.stageEnds, closed: record.closed,
  };
  if (counts) view.counts = counts;
  if (record.status === 'closed' && record.summary) view.summary = record.summary as unknown as CampaignSummary;
  if (record.status === 'failed' && typeof record.summary?.error === 'string') view.error = record.summary.error;
  return view;
}
