/* What every benchmark script starts from: its command-line options, the project root, and HR data. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool } from 'mysql2/promise';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The value after `--name` on the command line, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** The databases `--db` names (both by default). */
export function databaseKinds(): Array<'sqlite' | 'mariadb'> {
  return arg('db', 'sqlite,mariadb').split(',') as Array<'sqlite' | 'mariadb'>;
}

/** An HR feed from the generator in test/support, as the JSON rows it writes. */
export function hrFeedRows(options: { count: number; seed: number; day?: number }): Array<Record<string, string>> {
  const args = [join(ROOT, 'test', 'support', 'hrgen.mjs'), '--count', String(options.count), '--seed', String(options.seed)];
  if (options.day !== undefined) args.push('--day', String(options.day));
  return JSON.parse(execFileSync(process.execPath, [...args, '--format', 'json'], { maxBuffer: 1 << 30 }).toString()) as Array<Record<string, string>>;
}

/** Writes a run's results as bench/results/<name>-<time>.json, with the machine they ran on; returns the path. */
export function writeResults(name: string, results: unknown): string {
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const at = new Date().toISOString();
  const file = join(dir, `${name}-${at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ at, node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, results }, null, 2)}\n`);
  return file;
}

/** Drops a benchmark's MariaDB database (an SQLite one lives in a temp folder the caller removes). */
export async function dropDatabase(kind: 'sqlite' | 'mariadb', url: string): Promise<void> {
  if (kind !== 'mariadb') return;
  const u = new URL(url);
  const pool = createPool({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) });
  await pool.query(`DROP DATABASE IF EXISTS \`${u.pathname.slice(1)}\``);
  await pool.end();
}
