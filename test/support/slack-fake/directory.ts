/*
 * The state of the fake Slack organisation: users and user groups, with the rules Slack keeps
 * across requests (unique userNames and emails, a user's groups read from the groups), and
 * the documents Slack's SCIM 2.0 reference shows for them.
 */
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SLACK_PROFILE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User';
export const SLACK_GUEST_SCHEMA = 'urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

export interface FakeEmail {
  value: string;
  primary: boolean;
}

/** A user as the fake keeps it. */
export interface FakeUser {
  id: string;
  userName: string;
  active: boolean;
  givenName: string;
  familyName: string;
  displayName: string;
  title: string;
  /** the primary first; Slack keeps two at most */
  emails: FakeEmail[];
  /** simple profile strings (userType, locale, timezone, …) */
  profile: Record<string, string>;
  enterprise: Record<string, string>;
  created: string;
}

export interface FakeGroup {
  id: string;
  displayName: string;
  /** user ids, in the order they were added */
  members: Set<string>;
  created: string;
}

/** An id in Slack's form: a letter and ten upper-case letters or digits. */
function slackId(prefix: string, n: number): string {
  return `${prefix}${n.toString(36).toUpperCase().padStart(10, '0')}`;
}

export class Directory {
  readonly users = new Map<string, FakeUser>();
  readonly groups = new Map<string, FakeGroup>();
  private nextUser = 1;
  private nextGroup = 1;

  constructor(private readonly baseUrl: () => string) {}

  newUserId(): string {
    return slackId('U', this.nextUser++);
  }

  newGroupId(): string {
    return slackId('S', this.nextGroup++);
  }

  /** The user other than `except` holding this userName (Slack compares without case). */
  userNameHolder(userName: string, except?: string): FakeUser | undefined {
    const wanted = userName.toLowerCase();
    for (const u of this.users.values()) if (u.id !== except && u.userName.toLowerCase() === wanted) return u;
    return undefined;
  }

  /** The user other than `except` holding any of these emails. */
  emailHolder(emails: readonly string[], except?: string): FakeUser | undefined {
    const wanted = new Set(emails.map((e) => e.toLowerCase()));
    for (const u of this.users.values()) if (u.id !== except && u.emails.some((e) => wanted.has(e.value.toLowerCase()))) return u;
    return undefined;
  }

  groupNamed(displayName: string, except?: string): FakeGroup | undefined {
    const wanted = displayName.toLowerCase();
    for (const g of this.groups.values()) if (g.id !== except && g.displayName.toLowerCase() === wanted) return g;
    return undefined;
  }

  /** The groups a user is in. */
  groupsOf(userId: string): FakeGroup[] {
    return [...this.groups.values()].filter((g) => g.members.has(userId));
  }

  /** The user document of Slack's reference (GET /Users/{id}). */
  renderUser(u: FakeUser): Record<string, unknown> {
    const doc: Record<string, unknown> = {
      schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
      id: u.id,
      externalId: '',
      meta: { created: u.created, location: `${this.baseUrl()}/Users/${u.id}` },
      userName: u.userName,
      nickName: u.userName,
      name: { givenName: u.givenName, familyName: u.familyName },
      displayName: u.displayName,
      profileUrl: `https://fake.enterprise.slack.com/team/${u.userName}`,
      title: u.title,
      timezone: u.profile.timezone ?? 'America/Los_Angeles',
      active: u.active,
      emails: u.emails.map((e) => ({ value: e.value, primary: e.primary })),
      userType: u.profile.userType ?? null,
      preferredLanguage: u.profile.preferredLanguage ?? null,
      locale: u.profile.locale ?? null,
      [ENTERPRISE_SCHEMA]: { ...u.enterprise, manager: { managerId: u.enterprise.managerId ?? null } },
      groups: this.groupsOf(u.id).map((g) => ({ value: g.id, display: g.displayName })),
    };
    delete (doc[ENTERPRISE_SCHEMA] as Record<string, unknown>).managerId;
    return doc;
  }

  /** The group document of Slack's reference (GET /Groups/{id}). */
  renderGroup(g: FakeGroup): Record<string, unknown> {
    return {
      schemas: [GROUP_SCHEMA],
      id: g.id,
      meta: { created: g.created, location: `${this.baseUrl()}/Groups/${g.id}` },
      displayName: g.displayName,
      members: [...g.members].map((id) => {
        const u = this.users.get(id);
        return { value: id, display: u ? u.displayName || u.userName : id };
      }),
    };
  }
}
