/*
 * Who reviews an item. Each stage names a kind of reviewer (the identity's manager, the role's
 * owner, the target's owner, named people); nobody reviews their own access, and someone is
 * always found if anyone can be:
 *   1. the stage's reviewer for this identity and item (people: the first named person who is
 *      not the identity);
 *   2. if that is the identity itself: the identity's manager (reason self-manager);
 *      if there is none (no owner, no manager, an owner who left): the identity's manager;
 *   3. else the person who started the campaign (reason starter), unless it is the identity;
 *   4. else nobody: the item is 'unassigned' (reviewer_id ''), decidable only by an iam-admin
 *      token, and it gets the definition's undecided outcome at close.
 * Only active identities review. Everything is resolved from memory: one map of every active
 * identity to its manager (100,000 entries is a few MB) and the catalogue.
 */
import type { Sql } from '../../db/database.js';
import { targetsOf, type Catalog } from '../../policy/catalog.js';
import { parseItem } from '../../policy/model.js';
import type { ReviewStage } from '../definitions.js';
import { resolvePeople, type ChainLink } from '../people.js';
import { UNASSIGNED, type ReviewerReason } from './types.js';

/** Every active identity and its manager (an identity id, or null). */
export type ManagerMap = ReadonlyMap<string, string | null>;

// Identities read per query when loading the whole map.
const PAGE = 20_000;

/** Reads every active identity with its manager, in keyset pages. */
export async function activeManagers(sql: Sql): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  let after = '';
  for (;;) {
    const rows = await sql.query<{ id: string; manager_id: string | null }>(
      `SELECT id, manager_id FROM identities WHERE active = 1 AND id > ? ORDER BY id LIMIT ${PAGE}`, [after]);
    for (const row of rows) out.set(row.id, row.manager_id || null);
    if (rows.length < PAGE) return out;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * The active people each campaign's current stage names, for the campaigns whose current stage is
 * a people stage (the others are left out); one read for all of them.
 */
export async function namedReviewers(sql: Sql, campaigns: ReadonlyArray<{ id: string; stage: ReviewStage | undefined }>): Promise<Map<string, ReadonlySet<string>>> {
  const named = campaigns.filter((c) => c.stage?.reviewer === 'people').map((c) => ({ id: c.id, people: c.stage!.people ?? [] }));
  const resolved = await resolvePeople(sql, named.flatMap((c) => c.people));
  return new Map(named.map((c) => [c.id, new Set(c.people.flatMap((p) => resolved.get(p) ?? []))]));
}

/** Every person reference a catalogue, the target owners and the stages may name. */
export function personRefs(catalog: Catalog, targetOwners: Readonly<Record<string, string>>, stages: readonly ReviewStage[]): string[] {
  const refs = new Set<string>(Object.values(targetOwners));
  for (const role of catalog.roles.values()) if (role.owner) refs.add(role.owner);
  for (const stage of stages) for (const p of stage.people ?? []) refs.add(p);
  return [...refs];
}

/** A reviewer and why. */
export interface Assignment {
  reviewerId: string;
  reason: ReviewerReason;
}

/** What a resolver needs besides the stage. */
export interface ResolverContext {
  catalog: Catalog;
  managers: ManagerMap;
  /** person reference → active identity id (resolvePeople) */
  people: ReadonlyMap<string, string>;
  targetOwners: Readonly<Record<string, string>>;
  starterId: string | null;
  /** a target-scoped campaign asks that target's owner first */
  scopeTarget?: string;
}

/** Resolves the reviewer of each (identity, item) for one stage. */
export class ReviewerResolver {
  private readonly byItem = new Map<string, string | undefined>();
  private readonly named: string[];

  constructor(private readonly stage: ReviewStage, private readonly ctx: ResolverContext) {
    this.named = (stage.people ?? []).map((p) => ctx.people.get(p)).filter((id): id is string => id !== undefined);
  }

  /** The active manager of an identity, if any. */
  private managerOf(identityId: string): string | undefined {
    const manager = this.ctx.managers.get(identityId);
    return manager && this.ctx.managers.has(manager) ? manager : undefined;
  }

  /** The reviewer of `item` held by `identityId`. */
  resolve(identityId: string, item: string): Assignment {
    const kind = this.stage.reviewer;
    let candidate: string | undefined;
    if (kind === 'manager') candidate = this.managerOf(identityId);
    else if (kind === 'people') candidate = this.named.find((id) => id !== identityId) ?? this.named[0];
    else candidate = this.ownerOf(item);

    if (candidate !== undefined && candidate !== identityId) return { reviewerId: candidate, reason: kind };
    const manager = this.managerOf(identityId);
    if (manager !== undefined && manager !== identityId) return { reviewerId: manager, reason: candidate === identityId ? 'self-manager' : 'manager' };
    const starter = this.ctx.starterId;
    if (starter !== null && starter !== identityId && this.ctx.managers.has(starter)) return { reviewerId: starter, reason: 'starter' };
    return { reviewerId: UNASSIGNED, reason: 'unassigned' };
  }

  /** The role's or the target's owner, per item, cached. */
  private ownerOf(item: string): string | undefined {
    if (this.byItem.has(item)) return this.byItem.get(item);
    const ref = this.stage.reviewer === 'role-owner' ? this.roleOwnerRef(item) : this.targetOwnerRef(item);
    const id = ref === undefined ? undefined : this.ctx.people.get(ref);
    const owner = id !== undefined && this.ctx.managers.has(id) ? id : undefined;
    this.byItem.set(item, owner);
    return owner;
  }

  private roleOwnerRef(item: string): string | undefined {
    const ref = parseItem(item);
    if (ref?.kind !== 'role') return undefined;
    return this.ctx.catalog.roles.get(ref.name)?.owner ?? undefined;
  }

  /**
   * The owner of the item's target: an entitlement's own target; for a role, the campaign's
   * scope target if the role reaches it, else the first target (in closure order) with an owner.
   */
  private targetOwnerRef(item: string): string | undefined {
    const owners = this.ctx.targetOwners;
    const targets = targetsOf(this.ctx.catalog, item);
    const scope = this.ctx.scopeTarget;
    if (scope !== undefined && targets.includes(scope) && Object.hasOwn(owners, scope)) return owners[scope];
    const target = targets.find((t) => Object.hasOwn(owners, t));
    return target === undefined ? undefined : owners[target];
  }
}

/**
 * The person an item goes to when its reviewer cannot act (left, or did not decide in time):
 * up the reviewer's management chain to the first active person who is neither in `skip` (other
 * leavers) nor the identity under review. Undefined when the chain ends first.
 */
export function upTheChain(chains: ReadonlyMap<string, ChainLink>, reviewerId: string, identityId: string, skip: ReadonlySet<string> = new Set()): string | undefined {
  let at = chains.get(reviewerId)?.managerId ?? null;
  for (let hops = 0; at !== null && hops < 20; hops++) {
    const link = chains.get(at);
    if (link === undefined) return undefined;
    if (link.active && !skip.has(at) && at !== identityId) return at;
    at = link.managerId;
  }
  return undefined;
}
