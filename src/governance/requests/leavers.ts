/*
 * What leaving does to requests, in the leaver's own transaction: pending requests for the leaver
 * are cancelled (requests they made for others stay: the need is the beneficiary's); the
 * approvals waiting for them go to their manager (task reason 'reassigned'), or, when that names
 * nobody and nobody else can decide the stage, to the role's owner; failing both, the request
 * fails and its requester is told. Delegations they gave or received are withdrawn.
 */
import { recordAudit } from '../../audit/recorder.js';
import { chunks, placeholders } from '../../db/batches.js';
import { recipients } from '../../notify/recipients.js';
import { revokeDelegationsOf } from '../delegations.js';
import { managementChains, type ChainLink } from '../people.js';
import { resolveStage } from './chain.js';
import { closeOpenTasks, insertTasks, saveRequest, selectRequests, selectTasks, tasksOf, type RequestRecord, type TaskRecord } from './records.js';
import { audited, chainContext, escalateAt, failRequest, mailAwaiting, newTask, subjectOf, type Step } from './workflow.js';

/** Cancels the leavers' pending requests, hands on their open tasks, and withdraws their delegations. */
export async function reassignLeavers(step: Step, identityIds: readonly string[]): Promise<void> {
  const leavers = new Set(identityIds);
  const ids = [...leavers].sort();
  const now = step.now.toISOString();
  for (const chunk of chunks(ids)) {
    const theirs = await selectRequests(step.tx, `beneficiary_id IN (${placeholders(chunk.length)}) AND status = 'pending'`, chunk, { lock: true });
    for (const req of theirs) {
      req.status = 'cancelled';
      req.outcome = 'cancelled: the beneficiary left';
      req.decidedAt = now;
      req.updated = now;
      await closeOpenTasks(step.tx, req.id, now);
      await saveRequest(step.tx, req);
    }
    await recordAudit(step.tx, theirs.map((req) => ({
      ...audited(step), action: 'request.cancel', targetId: req.id,
      details: { item: req.item, stage: req.stage, reason: 'leaver' },
    })));
  }
  for (const chunk of chunks(ids)) {
    const tasks = await selectTasks(step.tx, `approver_id IN (${placeholders(chunk.length)}) AND status = 'open'`, chunk, true);
    for (const requestIds of chunks([...new Set(tasks.map((t) => t.requestId))].sort())) {
      const requests = await selectRequests(step.tx, `id IN (${placeholders(requestIds.length)}) AND status = 'pending'`, requestIds, { lock: true });
      const all = await tasksOf(step.tx, requests.map((r) => r.id), true);
      const chains = await managementChains(step.tx, [...all.values()].flat().filter((t) => leavers.has(t.approverId)).map((t) => t.approverId), 1);
      for (const req of requests) await reassign(step, req, all.get(req.id) ?? [], leavers, chains);
    }
  }
  await revokeDelegationsOf(step.tx, ids, step.now, step.ctx);
}

/**
 * Hands the leavers' open tasks on the request's open stage to their managers (`chains`: the
 * leavers and their managers), else to the role's owner, else fails it.
 */
async function reassign(step: Step, req: RequestRecord, tasks: readonly TaskRecord[], leavers: ReadonlySet<string>, chains: ReadonlyMap<string, ChainLink>): Promise<void> {
  const now = step.now.toISOString();
  const open = tasks.filter((t) => t.stage === req.stage && t.status === 'open');
  const leaving = open.filter((t) => leavers.has(t.approverId));
  if (leaving.length === 0) return;
  for (const t of leaving) await step.tx.execute("UPDATE approval_tasks SET status = 'closed', decided_at = ? WHERE id = ?", [now, t.id]);
  const staying = new Set(open.filter((t) => !leavers.has(t.approverId)).map((t) => t.approverId));
  const parties = new Set([req.beneficiaryId, req.requesterId]);
  const escalate = escalateAt(step.config, step.now);
  const added: TaskRecord[] = [];
  const moves: Array<{ from: string; to: string | null }> = [];
  for (const t of leaving) {
    const managerId = chains.get(t.approverId)?.managerId ?? null;
    const usable = managerId !== null && chains.get(managerId)?.active === true && !leavers.has(managerId) && !parties.has(managerId);
    if (usable && !staying.has(managerId) && !added.some((a) => a.approverId === managerId)) added.push(newTask(req, req.stage, managerId, 'reassigned', step.now, escalate, t.approverId));
    moves.push({ from: t.approverId, to: usable ? managerId : null });
  }
  if (staying.size === 0 && added.length === 0) {
    const owners = (await resolveStage(chainContext(step), subjectOf(req), { approver: 'role-owner' }))
      .filter((id) => !leavers.has(id));
    for (const owner of owners) added.push(newTask(req, req.stage, owner, 'role-owner', step.now, escalate));
  }
  await insertTasks(step.tx, added);
  const people = await recipients(step.tx, [...moves.flatMap((m) => (m.to === null ? [m.from] : [m.from, m.to])), ...added.map((a) => a.approverId)]);
  const userName = (id: string) => people.get(id)?.userName ?? id;
  await recordAudit(step.tx, {
    ...audited(step), action: 'request.reassign', targetId: req.id,
    details: { stage: req.stage, reason: 'leaver', moves: moves.map((m) => ({ from: userName(m.from), to: m.to === null ? null : userName(m.to) })), added: added.map((a) => userName(a.approverId)) },
  });
  req.updated = now;
  if (staying.size === 0 && added.length === 0) {
    await failRequest(step, req, `nobody is left to approve stage ${req.stage + 1}: its approvers left and no manager or role owner can take over`);
  } else {
    await mailAwaiting(step, req, added);
  }
  await saveRequest(step.tx, req);
}
