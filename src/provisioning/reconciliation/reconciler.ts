/*
 * Reconciliation: reads every account on a target, a page at a time, and compares it with the
 * accounts planned there (accounts.planned_*, the state the outbox was told to reach).
 *
 * - An account whose key a planned account has is compared with that plan: status, memberships
 *   and the mapped attributes (drift). Accounts with operations still pending, running or dead
 *   are not compared: the outbox is still working on them, and its operator view shows them.
 * - Any other account is correlated to an identity by the target's rules. An identity whose
 *   planned account was never seen by its key gets it linked (drift `key`); an identity with no
 *   planned account there has an orphan account (`no-grant`), one whose planned account was
 *   already seen has a second one (`duplicate`); an account matching nobody is `no-identity`.
 * - A planned account that should exist and was not seen is missing.
 *
 * Report only by default. In fix mode each batch of findings is repaired in one transaction:
 * outbox operations from what the target has to what was planned (drift), a create (missing),
 * or disable and empty (orphans; we never delete what we did not make). The planned account is
 * locked and checked to be as the run read it, so a plan that changed meanwhile is left to its
 * own operations. The database is read in a few large queries, never once per account, so a
 * target of 100,000 accounts costs its paged reads plus a handful of statements.
 */
import { recordAudit } from '../../audit/recorder.js';
import { chunks, insertRows, placeholders } from '../../db/batches.js';
import { forUpdate, type Database, type Transaction } from '../../db/database.js';
import { timeOrderedId } from '../../db/ids.js';
import { identitiesById } from '../../policy/identity-ref.js';
import type { AccountAttributes, Connector, Operation, TargetAccount } from '../connector.js';
import { attributesJson } from '../operations.js';
import { enqueueOperations, type NewOperation } from '../outbox.js';
import type { ConnectorRegistry } from '../registry.js';
import { updateRows } from '../rows.js';
import { createOperation, differences, orphanOperations, repairOperations, shouldExist, type Difference, type PlannedAccount } from './compare.js';
import { CorrelationIndex } from './correlation.js';
import { FindingsWriter, getRun, type Finding, type ReconcileSummary, type ReconciliationRun } from './findings.js';

/** Findings repaired and written per transaction. */
const BATCH = 500;
const ACCOUNT_PAGE = 5000;

export const RECONCILE_JOB = 'reconcile';

/** Raised for a run that cannot start: an unknown target, or one already being reconciled here. */
export class ReconcileError extends Error {
  constructor(readonly kind: 'notFound' | 'conflict', message: string) {
    super(message);
    this.name = 'ReconcileError';
  }
}

export interface ReconcileOptions {
  fix: boolean;
  /** who asked: token:<name>, cli:<user>, system:reconcile */
  actor: string;
  requestId?: string;
  /** called after each page read from the target, with the accounts read so far */
  onProgress?: (accountsRead: number) => void;
}

/** A planned account as read, with the columns a fix checks are unchanged. */
interface PlannedRow {
  id: string;
  identityId: string;
  userName: string | null;
  /** the identity no longer exists */
  gone: boolean;
  accountKey: string | null;
  status: PlannedAccount['status'];
  membershipsJson: string;
  attributesJson: string;
}

/** How a finding is repaired in fix mode. */
type Repair =
  /** operations on a planned account, which must still be as read */
  | { kind: 'planned'; row: PlannedRow; observed: TargetAccount | null; operations: Operation[] }
  /**
   * an account we have no plan for: a planned account is made for it (disabled), then the
   * operations; owned by the identity when it has no account there yet, otherwise by nobody
   */
  | { kind: 'adopt'; identityId: string | null; observed: TargetAccount; operations: Operation[] };

const plannedOf = (row: PlannedRow): PlannedAccount => ({
  id: row.id, identityId: row.identityId, accountKey: row.accountKey, status: row.status,
  memberships: JSON.parse(row.membershipsJson) as string[], attributes: JSON.parse(row.attributesJson) as AccountAttributes,
});

const statusOf = (a: TargetAccount): 'enabled' | 'disabled' => (a.enabled || a.pending ? 'enabled' : 'disabled');

const observedDetail = (a: TargetAccount) => ({ enabled: a.enabled, ...(a.pending && { pending: true }), memberships: a.memberships, attributes: a.attributes });

export class Reconciler {
  /** targets being reconciled by this process */
  private readonly running = new Set<string>();

  constructor(private readonly db: Database, private readonly connectors: ConnectorRegistry, private readonly clock: () => Date = () => new Date()) {}

  /** Reconciles one target and returns the finished run (also when it failed: status and error say so). */
  async run(target: string, options: ReconcileOptions): Promise<ReconciliationRun> {
    return (await this.start(target, options)).finished;
  }

  /**
   * Starts reconciling one target: resolves once the run is recorded (its id known), with a
   * promise of the finished run. The promise rejects only if the outcome cannot be recorded.
   */
  async start(target: string, options: ReconcileOptions): Promise<{ id: string; finished: Promise<ReconciliationRun> }> {
    const connected = this.connectors.get(target);
    if (!connected) {
      throw new ReconcileError('notFound', `target ${target} has no connector configured (configured: ${this.connectors.targets().join(', ') || 'none'})`);
    }
    if (this.running.has(target)) throw new ReconcileError('conflict', `target ${target} is being reconciled already`);
    this.running.add(target);
    const id = timeOrderedId();
    const started = this.clock();
    try {
      await this.db.execute(
        'INSERT INTO reconciliations (id, target, mode, status, actor, summary, error, started, finished) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, NULL)',
        [id, target, options.fix ? 'fix' : 'report', 'running', options.actor, started.toISOString()]);
    } catch (err) {
      this.running.delete(target);
      throw err;
    }
    return { id, finished: this.finish(id, connected.connector, started, options) };
  }

  private async finish(id: string, connector: Connector, started: Date, options: ReconcileOptions): Promise<ReconciliationRun> {
    let summary: ReconcileSummary | undefined;
    let error: string | null = null;
    try {
      summary = await new ReconcileRun(this.db, connector, id, options, this.clock).execute();
      summary.durationMs = this.clock().getTime() - started.getTime();
    } catch (err) {
      error = (err as Error).message;
    } finally {
      this.running.delete(connector.target);
    }
    await this.db.transaction(async (tx) => {
      await tx.execute('UPDATE reconciliations SET status = ?, summary = ?, error = ?, finished = ? WHERE id = ?',
        [error === null ? 'done' : 'failed', summary ? JSON.stringify(summary) : null, error, this.clock().toISOString(), id]);
      await recordAudit(tx, {
        actor: options.actor, action: `reconcile.${error === null ? 'finish' : 'fail'}`, targetType: 'target', targetId: connector.target,
        requestId: options.requestId ?? `reconcile:${id}`,
        details: { run: id, mode: options.fix ? 'fix' : 'report', ...(summary && { summary }), ...(error !== null && { error }) },
      });
    });
    return (await getRun(this.db, id))!;
  }
}

/** One run over one target. */
class ReconcileRun {
  private readonly summary: ReconcileSummary = { accountsRead: 0, matched: 0, inFlight: 0, orphans: 0, missing: 0, drift: 0, enqueued: 0, changedMeanwhile: 0, durationMs: 0 };
  private readonly byId = new Map<string, PlannedRow>();
  private readonly byKey = new Map<string, PlannedRow>();
  private readonly byIdentity = new Map<string, PlannedRow>();
  private readonly inFlight = new Set<string>();
  /** planned accounts an account on the target was matched to */
  private readonly seen = new Set<string>();
  private readonly pending: Array<{ finding: Finding; repair?: Repair }> = [];
  private readonly findings: FindingsWriter;
  private readonly target: string;

  constructor(private readonly db: Database, private readonly connector: Connector, private readonly runId: string, private readonly options: ReconcileOptions, private readonly clock: () => Date) {
    this.findings = new FindingsWriter(db, runId);
    this.target = connector.target;
  }

  async execute(): Promise<ReconcileSummary> {
    await this.readPlanned();
    const unmatched: TargetAccount[] = [];
    for await (const page of this.connector.list()) {
      for (const account of page) {
        const row = this.byKey.get(account.accountKey);
        if (row && !this.seen.has(row.id)) await this.compare(row, account, []);
        else unmatched.push(account);
      }
      this.summary.accountsRead += page.length;
      this.options.onProgress?.(this.summary.accountsRead);
    }
    if (unmatched.length > 0) {
      const index = await CorrelationIndex.read(this.db, this.connector.correlation);
      for (const account of unmatched) await this.correlate(index, account);
    }
    for (const row of this.byId.values()) {
      if (this.seen.has(row.id) || row.gone || this.inFlight.has(row.id) || !shouldExist(row, this.connector)) continue;
      const planned = plannedOf(row);
      await this.report(
        { kind: 'missing', reason: 'absent', accountKey: row.accountKey, accountId: row.id, identityId: row.identityId, userName: row.userName, detail: { expected: { status: row.status, memberships: planned.memberships } }, enqueued: 0 },
        { kind: 'planned', row, observed: null, operations: [createOperation(planned)] });
    }
    await this.flush();
    return this.summary;
  }

  /** Every planned account on the target, with whether its identity still exists, and which have unfinished operations. */
  private async readPlanned(): Promise<void> {
    for (let after = '';;) {
      const rows = await this.db.query<{ id: string; identity_id: string; user_name: string | null; account_key: string | null; planned_status: PlannedRow['status']; planned_memberships: string; planned_attributes: string }>(
        `SELECT a.id, a.identity_id, i.user_name, a.account_key, a.planned_status, a.planned_memberships, a.planned_attributes
           FROM accounts a LEFT JOIN identities i ON i.id = a.identity_id
          WHERE a.target = ? AND a.id > ? ORDER BY a.id LIMIT ${ACCOUNT_PAGE}`, [this.target, after]);
      for (const r of rows) {
        const row: PlannedRow = {
          id: r.id, identityId: r.identity_id, userName: r.user_name, gone: r.user_name === null, accountKey: r.account_key,
          status: r.planned_status, membershipsJson: r.planned_memberships, attributesJson: r.planned_attributes,
        };
        this.byId.set(row.id, row);
        if (row.accountKey !== null) this.byKey.set(row.accountKey, row);
        this.byIdentity.set(row.identityId, row);
      }
      if (rows.length < ACCOUNT_PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    for (const r of await this.db.query<{ account_id: string }>(
      "SELECT DISTINCT account_id FROM outbox WHERE target = ? AND status IN ('pending', 'running', 'dead')", [this.target])) {
      this.inFlight.add(r.account_id);
    }
  }

  /** An account on the target matched to a planned account (`extra`: differences found in matching, such as a new key). */
  private async compare(row: PlannedRow, account: TargetAccount, extra: Difference[]): Promise<void> {
    this.seen.add(row.id);
    this.summary.matched++;
    if (this.inFlight.has(row.id)) {
      this.summary.inFlight++;
      return;
    }
    if (row.gone) {
      await this.orphan('no-identity', account, row.identityId, row);
      return;
    }
    const planned = plannedOf(row);
    const diffs = [...extra, ...differences(planned, account, this.connector)];
    if (diffs.length === 0) return;
    const reason = [...new Set(diffs.map((d) => (d.what === 'attribute' ? 'attributes' : d.what)))].join(',');
    await this.report(
      { kind: 'drift', reason, accountKey: account.accountKey, accountId: row.id, identityId: row.identityId, userName: row.userName, detail: { differences: diffs }, enqueued: 0 },
      { kind: 'planned', row, observed: account, operations: repairOperations(planned, diffs) });
  }

  private async correlate(index: CorrelationIndex, account: TargetAccount): Promise<void> {
    const identityId = index.identityOf(account);
    if (identityId === undefined) return this.orphan('no-identity', account, null);
    const row = this.byIdentity.get(identityId);
    if (!row) return this.orphan('no-grant', account, identityId);
    if (this.seen.has(row.id)) return this.orphan('duplicate', account, identityId);
    const relinked: Difference[] = row.accountKey === account.accountKey ? [] : [{ what: 'key', expected: row.accountKey, actual: account.accountKey }];
    return this.compare(row, account, relinked);
  }

  private async orphan(reason: 'no-identity' | 'no-grant' | 'duplicate', account: TargetAccount, identityId: string | null, row?: PlannedRow): Promise<void> {
    const operations = orphanOperations(account, this.connector);
    await this.report(
      { kind: 'orphan', reason, accountKey: account.accountKey, accountId: row?.id ?? null, identityId, userName: row?.userName ?? null, detail: { found: observedDetail(account) }, enqueued: 0 },
      row ? { kind: 'planned', row, observed: account, operations } : { kind: 'adopt', identityId: reason === 'no-grant' ? identityId : null, observed: account, operations });
  }

  private async report(finding: Finding, repair: Repair): Promise<void> {
    this.summary[finding.kind === 'orphan' ? 'orphans' : finding.kind]++;
    this.pending.push({ finding, repair });
    if (this.pending.length >= BATCH) await this.flush();
  }

  /** Names the people behind the batch's findings, repairs them in fix mode, and writes them. */
  private async flush(): Promise<void> {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    const unnamed = batch.filter((b) => b.finding.userName === null && b.finding.identityId !== null).map((b) => b.finding.identityId!);
    if (unnamed.length > 0) {
      const names = await identitiesById(this.db, unnamed);
      for (const { finding } of batch) if (finding.userName === null && finding.identityId) finding.userName = names.get(finding.identityId)?.userName ?? null;
    }
    if (this.options.fix) await this.db.transaction((tx) => this.repair(tx, batch));
    for (const { finding } of batch) await this.findings.add(finding);
    await this.findings.flush();
  }

  private async repair(tx: Transaction, batch: Array<{ finding: Finding; repair?: Repair }>): Promise<void> {
    const now = this.clock();
    const stamp = now.toISOString();
    const plannedIds = batch.flatMap((b) => (b.repair?.kind === 'planned' ? [b.repair.row.id] : []));
    // Locked and read again: a plan that changed since the run read it is left to its own operations.
    const current = new Map<string, { key: string | null; status: string; memberships: string; attributes: string }>();
    for (const chunk of chunks(plannedIds)) {
      for (const r of await tx.query<{ id: string; account_key: string | null; planned_status: string; planned_memberships: string; planned_attributes: string }>(
        `SELECT id, account_key, planned_status, planned_memberships, planned_attributes FROM accounts WHERE id IN (${placeholders(chunk.length)})${forUpdate(tx.dialect)}`, chunk)) {
        current.set(r.id, { key: r.account_key, status: r.planned_status, memberships: r.planned_memberships, attributes: r.planned_attributes });
      }
    }
    const busy = new Set<string>();
    for (const chunk of chunks(plannedIds)) {
      for (const r of await tx.query<{ account_id: string }>(
        `SELECT DISTINCT account_id FROM outbox WHERE account_id IN (${placeholders(chunk.length)}) AND status IN ('pending', 'running', 'dead')`, chunk)) busy.add(r.account_id);
    }
    const takenKeys = new Set<string>();
    const adoptKeys = batch.flatMap((b) => (b.repair?.kind === 'adopt' ? [b.repair.observed.accountKey] : []));
    for (const chunk of chunks(adoptKeys)) {
      for (const r of await tx.query<{ account_key: string }>(
        `SELECT account_key FROM accounts WHERE target = ? AND account_key IN (${placeholders(chunk.length)})`, [this.target, ...chunk])) takenKeys.add(r.account_key);
    }
    const adoptIdentities = batch.flatMap((b) => (b.repair?.kind === 'adopt' && b.repair.identityId ? [b.repair.identityId] : []));
    const takenIdentities = new Set<string>();
    for (const chunk of chunks(adoptIdentities)) {
      for (const r of await tx.query<{ identity_id: string }>(
        `SELECT identity_id FROM accounts WHERE target = ? AND identity_id IN (${placeholders(chunk.length)})`, [this.target, ...chunk])) takenIdentities.add(r.identity_id);
    }

    const operations: NewOperation[] = [];
    const observedUpdates: unknown[][] = [];
    const inserts: unknown[][] = [];
    for (const { finding, repair } of batch) {
      if (!repair) continue;
      if (repair.kind === 'planned') {
        const latest = current.get(repair.row.id);
        const row = repair.row;
        if (!latest || busy.has(row.id) || latest.key !== row.accountKey || latest.status !== row.status || latest.memberships !== row.membershipsJson || latest.attributes !== row.attributesJson) {
          this.summary.changedMeanwhile++;
          continue;
        }
        const o = repair.observed;
        observedUpdates.push(o
          ? [row.id, o.accountKey, statusOf(o), JSON.stringify(o.memberships), stamp, stamp]
          : [row.id, null, 'absent', '[]', stamp, stamp]);
        for (const operation of repair.operations) operations.push({ account: { accountId: row.id, identityId: row.identityId, target: this.target }, operation });
        finding.enqueued = repair.operations.length;
      } else {
        const o = repair.observed;
        if (takenKeys.has(o.accountKey) || (repair.identityId !== null && takenIdentities.has(repair.identityId))) {
          this.summary.changedMeanwhile++;
          continue;
        }
        // An account nobody owns gets an owner id that names no identity: the planner never
        // visits it, and the next run matches it by its key.
        const accountId = timeOrderedId();
        const owner = repair.identityId ?? timeOrderedId();
        if (repair.identityId !== null) takenIdentities.add(repair.identityId);
        takenKeys.add(o.accountKey);
        inserts.push([accountId, owner, this.target, o.accountKey, 'disabled', '[]', attributesJson({ userName: o.attributes.userName ?? '', extra: {} }), statusOf(o), JSON.stringify(o.memberships), stamp, stamp, stamp]);
        for (const operation of repair.operations) operations.push({ account: { accountId, identityId: owner, target: this.target }, operation });
        finding.accountId = accountId;
        finding.enqueued = repair.operations.length;
      }
    }
    await insertRows(tx, 'accounts', ['id', 'identity_id', 'target', 'account_key', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'observed_memberships', 'observed_at', 'created', 'last_modified'], inserts);
    await updateRows(tx, 'accounts', 'id', ['account_key', 'observed_status', 'observed_memberships', 'observed_at', 'last_modified'], observedUpdates);
    const cause = `reconcile:${this.runId}`;
    const enqueued = operations.length > 0 ? await enqueueOperations(tx, operations, cause, now) : { enqueued: 0 };
    this.summary.enqueued += enqueued.enqueued;
    if (observedUpdates.length > 0 || inserts.length > 0) {
      await recordAudit(tx, {
        actor: this.options.actor, action: 'reconcile.repair', targetType: 'target', targetId: this.target, requestId: this.options.requestId ?? cause,
        details: { run: this.runId, accountsRepaired: observedUpdates.length, accountsAdopted: inserts.length, operations: enqueued.enqueued },
      });
    }
  }
}

/**
 * The scheduled run: every connected target in turn. A target that fails is recorded as a
 * failed run and the others still run; the job fails (and is counted) when any did.
 */
export async function reconcileAllTargets(reconciler: Reconciler, targets: readonly string[], options: ReconcileOptions): Promise<Record<string, ReconcileSummary | string>> {
  const outcome: Record<string, ReconcileSummary | string> = {};
  const failed: string[] = [];
  for (const target of targets) {
    const run = await reconciler.run(target, options);
    outcome[target] = run.summary ?? run.error ?? 'failed';
    if (run.status === 'failed') failed.push(`${target}: ${run.error}`);
  }
  if (failed.length > 0) throw new Error(`reconciliation failed on ${failed.join('; ')}`);
  return outcome;
}
