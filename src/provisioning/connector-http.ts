/*
 * The HTTP plumbing of the connectors that speak HTTP (GitHub, Slack), so failures are classified
 * the same way everywhere: network trouble, 408, 429 and 5xx are retryable (with the target's
 * Retry-After when it sent one); any other 4xx is permanent, with the target's own error text kept.
 */
import { ConnectorError } from './connector.js';

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

/**
 * A read that waits out a target's limits a few times before failing: reconciliation reads
 * thousands of pages, and one 429 should not fail the run. `waitOf` says how long a failure asks
 * to wait (undefined: not worth waiting for); a wait longer than `maxWaitMs`, or more than
 * `waits` of them, fails the read with its error.
 */
export async function readPatiently<T>(read: () => Promise<T>, waitOf: (err: unknown, attempt: number) => number | undefined, limits: { waits: number; maxWaitMs: number }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const wait = waitOf(err, attempt);
      if (wait === undefined || attempt > limits.waits || wait > limits.maxWaitMs) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
