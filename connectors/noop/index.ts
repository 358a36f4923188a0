/*
 * A connector that does nothing and succeeds at once: for measuring the outbox itself, and for
 * targets that are planned but not connected yet while their operations should still complete.
 */
import type { AccountAttributes, AccountRef, Connector, Operation, OperationResult, TargetAccount } from '../../src/provisioning/connector.js';

export class NoopConnector implements Connector {
  readonly correlation = [{ target: 'userName', identity: 'userName' }];
  readonly keepsDisabledAccounts = true;

  constructor(readonly target: string) {}

  async test(): Promise<void> {}

  /** It keeps nothing, so it has nothing to report: reconciliation sees an empty target. */
  async get(): Promise<TargetAccount | null> {
    return null;
  }

  async *list(): AsyncIterable<TargetAccount[]> {}

  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return { userName: attributes.userName };
  }

  async execute(account: AccountRef, operation: Operation): Promise<OperationResult> {
    // A create reports a key, as a real target would; ours is the account id itself.
    return operation.op === 'create' ? { accountKey: account.accountKey ?? account.accountId } : {};
  }
}

/** The registry's factory: `{ "connector": "noop" }` takes no settings. */
export function createNoopConnector(target: string): Connector {
  return new NoopConnector(target);
}
