import { USER_RESOURCE } from './schema.js';
import { USER_SQL } from './sql-map.js';
import { applyPatch } from './patch.js';
import { parsePatchRequest } from './patch-request.js';
import { validateUser } from './validate.js';
import { etagOf, project, represent, wants, type Projection } from './render.js';
import { parseListQuery, queryPage, type ListQuery } from './list.js';
import { ifMatchVersions, listResponse, notModified, projectionOf, scimCall, type ScimCall, type ScimDeps, type ScimResult } from './context.js';
import { ScimError } from './errors.js';
import { fromRow, type StoredResource } from '../identity/resources.js';
import type { Sql } from '../db/database.js';

type Doc = Record<string, unknown>;

/** The `groups` attribute of each user (RFC 7643 §4.1.2), read in one query for a page of users. */
async function groupsOf(sql: Sql, ids: string[], baseUrl: string): Promise<Map<string, Doc[]>> {
  const out = new Map<string, Doc[]>();
  if (ids.length === 0) return out;
  const rows = await sql.query<{ member_id: string; group_id: string; display_label: string }>(
    `SELECT m.member_id, m.group_id, g.display_label FROM group_members m JOIN directory_groups g ON g.id = m.group_id
      WHERE m.member_id IN (${ids.map(() => '?').join(', ')}) ORDER BY g.display_label`,
    ids,
  );
  for (const r of rows) {
    const list = out.get(r.member_id) ?? [];
    list.push({ value: r.group_id, $ref: `${baseUrl}/Groups/${r.group_id}`, display: r.display_label, type: 'direct' });
    out.set(r.member_id, list);
  }
  return out;
}

/** Renders users with their `groups`; `memberships` may be given when they are known (a new user has none). */
async function renderUsers(deps: ScimDeps, users: StoredResource[], call: ScimCall, projection: Projection, memberships?: Map<string, Doc[]>): Promise<Doc[]> {
  const groups = memberships ?? (wants(USER_RESOURCE, projection, 'groups') ? await groupsOf(deps.db, users.map((u) => u.id), call.baseUrl) : new Map<string, Doc[]>());
  return users.map((u) => {
    const memberOf = groups.get(u.id);
    return project(USER_RESOURCE, represent(USER_RESOURCE, u, call.baseUrl, memberOf ? { groups: memberOf } : {}), projection);
  });
}

async function answer(deps: ScimDeps, call: ScimCall, user: StoredResource, status: number, options: { location?: string; memberships?: Map<string, Doc[]> } = {}): Promise<ScimResult> {
  const [body] = await renderUsers(deps, [user], call, projectionOf(call), options.memberships);
  return { status, body, headers: { ETag: etagOf(user.version), ...(options.location ? { Location: options.location } : {}) } };
}

async function load(deps: ScimDeps, id: string): Promise<StoredResource> {
  const user = await deps.identities.get(id);
  if (!user) throw new ScimError(404, undefined, `User ${id} not found`);
  return user;
}

/** SCIM handlers for /Users. */
export const users = {
  /** Runs a parsed list query and renders the page. */
  async search(deps: ScimDeps, call: ScimCall, query: ListQuery, projection: Projection): Promise<ScimResult> {
    const page = await queryPage(deps.db, USER_SQL, query, query.startIndex - 1, query.count);
    const resources = await renderUsers(deps, page.rows.map(fromRow), call, projection);
    return { status: 200, body: listResponse(page.total, query.startIndex, resources) };
  },

  async list(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
    return users.search(deps, call, parseListQuery(call.query, deps.limits), projectionOf(call));
  },

  async get(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const user = await load(deps, id);
    if (notModified(call, user.version)) return { status: 304, headers: { ETag: etagOf(user.version) } };
    return answer(deps, call, user, 200);
  },

  async create(deps: ScimDeps, call: ScimCall): Promise<ScimResult> {
    const doc = validateUser(call.body);
    const user = await scimCall(() => deps.identities.create(doc, call));
    return answer(deps, call, user, 201, { location: `${call.baseUrl}/Users/${user.id}`, memberships: new Map() });
  },

  async replace(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const doc = validateUser(call.body);
    const { after } = await scimCall(() => deps.identities.update(id, () => doc, call, ifMatchVersions(call)));
    return answer(deps, call, after, 200);
  },

  async patch(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    const ops = parsePatchRequest(call.body, id);
    const { after } = await scimCall(() =>
      deps.identities.update(id, (current) => validateUser(applyPatch(USER_RESOURCE, current, ops)), call, ifMatchVersions(call)),
    );
    return answer(deps, call, after, 200);
  },

  async remove(deps: ScimDeps, call: ScimCall, id: string): Promise<ScimResult> {
    await scimCall(() => deps.identities.remove(id, call, ifMatchVersions(call)));
    return { status: 204 };
  },
};
