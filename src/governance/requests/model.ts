/*
 * The nouns of access requests: what a request asks for, the stages of its approval chain as
 * stored with it, the approval tasks of each stage, and the view clients read.
 */
import { z } from 'zod';
import { daysAfter } from '../../lifecycle/dates.js';
import { ENTITLEMENT_PREFIX, parseItem, ROLE_PREFIX } from '../../policy/model.js';
import type { ApprovalStage } from '../definitions.js';
import { GovernanceError } from '../errors.js';

export const REQUEST_STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'failed'] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const STAGE_STATUSES = ['waiting', 'open', 'approved', 'denied', 'skipped'] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

/** open: may decide; approved / denied: this task decided the stage; closed: the stage ended without it. */
export type TaskStatus = 'open' | 'approved' | 'denied' | 'closed';

/**
 * Why a task went to its approver (approval_tasks.reason, at most 16 characters): the stage kind
 * that named them, or delegate (a deputy decided for the approver), escalation (the approver's
 * manager, after escalationDays), reassigned (the approver left; their manager took over).
 */
export type TaskReason = ApprovalStage['approver'] | 'sod-owner' | 'delegate' | 'escalation' | 'reassigned';

/** The last stages of a request that would break an SoD rule: the rule's owner approves an exception. */
export interface SodOwnerStage {
  approver: 'sod-owner';
  rule: string;
}

/** A stage as the request keeps it: what names its approvers, and how it went. */
export type StoredStage = (ApprovalStage | SodOwnerStage) & {
  status: StageStatus;
  /** added because no configured stage named anyone: the role's owner decides */
  fallback?: true;
  /** userName of who decided it */
  decidedBy?: string;
  /** userName of the approver a deputy decided for */
  onBehalfOf?: string;
  comment?: string;
  decidedAt?: string;
};

/** An SoD rule a request would break, with the items on both sides of the conflict. */
export interface SodConflict {
  rule: string;
  items: string[];
}

/** An access request as clients read it. */
export interface AccessRequestView {
  id: string;
  status: RequestStatus;
  item: string;
  beneficiary: { id: string; userName: string };
  requester: { id: string; userName: string };
  justification: string;
  durationDays: number | null;
  /** the stage waiting for a decision (0-based), or the last one decided */
  stage: number;
  stages: {
    approver: string;
    status: StageStatus;
    /** userNames of everyone who was asked to decide the stage */
    approvers: string[];
    decidedBy?: string;
    onBehalfOf?: string;
    comment?: string;
    /** the group or SoD rule the stage names */
    group?: string;
    rule?: string;
  }[];
  sodConflicts: SodConflict[];
  grantId: string | null;
  /** why a failed request failed, or who cancelled one */
  outcome: string | null;
  created: string;
  expiresAt: string;
  decidedAt: string | null;
}

/** What a person asks for, as the service takes it. */
export interface RequestInput {
  /** identity id or userName; absent: the requester */
  beneficiary?: string;
  /** role:<name> or ent:<target>/<key> */
  item: string;
  justification: string;
  durationDays?: number;
}

/** The body of POST /access-requests: the item as `item`, or as `role` / `entitlement` with or without their prefix. */
export const accessRequestBody = z.strictObject({
  beneficiary: z.string().min(1).max(255).optional().describe('identity id or userName of who gets the access; absent: the caller'),
  item: z.string().min(1).max(300).optional().describe('role:<name> or ent:<target>/<key>'),
  role: z.string().min(1).max(300).optional().describe('a role name (role:<name> also accepted)'),
  entitlement: z.string().min(1).max(300).optional().describe('<target>/<key> (ent:<target>/<key> also accepted)'),
  justification: z.string().trim().min(1).max(4000).describe('why the access is needed; approvers read it'),
  durationDays: z.int().min(1).max(3650).optional().describe('days the access lasts once granted; required when the role has a maximum duration'),
});
export type AccessRequestBody = z.infer<typeof accessRequestBody>;

/**
 * The item a request body names, as `role:<name>` or `ent:<target>/<key>`; exactly one of item,
 * role and entitlement must be given.
 */
export function requestedItem(body: { item?: string; role?: string; entitlement?: string }): string {
  const given = [body.item, body.role, body.entitlement].filter((v) => v !== undefined);
  if (given.length !== 1) throw new GovernanceError('invalid', 'name what is requested in exactly one of item, role and entitlement');
  let item: string;
  if (body.role !== undefined) item = body.role.startsWith(ROLE_PREFIX) ? body.role : `${ROLE_PREFIX}${body.role}`;
  else if (body.entitlement !== undefined) item = body.entitlement.startsWith(ENTITLEMENT_PREFIX) ? body.entitlement : `${ENTITLEMENT_PREFIX}${body.entitlement}`;
  else item = body.item!;
  const ref = parseItem(item);
  if (ref === undefined || (body.role !== undefined && ref.kind !== 'role') || (body.entitlement !== undefined && ref.kind !== 'entitlement')) {
    throw new GovernanceError('invalid', `${item} does not name a role (role:<name>) or an entitlement (ent:<target>/<key>)`);
  }
  return item;
}

/**
 * Checks a requested duration against a role's maximum: required when there is one, and not
 * beyond it. Entitlements have no maximum.
 */
export function checkDuration(item: string, maxDurationDays: number | null | undefined, durationDays: number | undefined): void {
  if (maxDurationDays === undefined || maxDurationDays === null) return;
  if (durationDays === undefined) {
    throw new GovernanceError('invalid', `${item} may be held for at most ${maxDurationDays} days: give durationDays`, { maxDurationDays });
  }
  if (durationDays > maxDurationDays) {
    throw new GovernanceError('invalid', `${item} may be held for at most ${maxDurationDays} days, not ${durationDays}`, { maxDurationDays });
  }
}

/** The approval chain for an item: its own in `chains`, else the default one. */
export function chainFor(governance: { defaultChain: readonly ApprovalStage[]; chains: Readonly<Record<string, readonly ApprovalStage[]>> }, item: string): ApprovalStage[] {
  return [...(governance.chains[item] ?? governance.defaultChain)];
}

/** How a stage is named in messages and mail. */
export function stageLabel(stage: ApprovalStage | SodOwnerStage): string {
  switch (stage.approver) {
    case 'group': return `a member of ${stage.group}`;
    case 'people': return stage.people.join(', ');
    case 'sod-owner': return `the owner of SoD rule ${stage.rule}`;
    default: return `the ${stage.approver.replace('-', ' ')}`;
  }
}

/** When access granted at `from` for `durationDays` ends; null when it lasts until withdrawn. */
export function accessUntil(from: Date, durationDays: number | null): string | null {
  return durationDays === null ? null : daysAfter(from, durationDays).toISOString();
}
