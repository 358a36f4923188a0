/*
 * GitHub's REST API as the connector calls it: GitHub's headers and the credential on every
 * request, one more try with a fresh installation token when GitHub refuses one, every answer
 * GitHub did not mean as success turned into a ConnectorError the outbox understands, and lists
 * read a page at a time by following the Link header. Labels name the endpoint with the
 * organization and team filled in but never a person's login or email: the message is stored
 * and shown to operators.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import { httpRequest, readPatiently, type HttpAnswer } from '../../src/provisioning/connector-http.js';
import type { GithubCredentials } from './auth.js';
import { GITHUB_HEADERS, githubFailure, nextPageUrl } from './protocol.js';

export interface GithubApiOptions {
  target: string;
  /** the API root without a trailing slash: https://api.github.com, or https://HOST/api/v3 */
  baseUrl: string;
  credentials: GithubCredentials;
  timeoutMs: number;
}

export interface GithubCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** path below the API root, with its query: `/orgs/acme/members?per_page=100` */
  path: string;
  /** what the call is, for messages: `PUT /orgs/acme/memberships/{username}` */
  label: string;
  body?: unknown;
  /** statuses besides 2xx the caller handles itself (404 for "already gone", 422) */
  accept?: readonly number[];
}

/** How often, and how long at most, a paged read waits out a rate limit or a server error on one page before failing. */
const READ_LIMITS = { waits: 2, maxWaitMs: 60_000 };

export class GithubApi {
  constructor(private readonly options: GithubApiOptions) {}

  /** Sends one call; answers 2xx and the accepted statuses, throws a ConnectorError for the rest. */
  async call(call: GithubCall): Promise<HttpAnswer> {
    return this.send(`${this.options.baseUrl}${call.path}`, call);
  }

  /**
   * Every page of a list, following GitHub's Link header from the first page. A page that hits
   * a rate limit or a server error is asked again after the wait GitHub names (up to a minute,
   * a few times), so one hiccup does not throw away a long read.
   */
  async *pages<T>(path: string, label: string): AsyncGenerator<T[]> {
    let url: string | undefined = `${this.options.baseUrl}${path}`;
    while (url) {
      const answer = await this.patiently(url, label);
      yield Array.isArray(answer.body) ? (answer.body as T[]) : [];
      url = this.sameApi(nextPageUrl(answer.headers.get('link')), label);
    }
  }

  /** Secrets out of a text that may quote GitHub. */
  mask(text: string): string {
    return this.options.credentials.mask(text);
  }

  private patiently(url: string, label: string): Promise<HttpAnswer> {
    return readPatiently(
      () => this.send(url, { method: 'GET', label }),
      (err, attempt) => (err instanceof ConnectorError && err.retryable ? (err.retryAfterMs ?? 1000 * attempt) : undefined),
      READ_LIMITS);
  }

  private async send(url: string, call: Pick<GithubCall, 'method' | 'label' | 'body' | 'accept'>): Promise<HttpAnswer> {
    const { target, credentials, timeoutMs } = this.options;
    for (let attempt = 1; ; attempt++) {
      const token = await credentials.token();
      const answer = await httpRequest(target, url, {
        method: call.method,
        headers: { ...GITHUB_HEADERS, authorization: `Bearer ${token}` },
        body: call.body,
        timeoutMs,
      });
      if ((answer.status >= 200 && answer.status < 300) || call.accept?.includes(answer.status)) return answer;
      if (answer.status === 401 && attempt === 1 && credentials.refused(token)) continue;
      throw githubFailure(target, call.label, answer, (t) => credentials.mask(t));
    }
  }

  /**
   * The next page's URL when it is on the API this connector talks to. The token goes wherever
   * the URL points, so a Link elsewhere (a misconfigured proxy) fails rather than leak it.
   */
  private sameApi(next: string | undefined, label: string): string | undefined {
    if (next === undefined) return undefined;
    const base = new URL(this.options.baseUrl);
    const link = new URL(next, base);
    if (link.origin !== base.origin || !link.pathname.startsWith(base.pathname.replace(/\/$/, ''))) {
      throw new ConnectorError(`${this.options.target}: ${label}: GitHub's next-page link leaves ${base.origin}${base.pathname}; not followed`, false);
    }
    return link.href;
  }
}
