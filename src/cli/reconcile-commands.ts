/*
 * `iam reconcile TARGET [--fix]`: reads every account on a connected target, compares it with
 * what was planned, and reports orphans, missing accounts and drift; `--fix` queues the outbox
 * operations that repair them (a running server's workers, or the next `iam serve`, run them).
 * The connector comes from the configuration, as the server's does.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import type { Database } from '../db/database.js';
import { ConnectorRegistry } from '../provisioning/registry.js';
import { allFindings, findingsCsv, readFindings } from '../provisioning/reconciliation/findings.js';
import { Reconciler, ReconcileError } from '../provisioning/reconciliation/reconciler.js';
import { Progress } from './progress.js';

type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;

/** Exit codes: 0 nothing found, 1 findings, 2 the run could not be made or failed. */
const EXIT_FINDINGS = 1;
const EXIT_FAILED = 2;
/** Findings printed before "see --csv". */
const SHOWN = 20;

const write = (text: string) => process.stdout.write(text);

export function registerReconcileCommands(program: Command, withDatabase: WithDatabase, actor: () => string): void {
  program.command('reconcile')
    .description('compare a target\'s accounts with the planned ones: orphans, missing accounts, drift')
    .argument('<target>', 'a target named in the configuration\'s targets')
    .option('--fix', 'queue the outbox operations that repair what was found (orphans are disabled, never deleted)')
    .option('--csv <file>', 'write every finding to this CSV file')
    .option('--json', 'print the run and its findings as JSON')
    .addHelpText('after', '\nExit status: 0 when the target is as planned, 1 when something was found, 2 when the run failed.')
    .action(async (target: string, opts: { fix?: boolean; csv?: string; json?: boolean }) => {
      const connectors = ConnectorRegistry.fromConfig(loadConfig().targets);
      try {
        await withDatabase(async (db) => {
          const progress = new Progress(`reading ${target}`);
          const run = await new Reconciler(db, connectors).run(target, { fix: opts.fix === true, actor: actor(), onProgress: (n) => progress.update(n) });
          progress.finish(run.summary?.accountsRead ?? 0);
          if (opts.csv) {
            const out = createWriteStream(opts.csv);
            for await (const line of findingsCsv(db, run.id)) if (!out.write(line)) await once(out, 'drain');
            out.end();
            await once(out, 'finish');
          }
          if (opts.json) {
            // Streamed: a run over 100,000 accounts may find as many.
            write(`{"run": ${JSON.stringify(run)},\n"findings": [`);
            let separator = '\n';
            for await (const f of allFindings(db, run.id)) {
              write(`${separator}${JSON.stringify(f)}`);
              separator = ',\n';
            }
            write(']}\n');
          } else if (run.status === 'failed') {
            process.stderr.write(`iam: reconciling ${target} failed: ${run.error}\n`);
          } else {
            const shown = await readFindings(db, run.id, { limit: SHOWN });
            const s = run.summary!;
            write(`${target}: ${s.accountsRead} accounts read, ${s.matched} matched, ${s.inFlight} left to the outbox (operations pending), ${s.ignored} ignored\n`);
            write(`orphans ${s.orphans}, missing ${s.missing}, drift ${s.drift}${run.mode === 'fix' ? `; ${s.enqueued} operations queued${s.changedMeanwhile ? `, ${s.changedMeanwhile} left alone (changed meanwhile)` : ''}` : ''}\n`);
            for (const f of shown) write(`  ${f.kind.padEnd(7)} ${f.reason.padEnd(22)} ${f.userName ?? '-'}  ${f.accountKey ?? '-'}\n`);
            const total = s.orphans + s.missing + s.drift;
            if (total > shown.length) write(`  … ${total - shown.length} more${opts.csv ? ` in ${opts.csv}` : '; use --csv FILE or --json for all'}\n`);
            write(`run ${run.id}\n`);
          }
          if (run.status === 'failed') process.exitCode = EXIT_FAILED;
          else if (run.summary!.orphans + run.summary!.missing + run.summary!.drift > 0) process.exitCode = EXIT_FINDINGS;
        });
      } catch (err) {
        if (!(err instanceof ReconcileError)) throw err;
        process.stderr.write(`iam: ${err.message}\n`);
        process.exitCode = EXIT_FAILED;
      } finally {
        await connectors.close();
      }
    });
}
