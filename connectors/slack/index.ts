/*
 * The Slack connector: people as Slack users and entitlements as Slack user groups, through
 * Slack's SCIM 2.0 API. Slack's DELETE deactivates a user and SCIM has no way to erase one, so
 * disable and delete both deactivate, and the account stays on the target (keepsDisabledAccounts).
 * Writes go through a per-connector limiter that keeps under Slack's per-minute write limits;
 * reads are paged at up to 1,000 users a request, Slack's largest page.
 */
import { z } from 'zod';
import {
  ConnectorError, type AccountAttributes, type AccountRef, type Connector, type CorrelationRule, type Operation, type OperationResult,
  type TargetAccount,
} from '../../src/provisioning/connector.js';
import { correlationRules, mapAttributes, mappingSettings, type AttributeMapping } from '../../src/provisioning/attribute-mapping.js';
import { parseSettings, resolveSecret, secretSetting } from '../../src/provisioning/connector-settings.js';
import { readPatiently } from '../../src/provisioning/connector-http.js';
import { eqFilter, SlackGroups } from './groups.js';
import { SlackApiError, SlackScimApi } from './scim-api.js';
import {
  accountFromUser, asSlackKeeps, attributeOperations, newUserDocument, primaryEmail, SCIM_PATCH_SCHEMA, SLACK_ATTRIBUTES, type PatchOperation, type ScimUser,
} from './user-mapping.js';
import { WriteLimiter } from './write-limiter.js';

export const SLACK_DEFAULT_BASE_URL = 'https://api.slack.com/scim/v2';

/** The identity's names and email, under the names reconciliation reads them back with. */
export const SLACK_DEFAULT_MAPPING: AttributeMapping = {
  userName: 'userName', givenName: 'givenName', familyName: 'familyName', displayName: 'displayName', email: 'email',
};
export const SLACK_DEFAULT_CORRELATION: readonly CorrelationRule[] = [{ target: 'userName', identity: 'userName' }, { target: 'email', identity: 'email' }];


export const slackSettings = z.object({
  /** the SCIM base URL; another host for tests or a proxy */
  baseUrl: z.url().default(SLACK_DEFAULT_BASE_URL).transform((u) => u.replace(/\/+$/, '')),
  /** an org admin's token with the `admin` scope */
  token: secretSetting,
  /** writes this connector sends a minute at most (Slack allows 180 per user endpoint) */
  writesPerMinute: z.coerce.number().positive().default(180),
  /**
   * writes sent at once before the per-minute pace applies; below Slack's smallest burst (20),
   * since requests reach Slack a little later than they leave and a late burst counts late
   */
  writeBurst: z.coerce.number().int().min(1).default(10),
  timeoutMs: z.coerce.number().int().positive().default(30_000),
  /** users per list request; Slack answers at most 1,000 */
  pageSize: z.coerce.number().int().min(1).max(1000).default(1000),
  ...mappingSettings(SLACK_ATTRIBUTES),
});
export type SlackSettings = z.input<typeof slackSettings>;

/** How often, and how long at most, list() waits out a 429 on one page before giving up. */
const READ_LIMITS = { waits: 3, maxWaitMs: 60_000 };

interface ListAnswer {
  Resources?: ScimUser[];
  totalResults?: number;
}

export class SlackConnector implements Connector {
  readonly correlation: readonly CorrelationRule[];
  readonly keepsDisabledAccounts = true;
  readonly deletesAccounts = false;
  private readonly settings: z.output<typeof slackSettings>;
  private readonly mapping: AttributeMapping;
  private readonly api: SlackScimApi;
  private readonly groups: SlackGroups;

  constructor(readonly target: string, settings: Record<string, unknown>) {
    this.settings = parseSettings(slackSettings, target, settings);
    this.mapping = this.settings.attributes ?? SLACK_DEFAULT_MAPPING;
    this.correlation = correlationRules(this.settings.correlate, SLACK_DEFAULT_CORRELATION);
    this.api = new SlackScimApi({
      target,
      baseUrl: this.settings.baseUrl,
      token: resolveSecret(this.settings.token, `target ${target}: token`),
      timeoutMs: this.settings.timeoutMs,
      limiter: new WriteLimiter(this.settings.writesPerMinute, this.settings.writeBurst),
    });
    this.groups = new SlackGroups(this.api, target);
  }

  /** What Slack keeps for these attributes: the mapping applied, the userName in Slack's form. */
  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return asSlackKeeps(mapAttributes(this.mapping, attributes));
  }

  async execute(account: AccountRef, operation: Operation): Promise<OperationResult> {
    const key = account.accountKey;
    switch (operation.op) {
      case 'create':
        return this.create(key, operation);
      case 'update': {
        const attributes = this.targetAttributes(operation.attributes);
        const id = key ?? (await this.locate(attributes))?.id;
        if (id === undefined) throw this.missing(account);
        await this.patchUser(id, attributeOperations(attributes), account);
        return key === null ? { accountKey: id } : {};
      }
      case 'enable':
        if (key === null) throw this.missing(account);
        await this.patchUser(key, [{ op: 'replace', path: 'active', value: true }], account);
        return {};
      case 'disable':
      case 'delete':
        // SCIM cannot erase a Slack user: both deactivate. Never created, or gone, is as asked.
        if (key !== null) await this.deactivate(key);
        return {};
      case 'add-membership':
        if (key === null) throw this.missing(account);
        await this.groups.addMember(operation.entitlement, key);
        return {};
      case 'remove-membership':
        if (key !== null) await this.groups.removeMember(operation.entitlement, key);
        return {};
    }
  }

  async test(): Promise<void> {
    await this.api.call({ method: 'GET', path: '/Users?startIndex=1&count=1', label: 'GET /Users' });
  }

  async get(accountKey: string): Promise<TargetAccount | null> {
    const user = await this.fetchUser(accountKey);
    return user ? accountFromUser(user) : null;
  }

  async *list(): AsyncIterable<TargetAccount[]> {
    const count = this.settings.pageSize;
    for (let startIndex = 1; ;) {
      const page = (await this.listPage(`/Users?startIndex=${startIndex}&count=${count}`)) as ListAnswer;
      const users = page.Resources ?? [];
      if (users.length === 0) return;
      yield users.map(accountFromUser);
      startIndex += users.length;
      if (typeof page.totalResults === 'number' && startIndex > page.totalResults) return;
    }
  }

  /**
   * A create that is safe to repeat: an account Slack already has (by our key, or by userName or
   * email when Slack answers 409) is taken over and brought in line rather than failed.
   */
  private async create(key: string | null, op: Extract<Operation, { op: 'create' }>): Promise<OperationResult> {
    const attributes = this.targetAttributes(op.attributes);
    if (!attributes.userName || !attributes.email) {
      throw new ConnectorError(`${this.target}: Slack needs a userName and an email to create a user; this identity lacks ${attributes.userName ? 'an email' : 'a userName'}`, false);
    }
    // Slack refuses to put a deactivated user in a group, so a user planned disabled is given
    // its groups while active and deactivated afterwards, whatever happens in between.
    const activeWhileCreating = op.enabled || op.memberships.length > 0;
    const id = await this.createOrTakeOver(key, attributes, activeWhileCreating);
    try {
      for (const entitlement of op.memberships) await this.groups.addMember(entitlement, id);
    } finally {
      if (!op.enabled) await this.deactivate(id);
    }
    return { accountKey: id };
  }

  /** The id of the user made, or of the one Slack already had, brought to these attributes and state. */
  private async createOrTakeOver(key: string | null, attributes: Record<string, string>, active: boolean): Promise<string> {
    let user = key === null ? null : await this.fetchUser(key);
    if (user === null) {
      const answer = await this.api.call({ method: 'POST', path: '/Users', label: 'POST /Users', body: newUserDocument(attributes, active), accept: [409] });
      if (answer.status !== 409) return (answer.body as ScimUser).id;
      // Slack's username_taken / email_taken: the account exists, made by an earlier try or by hand.
      user = await this.locate(attributes);
      if (user === null) throw this.api.failure('POST /Users', answer);
    }
    await this.patchUser(user.id, this.changes(user, attributes, active));
    return user.id;
  }

  /** The operations that take this Slack user to these attributes and this active state. */
  private changes(user: ScimUser, attributes: Record<string, string>, active: boolean): PatchOperation[] {
    const current = accountFromUser(user).attributes;
    const differing = Object.fromEntries(Object.entries(attributes).filter(([name, value]) => current[name] !== value));
    const ops = attributeOperations(differing);
    if ((user.active !== false) !== active) ops.push({ op: 'replace', path: 'active', value: active });
    return ops;
  }

  /**
   * The Slack user these attributes belong to: the one with this email, else the one with this
   * userName, else null. A userName is only a name: held by a user with another email it is
   * someone else's (Slack's conversion makes jane.doe@a.com and Jane.Doe@b.com one userName), and taking that
   * account over would hand one person's Slack to another, so that is refused.
   */
  private async locate(attributes: Record<string, string>): Promise<ScimUser | null> {
    const byEmail = attributes.email ? await this.findUser('email', attributes.email) : undefined;
    if (byEmail) return byEmail;
    const byName = attributes.userName ? await this.findUser('userName', attributes.userName) : undefined;
    if (!byName) return null;
    const email = primaryEmail(byName);
    if (attributes.email && email !== undefined && email.toLowerCase() !== attributes.email.toLowerCase()) {
      throw new ConnectorError(`${this.target}: userName ${attributes.userName} is held by Slack user ${byName.id}, who has another email; not taking that account over`, false);
    }
    return byName;
  }

  private async findUser(attribute: 'userName' | 'email', value: string): Promise<ScimUser | undefined> {
    const answer = await this.api.call({ method: 'GET', path: `/Users?${eqFilter(attribute, value)}&startIndex=1&count=1`, label: 'GET /Users' });
    return (answer.body as ListAnswer).Resources?.[0];
  }

  private async fetchUser(id: string): Promise<ScimUser | null> {
    const answer = await this.api.call({ method: 'GET', path: `/Users/${encodeURIComponent(id)}`, label: 'GET /Users/{id}', accept: [404] });
    return answer.status === 404 ? null : (answer.body as ScimUser);
  }

  private async patchUser(id: string, operations: PatchOperation[], account?: AccountRef): Promise<void> {
    if (operations.length === 0) return;
    const answer = await this.api.call({
      method: 'PATCH', path: `/Users/${encodeURIComponent(id)}`, label: 'PATCH /Users/{id}', accept: [404],
      body: { schemas: [SCIM_PATCH_SCHEMA], Operations: operations },
    });
    if (answer.status === 404) throw account ? this.missing(account) : this.api.failure('PATCH /Users/{id}', answer);
  }

  /** DELETE deactivates; an unknown user is as good as deactivated. */
  private async deactivate(id: string): Promise<void> {
    await this.api.call({ method: 'DELETE', path: `/Users/${encodeURIComponent(id)}`, label: 'DELETE /Users/{id}', accept: [404] });
  }

  /** A list page, waiting out a few 429s (Slack's read limit is shared by every SCIM app of the org). */
  private async listPage(path: string): Promise<unknown> {
    const answer = await readPatiently(
      () => this.api.call({ method: 'GET', path, label: 'GET /Users' }),
      (err) => (err instanceof SlackApiError && err.status === 429 ? (err.retryAfterMs ?? 1000) : undefined),
      READ_LIMITS);
    return answer.body;
  }

  private missing(account: AccountRef): ConnectorError {
    return new ConnectorError(`${this.target}: account ${account.accountId} does not exist on Slack`, false);
  }
}

/** The registry's factory: `{ "connector": "slack", "token": { "env": "SLACK_SCIM_TOKEN" } }`. */
export function createSlackConnector(target: string, settings: Record<string, unknown>): Connector {
  return new SlackConnector(target, settings);
}
