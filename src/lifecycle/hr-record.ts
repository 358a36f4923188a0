/*
 * One person as an HR feed describes them, after the column mapping and normalisation: the shape
 * every feed format (CSV, JSON) is read into and that classification compares with the stored
 * identities.
 */

/** Employment status as HR states it, reduced to what the lifecycle acts on. */
export type HrStatus = 'active' | 'terminated' | 'leave';

export interface HrRecord {
  /** 1-based row (CSV: the line the record starts on; JSON: the array index + 1), for reports */
  row: number;
  /** the stable key: SCIM externalId and enterprise employeeNumber */
  employeeId: string;
  givenName: string;
  familyName: string;
  /** the name the person goes by, when HR has one */
  preferredName: string | null;
  /** lowercased work email; also the userName */
  email: string;
  department: string | null;
  title: string | null;
  /** the manager's employee id, resolved to an identity by classification */
  managerEmployeeId: string | null;
  location: string | null;
  costCenter: string | null;
  /** Employee, Contractor, … as HR writes it (becomes SCIM userType) */
  employmentType: string | null;
  status: HrStatus;
  /** ISO dates (YYYY-MM-DD) */
  hireDate: string | null;
  terminationDate: string | null;
  /** extra mapped attributes, e.g. githubLogin, kept for connectors */
  extra: Record<string, string>;
}

/** A row that could not become a record, and why; the rest of the feed is still applied. */
export interface RejectedRow {
  row: number;
  employeeId: string | null;
  reason: string;
}
