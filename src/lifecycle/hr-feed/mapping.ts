/*
 * The column mapping: which feed column holds each HrRecord attribute, how HR's status words read
 * as lifecycle statuses, and what happens to columns nobody mapped. config/hr-mapping.json is the
 * default and reads what test/support/hrgen.mjs (the HR feed generator) writes; `--mapping FILE` names another.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { installPath } from '../../config/paths.js';
import type { HrStatus } from '../hr-record.js';

/** The shipped mapping, relative to the installation directory. */
export const DEFAULT_MAPPING_FILE = 'config/hr-mapping.json';

/** HrRecord attributes a feed column can fill (row and extra are not columns). */
export const MAPPED_ATTRIBUTES = [
  'employeeId', 'givenName', 'familyName', 'preferredName', 'email', 'department', 'title',
  'managerEmployeeId', 'location', 'costCenter', 'employmentType', 'status', 'hireDate', 'terminationDate',
] as const;
export type MappedAttribute = (typeof MAPPED_ATTRIBUTES)[number];

/** Attributes every mapping must name a column for: a record without them cannot be matched or named. */
export const REQUIRED_ATTRIBUTES = ['employeeId', 'givenName', 'familyName', 'email', 'status'] as const satisfies readonly MappedAttribute[];

const HR_STATUSES = ['active', 'terminated', 'leave'] as const satisfies readonly HrStatus[];

const columnName = z.string().trim().min(1, 'a column name must not be empty').max(255);
const EXTRA_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const EXTRA_NAME_RULE = 'an extra attribute name is 1-64 letters, digits or "_", starting with a letter';

/** A message naming the keys a strict object does not know, and what it does know; undefined for other issues. */
function unknownKeys(issue: { code?: string; keys?: unknown }, known: string): string | undefined {
  if (issue.code !== 'unrecognized_keys' || !Array.isArray(issue.keys)) return undefined;
  return `${issue.keys.map((k) => `"${String(k)}"`).join(', ')} ${issue.keys.length === 1 ? 'is' : 'are'} no ${known}`;
}

const mappingSchema = z.strictObject({
  /** a note for whoever edits the file; JSON has no comments */
  $comment: z.string().optional(),
  /** attribute → the feed column that holds it; attributes left out are null in every record */
  columns: z.partialRecord(z.enum(MAPPED_ATTRIBUTES), columnName, {
    error: (issue) => unknownKeys(issue, `attribute a column can fill (${MAPPED_ATTRIBUTES.join(', ')})`),
  }),
  /** extra attribute → column, kept in HrRecord.extra for connectors (e.g. githubLogin) */
  extra: z.record(z.string().regex(EXTRA_NAME), columnName, {
    error: (issue) => (issue.code === 'invalid_key' ? EXTRA_NAME_RULE : undefined),
  }).default({}),
  /** HR's status words (matched case-insensitively) → the lifecycle status they mean */
  statusValues: z.record(z.string().trim().min(1, 'a status word must not be empty'), z.enum(HR_STATUSES, 'must be "active", "terminated" or "leave"')),
  /** columns nobody mapped: dropped, or kept in extra under their header name */
  unknownColumns: z.enum(['ignore', 'extra'], 'must be "ignore" or "extra"').default('ignore'),
}, { error: (issue) => unknownKeys(issue, 'mapping setting ($comment, columns, extra, statusValues, unknownColumns)') }).superRefine((m, ctx) => {
  for (const attribute of REQUIRED_ATTRIBUTES) {
    if (m.columns[attribute] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['columns', attribute], message: `is required: every record needs its ${attribute}` });
    }
  }
  const byColumn = new Map<string, string>();
  const claim = (column: string, what: string, path: (string | number)[]) => {
    const key = columnKey(column);
    const prior = byColumn.get(key);
    if (prior !== undefined) ctx.addIssue({ code: 'custom', path, message: `column "${column}" is already mapped to ${prior}` });
    else byColumn.set(key, what);
  };
  for (const [attribute, column] of Object.entries(m.columns)) claim(column, attribute, ['columns', attribute]);
  for (const [name, column] of Object.entries(m.extra)) claim(column, `extra.${name}`, ['extra', name]);
  const words = new Map<string, string>();
  for (const word of Object.keys(m.statusValues)) {
    const key = word.trim().toLowerCase();
    const prior = words.get(key);
    if (prior !== undefined) ctx.addIssue({ code: 'custom', path: ['statusValues', word], message: `differs from "${prior}" only in case or spacing` });
    else words.set(key, word);
  }
  if (words.size === 0) ctx.addIssue({ code: 'custom', path: ['statusValues'], message: 'must list at least one status word' });
});

export type HrMappingInput = z.input<typeof mappingSchema>;

/** A validated mapping, ready to apply: status words already lowercased for lookup. */
export interface HrMapping {
  columns: Partial<Record<MappedAttribute, string>>;
  extra: Record<string, string>;
  /** lowercased, trimmed status word → status */
  statusValues: ReadonlyMap<string, HrStatus>;
  unknownColumns: 'ignore' | 'extra';
}

/** Raised for a mapping that cannot be used; the message lists every problem, one per line. */
export class HrMappingError extends Error {
  constructor(readonly source: string, readonly problems: string[]) {
    super(`invalid HR column mapping ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'HrMappingError';
  }
}

/** How header names are compared: trimmed and case-insensitive, as HR tools differ in both. */
export function columnKey(name: string): string {
  return name.normalize('NFC').trim().toLowerCase();
}

/** Validates a mapping document (already parsed JSON); `source` names it in the error. */
export function parseHrMapping(document: unknown, source = 'mapping'): HrMapping {
  const parsed = mappingSchema.safeParse(document);
  if (!parsed.success) {
    throw new HrMappingError(source, parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  const m = parsed.data;
  const statusValues = new Map<string, HrStatus>();
  for (const [word, status] of Object.entries(m.statusValues)) statusValues.set(word.trim().toLowerCase(), status);
  return Object.freeze({ columns: Object.freeze({ ...m.columns }), extra: Object.freeze({ ...m.extra }), statusValues, unknownColumns: m.unknownColumns });
}

/** Reads and validates a mapping file; relative paths are read from the installation directory, like other configured files. */
export function loadHrMapping(file: string = DEFAULT_MAPPING_FILE): HrMapping {
  const path = installPath(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new HrMappingError(path, [`cannot read the file: ${(err as Error).message}`]);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new HrMappingError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseHrMapping(document, path);
}
