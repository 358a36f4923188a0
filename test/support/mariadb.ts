import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { freePort } from './ports.js';

/*
 * Finds or starts the MariaDB the tests use, in this order: IAM_TEST_MYSQL_URL; a server
 * answering on 127.0.0.1:3306 as root without a password (unless IAM_TEST_MYSQL=private);
 * otherwise a private server started
 * from a temp dir (installing Debian's packages first when mariadbd is missing). Anything that
 * fails throws with what was tried, so the run stops with a clear message instead of skipping.
 */

let child: ChildProcess | undefined;
let dataDir: string | undefined;

async function answers(url: string): Promise<boolean> {
  const u = new URL(url);
  try {
    const conn = await createConnection({ host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username) || 'root', password: decodeURIComponent(u.password), connectTimeout: 2000 });
    await conn.query('SELECT 1');
    await conn.end();
    return true;
  } catch {
    return false;
  }
}

function which(cmd: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

function installPackages(): void {
  process.stderr.write('[test services] mariadbd not found: installing mariadb-server from Debian packages\n');
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'mariadb-server', 'mariadb-client'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    throw new Error(`cannot install mariadb-server with apt-get (${(err as Error).message}); set IAM_TEST_MYSQL_URL to a MySQL/MariaDB server instead`);
  }
}

async function startPrivate(): Promise<string> {
  if (!which('mariadbd') || !which('mariadb-install-db')) installPackages();
  const mariadbd = which('mariadbd');
  const installDb = which('mariadb-install-db');
  if (!mariadbd || !installDb) throw new Error('mariadb-server is installed but mariadbd or mariadb-install-db is missing');
  dataDir = mkdtempSync(join(tmpdir(), 'iam-test-mariadb-'));
  mkdirSync(join(dataDir, 'run'));
  execFileSync(installDb, ['--no-defaults', '--user=root', `--datadir=${dataDir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  const port = await freePort();
  child = spawn(mariadbd, [
    '--no-defaults', '--user=root', `--datadir=${dataDir}/data`, `--socket=${dataDir}/run/mysqld.sock`,
    `--port=${port}`, '--bind-address=127.0.0.1', '--skip-log-bin', '--innodb-flush-log-at-trx-commit=2',
  ], { stdio: 'ignore', detached: false });
  const url = `mysql://root@127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`the private mariadbd exited with code ${child.exitCode} during start-up (data dir ${dataDir})`);
    if (await answers(url)) return url;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the private mariadbd on port ${port} did not answer within 20 s`);
}

/** The URL (no database) of a MySQL/MariaDB server for tests, starting one if needed. */
export async function ensureMariaDb(): Promise<string> {
  const given = process.env.IAM_TEST_MYSQL_URL;
  if (given) {
    if (!(await answers(given))) throw new Error(`IAM_TEST_MYSQL_URL=${given.replace(/:[^:@/]*@/, ':***@')} does not answer`);
    return given.replace(/\/[^/]*$/, '').replace(/\/$/, '');
  }
  const local = 'mysql://root@127.0.0.1:3306';
  // IAM_TEST_MYSQL=private keeps the tests off a shared server (and exercises the start-up path).
  if (process.env.IAM_TEST_MYSQL !== 'private' && (await answers(local))) return local;
  process.stderr.write('[test services] no MySQL/MariaDB on 127.0.0.1:3306: starting a private MariaDB\n');
  return startPrivate();
}

/** Stops a private server started by ensureMariaDb and removes its files. */
export async function stopMariaDb(): Promise<void> {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  child = undefined;
  dataDir = undefined;
}
