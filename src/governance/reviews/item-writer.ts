/*
 * Writing review items in bulk (and deleting them again): rows gathered in a buffer and inserted
 * with multi-row INSERTs, one transaction per flush, so only a flush's rows are ever in memory and
 * a transaction never holds SQLite's connection (or InnoDB's locks) for long.
 */
import { insertRows } from '../../db/batches.js';
import type { Database } from '../../db/database.js';
import type { Catalog } from '../../policy/catalog.js';
import type { SodEvaluator } from '../../policy/sod.js';
import { UNASSIGNED, type ItemContext, type SodConflict } from './types.js';
import type { GrantRow } from '../../policy/grants.js';

/** The review_items columns an item is written with, in the order `add` takes them. */
export const ITEM_COLUMNS = ['campaign_id', 'stage', 'identity_id', 'grant_id', 'item', 'reviewer_id', 'reviewer_reason', 'context'] as const;

// Rows per INSERT: 8 parameters each, 8,000 per statement, within both databases' limits.
const ROWS_PER_STATEMENT = 1000;

/** Buffers item rows and writes them; counts what it wrote per reviewer. */
export class ItemWriter {
  private rows: unknown[][] = [];
  /** rows written so far */
  written = 0;
  /** reviewer id → items assigned in what was written */
  readonly perReviewer = new Map<string, number>();

  constructor(private readonly db: Database, private readonly campaignId: string, private readonly stage: number) {}

  /** Rows waiting for the next flush. */
  get buffered(): number {
    return this.rows.length;
  }

  /** Adds one item. */
  add(identityId: string, grantId: string, item: string, reviewerId: string, reason: string, context: string): void {
    this.rows.push([this.campaignId, this.stage, identityId, grantId, item, reviewerId, reason, context]);
    this.perReviewer.set(reviewerId, (this.perReviewer.get(reviewerId) ?? 0) + 1);
  }

  /** Writes every buffered row in one transaction. */
  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const rows = this.rows;
    this.rows = [];
    await this.db.transaction((tx) => insertRows(tx, 'review_items', ITEM_COLUMNS, rows, ROWS_PER_STATEMENT));
    this.written += rows.length;
  }

  /** One notice per reviewer of the written items, with their count; the unassigned left out. */
  notices(): Array<{ reviewerId: string; count: number }> {
    return [...this.perReviewer].filter(([id]) => id !== UNASSIGNED).map(([reviewerId, count]) => ({ reviewerId, count }));
  }
}

/** Deletes a campaign's items (of one stage, when given) in batches: a failed start's, or a half-written advance's. */
export async function deleteItems(db: Database, campaignId: string, stage?: number): Promise<void> {
  const where = `campaign_id = ?${stage === undefined ? '' : ' AND stage = ?'}`;
  const params = stage === undefined ? [campaignId] : [campaignId, stage];
  for (;;) {
    const rows = await db.query<{ id: number | string }>(`SELECT id FROM review_items WHERE ${where} ORDER BY id LIMIT 10000`, params);
    if (rows.length === 0) return;
    await db.execute(`DELETE FROM review_items WHERE ${where} AND id <= ?`, [...params, rows[rows.length - 1]!.id]);
  }
}

/** A grants row as the start reads it: everything but the reason. */
export type ScopedGrant = Omit<GrantRow, 'reason'>;

/**
 * Builds items' context: the roles an item gives (from the catalogue, once per item) and the SoD
 * conflicts the identity has that the item takes part in (its closure reaches a conflicting item).
 */
export class ContextBuilder {
  private readonly paths = new Map<string, string[]>();
  private readonly reach = new Map<string, ReadonlySet<string>>();
  private readonly triggers: ReadonlySet<string>;

  constructor(private readonly catalog: Catalog, private readonly sod: SodEvaluator | undefined) {
    this.triggers = sod?.triggerItems() ?? new Set();
  }

  /** The roles `item` gives, itself first. */
  path(item: string): string[] {
    let path = this.paths.get(item);
    if (!path) {
      path = this.catalog.closure(item).map((r) => r.item).filter((i) => i.startsWith('role:'));
      if (path.length === 0) path = [item];
      this.paths.set(item, path);
    }
    return path;
  }

  private reached(item: string): ReadonlySet<string> {
    let set = this.reach.get(item);
    if (!set) {
      set = new Set(this.catalog.closure(item).map((r) => r.item));
      this.reach.set(item, set);
    }
    return set;
  }

  /** Every SoD conflict of someone holding `held` (their grants in force); empty unless they hold a trigger item. */
  conflicts(held: readonly string[]): SodConflict[] {
    if (!this.sod || !held.some((i) => this.triggers.has(i))) return [];
    return this.sod.violations(this.catalog.expand(held).keys()).map((v) => ({ rule: v.rule, items: [...v.left, ...v.right] }));
  }

  /** The conflicts among `all` that `item` takes part in. */
  conflictsOf(item: string, all: readonly SodConflict[]): SodConflict[] {
    if (all.length === 0) return all as SodConflict[];
    const reached = this.reached(item);
    return all.filter((c) => c.items.some((i) => reached.has(i)));
  }

  /**
   * The stored context JSON of one grant, without what can be told from the item itself (an
   * empty sourceRef, no end, a path of just the item, no conflicts): a million items are a few
   * hundred MB less to write. contextOf() puts the defaults back.
   */
  json(grant: ScopedGrant, conflicts: SodConflict[]): string {
    const path = this.path(grant.item);
    const stored: Partial<ItemContext> = { source: grant.source, grantedBy: grant.granted_by, since: grant.valid_from ?? grant.created };
    if (grant.source_ref !== '') stored.sourceRef = grant.source_ref;
    if (grant.valid_until !== null) stored.validUntil = grant.valid_until;
    if (path.length !== 1 || path[0] !== grant.item) stored.path = path;
    if (conflicts.length > 0) stored.sodConflicts = conflicts;
    return JSON.stringify(stored);
  }
}

/** An item's context as stored (see ContextBuilder.json), with the left-out defaults put back. */
export function contextOf(stored: string | null, item: string): ItemContext {
  const parsed = (stored === null ? {} : JSON.parse(stored)) as Partial<ItemContext>;
  return {
    source: parsed.source ?? '', sourceRef: parsed.sourceRef ?? '', grantedBy: parsed.grantedBy ?? '', since: parsed.since ?? '',
    validUntil: parsed.validUntil ?? null, path: parsed.path ?? [item], sodConflicts: parsed.sodConflicts ?? [],
  };
}
