/*
 * The GitHub connector: people as members of one GitHub organization, entitlements as its teams
 * (the entitlement key is the team's slug). Someone with a GitHub login (extra.githubLogin by
 * default) is invited by login and keyed by it; someone without one is invited by email and keyed
 * by the invitation (`invitation:<id>`) until GitHub knows their login. GitHub has no disabled
 * member, so disable and delete both take the person out of the organization (or cancel the
 * invitation) and keepsDisabledAccounts is false. Auth is a token or a GitHub App installation;
 * the base URL may name GitHub Enterprise Server (https://HOST/api/v3).
 *
 * An email invitation cannot be edited, only cancelled and sent again: a team added to or removed
 * from someone only invited by email re-issues their invitation with the new team list (which
 * counts against GitHub's invitation limits and gives the invitation a new id, reported as the
 * new account key).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import {
  ConnectorError, type AccountAttributes, type AccountRef, type Connector, type CorrelationRule, type Operation, type OperationResult,
  type TargetAccount,
} from '../../src/provisioning/connector.js';
import { correlationRules, mapAttributes, mappingSettings, type AttributeMapping } from '../../src/provisioning/attribute-mapping.js';
import { parseSettings, resolveSecret, secretSetting } from '../../src/provisioning/connector-settings.js';
import { parseAccountKey, sameLogin } from './account-key.js';
import { GithubApi } from './api.js';
import { AppInstallation, StaticToken, type GithubCredentials } from './auth.js';
import { Organization, type GithubInvitation } from './organization.js';
import { GithubReader, keyOfInvitation } from './reader.js';
import { Teams } from './teams.js';

export const GITHUB_DEFAULT_BASE_URL = 'https://api.github.com';

/** The attributes GitHub reads back: a member's login, an invitation's login and email. */
export const GITHUB_ATTRIBUTES = ['login', 'email'] as const;

/** Who to invite: the GitHub login from HR, else the email. */
export const GITHUB_DEFAULT_MAPPING: AttributeMapping = { login: 'extra.githubLogin', email: 'email' };
export const GITHUB_DEFAULT_CORRELATION: readonly CorrelationRule[] = [{ target: 'login', identity: 'extra.githubLogin' }, { target: 'email', identity: 'email' }];


export const githubSettings = z.object({
  /** the API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server */
  baseUrl: z.url().default(GITHUB_DEFAULT_BASE_URL).transform((u) => u.replace(/\/+$/, '')),
  /** the organization's login */
  org: z.string().min(1),
  auth: z.union([
    /** a token of an organization owner (classic with admin:org, or fine-grained with members read/write) */
    z.object({ token: secretSetting }).strict(),
    /** a GitHub App installed on the organization, with the organization "members" permission (read/write) */
    z.object({
      appId: z.union([z.string().min(1), z.number().int().positive()]).transform(String),
      installationId: z.coerce.number().int().positive(),
      /** the app's private key (PEM) */
      privateKey: secretSetting,
    }).strict(),
  ]),
  /** the organization role people are invited with */
  memberRole: z.enum(['member', 'admin']).default('member'),
  timeoutMs: z.coerce.number().int().positive().default(30_000),
  /** items per list request; GitHub answers at most 100 */
  perPage: z.coerce.number().int().min(1).max(100).default(100),
  ...mappingSettings(GITHUB_ATTRIBUTES),
});
export type GithubSettings = z.input<typeof githubSettings>;

type Create = Extract<Operation, { op: 'create' }>;

export class GithubConnector implements Connector {
  readonly correlation: readonly CorrelationRule[];
  /** GitHub has no disabled member: disabling removes the person from the organization. */
  readonly keepsDisabledAccounts = false;
  /** the installation when auth is a GitHub App (tests read how many tokens it minted) */
  readonly installation: AppInstallation | undefined;
  private readonly settings: z.output<typeof githubSettings>;
  private readonly mapping: AttributeMapping;
  private readonly org: Organization;
  private readonly teams: Teams;
  private readonly reader: GithubReader;

  constructor(readonly target: string, settings: Record<string, unknown>) {
    this.settings = parseSettings(githubSettings, target, settings);
    this.mapping = this.settings.attributes ?? GITHUB_DEFAULT_MAPPING;
    this.correlation = correlationRules(this.settings.correlate, GITHUB_DEFAULT_CORRELATION);
    const { baseUrl, auth, timeoutMs, org, perPage } = this.settings;
    let credentials: GithubCredentials;
    if ('token' in auth) {
      credentials = new StaticToken(resolveSecret(auth.token, `target ${target}: auth.token`));
    } else {
      this.installation = new AppInstallation({
        target, baseUrl, appId: auth.appId, installationId: auth.installationId, timeoutMs,
        privateKey: appPrivateKey(resolveSecret(auth.privateKey, `target ${target}: auth.privateKey`), target),
      });
      credentials = this.installation;
    }
    const api = new GithubApi({ target, baseUrl, credentials, timeoutMs });
    this.org = new Organization(api, target, org, this.settings.memberRole, perPage);
    this.teams = new Teams(api, target, org, perPage);
    this.reader = new GithubReader(this.org, this.teams);
  }

  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return mapAttributes(this.mapping, attributes);
  }

  /** Every GitHub call here is idempotent by itself (PUT, DELETE, or a POST that finds its earlier result), so the key is not needed. */
  async execute(account: AccountRef, operation: Operation, _idempotencyKey?: string): Promise<OperationResult> {
    const key = parseAccountKey(account.accountKey);
    switch (operation.op) {
      case 'create':
        return this.create(account, operation);
      case 'update':
        return this.update(account, operation.attributes);
      case 'enable':
        if (key === null) throw this.missing(account);
        if (key.kind === 'login') return this.keyChange(account, (await this.org.setMembership(key.login)).login);
        // An email invitation still pending is as enabled as GitHub lets it be.
        if (await this.pendingInvitation(key.id)) return {};
        return this.throwGoneInvitation(account);
      case 'disable':
      case 'delete':
        // Not created, or gone already, is as asked.
        if (key?.kind === 'login') await this.org.removeMembership(key.login);
        if (key?.kind === 'invitation') await this.org.cancelInvitation(key.id);
        return {};
      case 'add-membership':
        if (key === null) throw this.missing(account);
        if (key.kind === 'login') {
          await this.teams.add(operation.entitlement, key.login);
          return {};
        }
        return (await this.changeInvitationTeams(account, key.id, (teams) => teams.add(operation.entitlement))) ?? this.throwGoneInvitation(account);
      case 'remove-membership':
        if (key?.kind === 'login') await this.teams.remove(operation.entitlement, key.login);
        // An invitation gone already holds no team.
        if (key?.kind === 'invitation') return (await this.changeInvitationTeams(account, key.id, (teams) => teams.delete(operation.entitlement))) ?? {};
        return {};
    }
  }

  async test(): Promise<void> {
    await this.org.check();
  }

  get(accountKey: string): Promise<TargetAccount | null> {
    return this.reader.get(accountKey);
  }

  list(): AsyncIterable<TargetAccount[]> {
    return this.reader.list();
  }

  /**
   * Invites by login (then adds the teams) or, without a login, by email with the teams in the
   * invitation. Already a member or already invited is success. A create asked to make a disabled
   * account makes sure the login is not in the organization, since that is what disabled means here.
   */
  private async create(account: AccountRef, op: Create): Promise<OperationResult> {
    const { login, email } = this.targetAttributes(op.attributes);
    const key = parseAccountKey(account.accountKey);
    if (!op.enabled) {
      if (!login) return {};
      await this.org.removeMembership(login);
      return { accountKey: login };
    }
    if (login) {
      if (key?.kind === 'invitation') {
        // Invited by email before the login was known: that invitation gives way to one for the login.
        const earlier = await this.org.findInvitation((i) => i.id === key.id);
        if (earlier && !sameLogin(earlier.login, login)) await this.org.cancelInvitation(key.id);
      }
      const member = await this.org.setMembership(login);
      for (const slug of op.memberships) await this.teams.add(slug, member.login);
      return { accountKey: member.login };
    }
    if (email) {
      const teamIds: number[] = [];
      for (const slug of op.memberships) teamIds.push(await this.teams.id(slug));
      return { accountKey: keyOfInvitation(await this.org.inviteByEmail(email, teamIds)) };
    }
    throw new ConnectorError(`${this.target}: account ${account.accountId} cannot be invited: the identity has neither a GitHub login (${this.mapping.login ?? 'no mapping'}) nor an email (${this.mapping.email ?? 'no mapping'})`, false);
  }

  /**
   * GitHub lets an organization change nothing about a user, so an update changes the account
   * only when who it is changes: a login that appears for someone invited by email (the invitation
   * is replaced by one for the login, teams kept), an email that changes for someone invited by
   * email (the invitation goes to the new address), or a login that changes (the person's GitHub
   * account is another one: memberships move to it).
   */
  private async update(account: AccountRef, attributes: AccountAttributes): Promise<OperationResult> {
    const { login, email } = this.targetAttributes(attributes);
    const key = parseAccountKey(account.accountKey);
    if (key === null) {
      const located = await this.locate(login, email);
      if (!located) throw this.missing(account);
      return { accountKey: located };
    }
    if (key.kind === 'invitation') {
      if (login) return this.loginForInvitation(key.id, login);
      const invitation = await this.org.findInvitation((i) => i.id === key.id);
      if (!invitation || !email || invitation.email?.toLowerCase() === email.toLowerCase()) return {};
      const teams = (await this.org.invitationTeams(key.id)) ?? [];
      return this.keyChange(account, await this.reissue(invitation, email, teams));
    }
    if (!login || sameLogin(login, key.login)) return {};
    return this.keyChange(account, await this.moveMember(key.login, login));
  }

  /** The account's key, found by login (a member or invitee) or by email (a pending invitation). */
  private async locate(login: string | undefined, email: string | undefined): Promise<string | undefined> {
    if (login) return (await this.org.membership(login))?.login;
    if (!email) return undefined;
    const invitation = await this.org.findInvitation((i) => i.email !== null && i.email.toLowerCase() === email.toLowerCase());
    return invitation && keyOfInvitation(invitation);
  }

  /**
   * Someone invited by email now has a login: their invitation is replaced by one for the login,
   * with the same teams. An invitation already gone (cancelled on leave) leaves only the new key,
   * so a later enable invites the login.
   */
  private async loginForInvitation(id: number, login: string): Promise<OperationResult> {
    const invitation = await this.org.findInvitation((i) => i.id === id);
    if (!invitation) return { accountKey: login };
    const teams = (await this.org.invitationTeams(id)) ?? [];
    const member = await this.org.setMembership(login);
    for (const slug of teams) await this.teams.add(slug, member.login);
    // GitHub may have matched the email to this very login: then the invitation is theirs already.
    if (!sameLogin(invitation.login, member.login)) await this.org.cancelInvitation(id);
    return { accountKey: member.login };
  }

  /** The person's GitHub account changed: the new login gets the old one's standing and teams; the old one leaves. */
  private async moveMember(from: string, to: string): Promise<string> {
    const standing = await this.org.membership(from);
    // Not in the organization (disabled): nothing moves; a later enable invites the new login.
    if (!standing) return to;
    const teams = await this.teams.of(standing.login);
    const member = await this.org.setMembership(to);
    for (const slug of teams) await this.teams.add(slug, member.login);
    await this.org.removeMembership(standing.login);
    return member.login;
  }

  /** An email invitation with its team list changed: sent again, since GitHub cannot edit one. null: the invitation is gone. */
  private async changeInvitationTeams(account: AccountRef, id: number, change: (teams: Set<string>) => void): Promise<OperationResult | null> {
    const invitation = await this.org.findInvitation((i) => i.id === id);
    const current = invitation && (await this.org.invitationTeams(id));
    if (!invitation || !current || !invitation.email) return null;
    const wanted = new Set(current);
    change(wanted);
    if (wanted.size === current.length && current.every((t) => wanted.has(t))) return {};
    return this.keyChange(account, await this.reissue(invitation, invitation.email, [...wanted].sort()));
  }

  /**
   * Cancels an invitation and sends a new one to `email` with `teams`. Team ids are looked up
   * first, so a team that does not exist fails the operation before anything is cancelled.
   */
  private async reissue(invitation: GithubInvitation, email: string, teams: string[]): Promise<string> {
    const teamIds: number[] = [];
    for (const slug of teams) teamIds.push(await this.teams.id(slug));
    await this.org.cancelInvitation(invitation.id);
    return keyOfInvitation(await this.org.inviteByEmail(email, teamIds));
  }

  private async pendingInvitation(id: number): Promise<boolean> {
    return (await this.org.findInvitation((i) => i.id === id)) !== undefined;
  }

  /** The result of an operation that may have given the account a new key. */
  private keyChange(account: AccountRef, key: string): OperationResult {
    return key === account.accountKey ? {} : { accountKey: key };
  }

  /** An email invitation that is no longer pending cannot be enabled or given teams: GitHub kept no address to invite again. */
  private throwGoneInvitation(account: AccountRef): never {
    throw new ConnectorError(
      `${this.target}: the email invitation of account ${account.accountId} is no longer pending (cancelled on leave, or accepted) and GitHub keeps no address for it; `
      + 'give the identity its GitHub login, or let reconciliation (--fix) invite it again', false);
  }

  private missing(account: AccountRef): ConnectorError {
    return new ConnectorError(`${this.target}: account ${account.accountId} does not exist on ${this.target} (no create has succeeded)`, false);
  }
}

/** The app's private key, read once; a key that is not one stops the start without showing it. */
function appPrivateKey(pem: string, target: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new Error(`target ${target}: auth.privateKey is not a PEM private key`);
  }
}

/** The registry's factory: `{ "connector": "github", "org": "acme", "auth": { "token": { "env": "GITHUB_TOKEN" } } }`. */
export function createGithubConnector(target: string, settings: Record<string, unknown>): Connector {
  return new GithubConnector(target, settings);
}
