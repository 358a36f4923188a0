/*
 * How a request moves through its chain, inside the transaction of whatever moved it (its
 * creation, a decision, a leaver): open the next stage that names someone, and once no stage is
 * left, decide the outcome. Each step mails the people it concerns and audits what it changed.
 *
 * When stages name nobody:
 * - a stage that resolves to nobody (no manager, an entitlement has no owner, everyone it names
 *   is the beneficiary or the requester) is skipped;
 * - but a request is never approved without at least one person's approval outside the SoD
 *   stages: when every configured stage was skipped, the role's owner is asked instead (a
 *   fallback stage); when that names nobody either, the request cannot be approved by anyone.
 *   At creation that refuses the request (422 "nobody can approve"); later (people left,
 *   managers changed) the request fails with that reason, and the requester is told.
 */
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../audit/recorder.js';
import type { Config } from '../../config/index.js';
import type { Transaction } from '../../db/database.js';
import type { ChangeContext } from '../../identity/resources.js';
import { daysAfter } from '../../lifecycle/dates.js';
import type { Catalog } from '../../policy/catalog.js';
import type { SodService } from '../../policy/sod.js';
import { queueMail, type QueuedMail } from '../../notify/mail-queue.js';
import { recipients, type Recipient } from '../../notify/recipients.js';
import { deputiesOf } from '../delegations.js';
import { resolveStage, sodFindings, sodOwnerStage, type ChainContext, type StageSubject } from './chain.js';
import { awaitingMail, decidedMail, reachable, type MailRequest } from './mails.js';
import type { LinkMaker } from '../../notify/links.js';
import { accessUntil, stageLabel, type SodConflict, type TaskReason } from './model.js';
import { closeOpenTasks, insertTasks, type RequestRecord, type TaskRecord } from './records.js';

/** What a step of the workflow works with. */
export interface Step {
  tx: Transaction;
  catalog: Catalog;
  config: Config;
  sod: SodService;
  now: Date;
  links: LinkMaker;
  ctx: ChangeContext;
}

/** The audit actor and request id of a step. */
export function audited(step: Step) {
  return { actor: step.ctx.actor, requestId: step.ctx.requestId, targetType: 'accessRequest' } as const;
}

/** Where a step resolves stages. */
export function chainContext(step: Step): ChainContext {
  return { sql: step.tx, catalog: step.catalog, governance: step.config.governance };
}

/** The request as stage resolution sees it. */
export function subjectOf(req: RequestRecord): StageSubject {
  return { item: req.item, beneficiaryId: req.beneficiaryId, requesterId: req.requesterId };
}

/** When a task made now escalates to its approver's manager; null when escalation is off. */
export function escalateAt(config: Config, now: Date): string | null {
  const days = config.governance.escalationDays;
  return days > 0 ? daysAfter(now, days).toISOString() : null;
}

/** A new open task. */
export function newTask(req: RequestRecord, stage: number, approverId: string, reason: TaskReason, now: Date, escalate: string | null, onBehalfOf: string | null = null): TaskRecord {
  return {
    id: randomUUID(), requestId: req.id, stage, approverId, reason, onBehalfOf, status: 'open', comment: null,
    created: now.toISOString(), escalateAt: escalate, decidedAt: null,
  };
}

/**
 * Opens the first stage from `from` on that names someone: its tasks are made and its
 * approvers (and their deputies) mailed. Stages naming nobody are marked skipped. 'done' when no
 * stage is left.
 */
export async function openFrom(step: Step, req: RequestRecord, from: number): Promise<'open' | 'done'> {
  for (let index = from; index < req.chain.length; index++) {
    const stage = req.chain[index]!;
    const approvers = await resolveStage(chainContext(step), subjectOf(req), stage);
    if (approvers.length === 0) {
      stage.status = 'skipped';
      continue;
    }
    stage.status = 'open';
    req.stage = index;
    const escalate = escalateAt(step.config, step.now);
    const tasks = approvers.map((id) => newTask(req, index, id, stage.approver, step.now, escalate));
    await insertTasks(step.tx, tasks);
    await mailAwaiting(step, req, tasks);
    return 'open';
  }
  return 'done';
}

/**
 * After the last stage: refuses a request nobody outside the SoD stages approved (asking the
 * role's owner first), re-checks separation of duties (adding a stage for the owner of a rule
 * broken since the request was made, or failing when the rule has no owner who can approve),
 * and otherwise marks the request approved. The grant is made after the transaction commits.
 */
export async function conclude(step: Step, req: RequestRecord): Promise<'open' | 'approved' | 'failed'> {
  for (;;) {
    if (!req.chain.some((s) => s.approver !== 'sod-owner' && s.status === 'approved')) {
      if (!req.chain.some((s) => s.fallback)) {
        req.chain.push({ approver: 'role-owner', fallback: true, status: 'waiting' });
        if (await openFrom(step, req, req.chain.length - 1) === 'open') return 'open';
      }
      await failRequest(step, req, `nobody can approve this request: no stage of its approval chain names anyone other than ${describeParties(req)}`);
      return 'failed';
    }
    const [beneficiary] = await step.tx.query<{ active: number | string }>('SELECT active FROM identities WHERE id = ?', [req.beneficiaryId]);
    if (!beneficiary || Number(beneficiary.active) !== 1) {
      await failRequest(step, req, 'the beneficiary is no longer active');
      return 'failed';
    }
    const findings = await sodFindings(chainContext(step), step.sod, subjectOf(req), { from: step.now.toISOString(), until: accessUntil(step.now, req.durationDays) });
    const approvedRules = new Set(req.chain.flatMap((s) => (s.approver === 'sod-owner' && s.status === 'approved' ? [s.rule] : [])));
    const open = findings.filter((f) => !f.excepted && !approvedRules.has(f.rule));
    if (open.length === 0) {
      req.status = 'approved';
      req.decidedAt = step.now.toISOString();
      return 'approved';
    }
    req.sod = mergeConflicts(req.sod, open);
    const stuck = open.filter((f) => f.ownerId === undefined || req.chain.some((s) => s.approver === 'sod-owner' && s.rule === f.rule));
    if (stuck.length > 0) {
      await failRequest(step, req, `granting ${req.item} would now violate SoD rule${stuck.length > 1 ? 's' : ''} ${stuck.map((f) => f.rule).join(', ')}, and no owner of the rule can approve an exception`,
        { rules: stuck.map((f) => f.rule) });
      return 'failed';
    }
    // Broken since the request was made (the beneficiary got something meanwhile): the owner decides.
    const first = req.chain.length;
    for (const f of open) req.chain.push(sodOwnerStage(f.rule));
    if (await openFrom(step, req, first) === 'open') return 'open';
  }
}

/** Adds conflicts not yet listed. */
export function mergeConflicts(known: SodConflict[], found: ReadonlyArray<{ rule: string; items: string[] }>): SodConflict[] {
  const out = [...known];
  for (const f of found) if (!out.some((c) => c.rule === f.rule)) out.push({ rule: f.rule, items: f.items });
  return out;
}

function describeParties(req: RequestRecord): string {
  return req.beneficiaryId === req.requesterId ? 'the requester' : 'the requester and the beneficiary';
}

/** Ends a request as failed: tasks closed, audited, requester and beneficiary told why. */
export async function failRequest(step: Step, req: RequestRecord, reason: string, details?: Record<string, unknown>): Promise<void> {
  req.status = 'failed';
  req.outcome = reason;
  req.decidedAt = step.now.toISOString();
  req.updated = step.now.toISOString();
  await closeOpenTasks(step.tx, req.id, step.now.toISOString());
  await recordAudit(step.tx, { ...audited(step), action: 'request.fail', targetId: req.id, details: { item: req.item, reason, ...details } });
  await mailDecided(step, req, { status: 'failed', reason });
}

/** The facts mail tells about a request, with the names of its people. */
export function mailRequest(req: RequestRecord, people: Map<string, Recipient>): MailRequest {
  const name = (id: string) => people.get(id)?.name ?? id;
  return {
    id: req.id, item: req.item, beneficiary: name(req.beneficiaryId), requester: name(req.requesterId),
    justification: req.justification, durationDays: req.durationDays,
  };
}

/** Mails the requester and the beneficiary (once when they are one person) that the request was decided. */
export async function mailDecided(step: Step, req: RequestRecord, outcome: Parameters<typeof decidedMail>[2]): Promise<void> {
  const people = await recipients(step.tx, [req.requesterId, req.beneficiaryId]);
  const about = mailRequest(req, people);
  const mails: QueuedMail[] = [];
  for (const id of new Set([req.requesterId, req.beneficiaryId])) {
    const to = people.get(id);
    if (reachable(to)) mails.push(decidedMail(to, about, outcome, step.links(id, 'my-access')));
  }
  await queueMail(step.tx, mails, step.now);
}

/**
 * Mails each approver of new tasks that a request awaits them, and each deputy in force of one of
 * them; one mail per person. The beneficiary and the requester are never asked, even as deputies.
 */
export async function mailAwaiting(step: Step, req: RequestRecord, tasks: readonly TaskRecord[]): Promise<void> {
  if (tasks.length === 0) return;
  const stageIndex = tasks[0]!.stage;
  const deputies = await deputiesOf(step.tx, tasks.map((t) => t.approverId), step.now);
  const as = new Map<string, Parameters<typeof awaitingMail>[4] | null>();
  const parties = new Set([req.beneficiaryId, req.requesterId]);
  const forIds = new Set<string>();
  for (const t of tasks) {
    if (t.onBehalfOf !== null) forIds.add(t.onBehalfOf);
    forIds.add(t.approverId);
  }
  const people = await recipients(step.tx, [...forIds, ...[...deputies.values()].flat(), req.beneficiaryId, req.requesterId]);
  const name = (id: string) => people.get(id)?.name ?? id;
  for (const t of tasks) {
    const why = t.reason === 'escalation' || t.reason === 'reassigned' ? { reason: t.reason, for: name(t.onBehalfOf ?? '') } : null;
    as.set(t.approverId, why);
  }
  for (const t of tasks) {
    for (const deputy of deputies.get(t.approverId) ?? []) {
      if (!as.has(deputy) && !parties.has(deputy)) as.set(deputy, { reason: 'deputy', for: name(t.approverId) });
    }
  }
  const about = mailRequest(req, people);
  const stage = { index: stageIndex, label: stageLabel(req.chain[stageIndex]!) };
  const mails: QueuedMail[] = [];
  for (const [id, why] of as) {
    const to = people.get(id);
    if (reachable(to)) mails.push(awaitingMail(to, about, stage, step.links(id, 'approvals'), why ?? undefined));
  }
  await queueMail(step.tx, mails, step.now);
}
