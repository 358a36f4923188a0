/*
 * `iam hr …`: import an HR feed file, decide on feeds the circuit breaker held, and read feed
 * reports. Each command opens the database itself, like the other CLI commands, so it works with
 * or without a running server; imports go through FeedService, as the API's and the drop
 * folder's do.
 *
 * Exit codes of `hr import`: 0 applied or dry run, 3 held by the circuit breaker (nothing
 * applied; a script can page someone), 2 the file or the mapping cannot be read (nothing recorded).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig, type Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import { FeedError, type FeedService, type FeedReport, type FeedStatus } from '../lifecycle/feed-service.js';
import { createLifecycleServices } from '../lifecycle/services.js';
import { PLAN_CLASSES } from '../lifecycle/classify.js';
import { HrMappingError, loadHrMapping } from '../lifecycle/hr-feed/mapping.js';
import { HrFeedError } from '../lifecycle/hr-feed/read.js';
import { BirthrightService } from '../policy/birthright.js';
import { PolicyChangeLog } from '../policy/changes.js';
import { Progress } from './progress.js';
import { formatTable } from './table.js';

type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;

/** Exit code of an import the circuit breaker held. */
export const EXIT_HELD = 3;
/** Exit code of an expected failure: an unreadable file or mapping, an unknown feed, a feed not held. */
export const EXIT_FAILED = 2;

const FEED_STATUSES: readonly FeedStatus[] = ['applying', 'applied', 'held', 'rejected', 'dry-run', 'failed'];
/** Rejected rows printed before "use --json for all". */
const REJECTED_SHOWN = 50;

/** The FeedService a command uses, wired as the server wires it. */
function feedService(db: Database, config: Config): FeedService {
  const changes = new PolicyChangeLog();
  return createLifecycleServices(db, config, changes, new BirthrightService(db, changes)).feeds;
}

const write = (text: string) => process.stdout.write(text);

/** Prints one line on stderr and sets the exit code of an expected failure. */
function fail(message: string): void {
  process.stderr.write(`iam: ${message}\n`);
  process.exitCode = EXIT_FAILED;
}

/** Runs `work`, turning the failures a person can act on into one line and exit code 2. */
async function expected(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (err instanceof FeedError || err instanceof HrFeedError || err instanceof HrMappingError) {
      fail(err.message);
      return;
    }
    throw err;
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** The report a person reads: what the feed is, its counts, rejections, warnings, the breaker and what applying did. */
export function formatReport(report: FeedReport): string {
  const lines: string[] = [];
  const file = report.fileName ? `, ${report.fileName}` : '';
  lines.push(`feed ${report.feedId}: ${report.status} (${report.kind}, ${report.format}, from ${report.source}${file})`);
  lines.push(`  imported ${report.created} by ${report.createdBy}; effective dates compared with ${report.today}`);
  const classes = [...PLAN_CLASSES, 'rejected' as const];
  const width = Math.max(...classes.map((c) => c.length));
  lines.push('  rows:');
  for (const c of classes) lines.push(`    ${c.padEnd(width)}  ${String(report.counts[c] ?? 0).padStart(7)}`);
  if (report.rejected.length > 0) {
    lines.push(`  rejected rows (${report.rejected.length}):`);
    for (const r of report.rejected.slice(0, REJECTED_SHOWN)) lines.push(`    row ${r.row}${r.employeeId ? ` (${r.employeeId})` : ''}: ${r.reason}`);
    if (report.rejected.length > REJECTED_SHOWN) lines.push(`    … and ${report.rejected.length - REJECTED_SHOWN} more (use --json for all)`);
  }
  if (report.warnings.length > 0) {
    lines.push(`  warnings (${report.warnings.length}):`);
    for (const w of report.warnings) lines.push(`    ${w}`);
  }
  lines.push(`  circuit breaker: ${report.breaker.held ? 'HELD' : 'passed'}: ${report.breaker.reason}`);
  if (report.applied) {
    const a = report.applied;
    lines.push(`  applied: grants ${a.grantsAdded} added, ${a.grantsRemoved} removed, ${a.grantsRevoked} revoked from leavers, ${a.grantsFlagged} flagged for manager review; ${a.operationsEnqueued} provisioning operations enqueued`);
  }
  if (report.error) lines.push(`  error: ${report.error}`);
  if (report.decidedBy) lines.push(`  ${report.status === 'rejected' ? 'rejected' : 'approved'} by ${report.decidedBy} at ${report.decidedAt}`);
  lines.push(`  duration: ${seconds(report.durationMs)}`);
  if (report.status === 'held') {
    lines.push(`  nothing was applied. Apply it with: iam hr approve ${report.feedId}`);
    lines.push(`  or drop it with:                 iam hr reject ${report.feedId}`);
  }
  return `${lines.join('\n')}\n`;
}

function printReport(report: FeedReport, json: boolean | undefined): void {
  write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

/** Adds the `hr` command group to the CLI. */
export function registerHrCommands(program: Command, withDatabase: WithDatabase, actor: () => string): void {
  const hr = program.command('hr').description('import HR feeds, approve or reject feeds held by the circuit breaker, read feed reports');

  hr.command('import')
    .description(`import an HR feed file (CSV, or a JSON array for *.json) and print its report; exit 0 when applied or a dry run, ${EXIT_HELD} when the circuit breaker held it, ${EXIT_FAILED} when the file cannot be read`)
    .argument('<file>', 'the feed file')
    .option('--mapping <file>', 'the column mapping to read it with (default: the configured hr.mappingFile)')
    .addOption(new Option('--kind <kind>', 'a full snapshot or a delta (default: the configured hr.feedKind)').choices(['snapshot', 'delta']))
    .option('--dry-run', 'classify and report only; nothing is applied')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { mapping?: string; kind?: 'snapshot' | 'delta'; dryRun?: boolean; json?: boolean }) => expected(async () => {
      const path = resolve(file);
      try {
        const info = await stat(path);
        if (!info.isFile()) throw new Error('not a file');
      } catch (err) {
        fail(`cannot read ${path}: ${(err as Error).message}`);
        return;
      }
      const config = loadConfig();
      // A mapping named on the command line is read from the working directory, like FILE.
      const mapping = opts.mapping !== undefined ? loadHrMapping(resolve(opts.mapping)) : undefined;
      const report = await withDatabase(async (db) => {
        let progress: Progress | undefined;
        let done = 0;
        try {
          return await feedService(db, config).import({
            content: createReadStream(path),
            fileName: basename(path),
            ...(opts.kind !== undefined && { kind: opts.kind }),
            ...(mapping !== undefined && { mapping }),
            dryRun: opts.dryRun === true,
            source: 'cli',
            actor: actor(),
            onProgress: (n, total) => {
              progress ??= new Progress('applying', total);
              done = n;
              progress.update(n);
            },
          });
        } finally {
          progress?.finish(done);
        }
      });
      printReport(report, opts.json);
      if (report.status === 'held') process.exitCode = EXIT_HELD;
    }));

  const decisions = [
    { name: 'approve', description: 'apply a feed the circuit breaker held (its rows are classified again against the identities as they are now); audited' },
    { name: 'reject', description: 'drop a feed the circuit breaker held: nothing in it is applied; audited' },
  ] as const;
  for (const { name, description } of decisions) {
    hr.command(name)
      .description(description)
      .argument('<feed-id>', 'the feed id, as `iam hr import` or `iam hr list` printed it')
      .option('--json', 'print the report as JSON')
      .action(async (feedId: string, opts: { json?: boolean }) => expected(async () => {
        const config = loadConfig();
        const report = await withDatabase((db) => feedService(db, config)[name](feedId, actor()));
        printReport(report, opts.json);
      }));
  }

  hr.command('list')
    .description('list imported feeds, newest first')
    .addOption(new Option('--status <status>', 'only feeds with this status').choices(FEED_STATUSES))
    .option('--limit <n>', 'at most this many feeds (1-1000)', '20')
    .option('--json', 'print the reports as JSON')
    .action(async (opts: { status?: FeedStatus; limit: string; json?: boolean }) => expected(async () => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        fail(`--limit must be a whole number from 1 to 1000, not "${opts.limit}"`);
        return;
      }
      const config = loadConfig();
      const { feeds } = await withDatabase((db) => feedService(db, config).list({ limit, ...(opts.status !== undefined && { status: opts.status }) }));
      if (opts.json) {
        write(`${JSON.stringify(feeds, null, 2)}\n`);
        return;
      }
      const header = ['ID', 'CREATED', 'STATUS', 'KIND', 'SOURCE', 'FILE', 'JOINERS', 'MOVERS', 'LEAVERS', 'REJECTED'];
      const rows = feeds.map((f) => [
        f.feedId, f.created, f.status, f.kind, f.source, f.fileName ?? '-',
        String(f.counts.joiner ?? 0), String(f.counts.mover ?? 0), String(f.counts.leaver ?? 0), String(f.counts.rejected ?? 0),
      ]);
      write(formatTable([header, ...rows]));
      write(`${feeds.length} feed${feeds.length === 1 ? '' : 's'}\n`);
    }));

  hr.command('show')
    .description('print one feed\'s report')
    .argument('<feed-id>', 'the feed id')
    .option('--json', 'print the report as JSON')
    .action(async (feedId: string, opts: { json?: boolean }) => expected(async () => {
      const config = loadConfig();
      printReport(await withDatabase((db) => feedService(db, config).get(feedId)), opts.json);
    }));
}
