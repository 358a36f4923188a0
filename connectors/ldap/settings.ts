/*
 * What an LDAP target's config entry may say, its defaults, and the resolved form the connector
 * works with (DNs in canonical spelling, the secret read, defaults that depend on other settings
 * filled in). A bad setting stops the start with the target and the setting named.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { flag } from '../../src/config/index.js';
import type { CorrelationRule } from '../../src/provisioning/connector.js';
import { attributeMappingSchema, correlationRules, correlationSchema, type AttributeMapping } from '../../src/provisioning/attribute-mapping.js';
import { parseSettings, resolveSecret, secretSetting } from '../../src/provisioning/connector-settings.js';
import { childDn, normalizeDn, parentDn, parseDn } from './dn.js';

/** An attribute or object class name as it may appear in a filter or a DN. */
const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'must be an LDAP attribute name');
/** RDNs in a DN, 0 when it is not one (refinements run on settings that failed other checks too). */
function rdnCount(dn: string): number {
  try {
    return parseDn(dn).length;
  } catch {
    return 0;
  }
}
const dnSetting = z.string().min(1).refine((dn) => rdnCount(dn) > 0, 'must be a DN');

export const ldapSettings = z.object({
  /** ldap://host:port or ldaps://host:port */
  url: z.string().regex(/^ldaps?:\/\/[^/?#]+\/?$/i, 'must be ldap://host[:port] or ldaps://host[:port]'),
  /** upgrade an ldap:// connection with StartTLS before binding */
  startTls: flag.default(false),
  tls: z.object({
    /** PEM file of the CA(s) that signed the server's certificate; the system CAs otherwise */
    caFile: z.string().min(1).optional(),
    rejectUnauthorized: flag.default(true),
  }).default({ rejectUnauthorized: true }),
  bindDn: dnSetting,
  bindPassword: secretSetting,
  /** where people's entries are created */
  peopleDn: dnSetting,
  /** where entitlement groups live: entitlement `platform` is `cn=platform,<groupsDn>` */
  groupsDn: dnSetting,
  groupClass: z.enum(['groupOfNames', 'groupOfUniqueNames']).default('groupOfNames'),
  /** the attribute naming a person's entry: `uid=<userName>,<peopleDn>` */
  rdnAttribute: attributeName.default('uid'),
  objectClasses: z.array(attributeName).min(1).default(['inetOrgPerson']),
  disable: z.discriminatedUnion('method', [
    /** disabled accounts move below disabledDn (default: ou=disabled next to the people DN) */
    z.object({ method: z.literal('move'), disabledDn: dnSetting.optional() }),
    /** disabled accounts carry attribute=value (default: pwdAccountLockedTime=000001010000Z, a permanent ppolicy lock) */
    z.object({ method: z.literal('attribute'), attribute: attributeName.default('pwdAccountLockedTime'), value: z.string().min(1).default('000001010000Z') }),
  ]).default({ method: 'move' }),
  /** the member a group keeps when its last real member leaves (groupOfNames needs one) */
  emptyGroupMember: dnSetting.default('cn=nobody'),
  /** entries per page of list() */
  pageSize: z.coerce.number().int().min(1).max(10_000).default(500),
  /** connections kept open and bound */
  poolSize: z.coerce.number().int().min(1).max(64).default(4),
  /** longest wait for a connection or an answer */
  timeoutMs: z.coerce.number().int().positive().default(10_000),
  attributes: attributeMappingSchema.optional(),
  correlate: correlationSchema.optional(),
}).superRefine((s, ctx) => {
  if (s.startTls && /^ldaps:/i.test(s.url)) ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'StartTLS is for ldap:// URLs; ldaps:// is TLS already' });
  if (s.disable.method === 'move' && !s.disable.disabledDn && rdnCount(s.peopleDn) === 1) {
    ctx.addIssue({ code: 'custom', path: ['disable', 'disabledDn'], message: 'required when the people DN has no parent' });
  }
  const mapping = s.attributes ?? LDAP_DEFAULT_MAPPING;
  if (!Object.keys(mapping).some((name) => name.toLowerCase() === s.rdnAttribute.toLowerCase())) {
    ctx.addIssue({ code: 'custom', path: ['attributes'], message: `must map the RDN attribute ${s.rdnAttribute}` });
  }
});
export type LdapSettings = z.input<typeof ldapSettings>;

/** Identity attributes in inetOrgPerson terms. */
export const LDAP_DEFAULT_MAPPING: AttributeMapping = {
  uid: 'userName', cn: 'displayName', sn: 'familyName', givenName: 'givenName', mail: 'email', employeeNumber: 'employeeId',
};
/** uid is the userName; failing that, the same mail address. */
export const LDAP_DEFAULT_CORRELATION: readonly CorrelationRule[] = [{ target: 'uid', identity: 'userName' }, { target: 'mail', identity: 'email' }];
/**
 * Attributes the person object classes require: when the identity has no value for them (no
 * display name, no family name), the userName stands in, so an entry can always be created.
 */
export const LDAP_REQUIRED_FALLBACKS: Readonly<Record<string, string>> = { cn: 'userName', sn: 'userName' };
const PERSON_CLASSES = new Set(['person', 'organizationalperson', 'inetorgperson']);

export type DisableMethod = { method: 'move'; disabledDn: string } | { method: 'attribute'; attribute: string; value: string };

/** The settings as the connector uses them. */
export interface LdapConfig {
  target: string;
  url: string;
  startTls: boolean;
  caFile?: string;
  /** the CA file's content, read once at start so a missing file stops the start */
  ca?: string;
  rejectUnauthorized: boolean;
  bindDn: string;
  bindPassword: string;
  peopleDn: string;
  groupsDn: string;
  groupClass: 'groupOfNames' | 'groupOfUniqueNames';
  /** member for groupOfNames, uniqueMember for groupOfUniqueNames */
  memberAttribute: 'member' | 'uniqueMember';
  rdnAttribute: string;
  objectClasses: string[];
  disable: DisableMethod;
  emptyGroupMember: string;
  pageSize: number;
  poolSize: number;
  timeoutMs: number;
  mapping: AttributeMapping;
  /** target attribute → identity path used when the identity has no value for a required attribute */
  fallbacks: Readonly<Record<string, string>>;
  correlation: readonly CorrelationRule[];
}

/** Parses and resolves a target's settings; throws naming the target and the bad setting. */
export function resolveLdapSettings(target: string, settings: unknown): LdapConfig {
  const s = parseSettings(ldapSettings, target, settings);
  const peopleDn = normalizeDn(s.peopleDn);
  const disable: DisableMethod = s.disable.method === 'move'
    ? { method: 'move', disabledDn: normalizeDn(s.disable.disabledDn ?? childDn('ou', 'disabled', parentDn(peopleDn))) }
    : { method: 'attribute', attribute: s.disable.attribute, value: s.disable.value };
  let ca: string | undefined;
  if (s.tls.caFile) {
    try {
      ca = readFileSync(s.tls.caFile, 'utf8');
    } catch (err) {
      throw new Error(`target ${target}: tls.caFile: cannot read ${s.tls.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const isPerson = s.objectClasses.some((c) => PERSON_CLASSES.has(c.toLowerCase()));
  const mapping = s.attributes ?? LDAP_DEFAULT_MAPPING;
  // Spelled as the mapping spells it, so the RDN value is found among the mapped values.
  const rdnAttribute = Object.keys(mapping).find((name) => name.toLowerCase() === s.rdnAttribute.toLowerCase())!;
  return {
    target,
    url: s.url.replace(/\/$/, ''),
    startTls: s.startTls,
    caFile: s.tls.caFile,
    ca,
    rejectUnauthorized: s.tls.rejectUnauthorized,
    bindDn: normalizeDn(s.bindDn),
    bindPassword: resolveSecret(s.bindPassword, `target ${target}: bindPassword`),
    peopleDn,
    groupsDn: normalizeDn(s.groupsDn),
    groupClass: s.groupClass,
    memberAttribute: s.groupClass === 'groupOfNames' ? 'member' : 'uniqueMember',
    rdnAttribute,
    objectClasses: s.objectClasses,
    disable,
    emptyGroupMember: normalizeDn(s.emptyGroupMember),
    pageSize: s.pageSize,
    poolSize: s.poolSize,
    timeoutMs: s.timeoutMs,
    mapping,
    fallbacks: isPerson ? LDAP_REQUIRED_FALLBACKS : {},
    correlation: correlationRules(s.correlate, LDAP_DEFAULT_CORRELATION),
  };
}
