/*
 * Organization membership and invitations, each call safe to repeat: inviting someone who is
 * already a member or already invited keeps them as they are; removing someone who is gone
 * already is done. GitHub's PUT membership invites a user who is not a member yet (pending until
 * they accept); DELETE membership removes a member, or cancels the invitation of someone only
 * invited. An invitation by email cannot be edited, only cancelled and sent again.
 */
import type { GithubApi } from './api.js';
import { GithubError, githubFailure } from './protocol.js';

/** An invitation as GET /orgs/{org}/invitations lists it (the fields the connector reads). */
export interface GithubInvitation {
  id: number;
  login: string | null;
  email: string | null;
  role: string;
}

/** A user as GitHub's member lists show them (the fields the connector reads). */
export interface GithubUser {
  login: string;
  id: number;
}

export interface OrgMembership {
  /** the login as GitHub spells it */
  login: string;
  state: 'active' | 'pending';
}

const enc = encodeURIComponent;

export class Organization {
  private readonly root: string;

  constructor(private readonly api: GithubApi, private readonly target: string, readonly org: string, private readonly role: 'member' | 'admin', private readonly perPage: number) {
    this.root = `/orgs/${enc(org)}`;
  }

  /** The organization itself: proves the credentials can see it. */
  async check(): Promise<void> {
    await this.api.call({ method: 'GET', path: this.root, label: `GET ${this.root}` });
  }

  /**
   * A member or invitee stays as they are; anyone else is invited with the configured role
   * (pending until they accept). Asking first keeps an owner from being demoted by a PUT with the
   * member role, and spares a write (GitHub's secondary limits weigh writes more than reads).
   * A 404 from the PUT: GitHub has no such user.
   */
  async setMembership(login: string): Promise<OrgMembership> {
    const current = await this.membership(login);
    if (current) return current;
    const answer = await this.api.call({
      method: 'PUT', path: `${this.root}/memberships/${enc(login)}`, label: `PUT ${this.root}/memberships/{username}`, body: { role: this.role },
    });
    return this.membershipOf(answer.body, login);
  }

  /** The member or pending invitee of this login, or null. */
  async membership(login: string): Promise<OrgMembership | null> {
    const answer = await this.api.call({ method: 'GET', path: `${this.root}/memberships/${enc(login)}`, label: `GET ${this.root}/memberships/{username}`, accept: [404] });
    return answer.status === 404 ? null : this.membershipOf(answer.body, login);
  }

  /** Out of the organization and all its teams, or the pending invitation cancelled; already gone is done. */
  async removeMembership(login: string): Promise<void> {
    await this.api.call({ method: 'DELETE', path: `${this.root}/memberships/${enc(login)}`, label: `DELETE ${this.root}/memberships/{username}`, accept: [404] });
  }

  /**
   * An invitation by email with these teams. When GitHub refuses it (422) because the address
   * is invited already (a retry of an invitation whose answer was lost), that invitation is the
   * answer; any other refusal is permanent with GitHub's text.
   */
  async inviteByEmail(email: string, teamIds: number[]): Promise<GithubInvitation> {
    const label = `POST ${this.root}/invitations`;
    const answer = await this.api.call({
      method: 'POST', path: `${this.root}/invitations`, label, accept: [422],
      body: { email, role: this.role === 'admin' ? 'admin' : 'direct_member', team_ids: teamIds },
    });
    if (answer.status !== 422) return answer.body as GithubInvitation;
    const existing = await this.findInvitation((i) => i.email !== null && i.email.toLowerCase() === email.toLowerCase());
    if (existing) return existing;
    throw githubFailure(this.target, label, answer, (t) => this.api.mask(t));
  }

  /** The first pending invitation that fits, reading the list a page at a time. */
  async findInvitation(fits: (invitation: GithubInvitation) => boolean): Promise<GithubInvitation | undefined> {
    for await (const page of this.invitations()) {
      const found = page.find(fits);
      if (found) return found;
    }
    return undefined;
  }

  /** Cancels an invitation; already gone (accepted, cancelled, expired) is done. */
  async cancelInvitation(id: number): Promise<void> {
    await this.api.call({ method: 'DELETE', path: `${this.root}/invitations/${id}`, label: `DELETE ${this.root}/invitations/${id}`, accept: [404] });
  }

  /** The team slugs a pending invitation joins on acceptance, or null when the invitation is gone. */
  async invitationTeams(id: number): Promise<string[] | null> {
    const slugs: string[] = [];
    try {
      for await (const page of this.api.pages<{ slug: string }>(`${this.root}/invitations/${id}/teams?per_page=${this.perPage}`, `GET ${this.root}/invitations/${id}/teams`)) {
        slugs.push(...page.map((t) => t.slug));
      }
    } catch (err) {
      if (err instanceof GithubError && err.status === 404) return null;
      throw err;
    }
    return slugs;
  }

  /** The members, a page at a time. */
  members(): AsyncGenerator<GithubUser[]> {
    return this.api.pages<GithubUser>(`${this.root}/members?per_page=${this.perPage}`, `GET ${this.root}/members`);
  }

  /** The pending invitations, a page at a time. */
  invitations(): AsyncGenerator<GithubInvitation[]> {
    return this.api.pages<GithubInvitation>(`${this.root}/invitations?per_page=${this.perPage}`, `GET ${this.root}/invitations`);
  }

  private membershipOf(body: unknown, asked: string): OrgMembership {
    const b = body as { state?: string; user?: { login?: string } | null };
    return { login: b?.user?.login ?? asked, state: b?.state === 'active' ? 'active' : 'pending' };
  }
}
