/*
 * The in-process authorization engine behind "may subject S do action A on object O?".
 *
 * Casbin is the policy language and the reference semantics (ACCESS_MODEL below), but its
 * `enforce` evaluates the matcher against every `p` rule, so a check costs time linear in the
 * policy size. AccessIndex gives the same answers as `enforceSync` for that one model while only
 * looking at the rules that can possibly apply:
 *
 * - Rules are grouped by object pattern, and each group by the principal (role or subject) named
 *   in the rule. A literal object (no pattern syntax) goes in a hash map keyed by the object
 *   itself; a pattern goes in a bucket keyed by its literal prefix up to the last `/` before the
 *   first pattern character, so a request only visits the buckets of its own path prefixes.
 * - A subject's effective principals (itself, its roles, their inherited roles) are resolved once
 *   by breadth-first search and cached per subject in a bounded LRU, with the shortest path to
 *   each one, which is what the allow reason shows.
 * - An identity's grants stay out of the index: decideFor() takes them as the subject's direct
 *   items, answers as if they were links in the policy, and caches that view per subject only
 *   for as long as the items are the same. A grant change therefore never rebuilds the index.
 * - Within a pattern group, the subject's principals and the group's principals are intersected
 *   from the smaller side, and the object is matched at most once per group, only when the group
 *   holds a rule that would grant the action and would beat the best grant found so far. The match
 *   uses the very regular expression Casbin's keyMatch2 builds from the pattern, compiled once at
 *   build instead of on every call.
 *
 * The index is immutable. A policy change builds a new index and the caller replaces its single
 * reference to the old one in one assignment, before the change is acknowledged; a decision in
 * progress finishes on the index it started with (decide is synchronous), and every later one
 * sees the new policy. That swap on every change is the whole "never stale" guarantee: there is
 * no incremental update and no cache that outlives the policy it was computed from.
 *
 * Casbin behaviour reproduced on purpose: a subject always matches a rule naming itself
 * (`g(x, x)` is true without any link); inheritance is followed at most MAX_HIERARCHY_DEPTH (10)
 * links deep, like Casbin's DefaultRoleManager, and deeper roles silently do not apply; a rule
 * action `*` grants every action, but a request action `*` only matches rules whose action is `*`.
 * Deliberate differences: a cyclic inheritance, an object pattern for which Casbin's keyMatch2
 * never returns (`/x/:`), and one that is not a valid regular expression (`/a/(`) are refused at
 * build instead of looping or throwing on every check; and a policy without any permission rule
 * denies everything, whereas Casbin then evaluates its matcher once against an all-empty rule and
 * allows the request ("", "", "").
 */
import { Util, newModelFromString } from 'casbin';

/** The Casbin model whose semantics AccessIndex implements; the only model build() accepts. */
export const ACCESS_MODEL = `[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && keyMatch2(r.obj, p.obj) && (r.act == p.act || p.act == "*")
`;

/** How many inheritance links Casbin's DefaultRoleManager follows (it is constructed with 10). */
export const MAX_HIERARCHY_DEPTH = 10;

/** Subjects whose resolved roles are kept per index unless build() is told otherwise. */
export const DEFAULT_SUBJECT_CACHE_SIZE = 50_000;

/** A policy as plain data, in the order of Casbin's policy lines. */
export interface AccessPolicy {
  /** subject or role → role it holds or inherits ("g" lines) */
  roleLinks: Array<[member: string, role: string]>;
  /** permission rules ("p" lines) */
  permissions: Array<[role: string, object: string, action: string]>;
}

/** One question for decideMany(). */
export interface AccessRequest {
  subject: string;
  object: string;
  action: string;
}

/** The answer, with the role path and rule that allowed it, or why it was denied. */
export interface Decision {
  allowed: boolean;
  reason: string;
  rolePath?: string[];
  rule?: [string, string, string];
}

/** Tuning for build(). */
export interface AccessIndexOptions {
  /** Most subjects whose resolved roles are cached; 0 disables the cache. */
  subjectCacheSize?: number;
}

/** Sizes of a built index, for logs and metrics. */
export interface AccessIndexStats {
  /** distinct names in links and rules: subjects and roles */
  principals: number;
  /** distinct role links */
  links: number;
  /** permission rules */
  rules: number;
  /** distinct object patterns */
  objectPatterns: number;
  /** of which literal objects, found by one hash lookup */
  literalObjects: number;
  /** prefix buckets holding the other patterns */
  prefixBuckets: number;
  /** milliseconds build() took */
  buildMs: number;
}

/** Raised by build() for a policy or model the index refuses; `kind` says which check failed. */
export class AccessPolicyError extends Error {
  override readonly name = 'AccessPolicyError';
  constructor(readonly kind: 'cycle' | 'pattern' | 'model' | 'shape', message: string) {
    super(message);
  }
}

type Tuple = [string, string, string];

interface Rule {
  /** position in the policy; among equally short role paths the earliest rule is reported */
  readonly index: number;
  readonly action: string;
  readonly tuple: Tuple;
}

interface PatternGroup {
  readonly pattern: string;
  /** matches exactly itself, so the hash lookup that found it already decided the match */
  readonly literal: boolean;
  /** the regular expression keyMatch2 matches objects against */
  readonly matcher: RegExp;
  /** principal id → its rules on this pattern, in policy order */
  readonly byPrincipal: Map<number, Rule[]>;
  readonly principals: number[];
}

/** A subject's effective principals in breadth-first order, so depth never decreases along it. */
interface SubjectView {
  readonly order: number[];
  readonly depth: number[];
  /** position of the parent in `order`, -1 for the subject itself */
  readonly parent: number[];
  /** principal id → position in `order`; kept only for views longer than SMALL_VIEW, which are probed rather than scanned */
  readonly pos: Map<number, number> | undefined;
}

/** A view while its breadth-first search runs. */
interface GrowingView extends SubjectView {
  readonly pos: Map<number, number>;
}

/**
 * The view as it is kept, perhaps for as long as the identity: arrays cut to their length, and the
 * map only where consider() uses it: about 0.6 KB for a subject reaching nine principals.
 */
function settled(view: GrowingView): SubjectView {
  return { order: view.order.slice(), depth: view.depth.slice(), parent: view.parent.slice(), pos: view.order.length > SMALL_VIEW ? view.pos : undefined };
}

const NO_DEPTH = Number.MAX_SAFE_INTEGER;
// Views of at most this many principals are searched by scanning rather than through their map.
const SMALL_VIEW = 16;
// keyMatch2 turns a pattern into a regular expression, so every regex metacharacter (and the
// closing brackets, conservatively) ends the part that must appear literally in the object.
const REGEX_SPECIAL = new Set('\\^$.|?*+()[]{}');
const QUANTIFIER = new Set('?*+{');

let canonicalModel: Map<string, string> | undefined;

/** Section/key → definition with whitespace removed, as Casbin parsed it. */
function modelSignature(text: string): Map<string, string> {
  const signature = new Map<string, string>();
  for (const [section, assertions] of newModelFromString(text).model) {
    for (const [key, assertion] of assertions) signature.set(`${section}.${key}`, assertion.value.replace(/\s+/g, ''));
  }
  return signature;
}

function checkModel(text: string): void {
  canonicalModel ??= modelSignature(ACCESS_MODEL);
  let given: Map<string, string>;
  try {
    given = modelSignature(text);
  } catch (err) {
    throw new AccessPolicyError('model', `the Casbin model does not parse: ${(err as Error).message}`);
  }
  const differences: string[] = [];
  for (const key of new Set([...canonicalModel.keys(), ...given.keys()])) {
    if (canonicalModel.get(key) !== given.get(key)) differences.push(`${key} is ${JSON.stringify(given.get(key) ?? null)}, expected ${JSON.stringify(canonicalModel.get(key) ?? null)}`);
  }
  if (differences.length > 0) {
    throw new AccessPolicyError('model', `AccessIndex implements only ACCESS_MODEL (RBAC with keyMatch2 objects and "*" actions); this model differs: ${differences.join('; ')}`);
  }
}

/**
 * What keyMatch2 makes of a pattern: the same rewriting as Casbin's keyMatch2 (util/builtinOperators),
 * which yields the regular expression Casbin matches objects with (compiled here once per pattern,
 * where Casbin compiles it on every call), the pattern's literal prefix, and the patterns on which
 * Casbin's loop never ends.
 */
function analysePattern(pattern: string): { literal: boolean; prefix: string; matcher: RegExp } | { error: string } {
  let source = pattern.replace(/\/\*/g, '/.*');
  while (source.includes('/:')) {
    const next = source.replace(/(.*):[^/]+(.*)/g, '$1[^/]+$2');
    // A match always rewrites a ':' into '[', so no change means no match: Casbin would spin forever.
    if (next === source) return { error: 'keyMatch2 never returns for it (a "/:" without a parameter name after it)' };
    source = next;
  }
  if (source === '*') source = '(.*)';
  try {
    Util.keyMatch2Func('', pattern);
  } catch (err) {
    return { error: `keyMatch2 throws on it: ${(err as Error).message}` };
  }
  // Exactly keyMatch2's regexMatch(key1, '^' + key2 + '$'), without the per-call compilation.
  const matcher = new RegExp(`^${source}$`);
  // `^a|b$` is an alternation over the whole expression: nothing is certain to prefix a match.
  if (source.includes('|')) return { literal: false, prefix: '', matcher };
  let end = 0;
  while (end < source.length && !REGEX_SPECIAL.has(source[end]!)) end++;
  if (end === source.length) return { literal: true, prefix: source, matcher };
  // A quantifier makes the character before it optional or repeatable.
  const required = QUANTIFIER.has(source[end]!) ? source.slice(0, Math.max(0, end - 1)) : source.slice(0, end);
  return { literal: false, prefix: required.slice(0, required.lastIndexOf('/') + 1), matcher };
}

/** Throws naming the first inheritance cycle found, in policy order, as `a -> b -> a`. */
function refuseCycles(names: string[], edges: number[][]): void {
  const state = new Uint8Array(names.length); // 0 unvisited, 1 on the current path, 2 done
  for (let root = 0; root < names.length; root++) {
    if (state[root] !== 0) continue;
    const path: number[] = [root];
    const next: number[] = [0];
    state[root] = 1;
    while (path.length > 0) {
      const top = path.length - 1;
      const node = path[top]!;
      const out = edges[node]!;
      if (next[top]! >= out.length) {
        state[node] = 2;
        path.pop();
        next.pop();
        continue;
      }
      const child = out[next[top]!++]!;
      if (state[child] === 1) {
        const cycle = [...path.slice(path.indexOf(child)), child].map((id) => names[id]!);
        throw new AccessPolicyError('cycle', `cyclic role inheritance: ${cycle.join(' -> ')}`);
      }
      if (state[child] === 0) {
        state[child] = 1;
        path.push(child);
        next.push(0);
      }
    }
  }
}

function describeRule(rule: Tuple): string {
  return `p(${rule.join(', ')})`;
}

/** A decideFor() view, valid only for the direct items it was computed from. */
interface DirectView {
  readonly items: readonly string[];
  readonly view: SubjectView;
}

/**
 * Where a caller keeps one subject's view between decideFor() calls, so a decision needs no cache
 * lookup to find it (the policy engine keeps one on each identity). What it holds is the index's
 * business; it is valid only for the index that filled it and the very items array it was given.
 */
export interface ViewSlot {
  held?: { readonly index: AccessIndex; readonly items: readonly string[]; readonly view: SubjectView };
}

/** Immutable index over one policy version; build() a new one on every policy change and swap. */
export class AccessIndex {
  private readonly views = new Map<string, SubjectView>();
  private readonly directViews = new Map<string, DirectView>();

  private constructor(
    private readonly ids: Map<string, number>,
    private readonly names: string[],
    private readonly edges: number[][],
    private readonly literalGroups: Map<string, PatternGroup>,
    private readonly prefixGroups: Map<string, PatternGroup[]>,
    /** prefixGroups keys by length, so a request only slices the prefixes some bucket uses */
    private readonly prefixLengthUsed: boolean[],
    private readonly rootGroups: PatternGroup[],
    private readonly cacheSize: number,
    private readonly statistics: AccessIndexStats,
  ) {}

  /** Indexes a policy; refuses cycles, patterns Casbin cannot evaluate, and models other than ACCESS_MODEL. */
  static build(policy: AccessPolicy, model?: string, options: AccessIndexOptions = {}): AccessIndex {
    const started = performance.now();
    if (model !== undefined) checkModel(model);
    const ids = new Map<string, number>();
    const names: string[] = [];
    const edges: number[][] = [];
    const intern = (name: string): number => {
      let id = ids.get(name);
      if (id === undefined) {
        id = names.length;
        ids.set(name, id);
        names.push(name);
        edges.push([]);
      }
      return id;
    };

    let links = 0;
    policy.roleLinks.forEach((link, i) => {
      if (!Array.isArray(link) || link.length !== 2 || typeof link[0] !== 'string' || typeof link[1] !== 'string') {
        throw new AccessPolicyError('shape', `role link #${i} is not a [member, role] pair of strings: ${JSON.stringify(link)}`);
      }
      const member = intern(link[0]);
      const role = intern(link[1]);
      const out = edges[member]!;
      if (!out.includes(role)) {
        out.push(role);
        links++;
      }
    });
    refuseCycles(names, edges);

    const groups = new Map<string, PatternGroup>();
    const prefixOf = new Map<string, string>();
    policy.permissions.forEach((permission, index) => {
      if (!Array.isArray(permission) || permission.length !== 3 || permission.some((field) => typeof field !== 'string')) {
        throw new AccessPolicyError('shape', `permission #${index} is not a [role, object, action] triple of strings: ${JSON.stringify(permission)}`);
      }
      const tuple: Tuple = [permission[0], permission[1], permission[2]];
      const [subject, pattern, action] = tuple;
      let group = groups.get(pattern);
      if (group === undefined) {
        const analysis = analysePattern(pattern);
        if ('error' in analysis) {
          throw new AccessPolicyError('pattern', `permission #${index} ${describeRule(tuple)}: object pattern ${JSON.stringify(pattern)} is refused because Casbin's ${analysis.error}`);
        }
        group = { pattern, literal: analysis.literal, matcher: analysis.matcher, byPrincipal: new Map(), principals: [] };
        groups.set(pattern, group);
        prefixOf.set(pattern, analysis.prefix);
      }
      const principal = intern(subject);
      let rules = group.byPrincipal.get(principal);
      if (rules === undefined) {
        rules = [];
        group.byPrincipal.set(principal, rules);
        group.principals.push(principal);
      }
      rules.push({ index, action, tuple });
    });

    const literalGroups = new Map<string, PatternGroup>();
    const prefixGroups = new Map<string, PatternGroup[]>();
    const prefixLengthUsed: boolean[] = [];
    const rootGroups: PatternGroup[] = [];
    for (const group of groups.values()) {
      const prefix = prefixOf.get(group.pattern)!;
      if (group.literal) literalGroups.set(group.pattern, group);
      else if (prefix === '') rootGroups.push(group);
      else {
        const bucket = prefixGroups.get(prefix);
        if (bucket) bucket.push(group);
        else prefixGroups.set(prefix, [group]);
        prefixLengthUsed[prefix.length] = true;
      }
    }

    const statistics: AccessIndexStats = {
      principals: names.length,
      links,
      rules: policy.permissions.length,
      objectPatterns: groups.size,
      literalObjects: literalGroups.size,
      prefixBuckets: prefixGroups.size + (rootGroups.length > 0 ? 1 : 0),
      buildMs: 0,
    };
    const cacheSize = Math.max(0, Math.floor(options.subjectCacheSize ?? DEFAULT_SUBJECT_CACHE_SIZE));
    const index = new AccessIndex(ids, names, edges, literalGroups, prefixGroups, prefixLengthUsed, rootGroups, cacheSize, statistics);
    statistics.buildMs = performance.now() - started;
    return index;
  }

  /** Sizes of this index and how long it took to build. */
  get stats(): Readonly<AccessIndexStats> {
    return this.statistics;
  }

  /** Subjects whose roles are currently cached, by decide() and by decideFor(). */
  get cachedSubjects(): number {
    return this.views.size + this.directViews.size;
  }

  /** Forgets the cached subject roles (they are recomputed on demand); answers do not change. */
  clearCache(): void {
    this.views.clear();
    this.directViews.clear();
  }

  /** Whether `subject` may do `action` on `object`: the same answer as Casbin's enforceSync under ACCESS_MODEL. */
  decide(subject: string, object: string, action: string): Decision {
    return this.decideWith(this.viewOf(subject), subject, object, action);
  }

  /**
   * decide() for a subject whose direct roles and entitlements live outside the policy (an
   * identity's grants): the same Decision as building the index with the extra links
   * `subject -> item` for each of `directItems` (after the policy's own links, in that order) and
   * asking decide(subject, object, action). So one index per policy version serves every
   * identity, and a grant change costs no rebuild.
   *
   * `label` is how the subject is named in the role path and the reason (default: `subject`);
   * `subject` itself keys the cached view. The cached view is reused only while the items are the
   * same, element by element, so a caller may pass a different list at any time.
   *
   * A link the build would refuse as a cycle (an item that is the subject, or inherits it) is
   * ignored here rather than refused: the breadth-first search never revisits a principal.
   *
   * With a `slot`, the view is kept there instead of in the index's cache, and reused while the
   * index and the `directItems` array are the same objects: the caller must not change an array
   * it has passed, only pass another.
   */
  decideFor(subject: string, directItems: readonly string[], object: string, action: string, label: string = subject, slot?: ViewSlot): Decision {
    let view: SubjectView | undefined;
    if (directItems.length === 0) view = this.viewOf(subject);
    else if (slot === undefined) view = this.directViewOf(subject, directItems);
    else if (slot.held !== undefined && slot.held.index === this && slot.held.items === directItems) view = slot.held.view;
    else {
      view = this.computeDirectView(subject, directItems);
      slot.held = { index: this, items: directItems, view };
    }
    return this.decideWith(view, label, object, action);
  }

  private decideWith(view: SubjectView | undefined, subject: string, object: string, action: string): Decision {
    if (view === undefined) {
      return { allowed: false, reason: `deny by default: ${subject} holds no role and no rule names it` };
    }

    const best: Best = { depth: NO_DEPTH, index: NO_DEPTH, pos: -1, rule: undefined };
    const literal = this.literalGroups.get(object);
    if (literal !== undefined) consider(literal, view, object, action, best);
    for (const group of this.rootGroups) consider(group, view, object, action, best);
    if (this.prefixGroups.size > 0) {
      const longest = Math.min(object.length, this.prefixLengthUsed.length - 1);
      for (let slash = object.indexOf('/'); slash !== -1 && slash < longest; slash = object.indexOf('/', slash + 1)) {
        if (this.prefixLengthUsed[slash + 1] !== true) continue;
        const bucket = this.prefixGroups.get(object.slice(0, slash + 1));
        if (bucket !== undefined) for (const group of bucket) consider(group, view, object, action, best);
      }
    }

    const bestRule = best.rule;
    if (bestRule === undefined) {
      const roles = view.order.length - 1;
      return { allowed: false, reason: `deny by default: no role of ${subject} (${roles} role${roles === 1 ? '' : 's'} held or inherited) grants ${action} on ${object}` };
    }
    const rolePath = this.pathTo(view, best.pos, subject);
    const rule: Tuple = [bestRule.tuple[0], bestRule.tuple[1], bestRule.tuple[2]];
    return { allowed: true, reason: `${rolePath.join(' -> ')}: ${describeRule(rule)}`, rolePath, rule };
  }

  /** decide() for each request, in order. */
  decideMany(requests: ReadonlyArray<AccessRequest>): Decision[] {
    return requests.map((request) => this.decide(request.subject, request.object, request.action));
  }

  /** The subject's effective principals, from the LRU or by breadth-first search; undefined when no link or rule names it. */
  private viewOf(subject: string): SubjectView | undefined {
    const cached = this.views.get(subject);
    if (cached !== undefined) {
      // Re-inserting moves the entry to the end of the Map's order, which is the LRU order.
      this.views.delete(subject);
      this.views.set(subject, cached);
      return cached;
    }
    const id = this.ids.get(subject);
    // Names outside the policy are not cached: they cannot match anything, and caching them would
    // let a stream of made-up subjects evict the real ones.
    if (id === undefined) return undefined;
    const growing: GrowingView = { order: [id], depth: [0], parent: [-1], pos: new Map([[id, 0]]) };
    this.expand(growing, 0);
    const view = settled(growing);
    this.remember(this.views, subject, view);
    return view;
  }

  /**
   * The view of `subject` with `items` linked to it after its own links. A name the policy does
   * not know (the subject, or an item no link or rule mentions) gets a negative id of its own: it
   * has no links and no rule names it, yet it counts among the roles held, as it would in a build.
   */
  private directViewOf(subject: string, items: readonly string[]): SubjectView {
    const cached = this.directViews.get(subject);
    if (cached !== undefined && sameItems(cached.items, items)) {
      this.directViews.delete(subject);
      this.directViews.set(subject, cached);
      return cached.view;
    }
    const view = this.computeDirectView(subject, items);
    this.remember(this.directViews, subject, { items: items.slice(), view });
    return view;
  }

  private computeDirectView(subject: string, items: readonly string[]): SubjectView {
    const root = this.ids.get(subject) ?? -1;
    const view: GrowingView = { order: [root], depth: [0], parent: [-1], pos: new Map([[root, 0]]) };
    if (root >= 0) for (const role of this.edges[root]!) this.visit(view, role, 0);
    let unknown: Map<string, number> | undefined;
    for (const item of items) {
      if (item === subject) continue;
      let id = this.ids.get(item);
      if (id === undefined) {
        unknown ??= new Map();
        id = unknown.get(item);
        if (id === undefined) {
          id = -2 - unknown.size;
          unknown.set(item, id);
        }
      }
      this.visit(view, id, 0);
    }
    // Everything after the subject is at depth 1 so far; the rest of the search follows the policy's own links.
    this.expand(view, 1);
    return settled(view);
  }

  /** Adds `principal` one link below position `from`, unless the search already reached it. */
  private visit(view: GrowingView, principal: number, from: number): void {
    if (view.pos.has(principal)) return;
    view.pos.set(principal, view.order.length);
    view.order.push(principal);
    view.depth.push(view.depth[from]! + 1);
    view.parent.push(from);
  }

  /** Continues the breadth-first search from position `start`, at most MAX_HIERARCHY_DEPTH links from the subject. */
  private expand(view: GrowingView, start: number): void {
    for (let at = start; at < view.order.length; at++) {
      if (view.depth[at]! >= MAX_HIERARCHY_DEPTH) continue;
      const principal = view.order[at]!;
      if (principal < 0) continue;
      for (const role of this.edges[principal]!) this.visit(view, role, at);
    }
  }

  /** Stores an entry in one of the LRU maps, evicting the least recently used one when full. */
  private remember<T>(cache: Map<string, T>, subject: string, entry: T): void {
    if (this.cacheSize === 0) return;
    if (cache.size >= this.cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(subject, entry);
  }

  private pathTo(view: SubjectView, pos: number, subject: string): string[] {
    const path: string[] = [];
    for (let at = pos; at > 0; at = view.parent[at]!) path.push(this.names[view.order[at]!]!);
    path.push(subject);
    return path.reverse();
  }
}

function sameItems(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The best grant found so far in one decision: the most direct, then the earliest rule. */
interface Best {
  depth: number;
  index: number;
  /** position of the granting principal in the subject's view */
  pos: number;
  rule: Rule | undefined;
}

/**
 * Finds the group's most direct grant that beats `best`, then pays for the pattern match at most
 * once: every rule in a group has the same object pattern. (A plain function rather than a
 * closure per decision: decisions are the hot path.)
 */
function consider(group: PatternGroup, view: SubjectView, object: string, action: string, best: Best): void {
  let depth = best.depth;
  let ruleIndex = best.index;
  let pos = -1;
  let found: Rule | undefined;
  if (group.principals.length <= view.order.length) {
    // Most subjects reach a handful of principals: one short array is searched faster than a map
    // is probed, when neither is in the processor's cache (as between two requests of a server).
    const small = view.order.length <= SMALL_VIEW;
    for (const principal of group.principals) {
      const at = small ? view.order.indexOf(principal) : view.pos!.get(principal) ?? -1;
      if (at < 0 || view.depth[at]! > depth) continue;
      const rule = firstGrant(group.byPrincipal.get(principal)!, action);
      if (rule !== undefined && (view.depth[at]! < depth || rule.index < ruleIndex)) {
        depth = view.depth[at]!;
        ruleIndex = rule.index;
        pos = at;
        found = rule;
      }
    }
  } else {
    for (let at = 0; at < view.order.length && view.depth[at]! <= depth; at++) {
      const rules = group.byPrincipal.get(view.order[at]!);
      if (rules === undefined) continue;
      const rule = firstGrant(rules, action);
      if (rule !== undefined && (view.depth[at]! < depth || rule.index < ruleIndex)) {
        depth = view.depth[at]!;
        ruleIndex = rule.index;
        pos = at;
        found = rule;
      }
    }
  }
  if (found === undefined) return;
  if (!group.literal && !group.matcher.test(object)) return;
  best.depth = depth;
  best.index = ruleIndex;
  best.pos = pos;
  best.rule = found;
}

/** The earliest rule granting `action`; rules are in policy order. */
function firstGrant(rules: Rule[], action: string): Rule | undefined {
  for (const rule of rules) if (rule.action === action || rule.action === '*') return rule;
  return undefined;
}
