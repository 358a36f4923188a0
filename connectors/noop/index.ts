/*
 * A connector that does nothing and succeeds at once: for measuring the outbox itself, and for
 * targets that are planned but not connected yet while their operations should still complete.
 */
import type { AccountRef, Connector, Operation, OperationResult } from '../../src/provisioning/connector.js';

export class NoopConnector implements Connector {
  constructor(readonly target: string) {}

  async execute(account: AccountRef, operation: Operation): Promise<OperationResult> {
    // A create reports a key, as a real target would; ours is the account id itself.
    return operation.op === 'create' ? { accountKey: account.accountKey ?? account.accountId } : {};
  }
}

/** The registry's factory: `{ "connector": "noop" }` takes no settings. */
export function createNoopConnector(target: string): Connector {
  return new NoopConnector(target);
}
