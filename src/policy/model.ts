/*
 * The nouns of the access model and the shapes in which they are written: one zod schema per
 * noun, shared by the REST API, the policy files under policies/ and the CLI, so a role reads the
 * same wherever it is written down.
 *
 * Items are named the same everywhere: a role is `role:<name>`, an entitlement
 * `ent:<target>/<key>`. Names never change once created (display names do).
 */
import { z } from 'zod';

/** Names of targets, roles and rules: lowercase slugs, so they read well in paths and policy lines. */
export const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** An entitlement's key within its target: an LDAP group cn, a GitHub team slug, a Slack handle, or `account`. */
export const ENTITLEMENT_KEY = /^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,127}$/;

export const ROLE_PREFIX = 'role:';
export const ENTITLEMENT_PREFIX = 'ent:';

export const RISKS = ['low', 'medium', 'high', 'critical'] as const;
export type Risk = (typeof RISKS)[number];

export const TARGET_TYPES = ['ldap', 'github', 'slack', 'other'] as const;
export const ENTITLEMENT_KINDS = ['account', 'group', 'team', 'usergroup', 'permission'] as const;
export const GRANT_SOURCES = ['birthright', 'request', 'manual', 'review'] as const;
export type GrantSource = (typeof GRANT_SOURCES)[number];

const name = (what: string) => z.string().regex(NAME, `${what} must be 1-64 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit`);
/** An ISO-8601 date-time with its offset, as every time the API and the services take is written. */
export const isoDateTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time such as 2026-12-31T00:00:00Z' });

/** `role:<name>` or `ent:<target>/<key>`. */
export const itemName = z.string().refine((v) => parseItem(v) !== undefined, {
  message: 'must name a role as "role:<name>" or an entitlement as "ent:<target>/<key>"',
});

export const targetInput = z.strictObject({
  name: name('a target name'),
  type: z.enum(TARGET_TYPES),
  displayName: z.string().max(255).optional(),
  description: z.string().max(4000).optional(),
});
export type TargetInput = z.infer<typeof targetInput>;

export const entitlementInput = z.strictObject({
  target: name('a target name'),
  key: z.string().regex(ENTITLEMENT_KEY, 'an entitlement key is 1-128 letters, digits, spaces, ".", "_", "@", "+" or "-", starting with a letter or digit'),
  kind: z.enum(ENTITLEMENT_KINDS),
  displayName: z.string().max(255).optional(),
  description: z.string().max(4000).optional(),
  requestable: z.boolean().default(true),
  risk: z.enum(RISKS).default('low'),
});
export type EntitlementInput = z.input<typeof entitlementInput>;
export type Entitlement = z.output<typeof entitlementInput>;

export const permissionInput = z.strictObject({
  object: z.string().min(1).max(512),
  action: z.string().min(1).max(64),
});
export type Permission = z.infer<typeof permissionInput>;

export const roleInput = z.strictObject({
  name: name('a role name'),
  displayName: z.string().max(255).optional(),
  description: z.string().max(4000).optional(),
  /** the identity (id or userName) answerable for the role */
  owner: z.string().max(255).nullable().optional(),
  requestable: z.boolean().default(false),
  /** the longest a requested grant of this role may last */
  maxDurationDays: z.int().min(1).max(3650).nullable().optional(),
  risk: z.enum(RISKS).default('low'),
  /** role names this role inherits */
  inherits: z.array(name('an inherited role name')).max(100).default([]),
  /** entitlements as `<target>/<key>` */
  entitlements: z.array(z.string().min(3).max(200)).max(1000).default([]),
  permissions: z.array(permissionInput).max(1000).default([]),
});
export type RoleInput = z.input<typeof roleInput>;
export type Role = z.output<typeof roleInput>;

export const birthrightRuleInput = z.strictObject({
  name: name('a rule name'),
  description: z.string().max(4000).optional(),
  /** a condition in the rule language of src/policy/expression.ts */
  expression: z.string().min(1).max(2000),
  /** grant: matching identities get `item`; deny: matching identities may never hold it, by any route */
  effect: z.enum(['grant', 'deny']).default('grant'),
  item: itemName,
  enabled: z.boolean().default(true),
});
export type BirthrightRuleInput = z.input<typeof birthrightRuleInput>;
export type BirthrightRule = z.output<typeof birthrightRuleInput>;

const sodSide = z.strictObject({
  /** any: holding one of the items counts; all: only holding every item counts */
  mode: z.enum(['any', 'all']).default('any'),
  items: z.array(itemName).min(1).max(100),
});

export const sodRuleInput = z.strictObject({
  name: name('a rule name'),
  description: z.string().max(4000).optional(),
  severity: z.enum(RISKS).default('high'),
  left: sodSide,
  right: sodSide,
  enabled: z.boolean().default(true),
  /**
   * the identity (id or userName) who may approve an exception when an access request would break
   * the rule; without one, such a request is refused
   */
  owner: z.string().min(1).max(255).nullable().optional(),
});
export type SodRuleInput = z.input<typeof sodRuleInput>;
export type SodRule = z.output<typeof sodRuleInput>;

export const sodExceptionInput = z.strictObject({
  rule: name('a rule name'),
  /** identity id or userName */
  identity: z.string().min(1).max(255),
  reason: z.string().min(1).max(4000),
  approvedBy: z.string().min(1).max(255),
  validUntil: isoDateTime.nullable().optional(),
});
export type SodExceptionInput = z.infer<typeof sodExceptionInput>;

export const grantInput = z.strictObject({
  /** identity id or userName */
  identity: z.string().min(1).max(255),
  item: itemName,
  source: z.enum(GRANT_SOURCES).default('manual'),
  sourceRef: z.string().max(128).default(''),
  reason: z.string().max(4000).optional(),
  validFrom: isoDateTime.nullable().optional(),
  validUntil: isoDateTime.nullable().optional(),
});
export type GrantInput = z.input<typeof grantInput>;

/** A grant as stored. */
export interface Grant {
  id: string;
  identityId: string;
  item: string;
  source: GrantSource;
  sourceRef: string;
  grantedBy: string;
  reason: string | null;
  validFrom: string | null;
  validUntil: string | null;
  created: string;
}

/** The whole policy in the policies/ file format: what `iam policy export` writes and `import` reads. */
export const catalogDocument = z.strictObject({
  targets: z.array(targetInput).default([]),
  entitlements: z.array(entitlementInput).default([]),
  roles: z.array(roleInput).default([]),
  birthrightRules: z.array(birthrightRuleInput).default([]),
  sodRules: z.array(sodRuleInput).default([]),
});
export type CatalogDocumentInput = z.input<typeof catalogDocument>;
export type CatalogDocument = z.output<typeof catalogDocument>;

/** What an item name refers to, or undefined when it is not one. */
export type ItemRef = { kind: 'role'; name: string } | { kind: 'entitlement'; target: string; key: string };

export function parseItem(item: string): ItemRef | undefined {
  if (item.startsWith(ROLE_PREFIX)) {
    const role = item.slice(ROLE_PREFIX.length);
    return NAME.test(role) ? { kind: 'role', name: role } : undefined;
  }
  if (item.startsWith(ENTITLEMENT_PREFIX)) {
    const rest = item.slice(ENTITLEMENT_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return undefined;
    const target = rest.slice(0, slash);
    const key = rest.slice(slash + 1);
    return NAME.test(target) && ENTITLEMENT_KEY.test(key) ? { kind: 'entitlement', target, key } : undefined;
  }
  return undefined;
}

export const roleItem = (role: string): string => `${ROLE_PREFIX}${role}`;
export const entitlementItem = (target: string, key: string): string => `${ENTITLEMENT_PREFIX}${target}/${key}`;

/** A zod failure in one line: each issue with the path it is at. */
export function describeIssues(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): string {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Why an access-model change was refused; the edges map `kind` to a status (404, 409, 422). */
export class PolicyError extends Error {
  constructor(readonly kind: 'notFound' | 'conflict' | 'invalid' | 'sod' | 'preconditionFailed', message: string, readonly details?: Record<string, unknown>) {
    super(message);
    this.name = 'PolicyError';
  }
}
