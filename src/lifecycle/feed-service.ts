/*
 * HR feed imports: read, classify against the stored people, check the circuit breaker, apply
 * (or hold, or only report for a dry run), and keep a report per feed in hr_feeds. The CLI, the
 * REST API and the drop-folder poll all import through here.
 *
 * A held feed keeps its records; approving it classifies them again against the people as they
 * are then (others may have changed since) and applies the result without asking the breaker
 * again: a person has looked at it. Imports run one at a time in a process, since each is
 * classified against the state the previous one left.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { recordAudit } from '../audit/recorder.js';
import type { Config } from '../config/index.js';
import { forUpdate, type Database } from '../db/database.js';
import type { IdentityService } from '../identity/identity-service.js';
import type { ChangeContext } from '../identity/resources.js';
import { breakerDecision, type BreakerDecision } from './circuit-breaker.js';
import { classifyFeed, type FeedKind, type FeedPlan, type PlanClass } from './classify.js';
import { applyFeedPlan } from './feed-apply.js';
import { loadHrMapping, type HrMapping } from './hr-feed/mapping.js';
import { readHrFeedAll, type HrFeedFormat, type HrFeedSource } from './hr-feed/read.js';
import type { HrRecord, RejectedRow } from './hr-record.js';
import { isoDate } from './dates.js';
import type { JmlActions, JmlOutcome } from './jml.js';
import { loadStoredPeople, type StoredPeople } from './stored-people.js';

export type FeedSource = 'cli' | 'api' | 'drop-folder';
export type FeedStatus = 'applying' | 'applied' | 'held' | 'rejected' | 'dry-run' | 'failed';

export interface FeedImportInput {
  content: HrFeedSource;
  fileName?: string;
  /** default: from the file name's extension, else csv */
  format?: HrFeedFormat;
  /** default: config.hr.feedKind */
  kind?: FeedKind;
  /** default: the mapping file config.hr.mappingFile names */
  mapping?: HrMapping;
  dryRun?: boolean;
  source: FeedSource;
  actor: string;
  requestId?: string;
  /** entries applied so far, of all to apply */
  onProgress?: (done: number, total: number) => void;
}

export interface FeedReport {
  feedId: string;
  status: FeedStatus;
  kind: FeedKind;
  format: HrFeedFormat;
  source: FeedSource;
  fileName: string | null;
  sha256: string;
  /** the date effective dates were compared with */
  today: string;
  counts: Record<PlanClass | 'rejected', number>;
  rejected: RejectedRow[];
  warnings: string[];
  breaker: BreakerDecision;
  applied: { grantsAdded: number; grantsRemoved: number; grantsRevoked: number; grantsFlagged: number; operationsEnqueued: number } | null;
  /** why applying failed, when it did */
  error: string | null;
  durationMs: number;
  created: string;
  createdBy: string;
  decidedBy: string | null;
  decidedAt: string | null;
}

/** A feed id that does not exist, or a decision on a feed that is not held. */
export class FeedError extends Error {
  constructor(readonly kind: 'notFound' | 'conflict', message: string) {
    super(message);
    this.name = 'FeedError';
  }
}

export interface FeedServiceDeps {
  identities: IdentityService;
  jml: JmlActions;
  /** the time effective dates are decided by; tests move it */
  clock?: () => Date;
}

interface FeedRow {
  id: string;
  status: FeedStatus;
  report: string;
  held_records: string | null;
}

interface HeldFeed {
  records: HrRecord[];
  rejected: RejectedRow[];
}

const PAGE_LIMIT = 1000;

/** The feed's content, hashed as it is read: the hash identifies the feed in its report. */
function hashedAsRead(content: HrFeedSource, hash: Hash): HrFeedSource {
  if (typeof content === 'string' || content instanceof Uint8Array) {
    hash.update(content);
    return content;
  }
  return (async function* hashing() {
    for await (const part of content) {
      hash.update(part);
      yield part;
    }
  })();
}

export class FeedService {
  private readonly clock: () => Date;
  /** imports and decisions of this process, one after another */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Database, private readonly config: Config, private readonly deps: FeedServiceDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  /** Imports a feed. Throws HrFeedError / HrMappingError when it cannot be read at all; nothing is recorded then. */
  import(input: FeedImportInput): Promise<FeedReport> {
    return this.serially(() => this.importNow(input));
  }

  /** Applies a held feed. */
  approve(feedId: string, actor: string, requestId?: string): Promise<FeedReport> {
    return this.serially(() => this.decide(feedId, 'approve', actor, requestId));
  }

  /** Drops a held feed: nothing in it is applied. */
  reject(feedId: string, actor: string, requestId?: string): Promise<FeedReport> {
    return this.serially(() => this.decide(feedId, 'reject', actor, requestId));
  }

  async get(feedId: string): Promise<FeedReport> {
    const [row] = await this.db.query<FeedRow>('SELECT id, status, report, held_records FROM hr_feeds WHERE id = ?', [feedId]);
    if (!row) throw new FeedError('notFound', `feed ${feedId} not found`);
    return JSON.parse(row.report) as FeedReport;
  }

  /** Feeds, newest first; `after` is the `next` of the previous page. */
  async list(filter: { status?: FeedStatus; limit: number; after?: string }): Promise<{ feeds: FeedReport[]; next?: string }> {
    const limit = Math.min(Math.max(1, filter.limit), PAGE_LIMIT);
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      where.push('status = ?');
      params.push(filter.status);
    }
    if (filter.after) {
      const [created, id] = filter.after.split('|');
      where.push('(created < ? OR (created = ? AND id < ?))');
      params.push(created, created, id ?? '');
    }
    const rows = await this.db.query<{ id: string; created: string; report: string }>(
      `SELECT id, created, report FROM hr_feeds${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created DESC, id DESC LIMIT ${limit + 1}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { feeds: page.map((r) => JSON.parse(r.report) as FeedReport), ...(rows.length > limit && last && { next: `${last.created}|${last.id}` }) };
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the feed's records as it streams in: only the records are kept, never the file. */
  private async read(input: FeedImportInput): Promise<{ format: HrFeedFormat; sha256: string; records: HrRecord[]; rejected: RejectedRow[] }> {
    const format = input.format ?? (input.fileName?.toLowerCase().endsWith('.json') ? 'json' : 'csv');
    const mapping = input.mapping ?? loadHrMapping(this.config.hr.mappingFile);
    const hash = createHash('sha256');
    const { records, rejected } = await readHrFeedAll(hashedAsRead(input.content, hash), { format, mapping });
    return { format, sha256: hash.digest('hex'), records, rejected };
  }

  private async importNow(input: FeedImportInput): Promise<FeedReport> {
    const started = performance.now();
    // The stored people are read while the file is: one waits on the database, the other parses.
    const [{ format, sha256, records, rejected }, people] = await Promise.all([this.read(input), loadStoredPeople(this.db)]);
    const kind = input.kind ?? this.config.hr.feedKind;

    const now = this.clock();
    const { plan, stored, activeCount } = this.classify(records, rejected, kind, now, people);
    const breaker = breakerDecision({
      leavers: plan.counts.leaver, activeIdentities: activeCount,
      percent: this.config.hr.breakerPercent, absolute: this.config.hr.breakerAbsolute,
    });
    const report: FeedReport = {
      feedId: randomUUID(), status: input.dryRun ? 'dry-run' : breaker.held ? 'held' : 'applying', kind, format, source: input.source,
      fileName: input.fileName ?? null, sha256, today: plan.today,
      counts: plan.counts, rejected: plan.rejected, warnings: plan.warnings, breaker, applied: null, error: null,
      durationMs: 0, created: now.toISOString(), createdBy: input.actor, decidedBy: null, decidedAt: null,
    };
    const ctx: ChangeContext = { actor: input.actor, requestId: `hr-feed:${report.feedId}` };
    const held = report.status === 'held' ? JSON.stringify({ records, rejected } satisfies HeldFeed) : null;
    await this.db.transaction(async (tx) => {
      await tx.execute(
        `INSERT INTO hr_feeds (id, kind, format, source, file_name, sha256, status, report, held_records, created_by, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [report.feedId, kind, format, input.source, report.fileName, report.sha256, report.status, JSON.stringify(report), held, input.actor, report.created],
      );
      await recordAudit(tx, {
        actor: input.actor, action: `hr.feed.${report.status === 'applying' ? 'import' : report.status}`, targetType: 'hr-feed',
        targetId: report.feedId, requestId: input.requestId,
        details: { source: input.source, fileName: report.fileName, sha256: report.sha256, kind, counts: report.counts, breaker: breaker.reason },
      });
    });
    if (report.status !== 'applying') return this.save(report, started);
    return this.applyAndFinish(report, plan, stored, ctx, now, started, input.onProgress);
  }

  private async decide(feedId: string, decision: 'approve' | 'reject', actor: string, requestId?: string): Promise<FeedReport> {
    const started = performance.now();
    const now = this.clock();
    const report = await this.db.transaction(async (tx) => {
      const [row] = await tx.query<FeedRow>(`SELECT id, status, report, held_records FROM hr_feeds WHERE id = ?${forUpdate(tx.dialect)}`, [feedId]);
      if (!row) throw new FeedError('notFound', `feed ${feedId} not found`);
      if (row.status !== 'held') throw new FeedError('conflict', `feed ${feedId} is ${row.status}, not held: only a held feed can be ${decision === 'approve' ? 'approved' : 'rejected'}`);
      const stored: FeedReport = JSON.parse(row.report) as FeedReport;
      const next: FeedReport = { ...stored, status: decision === 'approve' ? 'applying' : 'rejected', decidedBy: actor, decidedAt: now.toISOString() };
      await tx.execute('UPDATE hr_feeds SET status = ?, report = ?, decided_by = ?, decided_at = ?, held_records = ? WHERE id = ?',
        [next.status, JSON.stringify(next), actor, next.decidedAt, decision === 'approve' ? row.held_records : null, feedId]);
      await recordAudit(tx, {
        actor, action: `hr.feed.${decision}`, targetType: 'hr-feed', targetId: feedId, requestId,
        details: { counts: stored.counts, breaker: stored.breaker.reason },
      });
      return { report: next, held: JSON.parse(row.held_records ?? '{"records":[],"rejected":[]}') as HeldFeed };
    });
    if (decision === 'reject') return report.report;
    // Classified again: the people may have changed since the feed was held.
    const { plan, stored } = this.classify(report.held.records, report.held.rejected, report.report.kind, now, await loadStoredPeople(this.db));
    const next: FeedReport = { ...report.report, today: plan.today, counts: plan.counts, rejected: plan.rejected, warnings: plan.warnings };
    return this.applyAndFinish(next, plan, stored, { actor, requestId: `hr-feed:${feedId}` }, now, started);
  }

  private classify(records: HrRecord[], rejected: RejectedRow[], kind: FeedKind, now: Date, { people, otherUserNames, activeCount }: StoredPeople) {
    const plan = classifyFeed(records, people, {
      kind, today: isoDate(now), absentIsLeaver: kind === 'snapshot' && this.config.hr.absentIsLeaver,
      moverAttributes: this.config.hr.moverAttributes, rejectedByReader: rejected, takenUserNames: otherUserNames,
    });
    return { plan, stored: people, activeCount };
  }

  private async applyAndFinish(
    report: FeedReport, plan: FeedPlan, stored: ReturnType<FeedService['classify']>['stored'], ctx: ChangeContext, now: Date,
    started: number, onProgress?: (done: number, total: number) => void,
  ): Promise<FeedReport> {
    let outcome: JmlOutcome;
    try {
      outcome = await applyFeedPlan(this.db, this.deps.identities, this.deps.jml, plan, stored, ctx, now, { onProgress });
    } catch (err) {
      // What was applied stays applied (each chunk commits whole); importing the feed again applies the rest.
      const failed: FeedReport = { ...report, status: 'failed', error: (err as Error).message };
      await this.save(failed, started);
      throw err;
    }
    return this.save({ ...report, status: 'applied', applied: outcome }, started);
  }

  /** Stores the final report; a held feed keeps its records, any other drops them. */
  private async save(report: FeedReport, started: number): Promise<FeedReport> {
    const final = { ...report, durationMs: Math.round(performance.now() - started) };
    await this.db.execute(
      `UPDATE hr_feeds SET status = ?, report = ?${final.status === 'held' ? '' : ', held_records = NULL'} WHERE id = ?`,
      [final.status, JSON.stringify(final), final.feedId],
    );
    return final;
  }
}
