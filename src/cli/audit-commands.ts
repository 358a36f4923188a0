/*
 * `iam audit …`: verify the hash chain, export the trail, write and check signed exports, and
 * print the key exports are signed with.
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { verifyAuditChain } from '../audit/verify.js';
import { exportAuditEvents, type ExportFormat } from '../audit/export.js';
import { writeSignedExport, type SignedExportProgress } from '../audit/signed-export.js';
import { UntrustedKeyError, verifyExport, type ExportVerification } from '../audit/verify-export.js';
import { exportSigningKeys, storedExportPublicKey } from '../auth/server-keys.js';
import { Progress } from './progress.js';
import { CliError, type WithDatabase } from './with.js';

function isoTime(value: string, name: string): string {
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new CliError(`${name} must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z`);
  return new Date(t).toISOString();
}

function rangeOf(opts: { since?: string; until?: string }): { since?: string; until?: string } {
  return {
    ...(opts.since !== undefined && { since: isoTime(opts.since, '--since') }),
    ...(opts.until !== undefined && { until: isoTime(opts.until, '--until') }),
  };
}

/** A progress line per step of a signed export. */
function exportProgress(): { update(p: SignedExportProgress): void; finish(): void } {
  const labels = { events: 'audit events', access: 'access report: identities' } as const;
  let step: SignedExportProgress['step'] | undefined;
  let bar: Progress | undefined;
  let done = 0;
  return {
    update(p) {
      if (p.step !== step) {
        bar?.finish(done);
        step = p.step;
        bar = new Progress(labels[p.step], p.total);
      }
      done = p.done;
      bar!.update(p.done);
    },
    finish() {
      bar?.finish(done);
    },
  };
}

/** Adds `iam audit verify|export|report|verify-export|public-key`. */
export function registerAuditCommands(program: Command, withDatabase: WithDatabase): void {
  const audit = program.command('audit').description('verify, export and report on the tamper-evident audit trail');
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
      const range = rangeOf(opts);
      await withDatabase(async (db) => {
        for await (const chunk of exportAuditEvents(db, opts.format, range)) {
          if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
        }
      });
    });
  audit.command('report')
    .description('write a signed export into a new folder: the audit events, the access report, the SoD violations, manifest.json and manifest.sig')
    .requiredOption('--out <dir>', 'the folder to write (created; must be empty)')
    .option('--since <time>', 'only events at or after this ISO-8601 time')
    .option('--until <time>', 'only events before this ISO-8601 time')
    .addOption(new Option('--format <format>', 'format of the audit events file').choices(['csv', 'jsonl']).default('csv'))
    .action(async (opts: { out: string; since?: string; until?: string; format: ExportFormat }) => {
      const range = rangeOf(opts);
      const written = await withDatabase(async (db) => {
        const progress = exportProgress();
        try {
          return await writeSignedExport(db, opts.out, range, { format: opts.format, onProgress: (p) => progress.update(p) });
        } finally {
          progress.finish();
        }
      });
      const head = written.manifest.auditChainHead;
      process.stdout.write(`signed export written to ${written.dir}: ${written.manifest.files.map((f) => f.name).join(', ')}, manifest.json, manifest.sig\n`);
      process.stdout.write(`${written.events} audit events${head.lastId === null ? '' : `, ending at event ${head.lastId} (hash ${head.hash})`}\n`);
    });
  audit.command('verify-export')
    .description('check a signed export: the signature, every file\'s SHA-256, no file missing or added, and the audit chain inside it; exit 0 when intact, 1 naming each tampered file')
    .argument('<dir>', 'the export folder')
    .option('--public-key <file>', 'the server\'s public key (PEM, from iam audit public-key); default: the key in the configured database')
    .option('--trust-embedded-key', 'without another key, accept the public key inside the manifest (this proves the files are as signed, not who signed them)')
    .action(async (dir: string, opts: { publicKey?: string; trustEmbeddedKey?: boolean }) => {
      let publicKey: string | undefined;
      let from = '';
      let why = 'the database has no export-signing key';
      if (opts.publicKey !== undefined) {
        publicKey = await readFile(opts.publicKey, 'utf8').catch((err: Error) => {
          throw new CliError(`cannot read --public-key ${opts.publicKey}: ${err.message}`);
        });
        from = `the key in ${opts.publicKey}`;
      } else {
        // Checking an export on a machine without the database is normal: then a key file is needed.
        publicKey = await withDatabase((db) => storedExportPublicKey(db)).catch((err: Error) => {
          why = `the database could not be read (${err.message})`;
          return undefined;
        });
        from = 'the server\'s key (from the database)';
      }
      if (publicKey === undefined && !opts.trustEmbeddedKey) {
        throw new CliError(`no trusted public key: ${why} and no --public-key was given. The key inside the manifest alone proves nothing (whoever changed the files could sign with their own key); pass --public-key FILE, or --trust-embedded-key to accept it anyway`);
      }
      if (publicKey === undefined) from = 'the key inside the manifest (--trust-embedded-key: not proof of who signed)';
      let report: ExportVerification;
      try {
        report = await verifyExport(dir, publicKey !== undefined ? { publicKey } : { trustEmbeddedKey: true });
      } catch (err) {
        if (err instanceof UntrustedKeyError) throw new CliError(err.message);
        throw err;
      }
      if (report.ok) {
        process.stdout.write(`export intact: ${report.manifest!.files.length} files and ${report.events} audit events match the manifest, signed with ${from}\n`);
        return;
      }
      for (const problem of report.problems) process.stdout.write(`TAMPERED ${problem.file}: ${problem.reason}\n`);
      process.exitCode = 1;
    });
  audit.command('public-key')
    .description('print the public key (PEM) that signed exports can be checked with')
    .action(async () => {
      const { publicKey } = await withDatabase((db) => exportSigningKeys(db));
      process.stdout.write(publicKey.endsWith('\n') ? publicKey : `${publicKey}\n`);
    });
}
