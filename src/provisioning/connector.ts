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

export interface Connector {
  readonly target: string;
  /** must treat "already there" / "already gone" as success; idempotencyKey is stable across retries */
  execute(account: AccountRef, operation: Operation, idempotencyKey: string): Promise<OperationResult>;
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
