/*
 * The nouns of access reviews as the service, the routes and the CLI see them: a campaign (one
 * run of a definition), its items (one per identity and grant, per stage) and who acts on them.
 */
import type { Config } from '../../config/index.js';
import type { Database } from '../../db/database.js';
import type { GrantService } from '../../policy/grants.js';
import type { CampaignDefinition } from '../definitions.js';

/** What the campaign steps (start, progress, close) need from the service. */
export interface ReviewDeps {
  db: Database;
  config: Config;
  grants: GrantService;
  clock: () => Date;
}

/** Who acts: the person (null for a system's token or a job), the audit actor and the token's scopes; shared with access requests. */
export type { Actor } from '../actor.js';

export type Decision = 'keep' | 'revoke';

/**
 * Why an item is with its reviewer: the stage's kind; self-manager (the stage would have had the
 * identity review itself); starter (nobody else resolved); unassigned (nobody at all: reviewer_id
 * is ''); reassigned (the reviewer left); escalated (undecided past escalationDays).
 */
export type ReviewerReason = 'manager' | 'role-owner' | 'target-owner' | 'people' | 'self-manager' | 'starter' | 'unassigned' | 'reassigned' | 'escalated';

/** The reviewer id of an item nobody could be found for. */
export const UNASSIGNED = '';

/** An SoD rule the identity breaks that the item takes part in: the rule and its conflicting items. */
export interface SodConflict {
  rule: string;
  items: string[];
}

/** Where the reviewed access comes from, as stored with the item when the campaign started. */
export interface ItemContext {
  source: string;
  sourceRef: string;
  grantedBy: string;
  /** valid_from, else when the grant was made */
  since: string;
  validUntil: string | null;
  /** the roles the granted item gives, itself first (catalog.closure) */
  path: string[];
  sodConflicts: SodConflict[];
}

/** One item as a reviewer sees it. */
export interface ReviewItemView {
  id: number;
  campaignId: string;
  stage: number;
  identity: { id: string; userName: string; displayName: string };
  item: string;
  grantId: string;
  reviewer: { id: string; userName: string };
  reviewerReason: ReviewerReason;
  decision: Decision | null;
  comment: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  context: ItemContext;
}

/**
 * starting: items being written; running: reviewers decide the current stage; advancing: the
 * next stage's items being written; closing: outcomes and revocations being applied; closed;
 * failed: the start failed and its items were deleted.
 */
export const CAMPAIGN_STATUSES = ['starting', 'running', 'advancing', 'closing', 'closed', 'failed'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** Statuses of a campaign that is not over. */
export const LIVE_STATUSES: readonly CampaignStatus[] = ['starting', 'running', 'advancing', 'closing'];

/** Items of one stage by decision. */
export interface StageCounts {
  stage: number;
  items: number;
  kept: number;
  revoked: number;
  undecided: number;
}

/** Items of a campaign by decision, overall and per stage. */
export interface CampaignCounts {
  /** rows over all stages */
  items: number;
  decided: number;
  kept: number;
  revoked: number;
  undecided: number;
  stages: StageCounts[];
}

/** What a closed campaign came to; stored with it. */
export interface CampaignSummary {
  /** (identity, grant) pairs reviewed: the first stage's items */
  reviewed: number;
  /** pairs kept at the last stage they reached */
  kept: number;
  /** pairs revoked at some stage */
  revoked: number;
  /** pairs nobody decided at the end (outcome "open"), or that the outcome could not revoke (birthright) */
  open: number;
  /** pairs that went away before a later stage (the grant or the identity went meanwhile) */
  dropped: number;
  /** the definition's outcome for undecided items, and how many items it decided */
  undecidedOutcome: 'keep' | 'revoke' | 'open';
  decidedAtClose: number;
  /** grants removed by this campaign's revoke decisions, and those that could not be */
  revocations: { applied: number; failed: number; firstError?: string };
  stagesRun: number;
  closedBy: string;
  stages: StageCounts[];
}

/** A campaign as the API and the CLI show it. */
export interface CampaignView {
  id: string;
  name: string;
  status: CampaignStatus;
  /** the stage under way (0-based) and how many there are */
  stage: number;
  stages: number;
  description: string | null;
  definition: CampaignDefinition;
  startedBy: string;
  started: string;
  stageEnds: string;
  closed: string | null;
  counts?: CampaignCounts;
  summary?: CampaignSummary;
  /** why a start failed */
  error?: string;
}

/** What a campaign row stores in `definition`: the definition as it was, and who started it. */
export interface CampaignSnapshot {
  definition: CampaignDefinition;
  source: 'config' | 'api';
  /** the starter's identity: the reviewer of last resort */
  starterId: string | null;
}
