import { execFileSync, spawn } from 'node:child_process';
import { IAM_BIN, launcherNodeFlags } from '../../test/support/launcher.js';

/** A server in its own process, as the benchmarks drive it. */
export interface ServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts a server process that prints "listening on URL "; resolves with its URL and pid. */
export async function startProcess(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Starts `iam serve` on a free port over `databaseUrl`. */
export function startIamServer(databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startProcess([...launcherNodeFlags(), IAM_BIN, 'serve'], { IAM_DATABASE_URL: databaseUrl, IAM_PORT: '0', IAM_LOG_LEVEL: 'warn', ...env });
}

/** Creates an API token through the CLI and returns its text. */
export function createToken(databaseUrl: string, scopes: string): string {
  const out = execFileSync(process.execPath, [...launcherNodeFlags(), IAM_BIN, 'token', 'create', '--name', `bench-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`, '--scopes', scopes], {
    env: { ...process.env, IAM_DATABASE_URL: databaseUrl, IAM_LOG_LEVEL: 'warn' },
  }).toString();
  return out.trim().split('\n').pop()!;
}

/**
 * Runs a benchmark script again as a child process with `args`, with the Node flags `iam` runs
 * with, so its peak RSS is its own work's, measured as the product would run it; resolves with
 * the JSON of the last line it printed.
 */
export function runScriptInChild<T>(script: string, args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...launcherNodeFlags(), '--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${script} ${args.slice(0, 2).join(' ')} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
    });
  });
}
