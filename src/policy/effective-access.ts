/*
 * What an identity holds and why: every role and entitlement its grants give, each with the
 * grants that give it, the role path from the granted item to it, and when each grant ends.
 */
import type { Sql } from '../db/database.js';
import type { Catalog } from './catalog.js';
import { GRANT_COLUMNS, grantFromRow, inForceAt, type GrantRow } from './grants.js';
import { resolveIdentity } from './identity-ref.js';
import { parseItem, PolicyError, type GrantSource } from './model.js';

/** One held item and every route by which it is held. */
export interface AccessItem {
  item: string;
  kind: 'role' | 'entitlement';
  /** the target an entitlement belongs to */
  target?: string;
  via: Array<{
    grantId: string;
    source: GrantSource;
    sourceRef: string;
    /** from the granted item to this one, both included: [granted] when granted directly */
    path: string[];
    validFrom: string | null;
    validUntil: string | null;
    grantedBy: string;
  }>;
}

/** An identity's effective access. */
export interface EffectiveAccess {
  identityId: string;
  userName: string;
  items: AccessItem[];
}

/**
 * The effective access of an identity (by id or userName) from its grants in force at `at`
 * (default now); with `allGrants`, from every stored grant whatever its validity window.
 * Items are sorted by name; an item's routes shortest path first (a direct grant before one
 * through a role), then by grant creation.
 */
export async function effectiveAccess(sql: Sql, catalog: Catalog, identityRef: string, at: Date = new Date(), options: { allGrants?: boolean } = {}): Promise<EffectiveAccess> {
  const identity = await resolveIdentity(sql, identityRef);
  if (!identity) throw new PolicyError('notFound', `identity ${identityRef} does not exist`);
  const window = options.allGrants ? { sql: '1 = 1', params: [] } : inForceAt(at);
  const rows = await sql.query<GrantRow>(
    `SELECT ${GRANT_COLUMNS} FROM grants WHERE identity_id = ? AND ${window.sql} ORDER BY created, id`, [identity.id, ...window.params]);
  const items = new Map<string, AccessItem>();
  for (const grant of rows.map(grantFromRow)) {
    for (const { item, path } of catalog.closure(grant.item)) {
      let entry = items.get(item);
      if (!entry) {
        const ref = parseItem(item);
        entry = ref?.kind === 'entitlement' ? { item, kind: 'entitlement', target: ref.target, via: [] } : { item, kind: 'role', via: [] };
        items.set(item, entry);
      }
      entry.via.push({
        grantId: grant.id, source: grant.source, sourceRef: grant.sourceRef, path,
        validFrom: grant.validFrom, validUntil: grant.validUntil, grantedBy: grant.grantedBy,
      });
    }
  }
  // Array sort is stable, so routes of equal length keep the grants' creation order.
  for (const entry of items.values()) entry.via.sort((a, b) => a.path.length - b.path.length);
  return {
    identityId: identity.id,
    userName: identity.userName,
    items: [...items.values()].sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0)),
  };
}
