/*
 * How our flat target attributes (`userName`, `givenName`, `email`, …) become Slack's SCIM 2.0
 * user document and back. Config and reconciliation speak the flat names; only this module
 * knows that `givenName` lives at `name.givenName`, that the email is the primary entry of
 * `emails`, and that Slack rewrites a userName into its own form (lower case, at most 21
 * characters of letters, digits, `.`, `_` and `-`), so what we plan is compared with what
 * Slack keeps.
 */
import type { TargetAccount } from '../../src/provisioning/connector.js';

export const SCIM_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCIM_GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** The target attribute names a Slack mapping may use, and where each lives in a SCIM user. */
export const SLACK_ATTRIBUTES = ['userName', 'givenName', 'familyName', 'displayName', 'email', 'title', 'employeeNumber'] as const;
export type SlackAttribute = (typeof SLACK_ATTRIBUTES)[number];

/** Slack's longest userName. */
export const USERNAME_MAX = 21;

/** A Slack SCIM user as far as the connector reads it. */
export interface ScimUser {
  id: string;
  userName?: string;
  displayName?: string | null;
  title?: string | null;
  active?: boolean;
  name?: { givenName?: string | null; familyName?: string | null } | null;
  emails?: Array<{ value?: string | null; primary?: boolean; type?: string }> | null;
  groups?: Array<{ value?: string; display?: string }> | null;
  [SCIM_ENTERPRISE_SCHEMA]?: { employeeNumber?: string | null } | null;
}

/** One SCIM PatchOp operation. */
export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/**
 * The userName Slack keeps for this one: an email becomes its local part, letters go to lower
 * case, and anything but letters, digits, `.`, `_` and `-` becomes `_` (Slack's documented
 * conversion). Sending it already converted means what we send is what we read back.
 */
export function slackUserName(value: string): string {
  const local = value.includes('@') ? value.slice(0, value.indexOf('@')) : value;
  return local.toLowerCase().replace(/[^a-z0-9._-]/g, '_');
}

/** Our target attributes with Slack's own rewriting applied, as Slack would report them. */
export function asSlackKeeps(attributes: Record<string, string>): Record<string, string> {
  return attributes.userName === undefined ? attributes : { ...attributes, userName: slackUserName(attributes.userName) };
}

/** The POST /Users body for these target attributes. */
export function newUserDocument(attributes: Record<string, string>, active: boolean): Record<string, unknown> {
  const a = asSlackKeeps(attributes);
  const doc: Record<string, unknown> = { schemas: [SCIM_USER_SCHEMA], userName: a.userName, active };
  if (a.givenName !== undefined || a.familyName !== undefined) {
    doc.name = { ...(a.givenName !== undefined && { givenName: a.givenName }), ...(a.familyName !== undefined && { familyName: a.familyName }) };
  }
  if (a.displayName !== undefined) doc.displayName = a.displayName;
  if (a.title !== undefined) doc.title = a.title;
  if (a.email !== undefined) doc.emails = [{ value: a.email, type: 'work', primary: true }];
  if (a.employeeNumber !== undefined) {
    doc.schemas = [SCIM_USER_SCHEMA, SCIM_ENTERPRISE_SCHEMA];
    doc[SCIM_ENTERPRISE_SCHEMA] = { employeeNumber: a.employeeNumber };
  }
  return doc;
}

/**
 * The PatchOp operations that set these target attributes, one per attribute, in the forms
 * Slack's reference shows. An attribute the identity no longer has is left as it is.
 */
export function attributeOperations(attributes: Record<string, string>): PatchOperation[] {
  const a = asSlackKeeps(attributes);
  const ops: PatchOperation[] = [];
  if (a.userName !== undefined) ops.push({ op: 'replace', path: 'userName', value: a.userName });
  if (a.givenName !== undefined) ops.push({ op: 'replace', path: 'name.givenName', value: a.givenName });
  if (a.familyName !== undefined) ops.push({ op: 'replace', path: 'name.familyName', value: a.familyName });
  if (a.displayName !== undefined) ops.push({ op: 'replace', path: 'displayName', value: a.displayName });
  if (a.title !== undefined) ops.push({ op: 'replace', path: 'title', value: a.title });
  // Slack keeps a primary and a secondary email; an entry marked primary replaces the primary.
  if (a.email !== undefined) ops.push({ op: 'add', path: 'emails', value: [{ value: a.email, type: 'work', primary: true }] });
  if (a.employeeNumber !== undefined) ops.push({ op: 'replace', path: `${SCIM_ENTERPRISE_SCHEMA}:employeeNumber`, value: a.employeeNumber });
  return ops;
}

/** The primary email of a Slack user (the first one when none is marked primary). */
export function primaryEmail(user: ScimUser): string | undefined {
  const emails = user.emails ?? [];
  return (emails.find((e) => e.primary === true) ?? emails[0])?.value ?? undefined;
}

/** A Slack user as reconciliation reads it: flat attributes, enabled = active, groups by name. */
export function accountFromUser(user: ScimUser): TargetAccount {
  const values: Record<SlackAttribute, string | null | undefined> = {
    userName: user.userName,
    givenName: user.name?.givenName,
    familyName: user.name?.familyName,
    displayName: user.displayName,
    email: primaryEmail(user),
    title: user.title,
    employeeNumber: user[SCIM_ENTERPRISE_SCHEMA]?.employeeNumber,
  };
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) if (typeof value === 'string' && value !== '') attributes[name] = value;
  const memberships = [...new Set((user.groups ?? []).map((g) => g.display).filter((d): d is string => typeof d === 'string' && d !== ''))].sort();
  return { accountKey: user.id, enabled: user.active !== false, attributes, memberships };
}
