/*
 * The outbox table: operations are written in the transaction of the change that causes them
 * (with coalescing against the account's unstarted operations), listed for operators, and
 * retried when dead. Workers (worker.ts) claim and complete them.
 */
import { recordAudit } from '../audit/recorder.js';
import { chunks, insertRows, placeholders } from '../db/batches.js';
import { forUpdate, type Sql, type Transaction } from '../db/database.js';
import { timeOrderedId } from '../db/ids.js';
import { AccountQueue, type QueuedOperation } from './coalesce.js';
import type { Operation, OpName } from './connector.js';
import { operationFromRow, operationPayload, type OperationStatus } from './operations.js';

/** An outbox row as the database returns it (ids may come back as strings from MySQL's BIGINT). */
export interface OutboxRow {
  id: number | string;
  account_id: string;
  identity_id: string;
  target: string;
  op: string;
  payload: string;
  idempotency_key: string;
  status: OperationStatus;
  attempts: number | string;
  not_before: string;
  lease_until: string | null;
  leased_by: string | null;
  last_error: string | null;
  cause: string | null;
  created: string;
  last_modified: string;
  completed: string | null;
}

export const OUTBOX_COLUMNS = 'id, account_id, identity_id, target, op, payload, idempotency_key, status, attempts, not_before, lease_until, leased_by, last_error, cause, created, last_modified, completed';

/** Which account an operation is for. */
export interface AccountTarget {
  accountId: string;
  identityId: string;
  target: string;
}

/** What an enqueue did: rows inserted (by operation), and existing unstarted rows cancelled by coalescing. */
export interface EnqueueSummary {
  enqueued: number;
  byOp: Partial<Record<OpName, number>>;
  cancelled: number;
}

/** Statuses of operations that are not finished: they hold up later operations of their account. */
export const UNFINISHED = ['pending', 'running', 'dead'] as const;

/** The stored text of a cause: what changed something, cut to the column's width. */
export const causeText = (cause: string): string => cause.slice(0, 128);

/**
 * The unfinished operations (pending, running, dead) of these accounts, by account, in id order,
 * locked until the transaction ends so a worker cannot start one while it is being coalesced.
 */
export async function readUnfinished(tx: Transaction, accountIds: Iterable<string>): Promise<Map<string, QueuedOperation[]>> {
  const out = new Map<string, QueuedOperation[]>();
  for (const chunk of chunks([...new Set(accountIds)])) {
    const rows = await tx.query<Pick<OutboxRow, 'id' | 'account_id' | 'op' | 'payload' | 'status' | 'attempts' | 'not_before'>>(
      `SELECT id, account_id, op, payload, status, attempts, not_before FROM outbox
        WHERE account_id IN (${placeholders(chunk.length)}) AND status IN ('pending', 'running', 'dead') ORDER BY id${forUpdate(tx.dialect)}`,
      chunk);
    for (const row of rows) {
      const queued: QueuedOperation = {
        id: Number(row.id),
        operation: operationFromRow(row.op, row.payload),
        notBefore: row.not_before,
        unstarted: row.status === 'pending' && Number(row.attempts) === 0,
      };
      const list = out.get(row.account_id);
      if (list) list.push(queued);
      else out.set(row.account_id, [queued]);
    }
  }
  return out;
}

/**
 * Writes what coalescing did to these accounts' queues: cancelled rows, merged payloads, and the
 * new rows with multi-row INSERTs (in queue order, so ids follow the order operations must run in).
 */
export async function writeQueues(tx: Transaction, queues: Iterable<{ account: AccountTarget; queue: AccountQueue }>, cause: string, now: Date): Promise<EnqueueSummary> {
  const stamp = now.toISOString();
  const summary: EnqueueSummary = { enqueued: 0, byOp: {}, cancelled: 0 };
  const cancelled: number[] = [];
  const rows: unknown[][] = [];
  const why = causeText(cause);
  for (const { account, queue } of queues) {
    const changes = queue.changes();
    cancelled.push(...changes.cancelled);
    for (const { id, operation } of changes.changed) {
      await tx.execute('UPDATE outbox SET payload = ?, last_modified = ? WHERE id = ?', [operationPayload(operation), stamp, id]);
    }
    for (const { operation, notBefore } of changes.added) {
      // The idempotency key is unique per row and never changes (coalescing rewrites only rows
      // no connector has seen); time-ordered, so its unique index grows at the right edge.
      rows.push([account.accountId, account.identityId, account.target, operation.op, operationPayload(operation), timeOrderedId(), 'pending', 0, notBefore, why, stamp, stamp]);
      summary.byOp[operation.op] = (summary.byOp[operation.op] ?? 0) + 1;
    }
  }
  for (const chunk of chunks(cancelled)) {
    // Only rows still unstarted: they were locked when read, so this is every one of them.
    summary.cancelled += await tx.execute(
      `UPDATE outbox SET status = 'cancelled', completed = ?, last_modified = ? WHERE id IN (${placeholders(chunk.length)}) AND status = 'pending' AND attempts = 0`,
      [stamp, stamp, ...chunk]);
  }
  await insertRows(tx, 'outbox', INSERT_COLUMNS, rows);
  summary.enqueued = rows.length;
  return summary;
}

const INSERT_COLUMNS = ['account_id', 'identity_id', 'target', 'op', 'payload', 'idempotency_key', 'status', 'attempts', 'not_before', 'cause', 'created', 'last_modified'];

/** An operation to enqueue; due at once unless `notBefore` says later. */
export interface NewOperation {
  account: AccountTarget;
  operation: Operation;
  notBefore?: Date;
}

/**
 * Enqueues operations in the caller's transaction, coalescing each with its account's unstarted
 * operations. The accounts rows are the caller's business (the planner writes them).
 */
export async function enqueueOperations(tx: Transaction, operations: readonly NewOperation[], cause: string, now: Date): Promise<EnqueueSummary> {
  const existing = await readUnfinished(tx, operations.map((o) => o.account.accountId));
  const queues = new Map<string, { account: AccountTarget; queue: AccountQueue }>();
  for (const { account, operation, notBefore } of operations) {
    let entry = queues.get(account.accountId);
    if (!entry) {
      entry = { account, queue: new AccountQueue(existing.get(account.accountId)) };
      queues.set(account.accountId, entry);
    }
    entry.queue.push(operation, (notBefore ?? now).toISOString());
  }
  return writeQueues(tx, queues.values(), cause, now);
}

/** An operation as `iam outbox list` shows it. */
export interface OutboxEntry {
  id: number;
  accountId: string;
  identityId: string;
  target: string;
  operation: Operation;
  idempotencyKey: string;
  status: OperationStatus;
  attempts: number;
  notBefore: string;
  leaseUntil: string | null;
  leasedBy: string | null;
  lastError: string | null;
  cause: string | null;
  created: string;
  lastModified: string;
  completed: string | null;
}

/** Turns an outbox row into an OutboxEntry. */
export function entryFromRow(row: OutboxRow): OutboxEntry {
  return {
    id: Number(row.id), accountId: row.account_id, identityId: row.identity_id, target: row.target,
    operation: operationFromRow(row.op, row.payload), idempotencyKey: row.idempotency_key, status: row.status,
    attempts: Number(row.attempts), notBefore: row.not_before, leaseUntil: row.lease_until, leasedBy: row.leased_by,
    lastError: row.last_error, cause: row.cause, created: row.created, lastModified: row.last_modified, completed: row.completed,
  };
}

/** Filters for listOperations; `after` continues a listing from an id. */
export interface OutboxFilter {
  status?: OperationStatus;
  target?: string;
  identityId?: string;
  after?: number;
  limit: number;
}

const MAX_LIST = 10_000;

/** Operations matching the filter, oldest first. */
export async function listOperations(sql: Sql, filter: OutboxFilter): Promise<OutboxEntry[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  if (filter.target !== undefined) {
    where.push('target = ?');
    params.push(filter.target);
  }
  if (filter.identityId !== undefined) {
    where.push('identity_id = ?');
    params.push(filter.identityId);
  }
  if (filter.after !== undefined) {
    where.push('id > ?');
    params.push(filter.after);
  }
  const limit = Math.min(Math.max(Math.trunc(filter.limit) || 1, 1), MAX_LIST);
  const rows = await sql.query<OutboxRow>(
    `SELECT ${OUTBOX_COLUMNS} FROM outbox${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ${limit}`, params);
  return rows.map(entryFromRow);
}

/** Operations counted by target and status (for list summaries and the metrics gauges). */
export async function countOperations(sql: Sql, statuses: readonly OperationStatus[] = ['pending', 'running', 'dead']): Promise<Array<{ target: string; status: OperationStatus; count: number }>> {
  const rows = await sql.query<{ target: string; status: OperationStatus; n: number | string }>(
    `SELECT target, status, COUNT(*) AS n FROM outbox WHERE status IN (${placeholders(statuses.length)}) GROUP BY target, status`, [...statuses]);
  return rows.map((r) => ({ target: r.target, status: r.status, count: Number(r.n) }));
}

/** What a retry did: the operations made pending again, and the ids given that were not dead (or do not exist). */
export interface RetryResult {
  retried: number[];
  skipped: Array<{ id: number; status: OperationStatus | 'missing' }>;
}

/**
 * Makes dead operations pending again with their attempts reset, due at once; each is audited.
 * `ids: 'all-dead'` retries every dead operation.
 */
export async function retryDead(tx: Transaction, ids: readonly number[] | 'all-dead', ctx: { actor: string; requestId?: string }, now: Date): Promise<RetryResult> {
  const result: RetryResult = { retried: [], skipped: [] };
  const stamp = now.toISOString();
  let rows: Array<Pick<OutboxRow, 'id' | 'status' | 'target' | 'op' | 'account_id' | 'identity_id' | 'attempts' | 'last_error'>> = [];
  const columns = 'id, status, target, op, account_id, identity_id, attempts, last_error';
  if (ids === 'all-dead') {
    rows = await tx.query(`SELECT ${columns} FROM outbox WHERE status = 'dead' ORDER BY id${forUpdate(tx.dialect)}`);
  } else {
    for (const chunk of chunks([...new Set(ids)])) {
      rows.push(...await tx.query<typeof rows[number]>(`SELECT ${columns} FROM outbox WHERE id IN (${placeholders(chunk.length)}) ORDER BY id${forUpdate(tx.dialect)}`, chunk));
    }
    const found = new Set(rows.map((r) => Number(r.id)));
    for (const id of ids) if (!found.has(id)) result.skipped.push({ id, status: 'missing' });
  }
  const dead = rows.filter((r) => r.status === 'dead');
  for (const r of rows) if (r.status !== 'dead') result.skipped.push({ id: Number(r.id), status: r.status });
  for (const chunk of chunks(dead, 1000)) {
    const chunkIds = chunk.map((r) => Number(r.id));
    await tx.execute(
      `UPDATE outbox SET status = 'pending', attempts = 0, not_before = ?, lease_until = NULL, leased_by = NULL, last_modified = ?, completed = NULL
        WHERE id IN (${placeholders(chunkIds.length)}) AND status = 'dead'`,
      [stamp, stamp, ...chunkIds]);
    // One event per operation, so each operation's history can be found by its id.
    await recordAudit(tx, chunk.map((r) => ({
      actor: ctx.actor, action: 'outbox.retry', targetType: 'outbox-operation', targetId: String(r.id), requestId: ctx.requestId ?? null,
      details: { target: r.target, op: r.op, accountId: r.account_id, identityId: r.identity_id, attemptsBefore: Number(r.attempts), lastError: r.last_error },
    })));
    result.retried.push(...chunkIds);
  }
  return result;
}
