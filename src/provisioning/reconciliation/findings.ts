/*
 * Reconciliation runs and their findings as stored: a run row (target, mode, status, summary) and
 * one row per finding, written in batches while the run goes, read back a page at a time, and
 * exported as CSV for auditors.
 */
import { csvLine } from '../../audit/csv.js';
import { insertRows } from '../../db/batches.js';
import type { Sql } from '../../db/database.js';

export const FINDING_KINDS = ['orphan', 'missing', 'drift'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** One discrepancy between a target and the plan. */
export interface Finding {
  kind: FindingKind;
  /**
   * orphan: `no-identity` (matches nobody), `no-grant` (a person with no access planned there),
   * `duplicate` (a second account of a person who has one); missing: `absent`; drift: what
   * differs, comma-separated (`status`, `memberships`, `attributes`, `key`).
   */
  reason: string;
  accountKey: string | null;
  accountId: string | null;
  identityId: string | null;
  userName: string | null;
  /** what was expected and what was found */
  detail: Record<string, unknown>;
  /** operations enqueued to repair it (fix mode) */
  enqueued: number;
}

/** What a run saw and did. */
export interface ReconcileSummary {
  accountsRead: number;
  /** accounts on the target matched to a planned account, by key or by correlation */
  matched: number;
  /** planned accounts with operations pending, running or dead: not compared, the outbox has them */
  inFlight: number;
  orphans: number;
  missing: number;
  drift: number;
  /** operations enqueued (fix mode) */
  enqueued: number;
  /** findings left alone in fix mode because their account changed while the run was reading */
  changedMeanwhile: number;
  /** accounts left out by targets.<name>.reconcile.ignore */
  ignored: number;
  durationMs: number;
}

export type RunStatus = 'running' | 'done' | 'failed';

export interface ReconciliationRun {
  id: string;
  target: string;
  mode: 'report' | 'fix';
  status: RunStatus;
  actor: string;
  summary: ReconcileSummary | null;
  error: string | null;
  started: string;
  finished: string | null;
}

interface RunRow {
  id: string; target: string; mode: 'report' | 'fix'; status: RunStatus; actor: string; summary: string | null; error: string | null; started: string; finished: string | null;
}

const runFromRow = (r: RunRow): ReconciliationRun => ({ ...r, summary: r.summary ? (JSON.parse(r.summary) as ReconcileSummary) : null });

export async function getRun(sql: Sql, id: string): Promise<ReconciliationRun | undefined> {
  const [row] = await sql.query<RunRow>('SELECT id, target, mode, status, actor, summary, error, started, finished FROM reconciliations WHERE id = ?', [id]);
  return row && runFromRow(row);
}

/** Runs, newest first; `before` is the id the previous page ended with (ids are time-ordered). */
export async function listRuns(sql: Sql, filter: { target?: string; before?: string; limit: number }): Promise<ReconciliationRun[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.target !== undefined) { where.push('target = ?'); params.push(filter.target); }
  if (filter.before !== undefined) { where.push('id < ?'); params.push(filter.before); }
  const rows = await sql.query<RunRow>(
    `SELECT id, target, mode, status, actor, summary, error, started, finished FROM reconciliations
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${Math.floor(filter.limit)}`, params);
  return rows.map(runFromRow);
}

/** Buffers findings and writes them in multi-row inserts. */
export class FindingsWriter {
  private readonly buffer: unknown[][] = [];
  private seq = 0;

  constructor(private readonly sql: Sql, private readonly runId: string) {}

  async add(finding: Finding): Promise<void> {
    this.buffer.push([this.runId, ++this.seq, finding.kind, finding.reason, finding.accountKey, finding.accountId, finding.identityId, finding.userName, JSON.stringify(finding.detail), finding.enqueued]);
    if (this.buffer.length >= 500) await this.flush();
  }

  async flush(): Promise<void> {
    await insertRows(this.sql, 'reconciliation_findings', FINDING_COLUMNS, this.buffer.splice(0));
  }
}

const FINDING_COLUMNS = ['run_id', 'seq', 'kind', 'reason', 'account_key', 'account_id', 'identity_id', 'user_name', 'detail', 'enqueued'];

interface FindingRow {
  seq: number | string; kind: FindingKind; reason: string; account_key: string | null; account_id: string | null;
  identity_id: string | null; user_name: string | null; detail: string; enqueued: number | string;
}

/** A finding with its place in the run, for paging. */
export interface StoredFinding extends Finding {
  seq: number;
}

const findingFromRow = (r: FindingRow): StoredFinding => ({
  seq: Number(r.seq), kind: r.kind, reason: r.reason, accountKey: r.account_key, accountId: r.account_id, identityId: r.identity_id,
  userName: r.user_name, detail: JSON.parse(r.detail) as Record<string, unknown>, enqueued: Number(r.enqueued),
});

/** A page of a run's findings in the order they were found. */
export async function readFindings(sql: Sql, runId: string, page: { kind?: FindingKind; after?: number; limit: number }): Promise<StoredFinding[]> {
  const params: unknown[] = [runId, page.after ?? 0];
  let kind = '';
  if (page.kind !== undefined) { kind = ' AND kind = ?'; params.push(page.kind); }
  const rows = await sql.query<FindingRow>(
    `SELECT seq, kind, reason, account_key, account_id, identity_id, user_name, detail, enqueued FROM reconciliation_findings
      WHERE run_id = ? AND seq > ?${kind} ORDER BY seq LIMIT ${Math.floor(page.limit)}`, params);
  return rows.map(findingFromRow);
}

const CSV_COLUMNS = ['seq', 'kind', 'reason', 'account_key', 'user_name', 'identity_id', 'account_id', 'enqueued', 'detail'] as const;

/** Every finding of a run (of `kind`, when given), read a page at a time so memory stays flat however many there are. */
export async function* allFindings(sql: Sql, runId: string, kind?: FindingKind): AsyncGenerator<StoredFinding> {
  for (let after = 0;;) {
    const page = await readFindings(sql, runId, { after, limit: 1000, ...(kind !== undefined && { kind }) });
    yield* page;
    if (page.length < 1000) return;
    after = page[page.length - 1]!.seq;
  }
}

/** A run's findings as CSV, a line at a time. */
export async function* findingsCsv(sql: Sql, runId: string, kind?: FindingKind): AsyncGenerator<string> {
  yield csvLine(CSV_COLUMNS);
  for await (const f of allFindings(sql, runId, kind)) {
    yield csvLine([f.seq, f.kind, f.reason, f.accountKey, f.userName, f.identityId, f.accountId, f.enqueued, JSON.stringify(f.detail)]);
  }
}
