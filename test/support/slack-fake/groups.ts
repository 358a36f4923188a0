/*
 * /scim/v2/Groups as Slack's SCIM reference describes it: a group needs a displayName and its
 * members (Slack user ids; deactivated users cannot be added), names are unique, PATCH adds,
 * removes (all members, or one by `members[value eq …]`) or replaces members and renames, and
 * DELETE removes the group for good. Adding a member twice or removing a non-member changes
 * nothing.
 */
import { forbidden, ScimError } from './errors.js';
import { GROUP_SCHEMA, LIST_SCHEMA, type Directory, type FakeGroup } from './directory.js';
import { parseFilter } from './filter.js';
import { paging, patchOperations, type ScimAnswer, type ScimRequest } from './users.js';

const GROUP_ATTRIBUTES = new Set(['schemas', 'id', 'externalId', 'meta', 'displayName', 'members']);
/** Slack's limit on members changed in one call. */
const MAX_MEMBERS_PER_CALL = 15_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The user ids a `members` value names, each an existing, active user. */
function memberIds(dir: Directory, value: unknown): string[] {
  if (!Array.isArray(value)) throw forbidden('invalid_attribute_format', 'members must be an array');
  if (value.length > MAX_MEMBERS_PER_CALL) throw forbidden('too_many_users', `more than ${MAX_MEMBERS_PER_CALL} members in one call`);
  return value.map((m) => {
    if (!isObject(m) || typeof m.value !== 'string') throw forbidden('invalid_attribute_format', `a member must be {"value": "<user id>"}, got ${JSON.stringify(m)}`);
    for (const key of Object.keys(m)) if (key !== 'value' && key !== 'display') throw forbidden('invalid_request_payload', `members[].${key} is not a member sub-attribute`);
    const user = dir.users.get(m.value);
    if (!user) throw new ScimError(400, 'no_such_group_members');
    if (!user.active) throw new ScimError(400, 'unable_to_add_deleted_or_guest_to_group');
    return m.value;
  });
}

function displayNameOf(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw forbidden('invalid_request_payload', 'displayName is required and must be a non-empty string');
  return value;
}

function checkDocument(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw forbidden('invalid_request_payload', 'the body must be a JSON object');
  if (!Array.isArray(body.schemas) || !body.schemas.includes(GROUP_SCHEMA)) throw forbidden('missing_schema_element', `schemas must list ${GROUP_SCHEMA}`);
  for (const s of body.schemas) if (s !== GROUP_SCHEMA) throw forbidden('invalid_request_payload', `unknown schema ${JSON.stringify(s)}`);
  for (const key of Object.keys(body)) if (!GROUP_ATTRIBUTES.has(key)) throw forbidden('invalid_request_payload', `${key} is not a Slack group attribute`);
  return body;
}

/** The member a `members[value eq …]` path names; the reference writes the id with or without quotes. */
function memberInPath(path: string): string | undefined {
  const m = /^members\[value eq (?:"([^"]+)"|([A-Za-z0-9]+))\]$/i.exec(path);
  return m ? (m[1] ?? m[2]) : undefined;
}

function applyOperation(dir: Directory, group: FakeGroup, op: string, path: string | undefined, value: unknown): void {
  const lower = path?.toLowerCase();
  if (lower === undefined) {
    if (op === 'remove' || !isObject(value)) throw forbidden('invalid_request_payload', 'an operation without a path needs an object value and cannot remove');
    for (const [key, v] of Object.entries(value)) applyOperation(dir, group, op, key, v);
  } else if (lower === 'displayname') {
    if (op === 'remove') throw forbidden('invalid_request_payload', 'displayName cannot be removed');
    const name = displayNameOf(value);
    if (dir.groupNamed(name, group.id)) throw new ScimError(409, 'group_creation_failed');
    group.displayName = name;
  } else if (lower === 'members') {
    if (op === 'remove') {
      if (value !== undefined) throw forbidden('invalid_request_payload', 'remove members takes no value; name one member in the path: members[value eq "<id>"]');
      group.members.clear();
      return;
    }
    const ids = memberIds(dir, value);
    if (op === 'replace') group.members.clear();
    for (const id of ids) group.members.add(id);
  } else if (memberInPath(path!) !== undefined) {
    if (op !== 'remove') throw forbidden('invalid_request_payload', `${path} may only be removed`);
    group.members.delete(memberInPath(path!)!);
  } else {
    throw forbidden('invalid_request_payload', `${path} is not a path Slack's PATCH /Groups supports`);
  }
}

/** Serves /Groups and /Groups/{id}. */
export function groupsEndpoint(dir: Directory, req: ScimRequest, onViolation: (why: string) => void): ScimAnswer {
  if (req.id === undefined) {
    if (req.method === 'GET') {
      const { start, count } = paging(req.query, onViolation);
      const filterText = req.query.get('filter');
      let groups = [...dir.groups.values()];
      if (filterText !== null) {
        const filter = parseFilter(filterText, ['displayname']);
        groups = groups.filter((g) => filter(() => [g.displayName]));
      }
      const page = groups.slice(start - 1, start - 1 + count);
      return { status: 200, body: { schemas: [LIST_SCHEMA], Resources: page.map((g) => dir.renderGroup(g)), totalResults: groups.length, itemsPerPage: page.length, startIndex: start } };
    }
    if (req.method === 'POST') {
      const body = checkDocument(req.body);
      const displayName = displayNameOf(body.displayName);
      if (body.members === undefined) throw forbidden('invalid_request_payload', 'members is required');
      const members = memberIds(dir, body.members);
      if (dir.groupNamed(displayName)) throw new ScimError(409, 'group_creation_failed');
      const group: FakeGroup = { id: dir.newGroupId(), displayName, members: new Set(members), created: new Date().toISOString() };
      dir.groups.set(group.id, group);
      return { status: 201, body: dir.renderGroup(group) };
    }
    throw forbidden('method_not_allowed', `${req.method} /Groups is not supported`, 405);
  }
  const existing = dir.groups.get(req.id);
  if (!existing) throw new ScimError(404, 'no_such_group');
  switch (req.method) {
    case 'GET':
      return { status: 200, body: dir.renderGroup(existing) };
    case 'PATCH': {
      const group: FakeGroup = { ...existing, members: new Set(existing.members) };
      for (const o of patchOperations(req.body)) applyOperation(dir, group, o.op, o.path, o.value);
      dir.groups.set(group.id, group);
      return { status: 200, body: dir.renderGroup(group) };
    }
    case 'PUT': {
      const body = checkDocument(req.body);
      const displayName = displayNameOf(body.displayName);
      if (dir.groupNamed(displayName, existing.id)) throw new ScimError(409, 'group_creation_failed');
      const members = body.members === undefined ? [] : memberIds(dir, body.members);
      dir.groups.set(existing.id, { ...existing, displayName, members: new Set(members) });
      return { status: 200, body: dir.renderGroup(dir.groups.get(existing.id)!) };
    }
    case 'DELETE':
      dir.groups.delete(existing.id);
      return { status: 204 };
    default:
      throw forbidden('method_not_allowed', `${req.method} /Groups/{id} is not supported`, 405);
  }
}
