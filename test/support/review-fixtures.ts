/*
 * What the review tests share: a small policy (roles with owners, an SoD rule, a birthright rule
 * for the 'birthright' department), a clock the tests move, people in a department of their own
 * (so a campaign scoped to it sees only the test's people), and a few readers.
 */
import { randomBytes } from 'node:crypto';
import type { AppServices } from '../../src/http/app.js';
import type { CatalogDocumentInput, GrantInput } from '../../src/policy/model.js';
import type { Sql } from '../../src/db/database.js';
import { ENTERPRISE, USER_SCHEMA } from './scim-client.js';

export const DAY = 86_400_000;

/** The fixed people the policy and the config name as owners. */
export const OWNERS = { finance: 'fin.owner@example.com', github: 'gh.owner@example.com', ldap: 'ldap.owner@example.com' };

/** The review tests' policy. */
export const REVIEW_POLICY: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }],
  entitlements: [
    ...['finance', 'ap-clerks', 'payment-approvers', 'wiki', 'staff'].map((key) => ({ target: 'ldap', key, kind: 'group' as const })),
    ...['platform', 'api'].map((key) => ({ target: 'github', key, kind: 'team' as const })),
  ],
  roles: [
    { name: 'finance-reader', owner: OWNERS.finance, entitlements: ['ldap/finance'], requestable: true },
    { name: 'accountant', owner: OWNERS.finance, inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'], requestable: true },
    { name: 'payment-approver', owner: OWNERS.finance, inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'], requestable: true },
    { name: 'engineer', entitlements: ['github/platform', 'ldap/staff'], requestable: true },
    { name: 'wiki-user', entitlements: ['ldap/wiki'] },
  ],
  birthrightRules: [
    { name: 'birthright-wiki', expression: "r.sub.department == 'birthright'", item: 'role:wiki-user' },
  ],
  sodRules: [{
    name: 'pay-what-you-enter', severity: 'critical',
    left: { mode: 'any', items: ['role:accountant', 'ent:ldap/ap-clerks'] },
    right: { mode: 'any', items: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
  }],
};

/** A person as the tests use them. */
export interface TestPerson {
  id: string;
  userName: string;
}

/** A department name no other test uses. */
export function freshDepartment(): string {
  return `dept-${randomBytes(4).toString('hex')}`;
}

/** A definition name no other test uses. */
export function freshName(prefix = 'review'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates an active person; an email unless `email: false`. */
export async function person(services: AppServices, options: { department: string; manager?: string; userName?: string; email?: boolean; displayName?: string }): Promise<TestPerson> {
  const userName = options.userName ?? `p.${randomBytes(4).toString('hex')}@example.com`;
  const doc: Record<string, unknown> = {
    schemas: [USER_SCHEMA, ENTERPRISE], userName, displayName: options.displayName ?? `Person ${userName.slice(0, 10)}`, userType: 'Employee',
    [ENTERPRISE]: { department: options.department, ...(options.manager !== undefined && { manager: { value: options.manager } }) },
    ...(options.email !== false && { emails: [{ value: userName, primary: true, type: 'work' }] }),
  };
  const created = await services.identities.create(doc, { actor: 'test:setup' });
  return { id: created.id, userName };
}

/** Grants an item (source manual unless told) and returns the grant id. */
export async function grant(services: AppServices, identity: string, item: string, extra: Partial<GrantInput> = {}): Promise<string> {
  return (await services.grants.grant({ identity, item, ...extra }, { actor: 'test:granter' })).grant.id;
}

/** Mail queued for a recipient, of a kind. */
export async function mailsTo(sql: Sql, recipientId: string, kind?: string): Promise<Array<{ kind: string; subject: string; body_text: string; dedupe_key: string | null }>> {
  return sql.query(`SELECT kind, subject, body_text, dedupe_key FROM mail_outbox WHERE recipient_id = ?${kind ? ' AND kind = ?' : ''} ORDER BY id`, kind ? [recipientId, kind] : [recipientId]);
}

/** The items of a campaign, as rows. */
export async function itemRows(sql: Sql, campaignId: string): Promise<Array<{ id: number; stage: number; identity_id: string; grant_id: string; item: string; reviewer_id: string; reviewer_reason: string; decision: string | null; decided_by: string | null; context: string }>> {
  const rows = await sql.query<{ id: number | string; stage: number | string; identity_id: string; grant_id: string; item: string; reviewer_id: string; reviewer_reason: string; decision: string | null; decided_by: string | null; context: string }>(
    'SELECT id, stage, identity_id, grant_id, item, reviewer_id, reviewer_reason, decision, decided_by, context FROM review_items WHERE campaign_id = ? ORDER BY id', [campaignId]);
  return rows.map((r) => ({ ...r, id: Number(r.id), stage: Number(r.stage) }));
}

/** Whether a grant still exists. */
export async function grantExists(sql: Sql, grantId: string): Promise<boolean> {
  return (await sql.query('SELECT id FROM grants WHERE id = ?', [grantId])).length > 0;
}

/** The config the review tests' servers run with: memory targets, target owners. */
export function reviewConfig(campaigns: Record<string, unknown> = {}) {
  return {
    targets: Object.fromEntries(['ldap', 'github'].map((t) => [t, { connector: 'memory', concurrency: 2, ratePerSecond: 0 }])),
    governance: { targetOwners: { github: OWNERS.github, ldap: OWNERS.ldap } },
    reviews: { campaigns: campaigns as never },
  };
}

/** Creates the owners the policy and config name (in their own department). */
export async function createOwners(services: AppServices): Promise<Record<keyof typeof OWNERS, TestPerson>> {
  const department = freshDepartment();
  const boss = await person(services, { department });
  return {
    finance: await person(services, { department, userName: OWNERS.finance, manager: boss.id }),
    github: await person(services, { department, userName: OWNERS.github, manager: boss.id }),
    ldap: await person(services, { department, userName: OWNERS.ldap, manager: boss.id }),
  };
}
