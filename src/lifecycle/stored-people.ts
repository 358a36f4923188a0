/*
 * The stored side of a feed comparison: every identity HR knows (by employee id) as the
 * classification compares it, read in keyset pages. Values come from the identity's document, so
 * a change made through SCIM since the last feed is what the next feed is compared with; only
 * what the document cannot show (the preferred name, the HR dates) comes from identity_lifecycle.
 *
 * An identity with an employee number or external id but no lifecycle row (created before the
 * lifecycle existed) is a stored person too: active or terminated by its active flag. Identities
 * with no employee key at all are not people a feed can match, but their userNames are taken.
 */
import type { Sql } from '../db/database.js';
import { employeeIdOf, enterpriseOf, primaryEmail, workLocation } from '../identity/user-document.js';
import type { StoredPerson, StoredStatus } from './classify.js';
import { SharedStrings } from './shared-strings.js';

type Doc = Record<string, unknown>;

// People per keyset page: small enough that the parsed documents of a page die young (a page of
// 5,000 outlived collections of the young generation and left its garbage to the old one).
const PAGE_SIZE = 1000;

interface PersonRow {
  id: string;
  active: number | string;
  manager_id: string | null;
  doc: string;
  employee_id: string | null;
  status: string | null;
  preferred_name: string | null;
  hire_date: string | null;
  termination_date: string | null;
}

export interface StoredPeople {
  /** by employee id */
  people: Map<string, StoredPerson>;
  /** lowercased userName → identity id, for identities that are not stored people */
  otherUserNames: Map<string, string>;
  /** identities whose status is active */
  activeCount: number;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function personOf(row: PersonRow, doc: Doc, employeeId: string, shared: SharedStrings): StoredPerson {
  const enterprise = enterpriseOf(doc);
  const name = (doc.name ?? {}) as Doc;
  const status: StoredStatus = (row.status as StoredStatus | null) ?? (Number(row.active) === 1 ? 'active' : 'terminated');
  return {
    identityId: row.id,
    employeeId,
    status: shared.of(status) as StoredStatus,
    givenName: text(name.givenName) ?? '',
    familyName: text(name.familyName) ?? '',
    preferredName: row.preferred_name,
    email: primaryEmail(doc) ?? text(doc.userName) ?? '',
    department: shared.of(text(enterprise.department)),
    title: shared.of(text(doc.title)),
    // resolved once every identity has been read (loadStoredPeople)
    managerEmployeeId: null,
    location: shared.of(workLocation(doc) ?? null),
    costCenter: shared.of(text(enterprise.costCenter)),
    employmentType: shared.of(text(doc.userType)),
    hireDate: shared.of(row.hire_date),
    terminationDate: shared.of(row.termination_date),
  };
}

/** Reads every stored person, and the userNames of every other identity. */
export async function loadStoredPeople(sql: Sql): Promise<StoredPeople> {
  const people = new Map<string, StoredPerson>();
  const otherUserNames = new Map<string, string>();
  let activeCount = 0;
  const employeeIdOfIdentity = new Map<string, string>();
  const managerOf = new Map<StoredPerson, string>();
  const shared = new SharedStrings();
  for (let after = '';;) {
    const rows = await sql.query<PersonRow>(
      `SELECT i.id, i.active, i.manager_id, i.doc, l.employee_id, l.status, l.preferred_name, l.hire_date, l.termination_date
         FROM identities i LEFT JOIN identity_lifecycle l ON l.identity_id = i.id
        WHERE i.id > ? ORDER BY i.id LIMIT ${PAGE_SIZE}`,
      [after],
    );
    for (const row of rows) {
      const doc = JSON.parse(row.doc) as Doc;
      const employeeId = row.employee_id ?? (row.status === null ? employeeIdOf(doc) ?? null : null);
      if (employeeId === null) {
        const userName = text(doc.userName);
        if (userName) otherUserNames.set(userName.toLowerCase(), row.id);
        continue;
      }
      const person = personOf(row, doc, employeeId, shared);
      if (person.status === 'active') activeCount++;
      people.set(employeeId, person);
      employeeIdOfIdentity.set(row.id, employeeId);
      if (row.manager_id !== null) managerOf.set(person, row.manager_id);
    }
    if (rows.length < PAGE_SIZE) break;
    after = rows[rows.length - 1]!.id;
  }
  // Every identity has been read: managers resolve to employee ids here rather than by a join per row.
  for (const [person, managerId] of managerOf) person.managerEmployeeId = employeeIdOfIdentity.get(managerId) ?? null;
  return { people, otherUserNames, activeCount };
}
