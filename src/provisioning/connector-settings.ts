/*
 * Pieces every connector's settings use: secrets that stay out of config files, and the HTTP
 * plumbing of the HTTP-speaking connectors (GitHub, Slack), so failures are classified the same
 * way everywhere: network trouble, 408, 429 and 5xx are retryable (with the target's Retry-After
 * when it sent one); any other 4xx is permanent, with the target's own error text kept.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConnectorError } from './connector.js';

/**
 * A secret setting: the value itself, `{ "env": "NAME" }` (read from the environment) or
 * `{ "file": "/path" }` (read from a file, trailing newline dropped). Config files can then hold
 * the name of a secret rather than the secret.
 */
export const secretSetting = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretSetting = z.infer<typeof secretSetting>;

/** The secret's value; a missing variable or file is named in the error, the value never is. */
export function resolveSecret(setting: SecretSetting, what: string): string {
  if (typeof setting === 'string') return setting;
  if ('env' in setting) {
    const value = process.env[setting.env];
    if (!value) throw new Error(`${what}: environment variable ${setting.env} is not set`);
    return value;
  }
  try {
    return readFileSync(setting.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`${what}: cannot read ${setting.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Parses a target's settings with a connector's schema; a bad setting stops the start with the
 * target and the setting named.
 */
export function parseSettings<T extends z.ZodType>(schema: T, target: string, settings: unknown): z.output<T> {
  const parsed = schema.safeParse(settings);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`).join('; ');
  throw new Error(`target ${target}: ${problems}`);
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The failure an HTTP answer means; `detail` is the target's own error text. */
export function httpFailure(target: string, what: string, status: number, detail: string, retryAfter?: number): ConnectorError {
  const retryable = status === 408 || status === 429 || status >= 500;
  return new ConnectorError(`${target}: ${what} answered ${status}${detail ? `: ${detail}` : ''}`, retryable, retryAfter);
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** parsed JSON, or the text when the body is not JSON, or undefined when empty */
  body: unknown;
}

/**
 * One HTTP request with a timeout. Network failures and timeouts become retryable
 * ConnectorErrors; any status comes back to the caller, who knows what it means for its API.
 */
export async function httpRequest(target: string, url: string, init: { method: string; headers: Record<string, string>; body?: unknown; timeoutMs: number }): Promise<HttpAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method,
      headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    // The URL's path may name a person; the host and the cause are enough to act on.
    throw new ConnectorError(`${target}: ${init.method} ${new URL(url).host} failed (${cause})`, true);
  }
  const text = await response.text();
  let body: unknown = undefined;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: response.status, headers: response.headers, body };
}
