import { readFileSync } from 'node:fs';
import { installPath } from './paths.js';
import { z } from 'zod';

/** Where the shipped defaults live; `IAM_CONFIG` may name a file that overrides them. */
const DEFAULTS_FILE = installPath('config/default.json');

const positiveInt = z.coerce.number().int().positive();

const configSchema = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().min(0).max(65535),
  /** Base URL clients use to reach this server (for Location headers and meta.location); derived from host and port when empty. */
  publicUrl: z.union([z.literal(''), z.url()]),
  databaseUrl: z.string().regex(/^(sqlite:|mysql:\/\/|mariadb:\/\/)/, 'must start with sqlite: or mysql://'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  scim: z.object({
    defaultPageSize: positiveInt,
    maxPageSize: positiveInt,
    maxBodyBytes: positiveInt,
    bulkMaxOperations: positiveInt,
    bulkMaxPayloadBytes: positiveInt,
  }),
  api: z.object({
    maxBodyBytes: positiveInt,
    /** most checks one POST /api/v1/authz/check may carry */
    maxBatchChecks: positiveInt,
  }),
  policy: z.object({
    /** the policy the database is seeded from at first start (relative paths are read from the installation directory); empty turns seeding off */
    seedFile: z.string(),
    /** the Casbin policy that authorizes the server's own API (relative paths as for seedFile) */
    apiPolicyFile: z.string().min(1),
    /** how often each instance polls for policy changes made by other instances */
    pollIntervalMs: positiveInt,
  }),
});

/** The typed, validated configuration every module receives; nothing else reads `process.env`. */
export type Config = z.infer<typeof configSchema>;

/** Environment variables and the config path each one overrides. */
export const ENVIRONMENT_VARIABLES: Record<string, string> = {
  IAM_HOST: 'host',
  IAM_PORT: 'port',
  IAM_PUBLIC_URL: 'publicUrl',
  IAM_DATABASE_URL: 'databaseUrl',
  IAM_LOG_LEVEL: 'logLevel',
  IAM_SCIM_DEFAULT_PAGE_SIZE: 'scim.defaultPageSize',
  IAM_SCIM_MAX_PAGE_SIZE: 'scim.maxPageSize',
  IAM_SCIM_MAX_BODY_BYTES: 'scim.maxBodyBytes',
  IAM_SCIM_BULK_MAX_OPERATIONS: 'scim.bulkMaxOperations',
  IAM_SCIM_BULK_MAX_PAYLOAD_BYTES: 'scim.bulkMaxPayloadBytes',
  IAM_API_MAX_BODY_BYTES: 'api.maxBodyBytes',
  IAM_API_MAX_BATCH_CHECKS: 'api.maxBatchChecks',
  IAM_POLICY_SEED_FILE: 'policy.seedFile',
  IAM_POLICY_API_POLICY_FILE: 'policy.apiPolicyFile',
  IAM_POLICY_POLL_INTERVAL_MS: 'policy.pollIntervalMs',
};

/** Raised when configuration is invalid; the message lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;

function readJson(file: string, problems: string[]): Tree {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Tree;
  } catch (err) {
    problems.push(`cannot read config file ${file}: ${(err as Error).message}`);
    return {};
  }
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] = isTree(prior) && isTree(value) ? deepMerge(prior, value) : value;
  }
  return out;
}

function isTree(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (isTree(value)) for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

/** Reads defaults, an optional `IAM_CONFIG` file and `IAM_*` variables into one frozen Config, or throws ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  let tree = readJson(DEFAULTS_FILE, problems);
  if (env.IAM_CONFIG) tree = deepMerge(tree, readJson(env.IAM_CONFIG, problems));
  for (const [name, path] of Object.entries(ENVIRONMENT_VARIABLES)) {
    const value = env[name];
    if (value !== undefined) setPath(tree, path, value);
  }
  const parsed = configSchema.safeParse(tree);
  if (!parsed.success) {
    const byPath = Object.fromEntries(Object.entries(ENVIRONMENT_VARIABLES).map(([k, v]) => [v, k]));
    for (const issue of parsed.error.issues) {
      const path = issue.path.join('.');
      const source = byPath[path] && env[byPath[path]!] !== undefined ? ` (from ${byPath[path]})` : '';
      problems.push(`${path || '(root)'}${source}: ${issue.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = parsed.data!;
  if (config.scim.defaultPageSize > config.scim.maxPageSize) {
    throw new ConfigError(['scim.defaultPageSize: must not exceed scim.maxPageSize']);
  }
  return deepFreeze(config);
}

/** Parts of a Config to replace; nested sections merge. */
export type ConfigOverrides = Partial<Omit<Config, 'scim' | 'api' | 'policy'>> & {
  scim?: Partial<Config['scim']>;
  api?: Partial<Config['api']>;
  policy?: Partial<Config['policy']>;
};

/** Builds a Config from defaults plus overrides, for tests and embedding. */
export function configWith(overrides: ConfigOverrides = {}): Config {
  const base = loadConfig({});
  return deepFreeze(deepMerge(base as unknown as Tree, overrides as Tree) as unknown as Config);
}
