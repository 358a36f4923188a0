/*
 * A stateful fake of Slack's SCIM 2.0 API on 127.0.0.1, for testing the Slack connector
 * without Slack. It behaves as Slack's SCIM reference and rate-limit page say: bearer-token
 * auth, users and user groups with Slack's validation rules, DELETE deactivating a user, errors
 * in Slack's SCIM 2.0 error format, per-minute limits answered 429 with Retry-After, and one
 * update at a time per user or group. Every request the reference forbids is answered as Slack
 * would and recorded in `violations`, so a test can insist the connector sent none.
 *
 *   const fake = await start({ token: 'xoxp-test' });
 *   // connector baseUrl: fake.url  (…/scim/v2)
 *   fake.failNext({ status: 503, times: 2 });
 *   await fake.close();
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Directory, type FakeGroup, type FakeUser } from './directory.js';
import { errorBody, ScimError } from './errors.js';
import { groupsEndpoint } from './groups.js';
import { limitsOf, RateLimiter, type LimitName, type RateLimit } from './rate-limits.js';
import { convertUserName, usersEndpoint, type ScimAnswer, type ScimRequest } from './users.js';

export { SLACK_RATE_LIMITS, type LimitName, type RateLimit } from './rate-limits.js';
export type { FakeGroup, FakeUser } from './directory.js';

export interface SlackFakeOptions {
  /** the token requests must carry (Authorization: Bearer …) */
  token?: string;
  /** limits replaced (smaller, to reach them in a test) or switched off (null); the rest as Slack documents */
  rateLimits?: Partial<Record<LimitName, RateLimit | null>>;
  /** ms a write takes; writes to a user or group being updated meanwhile are answered 429, as Slack's reference describes */
  latencyMs?: number;
}

/** A failure to answer with instead of serving, for the next `times` matching requests. */
export interface InjectedFailure {
  status: number;
  /** seconds, sent as Retry-After */
  retryAfter?: number;
  times?: number;
  /** the error detail; by default too_many_requests for 429, service_unavailable otherwise */
  detail?: string;
  method?: string;
  /** only requests whose path (after /scim/v2) starts with this */
  path?: string;
}

/** One request as the fake saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  status: number;
}

/** A user to put straight into the fake's state (no request, no limits). */
export interface SeedUser {
  userName: string;
  email: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
  active?: boolean;
}

export interface SlackFake {
  /** the SCIM base URL: http://127.0.0.1:PORT/scim/v2 */
  readonly url: string;
  readonly token: string;
  /** requests the documentation forbids, with why; a correct client leaves this empty */
  readonly violations: string[];
  /** every request served, in order */
  readonly requests: SeenRequest[];
  /** requests answered 429 by the rate limits or the per-resource lock (not injected failures) */
  readonly rateLimited: number;
  readonly directory: Directory;
  failNext(failure: InjectedFailure): void;
  addUser(user: SeedUser): string;
  addGroup(displayName: string, memberIds?: string[]): string;
  /** the user with this id, or with this userName */
  user(idOrUserName: string): FakeUser | undefined;
  group(displayName: string): FakeGroup | undefined;
  /** display names of the groups the user is in, sorted */
  groupsOf(userId: string): string[];
  /** writes (POST, PUT, PATCH, DELETE) received, answered or refused */
  writes(): number;
  close(): Promise<void>;
}

const PREFIX = '/scim/v2';
const MAX_BODY = 10 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The documents Slack serves about itself (GET /ServiceProviderConfig and friends), short. */
function discovery(resource: string): ScimAnswer | undefined {
  switch (resource) {
    case 'ServiceProviderConfig':
      return {
        status: 200,
        body: {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
          patch: { supported: true }, bulk: { supported: false }, filter: { supported: true, maxResults: 1000 },
          changePassword: { supported: false }, sort: { supported: false }, etag: { supported: false },
          authenticationSchemes: [{ type: 'oauthbearertoken', name: 'OAuth Bearer Token', primary: true }],
        },
      };
    case 'ResourceTypes':
      return { status: 200, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 2, Resources: [{ id: 'User', endpoint: '/Users' }, { id: 'Group', endpoint: '/Groups' }] } };
    case 'Schemas':
      return { status: 200, body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] } };
    default:
      return undefined;
  }
}

/** Starts the fake on 127.0.0.1 on a free port. */
export async function start(options: SlackFakeOptions = {}): Promise<SlackFake> {
  const token = options.token ?? 'xoxp-fake-token';
  const limiter = new RateLimiter(options.rateLimits);
  const latency = options.latencyMs ?? 0;
  const failures: Array<Required<Pick<InjectedFailure, 'status' | 'times'>> & InjectedFailure> = [];
  const violations: string[] = [];
  const requests: SeenRequest[] = [];
  const locked = new Set<string>();
  let rateLimited = 0;
  let url = '';
  const directory = new Directory(() => url);

  function send(res: ServerResponse, answer: ScimAnswer, headers: Record<string, string> = {}): void {
    const body = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, { ...(body && { 'content-type': 'application/json; charset=utf-8' }), ...headers });
    res.end(body);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const method = req.method ?? 'GET';
    const target = new URL(req.url ?? '/', 'http://fake');
    const path = target.pathname.startsWith(PREFIX) ? target.pathname.slice(PREFIX.length) : target.pathname;
    const fail = (err: ScimError, headers: Record<string, string> = {}): number => {
      if (err.violation) violations.push(`${method} ${path}: ${err.detail} (${err.violation})`);
      send(res, { status: err.status, body: errorBody(err.status, err.detail) }, headers);
      return err.status;
    };
    const raw = await readBody(req);

    const auth = req.headers.authorization;
    if (!auth) return fail(new ScimError(401, 'missing_authentication'));
    if (!/^bearer /i.test(auth) || auth.slice(7) !== token) return fail(new ScimError(401, 'invalid_authentication'));

    const injected = failures.find((f) => f.times > 0 && (!f.method || f.method === method) && (!f.path || path.startsWith(f.path)));
    if (injected) {
      injected.times--;
      const detail = injected.detail ?? (injected.status === 429 ? 'too_many_requests' : 'service_unavailable');
      return fail(new ScimError(injected.status, detail), injected.retryAfter === undefined ? {} : { 'retry-after': String(injected.retryAfter) });
    }

    if (!target.pathname.startsWith(`${PREFIX}/`)) {
      return fail(new ScimError(404, target.pathname.startsWith('/scim/') ? 'unsupported_version' : 'bad_endpoint', `no such endpoint ${target.pathname}`));
    }
    const [resource = '', id, ...rest] = path.slice(1).split('/');
    const known = resource === 'Users' || resource === 'Groups';
    if ((!known && discovery(resource) === undefined) || rest.length > 0 || (id !== undefined && (id === '' || !known))) {
      return fail(new ScimError(404, 'bad_endpoint', `no such endpoint ${path}`));
    }
    if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) return fail(new ScimError(405, 'method_not_allowed', `${method} is not a SCIM method`));

    const wait = limiter.admit(limitsOf(method, known ? (resource as 'Users' | 'Groups') : 'other', id !== undefined));
    if (wait > 0) {
      rateLimited++;
      return fail(new ScimError(429, 'too_many_requests'), { 'retry-after': String(wait) });
    }

    let body: unknown;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      if (!/^application\/(scim\+)?json\b/i.test(req.headers['content-type'] ?? '')) {
        return fail(new ScimError(400, 'invalid_request_payload', `content-type ${JSON.stringify(req.headers['content-type'] ?? '')} is not JSON`));
      }
      try {
        body = JSON.parse(raw);
      } catch {
        return fail(new ScimError(400, 'invalid_request_payload', 'the body is not valid JSON'));
      }
    }

    if (!known) {
      if (method !== 'GET') return fail(new ScimError(405, 'method_not_allowed', `${method} /${resource}`));
      send(res, discovery(resource)!);
      return 200;
    }

    // Slack locks a user or group while it is being updated; a second write meanwhile is a 429.
    const lockKey = method === 'GET' || id === undefined ? undefined : `${resource}/${id}`;
    if (lockKey !== undefined && locked.has(lockKey)) {
      rateLimited++;
      return fail(new ScimError(429, 'resource_locked'), { 'retry-after': '1' });
    }
    const request: ScimRequest = { method, id: id ? decodeURIComponent(id) : undefined, query: target.searchParams, body };
    const onViolation = (why: string) => violations.push(`${method} ${path}: ${why}`);
    if (lockKey !== undefined) locked.add(lockKey);
    try {
      if (latency > 0 && method !== 'GET') await new Promise((r) => setTimeout(r, latency));
      const answer = resource === 'Users' ? usersEndpoint(directory, request, onViolation) : groupsEndpoint(directory, request, onViolation);
      send(res, answer);
      return answer.status;
    } catch (err) {
      if (err instanceof ScimError) return fail(err);
      throw err;
    } finally {
      if (lockKey !== undefined) locked.delete(lockKey);
    }
  }

  const server = createServer((req, res) => {
    serve(req, res).then(
      (status) => requests.push({ method: req.method ?? 'GET', path: (req.url ?? '').replace(/\?.*$/, ''), status }),
      (err: Error) => {
        violations.push(`the fake itself failed: ${err.message}`);
        if (!res.headersSent) send(res, { status: 500, body: errorBody(500, 'internal_error') });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PREFIX}`;

  const fake: SlackFake = {
    url,
    token,
    violations,
    requests,
    get rateLimited() {
      return rateLimited;
    },
    directory,
    failNext(failure) {
      failures.push({ ...failure, times: failure.times ?? 1 });
    },
    addUser(seed) {
      const id = directory.newUserId();
      directory.users.set(id, {
        id, userName: convertUserName(seed.userName), active: seed.active ?? true, givenName: seed.givenName ?? '', familyName: seed.familyName ?? '',
        displayName: seed.displayName ?? '', title: '', emails: [{ value: seed.email, primary: true }], profile: {}, enterprise: {},
        created: new Date().toISOString(),
      });
      return id;
    },
    addGroup(displayName, memberIds = []) {
      const id = directory.newGroupId();
      directory.groups.set(id, { id, displayName, members: new Set(memberIds), created: new Date().toISOString() });
      return id;
    },
    user(idOrUserName) {
      return directory.users.get(idOrUserName) ?? directory.userNameHolder(idOrUserName);
    },
    group(displayName) {
      return directory.groupNamed(displayName);
    },
    groupsOf(userId) {
      return directory.groupsOf(userId).map((g) => g.displayName).sort();
    },
    writes() {
      return requests.filter((r) => r.method !== 'GET').length;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
  return fake;
}
