/*
 * The contract between the provisioning outbox and a target system. Workers call a connector
 * only after the change that caused an operation has committed, and may call it again for the
 * same operation (a retry, or a re-run after a crash), always with the same idempotency key: a
 * connector must treat "already there" and "already gone" as success, so running an operation
 * twice has the effect of running it once.
 */

/** The account an operation is about, as the outbox knows it. */
export interface AccountRef {
  /** our id for the account (accounts.id), stable across re-creation */
  accountId: string;
  identityId: string;
  target: string;
  /** the target's own id for the account, once a create has reported one */
  accountKey: string | null;
}

/** What a target is told about the person behind an account. */
export interface AccountAttributes {
  userName: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
  email?: string;
  employeeId?: string;
  /** HR attributes no SCIM attribute carries (identity_lifecycle.extra), e.g. githubLogin */
  extra: Record<string, string>;
}

/** One change to make on a target. Memberships are entitlement keys on that target (`platform`, not `ent:github/platform`). */
export type Operation =
  | { op: 'create'; attributes: AccountAttributes; enabled: boolean; memberships: string[] }
  | { op: 'update'; attributes: AccountAttributes }
  | { op: 'disable' } | { op: 'enable' } | { op: 'delete' }
  | { op: 'add-membership'; entitlement: string } | { op: 'remove-membership'; entitlement: string };

export type OpName = Operation['op'];

/** Every operation name, in the order reports list them. */
export const OP_NAMES: readonly OpName[] = ['create', 'update', 'enable', 'disable', 'add-membership', 'remove-membership', 'delete'];

export interface OperationResult {
  /** the target's id for the account; a create reports it, other operations may */
  accountKey?: string;
}

/**
 * An account as read back from a target, for reconciliation. Attributes are in the target's own
 * vocabulary (LDAP `uid`, `mail`; GitHub `login`, `email`; Slack `userName`, `email`), one text
 * value each, the same names the target's attribute mapping writes.
 */
export interface TargetAccount {
  /** the target's own id, as a create reports it (an LDAP DN, a GitHub login, a Slack user id) */
  accountKey: string;
  enabled: boolean;
  attributes: Record<string, string>;
  /** entitlement keys on this target the account is a member of, sorted */
  memberships: string[];
  /** an invitation not yet accepted (GitHub): the account exists but is not a member yet */
  pending?: boolean;
}

/** How an account on a target is matched to an identity: a target attribute equal to an identity attribute. */
export interface CorrelationRule {
  /** a key of TargetAccount.attributes, e.g. `uid` */
  target: string;
  /** an AccountAttributes path: userName, givenName, familyName, displayName, email, employeeId or extra.<name> */
  identity: string;
}

export interface Connector {
  readonly target: string;
  /** must treat "already there" / "already gone" as success; idempotencyKey is stable across retries */
  execute(account: AccountRef, operation: Operation, idempotencyKey: string): Promise<OperationResult>;
  /** checks the connection and the credentials; throws a ConnectorError carrying the target's own text */
  test(): Promise<void>;
  /** one account by its key, or null when the target does not have it */
  get(accountKey: string): Promise<TargetAccount | null>;
  /** every account on the target, a page at a time (paged reads: a target of 100,000 accounts never sits in memory whole) */
  list(): AsyncIterable<TargetAccount[]>;
  /** the target attributes an account with these attributes should have: the configured mapping applied */
  targetAttributes(attributes: AccountAttributes): Record<string, string>;
  /** the rules reconciliation matches accounts to identities with, first match wins */
  readonly correlation: readonly CorrelationRule[];
  /**
   * false when the target has no disabled state and `disable` removes the account (GitHub
   * organisation membership): a planned-disabled account that is absent is then as planned.
   */
  readonly keepsDisabledAccounts: boolean;
  /**
   * false when `delete` can only deactivate (Slack's SCIM API): a deleted account is then expected
   * to be there, disabled and without memberships. Unset means true.
   */
  readonly deletesAccounts?: boolean;
  close?(): Promise<void>;
}

/**
 * A failure a connector reports. `retryable`: the same call may succeed later (a timeout, a 5xx,
 * a 429); otherwise the operation is dead at once. `retryAfterMs`: the target said when to come
 * back (Retry-After). The message is stored in outbox.last_error and shown to operators: it must
 * never carry a secret.
 */
export class ConnectorError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly retryAfterMs?: number) {
    super(message);
    this.name = 'ConnectorError';
  }
}
