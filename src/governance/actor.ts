/*
 * Who acts in governance: a person behind a token, a CLI user naming a person with --as, the
 * recipient of a mail link, or a job acting for nobody. Requests, approvals, delegations and
 * reviews all take an Actor.
 */
import { GovernanceError } from './errors.js';

/** Who acts: the person (null for a system or a token that is nobody), the audit actor, and the token's scopes. */
export interface Actor {
  identityId: string | null;
  actor: string;
  requestId?: string;
  scopes?: readonly string[];
}

/** The person an actor is; refused (403) for a token that belongs to nobody. */
export function requirePerson(by: Actor, what: string): string {
  if (by.identityId === null) {
    throw new GovernanceError('forbidden', `only a person can ${what}: this token belongs to no identity (create one with \`iam token create --identity USERNAME\`)`);
  }
  return by.identityId;
}
