/*
 * A stateful in-memory target: accounts with attributes, an enabled flag and memberships. It
 * behaves as a well-behaved real connector must: "already there" and "already gone" are success,
 * and an idempotency key it has applied is answered from memory without applying anything again.
 * For tests it can inject failures (retryable or not, with Retry-After) and a delay, and it can
 * keep a journal file of applied operations, so its state survives a kill -9 of the process and
 * a second process can prove that nothing was applied twice.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  ConnectorError, type AccountAttributes, type AccountRef, type Connector, type CorrelationRule, type Operation, type OperationResult,
  type OpName, type TargetAccount,
} from '../../src/provisioning/connector.js';
import { attributeMappingSchema, correlationRules, correlationSchema, mapAttributes, type AttributeMapping } from '../../src/provisioning/attribute-mapping.js';

/** An account as the memory target holds it. */
export interface MemoryAccount {
  accountId: string;
  identityId: string;
  accountKey: string;
  enabled: boolean;
  attributes: AccountAttributes;
  memberships: Set<string>;
}

/** One applied operation, as the journal file keeps it (one JSON object per line). */
export interface JournalEntry {
  key: string;
  account: AccountRef;
  operation: Operation;
  result: OperationResult;
}

/** A failure to inject: the next `times` matching calls fail before changing anything. */
export interface InjectedFailure {
  times: number;
  retryable?: boolean;
  retryAfterMs?: number;
  message?: string;
  /** only calls for this operation (or read: test, get, list) / account */
  op?: OpName | 'test' | 'get' | 'list';
  accountId?: string;
}

export const memorySettings = z.object({
  /** a delay after a change is made and before the answer, like a network round trip */
  latencyMs: z.coerce.number().min(0).default(0),
  /** append applied operations here and replay them at start */
  stateFile: z.string().min(1).optional(),
  /** accounts per page of list() */
  pageSize: z.coerce.number().int().positive().default(1000),
  attributes: attributeMappingSchema.optional(),
  correlate: correlationSchema.optional(),
});

/** The memory target keeps the identity's attributes under their own names. */
export const MEMORY_DEFAULT_MAPPING: AttributeMapping = {
  userName: 'userName', givenName: 'givenName', familyName: 'familyName', displayName: 'displayName', email: 'email', employeeId: 'employeeId',
};
export const MEMORY_DEFAULT_CORRELATION: readonly CorrelationRule[] = [{ target: 'userName', identity: 'userName' }, { target: 'email', identity: 'email' }];
export type MemorySettings = z.input<typeof memorySettings>;

export class MemoryConnector implements Connector {
  /** live accounts by our account id */
  readonly accounts = new Map<string, MemoryAccount>();
  /** every idempotency key applied, with its result */
  readonly applied = new Map<string, OperationResult>();
  /** calls that came with a key already applied (a retry or a re-run after a crash) */
  replayed = 0;
  /** every call, including failed and replayed ones */
  calls = 0;
  private readonly failures: InjectedFailure[] = [];
  private readonly settings: z.output<typeof memorySettings>;
  readonly correlation: readonly CorrelationRule[];
  readonly keepsDisabledAccounts = true;
  private readonly mapping: AttributeMapping;

  constructor(readonly target: string, settings: MemorySettings = {}) {
    this.settings = memorySettings.parse(settings);
    this.mapping = this.settings.attributes ?? MEMORY_DEFAULT_MAPPING;
    this.correlation = correlationRules(this.settings.correlate, MEMORY_DEFAULT_CORRELATION);
    const file = this.settings.stateFile;
    if (file && existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        // The last line may be cut short by a kill mid-write: it was never acknowledged.
        if (!line.trim()) continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(line) as JournalEntry;
        } catch {
          continue;
        }
        this.apply(entry.account, entry.operation, entry.result);
        this.applied.set(entry.key, entry.result);
      }
    }
  }

  /** Makes the next matching calls fail. */
  failNext(failure: InjectedFailure): void {
    this.failures.push({ ...failure });
  }

  /** The account of an identity, if it exists. */
  accountOf(identityId: string): MemoryAccount | undefined {
    for (const a of this.accounts.values()) if (a.identityId === identityId) return a;
    return undefined;
  }

  async execute(account: AccountRef, operation: Operation, idempotencyKey: string): Promise<OperationResult> {
    this.calls++;
    const failure = this.failures.find((f) => f.times > 0 && (f.op === undefined || f.op === operation.op) && (f.accountId === undefined || f.accountId === account.accountId));
    if (failure) {
      failure.times--;
      throw new ConnectorError(failure.message ?? `injected failure of ${operation.op}`, failure.retryable ?? true, failure.retryAfterMs);
    }
    const known = this.applied.get(idempotencyKey);
    if (known) {
      this.replayed++;
      return known;
    }
    const result = this.apply(account, operation);
    this.applied.set(idempotencyKey, result);
    if (this.settings.stateFile) {
      // Synchronous, so the entry is in the file before anything else can happen in this process.
      appendFileSync(this.settings.stateFile, `${JSON.stringify({ key: idempotencyKey, account, operation, result } satisfies JournalEntry)}\n`);
    }
    if (this.settings.latencyMs > 0) await new Promise((r) => setTimeout(r, this.settings.latencyMs));
    return result;
  }

  async test(): Promise<void> {
    this.takeFailure('test');
  }

  targetAttributes(attributes: AccountAttributes): Record<string, string> {
    return mapAttributes(this.mapping, attributes);
  }

  async get(accountKey: string): Promise<TargetAccount | null> {
    this.takeFailure('get');
    for (const account of this.accounts.values()) if (account.accountKey === accountKey) return this.view(account);
    return null;
  }

  async *list(): AsyncIterable<TargetAccount[]> {
    this.takeFailure('list');
    let page: TargetAccount[] = [];
    for (const account of [...this.accounts.values()]) {
      page.push(this.view(account));
      if (page.length === this.settings.pageSize) {
        yield page;
        page = [];
      }
    }
    if (page.length > 0) yield page;
  }

  /** An account as list() and get() report it. */
  private view(account: MemoryAccount): TargetAccount {
    return { accountKey: account.accountKey, enabled: account.enabled, attributes: this.targetAttributes(account.attributes), memberships: [...account.memberships].sort() };
  }

  /** Throws the first injected failure aimed at this read (by name: a failure without `op` is for operations). */
  private takeFailure(read: 'test' | 'get' | 'list'): void {
    const failure = this.failures.find((f) => f.times > 0 && f.op === read);
    if (!failure) return;
    failure.times--;
    throw new ConnectorError(failure.message ?? `injected failure of ${read}`, failure.retryable ?? true, failure.retryAfterMs);
  }

  /**
   * The account an operation is about: by our account id, or, as a real target would find it, by
   * its key (an account made by hand that reconciliation took over has our id only on our side).
   */
  private find(ref: AccountRef): MemoryAccount | undefined {
    const byId = this.accounts.get(ref.accountId);
    if (byId || ref.accountKey === null) return byId;
    for (const account of this.accounts.values()) if (account.accountKey === ref.accountKey) return account;
    return undefined;
  }

  /** Makes the change; `replay` is the result recorded when the journal is read back. */
  private apply(ref: AccountRef, operation: Operation, replay?: OperationResult): OperationResult {
    const account = this.find(ref);
    const missing = () => new ConnectorError(`account ${ref.accountId} does not exist on ${this.target}`, false);
    switch (operation.op) {
      case 'create': {
        if (account) return { accountKey: account.accountKey };
        const accountKey = replay?.accountKey ?? `${this.target}-${randomUUID()}`;
        this.accounts.set(ref.accountId, {
          accountId: ref.accountId, identityId: ref.identityId, accountKey, enabled: operation.enabled,
          attributes: operation.attributes, memberships: new Set(operation.memberships),
        });
        return { accountKey };
      }
      case 'update':
        if (!account) throw missing();
        account.attributes = operation.attributes;
        return {};
      case 'enable':
        if (!account) throw missing();
        account.enabled = true;
        return {};
      case 'disable':
        if (account) account.enabled = false;
        return {};
      case 'delete':
        if (account) this.accounts.delete(account.accountId);
        return {};
      case 'add-membership':
        if (!account) throw missing();
        account.memberships.add(operation.entitlement);
        return {};
      case 'remove-membership':
        account?.memberships.delete(operation.entitlement);
        return {};
    }
  }
}

/** The registry's factory: `{ "connector": "memory", "latencyMs": 0, "stateFile": "…" }`. */
export function createMemoryConnector(target: string, settings: Record<string, unknown>): Connector {
  return new MemoryConnector(target, settings as MemorySettings);
}
