/*
 * Access requests: a person asks for a requestable role or entitlement for themselves or a
 * report; the request walks its approval chain; approval makes a time-bound grant that the
 * outbox provisions.
 *
 * Approval and grant are two transactions (GrantService runs its own): the last approval marks
 * the request 'approved' with its task, then the grant is made, then the request records the
 * grant id. A grant refused then (SoD, a deny rule) fails the request and tells the requester;
 * a crash in between leaves an approved request without a grant, which processDue() grants
 * (the grant is idempotent on the request id, so doing it twice gives one grant).
 */
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../audit/recorder.js';
import type { Config } from '../../config/index.js';
import { chunks, placeholders } from '../../db/batches.js';
import { uniqueViolation, type Database, type Sql, type Transaction } from '../../db/database.js';
import type { ChangeContext } from '../../identity/resources.js';
import { daysAfter } from '../../lifecycle/dates.js';
import { mailLinkKey } from '../../auth/server-keys.js';
import type { BirthrightService } from '../../policy/birthright.js';
import { CatalogCache, type Catalog } from '../../policy/catalog.js';
import type { GrantService } from '../../policy/grants.js';
import { identitiesById, resolveIdentity } from '../../policy/identity-ref.js';
import { parseItem, PolicyError } from '../../policy/model.js';
import type { SodExceptions } from '../../policy/sod-exceptions.js';
import type { SodService } from '../../policy/sod.js';
import { requirePerson, type Actor } from '../actor.js';
import { delegatorsOf } from '../delegations.js';
import { GovernanceError } from '../errors.js';
import { resolveStage, sodFindings, sodOwnerStage } from './chain.js';
import { jobContext, notifyExpiringGrants, processDue } from './due.js';
import { reassignLeavers } from './leavers.js';
import { linkMaker, type LinkMaker } from '../../notify/links.js';
import { accessUntil, chainFor, checkDuration, type AccessRequestView, type RequestInput, type StoredStage } from './model.js';
import { closeOpenTasks, insertRequest, insertTasks, readRequest, saveRequest, selectRequests, tasksOf, toViews, type RequestRecord } from './records.js';
import { chainContext, conclude, failRequest, mailDecided, openFrom, subjectOf, type Step } from './workflow.js';

export type { AccessRequestView } from './model.js';

/** How long an approved request may wait for its grant before processDue() makes it: longer than any decision takes. */
const FULFIL_GRACE_MS = 5 * 60_000;
/** How far up a manager chain "a report of" looks. */
const MAX_MANAGER_DEPTH = 64;
const MAX_PAGE = 500;

/** The access-model services requests work through: the server's own, shared with the API. */
export interface RequestDeps {
  grants: GrantService;
  sod: SodService;
  sodExceptions: SodExceptions;
  /** read for the deny rules that keep a beneficiary from an item */
  birthright: BirthrightService;
}

/** Creates, decides, lists, escalates and expires access requests. */
export class AccessRequestService {
  private readonly grants: GrantService;
  private readonly sod: SodService;
  private readonly sodExceptions: SodExceptions;
  private readonly birthright: BirthrightService;
  private linkKey?: Promise<Buffer>;

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    deps: RequestDeps,
    private readonly clock: () => Date = () => new Date(),
  ) {
    ({ grants: this.grants, sod: this.sod, sodExceptions: this.sodExceptions, birthright: this.birthright } = deps);
  }

  /** The key mail links are signed with, read once (before any transaction: on SQLite a read inside one would wait for it). */
  private async links(now: Date): Promise<LinkMaker> {
    this.linkKey ??= mailLinkKey(this.db).catch((err: unknown) => {
      this.linkKey = undefined;
      throw err;
    });
    return linkMaker(await this.linkKey, now, this.config.governance.linkTtlHours);
  }

  private step(tx: Transaction, catalog: Catalog, now: Date, links: LinkMaker, ctx: ChangeContext): Step {
    return { tx, catalog, config: this.config, sod: this.sod, now, links, ctx };
  }

  /**
   * Makes a request: for oneself, for a direct or indirect report (when managers may), or, for an
   * iam-admin, for anyone. Refused when the caller is no person (403), the item is unknown (404),
   * not requestable, too long or denied to the beneficiary (422), already pending or held for
   * good (409), would break an SoD rule whose owner cannot approve an exception (409
   * sod_violation), or nobody could approve it (422). With an idempotency key, a repeat by the
   * same caller returns the request the first made (created=false); the same key with another
   * request is a conflict (409).
   */
  async create(input: RequestInput, by: Actor & { idempotencyKey?: string }): Promise<{ created: boolean; request: AccessRequestView }> {
    const now = this.clock();
    const links = await this.links(now);
    const ref = parseItem(input.item);
    if (ref === undefined) throw new GovernanceError('invalid', `${input.item} does not name a role (role:<name>) or an entitlement (ent:<target>/<key>)`);
    const justification = input.justification.trim();
    if (justification === '' || justification.length > 4000) throw new GovernanceError('invalid', 'a justification of 1 to 4000 characters is required');
    if (input.durationDays !== undefined && (!Number.isInteger(input.durationDays) || input.durationDays < 1 || input.durationDays > 3650)) {
      throw new GovernanceError('invalid', 'durationDays must be a whole number of days from 1 to 3650');
    }
    if (by.idempotencyKey !== undefined && (by.idempotencyKey === '' || by.idempotencyKey.length > 255)) {
      throw new GovernanceError('invalid', 'an idempotency key is 1 to 255 characters');
    }
    try {
      return await this.db.transaction(async (tx) => {
        // The beneficiary's lock comes first (as in GrantService): two requests for one person
        // are checked one after the other, and on MySQL everything read after it is current.
        const beneficiaryRef = input.beneficiary ?? requirePerson(by, 'request access');
        const beneficiary = await resolveIdentity(tx, beneficiaryRef, { lock: true });
        if (!beneficiary) throw new GovernanceError('notFound', `identity ${beneficiaryRef} does not exist`);
        const { catalog } = await CatalogCache.of(this.db).read(tx, 'share');
        if (!catalog.has(input.item)) throw new GovernanceError('notFound', `${input.item} does not exist in the catalogue`);
        const requesterId = requirePerson(by, 'request access');
        if (by.idempotencyKey !== undefined) {
          const [earlier] = await selectRequests(tx, 'requested_by = ? AND idempotency_key = ?', [by.actor, by.idempotencyKey]);
          if (earlier) return { created: false, request: await this.repeat(tx, earlier, beneficiary.id, input, justification) };
        }
        if (!beneficiary.active) throw new GovernanceError('invalid', `${beneficiary.userName} is not active`);
        await this.checkMayRequestFor(tx, by, requesterId, beneficiary.id, beneficiary.userName);
        const role = ref.kind === 'role' ? catalog.roles.get(ref.name) : undefined;
        const requestable = role ? role.requestable : catalog.entitlements.get(input.item)?.requestable;
        if (requestable !== true) throw new GovernanceError('invalid', `${input.item} is not requestable; an administrator can grant it directly`);
        checkDuration(input.item, role?.maxDurationDays, input.durationDays);
        const denied = await this.birthright.denyingRules(tx, catalog, beneficiary.id, input.item);
        if (denied.length > 0) {
          throw new GovernanceError('invalid', `${beneficiary.userName} may not hold ${input.item}: deny rule${denied.length > 1 ? 's' : ''} ${denied.join(', ')} match${denied.length > 1 ? '' : 'es'} them`, { denyRules: denied });
        }
        await refuseDuplicate(tx, beneficiary.id, beneficiary.userName, input.item, now);

        const record: RequestRecord = {
          id: randomUUID(), requesterId, requestedBy: by.actor, beneficiaryId: beneficiary.id, item: input.item, justification,
          durationDays: input.durationDays ?? null, status: 'pending', stage: 0, chain: [], sod: [], grantId: null,
          idempotencyKey: by.idempotencyKey ?? null, outcome: null, created: now.toISOString(), updated: now.toISOString(),
          expiresAt: daysAfter(now, this.config.governance.requestExpiryDays).toISOString(), decidedAt: null,
        };
        const ctx = { actor: by.actor, requestId: by.requestId };
        const step = this.step(tx, catalog, now, links, ctx);
        record.chain = await this.chainOf(step, record, beneficiary.userName);
        if (await openFrom(step, record, 0) !== 'open') throw nobodyCanApprove(record.item);
        await insertRequest(tx, record);
        await recordAudit(tx, {
          actor: by.actor, action: 'request.create', targetType: 'accessRequest', targetId: record.id, requestId: by.requestId,
          details: {
            item: record.item, beneficiary: beneficiary.userName, justification, durationDays: record.durationDays,
            chain: record.chain.map((s) => ({ approver: s.approver, status: s.status })), ...(record.sod.length > 0 && { sodConflicts: record.sod }),
            ...(by.idempotencyKey !== undefined && { idempotencyKey: by.idempotencyKey }),
          },
        });
        const [view] = await toViews(tx, [record]);
        return { created: true, request: view! };
      });
    } catch (err) {
      // A concurrent POST with the same key got there first: answer as a repeat of it.
      if (by.idempotencyKey !== undefined && /idempotency/.test(uniqueViolation(err) ?? '')) {
        const [earlier] = await selectRequests(this.db, 'requested_by = ? AND idempotency_key = ?', [by.actor, by.idempotencyKey]);
        const beneficiary = earlier ? await resolveIdentity(this.db, input.beneficiary ?? by.identityId ?? '') : undefined;
        if (earlier) return { created: false, request: await this.repeat(this.db, earlier, beneficiary?.id, input, justification) };
      }
      throw err;
    }
  }

  /** The request an idempotency key made, if the repeat asks for the same thing; a conflict otherwise. */
  private async repeat(sql: Sql, earlier: RequestRecord, beneficiaryId: string | undefined, input: RequestInput, justification: string): Promise<AccessRequestView> {
    const same = earlier.beneficiaryId === beneficiaryId && earlier.item === input.item && earlier.justification === justification
      && earlier.durationDays === (input.durationDays ?? null);
    if (!same) {
      throw new GovernanceError('conflict', `this Idempotency-Key was already used for request ${earlier.id}, which asked for something else; use a new key for a new request`, { requestId: earlier.id });
    }
    return (await toViews(sql, [earlier]))[0]!;
  }

  /** Oneself; a report when managers may request for them; anyone for an iam-admin. */
  private async checkMayRequestFor(sql: Sql, by: Actor, requesterId: string, beneficiaryId: string, userName: string): Promise<void> {
    if (beneficiaryId === requesterId || by.scopes?.includes('iam-admin')) return;
    if (this.config.governance.managersRequestForReports && await isReportOf(sql, beneficiaryId, requesterId)) return;
    throw new GovernanceError('forbidden', this.config.governance.managersRequestForReports
      ? `you may request access for yourself and for the people who report to you, directly or not; ${userName} does not`
      : `you may request access only for yourself, not for ${userName}`);
  }

  /**
   * The stages of a new request: the configured chain; the role's owner when no configured stage
   * names anyone (see workflow.ts); then a stage per SoD rule the grant would break whose owner
   * can approve an exception. A broken rule nobody can approve refuses the request.
   */
  private async chainOf(step: Step, record: RequestRecord, userName: string): Promise<StoredStage[]> {
    const chainCtx = chainContext(step);
    const subject = subjectOf(record);
    const findings = await sodFindings(chainCtx, this.sod, subject, { from: step.now.toISOString(), until: accessUntil(step.now, record.durationDays) });
    const blocking = findings.filter((f) => !f.excepted);
    const unownable = blocking.filter((f) => f.ownerId === undefined);
    if (unownable.length > 0) {
      const [first] = unownable;
      throw new GovernanceError('sod',
        `granting ${record.item} to ${userName} would violate SoD rule${unownable.length > 1 ? 's' : ''} ${unownable.map((f) => f.rule).join(', ')}, which ha${unownable.length > 1 ? 've' : 's'} no owner who could approve an exception`,
        { rule: first!.rule, conflicting: first!.items, violations: unownable.map((f) => ({ rule: f.rule, items: f.items })) });
    }
    record.sod = blocking.map((f) => ({ rule: f.rule, items: f.items }));

    const stages: StoredStage[] = chainFor(this.config.governance, record.item).map((s) => ({ ...s, status: 'waiting' }));
    let anyone = false;
    for (const stage of stages) {
      if ((await resolveStage(chainCtx, subject, stage)).length > 0) {
        anyone = true;
        break;
      }
    }
    if (!anyone) {
      if ((await resolveStage(chainCtx, subject, { approver: 'role-owner' })).length === 0) throw nobodyCanApprove(record.item);
      stages.push({ approver: 'role-owner', fallback: true, status: 'waiting' });
    }
    return [...stages, ...blocking.map((f) => sodOwnerStage(f.rule))];
  }

  /** One request, whoever asks (services and jobs). */
  async get(id: string): Promise<AccessRequestView> {
    const record = await readRequest(this.db, id);
    if (!record) throw new GovernanceError('notFound', `access request ${id} does not exist`);
    return (await toViews(this.db, [record]))[0]!;
  }

  /**
   * One request as a caller may see it: its requester, its beneficiary, anyone asked to decide
   * it (or their deputy in force), iam-admins and auditors; to anyone else it does not exist.
   */
  async read(id: string, by: Actor): Promise<AccessRequestView> {
    const record = await readRequest(this.db, id);
    if (!record) throw new GovernanceError('notFound', `access request ${id} does not exist`);
    const tasks = await tasksOf(this.db, [id]);
    if (!(await this.mayRead(this.db, record, tasks.get(id) ?? [], by))) throw new GovernanceError('notFound', `access request ${id} does not exist`);
    return (await toViews(this.db, [record], tasks))[0]!;
  }

  private async mayRead(sql: Sql, record: RequestRecord, tasks: ReadonlyArray<{ approverId: string }>, by: Actor): Promise<boolean> {
    if (by.scopes?.some((s) => s === 'iam-admin' || s === 'auditor')) return true;
    const me = by.identityId;
    if (me === null) return false;
    if (me === record.requesterId || me === record.beneficiaryId || tasks.some((t) => t.approverId === me)) return true;
    const delegators = new Set(await delegatorsOf(sql, me, this.clock()));
    return tasks.some((t) => delegators.has(t.approverId));
  }

  /** Requests, newest first, where `involving` is requester or beneficiary (all without it); `next` continues. */
  async list(filter: { involving?: string; status?: string }, page: { limit: number; after?: string }): Promise<{ requests: AccessRequestView[]; next?: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.involving !== undefined) {
      where.push('(requester_id = ? OR beneficiary_id = ?)');
      params.push(filter.involving, filter.involving);
    }
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (page.after !== undefined) {
      const [after] = await this.db.query<{ created: string }>('SELECT created FROM access_requests WHERE id = ?', [page.after]);
      if (after) {
        where.push('(created < ? OR (created = ? AND id < ?))');
        params.push(after.created, after.created, page.after);
      }
    }
    const limit = Math.min(Math.max(Math.trunc(page.limit) || 1, 1), MAX_PAGE);
    const records = await selectRequests(this.db, where.length > 0 ? where.join(' AND ') : '1 = 1', params, { orderBy: 'created DESC, id DESC', limit: limit + 1 });
    const requests = await toViews(this.db, records.slice(0, limit));
    return records.length > limit ? { requests, next: requests[requests.length - 1]!.id } : { requests };
  }

  /** The pending requests waiting for this person's decision, their own or as a deputy in force, oldest first. */
  async awaiting(approverId: string): Promise<AccessRequestView[]> {
    const delegators = await delegatorsOf(this.db, approverId, this.clock());
    const approvers = [approverId, ...delegators];
    const ids = new Set<string>();
    for (const chunk of chunks(approvers)) {
      const rows = await this.db.query<{ request_id: string; stage: number | string }>(
        `SELECT t.request_id, t.stage FROM approval_tasks t JOIN access_requests r ON r.id = t.request_id
         WHERE t.approver_id IN (${placeholders(chunk.length)}) AND t.status = 'open' AND r.status = 'pending' AND r.stage = t.stage
           AND r.beneficiary_id <> ? AND r.requester_id <> ?`,
        [...chunk, approverId, approverId]);
      for (const row of rows) ids.add(row.request_id);
    }
    const records: RequestRecord[] = [];
    for (const chunk of chunks([...ids])) records.push(...await selectRequests(this.db, `id IN (${placeholders(chunk.length)})`, chunk));
    records.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : 1));
    return toViews(this.db, records);
  }

  /**
   * Approves or denies the open stage of a request, as an approver of it or a deputy in force of
   * one. A deny ends the request; an approval opens the next stage or, after the last, grants.
   * Refused (403) for the beneficiary, the requester and anyone the stage does not name (an
   * iam-admin grants directly instead); a stage someone else decided first is a conflict (409).
   */
  async decide(id: string, decision: { decision: 'approve' | 'deny'; comment?: string }, by: Actor): Promise<AccessRequestView> {
    const now = this.clock();
    const links = await this.links(now);
    const ctx = { actor: by.actor, requestId: by.requestId };
    const approved = await this.db.transaction(async (tx) => {
      // The request row is the lock every change to a request takes first: two deciders of one stage take turns.
      const req = await readRequest(tx, id, true);
      if (!req) throw new GovernanceError('notFound', `access request ${id} does not exist`);
      const me = requirePerson(by, 'decide an access request');
      if (me === req.beneficiaryId) throw new GovernanceError('forbidden', 'nobody decides a request for their own access');
      if (me === req.requesterId) throw new GovernanceError('forbidden', 'nobody decides a request they made');
      const tasks = (await tasksOf(tx, [id])).get(id) ?? [];
      const delegators = new Set(await delegatorsOf(tx, me, now));
      if (!tasks.some((t) => t.approverId === me || delegators.has(t.approverId))) {
        throw new GovernanceError('forbidden', by.scopes?.includes('iam-admin')
          ? 'this request is not assigned to you; an iam-admin grants access directly with POST /api/v1/grants instead'
          : 'this request is not waiting for your decision');
      }
      if (req.status !== 'pending') throw new GovernanceError('conflict', `access request ${id} is already ${req.status}`, { status: req.status });
      const open = tasks.filter((t) => t.status === 'open' && t.stage === req.stage);
      const own = open.find((t) => t.approverId === me);
      const delegated = own ? undefined : open.find((t) => delegators.has(t.approverId));
      if (!own && !delegated) {
        throw new GovernanceError('conflict', `the stage of access request ${id} you were asked to decide has already been decided`, { stage: req.stage });
      }
      const { catalog } = await CatalogCache.of(this.db).read(tx, 'share');
      const step = this.step(tx, catalog, now, links, ctx);
      const status = decision.decision === 'approve' ? 'approved' : 'denied';
      const comment = decision.comment?.trim() || null;
      if (own) {
        await tx.execute('UPDATE approval_tasks SET status = ?, comment = ?, decided_at = ? WHERE id = ?', [status, comment, now.toISOString(), own.id]);
      } else {
        // The deputy's decision is a task of its own, on behalf of the approver whose task it ends.
        await insertTasks(tx, [{
          id: randomUUID(), requestId: id, stage: req.stage, approverId: me, reason: 'delegate', onBehalfOf: delegated!.approverId, status,
          comment, created: now.toISOString(), escalateAt: null, decidedAt: now.toISOString(),
        }]);
      }
      await closeOpenTasks(tx, id, now.toISOString());
      const names = await resolveNames(tx, [me, ...(delegated ? [delegated.approverId] : [])]);
      const stage = req.chain[req.stage]!;
      const decidedStage = req.stage;
      Object.assign(stage, {
        status, decidedBy: names.get(me)!, decidedAt: now.toISOString(),
        ...(delegated && { onBehalfOf: names.get(delegated.approverId)! }), ...(comment !== null && { comment }),
      });
      req.updated = now.toISOString();
      // The decision first; what it leads to (the next stage, a failure) is audited after it.
      await recordAudit(tx, {
        actor: by.actor, action: status === 'approved' ? 'request.approve' : 'request.deny', targetType: 'accessRequest', targetId: id, requestId: by.requestId,
        details: {
          stage: decidedStage, approver: stage.approver, ...(stage.approver === 'sod-owner' && { rule: stage.rule }), decidedBy: names.get(me),
          ...(delegated && { onBehalfOf: names.get(delegated.approverId) }), ...(comment !== null && { comment }),
        },
      });
      let outcome: 'open' | 'approved' | 'failed' | 'denied' = 'denied';
      if (status === 'denied') {
        req.status = 'denied';
        req.decidedAt = now.toISOString();
        await mailDecided(step, req, { status: 'denied', by: names.get(me)!, ...(comment !== null && { comment }) });
      } else {
        outcome = await openFrom(step, req, req.stage + 1) === 'open' ? 'open' : await conclude(step, req);
      }
      await saveRequest(tx, req);
      return outcome === 'approved';
    });
    if (approved) await this.fulfil(id, ctx);
    return this.get(id);
  }

  /**
   * Makes the grant of an approved request (and first the SoD exceptions its owners approved),
   * then records it; a refused grant fails the request. Safe to repeat: the grant is idempotent
   * on the request, and only an approved request without a grant is touched.
   */
  async fulfil(id: string, ctx: ChangeContext): Promise<void> {
    const req = await readRequest(this.db, id);
    if (!req || req.status !== 'approved' || req.grantId !== null) return;
    // The window starts at the approval, so a repeat asks for the same grant.
    const validUntil = accessUntil(new Date(req.decidedAt ?? req.updated), req.durationDays);
    let grantId: string;
    try {
      const beneficiary = await resolveIdentity(this.db, req.beneficiaryId);
      if (!beneficiary?.active) throw new GovernanceError('invalid', 'the beneficiary is no longer active');
      // The exceptions the SoD owners approved are recorded in the grant's transaction: a grant refused leaves none behind.
      const recordExceptions = async (tx: Transaction) => {
        for (const stage of req.chain) {
          if (stage.approver !== 'sod-owner' || stage.status !== 'approved') continue;
          await this.sodExceptions.recordIn(tx, {
            rule: stage.rule, identity: req.beneficiaryId, reason: `access request ${req.id} for ${req.item}: ${req.justification}`.slice(0, 4000),
            approvedBy: stage.onBehalfOf ? `${stage.decidedBy} for ${stage.onBehalfOf}` : stage.decidedBy!, validUntil,
          }, ctx);
        }
      };
      const { grant } = await this.grants.grant({
        identity: req.beneficiaryId, item: req.item, source: 'request', sourceRef: req.id, reason: req.justification.slice(0, 4000), validUntil,
      }, ctx, { before: recordExceptions });
      grantId = grant.id;
    } catch (err) {
      if (!(err instanceof PolicyError || err instanceof GovernanceError)) throw err;
      const refused = err;
      await this.afterGrant(id, ctx, (step, current) => failRequest(step, current, refused.message, refused.details));
      return;
    }
    await this.afterGrant(id, ctx, async (step, current) => {
      current.grantId = grantId;
      current.updated = step.now.toISOString();
      await recordAudit(step.tx, { actor: ctx.actor, action: 'request.grant', targetType: 'accessRequest', targetId: id, requestId: ctx.requestId, details: { grantId, item: current.item, validUntil } });
      await mailDecided(step, current, { status: 'approved', validUntil });
    });
  }

  /** Runs `work` on an approved request still without a grant, locked; nothing when another run got there first. */
  private async afterGrant(id: string, ctx: ChangeContext, work: (step: Step, req: RequestRecord) => Promise<void>): Promise<void> {
    const now = this.clock();
    const links = await this.links(now);
    await this.db.transaction(async (tx) => {
      const req = await readRequest(tx, id, true);
      if (!req || req.status !== 'approved' || req.grantId !== null) return;
      const { catalog } = await CatalogCache.of(this.db).read(tx);
      await work(this.step(tx, catalog, now, links, ctx), req);
      await saveRequest(tx, req);
    });
  }

  /** Withdraws a pending request: by its requester, its beneficiary or an iam-admin. */
  async cancel(id: string, by: Actor): Promise<AccessRequestView> {
    const now = this.clock();
    await this.db.transaction(async (tx) => {
      const req = await readRequest(tx, id, true);
      if (!req) throw new GovernanceError('notFound', `access request ${id} does not exist`);
      const admin = by.scopes?.includes('iam-admin') === true;
      if (!admin && by.identityId !== req.requesterId && by.identityId !== req.beneficiaryId) {
        const tasks = (await tasksOf(tx, [id])).get(id) ?? [];
        if (!(await this.mayRead(tx, req, tasks, by))) throw new GovernanceError('notFound', `access request ${id} does not exist`);
        throw new GovernanceError('forbidden', 'only the requester or the beneficiary can cancel a request; an approver denies it');
      }
      if (req.status !== 'pending') throw new GovernanceError('conflict', `access request ${id} is already ${req.status}`, { status: req.status });
      const names = by.identityId === null ? new Map<string, string>() : await resolveNames(tx, [by.identityId]);
      req.status = 'cancelled';
      req.outcome = `cancelled by ${(by.identityId !== null && names.get(by.identityId)) || by.actor}`;
      req.decidedAt = now.toISOString();
      req.updated = now.toISOString();
      await closeOpenTasks(tx, id, now.toISOString());
      await saveRequest(tx, req);
      await recordAudit(tx, { actor: by.actor, action: 'request.cancel', targetType: 'accessRequest', targetId: id, requestId: by.requestId, details: { item: req.item, stage: req.stage } });
    });
    return this.get(id);
  }

  /**
   * The governance job's part for requests: escalates tasks undecided for escalationDays to the
   * approver's manager, expires requests undecided past their expiry, and grants approved
   * requests whose grant a crash interrupted.
   */
  async processDue(): Promise<{ escalated: number; expired: number; fulfilled: number }> {
    const now = this.clock();
    const links = await this.links(now);
    const result = await processDue({ db: this.db, config: this.config, now, links });
    const stuck = await this.db.query<{ id: string }>(
      "SELECT id FROM access_requests WHERE status = 'approved' AND grant_id IS NULL AND updated <= ? ORDER BY id LIMIT 1000",
      [new Date(now.getTime() - FULFIL_GRACE_MS).toISOString()]);
    for (const { id } of stuck) await this.fulfil(id, jobContext(now));
    return { ...result, fulfilled: stuck.length };
  }

  /** Mails each holder of a grant ending within expiryNoticeDays, once per grant and end date. */
  async notifyExpiringGrants(): Promise<{ mailed: number }> {
    const now = this.clock();
    return notifyExpiringGrants({ db: this.db, config: this.config, now, links: await this.links(now) });
  }

  /**
   * In a leaver's transaction: cancels the pending requests for them, hands their open approval
   * tasks to their manager (else the role's owner; else the request fails), and withdraws the
   * delegations they gave or received. Requests they made for others stay.
   */
  async leaversLeft(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<void> {
    if (identityIds.length === 0) return;
    const now = this.clock();
    // Read through the transaction: this runs inside the leaver's, where the database object would wait.
    const links = linkMaker(await mailLinkKey(tx), now, this.config.governance.linkTtlHours);
    const { catalog } = await CatalogCache.of(this.db).read(tx);
    await reassignLeavers(this.step(tx, catalog, now, links, ctx), identityIds);
  }
}

function nobodyCanApprove(item: string): GovernanceError {
  return new GovernanceError('invalid', `nobody can approve a request for ${item}: no stage of its approval chain, nor the role's owner, names anyone other than the requester and the beneficiary`);
}

/** userNames by identity id (the id itself for one that is unknown). */
async function resolveNames(sql: Sql, ids: string[]): Promise<Map<string, string>> {
  const people = await identitiesById(sql, ids);
  return new Map(ids.map((id) => [id, people.get(id)?.userName ?? id]));
}

/** Whether `personId` is `managerId`'s report, directly or through other managers. */
async function isReportOf(sql: Sql, personId: string, managerId: string): Promise<boolean> {
  const seen = new Set<string>([personId]);
  let current = personId;
  for (let depth = 0; depth < MAX_MANAGER_DEPTH; depth++) {
    const [row] = await sql.query<{ manager_id: string | null }>('SELECT manager_id FROM identities WHERE id = ?', [current]);
    const next = row?.manager_id;
    if (!next || seen.has(next)) return false;
    if (next === managerId) return true;
    seen.add(next);
    current = next;
  }
  return false;
}

/** A request already pending for the same access, or access already held for good, is a conflict. */
async function refuseDuplicate(tx: Transaction, beneficiaryId: string, userName: string, item: string, now: Date): Promise<void> {
  const [pending] = await selectRequests(tx, "beneficiary_id = ? AND item = ? AND status = 'pending'", [beneficiaryId, item]);
  if (pending) throw new GovernanceError('conflict', `a request for ${item} for ${userName} is already pending (${pending.id})`, { requestId: pending.id });
  const held = await tx.query<{ id: string }>(
    'SELECT id FROM grants WHERE identity_id = ? AND item = ? AND valid_until IS NULL AND (valid_from IS NULL OR valid_from <= ?)', [beneficiaryId, item, now.toISOString()]);
  if (held.length > 0) throw new GovernanceError('conflict', `${userName} already holds ${item} with no end date`, { grantId: held[0]!.id });
}
