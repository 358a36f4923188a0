import { readFileSync } from 'node:fs';
import { installPath } from './paths.js';
import { z } from 'zod';
import { MOVABLE_ATTRIBUTES } from '../lifecycle/classify.js';
import { approvalChain, campaignDefinition, campaignName } from '../governance/definitions.js';

/** Where the shipped defaults live; `IAM_CONFIG` may name a file that overrides them. */
const DEFAULTS_FILE = installPath('config/default.json');

const positiveInt = z.coerce.number().int().positive();
const nonNegativeInt = z.coerce.number().int().nonnegative();
/** true or false, also as the words an environment variable carries (a plain coercion would read "false" as true) */
export const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((word) => word === 'true')]);

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
  hr: z.object({
    /** the column mapping HR feeds are read with (relative paths from the installation directory) */
    mappingFile: z.string().min(1),
    /** what a feed is unless its import says otherwise: a full snapshot or a delta */
    feedKind: z.enum(['snapshot', 'delta']),
    /** in a snapshot, a stored person missing from the file is a leaver */
    absentIsLeaver: flag,
    /** attributes whose change makes a mover (birthright recomputed) rather than a plain update */
    moverAttributes: z.array(z.enum(MOVABLE_ATTRIBUTES)),
    /** circuit breaker: a feed making more leavers than min(breakerPercent% of active, breakerAbsolute) is held */
    breakerPercent: z.coerce.number().min(0).max(100),
    breakerAbsolute: nonNegativeInt,
    /** a folder polled for feed files; empty turns the poll off */
    dropFolder: z.string(),
    /** when the drop folder is polled (cron expression) */
    dropSchedule: z.string().min(1),
    /** the largest feed accepted by upload */
    maxUploadBytes: positiveInt,
  }),
  lifecycle: z.object({
    /** days a mover keeps access no longer justified; 0 removes it at once */
    moverGraceDays: nonNegativeInt,
    /** days after leaving before a leaver's accounts are deleted */
    retentionDays: nonNegativeInt,
    /** days before a future hire's start that disabled accounts are created; 0 creates none early */
    preProvisionDays: nonNegativeInt,
    /** when due hires and terminations are applied (cron expression); they are also applied at start */
    effectiveDatesSchedule: z.string().min(1),
  }),
  outbox: z.object({
    /** whether `iam serve` runs provisioning workers */
    runWorkers: flag,
    /** how often an idle worker looks for due operations */
    pollIntervalMs: positiveInt,
    /** operations one worker claims at a time */
    batchSize: positiveInt,
    /** how long a claimed operation is reserved; after that another worker may run it again */
    leaseMs: positiveInt,
    /** attempts before an operation is dead */
    maxAttempts: positiveInt,
    backoffBaseMs: positiveInt,
    backoffMaxMs: positiveInt,
    /** when every identity's accounts are planned again, catching up with catalogue edits (cron) */
    planSchedule: z.string().min(1),
  }),
  reconcile: z.object({
    /** when every connected target is reconciled (cron) */
    schedule: z.string().min(1),
    /** whether the scheduled run queues repairs (`iam reconcile --fix`) or only reports */
    fix: flag,
  }),
  mail: z.object({
    /** the SMTP server; empty keeps mail queued in the database, unsent */
    host: z.string(),
    port: z.coerce.number().int().min(1).max(65535),
    /** TLS from the first byte (usually port 465); otherwise STARTTLS is used when the server offers it */
    secure: flag,
    /** refuse to send unless the connection is upgraded with STARTTLS */
    requireTls: flag,
    /** SMTP login; empty sends without authentication */
    user: z.string(),
    /** SMTP password: give it as IAM_MAIL_PASSWORD, never in a file kept in the repository */
    password: z.string(),
    /** the From address */
    from: z.string().min(3),
    /** when queued mail that could not be sent at once is tried again (cron) */
    sendSchedule: z.string().min(1),
    /** attempts before a mail is given up (it stays in mail_outbox with its last error) */
    maxAttempts: positiveInt,
  }),
  governance: z.object({
    /** days a pending access request waits for its decisions before it expires */
    requestExpiryDays: positiveInt,
    /** days an approval waits before it goes to the approver's manager too; 0 never escalates */
    escalationDays: nonNegativeInt,
    /** the approval chain of a request whose item has none of its own in `chains` */
    defaultChain: approvalChain,
    /** per item (`role:<name>` or `ent:<target>/<key>`), its own approval chain */
    chains: z.record(z.string(), approvalChain),
    /** whether a manager may request access for their direct and indirect reports */
    managersRequestForReports: flag,
    /** days before a time-bound grant ends that its holder is mailed; 0 sends nothing */
    expiryNoticeDays: nonNegativeInt,
    /** hours a link in a mail stays valid */
    linkTtlHours: positiveInt,
    /** when escalations, request expiry, expiry notices, reminders and campaign closes are processed (cron) */
    schedule: z.string().min(1),
    /** target name → the userName of the person answerable for it (target-owner approvals and reviews) */
    targetOwners: z.record(z.string(), z.string().min(1)),
  }),
  reviews: z.object({
    /** review campaign definitions by name */
    campaigns: z.record(campaignName, campaignDefinition),
  }),
  audit: z.object({
    /** the folder the scheduled audit report job writes signed reports into; empty turns the job off */
    reportFolder: z.string(),
    /** when the audit reports are written (cron) */
    reportSchedule: z.string().min(1),
    /** addresses the reports are mailed to */
    reportRecipients: z.array(z.email()),
  }),
  /** connected systems by target name: which connector serves each, with its settings */
  targets: z.record(z.string(), z.looseObject({
    connector: z.string().min(1),
    /** operations run at once on this target */
    concurrency: positiveInt.default(4),
    /** operations started per second on this target; 0 is unlimited */
    ratePerSecond: z.coerce.number().min(0).default(0),
    /** how reconciliation treats this target's accounts that belong to nobody here */
    reconcile: z.object({
      /** whether --fix switches orphans off (false: they are only reported, as for org owners and bots on GitHub) */
      fixOrphans: flag.default(true),
      /** accounts reconciliation leaves out entirely: account keys or correlation values (service accounts, admins), without case */
      ignore: z.array(z.string().min(1)).default([]),
    }).default({ fixOrphans: true, ignore: [] }),
  })),
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
  IAM_HR_MAPPING_FILE: 'hr.mappingFile',
  IAM_HR_FEED_KIND: 'hr.feedKind',
  IAM_HR_ABSENT_IS_LEAVER: 'hr.absentIsLeaver',
  IAM_HR_BREAKER_PERCENT: 'hr.breakerPercent',
  IAM_HR_BREAKER_ABSOLUTE: 'hr.breakerAbsolute',
  IAM_HR_DROP_FOLDER: 'hr.dropFolder',
  IAM_HR_DROP_SCHEDULE: 'hr.dropSchedule',
  IAM_HR_MAX_UPLOAD_BYTES: 'hr.maxUploadBytes',
  IAM_LIFECYCLE_MOVER_GRACE_DAYS: 'lifecycle.moverGraceDays',
  IAM_LIFECYCLE_RETENTION_DAYS: 'lifecycle.retentionDays',
  IAM_LIFECYCLE_PRE_PROVISION_DAYS: 'lifecycle.preProvisionDays',
  IAM_LIFECYCLE_EFFECTIVE_DATES_SCHEDULE: 'lifecycle.effectiveDatesSchedule',
  IAM_OUTBOX_RUN_WORKERS: 'outbox.runWorkers',
  IAM_OUTBOX_POLL_INTERVAL_MS: 'outbox.pollIntervalMs',
  IAM_OUTBOX_BATCH_SIZE: 'outbox.batchSize',
  IAM_OUTBOX_LEASE_MS: 'outbox.leaseMs',
  IAM_OUTBOX_MAX_ATTEMPTS: 'outbox.maxAttempts',
  IAM_OUTBOX_BACKOFF_BASE_MS: 'outbox.backoffBaseMs',
  IAM_OUTBOX_BACKOFF_MAX_MS: 'outbox.backoffMaxMs',
  IAM_OUTBOX_PLAN_SCHEDULE: 'outbox.planSchedule',
  IAM_RECONCILE_SCHEDULE: 'reconcile.schedule',
  IAM_RECONCILE_FIX: 'reconcile.fix',
  IAM_MAIL_HOST: 'mail.host',
  IAM_MAIL_PORT: 'mail.port',
  IAM_MAIL_SECURE: 'mail.secure',
  IAM_MAIL_REQUIRE_TLS: 'mail.requireTls',
  IAM_MAIL_USER: 'mail.user',
  IAM_MAIL_PASSWORD: 'mail.password',
  IAM_MAIL_FROM: 'mail.from',
  IAM_MAIL_SEND_SCHEDULE: 'mail.sendSchedule',
  IAM_GOVERNANCE_REQUEST_EXPIRY_DAYS: 'governance.requestExpiryDays',
  IAM_GOVERNANCE_ESCALATION_DAYS: 'governance.escalationDays',
  IAM_GOVERNANCE_EXPIRY_NOTICE_DAYS: 'governance.expiryNoticeDays',
  IAM_GOVERNANCE_LINK_TTL_HOURS: 'governance.linkTtlHours',
  IAM_GOVERNANCE_SCHEDULE: 'governance.schedule',
  IAM_AUDIT_REPORT_FOLDER: 'audit.reportFolder',
  IAM_AUDIT_REPORT_SCHEDULE: 'audit.reportSchedule',
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
export type ConfigOverrides = Partial<Omit<Config, 'scim' | 'api' | 'policy' | 'hr' | 'lifecycle' | 'outbox' | 'reconcile' | 'targets' | 'mail' | 'governance' | 'reviews' | 'audit'>> & {
  scim?: Partial<Config['scim']>;
  api?: Partial<Config['api']>;
  policy?: Partial<Config['policy']>;
  hr?: Partial<Config['hr']>;
  lifecycle?: Partial<Config['lifecycle']>;
  outbox?: Partial<Config['outbox']>;
  reconcile?: Partial<Config['reconcile']>;
  mail?: Partial<Config['mail']>;
  governance?: Partial<z.input<typeof configSchema>['governance']>;
  reviews?: z.input<typeof configSchema>['reviews'];
  audit?: Partial<Config['audit']>;
  /** as a config file writes them: a target's limits may be left to their defaults */
  targets?: Record<string, z.input<typeof configSchema>['targets'][string]>;
};

/** Builds a Config from defaults plus overrides, for tests and embedding; checked and completed as a config file would be. */
export function configWith(overrides: ConfigOverrides = {}): Config {
  const base = loadConfig({});
  return deepFreeze(configSchema.parse(deepMerge(base as unknown as Tree, overrides as Tree)));
}
