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
  ConnectorError, type AccountAttributes, type AccountRef, type Connector, type Operation, type OperationResult, type OpName,
} from '../../src/provisioning/connector.js';

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
  /** only calls for this operation / account */
  op?: OpName;
  accountId?: string;
}

export const memorySettings = z.object({
  /** a delay after a change is made and before the answer, like a network round trip */
  latencyMs: z.coerce.number().min(0).default(0),
  /** append applied operations here and replay them at start */
  stateFile: z.string().min(1).optional(),
});
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

  constructor(readonly target: string, settings: MemorySettings = {}) {
    this.settings = memorySettings.parse(settings);
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

  /** Makes the change; `replay` is the result recorded when the journal is read back. */
  private apply(ref: AccountRef, operation: Operation, replay?: OperationResult): OperationResult {
    const account = this.accounts.get(ref.accountId);
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
        this.accounts.delete(ref.accountId);
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
