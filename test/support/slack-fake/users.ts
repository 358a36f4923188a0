/*
 * /scim/v2/Users as Slack's SCIM reference describes it. A userName is required, at most 21
 * characters once Slack has converted it (an email to its local part, lower case, anything but
 * letters, digits, `.`, `_` and `-` to `_`); at least one email is required; a displayName is
 * at most 80 characters and has no `@`. userNames and emails are unique (409). DELETE only
 * deactivates. PATCH takes SCIM PatchOp operations on the paths the reference documents;
 * password, externalId and profileUrl cannot be changed. Anything else the reference does not
 * describe is refused as a violation.
 */
import { forbidden, ScimError } from './errors.js';
import {
  ENTERPRISE_SCHEMA, LIST_SCHEMA, SLACK_GUEST_SCHEMA, SLACK_PROFILE_SCHEMA, USER_SCHEMA, type Directory, type FakeEmail, type FakeUser,
} from './directory.js';
import { parseFilter } from './filter.js';

export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USERNAME_MAX = 21;
const DISPLAY_NAME_MAX = 80;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const KNOWN_USER_SCHEMAS = [USER_SCHEMA, ENTERPRISE_SCHEMA, SLACK_PROFILE_SCHEMA, SLACK_GUEST_SCHEMA];
const USER_ATTRIBUTES = new Set([
  'schemas', 'id', 'externalId', 'meta', 'userName', 'nickName', 'name', 'displayName', 'profileUrl', 'emails', 'addresses', 'phoneNumbers',
  'photos', 'roles', 'userType', 'title', 'preferredLanguage', 'locale', 'timezone', 'active', 'password', ENTERPRISE_SCHEMA,
  SLACK_PROFILE_SCHEMA, SLACK_GUEST_SCHEMA,
]);
const PROFILE_STRINGS = ['userType', 'preferredLanguage', 'locale', 'timezone'];
/** Multi-valued profile attributes Slack stores and the fake accepts without keeping. */
const IGNORED_LISTS = ['addresses', 'phoneNumbers', 'photos', 'roles'];
const ENTERPRISE_FIELDS = ['employeeNumber', 'costCenter', 'organization', 'division', 'department'];

export interface ScimRequest {
  method: string;
  id?: string;
  query: URLSearchParams;
  body: unknown;
}

export interface ScimAnswer {
  status: number;
  body?: unknown;
}

/** Slack's conversion of a userName. */
export function convertUserName(value: string): string {
  const local = value.includes('@') ? value.slice(0, value.indexOf('@')) : value;
  return local.toLowerCase().replace(/[^a-z0-9._-]/g, '_');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function text(value: unknown, attribute: string): string {
  if (typeof value !== 'string') throw forbidden('invalid_attribute_format', `${attribute} must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function userNameOf(value: unknown, attribute = 'userName'): string {
  if (value === undefined) throw forbidden('username_required', `${attribute} is required`);
  const raw = text(value, attribute);
  if (raw.trim() === '') throw forbidden('username_empty', `${attribute} is empty`);
  const converted = convertUserName(raw);
  if (converted.length > USERNAME_MAX) {
    throw forbidden(attribute === 'nickName' ? 'long_nickname' : 'username_too_long', `${attribute} ${JSON.stringify(converted)} is longer than ${USERNAME_MAX} characters`);
  }
  return converted;
}

function displayNameOf(value: unknown): string {
  const name = text(value, 'displayName');
  if (name.length > DISPLAY_NAME_MAX) throw forbidden('invalid_name_maxlength', `displayName is longer than ${DISPLAY_NAME_MAX} characters`);
  if (name.startsWith('@')) throw forbidden('invalid_starts_with_at', 'displayName starts with @');
  if (name.includes('@')) throw forbidden('invalid_name_specials', 'displayName contains @');
  return name;
}

function booleanOf(value: unknown, attribute: string): boolean {
  if (typeof value !== 'boolean') throw forbidden('invalid_attribute_format', `${attribute} must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

function primaryFlag(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw forbidden('emails_invalid', `emails[].primary must be a boolean, got ${JSON.stringify(value)}`);
}

interface EmailEntry {
  value: string;
  primary?: boolean;
  type?: string;
}

function emailEntries(value: unknown): EmailEntry[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((e) => {
    if (!isObject(e)) throw forbidden('emails_invalid', `an email must be an object, got ${JSON.stringify(e)}`);
    for (const key of Object.keys(e)) if (!['value', 'type', 'primary', 'display'].includes(key)) throw forbidden('emails_invalid', `emails[].${key} is not an email sub-attribute`);
    const address = text(e.value, 'emails[].value');
    if (!EMAIL.test(address)) throw forbidden('bad_email_address', `${JSON.stringify(address)} is not an email address`);
    return { value: address, primary: primaryFlag(e.primary), type: e.type === undefined ? undefined : text(e.type, 'emails[].type') };
  });
}

/**
 * Slack keeps a primary and a secondary email: the entry marked primary (else the one of type
 * work, else the first) is the primary; another entry the secondary.
 */
function mergeEmails(current: FakeEmail[], entries: EmailEntry[]): FakeEmail[] {
  const primaryEntry = entries.find((e) => e.primary === true) ?? entries.find((e) => e.primary === undefined && e.type === 'work') ?? (current.length === 0 ? entries[0] : undefined);
  const secondaryEntry = entries.find((e) => e !== primaryEntry);
  const primary = primaryEntry?.value ?? current.find((e) => e.primary)?.value;
  const secondary = secondaryEntry?.value ?? current.find((e) => !e.primary)?.value;
  const out: FakeEmail[] = [];
  if (primary !== undefined) out.push({ value: primary, primary: true });
  if (secondary !== undefined && secondary.toLowerCase() !== primary?.toLowerCase()) out.push({ value: secondary, primary: false });
  return out;
}

function checkSchemas(body: Record<string, unknown>): void {
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(USER_SCHEMA)) throw forbidden('missing_schema_element', `schemas must list ${USER_SCHEMA}`);
  for (const s of schemas) if (!KNOWN_USER_SCHEMAS.includes(s as string)) throw forbidden('invalid_request_payload', `unknown schema ${JSON.stringify(s)}`);
  for (const ext of [ENTERPRISE_SCHEMA, SLACK_PROFILE_SCHEMA, SLACK_GUEST_SCHEMA]) {
    if (body[ext] !== undefined && !schemas.includes(ext)) throw forbidden('invalid_request_payload', `${ext} attributes sent without the schema in schemas`);
  }
}

function setEnterprise(enterprise: Record<string, string>, value: unknown): void {
  if (!isObject(value)) throw forbidden('invalid_attribute_format', `${ENTERPRISE_SCHEMA} must be an object`);
  for (const [key, v] of Object.entries(value)) {
    if (key === 'manager') {
      if (!isObject(v) || v.managerId === undefined) throw forbidden('improper_enterprise_schema_format', 'manager needs a managerId');
      enterprise.managerId = text(v.managerId, 'manager.managerId');
    } else if (ENTERPRISE_FIELDS.includes(key)) {
      enterprise[key] = text(v, key);
    } else {
      throw forbidden('invalid_request_payload', `${key} is not an enterprise attribute`);
    }
  }
}

function setName(user: FakeUser, value: unknown): void {
  if (!isObject(value)) throw forbidden('invalid_attribute_format', 'name must be an object');
  for (const [key, v] of Object.entries(value)) {
    if (key === 'givenName') user.givenName = text(v, 'name.givenName');
    else if (key === 'familyName') user.familyName = text(v, 'name.familyName');
    else if (key === 'honorificPrefix') text(v, 'name.honorificPrefix');
    else throw forbidden('invalid_request_payload', `name.${key} is not supported (only givenName, familyName, honorificPrefix)`);
  }
}

/** Fills a user from a full document (POST and PUT). */
function fromDocument(user: FakeUser, body: unknown, method: 'POST' | 'PUT'): void {
  if (!isObject(body)) throw forbidden('invalid_request_payload', 'the body must be a JSON object');
  checkSchemas(body);
  for (const key of Object.keys(body)) if (!USER_ATTRIBUTES.has(key)) throw forbidden('invalid_request_payload', `${key} is not a Slack user attribute`);
  if (method === 'PUT' && body.password !== undefined) throw forbidden('password_change_not_allowed', 'password cannot be changed');
  user.userName = userNameOf(body.userName);
  if (body.nickName !== undefined && userNameOf(body.nickName, 'nickName') !== user.userName) {
    throw forbidden('invalid_request_payload', 'userName and nickName are the same Slack field and differ');
  }
  if (body.name !== undefined) setName(user, body.name);
  if (user.givenName.trim() === '' && user.familyName.trim() === '' && (user.givenName + user.familyName).length > 0) {
    throw forbidden('invalid_name_required', 'givenName and familyName hold only spaces');
  }
  if (body.displayName !== undefined) user.displayName = displayNameOf(body.displayName);
  if (body.title !== undefined) user.title = text(body.title, 'title');
  for (const p of PROFILE_STRINGS) if (body[p] !== undefined) user.profile[p] = text(body[p], p);
  for (const p of IGNORED_LISTS) if (body[p] !== undefined && !Array.isArray(body[p])) throw forbidden(`${p}_invalid`, `${p} must be an array`);
  if (body.active !== undefined) user.active = booleanOf(body.active, 'active');
  if (body.emails === undefined || (Array.isArray(body.emails) && body.emails.length === 0)) throw forbidden('email_empty', 'at least one email is required');
  if (!Array.isArray(body.emails)) throw forbidden('emails_invalid', 'emails must be an array');
  user.emails = mergeEmails([], emailEntries(body.emails));
  if (body[ENTERPRISE_SCHEMA] !== undefined) setEnterprise(user.enterprise, body[ENTERPRISE_SCHEMA]);
}

/** Refuses a user whose userName or an email another user holds. */
function checkUnique(dir: Directory, user: FakeUser, except?: string): void {
  if (dir.userNameHolder(user.userName, except)) throw new ScimError(409, 'username_taken');
  if (dir.emailHolder(user.emails.map((e) => e.value), except)) throw new ScimError(409, 'email_taken');
}

function emptyUser(dir: Directory): FakeUser {
  return {
    id: dir.newUserId(), userName: '', active: true, givenName: '', familyName: '', displayName: '', title: '', emails: [], profile: {},
    enterprise: {}, created: new Date().toISOString(),
  };
}

function copy(user: FakeUser): FakeUser {
  return { ...user, emails: user.emails.map((e) => ({ ...e })), profile: { ...user.profile }, enterprise: { ...user.enterprise } };
}

/** The paging parameters of a list request: startIndex from 1, count at most 1,000. */
export function paging(query: URLSearchParams, onViolation: (why: string) => void): { start: number; count: number } {
  const number = (name: string, fallback: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    if (!/^\d+$/.test(raw)) throw forbidden('invalid_query', `${name} must be a whole number, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const start = Math.max(1, number('startIndex', 1));
  let count = number('count', 10);
  if (count > 1000) {
    // The reference asks clients to keep count at 1,000 or less; the answer holds 1,000 at most.
    onViolation(`count=${count} is more than 1000`);
    count = 1000;
  }
  return { start, count };
}

function parsePath(path: unknown): string | undefined {
  if (path === undefined) return undefined;
  return text(path, 'Operations[].path');
}

/** Applies one PatchOp operation to a copy of the user. */
function applyOperation(user: FakeUser, op: string, path: string | undefined, value: unknown): void {
  if (path === undefined) {
    if (op === 'remove') throw forbidden('invalid_request_payload', 'a remove operation needs a path');
    if (!isObject(value)) throw forbidden('invalid_request_payload', 'an operation without a path needs an object value');
    for (const [key, v] of Object.entries(value)) applyOperation(user, op, key, v);
    return;
  }
  const lower = path.toLowerCase();
  const enterprise = ENTERPRISE_SCHEMA.toLowerCase();
  if (op !== 'remove' && value === undefined) throw forbidden('invalid_request_payload', `${op} of ${path} needs a value`);
  const remove = op === 'remove';
  if (lower === 'active') {
    if (remove) throw forbidden('invalid_request_payload', 'active cannot be removed');
    user.active = booleanOf(value, 'active');
  } else if (lower === 'username' || lower === 'nickname') {
    if (remove) throw forbidden('username_empty', `${path} cannot be removed`);
    user.userName = userNameOf(value, lower === 'username' ? 'userName' : 'nickName');
  } else if (lower === 'displayname') {
    user.displayName = remove ? '' : displayNameOf(value);
  } else if (lower === 'title') {
    user.title = remove ? '' : text(value, 'title');
  } else if (PROFILE_STRINGS.some((p) => p.toLowerCase() === lower)) {
    const name = PROFILE_STRINGS.find((p) => p.toLowerCase() === lower)!;
    if (remove) delete user.profile[name];
    else user.profile[name] = text(value, name);
  } else if (lower === 'name') {
    if (remove) {
      user.givenName = '';
      user.familyName = '';
    } else {
      setName(user, value);
    }
  } else if (lower === 'name.givenname' || lower === 'name.familyname' || lower === 'name.honorificprefix') {
    const v = remove ? '' : text(value, path);
    if (lower === 'name.givenname') user.givenName = v;
    if (lower === 'name.familyname') user.familyName = v;
  } else if (lower === 'emails') {
    if (remove) user.emails = user.emails.filter((e) => e.primary);
    else user.emails = mergeEmails(user.emails, emailEntries(value));
  } else if (lower === 'emails[primary eq false]') {
    if (remove) user.emails = user.emails.filter((e) => e.primary);
    else user.emails = mergeEmails(user.emails, emailEntries(value).map((e) => ({ ...e, primary: false, type: undefined })));
  } else if (/^emails\[value eq ".*"\]$/.test(lower)) {
    if (!remove) throw forbidden('invalid_request_payload', `${path} may only be removed`);
    const address = JSON.parse(path.slice(path.indexOf('"'), path.lastIndexOf('"') + 1)) as string;
    const hit = user.emails.find((e) => e.value.toLowerCase() === address.toLowerCase());
    if (hit?.primary) throw forbidden('missing_primary_email', 'the primary email cannot be removed');
    user.emails = user.emails.filter((e) => e !== hit);
  } else if (lower === enterprise) {
    if (remove) user.enterprise = {};
    else setEnterprise(user.enterprise, value);
  } else if (lower.startsWith(`${enterprise}:`) || lower.startsWith(`${enterprise}.`)) {
    const sub = path.slice(ENTERPRISE_SCHEMA.length + 1);
    if (sub === 'manager.managerId' || sub === 'manager') {
      if (remove) delete user.enterprise.managerId;
      else setEnterprise(user.enterprise, sub === 'manager' ? { manager: value } : { manager: { managerId: value } });
    } else if (ENTERPRISE_FIELDS.includes(sub)) {
      if (remove) delete user.enterprise[sub];
      else user.enterprise[sub] = text(value, sub);
    } else {
      throw forbidden('invalid_request_payload', `${sub} is not an enterprise attribute`);
    }
  } else if (IGNORED_LISTS.some((p) => lower === p.toLowerCase() || lower.startsWith(`${p.toLowerCase()}[`))) {
    if (!remove && typeof value !== 'object') throw forbidden('invalid_attribute_format', `${path} needs an object or an array`);
  } else if (lower === 'password') {
    throw forbidden('password_change_not_allowed', 'password cannot be changed');
  } else if (lower === 'externalid' || lower === 'profileurl') {
    throw forbidden('invalid_request_payload', `${path} cannot be changed`);
  } else {
    throw forbidden('invalid_request_payload', `${path} is not a path Slack's PATCH /Users supports`);
  }
}

/** Checks a PatchOp body and answers its operations, with `op` in lower case. */
export function patchOperations(body: unknown): Array<{ op: string; path?: string; value: unknown }> {
  if (!isObject(body)) throw forbidden('invalid_request_payload', 'the body must be a JSON object');
  if (!Array.isArray(body.schemas) || !body.schemas.includes(PATCH_SCHEMA)) throw forbidden('missing_schema_element', `schemas must be [${PATCH_SCHEMA}]`);
  if (body.schemas.length !== 1) throw forbidden('invalid_request_payload', 'a PatchOp has only the PatchOp schema');
  for (const key of Object.keys(body)) if (key !== 'schemas' && key !== 'Operations') throw forbidden('invalid_request_payload', `${key} is not part of a PatchOp`);
  if (!Array.isArray(body.Operations) || body.Operations.length === 0) throw forbidden('invalid_request_payload', 'Operations must be a non-empty array');
  return body.Operations.map((o) => {
    if (!isObject(o)) throw forbidden('invalid_request_payload', 'each operation must be an object');
    for (const key of Object.keys(o)) if (!['op', 'path', 'value'].includes(key)) throw forbidden('invalid_request_payload', `${key} is not part of an operation`);
    const op = typeof o.op === 'string' ? o.op.toLowerCase() : '';
    if (!['add', 'replace', 'remove'].includes(op)) throw forbidden('invalid_request_payload', `op ${JSON.stringify(o.op)} is not add, replace or remove`);
    return { op, path: parsePath(o.path), value: o.value };
  });
}

/** Serves /Users and /Users/{id}. */
export function usersEndpoint(dir: Directory, req: ScimRequest, onViolation: (why: string) => void): ScimAnswer {
  if (req.id === undefined) {
    if (req.method === 'GET') {
      const { start, count } = paging(req.query, onViolation);
      const filterText = req.query.get('filter');
      let users = [...dir.users.values()];
      if (filterText !== null) {
        const filter = parseFilter(filterText, ['username', 'email']);
        users = users.filter((u) => filter((a) => (a === 'username' ? [u.userName] : u.emails.map((e) => e.value))));
      }
      const page = users.slice(start - 1, start - 1 + count);
      return { status: 200, body: { schemas: [LIST_SCHEMA], Resources: page.map((u) => dir.renderUser(u)), totalResults: users.length, itemsPerPage: page.length, startIndex: start } };
    }
    if (req.method === 'POST') {
      const user = emptyUser(dir);
      fromDocument(user, req.body, 'POST');
      checkUnique(dir, user);
      dir.users.set(user.id, user);
      return { status: 201, body: dir.renderUser(user) };
    }
    throw forbidden('method_not_allowed', `${req.method} /Users is not supported`, 405);
  }
  const existing = dir.users.get(req.id);
  if (!existing) throw new ScimError(404, 'no_such_user');
  switch (req.method) {
    case 'GET':
      return { status: 200, body: dir.renderUser(existing) };
    case 'PATCH': {
      const user = copy(existing);
      for (const o of patchOperations(req.body)) applyOperation(user, o.op, o.path, o.value);
      checkUnique(dir, user, user.id);
      dir.users.set(user.id, user);
      return { status: 200, body: dir.renderUser(user) };
    }
    case 'PUT': {
      // PUT overwrites every value, even one left out: a missing `active` deactivates.
      const user: FakeUser = { ...emptyUser(dir), id: existing.id, created: existing.created, active: false };
      fromDocument(user, req.body, 'PUT');
      checkUnique(dir, user, user.id);
      dir.users.set(user.id, user);
      return { status: 200, body: dir.renderUser(user) };
    }
    case 'DELETE':
      existing.active = false;
      return { status: 204 };
    default:
      throw forbidden('method_not_allowed', `${req.method} /Users/{id} is not supported`, 405);
  }
}
