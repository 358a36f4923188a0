/*
 * `iam outbox …`: what the provisioning outbox holds, and dead operations sent round again. Each
 * command opens the database itself, so it works with or without a running server; targets come
 * from the configuration, so operations of a target without a connector are shown as waiting.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { loadConfig } from '../config/index.js';
import type { Database } from '../db/database.js';
import { identitiesById, resolveIdentity } from '../policy/identity-ref.js';
import { listOperations, retryDead, type OutboxEntry } from '../provisioning/outbox.js';
import { OPERATION_STATUSES, type OperationStatus } from '../provisioning/operations.js';
import { formatTable } from './table.js';

type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;

const write = (text: string) => process.stdout.write(text);

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** An operation as listed: the entry, the identity's userName, and whether its target has a connector. */
interface Listed extends OutboxEntry {
  userName: string | null;
  /** false: no connector is configured for the target; the operation waits and is never attempted */
  connected: boolean;
}

/** What an operation does, in a few words: `add-membership platform`, `create (disabled, 2 memberships)`. */
function describe(entry: OutboxEntry): string {
  const o = entry.operation;
  switch (o.op) {
    case 'create':
      return `create (${o.enabled ? 'enabled' : 'disabled'}, ${o.memberships.length} membership${o.memberships.length === 1 ? '' : 's'})`;
    case 'add-membership':
    case 'remove-membership':
      return `${o.op} ${o.entitlement}`;
    default:
      return o.op;
  }
}

/** Adds the `outbox` command group to the CLI. */
export function registerOutboxCommands(program: Command, withDatabase: WithDatabase, actor: () => string): void {
  const outbox = program.command('outbox').description('list provisioning operations and retry dead ones');

  outbox.command('list')
    .description('list provisioning operations, oldest first')
    .addOption(new Option('--status <status>', 'only operations in this state').choices([...OPERATION_STATUSES]))
    .option('--target <name>', 'only operations on this target')
    .option('--identity <id>', 'only operations of this identity (id or userName)')
    .option('--after <id>', 'only operations after this id (to page on)', positiveInteger)
    .option('--limit <n>', 'at most this many operations', positiveInteger, 100)
    .option('--json', 'print JSON: {"operations": [...], "next": id when there are more}')
    .action(async (opts: { status?: OperationStatus; target?: string; identity?: string; after?: number; limit: number; json?: boolean }) => {
      const connected = new Set(Object.keys(loadConfig().targets));
      const result = await withDatabase(async (db) => {
        let identityId: string | undefined;
        if (opts.identity !== undefined) {
          identityId = (await resolveIdentity(db, opts.identity))?.id;
          if (identityId === undefined) return undefined;
        }
        const entries = await listOperations(db, { status: opts.status, target: opts.target, identityId, after: opts.after, limit: opts.limit + 1 });
        const page = entries.slice(0, opts.limit);
        const names = await identitiesById(db, page.map((e) => e.identityId));
        const operations: Listed[] = page.map((e) => ({ ...e, userName: names.get(e.identityId)?.userName ?? null, connected: connected.has(e.target) }));
        return { operations, ...(entries.length > opts.limit && { next: page[page.length - 1]!.id }) };
      });
      if (!result) {
        process.stderr.write(`iam: no identity ${opts.identity}\n`);
        process.exitCode = 2;
        return;
      }
      if (opts.json) {
        write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const rows = result.operations.map((e) => [
        String(e.id),
        e.status === 'pending' && !e.connected ? 'pending (no connector)' : e.status,
        e.target,
        describe(e),
        e.userName ?? e.identityId,
        String(e.attempts),
        e.status === 'pending' ? e.notBefore : e.status === 'running' ? `lease ${e.leaseUntil}` : (e.completed ?? e.lastModified),
        e.lastError ?? '',
      ]);
      write(formatTable([['ID', 'STATUS', 'TARGET', 'OPERATION', 'IDENTITY', 'ATTEMPTS', 'DUE / FINISHED', 'LAST ERROR'], ...rows]));
      write(`${result.operations.length} operation${result.operations.length === 1 ? '' : 's'}${result.next !== undefined ? `; more after ${result.next} (--after ${result.next})` : ''}\n`);
      const waiting = [...new Set(result.operations.filter((e) => !e.connected && e.status === 'pending').map((e) => e.target))];
      for (const target of waiting) write(`target ${target} has no connector configured (config targets.${target}): its operations wait and are never attempted\n`);
    });

  outbox.command('retry')
    .description('make dead operations pending again (attempts reset, due now); each retry is audited')
    .argument('[ids...]', 'ids of dead operations')
    .option('--all-dead', 'retry every dead operation')
    .option('--json', 'print JSON: {"retried": [...], "skipped": [...]}')
    .action(async (ids: string[], opts: { allDead?: boolean; json?: boolean }) => {
      if ((ids.length > 0) === Boolean(opts.allDead)) throw new InvalidArgumentError('name the operations to retry, or pass --all-dead (not both)');
      const wanted = opts.allDead ? 'all-dead' as const : ids.map((id) => positiveInteger(id));
      const result = await withDatabase((db) => db.transaction((tx) => retryDead(tx, wanted, { actor: actor() }, new Date())));
      if (opts.json) write(`${JSON.stringify(result, null, 2)}\n`);
      else {
        write(`retried ${result.retried.length} operation${result.retried.length === 1 ? '' : 's'}${result.retried.length > 0 && result.retried.length <= 20 ? `: ${result.retried.join(', ')}` : ''}\n`);
        for (const s of result.skipped) write(`not retried: ${s.id} ${s.status === 'missing' ? 'does not exist' : `is ${s.status}, not dead`}\n`);
      }
      if (result.skipped.length > 0) process.exitCode = 1;
    });
}
