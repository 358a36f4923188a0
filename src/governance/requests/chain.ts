/*
 * Who decides a stage of a request. A stage names its approvers by a rule (the beneficiary's
 * manager, the role's owner, the target's owner, a directory group, named people, an SoD rule's
 * owner), and the rule is applied when the stage opens, not when the request is made, so a new
 * manager or owner is the one asked. Only active people are asked, and never the beneficiary or
 * the requester: nobody approves their own access or their own request.
 */
import type { Config } from '../../config/index.js';
import type { Sql } from '../../db/database.js';
import type { Catalog } from '../../policy/catalog.js';
import { identitiesById } from '../../policy/identity-ref.js';
import { parseItem } from '../../policy/model.js';
import type { SodService } from '../../policy/sod.js';
import type { SodOwnerStage, StoredStage } from './model.js';
import type { ApprovalStage } from '../definitions.js';
import { targetsOf } from '../../policy/catalog.js';
import { resolvePeople } from '../people.js';

/** What stage resolution needs to know about a request. */
export interface StageSubject {
  item: string;
  beneficiaryId: string;
  requesterId: string;
}

/** Where stages are resolved: the transaction, the catalogue it reads, and the governance settings. */
export interface ChainContext {
  sql: Sql;
  catalog: Catalog;
  governance: Config['governance'];
}

/**
 * The identity ids that may decide `stage` of a request for `subject`: active, neither the
 * beneficiary nor the requester, sorted. Empty when the stage names nobody (no manager, an
 * entitlement has no owner, an empty group).
 */
export async function resolveStage(ctx: ChainContext, subject: StageSubject, stage: ApprovalStage | SodOwnerStage): Promise<string[]> {
  const candidates = await candidatesOf(ctx, subject, stage);
  const people = await identitiesById(ctx.sql, candidates);
  const out = new Set<string>();
  for (const id of candidates) {
    if (id === subject.beneficiaryId || id === subject.requesterId) continue;
    if (people.get(id)?.active) out.add(id);
  }
  return [...out].sort();
}

async function candidatesOf(ctx: ChainContext, subject: StageSubject, stage: ApprovalStage | SodOwnerStage): Promise<string[]> {
  switch (stage.approver) {
    case 'manager': {
      const [row] = await ctx.sql.query<{ manager_id: string | null }>('SELECT manager_id FROM identities WHERE id = ?', [subject.beneficiaryId]);
      return row?.manager_id ? [row.manager_id] : [];
    }
    case 'role-owner': {
      const ref = parseItem(subject.item);
      // Entitlements have no owner: the stage names nobody for them.
      if (ref?.kind !== 'role') return [];
      return refs(ctx.sql, [ctx.catalog.roles.get(ref.name)?.owner]);
    }
    case 'target-owner':
      return refs(ctx.sql, targetsOf(ctx.catalog, subject.item).map((t) => ctx.governance.targetOwners[t]));
    case 'group': {
      // displayName is kept lowercased in display_name; members are the group's direct user members.
      const rows = await ctx.sql.query<{ member_id: string }>(
        "SELECT gm.member_id FROM group_members gm JOIN directory_groups g ON g.id = gm.group_id WHERE g.display_name = ? AND gm.member_type = 'user'",
        [stage.group.toLowerCase()]);
      return rows.map((r) => r.member_id);
    }
    case 'people':
      return refs(ctx.sql, stage.people);
    case 'sod-owner':
      return refs(ctx.sql, [ctx.catalog.sodRules.get(stage.rule)?.owner ?? undefined]);
  }
}

/** The identity ids that userNames or ids name, in one read; unknown and inactive ones are left out. */
async function refs(sql: Sql, names: ReadonlyArray<string | null | undefined>): Promise<string[]> {
  const ids = await resolvePeople(sql, names.filter((name): name is string => !!name));
  return [...ids.values()];
}

/** An SoD rule granting the item would break, whether an exception covers it, and who may approve one. */
export interface SodFinding {
  rule: string;
  items: string[];
  excepted: boolean;
  /** the rule owner's identity id when that person can approve an exception for this request */
  ownerId?: string;
}

/**
 * The SoD rules granting `subject.item` would newly break during `window`, each with whether an
 * exception already covers it and, if not, who can approve one: the rule's owner, when active and
 * neither the beneficiary nor the requester.
 */
export async function sodFindings(ctx: ChainContext, sod: SodService, subject: StageSubject, window: { from: string; until: string | null }): Promise<SodFinding[]> {
  const violations = await sod.checkGrant(ctx.sql, ctx.catalog, subject.beneficiaryId, [subject.item], window);
  const out: SodFinding[] = [];
  for (const v of violations) {
    const [ownerId] = v.excepted ? [] : await resolveStage(ctx, subject, { approver: 'sod-owner', rule: v.rule });
    out.push({ rule: v.rule, items: [...v.left, ...v.right], excepted: v.excepted, ...(ownerId !== undefined && { ownerId }) });
  }
  return out;
}

/** A stage to append for an SoD rule whose owner may approve an exception. */
export function sodOwnerStage(rule: string): StoredStage {
  return { approver: 'sod-owner', rule, status: 'waiting' };
}
