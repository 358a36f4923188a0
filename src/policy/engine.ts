/*
 * The decision engine behind the access-check API: "may identity S do action A on object O?".
 *
 * In memory: the live catalogue and its AccessIndex, and for each identity its id, userName,
 * active flag and direct grants with their validity windows. A decision is
 * AccessIndex.decideFor() over the grants valid at the instant asked about, so it costs
 * microseconds, one index serves every identity, and a grant that expires or starts needs no
 * reload: windows are compared at decision time.
 *
 * No stale answer:
 * - This instance's own changes reach it through PolicyChangeLog listeners, which run right after
 *   commit and before the writer answers. They only mark what is stale; every check waits for the
 *   pending or running reload first, so a decision made after a change was acknowledged sees it.
 * - Other instances' changes are read every pollIntervalMs from policy_state (catalogue version,
 *   bulk grants epoch) and access_changes (one row per identity whose grants or name changed).
 * - Reloads are coalesced: one runs at a time, and changes noted meanwhile go into the next one.
 *   Each reload reads in one transaction, so what it installs is one consistent snapshot, and
 *   anything that snapshot shows to be newer than what is loaded is marked stale in turn.
 */
import { chunks, placeholders } from '../db/batches.js';
import type { Database, Sql } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import type { AccessIndex, Decision, ViewSlot } from './access-index.js';
import { loadCatalog, type Catalog } from './catalog.js';
import { readPolicyState, type PolicyChange, type PolicyChangeLog, type PolicyState } from './changes.js';
import { PolicyError } from './model.js';

/** One access question; `context.time` (ISO-8601) asks about another instant than now. */
export interface CheckRequest {
  subject: string;
  object: string;
  action: string;
  context?: { time?: string };
}

/** The answer, with the role path and rule that allowed it, and the policy version that decided. */
export interface CheckResult {
  allowed: boolean;
  reason: string;
  rolePath?: string[];
  rule?: [string, string, string];
  policyVersion: number;
}

/** Tuning for PolicyEngine.start(). */
export interface PolicyEngineOptions {
  /** How often to look for changes made by other instances (default DEFAULT_POLL_INTERVAL_MS). */
  pollIntervalMs?: number;
}

export const DEFAULT_POLL_INTERVAL_MS = 1000;
/**
 * How long a missing access_changes seq is waited for. Auto-increment values are handed out at
 * insert and rows become visible at commit, so a lower seq can appear after a higher one; a
 * transaction open longer than this (or rolled back) is given up on.
 */
export const LATE_COMMIT_WINDOW_MS = 60_000;
/** access_changes rows older than this are deleted: an instance that starts reloads everything anyway. */
export const CHANGE_RETENTION_MS = 3_600_000;
const SWEEP_INTERVAL_MS = 300_000;
const MAX_MISSING_TRACKED = 100_000;
const UUID_LENGTH = 36;

interface GrantWindow {
  readonly item: string;
  /** ms since the epoch; -Infinity when open, NaN when unreadable (then never valid) */
  readonly from: number;
  readonly until: number;
}

/** One identity as decisions see it; replaced whole when it reloads. */
class Holder implements ViewSlot {
  /** the access index's view of this identity, kept here so a check needs no cache lookup to find it (about 0.6 KB, only once checked) */
  held?: ViewSlot['held'];
  private items: readonly string[] = [];
  // `items` are the valid grants for every instant in [itemsFrom, itemsUntil).
  private itemsFrom = Infinity;
  private itemsUntil = -Infinity;

  constructor(readonly id: string, readonly userName: string, readonly active: boolean, private readonly grants: readonly GrantWindow[]) {}

  get grantCount(): number {
    return this.grants.length;
  }

  /** The items of the grants valid at `at` (valid_from <= at < valid_until), sorted, without repeats. */
  itemsAt(at: number): readonly string[] {
    if (at >= this.itemsFrom && at < this.itemsUntil) return this.items;
    const items: string[] = [];
    let from = -Infinity;
    let until = Infinity;
    for (const grant of this.grants) {
      if (grant.from <= at && at < grant.until && items[items.length - 1] !== grant.item) items.push(grant.item);
      // The list stays the same until the next window edge after `at`, and since the last one before it.
      if (grant.from <= at) from = Math.max(from, grant.from);
      else if (grant.from < until) until = grant.from;
      if (grant.until <= at) from = Math.max(from, grant.until);
      else if (grant.until < until) until = grant.until;
    }
    this.items = items;
    this.itemsFrom = from;
    this.itemsUntil = until;
    return items;
  }
}

/** Every identity by id and by lowercased userName. */
class Holders {
  private readonly byId = new Map<string, Holder>();
  private readonly byUserName = new Map<string, Holder>();

  get size(): number {
    return this.byId.size;
  }

  /** The identity a subject names: its id, else its userName in any case. */
  find(subject: string): Holder | undefined {
    // Ids are UUIDs, so anything else skips a lookup that cannot hit: this is every check's path.
    if (subject.length === UUID_LENGTH) {
      const byId = this.byId.get(subject);
      if (byId !== undefined) return byId;
    }
    return this.byUserName.get(subject.toLowerCase());
  }

  put(holder: Holder): void {
    this.remove(holder.id);
    this.byId.set(holder.id, holder);
    this.byUserName.set(holder.userName, holder);
  }

  remove(id: string): void {
    const old = this.byId.get(id);
    if (old === undefined) return;
    this.byId.delete(id);
    // Another identity may have taken the name meanwhile (a rename loaded before this one).
    if (this.byUserName.get(old.userName) === old) this.byUserName.delete(old.userName);
  }

  static of(holders: Iterable<Holder>): Holders {
    const all = new Holders();
    for (const holder of holders) all.put(holder);
    return all;
  }
}

interface IdentityRow {
  id: string;
  user_name: string;
  active: number | string | boolean;
}

interface GrantRow {
  identity_id: string;
  item: string;
  valid_from: string | null;
  valid_until: string | null;
}

function instant(value: string | null, open: number): number {
  return value === null ? open : Date.parse(value);
}

/** Reads identities and their grants (all of them when `ids` is omitted); an id without a row is absent from the result. */
async function loadHolders(sql: Sql, ids?: readonly string[]): Promise<Map<string, Holder>> {
  const identities: IdentityRow[] = [];
  const grants: GrantRow[] = [];
  if (ids === undefined) {
    identities.push(...await sql.query<IdentityRow>('SELECT id, user_name, active FROM identities'));
    grants.push(...await sql.query<GrantRow>('SELECT identity_id, item, valid_from, valid_until FROM grants'));
  } else {
    for (const chunk of chunks(ids)) {
      const list = placeholders(chunk.length);
      identities.push(...await sql.query<IdentityRow>(`SELECT id, user_name, active FROM identities WHERE id IN (${list})`, chunk));
      grants.push(...await sql.query<GrantRow>(`SELECT identity_id, item, valid_from, valid_until FROM grants WHERE identity_id IN (${list})`, chunk));
    }
  }
  const windows = new Map<string, GrantWindow[]>();
  for (const row of grants) {
    const window: GrantWindow = { item: row.item, from: instant(row.valid_from, -Infinity), until: instant(row.valid_until, Infinity) };
    const list = windows.get(row.identity_id);
    if (list) list.push(window);
    else windows.set(row.identity_id, [window]);
  }
  const holders = new Map<string, Holder>();
  for (const row of identities) {
    // Sorted by item, so a decision's path ties break the same way on every instance and database.
    const held = (windows.get(row.id) ?? []).sort((a, b) => (a.item < b.item ? -1 : a.item > b.item ? 1 : 0));
    holders.set(row.id, new Holder(row.id, row.user_name, Number(row.active) === 1, held));
  }
  return holders;
}

/**
 * Follows access_changes by seq. `floor` is the highest seq at or below which every row has been
 * handled (or given up on); rows above it are read each poll and the ones already handled are
 * skipped, so a lower seq that commits after a higher one is still picked up. Normally the floor
 * sits at the newest row and a poll reads only new rows; a missing seq holds it back for at most
 * LATE_COMMIT_WINDOW_MS.
 */
class ChangeFeed {
  private floor = 0;
  private newest = 0;
  private readonly handled = new Set<number>();
  /** when each seq above the floor that has no row yet was first seen missing */
  private readonly missingSince = new Map<number, number>();

  /** Reads the rows above the floor and returns the identity ids of those not handled before. */
  async poll(sql: Sql, now: number): Promise<string[]> {
    const rows = await sql.query<{ seq: number | string; identity_id: string }>('SELECT seq, identity_id FROM access_changes WHERE seq > ? ORDER BY seq', [this.floor]);
    const ids: string[] = [];
    const seqs: number[] = [];
    for (const row of rows) {
      const seq = Number(row.seq);
      if (this.handled.has(seq)) continue;
      ids.push(row.identity_id);
      seqs.push(seq);
    }
    this.accept(seqs, now);
    return ids;
  }

  /**
   * Starts over from a snapshot that already reflects every row it shows: `recent` are the seqs
   * it holds from the last LATE_COMMIT_WINDOW_MS, `newest` its highest seq. Older rows are taken
   * as committed long ago; the gaps among the recent ones may still fill.
   */
  reset(recent: number[], newest: number, now: number): void {
    this.handled.clear();
    this.missingSince.clear();
    let oldest = newest + 1;
    for (const seq of recent) oldest = Math.min(oldest, seq);
    this.floor = oldest - 1;
    this.newest = this.floor;
    this.accept(recent, now, newest);
  }

  private accept(seqs: number[], now: number, newest = 0): void {
    for (const seq of seqs) {
      this.handled.add(seq);
      this.missingSince.delete(seq);
      newest = Math.max(newest, seq);
    }
    // A jump this large is the auto-increment skipping values, not transactions still open.
    if (newest - this.newest <= MAX_MISSING_TRACKED) {
      for (let seq = this.newest + 1; seq <= newest; seq++) if (!this.handled.has(seq)) this.missingSince.set(seq, now);
    }
    this.newest = Math.max(this.newest, newest);
    // Missing seqs were added in increasing order, so the first one is the lowest: the floor
    // rises to just below it, or to the newest row once none is still awaited.
    this.floor = this.newest;
    for (const [seq, since] of this.missingSince) {
      if (now - since < LATE_COMMIT_WINDOW_MS) {
        this.floor = seq - 1;
        break;
      }
      this.missingSince.delete(seq);
    }
    for (const seq of this.handled) if (seq <= this.floor) this.handled.delete(seq);
  }
}

/** What is known to be newer than what is loaded. */
interface Stale {
  catalog: boolean;
  allGrants: boolean;
  identities: Set<string>;
}

interface Loaded {
  catalog: Catalog;
  index: AccessIndex;
  version: number;
}

/** Decides access checks from memory, kept as fresh as the database (see the top of this file). */
export class PolicyEngine {
  private loaded!: Loaded;
  private holders = new Holders();
  private grantsEpoch = 0;
  private stale: Stale = { catalog: true, allGrants: true, identities: new Set() };
  private reloading: Promise<void> | undefined;
  private readonly feed = new ChangeFeed();
  private lastSweep = 0;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;
  private refreshingInBackground = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly db: Database,
    changes: PolicyChangeLog,
    private readonly log: Logger,
    private readonly pollIntervalMs: number,
  ) {
    // Subscribed before the first load, so a change committed during it is not lost.
    this.unsubscribe = changes.onChange((change) => this.noteChange(change));
  }

  /** Loads the live policy and every identity's grants, then keeps them fresh until stop(). */
  static async start(db: Database, changes: PolicyChangeLog, log: Logger, options: PolicyEngineOptions = {}): Promise<PolicyEngine> {
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!Number.isFinite(pollIntervalMs) || pollIntervalMs <= 0) throw new RangeError(`pollIntervalMs must be a positive number of milliseconds, not ${pollIntervalMs}`);
    const engine = new PolicyEngine(db, changes, log, pollIntervalMs);
    try {
      await engine.refresh();
    } catch (err) {
      engine.unsubscribe();
      throw err;
    }
    engine.schedulePoll();
    return engine;
  }

  /** The policy version the loaded catalogue is at. */
  get version(): number {
    return this.loaded.version;
  }

  /** The catalogue the next decision uses (reloaded first when a change is pending). */
  async catalog(): Promise<Catalog> {
    if (this.mustWait()) await this.ready();
    return this.loaded.catalog;
  }

  /** Decides one check on data no older than the latest change this instance knows of. */
  async check(request: CheckRequest): Promise<CheckResult> {
    // Awaited only when there is something to wait for: most checks find nothing stale.
    if (this.mustWait()) await this.ready();
    return this.decide(request);
  }

  /** check() for each request, in order, all on the same data. */
  async checkMany(requests: readonly CheckRequest[]): Promise<CheckResult[]> {
    if (this.mustWait()) await this.ready();
    return requests.map((request, i) => this.decide(request, i));
  }

  /** Stops polling and listening; later checks are refused, since nothing would keep them fresh. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    clearTimeout(this.timer);
    await this.polling;
    await this.reloading?.catch(() => undefined);
  }

  private mustWait(): boolean {
    return this.stopped || this.reloading !== undefined || this.isStale();
  }

  private async ready(): Promise<void> {
    if (this.stopped) throw new Error('the policy engine is stopped');
    if (this.reloading !== undefined || this.isStale()) await this.refresh();
  }

  /** Decides one request; `position` is its place in a batch, for error messages. */
  private decide(request: CheckRequest, position?: number): CheckResult {
    const { subject, object, action } = request;
    if (typeof subject !== 'string' || typeof object !== 'string' || typeof action !== 'string') {
      throw new PolicyError('invalid', `${inBatch(position)}subject, ${inBatch(position)}object and ${inBatch(position)}action must be strings`);
    }
    const time = request.context?.time;
    const at = time === undefined ? Date.now() : Date.parse(time);
    if (Number.isNaN(at)) throw new PolicyError('invalid', `${inBatch(position)}context.time must be an ISO-8601 date-time such as 2026-12-31T00:00:00Z`);
    const { index, version: policyVersion } = this.loaded;
    const holder = this.holders.find(subject);
    if (holder === undefined) {
      return { allowed: false, reason: `unknown subject ${JSON.stringify(subject)}: no identity has this id or userName`, policyVersion };
    }
    if (!holder.active) {
      return { allowed: false, reason: `${holder.userName} is not active: an inactive identity is denied everything`, policyVersion };
    }
    // Decided under the id, which can never collide with a role or entitlement name (a userName could).
    return withVersion(index.decideFor(holder.id, holder.itemsAt(at), object, action, holder.userName, holder), policyVersion);
  }

  private isStale(): boolean {
    return this.stale.catalog || this.stale.allGrants || this.stale.identities.size > 0;
  }

  private noteChange(change: PolicyChange): void {
    if (change.kind === 'catalog') {
      if (this.loaded === undefined || change.version > this.loaded.version) this.stale.catalog = true;
    } else if (change.kind === 'allGrants') {
      if (change.epoch > this.grantsEpoch) this.stale.allGrants = true;
    } else {
      for (const id of change.identityIds) this.stale.identities.add(id);
    }
    this.refreshInBackground();
  }

  /** Marks stale whatever the database shows to be newer than what is loaded. */
  private noteState(state: PolicyState): void {
    if (state.version > this.loaded.version) this.stale.catalog = true;
    if (state.grantsEpoch > this.grantsEpoch) this.stale.allGrants = true;
  }

  /** Reloads until nothing is stale; callers arriving meanwhile share the running reload. */
  private async refresh(): Promise<void> {
    while (!this.stopped && (this.reloading !== undefined || this.isStale())) {
      this.reloading ??= this.reloadOnce().finally(() => {
        this.reloading = undefined;
      });
      await this.reloading;
    }
  }

  /** Starts reloading now rather than at the next check; one such loop at a time. */
  private refreshInBackground(): void {
    if (this.stopped || this.refreshingInBackground) return;
    this.refreshingInBackground = true;
    this.refresh()
      .catch((err: unknown) => this.log.warn({ err }, 'policy engine reload failed; the next check retries it'))
      .finally(() => {
        this.refreshingInBackground = false;
      });
  }

  private async reloadOnce(): Promise<void> {
    const work = this.stale;
    this.stale = { catalog: false, allGrants: false, identities: new Set() };
    const ids = work.allGrants ? undefined : [...work.identities];
    const started = performance.now();
    let snapshot: Snapshot;
    try {
      snapshot = await this.db.transaction((tx) => readSnapshot(tx, work.catalog, ids));
    } catch (err) {
      // Still stale: the next check or poll tries again.
      this.stale.catalog ||= work.catalog;
      this.stale.allGrants ||= work.allGrants;
      for (const id of work.identities) this.stale.identities.add(id);
      throw err;
    }
    const { state, catalog, holders, changes } = snapshot;
    if (catalog !== undefined) this.loaded = { catalog, index: catalog.accessIndex(), version: state.version };
    if (holders !== undefined && ids === undefined) {
      this.holders = Holders.of(holders.values());
      this.grantsEpoch = state.grantsEpoch;
    } else if (holders !== undefined) {
      for (const id of ids!) {
        const holder = holders.get(id);
        if (holder === undefined) this.holders.remove(id);
        else this.holders.put(holder);
      }
    }
    if (changes !== undefined) this.feed.reset(changes.recent, changes.newest, Date.now());
    this.noteState(state);
    const ms = Math.round((performance.now() - started) * 10) / 10;
    const grants = holders === undefined ? 0 : [...holders.values()].reduce((sum, h) => sum + h.grantCount, 0);
    const details = {
      policyVersion: this.loaded.version,
      ...(catalog !== undefined && { catalog: { roles: catalog.roles.size, entitlements: catalog.entitlements.size, rules: this.loaded.index.stats.rules } }),
      ...(holders !== undefined && { identities: ids === undefined ? holders.size : ids.length, grants }),
      ...(ids === undefined && { grantsEpoch: this.grantsEpoch }),
      ms,
    };
    // Single identities reload on every grant or identity write; whole reloads are worth noticing.
    if (catalog !== undefined || ids === undefined) this.log.info(details, 'policy engine reloaded');
    else this.log.debug(details, 'policy engine reloaded identities');
  }

  private schedulePoll(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        this.schedulePoll();
      });
    }, this.pollIntervalMs);
    // A forgotten stop() must not keep a CLI process alive.
    this.timer.unref();
  }

  /** One look for other instances' changes; a failure is logged and the next tick tries again. */
  private async poll(): Promise<void> {
    try {
      const now = Date.now();
      this.noteState(await readPolicyState(this.db));
      for (const id of await this.feed.poll(this.db, now)) this.stale.identities.add(id);
      if (now - this.lastSweep >= SWEEP_INTERVAL_MS) {
        this.lastSweep = now;
        const swept = await this.db.execute('DELETE FROM access_changes WHERE created_ms < ?', [now - CHANGE_RETENTION_MS]);
        if (swept > 0) this.log.debug({ swept }, 'policy engine swept old access changes');
      }
      if (!this.stopped && this.isStale()) await this.refresh();
    } catch (err) {
      this.log.warn({ err }, 'policy engine could not poll for changes; retrying at the next interval');
    }
  }
}

interface Snapshot {
  state: PolicyState;
  catalog?: Catalog;
  holders?: Map<string, Holder>;
  changes?: { recent: number[]; newest: number };
}

/** What one reload reads, in one transaction: the catalogue if asked, and the identities `ids` (all when undefined). */
async function readSnapshot(sql: Sql, withCatalog: boolean, ids: string[] | undefined): Promise<Snapshot> {
  // Read first, so on MySQL the transaction's consistent snapshot starts here.
  const state = await readPolicyState(sql);
  const snapshot: Snapshot = { state };
  if (withCatalog) snapshot.catalog = await loadCatalog(sql);
  if (ids === undefined || ids.length > 0) snapshot.holders = await loadHolders(sql, ids);
  // Every access_changes row this snapshot shows is reflected by an all-identities load.
  if (ids === undefined) snapshot.changes = await recentChanges(sql, Date.now() - LATE_COMMIT_WINDOW_MS);
  return snapshot;
}

/** The access_changes rows a snapshot holds from the last window, and its highest seq. */
async function recentChanges(sql: Sql, since: number): Promise<{ recent: number[]; newest: number }> {
  const [top] = await sql.query<{ seq: number | string | null }>('SELECT MAX(seq) AS seq FROM access_changes');
  const rows = await sql.query<{ seq: number | string }>('SELECT seq FROM access_changes WHERE created_ms >= ?', [since]);
  return { recent: rows.map((row) => Number(row.seq)), newest: Number(top?.seq ?? 0) };
}

/** How an error names a field of the request at `position` in a batch (nothing for a single check). */
function inBatch(position: number | undefined): string {
  return position === undefined ? '' : `checks[${position}].`;
}

function withVersion(decision: Decision, policyVersion: number): CheckResult {
  const result: CheckResult = { allowed: decision.allowed, reason: decision.reason, policyVersion };
  if (decision.rolePath !== undefined) result.rolePath = decision.rolePath;
  if (decision.rule !== undefined) result.rule = decision.rule;
  return result;
}
