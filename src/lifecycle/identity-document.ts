/*
 * The SCIM User an HR record describes: the document the identity write path stores for a person
 * the feed brings in or changes. Built attribute by attribute in a fixed order, leaving out what
 * HR left empty, so the same record always gives byte-identical JSON and re-importing a feed
 * changes nothing.
 */
import { ENTERPRISE_SCHEMA, USER_SCHEMA } from '../scim/schema.js';
import type { HrRecord } from './hr-record.js';

type Doc = Record<string, unknown>;

/** "given family", or with the preferred name in place of the given one for displayName. */
function fullName(first: string, family: string): string {
  return `${first} ${family}`;
}

/** The enterprise extension: employeeNumber always (it is the match key), the rest when HR has it. */
function enterpriseExtension(record: HrRecord, managerIdentityId: string | undefined): Doc {
  const extension: Doc = { employeeNumber: record.employeeId };
  if (record.costCenter !== null) extension.costCenter = record.costCenter;
  if (record.department !== null) extension.department = record.department;
  if (managerIdentityId !== undefined) extension.manager = { value: managerIdentityId };
  return extension;
}

/**
 * The SCIM User (core and enterprise extension) for an HR record. `managerIdentityId` is the
 * manager's identity id, once classification has resolved record.managerEmployeeId to one.
 * Leave (status "leave") keeps the person active: they come back to the same access.
 */
export function identityDocument(record: HrRecord, managerIdentityId?: string): Doc {
  // Attributes in the order of the User schema, the order SCIM validation writes them in, so a
  // document from a feed and the same document after validation are the same bytes.
  const doc: Doc = {
    schemas: [USER_SCHEMA, ENTERPRISE_SCHEMA],
    externalId: record.employeeId,
    userName: record.email,
    name: {
      givenName: record.givenName,
      familyName: record.familyName,
      formatted: fullName(record.givenName, record.familyName),
    },
    displayName: fullName(record.preferredName ?? record.givenName, record.familyName),
  };
  if (record.title !== null) doc.title = record.title;
  if (record.employmentType !== null) doc.userType = record.employmentType;
  doc.active = record.status !== 'terminated';
  doc.emails = [{ value: record.email, type: 'work', primary: true }];
  if (record.location !== null) doc.addresses = [{ type: 'work', locality: record.location, primary: true }];
  doc[ENTERPRISE_SCHEMA] = enterpriseExtension(record, managerIdentityId);
  return doc;
}
