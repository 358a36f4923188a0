/*
 * The JSON the fake answers with, in the shapes GitHub's description documents (simple-user,
 * team, team-full, organization-full, org-membership, organization-invitation, team-membership).
 * Every required field is there, so the fake's own answers pass the description's response
 * schemas, which the server checks before sending.
 */
import type { FakeInvitation, FakeTeam, FakeUser, OrgRole, OrgState } from './org-state.js';

const CREATED = '2020-01-01T00:00:00Z';

/** GitHub's error body: `{ message, documentation_url, status }`. */
export function errorBody(status: number, message: string, documentationUrl = 'https://docs.github.com/rest'): Record<string, unknown> {
  return { message, documentation_url: documentationUrl, status: String(status) };
}

/** A 422 "Validation Failed" body with one error, as GitHub writes them. */
export function validationFailed(resource: string, field: string, message: string): Record<string, unknown> {
  return { ...errorBody(422, 'Validation Failed'), errors: [{ resource, code: 'unprocessable', field, message }] };
}

export class Representations {
  constructor(private readonly api: string, private readonly state: OrgState) {}

  simpleUser(user: FakeUser): Record<string, unknown> {
    const url = `${this.api}/users/${user.login}`;
    return {
      login: user.login, id: user.id, node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
      avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`, gravatar_id: '',
      url, html_url: `https://github.com/${user.login}`, followers_url: `${url}/followers`, following_url: `${url}/following{/other_user}`,
      gists_url: `${url}/gists{/gist_id}`, starred_url: `${url}/starred{/owner}{/repo}`, subscriptions_url: `${url}/subscriptions`,
      organizations_url: `${url}/orgs`, repos_url: `${url}/repos`, events_url: `${url}/events{/privacy}`, received_events_url: `${url}/received_events`,
      type: 'User', site_admin: false, user_view_type: 'public',
    };
  }

  /** A member of a team as GET /orgs/{org}/teams/{team_slug}/members lists it. */
  teamMember(user: FakeUser): Record<string, unknown> {
    return { ...this.simpleUser(user), role: 'member', inherited: false };
  }

  private organizationSimple(): Record<string, unknown> {
    const url = `${this.api}/orgs/${this.state.org}`;
    return {
      login: this.state.org, id: this.state.orgId, node_id: Buffer.from(`012:Organization${this.state.orgId}`).toString('base64'), url,
      repos_url: `${url}/repos`, events_url: `${url}/events`, hooks_url: `${url}/hooks`, issues_url: `${url}/issues`,
      members_url: `${url}/members{/member}`, public_members_url: `${url}/public_members{/member}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${this.state.orgId}?v=4`, description: null,
    };
  }

  organizationFull(): Record<string, unknown> {
    return {
      ...this.organizationSimple(), name: this.state.org, html_url: `https://github.com/${this.state.org}`,
      has_organization_projects: true, has_repository_projects: true, public_repos: 0, public_gists: 0, followers: 0, following: 0,
      type: 'Organization', created_at: CREATED, updated_at: CREATED, archived_at: null,
    };
  }

  team(team: FakeTeam): Record<string, unknown> {
    const url = `${this.api}/organizations/${this.state.orgId}/team/${team.id}`;
    return {
      id: team.id, node_id: Buffer.from(`04:Team${team.id}`).toString('base64'), url, html_url: `https://github.com/orgs/${this.state.org}/teams/${team.slug}`,
      name: team.name, slug: team.slug, description: null, privacy: 'closed', notification_setting: 'notifications_enabled', permission: 'pull',
      members_url: `${url}/members{/member}`, repositories_url: `${url}/repos`, type: 'organization', organization_id: this.state.orgId, parent: null,
    };
  }

  teamFull(team: FakeTeam): Record<string, unknown> {
    const { parent: _parent, ...team_ } = this.team(team);
    return { ...team_, created_at: CREATED, updated_at: CREATED, members_count: team.members.size, repos_count: 0, organization: this.organizationFull() };
  }

  orgMembership(user: FakeUser, state: 'active' | 'pending', role: OrgRole): Record<string, unknown> {
    const orgUrl = `${this.api}/orgs/${this.state.org}`;
    return {
      url: `${orgUrl}/memberships/${user.login}`, state, role, organization_url: orgUrl, organization: this.organizationSimple(), user: this.simpleUser(user),
    };
  }

  teamMembership(team: FakeTeam, login: string, state: 'active' | 'pending'): Record<string, unknown> {
    return { url: `${this.api}/organizations/${this.state.orgId}/team/${team.id}/memberships/${login}`, role: 'member', state };
  }

  invitation(invitation: FakeInvitation, inviter: FakeUser): Record<string, unknown> {
    return {
      id: invitation.id, login: invitation.login, email: invitation.email, role: invitation.role, created_at: invitation.createdAt,
      failed_at: null, failed_reason: null, inviter: this.simpleUser(inviter), team_count: invitation.teamIds.size,
      node_id: Buffer.from(`022:OrganizationInvitation${invitation.id}`).toString('base64'),
      invitation_teams_url: `${this.api}/organizations/${this.state.orgId}/invitations/${invitation.id}/teams`, invitation_source: 'member',
    };
  }
}
