/*
 * Birthright rules: who gets which role or entitlement because of who they are (department,
 * title, location, ...), and who may never hold one (deny rules).
 *
 * Each enabled rule is evaluated by its own Casbin enforcer built from policies/birthright_model.conf:
 * the rule's validated, canonical condition is the matcher, with its string literals moved into
 * the rule's one policy line (the model file says why). Nothing reaches Casbin that
 * src/policy/expression.ts has not accepted, and the matcher handed to Casbin is checked once
 * more to consist only of attribute reads, literal fields, the rule functions and operators.
 *
 * A rule's answer depends only on the attributes its condition reads, so each enforcer's answers
 * are remembered per distinct combination of those values: recomputing 100,000 people costs one
 * Casbin evaluation per distinct (department, employmentType) pair, not one per person.
 *
 * What recompute makes true, for each identity it is given:
 * - an active identity holds one birthright grant (source 'birthright', source_ref = rule name)
 *   per enabled grant rule it matches, unless the item is denied to it; an inactive one holds none;
 * - an item is denied to an identity when it matches an enabled deny rule naming that item or
 *   anything the item gives (a role inheriting a denied role is denied too);
 * - grants of denied items from other sources (request, manual, review) are revoked.
 */
import { chunks, insertRows, placeholders } from '../db/batches.js';
import { readFileSync } from 'node:fs';
import { installPath } from '../config/paths.js';
import { timeOrderedId } from '../db/ids.js';
import { newEnforcer, newModelFromString, type Enforcer } from 'casbin';
import { recordAudit } from '../audit/recorder.js';
import type { Database, Sql, Transaction } from '../db/database.js';
import type { ChangeContext } from '../identity/resources.js';
import { loadCatalog, type Catalog } from './catalog.js';
import { readPolicyState, type PolicyChangeLog } from './changes.js';
import { BIRTHRIGHT_ATTRIBUTES, canonicalRuleExpression, RuleExpressionError, ruleFunctions, validateRuleExpression, type BirthrightAttribute } from './expression.js';
import { loadIdentityAttributes, type AttributeNeeds, type IdentityAttributes } from './identity-attributes.js';
import { PolicyError, type BirthrightRule, type GrantSource } from './model.js';

/** Who birthright grants are granted by, in the grants table and the audit trail. */
export const BIRTHRIGHT_ACTOR = 'system:birthright';

/** Above this many identities changed at once, every instance reloads all grants instead of a list of identities. */
export const MANY_IDENTITIES = 1000;

// Grant rows per INSERT (7 parameters each) and ids per DELETE / IN list: within SQLite's 32,766 parameters.
const GRANT_ROWS_PER_INSERT = 2000;
const IDS_PER_STATEMENT = 1000;
const BIRTHRIGHT_GRANT_COLUMNS = ['id', 'identity_id', 'item', 'source', 'source_ref', 'granted_by', 'created'];
// Audit events per recordAudit call (9 parameters each).
const AUDIT_EVENTS_PER_INSERT = 1000;
// How many identities a report lists one by one.
const REPORTED_CHANGES = 100;
// Remembered answers per rule before the memory starts over.
const MEMO_LIMIT = 50_000;

const MODEL_FILE = installPath('policies/birthright_model.conf');
let modelTemplate: string | undefined;

/** The rule's condition as Casbin evaluates it: the matcher, and the literal values for its policy line. */
export interface CasbinRule {
  matcher: string;
  values: string[];
}

const FUNCTION_NAMES = new Set(Object.keys(ruleFunctions));
const MATCHER_TOKEN = /\s+|r\.sub\.([A-Za-z]+)|p\.v(\d+)|([A-Za-z]+)|==|!=|<=|>=|&&|\|\||[<>!(),]/y;

/**
 * Splits a canonical rule condition into a matcher without string literals (each becomes p.vN)
 * and the literal values, then checks that the matcher holds nothing but attribute reads, literal
 * fields, the rule functions, true/false and operators. Throws on anything else.
 */
export function toCasbinRule(canonical: string): CasbinRule {
  let matcher = '';
  const values: string[] = [];
  for (let i = 0; i < canonical.length;) {
    if (canonical[i] !== "'") {
      matcher += canonical[i];
      i += 1;
      continue;
    }
    // The canonical form quotes with ' and escapes by a backslash before the character itself.
    let value = '';
    for (i += 1; canonical[i] !== "'"; i += 1) {
      if (i >= canonical.length) throw new Error(`unterminated literal in canonical rule ${canonical}`);
      if (canonical[i] === '\\') i += 1;
      value += canonical[i];
    }
    i += 1;
    matcher += `p.v${values.length}`;
    values.push(value);
  }
  checkMatcher(matcher, values.length);
  return { matcher, values };
}

function checkMatcher(matcher: string, fields: number): void {
  MATCHER_TOKEN.lastIndex = 0;
  while (MATCHER_TOKEN.lastIndex < matcher.length) {
    const at = MATCHER_TOKEN.lastIndex;
    const m = MATCHER_TOKEN.exec(matcher);
    const bad = (what: string) => new Error(`a birthright matcher may not contain ${what} (at ${at} of ${JSON.stringify(matcher)})`);
    if (!m) throw bad(`the character ${JSON.stringify(matcher[at])}`);
    const [, attribute, field, word] = m;
    if (attribute !== undefined && !Object.hasOwn(BIRTHRIGHT_ATTRIBUTES, attribute)) throw bad(`the attribute ${attribute}`);
    if (field !== undefined && Number(field) >= fields) throw bad(`the field v${field}`);
    if (word !== undefined && !FUNCTION_NAMES.has(word) && word !== 'true' && word !== 'false') throw bad(`the name ${word}`);
  }
}

/** The validated canonical condition of a rule, or a PolicyError naming the rule and the problem. */
export function canonicalCondition(rule: Pick<BirthrightRule, 'name' | 'expression'>): string {
  try {
    return canonicalRuleExpression(rule.expression);
  } catch (err) {
    if (err instanceof RuleExpressionError) {
      throw new PolicyError('invalid', `birthright rule ${rule.name}: ${err.message}`, { rule: rule.name, position: err.position });
    }
    throw err;
  }
}

const ATTRIBUTE_NAMES = Object.keys(BIRTHRIGHT_ATTRIBUTES);

// A remembered answer is found by walking one Map per attribute the rule reads, keyed by the
// attribute's value: strings, booleans and undefined are exact Map keys; lists are keyed by their
// JSON text (a list attribute never holds anything else). A frozen list (manager chains are shared
// by everyone with the same manager) cannot change, so its text is worked out once.
type Memo = Map<unknown, unknown>;
const frozenListKeys = new WeakMap<readonly unknown[], string>();
function memoKey(value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  if (!Object.isFrozen(value)) return JSON.stringify(value);
  let key = frozenListKeys.get(value);
  if (key === undefined) {
    key = JSON.stringify(value);
    frozenListKeys.set(value, key);
  }
  return key;
}

/** What the rules read of one identity: the subject Casbin sees, and each attribute's memo key (computed once for all rules). */
interface Subject {
  subject: Record<string, unknown>;
  keys: Record<string, unknown>;
}

/** The subject holds exactly the rule attributes, and nothing inherited that a name could reach. */
function subjectOf(attrs: IdentityAttributes): Subject {
  const subject: Record<string, unknown> = Object.create(null);
  const keys: Record<string, unknown> = Object.create(null);
  for (const name of ATTRIBUTE_NAMES) {
    const value = (attrs as unknown as Record<string, unknown>)[name];
    if (value !== undefined) subject[name] = value;
    keys[name] = memoKey(value);
  }
  return { subject, keys };
}

class CompiledRule {
  private memo: Memo = new Map();
  private remembered = 0;

  constructor(
    readonly rule: BirthrightRule,
    private readonly enforcer: Enforcer,
    readonly reads: readonly string[],
  ) {}

  /** Whether the rule matches; asks Casbin once per distinct value of the attributes it reads. */
  matches({ subject, keys }: Subject, counter: { casbin: number }): boolean {
    let level = this.memo;
    const last = this.reads.length - 1;
    for (let i = 0; i < last; i++) {
      const key = keys[this.reads[i]!];
      let next = level.get(key) as Memo | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(key, next);
      }
      level = next;
    }
    const key = last >= 0 ? keys[this.reads[last]!] : undefined;
    const known = level.get(key) as boolean | undefined;
    if (known !== undefined) return known;
    counter.casbin += 1;
    const result = this.enforcer.enforceSync(subject);
    if (++this.remembered > MEMO_LIMIT) {
      this.memo = new Map();
      this.remembered = 0;
    } else {
      level.set(key, result);
    }
    return result;
  }
}

/** Which enabled rules an identity matches: item -> names of the rules giving or denying it. */
export interface BirthrightEvaluation {
  grants: Map<string, string[]>;
  denies: Map<string, string[]>;
}

/** Evaluates a set of birthright rules, each with its own Casbin enforcer. Disabled rules never match. */
export class BirthrightEvaluator {
  /** How many times Casbin itself was asked (the rest were remembered answers). */
  readonly stats = { casbin: 0 };

  private constructor(private readonly compiled: readonly CompiledRule[]) {}

  /** Validates and compiles the rules; an invalid condition is a PolicyError 'invalid' naming the rule. */
  static async build(rules: Iterable<BirthrightRule>): Promise<BirthrightEvaluator> {
    modelTemplate ??= readFileSync(MODEL_FILE, 'utf8');
    const compiled: CompiledRule[] = [];
    for (const rule of rules) {
      const canonical = canonicalCondition(rule);
      if (!rule.enabled) continue;
      const { matcher, values } = toCasbinRule(canonical);
      const model = newModelFromString(modelTemplate);
      model.addDef('p', 'p', values.length === 0 ? 'v0' : values.map((_, i) => `v${i}`).join(', '));
      model.addDef('m', 'm', matcher);
      const enforcer = await newEnforcer(model);
      for (const [name, fn] of Object.entries(ruleFunctions)) await enforcer.addFunction(name, fn);
      if (values.length > 0) await enforcer.addPolicy(...values);
      compiled.push(new CompiledRule(rule, enforcer, validateRuleExpression(canonical).attributes));
    }
    return new BirthrightEvaluator(compiled);
  }

  /** Whether any enabled rule reads groups or manager chains, which cost queries of their own to load. */
  get needs(): AttributeNeeds {
    const read = (attribute: BirthrightAttribute) => this.compiled.some((c) => c.reads.includes(attribute));
    return { groups: read('groups'), managerChain: read('managerChain') };
  }

  /** The enabled rules, in the order given. */
  get rules(): BirthrightRule[] {
    return this.compiled.map((c) => c.rule);
  }

  /** Names of the enabled rules the identity matches. */
  matching(attrs: IdentityAttributes): string[] {
    const subject = subjectOf(attrs);
    return this.compiled.filter((c) => c.matches(subject, this.stats)).map((c) => c.rule.name);
  }

  /** What the enabled rules give and deny this identity (whether or not it is active). */
  evaluate(attrs: IdentityAttributes): BirthrightEvaluation {
    const subject = subjectOf(attrs);
    const grants = new Map<string, string[]>();
    const denies = new Map<string, string[]>();
    for (const c of this.compiled) {
      if (!c.matches(subject, this.stats)) continue;
      const into = c.rule.effect === 'deny' ? denies : grants;
      const names = into.get(c.rule.item);
      if (names) names.push(c.rule.name);
      else into.set(c.rule.item, [c.rule.name]);
    }
    return { grants, denies };
  }
}

/** The deny rules (of an evaluation) that keep `item` from an identity: those naming it or anything it gives. */
export function denyingRulesOf(catalog: Catalog, denies: ReadonlyMap<string, string[]>, item: string): string[] {
  if (denies.size === 0) return [];
  const rules = new Set<string>();
  for (const { item: given } of catalog.closure(item)) for (const rule of denies.get(given) ?? []) rules.add(rule);
  return [...rules].sort();
}

/** A grant as recompute sees it. */
export interface HeldGrant {
  id: string;
  identityId: string;
  item: string;
  source: GrantSource;
  sourceRef: string;
  /** set on a birthright grant a mover keeps for a grace period: removed once it has passed */
  validUntil?: string | null;
}

/** What recompute changes for one identity. */
export interface IdentityPlan {
  identityId: string;
  add: Array<{ item: string; rule: string }>;
  /** birthright grants no rule gives any more */
  remove: HeldGrant[];
  /** grants from other sources of items a deny rule keeps from the identity */
  revoke: Array<{ grant: HeldGrant; rules: string[] }>;
  /** birthright grants on a grace period that a rule gives again: kept without end */
  restore: HeldGrant[];
}

/**
 * Compares what the rules say an identity should hold with the grants it has. A birthright grant
 * on a grace period (validUntil after `now`) that no rule gives any more is left to run out.
 */
export function planIdentity(
  catalog: Catalog, evaluation: BirthrightEvaluation, attrs: IdentityAttributes, grants: readonly HeldGrant[], now = new Date().toISOString(),
): IdentityPlan {
  const denied = (item: string) => denyingRulesOf(catalog, evaluation.denies, item);
  const desired = new Map<string, { item: string; rule: string }>();
  if (attrs.active) {
    for (const [item, rules] of evaluation.grants) {
      if (denied(item).length > 0) continue;
      for (const rule of rules) desired.set(`${item}\u0000${rule}`, { item, rule });
    }
  }
  const plan: IdentityPlan = { identityId: attrs.id, add: [], remove: [], revoke: [], restore: [] };
  for (const grant of grants) {
    if (grant.source === 'birthright') {
      const onGrace = grant.validUntil !== undefined && grant.validUntil !== null;
      if (desired.delete(`${grant.item}\u0000${grant.sourceRef}`)) {
        if (onGrace) plan.restore.push(grant);
      } else if (!onGrace || grant.validUntil! <= now) {
        plan.remove.push(grant);
      }
      continue;
    }
    const rules = denied(grant.item);
    if (rules.length > 0) plan.revoke.push({ grant, rules });
  }
  plan.add = [...desired.values()];
  return plan;
}

/** Whether a plan changes anything. */
export const planChanges = (plan: IdentityPlan): boolean => plan.add.length + plan.remove.length + plan.revoke.length + plan.restore.length > 0;

/**
 * The identities a rule change (before -> after catalogue) can affect, decided by evaluating only
 * the rules that changed. A rule changed when it was added, removed, enabled, disabled, or its
 * condition, effect or item changed, or (for a deny rule) when the set of items that give its item
 * changed because roles changed. An identity is affected when what the changed rules do to it
 * differs: a rule matches it on one side only, or matches on both but gives or denies differently.
 */
export class RuleChangeScope {
  private constructor(
    readonly changedRules: string[],
    private readonly before: BirthrightEvaluator,
    private readonly after: BirthrightEvaluator,
    private readonly outcomeBefore: ReadonlyMap<string, string>,
    private readonly outcomeAfter: ReadonlyMap<string, string>,
  ) {}

  static async build(before: Catalog, after: Catalog): Promise<RuleChangeScope> {
    const was = ruleSignatures(before);
    const is = ruleSignatures(after);
    const changed = [...new Set([...was.keys(), ...is.keys()])]
      // a rule added disabled, or removed while disabled, does nothing either way
      .filter((name) => (was.get(name)?.definition ?? '') !== (is.get(name)?.definition ?? ''))
      .sort();
    const pick = (catalog: Catalog) => changed.flatMap((name) => catalog.birthrightRules.get(name) ?? []);
    const outcomes = (signatures: Map<string, RuleSignature>) => new Map([...signatures].map(([name, s]) => [name, s.outcome]));
    return new RuleChangeScope(changed, await BirthrightEvaluator.build(pick(before)), await BirthrightEvaluator.build(pick(after)),
      outcomes(was), outcomes(is));
  }

  /** Casbin evaluations made so far, on both sides. */
  get casbinEvaluations(): number {
    return this.before.stats.casbin + this.after.stats.casbin;
  }

  /** Whether the changed rules treat this identity differently after the change. */
  affects(attrs: IdentityAttributes): boolean {
    if (this.changedRules.length === 0) return false;
    return treatment(this.before, this.outcomeBefore, attrs) !== treatment(this.after, this.outcomeAfter, attrs);
  }
}

/** What the rules of `evaluator` do to an identity, as comparable text. */
function treatment(evaluator: BirthrightEvaluator, outcomes: ReadonlyMap<string, string>, attrs: IdentityAttributes): string {
  const { grants, denies } = evaluator.evaluate(attrs);
  // An inactive identity gets nothing from a grant rule, so whether one matches it does not matter.
  const matched = [...(attrs.active ? [...grants.values()].flat() : []), ...[...denies.values()].flat()].sort();
  return matched.map((name) => `${name}\u0000${outcomes.get(name)}`).join('\u0001');
}

/**
 * A rule as comparable text. `outcome` is what it does to someone it matches: its effect and
 * item, and for a deny rule every item that gives the denied one (roles inheriting it). The
 * definition adds the canonical condition; '' for a disabled rule.
 */
interface RuleSignature {
  definition: string;
  outcome: string;
}

function ruleSignatures(catalog: Catalog): Map<string, RuleSignature> {
  const out = new Map<string, RuleSignature>();
  let givers: Map<string, string[]> | undefined;
  for (const rule of catalog.birthrightRules.values()) {
    if (!rule.enabled) {
      out.set(rule.name, { definition: '', outcome: '' });
      continue;
    }
    let outcome = `${rule.effect} ${rule.item}`;
    if (rule.effect === 'deny') {
      givers ??= giversOf(catalog);
      outcome += ` via ${(givers.get(rule.item) ?? []).join(',')}`;
    }
    out.set(rule.name, { definition: `${outcome} if ${canonicalCondition(rule)}`, outcome });
  }
  return out;
}

/** For each item, every catalogue item whose holder holds it too (itself included), sorted. */
function giversOf(catalog: Catalog): Map<string, string[]> {
  const givers = new Map<string, string[]>();
  const items = [...[...catalog.roles.keys()].map((r) => `role:${r}`), ...catalog.entitlements.keys()];
  for (const giver of items) {
    for (const { item } of catalog.closure(giver)) {
      const list = givers.get(item);
      if (list) list.push(giver);
      else givers.set(item, [giver]);
    }
  }
  for (const list of givers.values()) list.sort();
  return givers;
}

/** What a recompute did. */
export interface RecomputeReport {
  /** identities recomputed */
  identities: number;
  /** identities whose changed-rule matches were evaluated to find those (applyRuleChange only) */
  evaluated?: number;
  /** rules that changed (applyRuleChange only) */
  rulesChanged?: string[];
  added: number;
  removed: number;
  revokedByDeny: number;
  /** identities with any change */
  identitiesChanged: number;
  /** the first REPORTED_CHANGES identities changed, with the items added, removed and revoked */
  changes: Array<{ identityId: string; added: string[]; removed: string[]; revoked: string[] }>;
  ms: number;
}

function buildEvaluator(catalog: Catalog): Promise<BirthrightEvaluator> {
  return BirthrightEvaluator.build(catalog.birthrightRules.values());
}

/** Birthright grants the listed identities lose are kept until `until` rather than removed. */
export interface Grace {
  identities: ReadonlySet<string>;
  until: string;
}

export interface RecomputeOptions {
  grace?: Grace;
  now?: Date;
}

/** Keeps birthright grants in line with the rules, inside the caller's transaction. */
export class BirthrightService {
  constructor(private readonly db: Database, private readonly changes: PolicyChangeLog) {}

  /** The evaluator of a catalogue's rules, built once per catalogue. */
  evaluator(catalog: Catalog): Promise<BirthrightEvaluator> {
    return catalog.derived(buildEvaluator);
  }

  /**
   * Recomputes the birthright grants of the given identities (or all) under `catalog`: writes the
   * difference, audits it, records the change. With `options.grace`, the birthright grants the
   * listed identities lose are kept until `grace.until` (a mover's grace period) instead of
   * removed; `options.now` is the time grace periods are compared with (default: now).
   */
  async recompute(tx: Transaction, catalog: Catalog, identityIds: string[] | 'all', ctx: ChangeContext, options: RecomputeOptions = {}): Promise<RecomputeReport> {
    const started = performance.now();
    const evaluator = await this.evaluator(catalog);
    const people = await loadIdentityAttributes(tx, identityIds === 'all' ? undefined : identityIds, evaluator.needs);
    return this.apply(tx, catalog, evaluator, [...people.values()], identityIds === 'all', ctx, started, options);
  }

  /** After a rule change (before -> after), recomputes exactly the identities the changed rules treat differently. */
  async applyRuleChange(tx: Transaction, before: Catalog, after: Catalog, ctx: ChangeContext): Promise<RecomputeReport> {
    const started = performance.now();
    const scope = await RuleChangeScope.build(before, after);
    if (scope.changedRules.length === 0) return { ...emptyReport(started), evaluated: 0, rulesChanged: [] };
    const evaluator = await this.evaluator(after);
    const people = await loadIdentityAttributes(tx);
    const affected = [...people.values()].filter((attrs) => scope.affects(attrs));
    const report = await this.apply(tx, after, evaluator, affected, false, ctx, started);
    return { ...report, evaluated: people.size, rulesChanged: scope.changedRules };
  }

  /** recompute() in a transaction of its own, under the live catalogue. */
  async recomputeLive(identityIds: string[] | 'all', ctx: ChangeContext): Promise<RecomputeReport> {
    return this.db.transaction(async (tx) => this.recompute(tx, await loadCatalog(tx), identityIds, ctx));
  }

  /** The enabled deny rules of `catalog` that keep `item` (or something it gives) from this identity. */
  async denyingRules(sql: Sql, catalog: Catalog, identityId: string, item: string): Promise<string[]> {
    // Reading the identity's attributes is only worth it when a deny rule could apply at all.
    const deniable = new Set([...catalog.birthrightRules.values()].filter((r) => r.enabled && r.effect === 'deny').map((r) => r.item));
    if (!catalog.closure(item).some((reached) => deniable.has(reached.item))) return [];
    const attrs = (await loadIdentityAttributes(sql, [identityId])).get(identityId);
    if (!attrs) return [];
    const evaluator = await this.evaluator(catalog);
    return denyingRulesOf(catalog, evaluator.evaluate(attrs).denies, item);
  }

  private async apply(
    tx: Transaction, catalog: Catalog, evaluator: BirthrightEvaluator, people: IdentityAttributes[], everyone: boolean,
    ctx: ChangeContext, started: number, { grace, now: at }: RecomputeOptions = {},
  ): Promise<RecomputeReport> {
    const held = await loadHeldGrants(tx, catalog, evaluator, everyone ? undefined : people.map((p) => p.id));
    const now = (at ?? new Date()).toISOString();
    const plans = people.map((attrs) => planIdentity(catalog, evaluator.evaluate(attrs), attrs, held.get(attrs.id) ?? [], now)).filter(planChanges);
    const expiring = new Map<string, HeldGrant[]>();
    if (grace) {
      for (const plan of plans) {
        if (!grace.identities.has(plan.identityId)) continue;
        expiring.set(plan.identityId, plan.remove.filter((g) => !g.validUntil));
        plan.remove = plan.remove.filter((g) => g.validUntil);
      }
    }
    await writePlans(tx, plans, [...expiring.values()].flat(), grace?.until);
    if (plans.length > 0) {
      const { version } = await readPolicyState(tx);
      for (let i = 0; i < plans.length; i += AUDIT_EVENTS_PER_INSERT) {
        await recordAudit(tx, plans.slice(i, i + AUDIT_EVENTS_PER_INSERT).map((plan) => ({
          actor: ctx.actor, action: 'grant.birthright', targetType: 'identity', targetId: plan.identityId, requestId: ctx.requestId,
          details: {
            policyVersion: version,
            added: plan.add,
            removed: plan.remove.map((g) => ({ item: g.item, rule: g.sourceRef, grantId: g.id })),
            ...(expiring.get(plan.identityId)?.length && {
              expiring: expiring.get(plan.identityId)!.map((g) => ({ item: g.item, rule: g.sourceRef, grantId: g.id, until: grace!.until })),
            }),
            ...(plan.restore.length > 0 && { restored: plan.restore.map((g) => ({ item: g.item, rule: g.sourceRef, grantId: g.id })) }),
            revoked: plan.revoke.map(({ grant, rules }) => ({ item: grant.item, source: grant.source, sourceRef: grant.sourceRef, grantId: grant.id, rules })),
          },
        })));
      }
      if (plans.length > MANY_IDENTITIES) await this.changes.allGrantsChanged(tx);
      else await this.changes.identitiesChanged(tx, plans.map((p) => p.identityId));
    }
    const unique = (items: string[]) => [...new Set(items)].sort();
    return {
      identities: people.length,
      added: plans.reduce((n, p) => n + p.add.length, 0),
      removed: plans.reduce((n, p) => n + p.remove.length, 0),
      revokedByDeny: plans.reduce((n, p) => n + p.revoke.length, 0),
      identitiesChanged: plans.length,
      changes: plans.slice(0, REPORTED_CHANGES).map((p) => ({
        identityId: p.identityId,
        added: unique(p.add.map((a) => a.item)),
        removed: unique(p.remove.map((g) => g.item)),
        revoked: unique(p.revoke.map((r) => r.grant.item)),
      })),
      ms: Math.round(performance.now() - started),
    };
  }
}

function emptyReport(started: number): RecomputeReport {
  return { identities: 0, added: 0, removed: 0, revokedByDeny: 0, identitiesChanged: 0, changes: [], ms: Math.round(performance.now() - started) };
}

interface GrantRow {
  id: string;
  identity_id: string;
  item: string;
  source: string;
  source_ref: string;
  valid_until: string | null;
}

/**
 * The grants recompute may change, by identity: every birthright grant, plus grants from other
 * sources of items some enabled deny rule could keep from someone (the denied items and every
 * item that gives one).
 */
export async function loadHeldGrants(sql: Sql, catalog: Catalog, evaluator: BirthrightEvaluator, identityIds?: readonly string[]): Promise<Map<string, HeldGrant[]>> {
  const deniable = new Set<string>();
  const givers = giversOf(catalog);
  for (const rule of evaluator.rules) if (rule.effect === 'deny') for (const giver of givers.get(rule.item) ?? [rule.item]) deniable.add(giver);
  const items = [...deniable];
  const held = new Map<string, HeldGrant[]>();
  const add = (rows: GrantRow[]) => {
    for (const row of rows) {
      const grant: HeldGrant = {
        id: row.id, identityId: row.identity_id, item: row.item, source: row.source as GrantSource, sourceRef: row.source_ref, validUntil: row.valid_until,
      };
      const list = held.get(row.identity_id);
      if (list) list.push(grant);
      else held.set(row.identity_id, [grant]);
    }
  };
  if (identityIds === undefined) {
    const deny = items.length > 0 ? ` OR item IN (${placeholders(items.length)})` : '';
    add(await sql.query<GrantRow>(`SELECT id, identity_id, item, source, source_ref, valid_until FROM grants WHERE source = ?${deny}`, ['birthright', ...items]));
    return held;
  }
  // By identity only, so the (identity, item, ...) index answers; the few other grants are dropped here.
  const wanted = (row: GrantRow) => row.source === 'birthright' || deniable.has(row.item);
  for (const chunk of chunks(identityIds, IDS_PER_STATEMENT)) {
    const rows = await sql.query<GrantRow>(`SELECT id, identity_id, item, source, source_ref, valid_until FROM grants WHERE identity_id IN (${placeholders(chunk.length)}) ORDER BY identity_id, item, source, source_ref`, chunk);
    add(rows.filter(wanted));
  }
  return held;
}

/** Deletes, ends and inserts what the plans say, in statements of bounded size. */
async function writePlans(tx: Transaction, plans: readonly IdentityPlan[], expiring: readonly HeldGrant[], graceUntil?: string): Promise<void> {
  const doomed = plans.flatMap((p) => [...p.remove.map((g) => g.id), ...p.revoke.map((r) => r.grant.id)]);
  for (const chunk of chunks(doomed, IDS_PER_STATEMENT)) {
    await tx.execute(`DELETE FROM grants WHERE id IN (${placeholders(chunk.length)})`, chunk);
  }
  for (const chunk of chunks(expiring.map((g) => g.id), IDS_PER_STATEMENT)) {
    await tx.execute(`UPDATE grants SET valid_until = ? WHERE id IN (${placeholders(chunk.length)})`, [graceUntil, ...chunk]);
  }
  for (const chunk of chunks(plans.flatMap((p) => p.restore.map((g) => g.id)), IDS_PER_STATEMENT)) {
    await tx.execute(`UPDATE grants SET valid_until = NULL WHERE id IN (${placeholders(chunk.length)})`, chunk);
  }
  const now = new Date().toISOString();
  // Rows go in by identity, with time-ordered ids handed out in that order: the primary key and
  // the identity index grow at their right edge (identity ids are time-ordered too), and each
  // foreign key is checked against the identity pages just read, instead of pages all over.
  const added = plans.flatMap((p) => p.add.map((a) => ({ identityId: p.identityId, ...a })))
    .sort((a, b) => (a.identityId < b.identityId ? -1 : a.identityId > b.identityId ? 1 : 0));
  const rows = added.map((a) => [timeOrderedId(), a.identityId, a.item, 'birthright', a.rule, BIRTHRIGHT_ACTOR, now]);
  await insertRows(tx, 'grants', BIRTHRIGHT_GRANT_COLUMNS, rows, GRANT_ROWS_PER_INSERT);
}
