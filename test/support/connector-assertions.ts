import { expect } from 'chai';
import { ConnectorError, type AccountRef } from '../../src/provisioning/connector.js';

/** The ConnectorError a connector call fails with; fails the test when it succeeds or throws anything else. */
export async function connectorFailure(work: Promise<unknown>): Promise<ConnectorError> {
  try {
    await work;
  } catch (err) {
    expect(err).to.be.instanceOf(ConnectorError);
    return err as ConnectorError;
  }
  throw new Error('expected a ConnectorError');
}

/** An account as the outbox hands it to a connector. */
export function accountRef(target: string, accountKey: string | null, accountId = 'acc-1'): AccountRef {
  return { accountId, identityId: `id-${accountId}`, target, accountKey };
}
