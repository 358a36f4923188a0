/*
 * Reading the organization back for reconciliation. list() reads who is in which team first
 * (team by team), then yields the members a page at a time and then the pending invitations a
 * page at a time, so the number of requests grows with pages and teams, never with people.
 * Members are enabled accounts; invitations are pending ones (enabled, since the person is on
 * their way in). GitHub shows no member's email, so members carry `login` only; an invitation
 * carries the login when GitHub knows who it is for, and the email it was sent to.
 */
import type { TargetAccount } from '../../src/provisioning/connector.js';
import { invitationKey, parseAccountKey, sameLogin } from './account-key.js';
import type { GithubInvitation, Organization } from './organization.js';
import type { TeamMemberships, Teams } from './teams.js';

/** The key of a pending invitation: the login once GitHub knows it, else the invitation. */
export function keyOfInvitation(invitation: Pick<GithubInvitation, 'id' | 'login'>): string {
  return invitation.login ?? invitationKey(invitation.id);
}

/** A pending invitation as an account. */
export function invitationAccount(invitation: GithubInvitation, teams: readonly string[]): TargetAccount {
  const attributes: Record<string, string> = {};
  if (invitation.login) attributes.login = invitation.login;
  if (invitation.email) attributes.email = invitation.email;
  return { accountKey: keyOfInvitation(invitation), enabled: true, pending: true, attributes, memberships: [...teams].sort() };
}

/** A member as an account. */
export function memberAccount(login: string, teams: readonly string[]): TargetAccount {
  return { accountKey: login, enabled: true, attributes: { login }, memberships: [...teams].sort() };
}

export class GithubReader {
  constructor(private readonly org: Organization, private readonly teams: Teams) {}

  async *list(): AsyncIterable<TargetAccount[]> {
    const memberships: TeamMemberships = await this.teams.memberships();
    for await (const page of this.org.members()) {
      if (page.length > 0) yield page.map((user) => memberAccount(user.login, memberships.byLogin.get(user.login.toLowerCase()) ?? []));
    }
    for await (const page of this.org.invitations()) {
      if (page.length > 0) yield page.map((invitation) => invitationAccount(invitation, memberships.byInvitation.get(invitation.id) ?? []));
    }
  }

  async get(accountKey: string): Promise<TargetAccount | null> {
    const key = parseAccountKey(accountKey);
    if (key === null) return null;
    if (key.kind === 'invitation') {
      const invitation = await this.org.findInvitation((i) => i.id === key.id);
      const teams = invitation && (await this.org.invitationTeams(invitation.id));
      return invitation && teams ? invitationAccount(invitation, teams) : null;
    }
    const membership = await this.org.membership(key.login);
    if (!membership) return null;
    const teams = await this.teams.of(membership.login);
    if (membership.state === 'active') return memberAccount(membership.login, teams);
    // Pending: the invitation's email, when it was sent to one, is part of what list() shows.
    const invitation = await this.org.findInvitation((i) => sameLogin(i.login, membership.login));
    return invitationAccount(invitation ?? { id: 0, login: membership.login, email: null, role: '' }, teams);
  }
}
