/*
 * What the governance job does for requests as time passes: tasks undecided for escalationDays
 * go to the approver's manager as well (once per task), requests undecided past their expiry
 * expire, and holders of grants about to end are told. Work goes in batches, each one
 * transaction that locks its requests in id order; mail is grouped per recipient per batch.
 */
import { recordAudit, type AuditEntry } from '../../audit/recorder.js';
import type { Config } from '../../config/index.js';
import { chunks, placeholders } from '../../db/batches.js';
import type { Database, Transaction } from '../../db/database.js';
import { daysAfter } from '../../lifecycle/dates.js';
import { queueMail, type QueuedMail } from '../../notify/mail-queue.js';
import { recipients } from '../../notify/recipients.js';
import { managementChains } from '../people.js';
import { escalatedMail, expiredMail, expiringMail, reachable, type MailRequest } from './mails.js';
import type { LinkMaker } from '../../notify/links.js';
import { closeOpenTasks, insertTasks, saveRequest, selectRequests, tasksOf, type RequestRecord, type TaskRecord } from './records.js';
import { mailRequest, newTask } from './workflow.js';

/** The actor the governance job acts as. */
const GOVERNANCE_ACTOR = 'system:governance';

/** What a run works with: the database, the settings, the time it runs at, and how links are signed. */
export interface DueContext {
  db: Database;
  config: Config;
  now: Date;
  links: LinkMaker;
}

const BATCH = 200;
// A run stops after this many batches; the next run goes on where it stopped.
const MAX_BATCHES = 500;

/** Escalates what is due, then expires what is due. */
export async function processDue(c: DueContext): Promise<{ escalated: number; expired: number }> {
  return { escalated: await escalate(c), expired: await expire(c) };
}

/** The audit actor and request id of the governance job's run at `now`. */
export function jobContext(now: Date): { actor: string; requestId: string } {
  return { actor: GOVERNANCE_ACTOR, requestId: `schedule:${now.toISOString()}` };
}

async function escalate(c: DueContext): Promise<number> {
  const now = c.now.toISOString();
  let escalated = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const due = await c.db.query<{ id: string; request_id: string }>(
      `SELECT t.id, t.request_id FROM approval_tasks t JOIN access_requests r ON r.id = t.request_id
       WHERE t.status = 'open' AND t.escalate_at IS NOT NULL AND t.escalate_at <= ? AND r.status = 'pending'
       ORDER BY t.request_id, t.id LIMIT ${BATCH}`, [now]);
    if (due.length === 0) break;
    escalated += await c.db.transaction((tx) => escalateBatch(tx, c, new Set(due.map((d) => d.id)), [...new Set(due.map((d) => d.request_id))]));
  }
  return escalated;
}

/**
 * Escalates the due tasks of these requests: each is marked done (escalate_at cleared), and the
 * approver's manager gets a task of their own on the same stage, unless they have one already,
 * are the beneficiary or the requester, or there is none. Escalation tasks do not escalate again.
 */
async function escalateBatch(tx: Transaction, c: DueContext, dueTasks: ReadonlySet<string>, requestIds: string[]): Promise<number> {
  const now = c.now.toISOString();
  const requests = await selectRequests(tx, `id IN (${placeholders(requestIds.length)}) AND status = 'pending'`, requestIds, { lock: true });
  const tasks = await tasksOf(tx, requests.map((r) => r.id));
  const chains = await managementChains(tx, [...tasks.values()].flat().filter((t) => dueTasks.has(t.id)).map((t) => t.approverId), 1);
  const cleared: string[] = [];
  const escalations: TaskRecord[] = [];
  const made: Array<{ req: RequestRecord; from: string; to: string; taskId: string; escalationTaskId: string }> = [];
  const byManager = new Map<string, Array<{ request: RequestRecord; approverId: string }>>();
  for (const req of requests) {
    const list = tasks.get(req.id) ?? [];
    for (const task of [...list]) {
      if (!dueTasks.has(task.id) || task.status !== 'open' || task.escalateAt === null || task.escalateAt > now) continue;
      cleared.push(task.id);
      if (task.stage !== req.stage) continue;
      const managerId = chains.get(task.approverId)?.managerId;
      if (!managerId || managerId === req.beneficiaryId || managerId === req.requesterId || !chains.get(managerId)?.active) continue;
      if (list.some((t) => t.stage === req.stage && t.status === 'open' && t.approverId === managerId)) continue;
      const added = newTask(req, req.stage, managerId, 'escalation', c.now, null, task.approverId);
      escalations.push(added);
      list.push(added);
      made.push({ req, from: task.approverId, to: managerId, taskId: task.id, escalationTaskId: added.id });
      byManager.set(managerId, [...(byManager.get(managerId) ?? []), { request: req, approverId: task.approverId }]);
    }
  }
  for (const ids of chunks(cleared)) await tx.execute(`UPDATE approval_tasks SET escalate_at = NULL WHERE id IN (${placeholders(ids.length)})`, ids);
  await insertTasks(tx, escalations);
  const people = await recipients(tx, made.flatMap((m) => [m.from, m.to, m.req.beneficiaryId, m.req.requesterId]));
  const userName = (id: string) => people.get(id)?.userName ?? id;
  await recordAudit(tx, made.map((m): AuditEntry => ({
    ...jobContext(c.now), action: 'request.escalate', targetType: 'accessRequest', targetId: m.req.id,
    details: { stage: m.req.stage, taskId: m.taskId, from: userName(m.from), to: userName(m.to), escalationTaskId: m.escalationTaskId },
  })));
  const mails: QueuedMail[] = [];
  for (const [managerId, items] of byManager) {
    const to = people.get(managerId);
    if (!reachable(to)) continue;
    mails.push(escalatedMail(to, items.map((e) => ({ request: mailRequest(e.request, people), approver: people.get(e.approverId)?.name ?? e.approverId })), c.links(managerId, 'approvals')));
  }
  await queueMail(tx, mails, c.now);
  return made.length;
}

async function expire(c: DueContext): Promise<number> {
  const now = c.now.toISOString();
  let expired = 0;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const due = await c.db.query<{ id: string }>(
      `SELECT id FROM access_requests WHERE status = 'pending' AND expires_at <= ? ORDER BY id LIMIT ${BATCH}`, [now]);
    if (due.length === 0) break;
    expired += await c.db.transaction(async (tx) => {
      const ids = due.map((d) => d.id);
      const requests = await selectRequests(tx, `id IN (${placeholders(ids.length)}) AND status = 'pending' AND expires_at <= ?`, [...ids, now], { lock: true });
      const byRequester = new Map<string, RequestRecord[]>();
      for (const req of requests) {
        req.status = 'expired';
        req.outcome = `not decided by ${req.expiresAt}`;
        req.decidedAt = now;
        req.updated = now;
        await closeOpenTasks(tx, req.id, now);
        await saveRequest(tx, req);
        byRequester.set(req.requesterId, [...(byRequester.get(req.requesterId) ?? []), req]);
      }
      await recordAudit(tx, requests.map((req) => ({
        ...jobContext(c.now), action: 'request.expire', targetType: 'accessRequest', targetId: req.id, details: { item: req.item, stage: req.stage, expiresAt: req.expiresAt },
      })));
      const people = await recipients(tx, requests.flatMap((r) => [r.requesterId, r.beneficiaryId]));
      const mails: QueuedMail[] = [];
      for (const [requesterId, list] of byRequester) {
        const to = people.get(requesterId);
        if (reachable(to)) mails.push(expiredMail(to, list.map((r): MailRequest => mailRequest(r, people)), c.links(requesterId, 'my-access')));
      }
      await queueMail(tx, mails, c.now);
      return requests.length;
    });
  }
  return expired;
}

/**
 * Mails the holder of each grant ending within expiryNoticeDays (birthright grants follow their
 * rule and are left out): one mail per grant and end date, so a run repeated, or a grant still
 * ending next run, mails nobody twice, and an extended end date is told about again.
 */
export async function notifyExpiringGrants(c: DueContext): Promise<{ mailed: number }> {
  const days = c.config.governance.expiryNoticeDays;
  if (days === 0) return { mailed: 0 };
  const rows = await c.db.query<{ id: string; identity_id: string; item: string; valid_until: string }>(
    `SELECT g.id, g.identity_id, g.item, g.valid_until FROM grants g JOIN identities i ON i.id = g.identity_id
     WHERE g.valid_until IS NOT NULL AND g.valid_until > ? AND g.valid_until <= ? AND g.source <> 'birthright' AND i.active = 1
     ORDER BY g.identity_id, g.id`,
    [c.now.toISOString(), daysAfter(c.now, days).toISOString()]);
  let mailed = 0;
  for (const chunk of chunks(rows)) {
    mailed += await c.db.transaction(async (tx) => {
      const people = await recipients(tx, chunk.map((r) => r.identity_id));
      const mails: QueuedMail[] = [];
      for (const row of chunk) {
        const to = people.get(row.identity_id);
        if (reachable(to)) mails.push(expiringMail(to, { id: row.id, item: row.item, validUntil: row.valid_until }, c.links(row.identity_id, 'my-access')));
      }
      return queueMail(tx, mails, c.now);
    });
  }
  return { mailed };
}
