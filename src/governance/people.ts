/*
 * People as governance finds them: references in config and the catalogue (ids or userNames)
 * resolved to active identities, and management chains walked for escalation and reassignment.
 * Requests and reviews both use these.
 */
import { chunks, placeholders } from '../db/batches.js';
import type { Sql } from '../db/database.js';

/**
 * Resolves references to people (an identity id or a userName in any case, as role owners,
 * target owners and people stages write them) to active identity ids; unknown or inactive
 * references are left out.
 */
export async function resolvePeople(sql: Sql, refs: Iterable<string>): Promise<Map<string, string>> {
  const list = [...new Set(refs)].filter((r) => r !== '');
  const out = new Map<string, string>();
  for (const chunk of chunks(list)) {
    const lower = chunk.map((r) => r.toLowerCase());
    const rows = await sql.query<{ id: string; user_name: string }>(
      `SELECT id, user_name FROM identities WHERE active = 1 AND (id IN (${placeholders(chunk.length)}) OR user_name IN (${placeholders(chunk.length)}))`,
      [...chunk, ...lower]);
    const byId = new Map(rows.map((r) => [r.id, r.id]));
    const byName = new Map(rows.map((r) => [r.user_name, r.id]));
    for (const ref of chunk) {
      const id = byId.get(ref) ?? byName.get(ref.toLowerCase());
      if (id !== undefined) out.set(ref, id);
    }
  }
  return out;
}

/** An identity as the management chain is walked: its manager and whether it is active. */
export interface ChainLink {
  managerId: string | null;
  active: boolean;
}

/** These identities and their managers up to `depth` levels, active or not (a leaver is already inactive). */
export async function managementChains(sql: Sql, ids: Iterable<string>, depth = 10): Promise<Map<string, ChainLink>> {
  const out = new Map<string, ChainLink>();
  // An unassigned review item names the reviewer '', which is nobody.
  let wanted = [...new Set(ids)].filter((id) => id !== '');
  for (let level = 0; level <= depth && wanted.length > 0; level++) {
    const next: string[] = [];
    for (const chunk of chunks(wanted)) {
      const rows = await sql.query<{ id: string; manager_id: string | null; active: number | string }>(
        `SELECT id, manager_id, active FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk);
      for (const row of rows) {
        const managerId = row.manager_id || null;
        out.set(row.id, { managerId, active: Number(row.active) === 1 });
        if (managerId !== null && !out.has(managerId)) next.push(managerId);
      }
    }
    wanted = [...new Set(next)].filter((id) => !out.has(id));
  }
  return out;
}
