/*
 * Coalescing: operations of one account that no worker has started yet (pending, attempts 0)
 * are merged with a new one instead of piling up, so a target sees the net change only. A
 * started operation (running, retried, dead) is never touched: it may already have happened.
 *
 * Because a worker runs an account's operations strictly one after another, the unstarted ones
 * are always the tail of the account's queue; folding a new operation into an earlier unstarted
 * one therefore never moves it past something that has already run. The rules:
 *   create + disable/enable          → the create with the enabled flag
 *   create + update                  → the create with the new attributes
 *   create + add/remove membership   → the create's membership list
 *   create + delete                  → both cancelled (with whatever followed the create)
 *   disable + enable (either order)  → both cancelled
 *   add X + remove X (either order)  → both cancelled
 *   update + update                  → one update with the newer attributes
 *   delete (future) + enable         → the delete cancelled
 */
import type { Operation } from './connector.js';

/** An operation in an account's queue. */
export interface QueuedOperation {
  /** the outbox row id; undefined for an operation added by this call */
  id?: number;
  operation: Operation;
  notBefore: string;
  /** pending with attempts = 0: it may still be merged or cancelled */
  unstarted: boolean;
}

interface Entry extends QueuedOperation {
  cancelled: boolean;
  /** an existing row whose payload must be rewritten */
  changed: boolean;
}

/** What coalescing did to one account's queue. */
export interface QueueChanges {
  /** existing rows to mark cancelled */
  cancelled: number[];
  /** existing rows whose operation changed (merged into) */
  changed: Array<{ id: number; operation: Operation }>;
  /** new rows to insert, in order */
  added: Array<{ operation: Operation; notBefore: string }>;
}

const OPPOSITE = { enable: 'disable', disable: 'enable', 'add-membership': 'remove-membership', 'remove-membership': 'add-membership' } as const;

/** One account's unfinished operations, to which new ones are added with coalescing. */
export class AccountQueue {
  private readonly entries: Entry[];

  /** `existing`: the account's unfinished rows (pending, running, dead) in id order. */
  constructor(existing: readonly QueuedOperation[] = []) {
    this.entries = existing.map((e) => ({ ...e, cancelled: false, changed: false }));
  }

  /** The live operations, in order, as a worker would run them (for tests and the planner). */
  operations(): QueuedOperation[] {
    return this.entries.filter((e) => !e.cancelled).map(({ id, operation, notBefore, unstarted }) => ({ id, operation, notBefore, unstarted }));
  }

  /** The last live unstarted operation matching `test`. */
  private findUnstarted(test: (operation: Operation) => boolean): Entry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (!e.cancelled && e.unstarted && test(e.operation)) return e;
    }
    return undefined;
  }

  /** The unstarted delete, if one is waiting (a leaver's scheduled deletion). */
  pendingDelete(): QueuedOperation | undefined {
    return this.findUnstarted((o) => o.op === 'delete');
  }

  /** Whether a started delete (running, retried or dead) is ahead: the account is, or is about to be, gone. */
  deleteStarted(): boolean {
    return this.entries.some((e) => !e.cancelled && !e.unstarted && e.operation.op === 'delete');
  }

  /** Cancels an unstarted operation; returns false when it has started (or is already cancelled). */
  cancel(target: QueuedOperation): boolean {
    const entry = this.entries.find((e) => e === target || (target.id !== undefined && e.id === target.id));
    if (!entry || entry.cancelled || !entry.unstarted) return false;
    entry.cancelled = true;
    return true;
  }

  /** Adds an operation at the end of the queue, merging it with unstarted ones where the rules say so. */
  push(operation: Operation, notBefore: string): void {
    const create = this.findUnstarted((o) => o.op === 'create');
    switch (operation.op) {
      case 'update': {
        const into = create ?? this.findUnstarted((o) => o.op === 'update');
        if (into) return this.rewrite(into, { ...into.operation, attributes: operation.attributes } as Operation);
        break;
      }
      case 'enable':
      case 'disable': {
        if (create && create.operation.op === 'create') {
          return this.rewrite(create, { ...create.operation, enabled: operation.op === 'enable' });
        }
        if (operation.op === 'enable') {
          const deletion = this.findUnstarted((o) => o.op === 'delete');
          if (deletion) deletion.cancelled = true;
        }
        const opposite = this.findUnstarted((o) => o.op === OPPOSITE[operation.op]);
        if (opposite) {
          opposite.cancelled = true;
          return;
        }
        break;
      }
      case 'add-membership':
      case 'remove-membership': {
        if (create && create.operation.op === 'create') {
          const members = new Set(create.operation.memberships);
          if (operation.op === 'add-membership') members.add(operation.entitlement);
          else members.delete(operation.entitlement);
          return this.rewrite(create, { ...create.operation, memberships: [...members].sort() });
        }
        const opposite = this.findUnstarted((o) => o.op === OPPOSITE[operation.op] && o.entitlement === operation.entitlement);
        if (opposite) {
          opposite.cancelled = true;
          return;
        }
        break;
      }
      case 'delete': {
        if (create) {
          // The account was never made: nothing to delete, and nothing queued after the create matters.
          const from = this.entries.indexOf(create);
          for (const e of this.entries.slice(from)) if (e.unstarted) e.cancelled = true;
          return;
        }
        break;
      }
      case 'create':
        break;
    }
    this.entries.push({ operation, notBefore, unstarted: true, cancelled: false, changed: false });
  }

  private rewrite(entry: Entry, operation: Operation): void {
    entry.operation = operation;
    if (entry.id !== undefined) entry.changed = true;
  }

  /** What to write: cancellations and rewrites of existing rows, and the new rows. */
  changes(): QueueChanges {
    const out: QueueChanges = { cancelled: [], changed: [], added: [] };
    for (const e of this.entries) {
      if (e.id === undefined) {
        if (!e.cancelled) out.added.push({ operation: e.operation, notBefore: e.notBefore });
      } else if (e.cancelled) {
        out.cancelled.push(e.id);
      } else if (e.changed) {
        out.changed.push({ id: e.id, operation: e.operation });
      }
    }
    return out;
  }
}
