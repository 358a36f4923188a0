import { userInfo } from 'node:os';
import { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { ConnectorConfigError } from '../provisioning/registry.js';
import { Database } from '../db/database.js';
import { createLogger } from '../log/logger.js';
import { startServer } from '../http/server.js';
import { TokenError, TokenService } from '../auth/tokens.js';
import { SCOPES } from '../auth/scopes.js';
import { closeServices, createServices, type AppServices } from '../http/app.js';
import { registerAuditCommands } from './audit-commands.js';
import { CliError } from './with.js';
import { GovernanceError } from '../governance/errors.js';
import { registerJobCommands } from './job-commands.js';
import { registerRequestCommands } from './request-commands.js';
import { registerReviewCommands } from './review-commands.js';
import { registerHrCommands } from './hr-commands.js';
import { registerOutboxCommands } from './outbox-commands.js';
import { registerPolicyCommands } from './policy-commands.js';
import { registerReconcileCommands } from './reconcile-commands.js';
import { PolicyError } from '../policy/model.js';
import { formatTable } from './table.js';

/** The actor CLI commands are audited as. */
const cliActor = () => `cli:${userInfo().username}`;

function config(): Config {
  return loadConfig();
}

/** Opens the configured database with migrations applied, runs `work`, and closes it. */
async function withDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
  const cfg = config();
  await Database.ensureExists(cfg.databaseUrl);
  const db = await Database.connect(cfg.databaseUrl);
  try {
    await db.migrate();
    return await work(db);
  } finally {
    await db.close();
  }
}

/**
 * Opens the database like withDatabase and builds the server's services on it (without serving
 * HTTP or starting workers and schedules), for commands that act as the server would.
 */
async function withServices<T>(work: (services: AppServices) => Promise<T>): Promise<T> {
  const cfg = config();
  return withDatabase(async (db) => {
    const services = await createServices(cfg, db, createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, process.stderr));
    try {
      return await work(services);
    } finally {
      await closeServices(services);
    }
  });
}

/** Builds the `iam` command tree; exported for tests. */
export function buildCli(): Command {
  const program = new Command('iam')
    .description('Workforce identity and access-governance server')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });

  program.command('serve')
    .description('migrate the database and serve the HTTP API (SCIM at /scim/v2, health at /healthz)')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg.logLevel);
      const server = await startServer(cfg, log);
      process.stdout.write(`iam listening on ${server.url} (SCIM at ${server.url}/scim/v2)\n`);
      process.stdout.write('Create an API token with: npx iam token create --name NAME --scopes scim:read,scim:write\n');
      const stop = async (signal: string) => {
        log.info({ signal }, 'shutting down');
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });

  program.command('migrate')
    .description('apply pending database migrations and exit')
    .action(async () => {
      const cfg = config();
      await Database.ensureExists(cfg.databaseUrl);
      const db = await Database.connect(cfg.databaseUrl);
      try {
        const applied = await db.migrate();
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
      } finally {
        await db.close();
      }
    });

  const token = program.command('token').description('manage API tokens (only a hash of each is stored)');
  token.command('create')
    .description('create a token and print it once, on the last line of output')
    .requiredOption('--name <name>', 'a unique name for the token, e.g. okta or entra-prod')
    .requiredOption('--scopes <list>', `comma-separated scopes: ${Object.keys(SCOPES).join(', ')}`)
    .option('--identity <userName>', 'the person the token belongs to: requests, approvals and review decisions made with it are theirs')
    .action(async (opts: { name: string; scopes: string; identity?: string }) => {
      const { token: text, scopes } = await withDatabase((db) => new TokenService(db).create(opts.name, opts.scopes, cliActor(), opts.identity));
      const owner = opts.identity === undefined ? '' : ` for ${opts.identity}`;
      process.stdout.write(`created token "${opts.name}"${owner} with scopes ${scopes.join(', ')}; it is shown only now:\n${text}\n`);
    });
  token.command('list')
    .description('list tokens (names, scopes, dates; never secrets)')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }) => {
      const list = await withDatabase((db) => new TokenService(db).list());
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const rows = list.map((t) => [t.name, t.scopes.join(','), t.identity ?? '-', t.created, t.revoked ? `revoked ${t.revoked}` : 'active']);
      const header = ['NAME', 'SCOPES', 'IDENTITY', 'CREATED', 'STATUS'];
      process.stdout.write(formatTable([header, ...rows]));
    });
  token.command('revoke')
    .description('revoke a token by name; it stops working at once')
    .argument('<name>', 'the token name')
    .action(async (name: string) => {
      await withDatabase((db) => new TokenService(db).revoke(name, cliActor()));
      process.stdout.write(`revoked token "${name}"\n`);
    });

  registerPolicyCommands(program, withDatabase, cliActor);
  registerHrCommands(program, withDatabase, cliActor);
  registerOutboxCommands(program, withDatabase, cliActor);
  registerReconcileCommands(program, withDatabase, cliActor);
  registerAuditCommands(program, withDatabase);
  registerRequestCommands(program, withServices, cliActor);
  registerReviewCommands(program, withServices, cliActor);
  registerJobCommands(program, withServices);
  return program;
}

/** Runs the CLI; expected failures print one clear line and exit 2, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof CliError || err instanceof GovernanceError || err instanceof TokenError || err instanceof PolicyError || err instanceof ConnectorConfigError) {
      process.stderr.write(`iam: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`iam: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
