/*
 * The person-level facts read from a stored User document, with one definition each: birthright
 * rules (src/policy/identity-attributes.ts), HR feed comparison (src/lifecycle/stored-people.ts)
 * and the attributes sent to targets (src/provisioning/planner.ts) all mean the same location,
 * email and employee id.
 */
import { ENTERPRISE_SCHEMA } from '../scim/schema.js';

type Doc = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The enterprise extension, or an empty object. */
export function enterpriseOf(doc: Doc): Doc {
  const enterprise = doc[ENTERPRISE_SCHEMA];
  return enterprise && typeof enterprise === 'object' ? (enterprise as Doc) : {};
}

/** The locality of the work address, else of the primary one, else of the first. */
export function workLocation(doc: Doc): string | undefined {
  const addresses = Array.isArray(doc.addresses) ? (doc.addresses as Doc[]).filter((a) => a && typeof a === 'object') : [];
  const chosen = addresses.find((a) => typeof a.type === 'string' && a.type.toLowerCase() === 'work')
    ?? addresses.find((a) => a.primary === true)
    ?? addresses[0];
  return chosen ? text(chosen.locality) : undefined;
}

/** The primary email, else the work one, else the first. */
export function primaryEmail(doc: Doc): string | undefined {
  const emails = Array.isArray(doc.emails) ? (doc.emails as Doc[]).filter((e) => e && typeof e.value === 'string') : [];
  const chosen = emails.find((e) => e.primary === true) ?? emails.find((e) => e.type === 'work') ?? emails[0];
  return text(chosen?.value);
}

/** HR's key for the person: the enterprise employeeNumber, else the externalId. */
export function employeeIdOf(doc: Doc): string | undefined {
  return text(enterpriseOf(doc).employeeNumber) ?? text(doc.externalId);
}
