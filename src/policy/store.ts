/*
 * The live catalogue: targets, entitlements, roles, birthright rules and SoD rules as the API and
 * the CLI change them. Every write is one transaction that
 *
 *   1. locks policy_state, so catalogue writes (and the grants that read the catalogue) take turns;
 *   2. loads the catalogue in the transaction and applies the change to its document;
 *   3. validates the whole result (Catalog.fromDocument: references, cycles, patterns), so the
 *      stored policy is always one that holds together;
 *   4. writes only the rows of what changed, bumps the policy version, and audits the change with
 *      its before/after and the new version;
 *   5. for birthright rules, and for roles (which decide what a deny rule's item reaches),
 *      recomputes the birthright grants of exactly the identities the change affects.
 *
 * `ifVersion` makes a write conditional on the entry's version (If-Match); 0 means "must not
 * exist yet". Names never change: a put of an existing name replaces that entry.
 */
import { chunks, insertRows, placeholders } from '../db/batches.js';
import { recordAudit } from '../audit/recorder.js';
import type { Database, Sql, Transaction } from '../db/database.js';
import type { ChangeContext } from '../identity/resources.js';
import type { BirthrightService, RecomputeReport } from './birthright.js';
import { Catalog, CatalogCache } from './catalog.js';
import type { PolicyChangeLog } from './changes.js';
import { canonicalRuleExpression, RuleExpressionError } from './expression.js';
import {
  birthrightRuleInput, catalogDocument, describeIssues, entitlementInput, entitlementItem, PolicyError, roleInput, roleItem, sodRuleInput, targetInput,
  type BirthrightRule, type CatalogDocument, type Entitlement, type Role, type SodRule, type TargetInput,
} from './model.js';
import { readSodExceptions } from './sod-exceptions.js';

/** A catalogue entry with its optimistic version and timestamps. */
export type Versioned<T> = T & { version: number; created: string; lastModified: string };

interface Stamp {
  version: number;
  created: string;
  lastModified: string;
}

/** The outcome of a put: whether the entry is new, the entry as stored, and for birthright rules the grants recomputed. */
export interface PutResult<T> {
  created: boolean;
  value: Versioned<T>;
  recompute?: RecomputeReport;
}

type Collection = 'targets' | 'entitlements' | 'roles' | 'birthrightRules' | 'sodRules';
const COLLECTIONS: readonly Collection[] = ['targets', 'entitlements', 'roles', 'birthrightRules', 'sodRules'];

/** How many entries of each kind an import created, updated and deleted. */
export type ReplaceCounts = Record<Collection, { created: number; updated: number; deleted: number }>;

/** The outcome of replaceAll: the policy version now live, what changed, and the birthright recompute. */
export interface ReplaceResult {
  version: number;
  changes: ReplaceCounts;
  recompute: RecomputeReport;
}

/** What still refers to a catalogue entry, by kind of referrer. */
interface References {
  entitlements: string[];
  roles: string[];
  birthrightRules: string[];
  sodRules: string[];
  grants: number;
}

/** One kind of catalogue entry: where it lives and how it is read, checked and written. */
interface Kind<T> {
  /** the audit target type and action prefix */
  readonly name: 'target' | 'entitlement' | 'role' | 'birthrightRule' | 'sodRule';
  /** what messages call it */
  readonly noun: string;
  readonly table: string;
  readonly keyColumns: readonly string[];
  readonly collection: Collection;
  key(entry: T): string[];
  parse(input: unknown): T;
  write(tx: Transaction, entry: T, stamp: Stamp, existed: boolean): Promise<void>;
  remove(tx: Transaction, key: string[]): Promise<void>;
  references(sql: Sql, catalog: Catalog, key: string[]): Promise<References>;
}

const label = (key: string[]) => key.join('/');
const noReferences = (): References => ({ entitlements: [], roles: [], birthrightRules: [], sodRules: [], grants: 0 });

/** Parses with zod, turning its issues into one PolicyError that lists each. */
function parseWith<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } } }, what: string, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new PolicyError('invalid', `the ${what} is not valid: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** A birthright rule with its expression validated and in canonical form; a bad expression names its position. */
function normalizeBirthrightRule(rule: BirthrightRule): BirthrightRule {
  try {
    return { ...rule, expression: canonicalRuleExpression(rule.expression) };
  } catch (err) {
    if (err instanceof RuleExpressionError) {
      throw new PolicyError('invalid', `birthright rule ${rule.name}: ${err.message}`, { rule: rule.name, position: err.position, expression: rule.expression });
    }
    throw err;
  }
}

/** Refuses a role that lists the same parent, entitlement or permission twice (each is one row). */
function checkRoleLists(role: Role): Role {
  const repeated = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);
  const problems = [
    ...repeated(role.inherits).map((p) => `inherits ${p} twice`),
    ...repeated(role.entitlements).map((e) => `bundles ${e} twice`),
    ...repeated(role.permissions.map((p) => `${p.action} on ${p.object}`)).map((p) => `allows ${p} twice`),
  ];
  if (problems.length > 0) throw new PolicyError('invalid', `role ${role.name} ${[...new Set(problems)].join(', ')}`);
  return role;
}

/** Inserts or updates one catalogue row: its key, its own columns, and its stamp. */
async function upsertRow(tx: Transaction, table: string, keyColumns: readonly string[], key: string[], columns: Record<string, unknown>, stamp: Stamp, existed: boolean): Promise<void> {
  const names = Object.keys(columns);
  const values = Object.values(columns);
  if (existed) {
    await tx.execute(
      `UPDATE ${table} SET ${names.map((n) => `${n} = ?`).join(', ')}, version = ?, last_modified = ? WHERE ${keyColumns.map((k) => `${k} = ?`).join(' AND ')}`,
      [...values, stamp.version, stamp.lastModified, ...key]);
  } else {
    await tx.execute(
      `INSERT INTO ${table} (${[...keyColumns, ...names, 'version', 'created', 'last_modified'].join(', ')}) VALUES (${[...keyColumns, ...names, 1, 2, 3].map(() => '?').join(', ')})`,
      [...key, ...values, stamp.version, stamp.created, stamp.lastModified]);
  }
}

async function deleteRow(tx: Transaction, table: string, keyColumns: readonly string[], key: string[]): Promise<void> {
  await tx.execute(`DELETE FROM ${table} WHERE ${keyColumns.map((k) => `${k} = ?`).join(' AND ')}`, key);
}

const flag = (value: boolean) => (value ? 1 : 0);

async function deleteRoleLinks(tx: Transaction, role: string): Promise<void> {
  for (const table of ['role_inherits', 'role_entitlements', 'role_permissions']) await tx.execute(`DELETE FROM ${table} WHERE role = ?`, [role]);
}

async function insertRoleLinks(tx: Transaction, role: Role): Promise<void> {
  await insertRows(tx, 'role_inherits', ['role', 'parent', 'position'], role.inherits.map((parent, i) => [role.name, parent, i]));
  await insertRows(tx, 'role_entitlements', ['role', 'target', 'ent_key', 'position'], role.entitlements.map((e, i) => {
    const slash = e.indexOf('/');
    return [role.name, e.slice(0, slash), e.slice(slash + 1), i];
  }));
  await insertRows(tx, 'role_permissions', ['role', 'object', 'action', 'position'], role.permissions.map((p, i) => [role.name, p.object, p.action, i]));
}

async function writeRoleRow(tx: Transaction, role: Role, stamp: Stamp, existed: boolean): Promise<void> {
  await upsertRow(tx, 'roles', ['name'], [role.name], {
    display_name: role.displayName ?? null, description: role.description ?? null, owner: role.owner ?? null,
    requestable: flag(role.requestable), max_duration_days: role.maxDurationDays ?? null, risk: role.risk,
  }, stamp, existed);
}

/** How many grants (of any source) name the item. */
async function grantCount(sql: Sql, item: string): Promise<number> {
  const [row] = await sql.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM grants WHERE item = ?', [item]);
  return Number(row?.n ?? 0);
}

/** Roles, birthright rules and SoD rules of the catalogue that name `item`. */
function itemReferences(catalog: Catalog, item: string): References {
  const refs = noReferences();
  for (const role of catalog.roles.values()) {
    if (role.inherits.some((p) => roleItem(p) === item) || role.entitlements.some((e) => `ent:${e}` === item)) refs.roles.push(role.name);
  }
  for (const rule of catalog.birthrightRules.values()) if (rule.item === item) refs.birthrightRules.push(rule.name);
  for (const rule of catalog.sodRules.values()) if ([...rule.left.items, ...rule.right.items].includes(item)) refs.sodRules.push(rule.name);
  return refs;
}

const TARGETS: Kind<TargetInput> = {
  name: 'target', noun: 'target', table: 'targets', keyColumns: ['name'], collection: 'targets',
  key: (t) => [t.name],
  parse: (input) => parseWith(targetInput, 'target', input),
  write: (tx, t, stamp, existed) => upsertRow(tx, 'targets', ['name'], [t.name], { type: t.type, display_name: t.displayName ?? null, description: t.description ?? null }, stamp, existed),
  remove: (tx, key) => deleteRow(tx, 'targets', ['name'], key),
  references: async (_sql, catalog, [name]) => ({
    ...noReferences(),
    entitlements: [...catalog.entitlements.values()].filter((e) => e.target === name).map((e) => entitlementItem(e.target, e.key)),
  }),
};

const ENTITLEMENTS: Kind<Entitlement> = {
  name: 'entitlement', noun: 'entitlement', table: 'entitlements', keyColumns: ['target', 'ent_key'], collection: 'entitlements',
  key: (e) => [e.target, e.key],
  parse: (input) => parseWith(entitlementInput, 'entitlement', input),
  write: (tx, e, stamp, existed) => upsertRow(tx, 'entitlements', ['target', 'ent_key'], [e.target, e.key], {
    kind: e.kind, display_name: e.displayName ?? null, description: e.description ?? null, requestable: flag(e.requestable), risk: e.risk,
  }, stamp, existed),
  remove: (tx, key) => deleteRow(tx, 'entitlements', ['target', 'ent_key'], key),
  references: async (sql, catalog, [target, key]) => {
    const item = entitlementItem(target!, key!);
    return { ...itemReferences(catalog, item), grants: await grantCount(sql, item) };
  },
};

const ROLES: Kind<Role> = {
  name: 'role', noun: 'role', table: 'roles', keyColumns: ['name'], collection: 'roles',
  key: (r) => [r.name],
  parse: (input) => checkRoleLists(parseWith(roleInput, 'role', input)),
  write: async (tx, role, stamp, existed) => {
    await writeRoleRow(tx, role, stamp, existed);
    await deleteRoleLinks(tx, role.name);
    await insertRoleLinks(tx, role);
  },
  remove: async (tx, [name]) => {
    await deleteRoleLinks(tx, name!);
    await deleteRow(tx, 'roles', ['name'], [name!]);
  },
  references: async (sql, catalog, [name]) => {
    const item = roleItem(name!);
    return { ...itemReferences(catalog, item), grants: await grantCount(sql, item) };
  },
};

const BIRTHRIGHT_RULES: Kind<BirthrightRule> = {
  name: 'birthrightRule', noun: 'birthright rule', table: 'birthright_rules', keyColumns: ['name'], collection: 'birthrightRules',
  key: (r) => [r.name],
  parse: (input) => normalizeBirthrightRule(parseWith(birthrightRuleInput, 'birthright rule', input)),
  write: (tx, r, stamp, existed) => upsertRow(tx, 'birthright_rules', ['name'], [r.name], {
    description: r.description ?? null, expression: r.expression, effect: r.effect, item: r.item, enabled: flag(r.enabled),
  }, stamp, existed),
  remove: (tx, key) => deleteRow(tx, 'birthright_rules', ['name'], key),
  // Its grants are not references: they go with it, through the birthright recompute.
  references: async () => noReferences(),
};

const SOD_RULES: Kind<SodRule> = {
  name: 'sodRule', noun: 'SoD rule', table: 'sod_rules', keyColumns: ['name'], collection: 'sodRules',
  key: (r) => [r.name],
  parse: (input) => parseWith(sodRuleInput, 'SoD rule', input),
  write: (tx, r, stamp, existed) => upsertRow(tx, 'sod_rules', ['name'], [r.name], {
    description: r.description ?? null, severity: r.severity,
    left_mode: r.left.mode, left_items: JSON.stringify(r.left.items), right_mode: r.right.mode, right_items: JSON.stringify(r.right.items),
    enabled: flag(r.enabled), owner: r.owner ?? null,
  }, stamp, existed),
  // Exceptions to a rule mean nothing without it.
  remove: async (tx, key) => {
    await tx.execute('DELETE FROM sod_exceptions WHERE rule = ?', key);
    await deleteRow(tx, 'sod_rules', ['name'], key);
  },
  references: async () => noReferences(),
};

// Kinds of different entry types side by side (hence any): each is only ever handed its own entries.
const KINDS: Record<Collection, Kind<any>> = {
  targets: TARGETS, entitlements: ENTITLEMENTS, roles: ROLES, birthrightRules: BIRTHRIGHT_RULES, sodRules: SOD_RULES,
};

/** The same JSON for equal entries: keys sorted, absent and null alike. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null) return undefined;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== null && x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

const sameEntry = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

/** What an update changed, field by field; list fields as what was added and removed. */
function changedFields(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const from = before[field];
    const to = after[field];
    if (sameEntry(from ?? null, to ?? null)) continue;
    if (Array.isArray(from) && Array.isArray(to)) {
      const f = from.map(canonicalJson);
      const t = to.map(canonicalJson);
      out[field] = { added: to.filter((_, i) => !f.includes(t[i]!)), removed: from.filter((_, i) => !t.includes(f[i]!)) };
    } else {
      out[field] = { from: from ?? null, to: to ?? null };
    }
  }
  return out;
}

function describeReferences(refs: References): string[] {
  const some = (names: string[]) => (names.length > 10 ? `${names.slice(0, 10).join(', ')} and ${names.length - 10} more` : names.join(', '));
  const parts: string[] = [];
  if (refs.entitlements.length > 0) parts.push(`it still has entitlements ${some(refs.entitlements)}`);
  if (refs.roles.length > 0) parts.push(`roles ${some(refs.roles)} inherit or bundle it`);
  if (refs.birthrightRules.length > 0) parts.push(`birthright rules ${some(refs.birthrightRules)} name it`);
  if (refs.sodRules.length > 0) parts.push(`SoD rules ${some(refs.sodRules)} name it`);
  if (refs.grants > 0) parts.push(`${refs.grants} grant${refs.grants === 1 ? '' : 's'} hold it`);
  return parts;
}

/** At most this many names of each kind go into an import's audit event; the counts are always complete. */
const AUDITED_NAMES = 200;

/** Reads and changes the live catalogue; see the top of this file for what every write does. */
export class PolicyStore {

  constructor(
    private readonly db: Database,
    private readonly changes: PolicyChangeLog,
    private readonly birthright: BirthrightService,
  ) {}

  /** The live catalogue (as `sql` sees it, when given a transaction). */
  async catalog(sql?: Sql): Promise<Catalog> {
    return (await CatalogCache.of(this.db).read(sql ?? this.db)).catalog;
  }

  listTargets(): Promise<Versioned<TargetInput>[]> {
    return this.list(TARGETS);
  }
  getTarget(name: string): Promise<Versioned<TargetInput>> {
    return this.get(TARGETS, [name]);
  }
  /** Creates or replaces a target. */
  putTarget(input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<TargetInput>> {
    return this.put(TARGETS, input, ctx, ifVersion);
  }
  /** Deletes a target that no entitlement belongs to. */
  async deleteTarget(name: string, ctx: ChangeContext, ifVersion?: number): Promise<void> {
    await this.remove(TARGETS, [name], ctx, ifVersion);
  }

  async listEntitlements(filter: { target?: string } = {}): Promise<Versioned<Entitlement>[]> {
    const all = await this.list(ENTITLEMENTS);
    return filter.target === undefined ? all : all.filter((e) => e.target === filter.target);
  }
  getEntitlement(target: string, key: string): Promise<Versioned<Entitlement>> {
    return this.get(ENTITLEMENTS, [target, key]);
  }
  /** Creates or replaces an entitlement of an existing target. */
  putEntitlement(input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<Entitlement>> {
    return this.put(ENTITLEMENTS, input, ctx, ifVersion);
  }
  /** Deletes an entitlement no role, rule or grant names. */
  async deleteEntitlement(target: string, key: string, ctx: ChangeContext, ifVersion?: number): Promise<void> {
    await this.remove(ENTITLEMENTS, [target, key], ctx, ifVersion);
  }

  listRoles(): Promise<Versioned<Role>[]> {
    return this.list(ROLES);
  }
  getRole(name: string): Promise<Versioned<Role>> {
    return this.get(ROLES, [name]);
  }
  /** Creates or replaces a role; its parents and entitlements must exist and inheritance may not loop. */
  putRole(input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<Role>> {
    return this.put(ROLES, input, ctx, ifVersion);
  }
  /** Deletes a role no role, rule or grant names. */
  async deleteRole(name: string, ctx: ChangeContext, ifVersion?: number): Promise<void> {
    await this.remove(ROLES, [name], ctx, ifVersion);
  }

  listBirthrightRules(): Promise<Versioned<BirthrightRule>[]> {
    return this.list(BIRTHRIGHT_RULES);
  }
  getBirthrightRule(name: string): Promise<Versioned<BirthrightRule>> {
    return this.get(BIRTHRIGHT_RULES, [name]);
  }
  /** Creates or replaces a birthright rule (expression stored canonical) and recomputes the grants it affects. */
  putBirthrightRule(input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<BirthrightRule>> {
    return this.put(BIRTHRIGHT_RULES, input, ctx, ifVersion);
  }
  /** Deletes a birthright rule; the grants it made go with it. */
  async deleteBirthrightRule(name: string, ctx: ChangeContext, ifVersion?: number): Promise<{ recompute?: RecomputeReport }> {
    return this.remove(BIRTHRIGHT_RULES, [name], ctx, ifVersion);
  }

  listSodRules(): Promise<Versioned<SodRule>[]> {
    return this.list(SOD_RULES);
  }
  getSodRule(name: string): Promise<Versioned<SodRule>> {
    return this.get(SOD_RULES, [name]);
  }
  /** Creates or replaces an SoD rule; existing violations show in the report, they are not revoked. */
  putSodRule(input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<SodRule>> {
    return this.put(SOD_RULES, input, ctx, ifVersion);
  }
  /** Deletes an SoD rule and the exceptions recorded for it. */
  async deleteSodRule(name: string, ctx: ChangeContext, ifVersion?: number): Promise<void> {
    await this.remove(SOD_RULES, [name], ctx, ifVersion);
  }

  /**
   * Replaces the whole live policy by `doc` (an import, or the first-start seed): one transaction,
   * one new policy version (none when nothing differs), one audit event, and the birthright
   * grants of the identities whose rules changed recomputed. Refused whole when the result does
   * not hold together or when grants still hold an item it removes.
   */
  async replaceAll(doc: unknown, ctx: ChangeContext): Promise<ReplaceResult> {
    const parsed = parseWith(catalogDocument, 'policy document', doc);
    const next: CatalogDocument = {
      ...parsed,
      roles: parsed.roles.map(checkRoleLists),
      birthrightRules: parsed.birthrightRules.map(normalizeBirthrightRule),
    };
    return this.db.transaction(async (tx) => {
      const { version: current, catalog: before } = await CatalogCache.of(this.db).read(tx, 'update');
      const after = Catalog.fromDocument(next);
      const diff = diffDocuments(before.document, after.document);
      const counts = Object.fromEntries(COLLECTIONS.map((c) => [c, { created: diff[c].created.length, updated: diff[c].updated.length, deleted: diff[c].deleted.length }])) as ReplaceCounts;
      if (COLLECTIONS.every((c) => diff[c].created.length + diff[c].updated.length + diff[c].deleted.length === 0)) {
        return { version: current, changes: counts, recompute: await this.birthright.applyRuleChange(tx, before, after, ctx) };
      }
      const removedItems = [
        ...diff.roles.deleted.map((r: Role) => roleItem(r.name)),
        ...diff.entitlements.deleted.map((e: Entitlement) => entitlementItem(e.target, e.key)),
      ];
      // Fail fast on grants no recompute will take away; the check after the recompute is the exact one.
      await refuseHeldItems(tx, removedItems, "source <> 'birthright'");
      await this.writeDiff(tx, diff);
      const version = await this.changes.catalogChanged(tx);
      const recompute = await this.birthright.applyRuleChange(tx, before, after, ctx);
      await refuseHeldItems(tx, removedItems);
      const named = (entries: unknown[], c: Collection) => entries.slice(0, AUDITED_NAMES).map((e) => label(KINDS[c].key(e)));
      await recordAudit(tx, {
        actor: ctx.actor, action: 'policy.replace', targetType: 'policy', targetId: String(version), requestId: ctx.requestId,
        details: {
          policyVersion: version, counts,
          changes: Object.fromEntries(COLLECTIONS.map((c) => [c, { created: named(diff[c].created, c), updated: named(diff[c].updated, c), deleted: named(diff[c].deleted, c) }])),
          recompute: { identities: recompute.identities, added: recompute.added, removed: recompute.removed, revokedByDeny: recompute.revokedByDeny },
        },
      });
      return { version, changes: counts, recompute };
    });
  }

  /** Writes an import's differences in an order the foreign keys accept: parents before children, children deleted before parents. */
  private async writeDiff(tx: Transaction, diff: DocumentDiff): Promise<void> {
    const now = new Date().toISOString();
    const stampsOf = async (kind: Kind<unknown>) => {
      const rows = await tx.query<Record<string, string | number>>(`SELECT ${kind.keyColumns.join(', ')}, version, created FROM ${kind.table}`);
      return new Map(rows.map((r) => [label(kind.keyColumns.map((k) => String(r[k]))), { version: Number(r.version), created: String(r.created) }]));
    };
    const upsert = async <T>(kind: Kind<T>, part: DiffPart<T>, write: (entry: T, stamp: Stamp, existed: boolean) => Promise<void>) => {
      const stamps = await stampsOf(kind as Kind<unknown>);
      for (const entry of part.created) await write(entry, { version: 1, created: now, lastModified: now }, false);
      for (const entry of part.updated) {
        const old = stamps.get(label(kind.key(entry)));
        await write(entry, { version: (old?.version ?? 0) + 1, created: old?.created ?? now, lastModified: now }, true);
      }
    };
    await upsert(TARGETS, diff.targets, (e, s, x) => TARGETS.write(tx, e, s, x));
    await upsert(ENTITLEMENTS, diff.entitlements, (e, s, x) => ENTITLEMENTS.write(tx, e, s, x));
    // Every role row first, then the links, so a link may name a role created in the same import.
    await upsert(ROLES, diff.roles, (r, s, x) => writeRoleRow(tx, r, s, x));
    for (const role of [...diff.roles.updated, ...diff.roles.deleted]) await deleteRoleLinks(tx, role.name);
    for (const role of [...diff.roles.created, ...diff.roles.updated]) await insertRoleLinks(tx, role);
    for (const kind of [BIRTHRIGHT_RULES, SOD_RULES] as Kind<any>[]) {
      for (const entry of diff[kind.collection].deleted) await kind.remove(tx, kind.key(entry));
      await upsert(kind, diff[kind.collection], (e, s, x) => kind.write(tx, e, s, x));
    }
    for (const role of diff.roles.deleted) await deleteRow(tx, 'roles', ['name'], [role.name]);
    for (const e of diff.entitlements.deleted) await ENTITLEMENTS.remove(tx, ENTITLEMENTS.key(e));
    for (const t of diff.targets.deleted) await TARGETS.remove(tx, TARGETS.key(t));
  }

  private async list<T>(kind: Kind<T>): Promise<Versioned<T>[]> {
    return this.db.transaction(async (tx) => {
      const { catalog } = await CatalogCache.of(this.db).read(tx);
      const rows = await tx.query<Record<string, string | number>>(`SELECT ${kind.keyColumns.join(', ')}, version, created, last_modified FROM ${kind.table}`);
      const stamps = new Map(rows.map((r) => [label(kind.keyColumns.map((k) => String(r[k]))), toStamp(r)]));
      return (catalog.document[kind.collection] as T[]).map((entry) => ({ ...entry, ...stamps.get(label(kind.key(entry)))! }));
    });
  }

  private async get<T>(kind: Kind<T>, key: string[]): Promise<Versioned<T>> {
    return this.db.transaction(async (tx) => {
      const { catalog } = await CatalogCache.of(this.db).read(tx);
      const entry = findEntry(catalog, kind, key);
      const stamp = await readStamp(tx, kind, key);
      if (entry === undefined || !stamp) throw new PolicyError('notFound', `${kind.noun} ${label(key)} does not exist`);
      return { ...entry, ...stamp };
    });
  }

  private async put<T>(kind: Kind<T>, input: unknown, ctx: ChangeContext, ifVersion?: number): Promise<PutResult<T>> {
    const entry = kind.parse(input);
    const key = kind.key(entry);
    return this.db.transaction(async (tx) => {
      const { catalog: before } = await CatalogCache.of(this.db).read(tx, 'update');
      const stamp = await readStamp(tx, kind, key);
      checkVersion(kind, key, stamp, ifVersion);
      const list = before.document[kind.collection] as T[];
      const index = list.findIndex((e) => label(kind.key(e)) === label(key));
      const previous = index >= 0 ? list[index] : undefined;
      // An unchanged entry is not a change: no new version, no audit event, no recompute.
      if (previous !== undefined && stamp && sameEntry(previous, entry)) return { created: false, value: { ...previous, ...stamp } };
      const after = Catalog.fromDocument({ ...before.document, [kind.collection]: index >= 0 ? list.map((e, i) => (i === index ? entry : e)) : [...list, entry] });
      const now = new Date().toISOString();
      const next: Stamp = stamp ? { version: stamp.version + 1, created: stamp.created, lastModified: now } : { version: 1, created: now, lastModified: now };
      await kind.write(tx, entry, next, stamp !== undefined);
      const policyVersion = await this.changes.catalogChanged(tx);
      const stored = findEntry(after, kind, key)!;
      await recordAudit(tx, {
        actor: ctx.actor, action: `${kind.name}.${previous === undefined ? 'create' : 'update'}`, targetType: kind.name, targetId: label(key),
        requestId: ctx.requestId,
        details: {
          ...(previous === undefined ? { after: stored } : { changed: changedFields(previous as Record<string, unknown>, stored as Record<string, unknown>) }),
          version: next.version, policyVersion,
        },
      });
      const recompute = changesRuleOutcomes(kind) ? await this.birthright.applyRuleChange(tx, before, after, ctx) : undefined;
      return { created: previous === undefined, value: { ...stored, ...next }, ...(recompute && { recompute }) };
    });
  }

  private async remove<T>(kind: Kind<T>, key: string[], ctx: ChangeContext, ifVersion?: number): Promise<{ recompute?: RecomputeReport }> {
    return this.db.transaction(async (tx) => {
      const { catalog: before } = await CatalogCache.of(this.db).read(tx, 'update');
      const stamp = await readStamp(tx, kind, key);
      const previous = findEntry(before, kind, key);
      if (!stamp || previous === undefined) throw new PolicyError('notFound', `${kind.noun} ${label(key)} does not exist`);
      checkVersion(kind, key, stamp, ifVersion);
      const refs = await kind.references(tx, before, key);
      const uses = describeReferences(refs);
      if (uses.length > 0) throw new PolicyError('conflict', `${kind.noun} ${label(key)} is still in use: ${uses.join('; ')}`, { references: refs });
      const after = Catalog.fromDocument({ ...before.document, [kind.collection]: (before.document[kind.collection] as T[]).filter((e) => label(kind.key(e)) !== label(key)) });
      const exceptions = kind === (SOD_RULES as Kind<unknown>) ? await readSodExceptions(tx, { rule: key[0] }) : [];
      await kind.remove(tx, key);
      const policyVersion = await this.changes.catalogChanged(tx);
      await recordAudit(tx, {
        actor: ctx.actor, action: `${kind.name}.delete`, targetType: kind.name, targetId: label(key), requestId: ctx.requestId,
        details: { before: previous, version: stamp.version, policyVersion, ...(exceptions.length > 0 && { exceptionsDeleted: exceptions.map((e) => e.id) }) },
      });
      const recompute = changesRuleOutcomes(kind) ? await this.birthright.applyRuleChange(tx, before, after, ctx) : undefined;
      return recompute ? { recompute } : {};
    });
  }
}

/**
 * Whether a change of this kind can change what birthright rules do: a rule change obviously,
 * and a role change when it changes which roles give an item a deny rule keeps from people.
 */
function changesRuleOutcomes(kind: Kind<unknown>): boolean {
  return kind === (BIRTHRIGHT_RULES as Kind<unknown>) || kind === (ROLES as Kind<unknown>);
}

function toStamp(row: Record<string, string | number>): Stamp {
  return { version: Number(row.version), created: String(row.created), lastModified: String(row.last_modified) };
}

async function readStamp(sql: Sql, kind: Kind<unknown>, key: string[]): Promise<Stamp | undefined> {
  const [row] = await sql.query<Record<string, string | number>>(
    `SELECT version, created, last_modified FROM ${kind.table} WHERE ${kind.keyColumns.map((k) => `${k} = ?`).join(' AND ')}`, key);
  return row ? toStamp(row) : undefined;
}

function findEntry<T>(catalog: Catalog, kind: Kind<T>, key: string[]): T | undefined {
  return (catalog.document[kind.collection] as T[]).find((e) => label(kind.key(e)) === label(key));
}

/** Throws preconditionFailed unless the entry is at the version the caller expects (0: absent). */
function checkVersion(kind: Kind<unknown>, key: string[], stamp: Stamp | undefined, ifVersion: number | undefined): void {
  if (ifVersion === undefined) return;
  const current = stamp?.version ?? 0;
  if (current === ifVersion) return;
  throw new PolicyError('preconditionFailed', stamp
    ? `${kind.noun} ${label(key)} is at version ${current}, not ${ifVersion}`
    : `${kind.noun} ${label(key)} does not exist (expected version ${ifVersion})`, { version: current });
}

/** Refuses when grants (matching `condition`) still hold any of the items. */
async function refuseHeldItems(tx: Transaction, items: string[], condition = '1 = 1'): Promise<void> {
  const held: string[] = [];
  for (const chunk of chunks(items)) {
    const rows = await tx.query<{ item: string; n: number | string }>(
      `SELECT item, COUNT(*) AS n FROM grants WHERE item IN (${placeholders(chunk.length)}) AND ${condition} GROUP BY item ORDER BY item`, chunk);
    for (const row of rows) held.push(`${row.item} (${Number(row.n)} grant${Number(row.n) === 1 ? '' : 's'})`);
  }
  if (held.length > 0) throw new PolicyError('conflict', `the new policy removes items that grants still hold: ${held.join(', ')}; revoke those grants first`, { held });
}

interface DiffPart<T> {
  created: T[];
  updated: T[];
  deleted: T[];
}
type DocumentDiff = { [C in Collection]: DiffPart<CatalogDocument[C][number]> };

/** Which entries of each kind are new, changed or gone between two documents. */
function diffDocuments(before: CatalogDocument, after: CatalogDocument): DocumentDiff {
  const part = <T>(kind: Kind<T>, old: T[], now: T[]): DiffPart<T> => {
    const oldBy = new Map(old.map((e) => [label(kind.key(e)), e]));
    const nowKeys = new Set(now.map((e) => label(kind.key(e))));
    const created: T[] = [];
    const updated: T[] = [];
    for (const entry of now) {
      const previous = oldBy.get(label(kind.key(entry)));
      if (previous === undefined) created.push(entry);
      else if (!sameEntry(previous, entry)) updated.push(entry);
    }
    return { created, updated, deleted: old.filter((e) => !nowKeys.has(label(kind.key(e)))) };
  };
  return {
    targets: part(TARGETS, before.targets, after.targets),
    entitlements: part(ENTITLEMENTS, before.entitlements, after.entitlements),
    roles: part(ROLES, before.roles, after.roles),
    birthrightRules: part(BIRTHRIGHT_RULES, before.birthrightRules, after.birthrightRules),
    sodRules: part(SOD_RULES, before.sodRules, after.sodRules),
  };
}

