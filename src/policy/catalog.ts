/*
 * One version of the policy in memory: targets, entitlements, roles with their inheritance,
 * entitlements and permissions, birthright rules and SoD rules. Read from the database by
 * loadCatalog(), or built from a policies/ document (which is how simulate tries a change
 * without applying it). Immutable: a change makes a new Catalog.
 */
import type { Database, Sql } from '../db/database.js';
import { readPolicyState } from './changes.js';
import { AccessIndex, AccessPolicyError, MAX_HIERARCHY_DEPTH, type AccessPolicy } from './access-index.js';
import {
  catalogDocument, describeIssues, entitlementItem, parseItem, PolicyError, roleItem,
  type BirthrightRule, type CatalogDocument, type CatalogDocumentInput, type Entitlement, type Role, type SodRule, type TargetInput,
} from './model.js';

/** The action an automatic permission allows: `hold` on an item's own name says whether someone holds it. */
export const HOLD_ACTION = 'hold';

/**
 * An item name as a keyMatch2 pattern that matches exactly that name: keyMatch2 reads the rest of a
 * pattern as a regular expression, where the `.` and `+` that names may hold mean something else.
 */
export function exactPattern(item: string): string {
  return item.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

/** An item someone holds through another: the path from the held item to it, both ends included. */
export interface Reached {
  item: string;
  path: string[];
}

export class Catalog {
  readonly targets: ReadonlyMap<string, TargetInput>;
  readonly entitlements: ReadonlyMap<string, Entitlement>;
  readonly roles: ReadonlyMap<string, Role>;
  readonly birthrightRules: ReadonlyMap<string, BirthrightRule>;
  readonly sodRules: ReadonlyMap<string, SodRule>;
  private readonly closures = new Map<string, Reached[]>();
  private readonly derivedValues = new Map<(catalog: Catalog) => unknown, unknown>();

  private constructor(readonly document: CatalogDocument) {
    this.targets = new Map(document.targets.map((t) => [t.name, t]));
    this.entitlements = new Map(document.entitlements.map((e) => [entitlementItem(e.target, e.key), e]));
    this.roles = new Map(document.roles.map((r) => [r.name, r]));
    this.birthrightRules = new Map(document.birthrightRules.map((r) => [r.name, r]));
    this.sodRules = new Map(document.sodRules.map((r) => [r.name, r]));
  }

  /**
   * Builds a catalogue from a policies/ document and checks that it holds together: every
   * reference resolves, names are unique, no role inherits itself. The rule expressions are
   * checked by the birthright evaluator, not here.
   */
  static fromDocument(input: CatalogDocumentInput): Catalog {
    const parsed = catalogDocument.safeParse(input);
    if (!parsed.success) throw new PolicyError('invalid', `the policy document is not valid: ${describeIssues(parsed.error)}`);
    const catalog = new Catalog(parsed.data);
    catalog.check();
    return catalog;
  }

  /** Whether an item name (`role:x`, `ent:t/k`) names something in this catalogue. */
  has(item: string): boolean {
    const ref = parseItem(item);
    if (ref === undefined) return false;
    return ref.kind === 'role' ? this.roles.has(ref.name) : this.entitlements.has(item);
  }

  /**
   * Everything holding `item` gives, itself first, breadth-first so each path is a shortest one:
   * a role gives its inherited roles and the entitlements of all of them.
   */
  closure(item: string): readonly Reached[] {
    const cached = this.closures.get(item);
    if (cached) return cached;
    const reached: Reached[] = [{ item, path: [item] }];
    const seen = new Set([item]);
    for (let at = 0; at < reached.length; at++) {
      const { item: current, path } = reached[at]!;
      const ref = parseItem(current);
      if (ref?.kind !== 'role') continue;
      const role = this.roles.get(ref.name);
      if (!role) continue;
      const next = [...role.inherits.map(roleItem), ...role.entitlements.map((e) => `ent:${e}`)];
      for (const n of next) {
        if (seen.has(n)) continue;
        seen.add(n);
        reached.push({ item: n, path: [...path, n] });
      }
    }
    this.closures.set(item, reached);
    return reached;
  }

  /** The items a set of held items gives, each with the shortest path from one of them. */
  expand(held: Iterable<string>): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const item of held) {
      for (const { item: reached, path } of this.closure(item)) {
        const known = out.get(reached);
        if (!known || known.length > path.length) out.set(reached, path);
      }
    }
    return out;
  }

  /**
   * The catalogue as a Casbin RBAC policy: role inheritance and role entitlements as `g` links,
   * role permissions as `p` rules, plus `p, <item>, <item>, hold` for every role and entitlement,
   * so "does X hold ent:github/platform?" is an ordinary check.
   */
  accessPolicy(): AccessPolicy {
    const roleLinks: AccessPolicy['roleLinks'] = [];
    const permissions: AccessPolicy['permissions'] = [];
    for (const role of this.roles.values()) {
      const item = roleItem(role.name);
      for (const parent of role.inherits) roleLinks.push([item, roleItem(parent)]);
      for (const e of role.entitlements) roleLinks.push([item, `ent:${e}`]);
      permissions.push([item, exactPattern(item), HOLD_ACTION]);
      for (const p of role.permissions) permissions.push([item, p.object, p.action]);
    }
    for (const item of this.entitlements.keys()) permissions.push([item, exactPattern(item), HOLD_ACTION]);
    return { roleLinks, permissions };
  }

  /** The AccessIndex over accessPolicy(), built once per catalogue. */
  accessIndex(): AccessIndex {
    return this.derived(buildAccessIndex);
  }

  /**
   * Something computed from this catalogue alone (an index, a rule evaluator), built on first use
   * and kept with it, so it lives exactly as long as the policy version it describes. `build` is
   * the key: pass a module-level function. A build that fails asynchronously is forgotten, so the
   * next use tries again.
   */
  derived<T>(build: (catalog: Catalog) => T): T {
    if (!this.derivedValues.has(build)) {
      const value = build(this);
      if (value instanceof Promise) value.catch(() => this.derivedValues.delete(build));
      this.derivedValues.set(build, value);
    }
    return this.derivedValues.get(build) as T;
  }

  private check(): void {
    const problems: string[] = [];
    const duplicates = (what: string, names: string[]) => {
      const seen = new Set<string>();
      for (const n of names) {
        if (seen.has(n)) problems.push(`${what} ${n} is defined twice`);
        seen.add(n);
      }
    };
    duplicates('target', this.document.targets.map((t) => t.name));
    duplicates('entitlement', this.document.entitlements.map((e) => entitlementItem(e.target, e.key)));
    duplicates('role', this.document.roles.map((r) => r.name));
    duplicates('birthright rule', this.document.birthrightRules.map((r) => r.name));
    duplicates('SoD rule', this.document.sodRules.map((r) => r.name));
    for (const e of this.entitlements.values()) {
      if (!this.targets.has(e.target)) problems.push(`entitlement ${entitlementItem(e.target, e.key)} names unknown target ${e.target}`);
    }
    for (const role of this.roles.values()) {
      for (const parent of role.inherits) if (!this.roles.has(parent)) problems.push(`role ${role.name} inherits unknown role ${parent}`);
      for (const e of role.entitlements) if (!this.entitlements.has(`ent:${e}`)) problems.push(`role ${role.name} bundles unknown entitlement ${e}`);
      if (role.owner === '') problems.push(`role ${role.name} has an empty owner`);
    }
    for (const rule of this.birthrightRules.values()) {
      if (!this.has(rule.item)) problems.push(`birthright rule ${rule.name} names unknown item ${rule.item}`);
    }
    for (const rule of this.sodRules.values()) {
      for (const item of [...rule.left.items, ...rule.right.items]) if (!this.has(item)) problems.push(`SoD rule ${rule.name} names unknown item ${item}`);
      const overlap = rule.left.items.filter((i) => rule.right.items.includes(i));
      if (overlap.length > 0) problems.push(`SoD rule ${rule.name} names ${overlap.join(', ')} on both sides`);
    }
    if (problems.length > 0) throw new PolicyError('invalid', problems.join('; '));
    try {
      this.accessIndex();
    } catch (err) {
      if (err instanceof AccessPolicyError) throw new PolicyError('invalid', err.message);
      throw err;
    }
    this.refuseDeepHierarchies();
  }

  /**
   * Decisions follow inheritance at most MAX_HIERARCHY_DEPTH links, as Casbin does, while
   * effective access, SoD and deny rules follow every link; a deeper chain would make them
   * disagree, so it is refused. Runs after the cycle check, so the recursion ends.
   */
  private refuseDeepHierarchies(): void {
    const depth = new Map<string, number>();
    const depthOf = (role: string): number => {
      let known = depth.get(role);
      if (known === undefined) {
        known = 1 + Math.max(0, ...(this.roles.get(role)?.inherits ?? []).map(depthOf));
        depth.set(role, known);
      }
      return known;
    };
    // A holder reaches a role's entitlements one link below its deepest inherited role.
    const tooDeep = [...this.roles.keys()].filter((role) => depthOf(role) + 1 > MAX_HIERARCHY_DEPTH);
    if (tooDeep.length > 0) {
      throw new PolicyError('invalid', `role inheritance deeper than ${MAX_HIERARCHY_DEPTH - 1} levels is refused (decisions follow at most ${MAX_HIERARCHY_DEPTH} links): ${tooDeep.slice(0, 5).map(roleItem).join(', ')}`);
    }
  }
}

function buildAccessIndex(catalog: Catalog): AccessIndex {
  return AccessIndex.build(catalog.accessPolicy());
}

/**
 * The live catalogue, kept for as long as policy_state.version stays the same: every catalogue
 * write bumps the version in its own transaction, so an equal version means equal content.
 */
export class CatalogCache {
  private static readonly byDatabase = new WeakMap<Database, CatalogCache>();
  private latest?: { version: number; catalog: Catalog };

  /** The one cache of a database's catalogue, shared by every service on it, so a new version is loaded once. */
  static of(db: Database): CatalogCache {
    let cache = CatalogCache.byDatabase.get(db);
    if (!cache) {
      cache = new CatalogCache();
      CatalogCache.byDatabase.set(db, cache);
    }
    return cache;
  }

  /**
   * The catalogue `sql` sees, and its version. With `lock` (inside a transaction) the
   * policy_state row is locked first; make it the transaction's first read, so on MySQL the
   * snapshot the rest of the transaction reads is taken after the lock.
   */
  async read(sql: Sql, lock?: 'share' | 'update'): Promise<{ version: number; catalog: Catalog }> {
    const { version } = await readPolicyState(sql, lock);
    if (this.latest?.version === version) return this.latest;
    const catalog = await loadCatalog(sql);
    // Without a lock the catalogue may move on while it is read: keep only a load bracketed by one version.
    if (lock !== undefined || (await readPolicyState(sql)).version === version) this.latest = { version, catalog };
    return { version, catalog };
  }
}

interface Stamped {
  name: string;
}

/** Reads the live policy from the database, in a stable order (by name, then position). */
export async function loadCatalog(sql: Sql): Promise<Catalog> {
  const [targets, entitlements, roles, inherits, roleEnts, perms, rules, sod] = await Promise.all([
    sql.query<Stamped & { type: string; display_name: string | null; description: string | null }>('SELECT name, type, display_name, description FROM targets ORDER BY name'),
    sql.query<{ target: string; ent_key: string; kind: string; display_name: string | null; description: string | null; requestable: number; risk: string }>(
      'SELECT target, ent_key, kind, display_name, description, requestable, risk FROM entitlements ORDER BY target, ent_key'),
    sql.query<Stamped & { display_name: string | null; description: string | null; owner: string | null; requestable: number; max_duration_days: number | null; risk: string }>(
      'SELECT name, display_name, description, owner, requestable, max_duration_days, risk FROM roles ORDER BY name'),
    sql.query<{ role: string; parent: string }>('SELECT role, parent FROM role_inherits ORDER BY role, position'),
    sql.query<{ role: string; target: string; ent_key: string }>('SELECT role, target, ent_key FROM role_entitlements ORDER BY role, position'),
    sql.query<{ role: string; object: string; action: string }>('SELECT role, object, action FROM role_permissions ORDER BY role, position'),
    sql.query<Stamped & { description: string | null; expression: string; effect: string; item: string; enabled: number }>(
      'SELECT name, description, expression, effect, item, enabled FROM birthright_rules ORDER BY name'),
    sql.query<Stamped & { description: string | null; severity: string; left_mode: string; left_items: string; right_mode: string; right_items: string; enabled: number; owner: string | null }>(
      'SELECT name, description, severity, left_mode, left_items, right_mode, right_items, enabled, owner FROM sod_rules ORDER BY name'),
  ]);
  const group = <T extends { role: string }>(rows: T[]) => {
    const by = new Map<string, T[]>();
    for (const row of rows) {
      const list = by.get(row.role);
      if (list) list.push(row);
      else by.set(row.role, [row]);
    }
    return by;
  };
  const inheritsBy = group(inherits);
  const entsBy = group(roleEnts);
  const permsBy = group(perms);
  const document: CatalogDocumentInput = {
    targets: targets.map((t) => ({ name: t.name, type: t.type as TargetInput['type'], ...(t.display_name !== null && { displayName: t.display_name }), ...(t.description !== null && { description: t.description }) })),
    entitlements: entitlements.map((e) => ({
      target: e.target, key: e.ent_key, kind: e.kind as Entitlement['kind'],
      ...(e.display_name !== null && { displayName: e.display_name }), ...(e.description !== null && { description: e.description }),
      requestable: Number(e.requestable) === 1, risk: e.risk as Entitlement['risk'],
    })),
    roles: roles.map((r) => ({
      name: r.name,
      ...(r.display_name !== null && { displayName: r.display_name }), ...(r.description !== null && { description: r.description }),
      ...(r.owner !== null && { owner: r.owner }), requestable: Number(r.requestable) === 1,
      ...(r.max_duration_days !== null && { maxDurationDays: Number(r.max_duration_days) }), risk: r.risk as Role['risk'],
      inherits: (inheritsBy.get(r.name) ?? []).map((x) => x.parent),
      entitlements: (entsBy.get(r.name) ?? []).map((x) => `${x.target}/${x.ent_key}`),
      permissions: (permsBy.get(r.name) ?? []).map((x) => ({ object: x.object, action: x.action })),
    })),
    birthrightRules: rules.map((r) => ({
      name: r.name, ...(r.description !== null && { description: r.description }), expression: r.expression,
      effect: r.effect as BirthrightRule['effect'], item: r.item, enabled: Number(r.enabled) === 1,
    })),
    sodRules: sod.map((r) => ({
      name: r.name, ...(r.description !== null && { description: r.description }), severity: r.severity as SodRule['severity'],
      left: { mode: r.left_mode as 'any' | 'all', items: JSON.parse(r.left_items) as string[] },
      right: { mode: r.right_mode as 'any' | 'all', items: JSON.parse(r.right_items) as string[] },
      enabled: Number(r.enabled) === 1, ...(r.owner !== null && { owner: r.owner }),
    })),
  };
  return Catalog.fromDocument(document);
}

/** The targets an item gives access to, in closure order. */
export function targetsOf(catalog: Catalog, item: string): string[] {
  const out: string[] = [];
  for (const reached of catalog.closure(item)) {
    const ref = parseItem(reached.item);
    if (ref?.kind === 'entitlement' && !out.includes(ref.target)) out.push(ref.target);
  }
  return out;
}
