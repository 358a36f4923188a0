/*
 * The shapes governance is configured with: an approval chain's stages and a review campaign's
 * definition. The config file and the API both validate against these schemas.
 */
import { z } from 'zod';
import cron from 'node-cron';

/** Who decides one stage of an access request; any one of the people it names may decide. */
export const approvalStage = z.discriminatedUnion('approver', [
  /** the beneficiary's manager */
  z.strictObject({ approver: z.literal('manager') }),
  /** the role's owner (entitlements have none: the stage is skipped for them) */
  z.strictObject({ approver: z.literal('role-owner') }),
  /** the owner of the item's target (governance.targetOwners) */
  z.strictObject({ approver: z.literal('target-owner') }),
  /** any member of a directory group, named by its displayName */
  z.strictObject({ approver: z.literal('group'), group: z.string().min(1).max(255) }),
  /** any of these people (userNames) */
  z.strictObject({ approver: z.literal('people'), people: z.array(z.string().min(1).max(255)).min(1).max(50) }),
]);
export type ApprovalStage = z.infer<typeof approvalStage>;

/** An ordered approval chain: each stage decided before the next is asked. */
export const approvalChain = z.array(approvalStage).min(1).max(5);

const cronExpression = z.string().refine((value) => cron.validate(value), { message: 'must be a cron expression such as "0 6 1 */3 *"' });

/** Who reviews the items of one stage of a campaign. */
export const reviewStage = z.strictObject({
  /** manager: the identity's manager; role-owner / target-owner: of the reviewed item; people: any of the named */
  reviewer: z.enum(['manager', 'role-owner', 'target-owner', 'people']),
  /** userNames, when reviewer is people; the first is assigned, the others may also decide */
  people: z.array(z.string().min(1).max(255)).min(1).max(50).optional(),
  /** days the stage stays open */
  durationDays: z.int().min(1).max(365),
}).refine((stage) => stage.reviewer !== 'people' || (stage.people?.length ?? 0) > 0, { message: 'a people stage names its reviewers in "people"' });
export type ReviewStage = z.infer<typeof reviewStage>;

/** Which (identity, grant) pairs a campaign reviews; with no field set, everyone's grants. */
export const reviewScope = z.strictObject({
  department: z.string().min(1).max(255).optional(),
  /** role:<name> (or the bare name): grants of this role itself (not of roles inheriting it) */
  role: z.string().min(1).max(255).optional(),
  /** grants of this target's entitlements and of roles that give them */
  target: z.string().min(1).max(64).optional(),
  /** grant sources to include (default all but birthright, which follows its rule) */
  sources: z.array(z.enum(['birthright', 'request', 'manual', 'review'])).min(1).optional(),
});
export type ReviewScope = z.infer<typeof reviewScope>;

/** How a campaign definition is named, in the config file and in the API. */
export const campaignName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a campaign name is 1-64 lowercase letters, digits, ".", "_" or "-"');

/** A review campaign as defined in config (`reviews.campaigns.<name>`) or through the API. */
export const campaignDefinition = z.strictObject({
  description: z.string().max(4000).optional(),
  scope: reviewScope.default({}),
  /** one to three sequential stages */
  stages: z.array(reviewStage).min(1).max(3),
  /** when the campaign starts by itself (cron); without it, only `iam review start` or the API start it */
  schedule: cronExpression.optional(),
  /** days before a stage ends that reviewers with undecided items are reminded */
  reminderDays: z.array(z.int().min(1).max(365)).max(10).default([]),
  /** days after a stage starts that undecided items go to the reviewer's manager; absent never */
  escalationDays: z.int().min(1).max(365).optional(),
  /** what happens to items nobody decided when the campaign closes */
  undecided: z.enum(['keep', 'revoke', 'open']).default('keep'),
  /**
   * whether a revoke decision removes the grant when it is made (true) or when the campaign
   * closes (false: reviewers may still see the access until the end, as Entra's "auto-apply")
   */
  applyImmediately: z.boolean().default(true),
});
export type CampaignDefinition = z.infer<typeof campaignDefinition>;
