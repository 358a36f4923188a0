/*
 * Entitlements as groups: entitlement `platform` is the group `cn=platform,<groupsDn>` of the
 * configured class, created with its first member when it does not exist yet.
 *
 * The empty-group rule: groupOfNames and groupOfUniqueNames must have at least one member, so the
 * last member's removal puts a placeholder DN in (emptyGroupMember), and the next real member's
 * arrival takes it out again. Adding a member and removing the placeholder is one modify (both
 * or neither), but that modify fails when the placeholder is absent, which is the usual case; so
 * groups this process has seen without a placeholder get a plain add, one round trip.
 *
 * Every change here is idempotent: a member already there, a member or group already gone, count
 * as done.
 */
import type { Client } from 'ldapts';
import { hash53 } from '../../src/provisioning/hash53.js';
import { childDn, dnKey } from './dn.js';
import { change, hasCode, ResultCode, type Directory } from './directory.js';
import { allOf, equals } from './filter.js';
import type { LdapConfig } from './settings.js';

/** More distinct groups than this and the placeholder knowledge is forgotten (it is only a shortcut). */
const MAX_REMEMBERED_GROUPS = 100_000;

/** The groups listing an entry, by the entry's DN. */
export interface MembershipIndex {
  groupsOf(dn: string): readonly string[];
}

export class LdapGroups {
  /** groups (by dnKey) last seen without the placeholder */
  private readonly withoutPlaceholder = new Set<string>();

  constructor(private readonly config: Pick<LdapConfig, 'groupsDn' | 'groupClass' | 'memberAttribute' | 'emptyGroupMember'>) {}

  /** The group's DN for an entitlement key. */
  groupDn(entitlement: string): string {
    return childDn('cn', entitlement, this.config.groupsDn);
  }

  /** Makes memberDn a member of the entitlement's group, creating the group if needed. */
  async add(directory: Directory, entitlement: string, memberDn: string): Promise<void> {
    const dn = this.groupDn(entitlement);
    const { memberAttribute: attribute, emptyGroupMember: placeholder } = this.config;
    if (!this.withoutPlaceholder.has(dnKey(dn))) {
      try {
        await directory.modify(dn, [change('add', attribute, [memberDn]), change('delete', attribute, [placeholder])]);
        this.remember(dn, false);
        return;
      } catch (err) {
        if (hasCode(err, ResultCode.typeOrValueExists)) {
          // Already a member; the placeholder may still be there beside it.
          await this.removeValue(directory, dn, placeholder);
          this.remember(dn, false);
          return;
        }
        if (hasCode(err, ResultCode.noSuchObject)) {
          await this.create(directory, dn, entitlement, memberDn);
          return;
        }
        if (!hasCode(err, ResultCode.noSuchAttribute)) throw err;
        this.remember(dn, false);
      }
    }
    try {
      await directory.modify(dn, [change('add', attribute, [memberDn])]);
    } catch (err) {
      if (hasCode(err, ResultCode.typeOrValueExists)) return;
      if (!hasCode(err, ResultCode.noSuchObject)) throw err;
      await this.create(directory, dn, entitlement, memberDn);
    }
  }

  /** Ends memberDn's membership of the entitlement's group; the last member leaves the placeholder behind. */
  async remove(directory: Directory, entitlement: string, memberDn: string): Promise<void> {
    await this.removeMember(directory, this.groupDn(entitlement), memberDn);
  }

  /** Ends memberDn's membership of the group at groupDn. */
  async removeMember(directory: Directory, groupDn: string, memberDn: string): Promise<void> {
    const { memberAttribute: attribute, emptyGroupMember: placeholder } = this.config;
    try {
      await directory.modify(groupDn, [change('delete', attribute, [memberDn])]);
      return;
    } catch (err) {
      if (hasCode(err, ResultCode.noSuchAttribute, ResultCode.noSuchObject)) return;
      if (!hasCode(err, ResultCode.objectClassViolation)) throw err;
    }
    // The group would be left without members, which its class forbids.
    try {
      await directory.modify(groupDn, [change('delete', attribute, [memberDn]), change('add', attribute, [placeholder])]);
    } catch (err) {
      if (!hasCode(err, ResultCode.noSuchAttribute, ResultCode.noSuchObject, ResultCode.typeOrValueExists)) throw err;
    }
    this.remember(groupDn, true);
  }

  /** The DNs of the groups below groupsDn that list memberDn. */
  async groupsOf(directory: Directory, memberDn: string): Promise<string[]> {
    const filter = allOf(equals('objectClass', this.config.groupClass), equals(this.config.memberAttribute, memberDn));
    const entries = await directory.search(this.config.groupsDn, { scope: 'sub', filter, attributes: ['1.1'] });
    return entries.map((e) => e.dn);
  }

  /**
   * Who is in which group directly below groupsDn, read with one paged search: what list() needs
   * to give each of thousands of entries its memberships without a search per entry. Members are
   * kept by hash53 of their dnKey and each distinct list of groups once, so the index of a
   * directory of 100,000 people stays a few MB.
   */
  async membershipIndex(client: Client, pageSize: number): Promise<MembershipIndex> {
    const byMember = new Map<number, string[]>();
    const filter = equals('objectClass', this.config.groupClass);
    for await (const page of client.searchPaginated(this.config.groupsDn, { scope: 'one', filter, attributes: [this.config.memberAttribute], paged: { pageSize } })) {
      for (const group of page.searchEntries) {
        const members = group[this.config.memberAttribute];
        for (const member of members === undefined ? [] : Array.isArray(members) ? members : [members]) {
          let key: number;
          try {
            key = hash53(dnKey(Buffer.isBuffer(member) ? member.toString('utf8') : member));
          } catch {
            continue; // not a DN, so nobody's entry
          }
          const groups = byMember.get(key);
          if (groups) groups.push(group.dn);
          else byMember.set(key, [group.dn]);
        }
      }
    }
    // One array per distinct combination of groups, shared by everyone in it.
    const shared = new Map<string, string[]>();
    for (const [key, groups] of byMember) {
      const id = groups.join('\n');
      const known = shared.get(id);
      if (known) byMember.set(key, known);
      else shared.set(id, groups);
    }
    return { groupsOf: (dn) => byMember.get(hash53(dnKey(dn))) ?? [] };
  }

  /**
   * Points every group listing oldDn at newDn after a rename or move. Servers with referential
   * integrity (slapo-refint, memberof-refint) have done it already and nothing is found; on
   * servers without it, memberships would otherwise be lost.
   */
  async followRename(directory: Directory, oldDn: string, newDn: string): Promise<void> {
    const attribute = this.config.memberAttribute;
    for (const groupDn of await this.groupsOf(directory, oldDn)) {
      try {
        await directory.modify(groupDn, [change('delete', attribute, [oldDn]), change('add', attribute, [newDn])]);
      } catch (err) {
        // Someone (the server's own referential integrity) got there between the search and the modify.
        if (hasCode(err, ResultCode.noSuchAttribute)) await this.addValue(directory, groupDn, newDn);
        else if (hasCode(err, ResultCode.typeOrValueExists)) await this.removeValue(directory, groupDn, oldDn);
        else if (!hasCode(err, ResultCode.noSuchObject)) throw err;
      }
    }
  }

  private async create(directory: Directory, dn: string, entitlement: string, memberDn: string): Promise<void> {
    try {
      await directory.add(dn, { objectClass: [this.config.groupClass], cn: entitlement, [this.config.memberAttribute]: [memberDn] });
      this.remember(dn, false);
    } catch (err) {
      if (!hasCode(err, ResultCode.alreadyExists)) throw err;
      // Created by someone else meanwhile: join it (it may carry the placeholder).
      this.withoutPlaceholder.delete(dnKey(dn));
      await this.add(directory, entitlement, memberDn);
    }
  }

  private async addValue(directory: Directory, groupDn: string, value: string): Promise<void> {
    try {
      await directory.modify(groupDn, [change('add', this.config.memberAttribute, [value])]);
    } catch (err) {
      if (!hasCode(err, ResultCode.typeOrValueExists, ResultCode.noSuchObject)) throw err;
    }
  }

  private async removeValue(directory: Directory, groupDn: string, value: string): Promise<void> {
    try {
      await directory.modify(groupDn, [change('delete', this.config.memberAttribute, [value])]);
    } catch (err) {
      if (!hasCode(err, ResultCode.noSuchAttribute, ResultCode.noSuchObject)) throw err;
    }
  }

  private remember(groupDn: string, hasPlaceholder: boolean): void {
    const key = dnKey(groupDn);
    if (hasPlaceholder) {
      this.withoutPlaceholder.delete(key);
      return;
    }
    if (this.withoutPlaceholder.size >= MAX_REMEMBERED_GROUPS) this.withoutPlaceholder.clear();
    this.withoutPlaceholder.add(key);
  }
}
