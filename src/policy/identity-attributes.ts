/*
 * What a birthright rule sees of an identity (the attributes of BIRTHRIGHT_ATTRIBUTES), read in
 * bulk. Recomputing every identity's birthright grants starts here, so the whole population is
 * read in a few dozen queries: the identity rows in keyset pages, group memberships per page, and
 * manager chains put together in memory from manager_id rather than one query per level.
 *
 * Values come from the stored document, not the filter columns: the columns hold the comparison
 * form (lowercased), while a rule compares with what HR wrote ('Engineering', not 'engineering').
 */
import { chunks, placeholders } from '../db/batches.js';
import type { Sql } from '../db/database.js';
import { enterpriseOf, workLocation } from '../identity/user-document.js';

/** An identity as a birthright rule sees it, plus its id. Absent text attributes are left out, never ''. */
export interface IdentityAttributes {
  id: string;
  userName: string;
  active: boolean;
  department?: string;
  title?: string;
  location?: string;
  employmentType?: string;
  costCenter?: string;
  division?: string;
  organization?: string;
  userType?: string;
  employeeNumber?: string;
  /** For each manager up the chain, nearest first: its id, userName and employeeNumber (shared between identities: read only). */
  managerChain: readonly string[];
  /** displayName of every group the identity is a direct member of, sorted (shared between identities: read only). */
  groups: readonly string[];
}

/** How far up a manager chain is followed; deeper managers are not part of it. */
export const MANAGER_CHAIN_DEPTH = 20;

// Rows per keyset page, and ids per IN (...) list: far below SQLite's 32,766 parameters.
const PAGE_SIZE = 2000;
const IDS_PER_QUERY = 1000;

type Doc = Record<string, unknown>;

interface IdentityRow {
  id: string;
  active: number | string;
  manager_id: string | null;
  doc: string;
}

/** What the chain of someone reporting to this identity shows of it. */
interface ManagerFacts {
  userName?: string;
  employeeNumber?: string;
  managerId: string | null;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

function attributesOf(row: IdentityRow, doc: Doc): IdentityAttributes {
  const enterprise = enterpriseOf(doc);
  const attrs: IdentityAttributes = {
    id: row.id,
    userName: text(doc.userName) ?? '',
    active: Number(row.active) === 1,
    managerChain: [],
    groups: [],
  };
  const set = (key: keyof IdentityAttributes, value: string | undefined) => {
    if (value !== undefined) (attrs as unknown as Record<string, unknown>)[key] = value;
  };
  set('department', text(enterprise.department));
  set('title', text(doc.title));
  set('location', workLocation(doc));
  set('employmentType', text(doc.userType));
  set('userType', text(doc.userType));
  set('costCenter', text(enterprise.costCenter));
  set('division', text(enterprise.division));
  set('organization', text(enterprise.organization));
  set('employeeNumber', text(enterprise.employeeNumber));
  return attrs;
}

/** The attributes that take queries of their own; a caller whose rules read neither skips them. */
export interface AttributeNeeds {
  groups: boolean;
  managerChain: boolean;
}

/**
 * Loads the attributes of the given identities (every identity when `ids` is omitted). Unknown ids
 * are absent from the result. Groups and manager chains are left empty where `needs` says so.
 */
export async function loadIdentityAttributes(
  sql: Sql, ids?: readonly string[], needs: AttributeNeeds = { groups: true, managerChain: true },
): Promise<Map<string, IdentityAttributes>> {
  const result = new Map<string, IdentityAttributes>();
  const managerIds = new Map<string, string | null>();
  const addRows = (rows: IdentityRow[]) => {
    for (const row of rows) {
      result.set(row.id, attributesOf(row, JSON.parse(row.doc) as Doc));
      managerIds.set(row.id, row.manager_id);
    }
  };
  const columns = 'id, active, manager_id, doc';
  if (ids === undefined) {
    let after = '';
    for (;;) {
      const rows = await sql.query<IdentityRow>(`SELECT ${columns} FROM identities WHERE id > ? ORDER BY id LIMIT ${PAGE_SIZE}`, [after]);
      addRows(rows);
      if (rows.length < PAGE_SIZE) break;
      after = rows[rows.length - 1]!.id;
    }
  } else {
    for (const chunk of chunks([...new Set(ids)], IDS_PER_QUERY)) {
      addRows(await sql.query<IdentityRow>(`SELECT ${columns} FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk));
    }
  }
  if (needs.groups) await addGroups(sql, result, ids === undefined);
  if (needs.managerChain) {
    const managers = await managerFacts(sql, result, managerIds);
    const chains = new Map<string, Chain>();
    for (const attrs of result.values()) attrs.managerChain = managerChain(attrs.id, managers, chains);
  }
  return result;
}

async function addGroups(sql: Sql, identities: Map<string, IdentityAttributes>, everyone: boolean): Promise<void> {
  const lists = new Map<string, string[]>();
  const add = (rows: Array<{ member_id: string; display_label: string }>) => {
    for (const row of rows) {
      if (!identities.has(row.member_id)) continue;
      const list = lists.get(row.member_id);
      if (list) list.push(row.display_label);
      else lists.set(row.member_id, [row.display_label]);
    }
  };
  const select = 'SELECT gm.member_id, g.display_label FROM group_members gm JOIN directory_groups g ON g.id = gm.group_id WHERE gm.member_type = ?';
  if (everyone) {
    add(await sql.query(select, ['user']));
  } else {
    for (const chunk of chunks([...identities.keys()], IDS_PER_QUERY)) {
      add(await sql.query(`${select} AND gm.member_id IN (${placeholders(chunk.length)})`, ['user', ...chunk]));
    }
  }
  // Most people share their set of groups with many others: one frozen list per distinct set.
  const shared = new Map<string, readonly string[]>();
  for (const [id, list] of lists) {
    const key = JSON.stringify(list.sort());
    let same = shared.get(key);
    if (same === undefined) {
      same = Object.freeze(list);
      shared.set(key, same);
    }
    identities.get(id)!.groups = same;
  }
}

/**
 * The facts every chain needs about each manager reachable from `identities`. Managers outside
 * the loaded set (when only some identities were asked for) are read level by level, at most
 * MANAGER_CHAIN_DEPTH rounds.
 */
async function managerFacts(sql: Sql, identities: Map<string, IdentityAttributes>, managerIds: Map<string, string | null>): Promise<Map<string, ManagerFacts>> {
  const facts = new Map<string, ManagerFacts>();
  for (const [id, attrs] of identities) {
    facts.set(id, { userName: attrs.userName, employeeNumber: attrs.employeeNumber, managerId: managerIds.get(id) ?? null });
  }
  let frontier = [...new Set([...managerIds.values()].filter((m): m is string => m !== null && !facts.has(m)))];
  const missing = new Set<string>();
  for (let level = 0; level < MANAGER_CHAIN_DEPTH && frontier.length > 0; level++) {
    const next = new Set<string>();
    for (const chunk of chunks(frontier, IDS_PER_QUERY)) {
      const rows = await sql.query<IdentityRow>(`SELECT id, active, manager_id, doc FROM identities WHERE id IN (${placeholders(chunk.length)})`, chunk);
      for (const row of rows) {
        const doc = JSON.parse(row.doc) as Doc;
        facts.set(row.id, { userName: text(doc.userName), employeeNumber: text(enterpriseOf(doc).employeeNumber), managerId: row.manager_id });
        if (row.manager_id !== null && !facts.has(row.manager_id)) next.add(row.manager_id);
      }
      for (const id of chunk) if (!facts.has(id)) missing.add(id);
    }
    frontier = [...next].filter((id) => !facts.has(id) && !missing.has(id));
  }
  return facts;
}

/**
 * The chain above `id`: each manager's id, userName and employeeNumber, stopping at a cycle, a
 * dangling reference or the depth limit. Everyone with the same manager has the same chain
 * (unless they sit on a cycle through it), so the chain starting at each manager is built once
 * and shared, frozen.
 */
function managerChain(id: string, facts: Map<string, ManagerFacts>, chains: Map<string, Chain>): readonly string[] {
  const manager = facts.get(id)?.managerId ?? null;
  if (manager === null || manager === id) return [];
  let above = chains.get(manager);
  if (above === undefined) {
    above = chainFrom(manager, facts);
    chains.set(manager, above);
  }
  // On a cycle through `id`, its own chain ends before reaching it again.
  const self = above.positions.get(id);
  return self === undefined ? above.entries : above.entries.slice(0, self);
}

/** A chain's entries, and where each manager's id sits in it. */
interface Chain {
  entries: readonly string[];
  positions: Map<string, number>;
}

/** `first` and the managers above it, MANAGER_CHAIN_DEPTH at most, three entries each (id, userName, employeeNumber when known). */
function chainFrom(first: string, facts: Map<string, ManagerFacts>): Chain {
  const chain: string[] = [];
  const positions = new Map<string, number>();
  let current: string | null = first;
  for (let depth = 0; current !== null && depth < MANAGER_CHAIN_DEPTH && !positions.has(current); depth++) {
    positions.set(current, chain.length);
    chain.push(current);
    const manager = facts.get(current);
    // A manager.value naming no identity still says who the manager was; nothing is known above it.
    if (!manager) break;
    if (manager.userName !== undefined) chain.push(manager.userName);
    if (manager.employeeNumber !== undefined) chain.push(manager.employeeNumber);
    current = manager.managerId;
  }
  return { entries: Object.freeze(chain), positions };
}
