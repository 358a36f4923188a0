/*
 * Operations as outbox rows store them: the name in `op`, the rest as JSON in `payload`, and the
 * attributes of an account in one canonical form, so "did the attributes change?" is a string
 * comparison between the planned JSON and the new one.
 */
import type { AccountAttributes, Operation } from './connector.js';

/** The states of an outbox row. pending → running → done | pending (retry) | dead; pending → cancelled. */
export const OPERATION_STATUSES = ['pending', 'running', 'done', 'dead', 'cancelled'] as const;
export type OperationStatus = (typeof OPERATION_STATUSES)[number];

/** The payload column of an operation: everything but its name. */
export function operationPayload(operation: Operation): string {
  const { op: _op, ...rest } = operation;
  return JSON.stringify(rest);
}

/** The operation an outbox row describes. */
export function operationFromRow(op: string, payload: string): Operation {
  return { ...(JSON.parse(payload) as object), op } as Operation;
}

/**
 * Attributes with their keys in one fixed order and empty values left out, so equal attributes
 * always serialize to equal JSON.
 */
export function canonicalAttributes(attributes: AccountAttributes): AccountAttributes {
  const out: Partial<AccountAttributes> = { userName: attributes.userName };
  if (attributes.givenName) out.givenName = attributes.givenName;
  if (attributes.familyName) out.familyName = attributes.familyName;
  if (attributes.displayName) out.displayName = attributes.displayName;
  if (attributes.email) out.email = attributes.email;
  if (attributes.employeeId) out.employeeId = attributes.employeeId;
  // extra last, its keys sorted: JSON.stringify keeps insertion order
  const extra: Record<string, string> = {};
  for (const key of Object.keys(attributes.extra).sort()) extra[key] = attributes.extra[key]!;
  out.extra = extra;
  return out as AccountAttributes;
}

/** The canonical JSON of attributes (accounts.planned_attributes). */
export function attributesJson(attributes: AccountAttributes): string {
  return JSON.stringify(canonicalAttributes(attributes));
}
