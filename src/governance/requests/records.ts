/*
 * access_requests and approval_tasks rows: reading them (optionally locked), writing them, and
 * turning them into the view clients read.
 */
import { chunks, insertRows, placeholders } from '../../db/batches.js';
import { forUpdate, type Sql, type Transaction } from '../../db/database.js';
import { identitiesById } from '../../policy/identity-ref.js';
import type { AccessRequestView, RequestStatus, SodConflict, StoredStage, TaskReason, TaskStatus } from './model.js';

/** An access request as the service works on it. */
export interface RequestRecord {
  id: string;
  requesterId: string;
  requestedBy: string;
  beneficiaryId: string;
  item: string;
  justification: string;
  durationDays: number | null;
  status: RequestStatus;
  stage: number;
  chain: StoredStage[];
  sod: SodConflict[];
  grantId: string | null;
  idempotencyKey: string | null;
  outcome: string | null;
  created: string;
  updated: string;
  expiresAt: string;
  decidedAt: string | null;
}

interface RequestRow {
  id: string;
  requester_id: string;
  requested_by: string;
  beneficiary_id: string;
  item: string;
  justification: string;
  duration_days: number | string | null;
  status: string;
  stage: number | string;
  chain: string;
  sod: string | null;
  grant_id: string | null;
  idempotency_key: string | null;
  outcome: string | null;
  created: string;
  updated: string;
  expires_at: string;
  decided_at: string | null;
}

/** The columns of access_requests, in RequestRow's order. */
const REQUEST_COLUMNS = 'id, requester_id, requested_by, beneficiary_id, item, justification, duration_days, status, stage, chain, sod, grant_id, idempotency_key, outcome, created, updated, expires_at, decided_at';

function fromRow(row: RequestRow): RequestRecord {
  return {
    id: row.id, requesterId: row.requester_id, requestedBy: row.requested_by, beneficiaryId: row.beneficiary_id, item: row.item,
    justification: row.justification, durationDays: row.duration_days === null ? null : Number(row.duration_days), status: row.status as RequestStatus,
    stage: Number(row.stage), chain: JSON.parse(row.chain) as StoredStage[], sod: row.sod === null ? [] : JSON.parse(row.sod) as SodConflict[],
    grantId: row.grant_id, idempotencyKey: row.idempotency_key, outcome: row.outcome, created: row.created, updated: row.updated,
    expiresAt: row.expires_at, decidedAt: row.decided_at,
  };
}

/** Requests matching a condition, in its order; with `lock` (in a transaction), locked until it ends. */
export async function selectRequests(sql: Sql, where: string, params: unknown[], options: { lock?: boolean; orderBy?: string; limit?: number } = {}): Promise<RequestRecord[]> {
  const rows = await sql.query<RequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM access_requests WHERE ${where} ORDER BY ${options.orderBy ?? 'id'}${options.limit !== undefined ? ` LIMIT ${Math.trunc(options.limit)}` : ''}${options.lock ? forUpdate(sql.dialect) : ''}`,
    params);
  return rows.map(fromRow);
}

/** One request by id, or undefined; with `lock` (in a transaction), locked until it ends. */
export async function readRequest(sql: Sql, id: string, lock = false): Promise<RequestRecord | undefined> {
  return (await selectRequests(sql, 'id = ?', [id], { lock }))[0];
}

/** Inserts a new request. */
export async function insertRequest(tx: Transaction, r: RequestRecord): Promise<void> {
  await tx.execute(`INSERT INTO access_requests (${REQUEST_COLUMNS}) VALUES (${placeholders(18)})`, [
    r.id, r.requesterId, r.requestedBy, r.beneficiaryId, r.item, r.justification, r.durationDays, r.status, r.stage,
    JSON.stringify(r.chain), r.sod.length > 0 ? JSON.stringify(r.sod) : null, r.grantId, r.idempotencyKey, r.outcome, r.created, r.updated, r.expiresAt, r.decidedAt,
  ]);
}

/** Writes what a decision, escalation or expiry changes on a request. */
export async function saveRequest(tx: Transaction, r: RequestRecord): Promise<void> {
  await tx.execute(
    'UPDATE access_requests SET status = ?, stage = ?, chain = ?, sod = ?, grant_id = ?, outcome = ?, updated = ?, decided_at = ? WHERE id = ?',
    [r.status, r.stage, JSON.stringify(r.chain), r.sod.length > 0 ? JSON.stringify(r.sod) : null, r.grantId, r.outcome, r.updated, r.decidedAt, r.id]);
}

/** One approval task. */
export interface TaskRecord {
  id: string;
  requestId: string;
  stage: number;
  approverId: string;
  reason: TaskReason;
  onBehalfOf: string | null;
  status: TaskStatus;
  comment: string | null;
  created: string;
  escalateAt: string | null;
  decidedAt: string | null;
}

interface TaskRow {
  id: string;
  request_id: string;
  stage: number | string;
  approver_id: string;
  reason: string;
  on_behalf_of: string | null;
  status: string;
  comment: string | null;
  created: string;
  escalate_at: string | null;
  decided_at: string | null;
}

const TASK_COLUMN_LIST = ['id', 'request_id', 'stage', 'approver_id', 'reason', 'on_behalf_of', 'status', 'comment', 'created', 'escalate_at', 'decided_at'];
const TASK_COLUMNS = TASK_COLUMN_LIST.join(', ');

function taskFromRow(row: TaskRow): TaskRecord {
  return {
    id: row.id, requestId: row.request_id, stage: Number(row.stage), approverId: row.approver_id, reason: row.reason as TaskReason,
    onBehalfOf: row.on_behalf_of, status: row.status as TaskStatus, comment: row.comment, created: row.created, escalateAt: row.escalate_at, decidedAt: row.decided_at,
  };
}

/** Tasks matching a condition, by request, stage and creation; with `lock`, locked until the transaction ends. */
export async function selectTasks(sql: Sql, where: string, params: unknown[], lock = false): Promise<TaskRecord[]> {
  const rows = await sql.query<TaskRow>(
    `SELECT ${TASK_COLUMNS} FROM approval_tasks WHERE ${where} ORDER BY request_id, stage, created, id${lock ? forUpdate(sql.dialect) : ''}`, params);
  return rows.map(taskFromRow);
}

/** The tasks of these requests, by request id. */
export async function tasksOf(sql: Sql, requestIds: readonly string[], lock = false): Promise<Map<string, TaskRecord[]>> {
  const out = new Map<string, TaskRecord[]>();
  for (const chunk of chunks([...new Set(requestIds)])) {
    for (const task of await selectTasks(sql, `request_id IN (${placeholders(chunk.length)})`, chunk, lock)) {
      out.set(task.requestId, [...(out.get(task.requestId) ?? []), task]);
    }
  }
  return out;
}

/** Inserts tasks, many per statement. */
export async function insertTasks(tx: Transaction, tasks: readonly TaskRecord[]): Promise<void> {
  await insertRows(tx, 'approval_tasks', TASK_COLUMN_LIST,
    tasks.map((t) => [t.id, t.requestId, t.stage, t.approverId, t.reason, t.onBehalfOf, t.status, t.comment, t.created, t.escalateAt, t.decidedAt]));
}

/** Closes a request's open tasks (the stage or the request ended without them); returns how many. */
export async function closeOpenTasks(tx: Transaction, requestId: string, at: string): Promise<number> {
  return tx.execute("UPDATE approval_tasks SET status = 'closed', decided_at = ? WHERE request_id = ? AND status = 'open'", [at, requestId]);
}

/** The view of each request, with the userNames of the people named. */
export async function toViews(sql: Sql, records: readonly RequestRecord[], tasks?: Map<string, TaskRecord[]>): Promise<AccessRequestView[]> {
  const byRequest = tasks ?? await tasksOf(sql, records.map((r) => r.id));
  const ids = new Set<string>();
  for (const r of records) {
    ids.add(r.requesterId);
    ids.add(r.beneficiaryId);
    for (const t of byRequest.get(r.id) ?? []) ids.add(t.approverId);
  }
  const names = await identitiesById(sql, ids);
  const person = (id: string) => ({ id, userName: names.get(id)?.userName ?? id });
  return records.map((r) => {
    const requestTasks = byRequest.get(r.id) ?? [];
    return {
      id: r.id, status: r.status, item: r.item, beneficiary: person(r.beneficiaryId), requester: person(r.requesterId),
      justification: r.justification, durationDays: r.durationDays, stage: r.stage,
      stages: r.chain.map((s, index) => ({
        approver: s.approver, status: s.status,
        approvers: [...new Set(requestTasks.filter((t) => t.stage === index).map((t) => person(t.approverId).userName))],
        ...(s.decidedBy !== undefined && { decidedBy: s.decidedBy }),
        ...(s.onBehalfOf !== undefined && { onBehalfOf: s.onBehalfOf }),
        ...(s.comment !== undefined && { comment: s.comment }),
        ...(s.approver === 'group' && { group: s.group }),
        ...(s.approver === 'sod-owner' && { rule: s.rule }),
      })),
      sodConflicts: r.sod, grantId: r.grantId, outcome: r.outcome, created: r.created, expiresAt: r.expiresAt, decidedAt: r.decidedAt,
    };
  });
}
