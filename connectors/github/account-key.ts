/*
 * The GitHub connector's account keys. A person GitHub knows by login is keyed by that login (as
 * GitHub spells it): org membership, team membership and removal all take a login. Someone
 * invited by email before anyone knows their GitHub account has no login yet, only the
 * invitation: `invitation:<id>`. Logins cannot contain a colon, so the two never collide.
 */

export type GithubAccountKey = { kind: 'login'; login: string } | { kind: 'invitation'; id: number };

const INVITATION = 'invitation:';

/** The key of an email invitation. */
export function invitationKey(id: number): string {
  return `${INVITATION}${id}`;
}

/** What a stored key names; null for no key (no create has succeeded). */
export function parseAccountKey(key: string | null): GithubAccountKey | null {
  if (key === null || key === '') return null;
  if (key.startsWith(INVITATION)) {
    const id = Number(key.slice(INVITATION.length));
    if (Number.isSafeInteger(id) && id > 0) return { kind: 'invitation', id };
  }
  return { kind: 'login', login: key };
}

/** Whether two logins are the same GitHub account name (GitHub ignores case in logins). */
export function sameLogin(a: string | null | undefined, b: string | null | undefined): boolean {
  return !!a && !!b && a.toLowerCase() === b.toLowerCase();
}
