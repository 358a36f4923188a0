/*
 * The LDAP connector: people as entries (inetOrgPerson by default) directly below a people DN,
 * entitlements as groups below a groups DN, disable by moving the entry to a disabled OU or by
 * setting an attribute. An account's key is its DN in canonical spelling (dn.ts); an operation
 * that renames or moves the entry reports the new DN.
 *
 * Every operation is idempotent by looking at the directory's state, not at the idempotency key
 * (LDAP has no such thing): an entry already there, a member already listed, an entry or value
 * already gone, all count as done, and a DN that moved between people and disabled (a disable
 * whose answer was lost) is found again in the other place.
 */
import type { Client, Entry } from 'ldapts';
import {
  ConnectorError, type AccountAttributes, type AccountRef, type Connector, type CorrelationRule, type Operation, type OperationResult,
  type TargetAccount,
} from '../../src/provisioning/connector.js';
import { AccountReader, entryAttributes, writtenAttributes } from './accounts.js';
import { createClient, dispose, isAlive, tlsOptions } from './client-options.js';
import { asResultError, attempt, change, Directory, hasCode, LdapResultError, ResultCode } from './directory.js';
import { childDn, firstRdn, formatDn, isBelow, isChildOf, normalizeDn, parentDn, parseDn } from './dn.js';
import { LdapTransportError, toConnectorError } from './errors.js';
import { allOf, equals } from './filter.js';
import { LdapGroups, type MembershipIndex } from './groups.js';
import { LdapPool } from './pool.js';
import { resolveLdapSettings, type LdapConfig, type LdapSettings } from './settings.js';

export { ldapSettings, LDAP_DEFAULT_CORRELATION, LDAP_DEFAULT_MAPPING, LDAP_REQUIRED_FALLBACKS, type LdapSettings } from './settings.js';

export class LdapConnector implements Connector {
  readonly correlation: readonly CorrelationRule[];
  /** disabled entries stay (moved or locked), so a planned-disabled account must be present */
  readonly keepsDisabledAccounts = true;
  private readonly config: LdapConfig;
  private readonly pool: LdapPool;
  private readonly groups: LdapGroups;
  private readonly reader: AccountReader;

  constructor(readonly target: string, settings: LdapSettings | Record<string, unknown>) {
    this.config = resolveLdapSettings(target, settings);
    this.correlation = this.config.correlation;
    this.pool = new LdapPool({ url: this.config.url, size: this.config.poolSize, open: () => this.openClient() });
    this.groups = new LdapGroups(this.config);
    this.reader = new AccountReader(this.config);
  }

  /** The idempotency key is not needed: each operation checks the directory's state (see the header). */
  async execute(account: AccountRef, operation: Operation, _idempotencyKey?: string): Promise<OperationResult> {
    const what = 'entitlement' in operation ? `${operation.op} ${operation.entitlement}` : operation.op;
    try {
      return await this.pool.use((client) => this.apply(new Directory(client), account, operation));
    } catch (err) {
      throw toConnectorError(this.target, what, err);
    }
  }

  async test(): Promise<void> {
    let client: Client | undefined;
    try {
      // A connection of its own: the pool's were bound earlier, the credentials may have changed since.
      client = await this.openClient().catch((err: unknown) => {
        throw err instanceof LdapResultError ? err : new LdapTransportError(this.config.url, err);
      });
      const directory = new Directory(client);
      const disabledDn = this.config.disable.method === 'move' ? [this.config.disable.disabledDn] : [];
      for (const dn of [this.config.peopleDn, this.config.groupsDn, ...disabledDn]) {
        if (!(await directory.exists(dn))) throw new ConnectorError(`${this.target}: ${dn} does not exist`, false);
      }
    } catch (err) {
      throw toConnectorError(this.target, 'test', err);
    } finally {
      if (client) await dispose(client);
    }
  }

  async get(accountKey: string): Promise<TargetAccount | null> {
    try {
      const dn = normalizeDn(accountKey);
      return await this.pool.use(async (client) => {
        const directory = new Directory(client);
        let entry = await directory.read(dn, this.reader.requested);
        const other = this.otherPlace(dn);
        if (!entry && other) entry = await directory.read(other, this.reader.requested);
        return entry ? this.reader.account(entry, await this.groups.groupsOf(directory, entry.dn)) : null;
      });
    } catch (err) {
      throw toConnectorError(this.target, `get ${accountKey}`, err);
    }
  }

  async *list(): AsyncIterable<TargetAccount[]> {
    const { peopleDn, disable, objectClasses, pageSize } = this.config;
    // A disabled OU below the people DN is read with it.
    const bases = disable.method === 'move' && !isBelow(disable.disabledDn, peopleDn) ? [peopleDn, disable.disabledDn] : [peopleDn];
    const filter = allOf(...objectClasses.map((c) => equals('objectClass', c)));
    let client: Client;
    try {
      client = await this.pool.acquire();
    } catch (err) {
      throw toConnectorError(this.target, 'list', err);
    }
    let reusable = true;
    try {
      /** A failed search, as list() reports it; the connection goes back to the pool only if it is still up. */
      const searchFailure = (base: string, err: unknown) => {
        reusable = isAlive(client);
        const failure = asResultError(`search ${base}`, err);
        return toConnectorError(this.target, 'list', failure instanceof LdapResultError || reusable ? failure : new LdapTransportError(this.config.url, err));
      };
      let memberships: MembershipIndex;
      try {
        memberships = await this.groups.membershipIndex(client, pageSize);
      } catch (err) {
        throw searchFailure(this.config.groupsDn, err);
      }
      for (const base of bases) {
        const pages = client.searchPaginated(base, { scope: 'sub', filter, attributes: this.reader.requested, paged: { pageSize } });
        for (;;) {
          let next: IteratorResult<{ searchEntries: Entry[] }>;
          try {
            next = await pages.next();
          } catch (err) {
            throw searchFailure(base, err);
          }
          if (next.done) break;
          const page = next.value.searchEntries.map((entry) => this.reader.account(entry, memberships.groupsOf(entry.dn)));
          if (page.length > 0) yield page;
        }
      }
    } finally {
      this.pool.release(client, reusable);
    }
  }

  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return entryAttributes(this.config, attributes);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** A connected, bound client; StartTLS first when configured. */
  private async openClient(): Promise<Client> {
    const client = createClient(this.config);
    try {
      if (this.config.startTls) await attempt('StartTLS', () => client.startTLS(tlsOptions(this.config)));
      await attempt(`bind as ${this.config.bindDn}`, () => client.bind(this.config.bindDn, this.config.bindPassword));
      return client;
    } catch (err) {
      await dispose(client);
      throw err;
    }
  }

  private async apply(directory: Directory, account: AccountRef, operation: Operation): Promise<OperationResult> {
    const key = account.accountKey === null ? null : normalizeDn(account.accountKey);
    const missing = () => new ConnectorError(`${this.target}: account ${account.accountId} does not exist${key ? ` (${key})` : ''}`, false);
    switch (operation.op) {
      case 'create':
        return this.create(directory, operation.attributes, operation.enabled, operation.memberships);
      case 'update': {
        const dn = await this.update(directory, key, operation.attributes);
        if (dn === null) throw missing();
        return { accountKey: dn };
      }
      case 'disable':
        return key === null ? {} : this.disable(directory, key);
      case 'enable': {
        const dn = key === null ? null : await this.enable(directory, key);
        if (dn === null) throw missing();
        return { accountKey: dn };
      }
      case 'delete':
        if (key !== null) await this.delete(directory, key);
        return {};
      case 'add-membership':
        if (key === null) throw missing();
        await this.groups.add(directory, operation.entitlement, key);
        return {};
      case 'remove-membership':
        if (key !== null) await this.groups.remove(directory, operation.entitlement, key);
        return {};
    }
  }

  private async create(directory: Directory, attributes: AccountAttributes, enabled: boolean, memberships: string[]): Promise<OperationResult> {
    const { disable, objectClasses } = this.config;
    const values = entryAttributes(this.config, attributes);
    const parent = !enabled && disable.method === 'move' ? disable.disabledDn : this.config.peopleDn;
    const dn = childDn(this.config.rdnAttribute, this.rdnValueOf(values), parent);
    const entry: Record<string, string | string[]> = { objectClass: objectClasses, ...values };
    if (!enabled && disable.method === 'attribute') entry[disable.attribute] = disable.value;
    try {
      await directory.add(dn, entry);
    } catch (err) {
      // Created by an earlier attempt whose answer was lost.
      if (!hasCode(err, ResultCode.alreadyExists)) throw err;
    }
    // One after the other would cost a round trip each; the connection carries them together.
    await settleAll(memberships.map((entitlement) => this.groups.add(directory, entitlement, dn)));
    return { accountKey: dn };
  }

  /** Writes the attributes, renaming the entry when its RDN value changed; the entry's DN after, or null when there is no entry. */
  private async update(directory: Directory, key: string | null, attributes: AccountAttributes): Promise<string | null> {
    const values = entryAttributes(this.config, attributes);
    const rdnValue = this.rdnValueOf(values);
    const dn = key ?? (await this.locate(directory, null, rdnValue));
    if (dn === null) return null;
    try {
      return await this.write(directory, dn, values);
    } catch (err) {
      if (!hasCode(err, ResultCode.noSuchObject)) throw err;
    }
    // Not where the key says: renamed or moved by an attempt whose answer was lost.
    const found = await this.locate(directory, dn, rdnValue);
    return found === null ? null : this.write(directory, found, values);
  }

  private async write(directory: Directory, dn: string, values: Record<string, string>): Promise<string> {
    const rdn = firstRdn(dn);
    const rdnAttribute = this.config.rdnAttribute.toLowerCase();
    let current = dn;
    if (rdn.length === 1 && rdn[0]!.type.toLowerCase() === rdnAttribute && rdn[0]!.value !== values[this.config.rdnAttribute]) {
      current = await this.rename(directory, dn, childDn(this.config.rdnAttribute, this.rdnValueOf(values), parentDn(dn)));
    }
    // The RDN's attributes are the rename's business: replacing them is refused (notAllowedOnRDN).
    const inRdn = new Set(rdn.map((a) => a.type.toLowerCase()));
    const changes = writtenAttributes(this.config)
      .filter((name) => !inRdn.has(name.toLowerCase()))
      .map((name) => change('replace', name, values[name] === undefined ? [] : [values[name]]));
    if (changes.length > 0) await directory.modify(current, changes);
    return current;
  }

  /** Renames or moves an entry, keeping its group memberships; the new DN. */
  private async rename(directory: Directory, dn: string, newDn: string): Promise<string> {
    try {
      await directory.rename(dn, newDn);
    } catch (err) {
      // Renamed by an earlier attempt whose answer was lost.
      if (!hasCode(err, ResultCode.noSuchObject) || !(await directory.exists(newDn))) throw err;
    }
    await this.groups.followRename(directory, dn, newDn);
    return newDn;
  }

  private async disable(directory: Directory, key: string): Promise<OperationResult> {
    const { disable } = this.config;
    if (disable.method === 'attribute') {
      try {
        await directory.modify(key, [change('replace', disable.attribute, [disable.value])]);
        return { accountKey: key };
      } catch (err) {
        if (hasCode(err, ResultCode.noSuchObject)) return {};
        throw err;
      }
    }
    const dn = await this.locate(directory, key, null);
    if (dn === null) return {};
    if (isChildOf(dn, disable.disabledDn)) return { accountKey: dn };
    return { accountKey: await this.rename(directory, dn, formatDn([firstRdn(dn), ...parseDn(disable.disabledDn)])) };
  }

  /** The enabled entry's DN, or null when there is no entry. */
  private async enable(directory: Directory, key: string): Promise<string | null> {
    const { disable } = this.config;
    if (disable.method === 'attribute') {
      try {
        // Only our lock value: a lock the server set itself (failed binds) is not ours to lift.
        await directory.modify(key, [change('delete', disable.attribute, [disable.value])]);
      } catch (err) {
        if (hasCode(err, ResultCode.noSuchObject)) return null;
        if (!hasCode(err, ResultCode.noSuchAttribute)) throw err;
      }
      return key;
    }
    const dn = await this.locate(directory, key, null);
    if (dn === null || !isChildOf(dn, disable.disabledDn)) return dn;
    return this.rename(directory, dn, formatDn([firstRdn(dn), ...parseDn(this.config.peopleDn)]));
  }

  private async delete(directory: Directory, key: string): Promise<void> {
    const dn = await this.locate(directory, key, null);
    if (dn === null) return;
    // Before the entry goes, so no group is left listing it where the server keeps no referential integrity.
    for (const groupDn of await this.groups.groupsOf(directory, dn)) await this.groups.removeMember(directory, groupDn, dn);
    try {
      await directory.del(dn);
    } catch (err) {
      if (!hasCode(err, ResultCode.noSuchObject)) throw err;
    }
  }

  /**
   * Where the account's entry is: at its key, at the same RDN in the other place (people ↔
   * disabled), or named by this RDN value in either place. Null when none exists.
   */
  private async locate(directory: Directory, key: string | null, rdnValue: string | null): Promise<string | null> {
    const candidates: string[] = [];
    if (key !== null) {
      candidates.push(key);
      const other = this.otherPlace(key);
      if (other) candidates.push(other);
    }
    if (rdnValue !== null) {
      candidates.push(childDn(this.config.rdnAttribute, rdnValue, this.config.peopleDn));
      if (this.config.disable.method === 'move') candidates.push(childDn(this.config.rdnAttribute, rdnValue, this.config.disable.disabledDn));
    }
    for (const dn of new Set(candidates)) if (await directory.exists(dn)) return dn;
    return null;
  }

  /** The DN the entry would have in the other place (people ↔ disabled), when disable moves entries. */
  private otherPlace(dn: string): string | undefined {
    const { disable, peopleDn } = this.config;
    if (disable.method !== 'move') return undefined;
    if (isChildOf(dn, disable.disabledDn)) return formatDn([firstRdn(dn), ...parseDn(peopleDn)]);
    if (isChildOf(dn, peopleDn)) return formatDn([firstRdn(dn), ...parseDn(disable.disabledDn)]);
    return undefined;
  }

  private rdnValueOf(values: Record<string, string>): string {
    const value = values[this.config.rdnAttribute];
    if (value === undefined) throw new ConnectorError(`${this.target}: the identity has no value for ${this.config.rdnAttribute}, the attribute naming its entry`, false);
    return value;
  }
}

/** Waits for all; the first failure is thrown once every call has finished. */
async function settleAll(calls: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * The registry's factory: `{ "connector": "ldap", "url": "ldap://…", "bindDn": "…",
 * "bindPassword": { "env": "LDAP_PASSWORD" }, "peopleDn": "…", "groupsDn": "…" }`.
 */
export function createLdapConnector(target: string, settings: Record<string, unknown>): Connector {
  return new LdapConnector(target, settings);
}
