/*
 * "What would this policy change do?" without doing it: POST /api/v1/policy/simulate and
 * `iam policy simulate`.
 *
 * The proposal is applied to the current catalogue's document in memory and checked exactly as a
 * write would check it. Grants are then predicted with the same code the write path runs
 * (RuleChangeScope picks the identities the changed rules treat differently, planIdentity decides
 * their birthright grants and deny revocations), so the prediction is what applying the change
 * does, grant for grant. Effective items before and after are the catalogue expansions of the
 * grants in force now; SoD violations are compared for the identities whose effective items
 * change, or for everyone holding anything when the SoD rules themselves change.
 */
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { RuleChangeScope, BirthrightEvaluator, planIdentity, type HeldGrant, type IdentityPlan } from './birthright.js';
import { Catalog } from './catalog.js';
import { readPolicyState } from './changes.js';
import { loadIdentityAttributes, type IdentityAttributes } from './identity-attributes.js';
import {
  birthrightRuleInput, describeIssues, entitlementInput, PolicyError, roleInput, sodRuleInput, targetInput,
  type CatalogDocument, type CatalogDocumentInput, type GrantSource,
} from './model.js';
import type { SodService, SodViolation } from './sod.js';

const KINDS = ['target', 'entitlement', 'role', 'birthrightRule', 'sodRule'] as const;
type Kind = (typeof KINDS)[number];

const changeSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('put'), kind: z.enum(KINDS), value: z.unknown() }),
  /** name: the target, role or rule name; `<target>/<key>` for an entitlement */
  z.strictObject({ op: z.literal('delete'), kind: z.enum(KINDS), name: z.string().min(1).max(300) }),
]);

const changesProposal = z.strictObject({ changes: z.array(changeSchema).min(1).max(1000) });
const documentProposal = z.strictObject({ document: z.unknown() });

/** A proposed change: a list of puts and deletes, or a whole replacement document. */
export const policyProposal = z.union([changesProposal, documentProposal]);
export type PolicyProposal = z.infer<typeof policyProposal>;

/** Parses a proposal; the form is told by its key, so the errors are about that form rather than "matches neither". */
function parseProposal(proposal: unknown): PolicyProposal {
  const isDocument = typeof proposal === 'object' && proposal !== null && 'document' in proposal;
  const parsed = (isDocument ? documentProposal : changesProposal).safeParse(proposal);
  if (!parsed.success) throw new PolicyError('invalid', `the proposal is not valid: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** A grant the change would make or remove. */
export interface PredictedGrant {
  /** the existing grant's id (removals only) */
  grantId?: string;
  item: string;
  source: GrantSource;
  sourceRef: string;
}

/** How one identity's access would change. */
export interface IdentityImpact {
  identityId: string;
  userName: string;
  /** effective items (through roles and bundles) it would gain and lose */
  gains: string[];
  losses: string[];
  grantsAdded: PredictedGrant[];
  grantsRemoved: PredictedGrant[];
}

export interface SimulationResult {
  /** the policy version the simulation started from */
  policyVersion: number;
  /** birthright rules whose change recomputes grants */
  rulesChanged: string[];
  /** identities with any change, by userName */
  identities: IdentityImpact[];
  totals: {
    identitiesEvaluated: number;
    identitiesChanged: number;
    gains: number;
    losses: number;
    grantsAdded: number;
    grantsRemoved: number;
    sodViolationsAdded: number;
    sodViolationsRemoved: number;
  };
  sodViolationsAdded: SodViolation[];
  sodViolationsRemoved: SodViolation[];
}

interface GrantRow {
  id: string;
  identity_id: string;
  item: string;
  source: string;
  source_ref: string;
  valid_from: string | null;
  valid_until: string | null;
}

type Grant = HeldGrant & { validFrom: string | null; validUntil: string | null };

/** Simulates a proposed change against the live grants; nothing is written. Invalid proposals are a PolicyError. */
export async function simulate(db: Database, current: Catalog, proposal: unknown, sod: SodService): Promise<SimulationResult> {
  const parsed = parseProposal(proposal);
  const next = Catalog.fromDocument('document' in parsed ? (parsed.document as CatalogDocumentInput) : applyChanges(current.document, parsed.changes));
  const scope = await RuleChangeScope.build(current, next);
  const evaluator = await BirthrightEvaluator.build(next.birthrightRules.values());

  // One snapshot of identities and grants; SoD is asked after it closes (it reads through the database itself).
  const { version, people, grants } = await db.transaction(async (tx) => ({
    version: (await readPolicyState(tx)).version,
    people: await loadIdentityAttributes(tx),
    grants: groupGrants(await tx.query<GrantRow>('SELECT id, identity_id, item, source, source_ref, valid_from, valid_until FROM grants')),
  }));

  const now = new Date().toISOString();
  const inForce = (g: Grant) => (g.validFrom === null || g.validFrom <= now) && (g.validUntil === null || g.validUntil > now);
  const impacts: IdentityImpact[] = [];
  const sodBefore = new Map<string, string[]>();
  const sodAfter = new Map<string, string[]>();
  const differs = (key: 'roles' | 'entitlements' | 'sodRules') => JSON.stringify(current.document[key]) !== JSON.stringify(next.document[key]);
  // Same roles and entitlements: someone whose grants stay the same keeps the same effective items.
  const expansionChanged = differs('roles') || differs('entitlements');
  const sodRulesChanged = differs('sodRules');
  const orphans = new Map<string, number>();
  const orphaned = (item: string) => {
    if (!next.has(item)) orphans.set(item, (orphans.get(item) ?? 0) + 1);
  };
  for (const attrs of people.values()) {
    const held = grants.get(attrs.id) ?? [];
    const plan = scope.affects(attrs) ? planIdentity(next, evaluator.evaluate(attrs), attrs, held) : undefined;
    const gone = new Set(plan ? [...plan.remove.map((g) => g.id), ...plan.revoke.map((r) => r.grant.id)] : []);
    for (const g of held) if (!gone.has(g.id)) orphaned(g.item);
    const before = held.filter(inForce).map((g) => g.item);
    if (!plan && !expansionChanged) {
      if (sodRulesChanged && held.length > 0) {
        sodBefore.set(attrs.id, before);
        sodAfter.set(attrs.id, before);
      }
      continue;
    }
    const after = [...held.filter((g) => !gone.has(g.id) && inForce(g)).map((g) => g.item), ...(plan?.add.map((a) => a.item) ?? [])];
    const effectiveBefore = new Set(current.expand(before).keys());
    const effectiveAfter = new Set(next.expand(after).keys());
    const gains = [...effectiveAfter].filter((i) => !effectiveBefore.has(i)).sort();
    const losses = [...effectiveBefore].filter((i) => !effectiveAfter.has(i)).sort();
    const impact = describe(attrs, gains, losses, plan);
    if (impact) impacts.push(impact);
    if (impact || (sodRulesChanged && held.length > 0)) {
      sodBefore.set(attrs.id, before);
      sodAfter.set(attrs.id, after);
    }
  }
  refuseOrphans(orphans);
  impacts.sort((a, b) => a.userName.localeCompare(b.userName) || a.identityId.localeCompare(b.identityId));

  const violationKey = (v: SodViolation) => `${v.rule}\u0000${v.identityId}`;
  const violationsBefore = await sod.violationsOf(current, sodBefore);
  const violationsAfter = await sod.violationsOf(next, sodAfter);
  const keysBefore = new Set(violationsBefore.map(violationKey));
  const keysAfter = new Set(violationsAfter.map(violationKey));
  const sodViolationsAdded = violationsAfter.filter((v) => !keysBefore.has(violationKey(v)));
  const sodViolationsRemoved = violationsBefore.filter((v) => !keysAfter.has(violationKey(v)));

  const sum = (f: (i: IdentityImpact) => number) => impacts.reduce((n, i) => n + f(i), 0);
  return {
    policyVersion: version,
    rulesChanged: scope.changedRules,
    identities: impacts,
    totals: {
      identitiesEvaluated: people.size,
      identitiesChanged: impacts.length,
      gains: sum((i) => i.gains.length),
      losses: sum((i) => i.losses.length),
      grantsAdded: sum((i) => i.grantsAdded.length),
      grantsRemoved: sum((i) => i.grantsRemoved.length),
      sodViolationsAdded: sodViolationsAdded.length,
      sodViolationsRemoved: sodViolationsRemoved.length,
    },
    sodViolationsAdded,
    sodViolationsRemoved,
  };
}

function describe(attrs: IdentityAttributes, gains: string[], losses: string[], plan: IdentityPlan | undefined): IdentityImpact | undefined {
  const grantsAdded: PredictedGrant[] = (plan?.add ?? []).map((a) => ({ item: a.item, source: 'birthright', sourceRef: a.rule }));
  const grantsRemoved: PredictedGrant[] = [...(plan?.remove ?? []), ...(plan?.revoke.map((r) => r.grant) ?? [])]
    .map((g) => ({ grantId: g.id, item: g.item, source: g.source, sourceRef: g.sourceRef }));
  if (gains.length + losses.length + grantsAdded.length + grantsRemoved.length === 0) return undefined;
  return { identityId: attrs.id, userName: attrs.userName, gains, losses, grantsAdded, grantsRemoved };
}

function groupGrants(rows: GrantRow[]): Map<string, Grant[]> {
  const out = new Map<string, Grant[]>();
  for (const r of rows) {
    const grant: Grant = {
      id: r.id, identityId: r.identity_id, item: r.item, source: r.source as GrantSource, sourceRef: r.source_ref,
      validFrom: r.valid_from, validUntil: r.valid_until,
    };
    const list = out.get(r.identity_id);
    if (list) list.push(grant);
    else out.set(r.identity_id, [grant]);
  }
  return out;
}

/** A change may not remove an item that grants would still hold after it (the write path refuses it too). */
function refuseOrphans(orphans: Map<string, number>): void {
  if (orphans.size === 0) return;
  const named = [...orphans].sort().map(([item, n]) => `${item} (${n} grant${n === 1 ? '' : 's'})`);
  throw new PolicyError('conflict', `the change removes items that grants still hold: ${named.join(', ')}`, { held: named });
}

const SCHEMAS = { target: targetInput, entitlement: entitlementInput, role: roleInput, birthrightRule: birthrightRuleInput, sodRule: sodRuleInput } as const;
const LISTS = { target: 'targets', entitlement: 'entitlements', role: 'roles', birthrightRule: 'birthrightRules', sodRule: 'sodRules' } as const;

function keyOf(kind: Kind, value: Record<string, unknown>): string {
  return kind === 'entitlement' ? `${String(value.target)}/${String(value.key)}` : String(value.name);
}

/** The document after applying puts (create or replace by name) and deletes in order. */
function applyChanges(document: CatalogDocument, changes: Array<z.infer<typeof changeSchema>>): CatalogDocumentInput {
  const next = structuredClone(document) as unknown as Record<(typeof LISTS)[Kind], Array<Record<string, unknown>>>;
  changes.forEach((change, index) => {
    const list = next[LISTS[change.kind]];
    if (change.op === 'put') {
      const value = SCHEMAS[change.kind].safeParse(change.value);
      if (!value.success) throw new PolicyError('invalid', `change ${index + 1} (put ${change.kind}): ${describeIssues(value.error)}`);
      const data = value.data as Record<string, unknown>;
      const at = list.findIndex((item) => keyOf(change.kind, item) === keyOf(change.kind, data));
      if (at >= 0) list[at] = data;
      else list.push(data);
      return;
    }
    const at = list.findIndex((item) => keyOf(change.kind, item) === change.name);
    if (at < 0) throw new PolicyError('invalid', `change ${index + 1} deletes ${change.kind} ${change.name}, which does not exist`);
    list.splice(at, 1);
  });
  return next as unknown as CatalogDocumentInput;
}

