/*
 * How GitHub's REST API speaks, apart from any one call: the headers it asks every request to
 * carry, where its error text is, how it says "slow down" (a 429, or a 403 that is a primary or
 * secondary rate limit rather than a refusal), and how it pages (the Link header). Pure
 * functions, so the rules are tested without a server.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import { httpFailure, retryAfterMs, type HttpAnswer } from '../../src/provisioning/connector-http.js';

/** The REST API version the connector is written against. */
export const GITHUB_API_VERSION = '2022-11-28';

/** Headers every request carries besides Authorization (GitHub refuses requests without a User-Agent). */
export const GITHUB_HEADERS: Readonly<Record<string, string>> = {
  accept: 'application/vnd.github+json',
  'x-github-api-version': GITHUB_API_VERSION,
  'user-agent': 'iam-server-github-connector',
};

/** How long GitHub asks a client to wait after a secondary limit that names no time: at least a minute. */
export const SECONDARY_LIMIT_WAIT_MS = 60_000;
/** How long to wait when the organization's daily invitation cap is reached (it frees as the day's earliest invitations age). */
export const INVITATION_LIMIT_WAIT_MS = 60 * 60_000;

/** A ConnectorError that keeps GitHub's status, so callers can tell "not found" from other refusals without reading text. */
export class GithubError extends ConnectorError {
  constructor(message: string, retryable: boolean, retryAfterMs: number | undefined, readonly status: number) {
    super(message, retryable, retryAfterMs);
  }
}

/** GitHub's own error text: `message`, with the messages of a 422's `errors` after it. */
export function githubErrorText(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { message?: unknown; errors?: unknown };
    const parts: string[] = typeof b.message === 'string' ? [b.message] : [];
    if (Array.isArray(b.errors)) {
      for (const e of b.errors as Array<{ message?: unknown; code?: unknown; field?: unknown }>) {
        if (typeof e?.message === 'string') parts.push(e.message);
        else if (typeof e?.code === 'string') parts.push(`${typeof e.field === 'string' ? `${e.field} ` : ''}${e.code}`);
      }
    }
    return parts.join(': ');
  }
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

/**
 * Milliseconds GitHub asks to wait when an answer is a rate limit, or undefined when it is not
 * one. A 429 always is; a 403 is when it says so (Retry-After, no requests remaining, or the
 * secondary-limit text GitHub documents as the way to tell). The wait comes from Retry-After,
 * else from x-ratelimit-reset, else GitHub's advice of one minute. The organization's daily
 * invitation cap (a 422) is a limit too: an hour later some of the day's invitations have aged out.
 */
export function rateLimitWaitMs(answer: Pick<HttpAnswer, 'status' | 'headers' | 'body'>, now = Date.now()): number | undefined {
  // The daily invitation cap comes as a 422 "Validation Failed" whose only mark is its text.
  if (answer.status === 422 && /over invitation rate limit/i.test(githubErrorText(answer.body))) return INVITATION_LIMIT_WAIT_MS;
  if (answer.status !== 429 && answer.status !== 403) return undefined;
  const retryAfter = retryAfterMs(answer.headers.get('retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const reset = Number(answer.headers.get('x-ratelimit-reset'));
  if (answer.headers.get('x-ratelimit-remaining') === '0' && Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now);
  // A 403 without those headers is a rate limit only when GitHub's text says so; otherwise it is a refusal.
  if (answer.status === 429 || /secondary rate limit|abuse detection/i.test(githubErrorText(answer.body))) return SECONDARY_LIMIT_WAIT_MS;
  return undefined;
}

/**
 * The ConnectorError an answer GitHub did not mean as success stands for: rate limits and 5xx
 * retryable (with the wait GitHub asked for), any other 4xx permanent with GitHub's text.
 * `mask` takes secrets out of GitHub's text should it ever echo one.
 */
export function githubFailure(target: string, label: string, answer: HttpAnswer, mask: (text: string) => string = (t) => t, now = Date.now()): GithubError {
  const detail = mask(githubErrorText(answer.body));
  const wait = rateLimitWaitMs(answer, now);
  const plain = httpFailure(target, label, answer.status, detail, retryAfterMs(answer.headers.get('retry-after'), now));
  return wait !== undefined
    ? new GithubError(plain.message, true, wait, answer.status)
    : new GithubError(plain.message, plain.retryable, plain.retryAfterMs, answer.status);
}

/** The URL of the next page from a Link header (`<…>; rel="next"`), or undefined on the last page. */
export function nextPageUrl(link: string | null | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]+)>\s*;(.*)$/.exec(part);
    // rel may hold several relation types separated by spaces (RFC 8288).
    const rel = m && /\brel\s*=\s*"?([^";]*)"?/.exec(m[2]!)?.[1];
    if (rel && rel.trim().split(/\s+/).includes('next')) return m[1];
  }
  return undefined;
}
