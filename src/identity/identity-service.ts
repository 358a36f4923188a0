import { chunks, insertRows, IN_LIST_SIZE, placeholders } from '../db/batches.js';
import { recordAudit, type AuditEntry } from '../audit/recorder.js';
import { forUpdate, uniqueViolation, type Database, type Transaction } from '../db/database.js';
import { timeOrderedId } from '../db/ids.js';
import type { PolicyChangeLog } from '../policy/changes.js';
import { USER_COLUMNS } from '../scim/sql-map.js';
import { columnValues, storedDoc, valueRows, VALUE_ROW_COLUMNS } from './columns.js';
import { IdentityError, notFound } from './errors.js';
import { changedAttributes, checkVersion, fromRow, type ChangeContext, type ResourceRow, type StoredResource } from './resources.js';

type Doc = Record<string, unknown>;

const COLUMN_NAMES = USER_COLUMNS.map((c) => c.column);
const MULTI_VALUED = ['emails', 'phoneNumbers', 'ims', 'photos', 'addresses', 'entitlements', 'roles', 'x509Certificates'];

/** The outcome of a change: the identity before and after, for the lifecycle to classify. */
export interface IdentityChange {
  before?: StoredResource;
  after?: StoredResource;
}

/**
 * What the lifecycle does with a change made through create, update or remove (SCIM, REST): it
 * runs in the change's transaction, so the identity and the access it causes commit together.
 * Feed imports write through insertMany/updateMany instead and run the lifecycle themselves, with
 * what the feed says (effective dates, HR status) that a SCIM change does not.
 */
export interface IdentityLifecycleHook {
  afterChange(tx: Transaction, change: IdentityChange, ctx: ChangeContext): Promise<void>;
}

/** A new identity for insertMany: its id is chosen by the caller, so reports can name a manager inserted in the same batch. */
export interface NewIdentity {
  id: string;
  doc: Doc;
  /** merged into the audit event's details (the lifecycle class, the feed row) */
  audit?: Record<string, unknown>;
}

/** A change for updateMany: the next document computed from the current one. */
export interface IdentityUpdate {
  id: string;
  change: (current: Doc) => Doc;
  audit?: Record<string, unknown>;
}

/** Attributes access decisions read from an identity: a change to one must reach the policy engine. */
const DECISION_ATTRIBUTES = ['userName', 'active'];

// Identity rows per INSERT: about 30 parameters each, within SQLite's 32,766.
const IDENTITY_ROWS_PER_INSERT = 500;
// Audit events per recordAudit call (9 parameters each).
const AUDIT_EVENTS_PER_INSERT = 1000;

/**
 * The one write path for identities. SCIM handlers and HR imports both call it, so a change
 * means the same thing whichever door it came through; each change is audited in its
 * transaction. With a PolicyChangeLog, every change that access decisions depend on (an
 * identity created or deleted, its userName or active flag changed) is recorded in the same
 * transaction, so every server instance's policy engine reloads that identity.
 */
export class IdentityService {
  constructor(
    private readonly db: Database,
    private readonly changes?: PolicyChangeLog,
    private readonly lifecycle?: IdentityLifecycleHook,
  ) {}

  /** Reads one identity. */
  async get(id: string): Promise<StoredResource | undefined> {
    const [row] = await this.db.query<ResourceRow>('SELECT id, doc, version, created, last_modified FROM identities WHERE id = ?', [id]);
    return row ? fromRow(row) : undefined;
  }

  /** Creates an identity from a validated User document. */
  async create(doc: Doc, ctx: ChangeContext): Promise<StoredResource> {
    const id = timeOrderedId();
    return this.db.transaction(async (tx) => {
      const [after] = await this.insertMany(tx, [{ id, doc }], ctx);
      await this.lifecycle?.afterChange(tx, { after }, ctx);
      return after!;
    }).catch(rethrowConflict(doc));
  }

  /**
   * Inserts identities in the caller's transaction, in multi-row statements, one audit event
   * each. The lifecycle hook is not run: the caller runs the lifecycle for the batch.
   */
  async insertMany(tx: Transaction, items: readonly NewIdentity[], ctx: ChangeContext): Promise<StoredResource[]> {
    const now = new Date().toISOString();
    const stored = items.map(({ id, doc }) => ({ id, doc: withDefaults(doc), version: 1, created: now, lastModified: now }));
    await insertRows(tx, 'identities', ['id', ...COLUMN_NAMES, 'display_label', 'version', 'created', 'last_modified', 'doc'],
      stored.map(({ id, doc }) => [id, ...columnValues(doc, USER_COLUMNS), doc.displayName ?? null, 1, now, now, storedDoc(doc, 'User')]),
      IDENTITY_ROWS_PER_INSERT);
    await insertRows(tx, 'identity_values', VALUE_ROW_COLUMNS, stored.flatMap(({ id, doc }) => valueRows(id, doc)), VALUE_ROWS_PER_INSERT);
    await this.changes?.identitiesChanged(tx, stored.map((s) => s.id));
    await recordAuditInBatches(tx, stored.map(({ id, doc }, i) => ({
      actor: ctx.actor, action: 'identity.create', targetType: 'identity', targetId: id, requestId: ctx.requestId,
      details: { after: summary(doc), ...items[i]!.audit },
    })));
    return stored;
  }

  /**
   * Applies `change` to the current document under a row lock and stores the result; `ifVersion`
   * makes it conditional (If-Match). Returns the identity unchanged when `change` changes nothing.
   */
  async update(id: string, change: (current: Doc) => Doc | Promise<Doc>, ctx: ChangeContext, ifVersion?: number[]): Promise<IdentityChange & { after: StoredResource }> {
    return this.db.transaction(async (tx) => {
      const before = await lockIdentity(tx, id);
      checkVersion(before, ifVersion);
      const next = withDefaults(await change(structuredClone(before.doc)));
      const [result] = await this.writeUpdates(tx, [{ before, next }], ctx);
      if (result!.after !== before) await this.lifecycle?.afterChange(tx, result!, ctx);
      return result!;
    }).catch(rethrowConflict());
  }

  /**
   * Applies changes to several identities in the caller's transaction: the rows are locked in one
   * statement, the audit events written in one. Identities that do not exist are skipped (absent
   * from the result). The lifecycle hook is not run: the caller runs the lifecycle for the batch.
   */
  async updateMany(tx: Transaction, updates: readonly IdentityUpdate[], ctx: ChangeContext): Promise<Array<IdentityChange & { before: StoredResource; after: StoredResource }>> {
    const current = new Map<string, StoredResource>();
    for (const chunk of chunks(updates.map((u) => u.id), IN_LIST_SIZE)) {
      const rows = await tx.query<ResourceRow>(`SELECT id, doc, version, created, last_modified FROM identities WHERE id IN (${placeholders(chunk.length)})${forUpdate(tx.dialect)}`, chunk);
      for (const row of rows) current.set(row.id, fromRow(row));
    }
    const planned = updates.filter((u) => current.has(u.id)).map((u) => {
      const before = current.get(u.id)!;
      return { before, next: withDefaults(u.change(structuredClone(before.doc))), audit: u.audit };
    });
    return this.writeUpdates(tx, planned, ctx);
  }

  /** Deletes an identity and its group memberships. */
  async remove(id: string, ctx: ChangeContext, ifVersion?: number[]): Promise<IdentityChange> {
    return this.db.transaction(async (tx) => {
      const before = await lockIdentity(tx, id);
      checkVersion(before, ifVersion);
      await tx.execute('DELETE FROM group_members WHERE member_id = ?', [id]);
      await tx.execute('DELETE FROM identities WHERE id = ?', [id]);
      await this.changes?.identitiesChanged(tx, [id]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'identity.delete', targetType: 'identity', targetId: id, requestId: ctx.requestId,
        details: { before: summary(before.doc) },
      });
      await this.lifecycle?.afterChange(tx, { before }, ctx);
      return { before };
    });
  }

  /** Stores the next documents of locked identities; an identity whose document is unchanged is returned as it was. */
  private async writeUpdates(
    tx: Transaction, planned: ReadonlyArray<{ before: StoredResource; next: Doc; audit?: Record<string, unknown> }>, ctx: ChangeContext,
  ): Promise<Array<IdentityChange & { before: StoredResource; after: StoredResource }>> {
    const now = new Date().toISOString();
    const results: Array<IdentityChange & { before: StoredResource; after: StoredResource }> = [];
    const audits: AuditEntry[] = [];
    const revalued: Array<{ id: string; doc: Doc }> = [];
    const decisive: string[] = [];
    for (const { before, next, audit } of planned) {
      const changed = changedAttributes(before.doc, next);
      if (Object.keys(changed).length === 0) {
        results.push({ before, after: before });
        continue;
      }
      const { id } = before;
      await tx.execute(
        `UPDATE identities SET ${COLUMN_NAMES.map((c) => `${c} = ?`).join(', ')}, display_label = ?, doc = ?, version = version + 1, last_modified = ? WHERE id = ?`,
        [...columnValues(next, USER_COLUMNS), next.displayName ?? null, storedDoc(next, 'User'), now, id],
      );
      if (MULTI_VALUED.some((attr) => attr in changed)) revalued.push({ id, doc: next });
      if (DECISION_ATTRIBUTES.some((attr) => attr in changed)) decisive.push(id);
      audits.push({
        actor: ctx.actor, action: 'identity.update', targetType: 'identity', targetId: id, requestId: ctx.requestId,
        details: { changed, ...audit },
      });
      results.push({ before, after: { id, doc: next, version: before.version + 1, created: before.created, lastModified: now } });
    }
    for (const chunk of chunks(revalued.map((r) => r.id), IN_LIST_SIZE)) {
      await tx.execute(`DELETE FROM identity_values WHERE identity_id IN (${placeholders(chunk.length)})`, chunk);
    }
    await insertRows(tx, 'identity_values', VALUE_ROW_COLUMNS, revalued.flatMap(({ id, doc }) => valueRows(id, doc)), VALUE_ROWS_PER_INSERT);
    if (decisive.length > 0) await this.changes?.identitiesChanged(tx, decisive);
    await recordAuditInBatches(tx, audits);
    return results;
  }
}

async function recordAuditInBatches(tx: Transaction, entries: readonly AuditEntry[]): Promise<void> {
  for (const batch of chunks(entries, AUDIT_EVENTS_PER_INSERT)) await recordAudit(tx, batch);
}

async function lockIdentity(tx: Transaction, id: string): Promise<StoredResource> {
  const [row] = await tx.query<ResourceRow>(`SELECT id, doc, version, created, last_modified FROM identities WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
  if (!row) throw notFound('User', id);
  return fromRow(row);
}

// Rows per INSERT: SQLite allows 32,766 parameters per statement and MySQL 65,535, while a User
// may carry thousands of values (each row takes 13 parameters).
const VALUE_ROWS_PER_INSERT = 500;

/** An identity is active unless it says otherwise; the stored document states it explicitly. */
function withDefaults(doc: Doc): Doc {
  return doc.active === undefined ? { ...doc, active: true } : doc;
}

function summary(doc: Doc): Record<string, unknown> {
  const { schemas: _schemas, ...rest } = doc;
  return rest;
}

function rethrowConflict(doc?: Doc) {
  return (err: unknown): never => {
    const index = uniqueViolation(err);
    if (index && /user_name/.test(index)) {
      throw new IdentityError('conflict', `userName ${doc?.userName ? `"${String(doc.userName)}" ` : ''}is already taken`);
    }
    throw err;
  };
}
