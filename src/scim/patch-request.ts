import { ScimError } from './errors.js';
import type { PatchOperation } from './patch.js';
import { PATCH_OP } from './schema.js';

const OPS = new Set(['add', 'remove', 'replace']);

/**
 * Validates a PatchOp message (RFC 7644 §3.5.2) and returns its operations, op names lowercased
 * (Entra ID capitalises them). An `id` equal to the patched resource's own inside a path-less
 * value is dropped: Okta sends it when renaming a group, and it changes nothing.
 */
export function parsePatchRequest(body: unknown, resourceId: string): PatchOperation[] {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ScimError(400, 'invalidSyntax', 'a PATCH body must be a PatchOp JSON object');
  const message = body as Record<string, unknown>;
  const schemas = message.schemas;
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.some((s) => String(s).toLowerCase() === PATCH_OP.toLowerCase()))) {
    throw new ScimError(400, 'invalidSyntax', `a PATCH body must declare the schema ${PATCH_OP}`);
  }
  const key = Object.keys(message).find((k) => k.toLowerCase() === 'operations');
  const operations = key ? message[key] : undefined;
  if (!Array.isArray(operations) || operations.length === 0) throw new ScimError(400, 'invalidValue', 'a PATCH body needs a non-empty "Operations" list');
  return operations.map((raw, index) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ScimError(400, 'invalidSyntax', `operation ${index + 1} must be an object`);
    const fields = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]));
    const op = typeof fields.op === 'string' ? fields.op.toLowerCase() : undefined;
    if (!op || !OPS.has(op)) throw new ScimError(400, 'invalidSyntax', `operation ${index + 1}: op must be add, remove or replace, not ${JSON.stringify(fields.op)}`);
    if (fields.path !== undefined && typeof fields.path !== 'string') throw new ScimError(400, 'invalidPath', `operation ${index + 1}: path must be a string`);
    if (op === 'remove' && !fields.path) throw new ScimError(400, 'noTarget', `operation ${index + 1}: remove needs a path`);
    if (op !== 'remove' && fields.value === undefined) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: ${op} needs a value`);
    let value = fields.value;
    if (!fields.path && op !== 'remove') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ScimError(400, 'invalidValue', `operation ${index + 1}: ${op} without a path needs an object value`);
      const { id, ...rest } = value as Record<string, unknown>;
      if (id === resourceId) value = rest;
    }
    return { op: op as PatchOperation['op'], path: fields.path as string | undefined, value };
  });
}
