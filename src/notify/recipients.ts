/*
 * Who a mail goes to: an identity's primary work email (as SCIM or HR wrote it) and how to greet
 * them. People without an email get no mail; what they were told about stays on their pages.
 */
import { chunks, placeholders } from '../db/batches.js';
import type { Sql } from '../db/database.js';
import { primaryEmail } from '../identity/user-document.js';

/** A person mail can reach. */
export interface Recipient {
  id: string;
  userName: string;
  /** displayName, else userName */
  name: string;
  /** undefined when the person has no email */
  address: string | undefined;
  /** the person's manager (identity id), for escalation */
  managerId: string | null;
}

/** The recipients for these identity ids, read in batches; unknown ids are left out. */
export async function recipients(sql: Sql, identityIds: Iterable<string>): Promise<Map<string, Recipient>> {
  const out = new Map<string, Recipient>();
  for (const chunk of chunks([...new Set(identityIds)])) {
    const rows = await sql.query<{ id: string; user_name: string; manager_id: string | null; doc: string }>(
      `SELECT id, user_name, manager_id, doc FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk);
    for (const row of rows) {
      const doc = JSON.parse(row.doc) as Record<string, unknown>;
      const userName = typeof doc.userName === 'string' ? doc.userName : row.user_name;
      const name = typeof doc.displayName === 'string' && doc.displayName.trim() !== '' ? doc.displayName : userName;
      out.set(row.id, { id: row.id, userName, name, address: primaryEmail(doc), managerId: row.manager_id });
    }
  }
  return out;
}
