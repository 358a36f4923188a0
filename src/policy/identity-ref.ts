/*
 * How the access model names a person: by identity id, or by userName in any case. userName is
 * case-insensitive in SCIM, and the identities table keeps it lowercased in user_name, so the
 * lookup is one indexed equality either way. The userName returned is as HR wrote it, from the
 * stored document.
 */
import { chunks, placeholders } from '../db/batches.js';
import { forUpdate, type Sql } from '../db/database.js';

/** An identity as the access model sees it. */
export interface IdentityRef {
  id: string;
  userName: string;
  active: boolean;
}

interface IdentityRow {
  id: string;
  user_name: string;
  active: number | string | boolean;
  doc: string;
}

const COLUMNS = 'id, user_name, active, doc';

function toRef(row: IdentityRow): IdentityRef {
  let userName = row.user_name;
  try {
    const written = (JSON.parse(row.doc) as { userName?: unknown }).userName;
    if (typeof written === 'string') userName = written;
  } catch {
    // The comparison form names the same identity.
  }
  return { id: row.id, userName, active: Number(row.active) === 1 };
}

/**
 * The identity `ref` names (an id first, else a userName in any case), or undefined. With `lock`,
 * inside a transaction, the row stays locked until it ends.
 */
export async function resolveIdentity(sql: Sql, ref: string, options: { lock?: boolean } = {}): Promise<IdentityRef | undefined> {
  const rows = await sql.query<IdentityRow>(
    `SELECT ${COLUMNS} FROM identities WHERE id = ? OR user_name = ?${options.lock ? forUpdate(sql.dialect) : ''}`, [ref, ref.toLowerCase()]);
  // An id beats a userName that happens to spell the same text.
  const row = rows.find((r) => r.id === ref) ?? rows[0];
  return row ? toRef(row) : undefined;
}

/** The identities with these ids (unknown ids are left out), read in batches. */
export async function identitiesById(sql: Sql, ids: Iterable<string>): Promise<Map<string, IdentityRef>> {
  const list = [...new Set(ids)];
  const out = new Map<string, IdentityRef>();
  for (const chunk of chunks(list)) {
    const rows = await sql.query<IdentityRow>(`SELECT ${COLUMNS} FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk);
    for (const row of rows) out.set(row.id, toRef(row));
  }
  return out;
}
