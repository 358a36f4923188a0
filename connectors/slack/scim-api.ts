/*
 * Slack's SCIM API as the connector calls it: the bearer token on every request, every write
 * through the write limiter, and every answer Slack did not mean as success turned into a
 * ConnectorError the outbox understands (429 and 5xx retryable, with Retry-After; any other 4xx
 * permanent, carrying Slack's own error text). Labels name the endpoint, never the query: a
 * filter holds a person's email, and the message is stored and shown to operators.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import { httpFailure, httpRequest, retryAfterMs, type HttpAnswer } from '../../src/provisioning/connector-http.js';
import type { WriteLimiter } from './write-limiter.js';

export interface ScimApiOptions {
  target: string;
  /** e.g. https://api.slack.com/scim/v2, without a trailing slash */
  baseUrl: string;
  token: string;
  timeoutMs: number;
  limiter: WriteLimiter;
}

export interface ScimCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** path under the base URL with its query, e.g. `/Users?startIndex=1&count=1` */
  path: string;
  /** what the call is, for messages: `GET /Users`, `PATCH /Groups/{id}` */
  label: string;
  body?: unknown;
  /** statuses besides 2xx the caller handles itself (404, 409) */
  accept?: readonly number[];
}

/**
 * Slack's error text from an error body: SCIM 2.0 `{"detail": …, "status": …}`, or the
 * `{"Errors": {"description": …, "code": …}}` form Slack's SCIM 1.1 answers with.
 */
export function slackErrorText(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { detail?: unknown; Errors?: { description?: unknown } | Array<{ description?: unknown }> };
    if (typeof b.detail === 'string') return b.detail;
    const errors = Array.isArray(b.Errors) ? b.Errors[0] : b.Errors;
    if (typeof errors?.description === 'string') return errors.description;
    return '';
  }
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

/** A failure Slack answered, with its status, so callers can act on a 429 without reading text. */
export class SlackApiError extends ConnectorError {
  constructor(message: string, retryable: boolean, retryAfterMs: number | undefined, readonly status: number) {
    super(message, retryable, retryAfterMs);
  }
}

export class SlackScimApi {
  constructor(private readonly options: ScimApiOptions) {}

  /** Sends one call; answers 2xx and the accepted statuses, throws a ConnectorError for the rest. */
  async call(call: ScimCall): Promise<HttpAnswer> {
    const { target, baseUrl, token, timeoutMs, limiter } = this.options;
    if (call.method !== 'GET') await limiter.acquire();
    const answer = await httpRequest(target, `${baseUrl}${call.path}`, {
      method: call.method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      body: call.body,
      timeoutMs,
    });
    if ((answer.status >= 200 && answer.status < 300) || call.accept?.includes(answer.status)) return answer;
    throw this.failure(call.label, answer);
  }

  /** The ConnectorError an unwanted answer means; the token is masked should Slack ever echo it. */
  failure(label: string, answer: HttpAnswer): SlackApiError {
    const detail = slackErrorText(answer.body).split(this.options.token).join('***');
    const classified = httpFailure(this.options.target, label, answer.status, detail, retryAfterMs(answer.headers.get('retry-after')));
    return new SlackApiError(classified.message, classified.retryable, classified.retryAfterMs, answer.status);
  }
}
