/*
 * `iam policy …`: ask the live policy a question, try a change, and move the policy between the
 * database and the policies/ file format. Each command opens the database itself, like the
 * other CLI commands, so it works with or without a running server.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Database } from '../db/database.js';
import { createLogger } from '../log/logger.js';
import { BirthrightService } from '../policy/birthright.js';
import { loadCatalog } from '../policy/catalog.js';
import { PolicyChangeLog } from '../policy/changes.js';
import { PolicyEngine } from '../policy/engine.js';
import { PolicyError } from '../policy/model.js';
import { readPolicyFile } from '../policy/seed.js';
import { simulate, type SimulationResult } from '../policy/simulate.js';
import { SodService } from '../policy/sod.js';
import { PolicyStore } from '../policy/store.js';

type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;

/** The policy services a CLI command needs, over one database connection. */
function policyServices(db: Database) {
  const changes = new PolicyChangeLog();
  const birthright = new BirthrightService(db, changes);
  return { changes, birthright, store: new PolicyStore(db, changes, birthright), sod: new SodService(db) };
}

const write = (text: string) => process.stdout.write(text);

function printSimulation(result: SimulationResult): void {
  write(`policy version ${result.policyVersion}: ${result.identities.length} identities would change\n`);
  for (const identity of result.identities.slice(0, 50)) {
    const parts = [
      ...identity.gains.map((item) => `+${item}`),
      ...identity.losses.map((item) => `-${item}`),
    ];
    write(`  ${identity.userName}: ${parts.join(' ')}\n`);
  }
  if (result.identities.length > 50) write(`  … and ${result.identities.length - 50} more (use --json for all)\n`);
  for (const v of result.sodViolationsAdded) write(`  new SoD violation: ${v.rule} for ${v.userName ?? v.identityId}${v.excepted ? ' (excepted)' : ''}\n`);
  for (const v of result.sodViolationsRemoved) write(`  SoD violation resolved: ${v.rule} for ${v.userName ?? v.identityId}\n`);
}

/** Adds the `policy` command group to the CLI. */
export function registerPolicyCommands(program: Command, withDatabase: WithDatabase, actor: () => string): void {
  const policy = program.command('policy').description('query, simulate, export and import the live access policy');

  policy.command('check')
    .description('decide whether SUBJECT may do ACTION on OBJECT; exit 0 on allow, 1 on deny')
    .argument('<subject>', 'identity id or userName')
    .argument('<object>', 'object path, e.g. /repos/api, or an item such as role:engineer')
    .argument('<action>', 'action, e.g. read; "hold" asks whether SUBJECT holds the item OBJECT')
    .option('--at <time>', 'decide as of this ISO-8601 time (grant validity windows)')
    .option('--json', 'print the decision as JSON')
    .action(async (subject: string, object: string, action: string, opts: { at?: string; json?: boolean }) => {
      if (opts.at !== undefined && Number.isNaN(Date.parse(opts.at))) throw new PolicyError('invalid', '--at must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z');
      const result = await withDatabase(async (db) => {
        const engine = await PolicyEngine.start(db, new PolicyChangeLog(), createLogger('silent'), { pollIntervalMs: 60_000 });
        try {
          return await engine.check({ subject, object, action, ...(opts.at !== undefined && { context: { time: new Date(opts.at).toISOString() } }) });
        } finally {
          await engine.stop();
        }
      });
      write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.allowed ? 'allow' : 'deny'}: ${result.reason}\n`);
      if (!result.allowed) process.exitCode = 1;
    });

  policy.command('simulate')
    .description('show who would gain or lose what, and which SoD violations would appear, if FILE were applied; changes nothing')
    .argument('<file>', 'a proposal ({"changes": [...]}) or a whole policy document in the policies/ format')
    .option('--json', 'print the full result as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const proposal = await readPolicyFile(file);
      const result = await withDatabase(async (db) => simulate(db, await loadCatalog(db), proposal, new SodService(db)));
      if (opts.json) write(`${JSON.stringify(result, null, 2)}\n`);
      else printSimulation(result);
    });

  policy.command('export')
    .description('write the live policy in the policies/ format (targets, entitlements, roles, birthright and SoD rules)')
    .option('--output <file>', 'write to this file instead of standard output')
    .action(async (opts: { output?: string }) => {
      const document = await withDatabase(async (db) => (await loadCatalog(db)).document);
      const text = `${JSON.stringify(document, null, 2)}\n`;
      if (opts.output) {
        await writeFile(resolve(opts.output), text);
        process.stderr.write(`wrote ${resolve(opts.output)}\n`);
      } else {
        write(text);
      }
    });

  policy.command('import')
    .description('replace the live policy with FILE (policies/ format) in one audited change, recomputing birthright grants')
    .argument('<file>', 'a policy document, e.g. policies/catalog.json')
    .option('--dry-run', 'only show what the import would change (as policy simulate does)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: { dryRun?: boolean; json?: boolean }) => {
      const document = await readPolicyFile(file);
      await withDatabase(async (db) => {
        if (opts.dryRun) {
          const result = await simulate(db, await loadCatalog(db), { document }, new SodService(db));
          if (opts.json) write(`${JSON.stringify(result, null, 2)}\n`);
          else printSimulation(result);
          return;
        }
        const result = await policyServices(db).store.replaceAll(document, { actor: actor() });
        if (opts.json) {
          write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        write(`imported ${resolve(file)} as policy version ${result.version}\n`);
        write(`birthright grants: ${result.recompute.added} added, ${result.recompute.removed} removed over ${result.recompute.identities} identities\n`);
      });
    });

  policy.command('violations')
    .description('list the separation-of-duties violations that exist now; exit 1 when there is any that is not excepted')
    .option('--rule <name>', 'only this SoD rule')
    .option('--json', 'print JSON')
    .action(async (opts: { rule?: string; json?: boolean }) => {
      const violations = await withDatabase(async (db) => new SodService(db).report(await loadCatalog(db), opts.rule ? { rule: opts.rule } : undefined));
      if (opts.json) write(`${JSON.stringify(violations, null, 2)}\n`);
      else {
        for (const v of violations) write(`${v.rule}\t${v.severity}\t${v.userName ?? v.identityId}\t${v.left.join(',')} vs ${v.right.join(',')}${v.excepted ? '\texcepted' : ''}\n`);
        write(`${violations.length} violation${violations.length === 1 ? '' : 's'}\n`);
      }
      if (violations.some((v) => !v.excepted)) process.exitCode = 1;
    });
}
