/*
 * Slack user groups as entitlements: an entitlement key is a group's displayName. Group ids are
 * looked up by name once and kept, since every membership change needs one and names rarely
 * move; an id Slack no longer knows (the group was deleted) is forgotten and looked up again.
 * A group that does not exist yet is created with its first member, as Slack allows.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import type { SlackScimApi } from './scim-api.js';
import { SCIM_GROUP_SCHEMA, SCIM_PATCH_SCHEMA } from './user-mapping.js';

interface ScimGroup {
  id: string;
  displayName?: string;
}

interface ListAnswer<T> {
  Resources?: T[];
}

/** A SCIM filter `attribute eq "value"` for a query string; the value as a JSON string, as Slack requires. */
export function eqFilter(attribute: string, value: string): string {
  return `filter=${encodeURIComponent(`${attribute} eq ${JSON.stringify(value)}`)}`;
}

export class SlackGroups {
  private readonly idsByName = new Map<string, string>();

  constructor(private readonly api: SlackScimApi, private readonly target: string) {}

  /** The id of the group with this name, or undefined when Slack has none. */
  async find(name: string): Promise<string | undefined> {
    const known = this.idsByName.get(name);
    if (known) return known;
    const answer = await this.api.call({ method: 'GET', path: `/Groups?${eqFilter('displayName', name)}&startIndex=1&count=10`, label: 'GET /Groups' });
    const groups = (answer.body as ListAnswer<ScimGroup>).Resources ?? [];
    // Slack's filter ignores case; an exact match wins over one that differs only in case.
    const group = groups.find((g) => g.displayName === name) ?? groups.find((g) => g.displayName?.toLowerCase() === name.toLowerCase());
    if (group) this.idsByName.set(name, group.id);
    return group?.id;
  }

  /** Makes the user a member, creating the group when it does not exist; already a member is success. */
  async addMember(name: string, userId: string): Promise<void> {
    // Two rounds: the cached id may be of a group deleted since, or another worker may create
    // the group between our lookup and our create.
    for (let round = 0; round < 2; round++) {
      const id = await this.find(name);
      if (id === undefined) {
        const created = await this.api.call({
          method: 'POST', path: '/Groups', label: 'POST /Groups', accept: [409],
          body: { schemas: [SCIM_GROUP_SCHEMA], displayName: name, members: [{ value: userId }] },
        });
        if (created.status === 409) continue;
        this.idsByName.set(name, (created.body as ScimGroup).id);
        return;
      }
      const patched = await this.api.call({
        method: 'PATCH', path: `/Groups/${encodeURIComponent(id)}`, label: 'PATCH /Groups/{id}', accept: [404],
        body: { schemas: [SCIM_PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }] },
      });
      if (patched.status !== 404) return;
      this.idsByName.delete(name);
    }
    throw new ConnectorError(`${this.target}: user group ${name} changed while a member was being added; will try again`, true);
  }

  /** Takes the user out of the group; not a member, or no such group, is success. */
  async removeMember(name: string, userId: string): Promise<void> {
    const id = await this.find(name);
    if (id === undefined) return;
    const patched = await this.api.call({
      method: 'PATCH', path: `/Groups/${encodeURIComponent(id)}`, label: 'PATCH /Groups/{id}', accept: [404],
      body: { schemas: [SCIM_PATCH_SCHEMA], Operations: [{ op: 'remove', path: `members[value eq ${JSON.stringify(userId)}]` }] },
    });
    // The group is gone, and the user with it.
    if (patched.status === 404) this.idsByName.delete(name);
  }
}
