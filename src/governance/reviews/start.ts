/*
 * Starting a campaign: one item per (active identity, grant in force now) in scope, assigned to
 * the first stage's reviewer, with where the access comes from and the SoD conflicts it takes part
 * in. Built for a million items in under a minute and a bounded amount of memory:
 *   - identities are taken in pages of 250 (ordered by id); each page's grants in force are one
 *     query; reviewers come from an in-memory map of managers and the catalogue, never a query
 *     per item; SoD is evaluated once per identity, in memory;
 *   - items go out in multi-row INSERTs of 1,000 rows, a transaction per 5,000, two of them in
 *     flight while the next pages are read (on MySQL each on its own connection), so neither
 *     SQLite's one connection nor InnoDB's locks are held long and only a few batches of rows
 *     are ever in memory.
 * Crash safety: the campaign row is written 'starting' first and set 'running' (with its audit
 * event and the reviewers' mail) only at the end. A start that fails is marked 'failed' and its
 * items deleted; a process that dies mid-start leaves a 'starting' row that tick() fails and
 * cleans up once it is an hour old. Reviewers never see items of a campaign that is not running.
 */
import { randomUUID } from 'node:crypto';
import { recordAudit } from '../../audit/recorder.js';
import { chunks, placeholders } from '../../db/batches.js';
import { forUpdate, type Database, type Sql } from '../../db/database.js';
import { daysAfter } from '../../lifecycle/dates.js';
import { CatalogCache } from '../../policy/catalog.js';
import { inForceAt } from '../../policy/grants.js';
import { SodEvaluator } from '../../policy/sod.js';
import type { DefinitionView } from './definitions-store.js';
import { GovernanceError } from '../errors.js';
import { ContextBuilder, deleteItems, ItemWriter, type ScopedGrant } from './item-writer.js';
import { mailReviewers, reviewMailKey } from './mails.js';
import { resolvePeople } from '../people.js';
import { activeManagers, personRefs, ReviewerResolver, type ManagerMap } from './reviewers.js';
import { resolveScope, type ResolvedScope } from './scope.js';
import { LIVE_STATUSES, UNASSIGNED, type Actor, type CampaignSnapshot, type ReviewDeps } from './types.js';

/** Identities whose grants are read per query. */
const IDENTITY_PAGE = 250;
/** Items buffered before they are written in one transaction. */
const FLUSH_ROWS = 5_000;
/** Flushes written at once (SQLite runs them one after another anyway). */
const FLUSHES_IN_FLIGHT = 2;
const ID_PAGE = 20_000;

/** What a start made. */
export interface StartResult {
  id: string;
  items: number;
  identities: number;
  reviewers: number;
  unassigned: number;
}

/** The ids of the identities in scope, in id order; `managers` already holds every active identity, in id order. */
async function scopeIdentities(sql: Sql, scope: ResolvedScope, managers: ManagerMap): Promise<string[]> {
  let holders: Set<string> | undefined;
  if (scope.items !== undefined) {
    holders = new Set();
    for (const chunk of chunks([...scope.items])) {
      const rows = await sql.query<{ identity_id: string }>(`SELECT DISTINCT identity_id FROM grants WHERE item IN (${placeholders(chunk.length)})`, chunk);
      for (const row of rows) holders.add(row.identity_id);
    }
    if (holders.size === 0) return [];
  }
  if (scope.department === undefined) return [...managers.keys()].filter((id) => holders === undefined || holders.has(id));
  const out: string[] = [];
  let after = '';
  for (;;) {
    const rows = await sql.query<{ id: string }>(
      `SELECT id FROM identities WHERE active = 1 AND id > ? AND department = ? ORDER BY id LIMIT ${ID_PAGE}`, [after, scope.department]);
    for (const row of rows) if (holders === undefined || holders.has(row.id)) out.push(row.id);
    if (rows.length < ID_PAGE) return out;
    after = rows[rows.length - 1]!.id;
  }
}

/** Marks a start failed and deletes its items; a failure here leaves the row for tick() to sweep. */
export async function failStart(db: Database, campaignId: string, error: string, actor: string): Promise<void> {
  await deleteItems(db, campaignId);
  await db.transaction(async (tx) => {
    const changed = await tx.execute("UPDATE review_campaigns SET status = 'failed', summary = ? WHERE id = ? AND status = 'starting'",
      [JSON.stringify({ error: error.slice(0, 2000) }), campaignId]);
    if (changed > 0) {
      await recordAudit(tx, { actor, action: 'review.start.failed', targetType: 'review_campaign', targetId: campaignId, details: { error: error.slice(0, 500) } });
    }
  });
}

/** Starts a campaign of `found`; returns what it made. */
export async function startCampaign(
  deps: ReviewDeps, found: DefinitionView, by: Actor, onProgress?: (done: number, total: number) => void,
): Promise<StartResult> {
  const { db, config } = deps;
  const now = deps.clock();
  const definition = found.definition;
  const { catalog } = await CatalogCache.of(db).read(db);
  const scope = resolveScope(catalog, definition.scope);
  const people = await resolvePeople(db, personRefs(catalog, config.governance.targetOwners, definition.stages));
  definition.stages.forEach((stage, i) => {
    if (stage.reviewer === 'people' && !(stage.people ?? []).some((p) => people.has(p))) {
      throw new GovernanceError('invalid', `stage ${i + 1} of ${found.name} names no active person: ${(stage.people ?? []).join(', ')}`);
    }
  });

  const id = randomUUID();
  const snapshot: CampaignSnapshot = { definition, source: found.source, starterId: by.identityId };
  const ends = daysAfter(now, definition.stages[0]!.durationDays).toISOString();
  await db.transaction(async (tx) => {
    const live = await tx.query<{ id: string }>(
      `SELECT id FROM review_campaigns WHERE name = ? AND status IN (${placeholders(LIVE_STATUSES.length)})${forUpdate(tx.dialect)}`, [found.name, ...LIVE_STATUSES]);
    if (live.length > 0) throw new GovernanceError('conflict', `a campaign of ${found.name} is still running (${live[0]!.id}); close it first`, { campaignId: live[0]!.id });
    await tx.execute(
      `INSERT INTO review_campaigns (id, name, status, stage, stages, definition, started_by, started, stage_ends, closed, summary)
       VALUES (?, ?, 'starting', 0, ?, ?, ?, ?, ?, NULL, NULL)`,
      [id, found.name, definition.stages.length, JSON.stringify(snapshot), by.actor, now.toISOString(), ends]);
  });

  const writing: Promise<void>[] = [];
  try {
    const managers = await activeManagers(db);
    const resolver = new ReviewerResolver(definition.stages[0]!, {
      catalog, managers, people, targetOwners: config.governance.targetOwners, starterId: by.identityId,
      ...(scope.target !== undefined && { scopeTarget: scope.target }),
    });
    const identities = await scopeIdentities(db, scope, managers);
    const hasSod = [...catalog.sodRules.values()].some((r) => r.enabled);
    const context = new ContextBuilder(catalog, hasSod ? await SodEvaluator.build(catalog) : undefined);
    const writer = new ItemWriter(db, id, 0);
    const inForce = inForceAt(now);
    let withItems = 0;
    let done = 0;
    for (const page of chunks(identities, IDENTITY_PAGE)) {
      const rows = await db.query<ScopedGrant>(
        `SELECT id, identity_id, item, source, source_ref, granted_by, valid_from, valid_until, created FROM grants
         WHERE identity_id IN (${placeholders(page.length)}) AND ${inForce.sql}`, [...page, ...inForce.params]);
      const byIdentity = new Map<string, ScopedGrant[]>();
      for (const row of rows) {
        const list = byIdentity.get(row.identity_id);
        if (list) list.push(row);
        else byIdentity.set(row.identity_id, [row]);
      }
      for (const identityId of page) {
        const grants = byIdentity.get(identityId);
        if (!grants) continue;
        const inScope = grants.filter((g) => scope.sources.has(g.source) && (scope.items === undefined || scope.items.has(g.item)));
        if (inScope.length === 0) continue;
        withItems++;
        const conflicts = context.conflicts(grants.map((g) => g.item));
        for (const grant of inScope) {
          const { reviewerId, reason } = resolver.resolve(identityId, grant.item);
          writer.add(identityId, grant.id, grant.item, reviewerId, reason, context.json(grant, context.conflictsOf(grant.item, conflicts)));
        }
      }
      if (writer.buffered >= FLUSH_ROWS) {
        // The next pages are read and built while earlier flushes are written (on MySQL, over
        // connections of their own, so the server inserts on several threads); a bounded number
        // in flight, so only a few batches of rows are ever in memory.
        if (writing.length >= FLUSHES_IN_FLIGHT) await writing.shift();
        const flush = writer.flush();
        flush.catch(() => undefined);
        writing.push(flush);
      }
      done += page.length;
      onProgress?.(done, identities.length);
    }
    for (const flush of writing.splice(0)) await flush;
    await writer.flush();

    const reviewers = writer.notices();
    const unassigned = writer.perReviewer.get(UNASSIGNED) ?? 0;
    await db.transaction(async (tx) => {
      const changed = await tx.execute("UPDATE review_campaigns SET status = 'running' WHERE id = ? AND status = 'starting'", [id]);
      if (changed === 0) throw new Error(`campaign ${id} stopped being 'starting' while its items were written`);
      await recordAudit(tx, {
        actor: by.actor, action: 'review.start', targetType: 'review_campaign', targetId: id, requestId: by.requestId ?? null,
        details: {
          name: found.name, source: found.source, items: writer.written, identities: withItems, reviewers: reviewers.length, unassigned,
          stages: definition.stages.length, stageEnds: ends, scope: definition.scope,
        },
      });
      await mailReviewers(tx, 'started', { id, name: found.name, stage: 0, stages: definition.stages.length, stageEnds: ends },
        reviewers,
        { now, linkTtlHours: config.governance.linkTtlHours, dedupe: (n) => reviewMailKey(id, 0, 'started', n.reviewerId) });
    });
    return { id, items: writer.written, identities: withItems, reviewers: reviewers.length, unassigned };
  } catch (err) {
    await Promise.allSettled(writing);
    await failStart(db, id, (err as Error).message ?? String(err), by.actor).catch(() => undefined);
    throw err;
  }
}
