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
import type { ConnectorRegistry, OrphanPolicy } from '../registry.js';
import { updateRows } from '../rows.js';
import { createOperation, differences, fingerprint, orphanOperations, repairOperations, shouldExist, statusDifference, type Difference, type PlannedAccount } from './compare.js';
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

/**
 * A planned account as read: kept small, since a target of 100,000 accounts holds 100,000 of
 * these and the heap grows with what stays live. The planned values are read again for the few
 * accounts whose fingerprint differs, and, locked, before a fix.
 */
interface PlannedRow {
  id: string;
  identityId: string;
  /** the identity no longer exists */
  gone: boolean;
  accountKey: string | null;
  status: PlannedAccount['status'];
  /** fingerprint() of the planned target attributes and memberships */
  signature: number;
  /** an account on the target was matched to it */
  seen: boolean;
}

/** How a finding is repaired in fix mode; the operations come from the planned account as it is then. */
type Repair =
  /** a planned account: from what the target has (`observed`, null when missing) to the plan */
  | { kind: 'planned'; row: PlannedRow; observed: TargetAccount | null; diffs: Difference[]; signature: number }
  /** an orphan whose planned account exists (its identity is gone): switched off */
  | { kind: 'switch-off'; row: PlannedRow; observed: TargetAccount }
  /**
   * an account we have no plan for: a planned account is made for it (disabled), then it is
   * switched off; owned by the identity when it has no account there yet, otherwise by nobody
   */
  | { kind: 'adopt'; identityId: string | null; observed: TargetAccount };

/** The planned columns a comparison and a fix read. */
interface PlannedColumns {
  account_key: string | null;
  planned_status: PlannedAccount['status'];
  planned_memberships: string;
  planned_attributes: string;
}

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
    return { id, finished: this.finish(id, connected.connector, connected.reconcile ?? { fixOrphans: true, ignore: [] }, started, options) };
  }

  private async finish(id: string, connector: Connector, policy: OrphanPolicy, started: Date, options: ReconcileOptions): Promise<ReconciliationRun> {
    let summary: ReconcileSummary | undefined;
    let error: string | null = null;
    try {
      summary = await new ReconcileRun(this.db, connector, policy, id, options, this.clock).execute();
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
  private readonly summary: ReconcileSummary = { accountsRead: 0, matched: 0, inFlight: 0, orphans: 0, missing: 0, drift: 0, enqueued: 0, changedMeanwhile: 0, ignored: 0, durationMs: 0 };
  private readonly rows: PlannedRow[] = [];
  private readonly byKey = new Map<string, PlannedRow>();
  private readonly inFlight = new Set<string>();
  /** the target attribute names any plan has: the names a fingerprint of what was found covers */
  private readonly plannedNames = new Set<string>();
  /** matched accounts whose fingerprint differs from the plan's: compared value by value, a batch at a time */
  private readonly suspects: Array<{ row: PlannedRow; account: TargetAccount; extra: Difference[] }> = [];
  private readonly pending: Array<{ finding: Finding; repair: Repair }> = [];
  private readonly findings: FindingsWriter;
  private readonly target: string;
  private readonly ignored: ReadonlySet<string>;

  constructor(private readonly db: Database, private readonly connector: Connector, private readonly policy: OrphanPolicy, private readonly runId: string, private readonly options: ReconcileOptions, private readonly clock: () => Date) {
    this.findings = new FindingsWriter(db, runId);
    this.target = connector.target;
    this.ignored = new Set(policy.ignore.map((v) => v.toLowerCase()));
  }

  /** Whether targets.<name>.reconcile.ignore names this account, by its key or a correlation value. */
  private isIgnored(account: TargetAccount): boolean {
    if (this.ignored.size === 0) return false;
    if (this.ignored.has(account.accountKey.toLowerCase())) return true;
    return this.connector.correlation.some((rule) => this.ignored.has(account.attributes[rule.target]?.toLowerCase() ?? ''));
  }

  async execute(): Promise<ReconcileSummary> {
    await this.readPlanned();
    const unmatched: TargetAccount[] = [];
    for await (const page of this.connector.list()) {
      for (const account of page) {
        const row = this.byKey.get(account.accountKey);
        if (row && !row.seen) await this.compare(row, account, []);
        else if (this.isIgnored(account)) this.summary.ignored++;
        else unmatched.push(account);
      }
      this.summary.accountsRead += page.length;
      this.options.onProgress?.(this.summary.accountsRead);
    }
    await this.examine();
    if (unmatched.length > 0) {
      const index = await CorrelationIndex.read(this.db, this.connector.correlation);
      const byIdentity = new Map(this.rows.map((r) => [r.identityId, r]));
      for (const account of unmatched) await this.correlate(index, byIdentity, account);
      await this.examine();
    }
    for (const row of this.rows) {
      if (row.seen || row.gone || this.inFlight.has(row.id) || !shouldExist(row, this.connector)) continue;
      await this.report(
        { kind: 'missing', reason: 'absent', accountKey: row.accountKey, accountId: row.id, identityId: row.identityId, userName: null, detail: { expected: { status: row.status } }, enqueued: 0 },
        { kind: 'planned', row, observed: null, diffs: [], signature: row.signature });
    }
    await this.flush();
    return this.summary;
  }

  /** Every planned account on the target, with whether its identity still exists, and which have unfinished operations. */
  private async readPlanned(): Promise<void> {
    for (let after = '';;) {
      const rows = await this.db.query<{ id: string; identity_id: string; present: string | null; account_key: string | null; planned_status: PlannedRow['status']; planned_memberships: string; planned_attributes: string }>(
        `SELECT a.id, a.identity_id, i.id AS present, a.account_key, a.planned_status, a.planned_memberships, a.planned_attributes
           FROM accounts a LEFT JOIN identities i ON i.id = a.identity_id
          WHERE a.target = ? AND a.id > ? ORDER BY a.id LIMIT ${ACCOUNT_PAGE}`, [this.target, after]);
      for (const r of rows) {
        const row: PlannedRow = {
          id: r.id, identityId: r.identity_id, gone: r.present === null, accountKey: r.account_key, status: r.planned_status,
          signature: this.plannedSignature(r, true), seen: false,
        };
        this.rows.push(row);
        if (row.accountKey !== null) this.byKey.set(row.accountKey, row);
      }
      if (rows.length < ACCOUNT_PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
    for (const r of await this.db.query<{ account_id: string }>(
      "SELECT DISTINCT account_id FROM outbox WHERE target = ? AND status IN ('pending', 'running', 'dead')", [this.target])) {
      this.inFlight.add(r.account_id);
    }
  }

  /** The plan of an accounts row as compared: status, memberships, attributes as the target names them. */
  private planned(r: PlannedColumns): PlannedAccount {
    return {
      status: r.planned_status, memberships: JSON.parse(r.planned_memberships) as string[],
      targetAttributes: this.connector.targetAttributes(JSON.parse(r.planned_attributes) as AccountAttributes),
    };
  }

  /** The fingerprint of an accounts row's plan; `learn` records its attribute names. */
  private plannedSignature(r: PlannedColumns, learn = false): number {
    const plan = this.planned(r);
    if (learn) for (const name of Object.keys(plan.targetAttributes)) this.plannedNames.add(name);
    return fingerprint(plan.targetAttributes, plan.memberships);
  }

  /** An account on the target matched to a planned account (`extra`: differences found in matching, such as a new key). */
  private async compare(row: PlannedRow, account: TargetAccount, extra: Difference[]): Promise<void> {
    row.seen = true;
    this.summary.matched++;
    if (this.inFlight.has(row.id)) {
      this.summary.inFlight++;
      return;
    }
    if (row.gone) return this.orphan('no-identity', account, row.identityId, row);
    const status = statusDifference(row, account, this.connector);
    if (status?.expected === 'absent') return this.drift(row, account, [...extra, status], row.signature);
    if (extra.length === 0 && !status && fingerprint(account.attributes, account.memberships, this.plannedNames) === row.signature) return;
    this.suspects.push({ row, account, extra });
    if (this.suspects.length >= BATCH) await this.examine();
  }

  /** Compares the suspects with their plans value by value, reading the plans in a few queries. */
  private async examine(): Promise<void> {
    const batch = this.suspects.splice(0);
    const plans = new Map<string, PlannedColumns>();
    for (const chunk of chunks(batch.map((b) => b.row.id))) {
      for (const r of await this.db.query<PlannedColumns & { id: string }>(
        `SELECT id, account_key, planned_status, planned_memberships, planned_attributes FROM accounts WHERE id IN (${placeholders(chunk.length)})`, chunk)) plans.set(r.id, r);
    }
    for (const { row, account, extra } of batch) {
      const columns = plans.get(row.id);
      // Gone since the run read it: whatever replaced it is for the next run.
      if (!columns) continue;
      const diffs = [...extra, ...differences(this.planned(columns), account, this.connector)];
      if (diffs.length > 0) await this.drift(row, account, diffs, this.plannedSignature(columns));
    }
  }

  private async drift(row: PlannedRow, account: TargetAccount, diffs: Difference[], signature: number): Promise<void> {
    const reason = [...new Set(diffs.map((d) => (d.what === 'attribute' ? 'attributes' : d.what)))].join(',');
    await this.report(
      { kind: 'drift', reason, accountKey: account.accountKey, accountId: row.id, identityId: row.identityId, userName: null, detail: { differences: diffs }, enqueued: 0 },
      { kind: 'planned', row, observed: account, diffs, signature });
  }

  private async correlate(index: CorrelationIndex, byIdentity: ReadonlyMap<string, PlannedRow>, account: TargetAccount): Promise<void> {
    const identityId = index.identityOf(account);
    if (identityId === undefined) return this.orphan('no-identity', account, null);
    const row = byIdentity.get(identityId);
    if (!row) return this.orphan('no-grant', account, identityId);
    if (row.seen) return this.orphan('duplicate', account, identityId);
    const relinked: Difference[] = row.accountKey === account.accountKey ? [] : [{ what: 'key', expected: row.accountKey, actual: account.accountKey }];
    return this.compare(row, account, relinked);
  }

  private async orphan(reason: 'no-identity' | 'no-grant' | 'duplicate', account: TargetAccount, identityId: string | null, row?: PlannedRow): Promise<void> {
    await this.report(
      { kind: 'orphan', reason, accountKey: account.accountKey, accountId: row?.id ?? null, identityId, userName: null, detail: { found: observedDetail(account) }, enqueued: 0 },
      row ? { kind: 'switch-off', row, observed: account } : { kind: 'adopt', identityId: reason === 'no-grant' ? identityId : null, observed: account });
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
    const names = await identitiesById(this.db, batch.flatMap((b) => (b.finding.identityId ? [b.finding.identityId] : [])));
    for (const { finding } of batch) if (finding.identityId) finding.userName = names.get(finding.identityId)?.userName ?? null;
    if (this.options.fix) await this.db.transaction((tx) => this.repair(tx, batch));
    for (const { finding } of batch) await this.findings.add(finding);
    await this.findings.flush();
  }

  private async repair(tx: Transaction, batch: ReadonlyArray<{ finding: Finding; repair: Repair }>): Promise<void> {
    const now = this.clock();
    const stamp = now.toISOString();
    const plannedIds = batch.flatMap(({ repair: r }) => (r.kind === 'adopt' ? [] : [r.row.id]));
    // Locked and read again: a plan that changed since the run read it is left to its own operations.
    const latest = new Map<string, PlannedColumns>();
    for (const chunk of chunks(plannedIds)) {
      for (const r of await tx.query<PlannedColumns & { id: string }>(
        `SELECT id, account_key, planned_status, planned_memberships, planned_attributes FROM accounts WHERE id IN (${placeholders(chunk.length)})${forUpdate(tx.dialect)}`, chunk)) latest.set(r.id, r);
    }
    const busy = new Set<string>();
    for (const chunk of chunks(plannedIds)) {
      for (const r of await tx.query<{ account_id: string }>(
        `SELECT DISTINCT account_id FROM outbox WHERE account_id IN (${placeholders(chunk.length)}) AND status IN ('pending', 'running', 'dead')`, chunk)) busy.add(r.account_id);
    }
    const adopted = batch.flatMap(({ repair: r }) => (r.kind === 'adopt' ? [r] : []));
    const takenKeys = new Set<string>();
    for (const chunk of chunks(adopted.map((r) => r.observed.accountKey))) {
      for (const r of await tx.query<{ account_key: string }>(
        `SELECT account_key FROM accounts WHERE target = ? AND account_key IN (${placeholders(chunk.length)})`, [this.target, ...chunk])) takenKeys.add(r.account_key);
    }
    const takenIdentities = new Set<string>();
    for (const chunk of chunks(adopted.flatMap((r) => (r.identityId ? [r.identityId] : [])))) {
      for (const r of await tx.query<{ identity_id: string }>(
        `SELECT identity_id FROM accounts WHERE target = ? AND identity_id IN (${placeholders(chunk.length)})`, [this.target, ...chunk])) takenIdentities.add(r.identity_id);
    }

    const operations: NewOperation[] = [];
    const observedUpdates: unknown[][] = [];
    const inserts: unknown[][] = [];
    for (const { finding, repair } of batch) {
      let account: { accountId: string; identityId: string };
      let ops: Operation[];
      if (repair.kind !== 'planned' && !this.policy.fixOrphans) continue;
      if (repair.kind === 'adopt') {
        const o = repair.observed;
        if (takenKeys.has(o.accountKey) || (repair.identityId !== null && takenIdentities.has(repair.identityId))) {
          this.summary.changedMeanwhile++;
          continue;
        }
        // An account nobody owns gets an owner id that names no identity: the planner never
        // visits it, and the next run matches it by its key.
        account = { accountId: timeOrderedId(), identityId: repair.identityId ?? timeOrderedId() };
        if (repair.identityId !== null) takenIdentities.add(repair.identityId);
        takenKeys.add(o.accountKey);
        inserts.push([account.accountId, account.identityId, this.target, o.accountKey, 'disabled', '[]', attributesJson({ userName: o.attributes.userName ?? '', extra: {} }), statusOf(o), JSON.stringify(o.memberships), stamp, stamp, stamp]);
        ops = orphanOperations(o, this.connector);
        finding.accountId = account.accountId;
      } else {
        const row = repair.row;
        const now = latest.get(row.id);
        // The plan the finding was made against: its fingerprint when compared (switch-off: when read).
        const compared = repair.kind === 'planned' ? repair.signature : row.signature;
        if (!now || busy.has(row.id) || now.account_key !== row.accountKey || now.planned_status !== row.status || this.plannedSignature(now) !== compared) {
          this.summary.changedMeanwhile++;
          continue;
        }
        account = { accountId: row.id, identityId: row.identityId };
        const o = repair.observed;
        observedUpdates.push(o
          ? [row.id, o.accountKey, statusOf(o), JSON.stringify(o.memberships), stamp, stamp]
          : [row.id, null, 'absent', '[]', stamp, stamp]);
        const attributes = JSON.parse(now.planned_attributes) as AccountAttributes;
        if (repair.kind === 'switch-off') ops = orphanOperations(repair.observed, this.connector);
        else if (o === null) ops = [createOperation(this.planned(now), attributes)];
        else ops = repairOperations(row, attributes, repair.diffs);
      }
      for (const operation of ops) operations.push({ account: { ...account, target: this.target }, operation });
      finding.enqueued = ops.length;
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
