import { GROUP_RESOURCE } from './schema.js';
import { GROUP_SQL } from './sql-map.js';
import { applyPatch, resolvePatchPath, type PatchOperation } from './patch.js';
import { parsePatchRequest } from './patch-request.js';
import { validateGroup } from './validate.js';
import { etagOf, project, represent, wants, type Projection } from './render.js';
import { parseListQuery, queryPage, type ListQuery } from './list.js';
import { ifMatchVersions, listResponse, notModified, projectionOf, scimCall, type ScimCall, type ScimDeps, type ScimResult } from './context.js';
import { ScimError } from './errors.js';
import { valueFilterQuery } from './filter/to-sql.js';
import { fromRow, type StoredResource } from '../identity/resources.js';
import type { MemberChange } from '../identity/group-service.js';
import type { Sql } from '../db/database.js';

type Doc = Record<string, unknown>;

/** The `members` attribute of each group, read in one query for a page of groups. */
async function membersOf(sql: Sql, ids: string[], baseUrl: string): Promise<Map<string, Doc[]>> {
  const out = new Map<string, Doc[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const rows = await sql.query<{ group_id: string; member_id: string; member_type: string; user_label: string | null; group_label: string | null }>(
    `SELECT m.group_id, m.member_id, m.member_type, i.display_label AS user_label, g.display_label AS group_label
       FROM group_members m
       LEFT JOIN identities i ON i.id = m.member_id
       LEFT JOIN directory_groups g ON g.id = m.member_id
      WHERE m.group_id IN (${ids.map(() => '?').join(', ')}) ORDER BY m.added, m.member_id`,
    ids,
  );
  for (const r of rows) {
    const isGroup = r.member_type === 'group';
    const display = isGroup ? r.group_label : r.user_label;
    out.get(r.group_id)!.push({
      value: r.member_id,
      $ref: `${baseUrl}/${isGroup ? 'Groups' : 'Users'}/${r.member_id}`,
      type: isGroup ? 'Group' : 'User',
      ...(display ? { display } : {}),
    });
  }
  return out;
}

async function renderGroups(deps: ScimDeps, groups: StoredResource[], call: ScimCall, projection: Projection): Promise<Doc[]> {
  // Entra ID asks with excludedAttributes=members: then member rows are not even read.
  const members = wants(GROUP_RESOURCE, projection, 'members') ? await membersOf(deps.db, groups.map((g) => g.id), call.baseUrl) : undefined;
  return groups.map((g) => {
    const list = members?.get(g.id);
    return project(GROUP_RESOURCE, represent(GROUP_RESOURCE, g, call.baseUrl, list && list.length > 0 ? { members: list } : {}), projection);
  });
}

/** Member ids from a `members` value: one `{value}` object or a list of them. */
function memberIds(value: unknown): string[] {
  const list = value === null || value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.map((item, i) => {
    const entry = item && typeof item === 'object' ? Object.entries(item).find(([k]) => k.toLowerCase() === 'value') : undefined;
    if (!entry || typeof entry[1] !== 'string' || entry[1] === '') throw new ScimError(400, 'invalidValue', `members[${i}] needs a "value" naming a User or Group id`);
    return entry[1];
  });
}

function bodyMembers(body: unknown): string[] | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const key = Object.keys(body).find((k) => k.toLowerCase() === 'members');
  return key === undefined ? undefined : memberIds((body as Doc)[key]);
}

/**
 * Splits PATCH operations into member row changes and changes to the rest of the group. A
 * replace that does not name members leaves them alone; `remove members` with a value list
 * removes exactly those (as Entra ID sends it); `replace members []` empties the group (Okta).
 */
function splitGroupPatch(ops: PatchOperation[]): { docOps: PatchOperation[]; members: MemberChange[] } {
  const docOps: PatchOperation[] = [];
  const members: MemberChange[] = [];
  const memberChange = (op: PatchOperation['op'], value: unknown): MemberChange => {
    if (op === 'add') return { kind: 'add', ids: memberIds(value) };
    if (op === 'replace') return { kind: 'set', ids: memberIds(value) };
    return value === undefined ? { kind: 'removeAll' } : { kind: 'remove', ids: memberIds(value) };
  };
  for (const op of ops) {
    if (!op.path) {
      const rest: Doc = {};
      for (const [key, value] of Object.entries((op.value ?? {}) as Doc)) {
        if (key.toLowerCase() === 'members') members.push(memberChange(op.op, value));
        else rest[key] = value;
      }
      if (Object.keys(rest).length > 0) docOps.push({ ...op, value: rest });
      continue;
    }
    const target = resolvePatchPath(GROUP_RESOURCE, op.path);
    if ('extension' in target || target.def.name !== 'members') {
      docOps.push(op);
      continue;
    }
    if (target.sub) throw new ScimError(400, 'invalidPath', 'members are added, removed or replaced whole; a sub-attribute path is not supported');
    if (target.filter) {
      if (op.op !== 'remove') throw new ScimError(400, 'invalidPath', `${op.op} with a members[filter] path is not supported; use add or remove`);
      const filter = target.filter;
      members.push({
        kind: 'removeSelected',
        select: async (tx, groupId) => {
          const q = valueFilterQuery(GROUP_SQL, { attr: 'members' }, filter, groupId);
          return (await tx.query<{ value: string }>(q.sql, q.params)).map((r) => r.value);
        },
      });
      continue;
    }
    members.push(memberChange(op.op, op.value));
  }
  return { docOps, members };
}

async function load(deps: ScimDeps, id: string): Promise<StoredResource> {
  const group = await deps.groups.get(id);
  if (!group) throw new ScimError(404, undefined, `Group ${id} not found`);
  return group;
}

async function answer(deps: ScimDeps, call: ScimCall, group: StoredResource, status: number, location?: string): Promise<ScimResult> {
  const [body] = await renderGroups(deps, [group], call, projectionOf(call));
  return { status, body, headers: { ETag: etagOf(group.version), ...(location ? { Location: location } : {}) } };
}

/** SCIM handlers for /Groups. */
export const groups = {
  async search(deps: ScimDeps, call: ScimCall, query: ListQuery, projection: Projection): Promise<ScimResult> {
    const page = await queryPage(deps.db, GROUP_SQL, query, query.startIndex - 1, query.count);
    const resources = await renderGroups(deps, page.rows.map(fromRow), call, projection);
    return { status: 200, body: listResponse(page.total, query.startIndex, resources) };
  },

  async list(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
    return groups.search(deps, call, parseListQuery(call.query, deps.limits), projectionOf(call));
  },

  async get(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const group = await load(deps, id);
    if (notModified(call, group.version)) return { status: 304, headers: { ETag: etagOf(group.version) } };
    return answer(deps, call, group, 200);
  },

  async create(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
    const doc = validateGroup(call.body);
    const group = await scimCall(() => deps.groups.create(doc, bodyMembers(call.body) ?? [], call));
    return answer(deps, call, group, 201, `${call.baseUrl}/Groups/${group.id}`);
  },

  /** PUT replaces the group's attributes; members change only when the body names them. */
  async replace(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const doc = validateGroup(call.body);
    const ids = bodyMembers(call.body);
    const { after } = await scimCall(() =>
      deps.groups.update(id, { doc: () => doc, members: ids === undefined ? [] : [{ kind: 'set', ids }] }, call, ifMatchVersions(call)),
    );
    return answer(deps, call, after, 200);
  },

  async patch(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const { docOps, members } = splitGroupPatch(parsePatchRequest(call.body, id));
    const { after } = await scimCall(() =>
      deps.groups.update(id, {
        doc: docOps.length ? (current) => validateGroup(applyPatch(GROUP_RESOURCE, current, docOps)) : undefined,
        members,
      }, call, ifMatchVersions(call)),
    );
    // RFC 7644 §3.5.2 allows 204: a group may hold many thousands of members, and re-reading all
    // of them after every change would make each PATCH cost as much as a full read. A client that
    // wants the result says so with attributes or excludedAttributes.
    const asked = call.query.attributes !== undefined || call.query.excludedAttributes !== undefined;
    if (!asked) return { status: 204, headers: { ETag: etagOf(after.version) } };
    return answer(deps, call, after, 200);
  },

  async remove(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    await scimCall(() => deps.groups.remove(id, call, ifMatchVersions(call)));
    return { status: 204 };
  },
};

