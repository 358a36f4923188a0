/*
 * `iam audit …`: verify the hash chain and export the trail.
 */
import { Option, type Command } from 'commander';
import { verifyAuditChain } from '../audit/verify.js';
import { exportAuditEvents, type ExportFormat } from '../audit/export.js';
import { Progress } from './progress.js';
import { CliError, type WithDatabase, type WithServices } from './with.js';

function isoTime(value: string, name: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new CliError(`${name} must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z`);
  return new Date(t).toISOString();
}

/** Adds `iam audit verify|export`. */
export function registerAuditCommands(program: Command, withDatabase: WithDatabase, _withServices: WithServices, _actor: () => string): void {
  const audit = program.command('audit').description('verify and export the tamper-evident audit trail');
  audit.command('verify')
    .description('recompute the hash chain; exit 0 when intact, 1 naming the first broken event')
    .action(async () => {
      const report = await withDatabase(async (db) => {
        const progress = new Progress('verifying audit events');
        const result = await verifyAuditChain(db, (n) => progress.update(n));
        progress.finish(result.eventsChecked);
        return result;
      });
      if (report.ok) {
        process.stdout.write(`audit chain intact: ${report.eventsChecked} events verified\n`);
      } else {
        process.stdout.write(`audit chain BROKEN at event ${report.brokenAt!.id}: ${report.brokenAt!.reason} (${report.eventsChecked} events verified before it)\n`);
        process.exitCode = 1;
      }
    });
  audit.command('export')
    .description('stream audit events to stdout, oldest first, in constant memory')
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'jsonl']).default('jsonl'))
    .option('--since <time>', 'only events at or after this ISO-8601 time')
    .option('--until <time>', 'only events before this ISO-8601 time')
    .action(async (opts: { format: ExportFormat; since?: string; until?: string }) => {
      const range = {
        since: opts.since ? isoTime(opts.since, '--since') : undefined,
        until: opts.until ? isoTime(opts.until, '--until') : undefined,
      };
      await withDatabase(async (db) => {
        for await (const line of exportAuditEvents(db, opts.format, range)) {
          if (!process.stdout.write(line)) await new Promise((r) => process.stdout.once('drain', r));
        }
      });
    });

}
