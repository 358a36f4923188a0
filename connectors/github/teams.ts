/*
 * Teams, the GitHub connector's entitlements: an entitlement key is a team's slug. Adding a
 * member to a team is immediate; adding someone only invited to the organization makes their
 * team membership pending until they accept, as GitHub does. For reconciliation, who is in which
 * team is read one team at a time (members, and pending invitations that include the team), never
 * one request per person.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import type { GithubApi } from './api.js';
import { GithubError } from './protocol.js';

/** Team slugs by lower-cased login (members) and by invitation id (pending invitees). */
export interface TeamMemberships {
  byLogin: Map<string, string[]>;
  byInvitation: Map<number, string[]>;
}

const enc = encodeURIComponent;

export class Teams {
  private readonly root: string;
  /** team ids by slug: invitations name teams by id, everything else by slug */
  private readonly ids = new Map<string, number>();

  constructor(private readonly api: GithubApi, private readonly target: string, readonly org: string, private readonly perPage: number) {
    this.root = `/orgs/${enc(org)}/teams`;
  }

  /** A team's id, asked once per connector; a team the organization lacks is a permanent error. */
  async id(slug: string): Promise<number> {
    const known = this.ids.get(slug);
    if (known !== undefined) return known;
    const answer = await this.api.call({ method: 'GET', path: `${this.root}/${enc(slug)}`, label: `GET ${this.root}/${slug}`, accept: [404] });
    if (answer.status === 404) throw new ConnectorError(`${this.target}: the organization ${this.org} has no team ${slug}`, false);
    const id = (answer.body as { id: number }).id;
    this.ids.set(slug, id);
    return id;
  }

  /**
   * Adds a login to a team (pending while they are only invited to the organization). Someone in
   * the team already is left alone, so a maintainer is not made a plain member again.
   */
  async add(slug: string, login: string): Promise<void> {
    if (await this.isIn(slug, login)) return;
    await this.api.call({
      method: 'PUT', path: `${this.root}/${enc(slug)}/memberships/${enc(login)}`, label: `PUT ${this.root}/${slug}/memberships/{username}`, body: { role: 'member' },
    });
  }

  /** Takes a login out of a team; not in it, or no such team, is done. */
  async remove(slug: string, login: string): Promise<void> {
    await this.api.call({ method: 'DELETE', path: `${this.root}/${enc(slug)}/memberships/${enc(login)}`, label: `DELETE ${this.root}/${slug}/memberships/{username}`, accept: [404] });
  }

  /** Every team's slug. */
  async slugs(): Promise<string[]> {
    const slugs: string[] = [];
    for await (const page of this.api.pages<{ slug: string; id: number }>(`${this.root}?per_page=${this.perPage}`, `GET ${this.root}`)) {
      for (const team of page) {
        this.ids.set(team.slug, team.id);
        slugs.push(team.slug);
      }
    }
    return slugs;
  }

  /** Whether a login is in a team or invited to it; no such team is not in it. */
  async isIn(slug: string, login: string): Promise<boolean> {
    const answer = await this.api.call({ method: 'GET', path: `${this.root}/${enc(slug)}/memberships/${enc(login)}`, label: `GET ${this.root}/${slug}/memberships/{username}`, accept: [404] });
    return answer.status !== 404;
  }

  /** The teams a login is in or invited to (one request per team: for one account, not for lists). */
  async of(login: string): Promise<string[]> {
    const found: string[] = [];
    for (const slug of await this.slugs()) if (await this.isIn(slug, login)) found.push(slug);
    return found.sort();
  }

  /** Who is in (or invited to) which team, read team by team. */
  async memberships(): Promise<TeamMemberships> {
    const byLogin = new Map<string, string[]>();
    const byInvitation = new Map<number, string[]>();
    const add = <K>(map: Map<K, string[]>, key: K, slug: string) => {
      const list = map.get(key);
      if (list) list.push(slug);
      else map.set(key, [slug]);
    };
    for (const slug of await this.slugs()) {
      try {
        for await (const page of this.api.pages<{ login: string }>(`${this.root}/${enc(slug)}/members?per_page=${this.perPage}`, `GET ${this.root}/${slug}/members`)) {
          for (const user of page) add(byLogin, user.login.toLowerCase(), slug);
        }
        for await (const page of this.api.pages<{ id: number }>(`${this.root}/${enc(slug)}/invitations?per_page=${this.perPage}`, `GET ${this.root}/${slug}/invitations`)) {
          for (const invitation of page) add(byInvitation, invitation.id, slug);
        }
      } catch (err) {
        // A team deleted while the list was read has no members to report.
        if (!(err instanceof GithubError && err.status === 404)) throw err;
      }
    }
    return { byLogin, byInvitation };
  }
}
