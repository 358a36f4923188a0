import { spawn, type ChildProcess } from 'node:child_process';
import { Command, CommanderError } from 'commander';
import { IAM_BIN, launcherNodeFlags } from './launcher.js';

/** What a CLI run printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts the real `iam` binary with extra environment variables (IAM_* from the parent are dropped). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IAM_')));
  return spawn(process.execPath, [...launcherNodeFlags(), IAM_BIN, ...args], { env: { ...base, IAM_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs the real `iam` binary to completion. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Runs `iam` commands in this process, on a test database: `register` adds the command group
 * under test (as main.ts does); stdout and stderr are captured, and the exit code is what the
 * command set in process.exitCode (or commander's, for --help and usage errors).
 */
export async function runInProcess(register: (program: Command) => void, args: string[]): Promise<CliResult> {
  const program = new Command('iam').exitOverride();
  register(program);
  const out = { stdout: '', stderr: '' };
  const capture = (stream: NodeJS.WriteStream, into: 'stdout' | 'stderr') => {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: string | Uint8Array) => {
      out[into] += String(chunk);
      return true;
    }) as typeof stream.write;
    return () => (stream.write = write);
  };
  const restore = [capture(process.stdout, 'stdout'), capture(process.stderr, 'stderr')];
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'iam', ...args]);
  } catch (err) {
    // --help and usage errors end the command through exitOverride: they keep their output and exit code.
    if (!(err instanceof CommanderError)) throw err;
    process.exitCode = err.exitCode;
    // An argument error thrown by an action is not printed by commander; the binary prints it.
    const help = err.code === 'commander.helpDisplayed' || err.code === 'commander.help';
    if (!help && !out.stderr.includes(err.message)) out.stderr += `${err.message}\n`;
  } finally {
    for (const r of restore) r();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { ...out, code };
}
