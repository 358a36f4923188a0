/*
 * The state of the fake's one organization and the rules GitHub applies to it, apart from HTTP:
 * users that exist on GitHub, members with a role, pending invitations (by login or by email,
 * carrying the teams the invitee joins on acceptance), and teams with their members. What GitHub
 * documents is kept: inviting a user who is not a member leaves them pending until they accept;
 * adding a non-member to a team invites them, pending; removing a member takes them out of every
 * team; removing the membership of someone only invited cancels the invitation.
 */

export type OrgRole = 'admin' | 'member';

export interface FakeUser {
  id: number;
  login: string;
  email: string | null;
}

export interface FakeInvitation {
  id: number;
  /** null for an invitation by an email that no GitHub user has */
  login: string | null;
  email: string | null;
  /** GitHub's invitation role: direct_member, admin, billing_manager, … */
  role: string;
  teamIds: Set<number>;
  createdAt: string;
}

export interface FakeTeam {
  id: number;
  slug: string;
  name: string;
  /** lower-cased logins, in the order they joined */
  members: Set<string>;
}

/** Why GitHub refuses an email invitation, in its own words. */
export class InvitationRefused extends Error {}

const lower = (login: string) => login.toLowerCase();

export class OrgState {
  /** every GitHub user the fake knows, by lower-cased login */
  readonly users = new Map<string, FakeUser>();
  /** members by lower-cased login, in the order they joined */
  readonly members = new Map<string, OrgRole>();
  readonly invitations = new Map<number, FakeInvitation>();
  readonly teams = new Map<string, FakeTeam>();
  /** GitHub caps the invitations an organization sends a day (50 on new free organizations); undefined: no cap */
  invitationsPerDay: number | undefined;
  private readonly sent: number[] = [];
  private nextId = 1000;

  constructor(readonly org: string, readonly orgId: number) {}

  /** A GitHub user (made if new): only known users can be invited by login. */
  addUser(login: string, options: { email?: string } = {}): FakeUser {
    const known = this.users.get(lower(login));
    if (known) {
      if (options.email) known.email = options.email;
      return known;
    }
    const user = { id: this.nextId++, login, email: options.email ?? null };
    this.users.set(lower(login), user);
    return user;
  }

  user(login: string): FakeUser | undefined {
    return this.users.get(lower(login));
  }

  /** Makes a user a member at once, as if an invitation had been accepted. */
  addMember(login: string, role: OrgRole = 'member'): FakeUser {
    const user = this.addUser(login);
    this.members.set(lower(login), role);
    return user;
  }

  addTeam(slug: string, name = slug): FakeTeam {
    const known = this.teams.get(slug);
    if (known) return known;
    const team = { id: this.nextId++, slug, name, members: new Set<string>() };
    this.teams.set(slug, team);
    return team;
  }

  teamById(id: number): FakeTeam | undefined {
    for (const team of this.teams.values()) if (team.id === id) return team;
    return undefined;
  }

  /** Puts a member in a team directly (test set-up). */
  addTeamMember(slug: string, login: string): void {
    const team = this.teams.get(slug);
    if (!team) throw new Error(`no team ${slug}`);
    if (!this.members.has(lower(login))) throw new Error(`${login} is not a member of ${this.org}`);
    team.members.add(lower(login));
  }

  isMember(login: string): boolean {
    return this.members.has(lower(login));
  }

  /** The pending invitation of a login, if any. */
  invitationOf(login: string): FakeInvitation | undefined {
    for (const invitation of this.invitations.values()) if (invitation.login && lower(invitation.login) === lower(login)) return invitation;
    return undefined;
  }

  /**
   * PUT /orgs/{org}/memberships/{username}: a member gets the role; anyone else known to GitHub is
   * invited (or their pending invitation gets the role). undefined: no such user. Throws
   * InvitationRefused when no invitation can be sent today.
   */
  setMembership(login: string, role: OrgRole): { user: FakeUser; state: 'active' | 'pending'; role: OrgRole } | undefined {
    const user = this.user(login);
    if (!user) return undefined;
    if (this.isMember(login)) {
      this.members.set(lower(login), role);
      return { user, state: 'active', role };
    }
    const invitation = this.invitationOf(login) ?? this.invite({ login: user.login, email: null, teamIds: [] });
    invitation.role = role === 'admin' ? 'admin' : 'direct_member';
    return { user, state: 'pending', role };
  }

  /** The membership GET /orgs/{org}/memberships/{username} shows, if any. */
  membership(login: string): { user: FakeUser; state: 'active' | 'pending'; role: OrgRole } | undefined {
    const user = this.user(login);
    if (!user) return undefined;
    const role = this.members.get(lower(login));
    if (role) return { user, state: 'active', role };
    const invitation = this.invitationOf(login);
    return invitation ? { user, state: 'pending', role: invitation.role === 'admin' ? 'admin' : 'member' } : undefined;
  }

  /** DELETE /orgs/{org}/memberships/{username}: out of the org and its teams, or the invitation cancelled. false: neither. */
  removeMembership(login: string): boolean {
    if (this.members.delete(lower(login))) {
      for (const team of this.teams.values()) team.members.delete(lower(login));
      return true;
    }
    const invitation = this.invitationOf(login);
    return invitation ? this.invitations.delete(invitation.id) : false;
  }

  /** POST /orgs/{org}/invitations with an email; throws InvitationRefused as GitHub answers 422. */
  inviteByEmail(email: string, role: string, teamIds: number[]): FakeInvitation {
    for (const id of teamIds) if (!this.teamById(id)) throw new InvitationRefused(`team_ids contains ${id}, which is not a team of ${this.org}`);
    const owner = [...this.users.values()].find((u) => u.email && lower(u.email) === lower(email));
    if (owner && this.isMember(owner.login)) throw new InvitationRefused('Invitee is already a part of this organization');
    const pending = [...this.invitations.values()].find((i) => (i.email && lower(i.email) === lower(email)) || (owner && i.login && lower(i.login) === lower(owner.login)));
    if (pending) throw new InvitationRefused('Invitee has already been invited to this organization');
    const invitation = this.invite({ login: owner?.login ?? null, email, teamIds });
    invitation.role = role;
    return invitation;
  }

  cancelInvitation(id: number): boolean {
    return this.invitations.delete(id);
  }

  /**
   * PUT /orgs/{org}/teams/{team_slug}/memberships/{username}: a member joins at once; anyone else
   * known to GitHub is invited to the org with the team (pending). undefined: no such team or
   * user. Throws InvitationRefused when no invitation can be sent today.
   */
  setTeamMembership(slug: string, login: string): 'active' | 'pending' | undefined {
    const team = this.teams.get(slug);
    const user = this.user(login);
    if (!team || !user) return undefined;
    if (this.isMember(login)) {
      team.members.add(lower(login));
      return 'active';
    }
    const invitation = this.invitationOf(login) ?? this.invite({ login: user.login, email: null, teamIds: [] });
    invitation.teamIds.add(team.id);
    return 'pending';
  }

  /** The state GET /orgs/{org}/teams/{team_slug}/memberships/{username} shows, if any. */
  teamMembership(slug: string, login: string): 'active' | 'pending' | undefined {
    const team = this.teams.get(slug);
    if (!team) return undefined;
    if (team.members.has(lower(login))) return 'active';
    return this.invitationOf(login)?.teamIds.has(team.id) ? 'pending' : undefined;
  }

  /** DELETE /orgs/{org}/teams/{team_slug}/memberships/{username}; false: there was none. */
  removeTeamMembership(slug: string, login: string): boolean {
    const team = this.teams.get(slug);
    if (!team) return false;
    if (team.members.delete(lower(login))) return true;
    const invitation = this.invitationOf(login);
    return invitation ? invitation.teamIds.delete(team.id) : false;
  }

  /**
   * The invitee accepts: by invitation id, or by the login or email it was sent to. An email
   * invitation is accepted by a GitHub account, `login` (made if GitHub does not know it yet).
   * Returns the new member's login.
   */
  acceptInvitation(ref: number | string, login?: string): string {
    const invitation = typeof ref === 'number'
      ? this.invitations.get(ref)
      : [...this.invitations.values()].find((i) => (i.login && lower(i.login) === lower(ref)) || (i.email && lower(i.email) === lower(ref)));
    if (!invitation) throw new Error(`no pending invitation ${ref}`);
    const accepting = invitation.login ?? login;
    if (!accepting) throw new Error(`invitation ${invitation.id} is for an email: say which login accepts it`);
    this.addUser(accepting, invitation.email ? { email: invitation.email } : {});
    this.invitations.delete(invitation.id);
    this.members.set(lower(accepting), invitation.role === 'admin' ? 'admin' : 'member');
    for (const id of invitation.teamIds) this.teamById(id)?.members.add(lower(accepting));
    return this.user(accepting)!.login;
  }

  /** A new invitation; throws InvitationRefused when the day's invitations are used up. */
  private invite(fields: { login: string | null; email: string | null; teamIds: Iterable<number> }): FakeInvitation {
    const now = Date.now();
    while (this.sent.length > 0 && this.sent[0]! <= now - 86_400_000) this.sent.shift();
    if (this.invitationsPerDay !== undefined && this.sent.length >= this.invitationsPerDay) throw new InvitationRefused('Over invitation rate limit');
    this.sent.push(now);
    const invitation: FakeInvitation = {
      id: this.nextId++, login: fields.login, email: fields.email, role: 'direct_member', teamIds: new Set(fields.teamIds), createdAt: new Date().toISOString(),
    };
    this.invitations.set(invitation.id, invitation);
    return invitation;
  }
}
