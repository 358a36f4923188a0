import { randomUUID } from 'node:crypto';
import { recordAudit, type AuditEntry } from '../audit/recorder.js';
import { forShare, forUpdate, insertIgnore, type Database, type Transaction } from '../db/database.js';
import { GROUP_COLUMNS } from '../scim/sql-map.js';
import { columnValues, storedDoc } from './columns.js';
import { IdentityError, notFound } from './errors.js';
import { changedAttributes, checkVersion, fromRow, type ChangeContext, type ResourceRow, type StoredResource } from './resources.js';

type Doc = Record<string, unknown>;

/** A change to a group's members, expressed as row operations so concurrent changes compose. */
export type MemberChange =
  | { kind: 'add'; ids: string[] }
  | { kind: 'remove'; ids: string[] }
  | { kind: 'removeAll' }
  | { kind: 'set'; ids: string[] }
  /** Removes the members a query selects; it runs inside the transaction, after earlier changes. */
  | { kind: 'removeSelected'; select: (tx: Transaction, groupId: string) => Promise<string[]> };

/** What a group update asks for: a new document (members excluded) and member changes, in order. */
export interface GroupUpdate {
  doc?: (current: Doc) => Doc | Promise<Doc>;
  members: MemberChange[];
}

const COLUMN_NAMES = GROUP_COLUMNS.map((c) => c.column);

/**
 * Writes groups. Members live in `group_members` rows, never inside the group document: adding one
 * is an insert that ignores duplicates, so fifty concurrent additions all land, and a change that
 * does not mention members never touches them.
 */
export class GroupService {
  constructor(private readonly db: Database) {}

  /** Reads one group (without members). */
  async get(id: string): Promise<StoredResource | undefined> {
    const [row] = await this.db.query<ResourceRow>('SELECT id, doc, version, created, last_modified FROM directory_groups WHERE id = ?', [id]);
    return row ? fromRow(row) : undefined;
  }

  /** Creates a group with its initial members. */
  async create(doc: Doc, memberIds: string[], ctx: ChangeContext): Promise<StoredResource> {
    const id = randomUUID();
    const now = new Date().toISOString();
    return this.db.transaction(async (tx) => {
      await tx.execute(
        `INSERT INTO directory_groups (id, ${COLUMN_NAMES.join(', ')}, display_label, version, created, last_modified, doc)
         VALUES (?, ${COLUMN_NAMES.map(() => '?').join(', ')}, ?, 1, ?, ?, ?)`,
        [id, ...columnValues(doc, GROUP_COLUMNS), String(doc.displayName), now, now, storedDoc(doc, 'Group')],
      );
      const added = await addMembers(tx, id, memberIds, now);
      await recordAudit(tx, memberAudit(
        { actor: ctx.actor, action: 'group.create', targetType: 'group', targetId: id, requestId: ctx.requestId },
        { after: { ...doc, schemas: undefined } }, added,
      ));
      return { id, doc, version: 1, created: now, lastModified: now };
    });
  }

  /** Applies an update under a lock on the group row; `ifVersion` makes it conditional. */
  async update(id: string, update: GroupUpdate, ctx: ChangeContext, ifVersion?: number[]): Promise<{ before: StoredResource; after: StoredResource }> {
    return this.db.transaction(async (tx) => {
      // Locking the group row first also orders the member inserts below, whose foreign key
      // would otherwise take shared locks that deadlock against the version bump.
      const [row] = await tx.query<ResourceRow>(`SELECT id, doc, version, created, last_modified FROM directory_groups WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
      if (!row) throw notFound('Group', id);
      const before = fromRow(row);
      checkVersion(before, ifVersion);
      const now = new Date().toISOString();
      const next = update.doc ? await update.doc(structuredClone(before.doc)) : before.doc;
      const changed = changedAttributes(before.doc, next);
      const members = { added: [] as string[], removed: [] as string[] };
      for (const change of update.members) await applyMemberChange(tx, id, change, now, members);
      if (Object.keys(changed).length === 0 && members.added.length === 0 && members.removed.length === 0) {
        return { before, after: before };
      }
      await tx.execute(
        `UPDATE directory_groups SET ${COLUMN_NAMES.map((c) => `${c} = ?`).join(', ')}, display_label = ?, doc = ?, version = version + 1, last_modified = ? WHERE id = ?`,
        [...columnValues(next, GROUP_COLUMNS), String(next.displayName), storedDoc(next, 'Group'), now, id],
      );
      await recordAudit(tx, memberAudit(
        { actor: ctx.actor, action: 'group.update', targetType: 'group', targetId: id, requestId: ctx.requestId },
        { changed }, members.added, members.removed,
      ));
      return { before, after: { id, doc: next, version: before.version + 1, created: before.created, lastModified: now } };
    });
  }

  /** Deletes a group, its member rows, and its own memberships in other groups. */
  async remove(id: string, ctx: ChangeContext, ifVersion?: number[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [row] = await tx.query<ResourceRow>(`SELECT id, doc, version, created, last_modified FROM directory_groups WHERE id = ?${forUpdate(tx.dialect)}`, [id]);
      if (!row) throw notFound('Group', id);
      checkVersion(fromRow(row), ifVersion);
      await tx.execute('DELETE FROM group_members WHERE member_id = ?', [id]);
      await tx.execute('DELETE FROM directory_groups WHERE id = ?', [id]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'group.delete', targetType: 'group', targetId: id, requestId: ctx.requestId,
        details: { before: { ...fromRow(row).doc, schemas: undefined } },
      });
    });
  }
}

// Member ids one audit event lists: a push of tens of thousands of members is written as several
// events of bounded size, so each stays quick to export and to read.
const AUDIT_IDS_PER_EVENT = 1000;

/**
 * The audit events of a group change: one event with `details` and the member ids, continued by
 * `group.members` events (same request, `part` i of `parts`) when the ids do not fit in one.
 */
function memberAudit(base: Omit<AuditEntry, 'details'>, details: Doc, added: string[], removed?: string[]): AuditEntry[] {
  const ids = [...added.map((id) => ['membersAdded', id] as const), ...(removed ?? []).map((id) => ['membersRemoved', id] as const)];
  const parts = Math.max(1, Math.ceil(ids.length / AUDIT_IDS_PER_EVENT));
  return Array.from({ length: parts }, (_, part) => {
    const slice = ids.slice(part * AUDIT_IDS_PER_EVENT, (part + 1) * AUDIT_IDS_PER_EVENT);
    const lists = {
      membersAdded: slice.filter(([k]) => k === 'membersAdded').map(([, id]) => id),
      ...(removed ? { membersRemoved: slice.filter(([k]) => k === 'membersRemoved').map(([, id]) => id) } : {}),
    };
    const paging = parts > 1 ? { part: part + 1, parts } : {};
    return part === 0
      ? { ...base, details: { ...details, ...lists, ...paging } }
      : { ...base, action: 'group.members', details: { ...lists, ...paging } };
  });
}

async function applyMemberChange(tx: Transaction, groupId: string, change: MemberChange, now: string, log: { added: string[]; removed: string[] }): Promise<void> {
  switch (change.kind) {
    case 'add':
      log.added.push(...(await addMembers(tx, groupId, change.ids, now)));
      return;
    case 'remove':
      log.removed.push(...(await removeMembers(tx, groupId, change.ids)));
      return;
    case 'removeAll':
      log.removed.push(...(await removeMembers(tx, groupId, await currentMembers(tx, groupId))));
      return;
    case 'removeSelected':
      log.removed.push(...(await removeMembers(tx, groupId, await change.select(tx, groupId))));
      return;
    case 'set': {
      const wanted = new Set(change.ids);
      const current = await currentMembers(tx, groupId);
      log.removed.push(...(await removeMembers(tx, groupId, current.filter((m) => !wanted.has(m)))));
      log.added.push(...(await addMembers(tx, groupId, change.ids, now)));
    }
  }
}

async function currentMembers(tx: Transaction, groupId: string): Promise<string[]> {
  const rows = await tx.query<{ member_id: string }>('SELECT member_id FROM group_members WHERE group_id = ?', [groupId]);
  return rows.map((r) => r.member_id);
}

const CHUNK = 500;

/** Inserts member rows, ignoring those already there; returns the ids actually added. Unknown ids are refused. */
async function addMembers(tx: Transaction, groupId: string, ids: string[], now: string): Promise<string[]> {
  const unique = [...new Set(ids)];
  const added: string[] = [];
  for (let i = 0; i < unique.length; i += CHUNK) {
    const chunk = unique.slice(i, i + CHUNK);
    const marks = chunk.map(() => '?').join(', ');
    // A shared lock on each member's row holds off its deletion until this transaction ends;
    // a plain read would let a concurrent DELETE commit in between and leave a member row that
    // names nobody. (SQLite runs one transaction at a time.)
    const share = forShare(tx.dialect);
    const found = [
      ...(await tx.query<{ id: string; member_type: string }>(`SELECT id, 'user' AS member_type FROM identities WHERE id IN (${marks})${share}`, chunk)),
      ...(await tx.query<{ id: string; member_type: string }>(`SELECT id, 'group' AS member_type FROM directory_groups WHERE id IN (${marks})${share}`, chunk)),
    ];
    const types = new Map(found.map((r) => [r.id, r.member_type]));
    const missing = chunk.filter((id) => !types.has(id));
    if (missing.length > 0) throw new IdentityError('invalid', `no User or Group with id ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ' …' : ''}`);
    if (chunk.includes(groupId)) throw new IdentityError('invalid', 'a group cannot be a member of itself');
    for (const id of chunk) {
      const inserted = await tx.execute(
        `${insertIgnore(tx.dialect)} INTO group_members (group_id, member_id, member_type, added) VALUES (?, ?, ?, ?)`,
        [groupId, id, types.get(id), now],
      );
      if (inserted > 0) added.push(id);
    }
  }
  return added;
}

async function removeMembers(tx: Transaction, groupId: string, ids: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const id of new Set(ids)) {
    if ((await tx.execute('DELETE FROM group_members WHERE group_id = ? AND member_id = ?', [groupId, id])) > 0) removed.push(id);
  }
  return removed;
}
