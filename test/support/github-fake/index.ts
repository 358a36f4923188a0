/*
 * A stateful fake of GitHub's REST API for one organization, on 127.0.0.1 at a random port, for
 * the GitHub connector's tests. Every request is held against GitHub's official OpenAPI
 * description (@octokit/openapi): the method and path must be a documented operation, path and
 * query parameters and the JSON body must fit their schemas, the headers GitHub asks for must be
 * there, and the Authorization header must carry the configured token or an installation token
 * the fake minted for a GitHub App. A request that breaks a rule is answered as GitHub answers it
 * (404, 401, 422) and recorded in `violations`, which tests expect to stay empty. The fake's own
 * answers are checked against the documented response schemas too, so its shapes stay honest.
 *
 * Tests drive it through `state` (members, invitations, teams, users), `acceptInvitation`, and
 * `failNext`, which answers the next requests with GitHub's rate-limit or server errors.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeApp, type FakeAppOptions } from './app-auth.js';
import { HANDLERS, type HandlerAnswer } from './handlers.js';
import { githubDescription, type RouteMatch } from './openapi.js';
import { OrgState, type FakeUser } from './org-state.js';
import { errorBody, Representations } from './representations.js';

export { FakeApp, type FakeAppOptions } from './app-auth.js';
export { OrgState, type FakeInvitation, type FakeTeam, type FakeUser, type OrgRole } from './org-state.js';

export interface GithubFakeOptions {
  /** the organization's login (default `acme`) */
  org?: string;
  /** the personal access token requests must carry (default `ghp_fake_token_for_tests`) */
  token?: string;
  /** a GitHub App installed on the organization, for installation-token auth */
  app?: FakeAppOptions;
  /** a path the API lives under, as GitHub Enterprise Server's `/api/v3` */
  pathPrefix?: string;
  /** the organization's daily invitation cap (GitHub's is 50 on new free organizations); none by default */
  invitationsPerDay?: number;
}

/** Answers to give instead of the real one, as GitHub does when limiting or failing. */
export interface InjectedFailure {
  status: 429 | 403 | 500 | 502;
  /** seconds, sent as Retry-After */
  retryAfter?: number;
  /** epoch seconds; sent as x-ratelimit-reset with x-ratelimit-remaining 0 (a primary-limit answer) */
  rateLimitReset?: number;
  /** how many requests get this answer (default 1) */
  times?: number;
  /** only requests for this operation, e.g. `orgs/list-members` */
  operationId?: string;
}

export interface Violation {
  method: string;
  path: string;
  operationId?: string;
  problem: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  operationId?: string;
  status: number;
  /** the token the request carried, so tests can tell which credential was used */
  credential?: string;
}

export interface GithubFake {
  /** the API root the connector's baseUrl should name */
  url: string;
  state: OrgState;
  app?: FakeApp;
  token: string;
  violations: Violation[];
  requests: RecordedRequest[];
  failNext(failure: InjectedFailure): void;
  /** the invitee accepts (by invitation id, or the login or email it went to); returns the member's login */
  acceptInvitation(ref: number | string, login?: string): string;
  /** hands back the violations recorded so far and forgets them */
  takeViolations(): Violation[];
  close(): Promise<void>;
}

const API_VERSION = '2022-11-28';
const PRIMARY_LIMIT_DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-primary-rate-limits';
const SECONDARY_LIMIT_DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits';

/** Starts the fake; close() stops it. */
export async function start(options: GithubFakeOptions = {}): Promise<GithubFake> {
  const description = githubDescription();
  const state = new OrgState(options.org ?? 'acme', 4242);
  state.invitationsPerDay = options.invitationsPerDay;
  const token = options.token ?? 'ghp_fake_token_for_tests';
  const app = options.app ? new FakeApp(options.app) : undefined;
  const prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
  // The token's owner, who sends the invitations; kept out of the member list so tests count only the people they add.
  const inviter: FakeUser = state.addUser(`${state.org}-admin`);
  const violations: Violation[] = [];
  const requests: RecordedRequest[] = [];
  const failures: InjectedFailure[] = [];
  let used = 0;
  let rep: Representations;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks));
      } catch (err) {
        violations.push({ method: req.method ?? '', path: req.url ?? '', problem: `the fake failed: ${(err as Error).stack ?? String(err)}` });
        send(res, { status: 500, body: errorBody(500, 'Server Error') });
      }
    });
  });

  function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', fake.url);
    const record = { method, path: url.pathname + url.search } as RecordedRequest;
    requests.push(record);
    const violation = (problem: string) => violations.push({ method, path: record.path, operationId: record.operationId, problem });
    const answer = (a: HandlerAnswer) => {
      record.status = a.status;
      send(res, a);
    };

    if (!url.pathname.startsWith(`${prefix}/`)) {
      violation(`the path is not under the API root ${prefix || '/'}`);
      return answer({ status: 404, body: errorBody(404, 'Not Found') });
    }
    const match: RouteMatch | undefined = description.match(method, url.pathname.slice(prefix.length));
    if (!match) {
      violation('no documented GitHub operation has this method and path');
      return answer({ status: 404, body: errorBody(404, 'Not Found') });
    }
    const { operation } = match;
    record.operationId = operation.operationId;

    if (!/application\/vnd\.github\+json/.test(req.headers.accept ?? '')) violation(`Accept is ${req.headers.accept ?? 'missing'}, not application/vnd.github+json`);
    if (req.headers['x-github-api-version'] !== API_VERSION) {
      violation(`X-GitHub-Api-Version is ${String(req.headers['x-github-api-version'] ?? 'missing')}, not ${API_VERSION}`);
      return answer({ status: 400, body: errorBody(400, `Unsupported 'X-GitHub-Api-Version' header`) });
    }
    if (!req.headers['user-agent']) {
      violation('User-Agent is missing');
      return answer({ status: 403, body: errorBody(403, 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header') });
    }

    const credential = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    record.credential = credential;
    if (!credential) {
      violation('the request carries no Authorization token');
      return answer({ status: 401, body: errorBody(401, 'Requires authentication') });
    }
    if (operation.template.startsWith('/app/')) {
      // App endpoints take the app's JWT, never a token.
      const problem = app ? app.jwtProblem(credential) : 'this organization has no GitHub App installed';
      if (problem) {
        violation(`the app JWT was refused: ${problem}`);
        return answer({ status: 401, body: errorBody(401, problem) });
      }
    } else if (credential !== token && !app?.accepts(credential)) {
      violation('the Authorization token is not the configured token nor a valid installation token');
      return answer({ status: 401, body: errorBody(401, 'Bad credentials') });
    }

    const contentType = req.headers['content-type'] ?? '';
    let body: unknown;
    let json = false;
    if (raw.length > 0 && /application\/json/.test(contentType)) {
      try {
        body = JSON.parse(raw.toString('utf8'));
        json = true;
      } catch {
        violation('the body is not valid JSON');
        return answer({ status: 400, body: errorBody(400, 'Problems parsing JSON') });
      }
    }
    const problems = description.checkRequest(match, url.searchParams, { present: raw.length > 0, json, value: body });
    if (problems.length > 0) {
      for (const p of problems) violation(p);
      return answer({ status: 422, body: errorBody(422, `Invalid request.\n\n${problems.join('\n')}`) });
    }

    const failure = failures.find((f) => (f.times ?? 1) > 0 && (f.operationId === undefined || f.operationId === operation.operationId));
    if (failure) {
      failure.times = (failure.times ?? 1) - 1;
      return answer(injected(failure));
    }

    const handler = HANDLERS[operation.operationId];
    if (!handler) {
      violation(`${operation.operationId} is documented but the fake does not implement it`);
      return answer({ status: 404, body: errorBody(404, 'Not Found') });
    }
    const result = handler({ pathParams: match.pathParams, query: url.searchParams, body: body as Record<string, unknown> | undefined, url }, { state, rep, app, inviter });
    for (const p of description.checkResponse(operation, result.status, result.body)) violation(p);
    answer(result);
  }

  /** GitHub's answers when limiting or failing. */
  function injected(failure: InjectedFailure): HandlerAnswer {
    const headers: Record<string, string> = {};
    if (failure.retryAfter !== undefined) headers['retry-after'] = String(failure.retryAfter);
    if (failure.rateLimitReset !== undefined) {
      headers['x-ratelimit-remaining'] = '0';
      headers['x-ratelimit-reset'] = String(failure.rateLimitReset);
    }
    switch (failure.status) {
      case 403:
      case 429:
        return failure.rateLimitReset !== undefined && failure.retryAfter === undefined
          ? { status: failure.status, headers, body: errorBody(failure.status, `API rate limit exceeded for user ID ${inviter.id}. If you reach out to GitHub Support for help, please include the request ID 0000:1111:2222.`, PRIMARY_LIMIT_DOCS) }
          : { status: failure.status, headers, body: errorBody(failure.status, 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:1111:2222.', SECONDARY_LIMIT_DOCS) };
      case 500:
        return { status: 500, headers, body: errorBody(500, 'Server Error') };
      case 502:
        return { status: 502, headers, body: errorBody(502, 'Server Error') };
    }
  }

  function send(res: ServerResponse, a: HandlerAnswer): void {
    used++;
    const headers: Record<string, string> = {
      'x-github-api-version-selected': API_VERSION,
      'x-github-request-id': `FAKE:${used}`,
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': String(Math.max(0, 5000 - used)),
      'x-ratelimit-used': String(used),
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-resource': 'core',
      ...a.headers,
    };
    if (a.body === undefined) {
      res.writeHead(a.status, headers).end();
    } else {
      res.writeHead(a.status, { ...headers, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(a.body));
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const fake: GithubFake = {
    url: `http://127.0.0.1:${port}${prefix}`,
    state, app, token, violations, requests,
    failNext(failure) {
      failures.push({ ...failure });
    },
    acceptInvitation(ref, login) {
      return state.acceptInvitation(ref, login);
    },
    takeViolations() {
      return violations.splice(0);
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  rep = new Representations(fake.url, state);
  return fake;
}
