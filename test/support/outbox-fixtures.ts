/*
 * What the outbox tests share: accounts and operations written straight into the tables (the
 * worker's input, without the planner's coalescing in the way), a connector wrapper that records
 * what ran and catches two runs of one account or one operation at the same time, and counts.
 */
import { randomUUID } from 'node:crypto';
import { insertRows } from '../../src/db/batches.js';
import type { Sql } from '../../src/db/database.js';
import type { AccountAttributes, AccountRef, Connector, Operation, OperationResult } from '../../src/provisioning/connector.js';
import { timeOrderedId } from '../../src/db/ids.js';
import { operationPayload } from '../../src/provisioning/operations.js';
import type { OutboxWorkerOptions } from '../../src/provisioning/worker.js';
import { Catalog } from '../../src/policy/catalog.js';

/** A small catalogue for planner tests: three targets, two roles (engineer inherits employee). */
export const PLANNER_CATALOG = Catalog.fromDocument({
  targets: [{ name: 'github', type: 'github' }, { name: 'slack', type: 'slack' }, { name: 'ldap', type: 'ldap' }],
  entitlements: [
    { target: 'github', key: 'account', kind: 'account' },
    { target: 'github', key: 'platform', kind: 'team' },
    { target: 'github', key: 'api', kind: 'team' },
    { target: 'slack', key: 'account', kind: 'account' },
    { target: 'ldap', key: 'staff', kind: 'group' },
    { target: 'ldap', key: 'finance', kind: 'group' },
  ],
  roles: [
    { name: 'employee', entitlements: ['slack/account', 'ldap/staff'] },
    { name: 'engineer', inherits: ['employee'], entitlements: ['github/account', 'github/platform'] },
  ],
});

/** Worker options for tests: quick polls, short backoff. */
export const TEST_WORKER: OutboxWorkerOptions = {
  pollIntervalMs: 10, batchSize: 50, leaseMs: 60_000, maxAttempts: 4, backoffBaseMs: 1000, backoffMaxMs: 60_000,
};

export interface TestAccount {
  accountId: string;
  identityId: string;
  target: string;
}

/** Inserts accounts rows (planned enabled, never seen on the target). */
export async function insertAccounts(sql: Sql, target: string, count: number): Promise<TestAccount[]> {
  const now = new Date().toISOString();
  const accounts = Array.from({ length: count }, () => ({ accountId: timeOrderedId(), identityId: randomUUID(), target }));
  await insertRows(sql, 'accounts',
    ['id', 'identity_id', 'target', 'planned_status', 'planned_memberships', 'planned_attributes', 'observed_status', 'created', 'last_modified'],
    accounts.map((a) => [a.accountId, a.identityId, target, 'enabled', '[]', '{}', 'absent', now, now]));
  return accounts;
}

/** Inserts operations for accounts as given, in order, due at once (or at `notBefore`); returns their ids in order. */
export async function insertOperations(sql: Sql, rows: Array<{ account: TestAccount; operation: Operation; notBefore?: string }>): Promise<number[]> {
  const now = new Date().toISOString();
  const before = Number((await sql.query<{ n: number | string | null }>('SELECT MAX(id) AS n FROM outbox'))[0]?.n ?? 0);
  await insertRows(sql, 'outbox',
    ['account_id', 'identity_id', 'target', 'op', 'payload', 'idempotency_key', 'status', 'attempts', 'not_before', 'cause', 'created', 'last_modified'],
    rows.map(({ account, operation, notBefore }) => [
      account.accountId, account.identityId, account.target, operation.op, operationPayload(operation), timeOrderedId(), 'pending', 0, notBefore ?? now, 'test', now, now,
    ]));
  const ids = await sql.query<{ id: number | string }>('SELECT id FROM outbox WHERE id > ? ORDER BY id', [before]);
  return ids.map((r) => Number(r.id));
}

/** A create for a test account. */
export const create = (userName: string, memberships: string[] = [], enabled = true): Operation => ({
  op: 'create', attributes: { userName, extra: {} }, enabled, memberships,
});

/** Counts rows of a query (`SELECT COUNT(*) AS n …`). */
export async function count(sql: Sql, text: string, params: unknown[] = []): Promise<number> {
  return Number((await sql.query<{ n: number | string }>(text, params))[0]!.n);
}

/** Outbox rows by status. */
export async function statuses(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql.query<{ status: string; n: number | string }>('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/**
 * Wraps a connector: records every run (account, key, start order), the most runs at once, and
 * every overlap — two runs of one account, or of one idempotency key, at the same time.
 */
/** A connector that reads like `inner` and runs operations with `execute`: a target that stalls, or loses answers. */
export function withExecute(inner: Connector, execute: Connector['execute']): Connector {
  return {
    target: inner.target, correlation: inner.correlation, keepsDisabledAccounts: inner.keepsDisabledAccounts, execute,
    test: () => inner.test(), get: (key) => inner.get(key), list: () => inner.list(), targetAttributes: (a) => inner.targetAttributes(a),
  };
}

export class RecordingConnector implements Connector {
  readonly runs: Array<{ accountId: string; key: string; op: string; at: number }> = [];
  readonly overlaps: string[] = [];
  maxAtOnce = 0;
  private readonly activeAccounts = new Set<string>();
  private readonly activeKeys = new Set<string>();

  constructor(private readonly inner: Connector, private readonly delayMs: () => number = () => 0) {}

  get target(): string {
    return this.inner.target;
  }

  get correlation(): Connector['correlation'] {
    return this.inner.correlation;
  }

  get keepsDisabledAccounts(): boolean {
    return this.inner.keepsDisabledAccounts;
  }

  test(): Promise<void> {
    return this.inner.test();
  }

  get(accountKey: string): ReturnType<Connector['get']> {
    return this.inner.get(accountKey);
  }

  list(): ReturnType<Connector['list']> {
    return this.inner.list();
  }

  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return this.inner.targetAttributes(attributes);
  }

  async execute(account: AccountRef, operation: Operation, key: string): Promise<OperationResult> {
    if (this.activeKeys.has(key)) this.overlaps.push(`operation ${key} ran twice at once`);
    if (this.activeAccounts.has(account.accountId)) this.overlaps.push(`account ${account.accountId} ran two operations at once`);
    this.activeKeys.add(key);
    this.activeAccounts.add(account.accountId);
    this.maxAtOnce = Math.max(this.maxAtOnce, this.activeKeys.size);
    this.runs.push({ accountId: account.accountId, key, op: operation.op, at: Date.now() });
    try {
      const delay = this.delayMs();
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      return await this.inner.execute(account, operation, key);
    } finally {
      this.activeKeys.delete(key);
      this.activeAccounts.delete(account.accountId);
    }
  }
}
