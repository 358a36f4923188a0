import { createHash } from 'node:crypto';

/** The hash that precedes the first event of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an audit event that its hash covers. */
export interface HashedFields {
  occurredAt: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  requestId: string | null;
  details: string;
}

/** sha256 over the predecessor's hash and the event's fields, in a fixed order. */
export function eventHash(prevHash: string, e: HashedFields): string {
  const canonical = JSON.stringify([prevHash, e.occurredAt, e.actor, e.action, e.targetType, e.targetId, e.requestId, e.details]);
  return createHash('sha256').update(canonical).digest('hex');
}
