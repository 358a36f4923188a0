/*
 * HR feeds from test/support/hrgen.mjs for tests, read by a deliberately plain CSV parser so a
 * test's expectations never depend on the production feed readers.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HrRecord } from '../../src/lifecycle/hr-record.js';

const HRGEN = fileURLToPath(new URL('./hrgen.mjs', import.meta.url));

/** The generator's "today" for day 0 unless --today says otherwise. */
export const HRGEN_DAY0 = '2026-01-05';

/** One generator row: column name → raw cell, plus the line it starts on. */
export interface HrgenRow {
  line: number;
  cells: Record<string, string>;
}

export interface HrgenOptions {
  count: number;
  day: number;
  seed?: number;
  churn?: number;
}

/** Runs the generator and returns its CSV output. */
export function hrgenCsv({ count, day, seed = 1, churn = 0.01 }: HrgenOptions): string {
  const args = ['--count', String(count), '--day', String(day), '--seed', String(seed), '--churn', String(churn)];
  return execFileSync(process.execPath, [HRGEN, ...args], { maxBuffer: 1 << 28 }).toString('utf8');
}

/** The generator's "today" on a given day of its churn. */
export function hrgenToday(day: number): string {
  return new Date(Date.parse(`${HRGEN_DAY0}T00:00:00Z`) + day * 86_400_000).toISOString().slice(0, 10);
}

/**
 * RFC 4180 parsing: quoted cells may hold commas, doubled quotes and line breaks; CRLF or LF line
 * ends; a leading BOM is dropped. Returns the records with the line each starts on.
 */
export function parseCsv(text: string): Array<{ line: number; fields: string[] }> {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const out: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let rowHasContent = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (quoted) {
      if (ch === '"' && src[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else { if (ch === '\n') line++; cell += ch; }
      continue;
    }
    if (ch === '"') { quoted = true; rowHasContent = true; }
    else if (ch === ',') { fields.push(cell); cell = ''; rowHasContent = true; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && src[i + 1] === '\n') i++;
      if (rowHasContent || cell !== '') { fields.push(cell); out.push({ line: startLine, fields }); }
      fields = []; cell = ''; rowHasContent = false;
      line++;
      startLine = line;
    } else { cell += ch; rowHasContent = true; }
  }
  if (quoted) throw new Error(`unterminated quoted cell starting on line ${startLine}`);
  if (rowHasContent || cell !== '') { fields.push(cell); out.push({ line: startLine, fields }); }
  return out;
}

/** The generator's rows as header-keyed cells. */
export function hrgenRows(options: HrgenOptions): HrgenRow[] {
  const [header, ...rows] = parseCsv(hrgenCsv(options));
  if (!header) throw new Error('hrgen wrote nothing');
  return rows.map(({ line, fields }) => ({
    line,
    cells: Object.fromEntries(header.fields.map((name, i) => [name, fields[i] ?? ''])),
  }));
}

const orNull = (s: string | undefined): string | null => (s === undefined || s.trim() === '' ? null : s.trim());

/**
 * A generator row as the feed readers are meant to deliver it: cells trimmed, email lowercased,
 * empty as null. The generator's `Pending` is an active status with a hire date ahead.
 */
export function toHrRecord({ line, cells }: HrgenRow): HrRecord {
  const status = cells.status?.trim().toLowerCase();
  return {
    row: line,
    employeeId: cells.employee_id!.trim(),
    givenName: cells.first_name!.trim(),
    familyName: cells.last_name!.trim(),
    preferredName: orNull(cells.preferred_name),
    email: cells.work_email!.trim().toLowerCase(),
    department: orNull(cells.department),
    title: orNull(cells.title),
    managerEmployeeId: orNull(cells.manager_id),
    location: orNull(cells.location),
    costCenter: orNull(cells.cost_center),
    employmentType: orNull(cells.employment_type),
    status: status === 'terminated' ? 'terminated' : 'active',
    hireDate: orNull(cells.hire_date),
    terminationDate: orNull(cells.termination_date),
    extra: cells.github_login?.trim() ? { githubLogin: cells.github_login.trim() } : {},
  };
}
