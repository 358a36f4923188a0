/*
 * What the fake does for each GitHub operation it implements, by operationId. A handler sees a
 * request the server has already matched to a documented operation, authenticated and checked
 * against the description; it changes the organization state as GitHub would and says what to
 * answer. Lists are paged as GitHub pages them: `per_page` (default 30, at most 100), `page`
 * from 1, and a Link header naming the next, last, first and previous pages.
 */
import type { FakeApp } from './app-auth.js';
import { InvitationRefused, type FakeUser, type OrgRole, type OrgState } from './org-state.js';
import { errorBody, validationFailed, type Representations } from './representations.js';

export interface HandlerRequest {
  pathParams: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown> | undefined;
  /** the absolute URL of the request, for Link headers */
  url: URL;
}

export interface HandlerAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface HandlerContext {
  state: OrgState;
  rep: Representations;
  app: FakeApp | undefined;
  /** who the token belongs to, shown as an invitation's inviter */
  inviter: FakeUser;
}

type Handler = (request: HandlerRequest, context: HandlerContext) => HandlerAnswer;

const notFound = (): HandlerAnswer => ({ status: 404, body: errorBody(404, 'Not Found') });

/**
 * One page of a list, with GitHub's Link header. Items are walked, not copied, and only the
 * page's are rendered, so paging through a large organization stays cheap.
 */
export function paged<T>(items: Iterable<T>, total: number, request: HandlerRequest, render: (item: T) => unknown): HandlerAnswer {
  const perPage = Math.min(100, Math.max(1, Number(request.query.get('per_page') ?? 30)));
  const page = Math.max(1, Number(request.query.get('page') ?? 1));
  const last = Math.max(1, Math.ceil(total / perPage));
  const link = (n: number) => {
    const url = new URL(request.url);
    url.searchParams.set('page', String(n));
    url.searchParams.set('per_page', String(perPage));
    return `<${url.href}>`;
  };
  const rels: string[] = [];
  if (page < last) rels.push(`${link(page + 1)}; rel="next"`, `${link(last)}; rel="last"`);
  if (page > 1) rels.push(`${link(1)}; rel="first"`, `${link(page - 1)}; rel="prev"`);
  const body: unknown[] = [];
  let index = 0;
  for (const item of items) {
    if (index >= page * perPage) break;
    if (index >= (page - 1) * perPage) body.push(render(item));
    index++;
  }
  return { status: 200, body, headers: rels.length > 0 ? { link: rels.join(', ') } : {} };
}

/** The handler for every path with `{org}`: another organization is not found, as GitHub hides it. */
function inOrg(handler: Handler): Handler {
  return (request, context) => (request.pathParams.org?.toLowerCase() === context.state.org.toLowerCase() ? handler(request, context) : notFound());
}

/** A handler whose invitation GitHub may refuse: the refusal is GitHub's 422 "Validation Failed". */
function refusable(handler: Handler): Handler {
  return (request, context) => {
    try {
      return handler(request, context);
    } catch (err) {
      if (err instanceof InvitationRefused) return { status: 422, body: validationFailed('OrganizationInvitation', 'data', err.message) };
      throw err;
    }
  };
}

const teamOf = (request: HandlerRequest, context: HandlerContext) => context.state.teams.get(request.pathParams.team_slug!);

export const HANDLERS: Readonly<Record<string, Handler>> = {
  'orgs/get': inOrg((_request, { rep }) => ({ status: 200, body: rep.organizationFull() })),

  'orgs/list-members': inOrg((request, { state, rep }) => {
    const role = request.query.get('role') ?? 'all';
    const render = (login: string) => rep.simpleUser(state.user(login)!);
    if (role === 'all') return paged(state.members.keys(), state.members.size, request, render);
    const logins = [...state.members.entries()].filter(([, r]) => r === role).map(([login]) => login);
    return paged(logins, logins.length, request, render);
  }),

  'orgs/get-membership-for-user': inOrg((request, { state, rep }) => {
    const membership = state.membership(request.pathParams.username!);
    return membership ? { status: 200, body: rep.orgMembership(membership.user, membership.state, membership.role) } : notFound();
  }),

  'orgs/set-membership-for-user': inOrg(refusable((request, { state, rep }) => {
    const role = (request.body?.role as OrgRole | undefined) ?? 'member';
    const membership = state.setMembership(request.pathParams.username!, role);
    // GitHub answers 404 for a login no GitHub user has, though the description lists no 404 here.
    return membership ? { status: 200, body: rep.orgMembership(membership.user, membership.state, membership.role) } : notFound();
  })),

  'orgs/remove-membership-for-user': inOrg((request, { state }) => (state.removeMembership(request.pathParams.username!) ? { status: 204 } : notFound())),

  'orgs/list-pending-invitations': inOrg((request, { state, rep, inviter }) =>
    paged(state.invitations.values(), state.invitations.size, request, (invitation) => rep.invitation(invitation, inviter))),

  'orgs/create-invitation': inOrg(refusable((request, { state, rep, inviter }) => {
    const body = request.body ?? {};
    if (typeof body.email !== 'string') {
      // The fake knows users by login; inviting by numeric id is not something the connector does.
      return { status: 422, body: validationFailed('OrganizationInvitation', 'email', 'The fake supports invitations by email only') };
    }
    const invitation = state.inviteByEmail(body.email, (body.role as string | undefined) ?? 'direct_member', (body.team_ids as number[] | undefined) ?? []);
    return { status: 201, body: rep.invitation(invitation, inviter) };
  })),

  'orgs/cancel-invitation': inOrg((request, { state }) => (state.cancelInvitation(Number(request.pathParams.invitation_id)) ? { status: 204 } : notFound())),

  'orgs/list-invitation-teams': inOrg((request, { state, rep }) => {
    const invitation = state.invitations.get(Number(request.pathParams.invitation_id));
    if (!invitation) return notFound();
    return paged(invitation.teamIds, invitation.teamIds.size, request, (id) => rep.team(state.teamById(id)!));
  }),

  'teams/list': inOrg((request, { state, rep }) => paged(state.teams.values(), state.teams.size, request, (team) => rep.team(team))),

  'teams/get-by-name': inOrg((request, context) => {
    const team = teamOf(request, context);
    return team ? { status: 200, body: context.rep.teamFull(team) } : notFound();
  }),

  'teams/list-members-in-org': inOrg((request, context) => {
    const team = teamOf(request, context);
    if (!team) return notFound();
    return paged(team.members, team.members.size, request, (login) => context.rep.teamMember(context.state.user(login)!));
  }),

  'teams/list-pending-invitations-in-org': inOrg((request, context) => {
    const team = teamOf(request, context);
    if (!team) return notFound();
    const invitations = [...context.state.invitations.values()].filter((i) => i.teamIds.has(team.id));
    return paged(invitations, invitations.length, request, (invitation) => context.rep.invitation(invitation, context.inviter));
  }),

  'teams/get-membership-for-user-in-org': inOrg((request, context) => {
    const team = teamOf(request, context);
    const state = team && context.state.teamMembership(team.slug, request.pathParams.username!);
    return team && state ? { status: 200, body: context.rep.teamMembership(team, request.pathParams.username!, state) } : notFound();
  }),

  'teams/add-or-update-membership-for-user-in-org': inOrg(refusable((request, context) => {
    const team = teamOf(request, context);
    const state = team && context.state.setTeamMembership(team.slug, request.pathParams.username!);
    return team && state ? { status: 200, body: context.rep.teamMembership(team, context.state.user(request.pathParams.username!)!.login, state) } : notFound();
  })),

  'teams/remove-membership-for-user-in-org': inOrg((request, context) => {
    const team = teamOf(request, context);
    return team && context.state.removeTeamMembership(team.slug, request.pathParams.username!) ? { status: 204 } : notFound();
  }),

  'apps/create-installation-access-token': (request, { app }) => {
    if (!app || Number(request.pathParams.installation_id) !== app.options.installationId) return notFound();
    const minted = app.mint();
    return {
      status: 201,
      body: { token: minted.token, expires_at: minted.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'), permissions: { members: 'write' }, repository_selection: 'all' },
    };
  },
};
