/*
 * People's entries as the connector writes them and as reconciliation reads them back: the
 * attributes an account should carry (the mapping, with the userName standing in for required
 * attributes the identity lacks), and an entry turned into a TargetAccount (one text value per
 * attribute, enabled or not by the configured disable method, memberships from the groups that list
 * the entry).
 */
import type { Entry } from 'ldapts';
import type { AccountAttributes, TargetAccount } from '../../src/provisioning/connector.js';
import { identityValue, mapAttributes } from '../../src/provisioning/attribute-mapping.js';
import { formatDn, isBelow, isChildOf, parseDn, type Rdn } from './dn.js';
import type { LdapConfig } from './settings.js';

type AccountConfig = Pick<LdapConfig, 'mapping' | 'fallbacks' | 'correlation' | 'disable' | 'groupsDn'>;

/** The target attributes for an identity: the mapping, then required attributes it left empty. */
export function entryAttributes(config: Pick<LdapConfig, 'mapping' | 'fallbacks'>, attributes: AccountAttributes): Record<string, string> {
  const values = mapAttributes(config.mapping, attributes);
  for (const [name, path] of Object.entries(config.fallbacks)) {
    const present = Object.keys(values).some((k) => k.toLowerCase() === name.toLowerCase());
    const fallback = identityValue(attributes, path);
    if (!present && fallback !== undefined) values[name] = fallback;
  }
  return values;
}

/** The attribute names an account is written with, whether or not an identity has a value for them. */
export function writtenAttributes(config: Pick<LdapConfig, 'mapping' | 'fallbacks'>): string[] {
  return unique([...Object.keys(config.mapping), ...Object.keys(config.fallbacks)]);
}

/** Reads entries into TargetAccounts. */
export class AccountReader {
  /** attributes reported in TargetAccount.attributes */
  private readonly reported: string[];
  /** attributes a search asks for */
  readonly requested: string[];
  private readonly groupsDn: Rdn[];
  private readonly disabledDn?: Rdn[];
  private readonly entitlements = new Map<string, string | null>();

  constructor(private readonly config: AccountConfig) {
    this.reported = unique([...writtenAttributes({ mapping: config.mapping, fallbacks: config.fallbacks }), ...config.correlation.map((r) => r.target)]);
    const lock = config.disable.method === 'attribute' ? [config.disable.attribute] : [];
    this.requested = unique([...this.reported, ...lock]);
    this.groupsDn = parseDn(config.groupsDn);
    if (config.disable.method === 'move') this.disabledDn = parseDn(config.disable.disabledDn);
  }

  /** The entry as reconciliation sees it. */
  /**
   * `groupDns`: the groups listing the entry as a member. Memberships are read from the groups,
   * which are the truth, not from memberOf: slapd's memberof overlay can miss an update when the
   * server stops mid-write (seen in tests), and not every server keeps memberOf at all.
   */
  account(entry: Entry, groupDns: readonly string[]): TargetAccount {
    const rdns = parseDn(entry.dn);
    const byName = new Map<string, Entry[string]>();
    for (const [name, value] of Object.entries(entry)) if (name !== 'dn') byName.set(name.toLowerCase(), value);
    const attributes: Record<string, string> = {};
    for (const name of this.reported) {
      const value = first(byName.get(name.toLowerCase()));
      if (value !== undefined) attributes[name] = value;
    }
    return {
      accountKey: formatDn(rdns),
      enabled: this.enabled(rdns, byName),
      attributes,
      memberships: this.memberships(groupDns),
    };
  }

  private enabled(rdns: Rdn[], byName: Map<string, Entry[string]>): boolean {
    const disable = this.config.disable;
    if (disable.method === 'move') return !isBelow(rdns, this.disabledDn!);
    const wanted = disable.value.toLowerCase();
    return !all(byName.get(disable.attribute.toLowerCase())).some((v) => v.toLowerCase() === wanted);
  }

  /** Entitlement keys: the cn of each group directly below groupsDn, sorted. */
  private memberships(groupDns: readonly string[]): string[] {
    const keys = new Set<string>();
    for (const groupDn of groupDns) {
      const key = this.entitlementOf(groupDn);
      if (key !== null) keys.add(key);
    }
    return [...keys].sort();
  }

  /** The entitlement key a group DN stands for, or null for a group elsewhere; remembered, as few groups recur on many entries. */
  private entitlementOf(groupDn: string): string | null {
    const known = this.entitlements.get(groupDn);
    if (known !== undefined) return known;
    let key: string | null = null;
    try {
      const rdns = parseDn(groupDn);
      if (isChildOf(rdns, this.groupsDn)) key = rdns[0]!.find((a) => a.type.toLowerCase() === 'cn')?.value ?? null;
    } catch {
      // Not a DN: not one of our groups.
    }
    if (this.entitlements.size >= 100_000) this.entitlements.clear();
    this.entitlements.set(groupDn, key);
    return key;
  }
}

function all(value: Entry[string] | undefined): string[] {
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  return values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
}

function first(value: Entry[string] | undefined): string | undefined {
  return all(value)[0];
}

function unique(names: string[]): string[] {
  const seen = new Set<string>();
  return names.filter((n) => {
    const k = n.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
