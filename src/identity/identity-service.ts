import { insertRows } from '../db/batches.js';
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../audit/recorder.js';
import { forUpdate, uniqueViolation, type Database, type Transaction } from '../db/database.js';
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

/** Attributes access decisions read from an identity: a change to one must reach the policy engine. */
const DECISION_ATTRIBUTES = ['userName', 'active'];

/**
 * The one write path for identities. SCIM handlers and HR imports both call it, so a change
 * means the same thing whichever door it came through; each change is audited in its own
 * transaction. With a PolicyChangeLog, every change that access decisions depend on (an
 * identity created or deleted, its userName or active flag changed) is recorded in the same
 * transaction, so every server instance's policy engine reloads that identity.
 */
export class IdentityService {
  constructor(private readonly db: Database, private readonly changes?: PolicyChangeLog) {}

  /** Reads one identity. */
  async get(id: string): Promise<StoredResource | undefined> {
    const [row] = await this.db.query<ResourceRow>('SELECT id, doc, version, created, last_modified FROM identities WHERE id = ?', [id]);
    return row ? fromRow(row) : undefined;
  }

  /** Creates an identity from a validated User document. */
  async create(doc: Doc, ctx: ChangeContext): Promise<StoredResource> {
    const id = randomUUID();
    const now = new Date().toISOString();
    const body = withDefaults(doc);
    return this.db.transaction(async (tx) => {
      await insertIdentity(tx, id, body, now);
      await this.changes?.identitiesChanged(tx, [id]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'identity.create', targetType: 'identity', targetId: id, requestId: ctx.requestId,
        details: { after: summary(body) },
      });
      return { id, doc: body, version: 1, created: now, lastModified: now };
    }).catch(rethrowConflict(body));
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
      const changed = changedAttributes(before.doc, next);
      if (Object.keys(changed).length === 0) return { before, after: before };
      const now = new Date().toISOString();
      await tx.execute(
        `UPDATE identities SET ${COLUMN_NAMES.map((c) => `${c} = ?`).join(', ')}, display_label = ?, doc = ?, version = version + 1, last_modified = ? WHERE id = ?`,
        [...columnValues(next, USER_COLUMNS), next.displayName ?? null, storedDoc(next, 'User'), now, id],
      );
      if (MULTI_VALUED.some((attr) => attr in changed)) {
        await tx.execute('DELETE FROM identity_values WHERE identity_id = ?', [id]);
        await insertValues(tx, id, next);
      }
      if (DECISION_ATTRIBUTES.some((attr) => attr in changed)) await this.changes?.identitiesChanged(tx, [id]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'identity.update', targetType: 'identity', targetId: id, requestId: ctx.requestId,
        details: { changed },
      });
      return { before, after: { id, doc: next, version: before.version + 1, created: before.created, lastModified: now } };
    }).catch(rethrowConflict());
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
      return { before };
    });
  }
}

async function lockIdentity(tx: Transaction, id: string): Promise<StoredResource> {
  const [row] = await tx.query<ResourceRow>(`SELECT id, doc, version, created, last_modified FROM identities WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
  if (!row) throw notFound('User', id);
  return fromRow(row);
}

async function insertIdentity(tx: Transaction, id: string, doc: Doc, now: string): Promise<void> {
  await tx.execute(
    `INSERT INTO identities (id, ${COLUMN_NAMES.join(', ')}, display_label, version, created, last_modified, doc)
     VALUES (?, ${COLUMN_NAMES.map(() => '?').join(', ')}, ?, 1, ?, ?, ?)`,
    [id, ...columnValues(doc, USER_COLUMNS), doc.displayName ?? null, now, now, storedDoc(doc, 'User')],
  );
  await insertValues(tx, id, doc);
}

// Rows per INSERT: SQLite allows 32,766 parameters per statement and MySQL 65,535, while a User
// may carry thousands of values (each row takes 13 parameters).
const VALUE_ROWS_PER_INSERT = 500;

async function insertValues(tx: Transaction, id: string, doc: Doc): Promise<void> {
  await insertRows(tx, 'identity_values', VALUE_ROW_COLUMNS, valueRows(id, doc), VALUE_ROWS_PER_INSERT);
}

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
