import { expect } from 'chai';
import { newEnforcer, type Enforcer } from 'casbin';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SCOPES, type Scope } from '../../src/auth/scopes.js';
import { ApiPolicy } from '../../src/http/api/authorize.js';
import { API_MODEL_FILE, parsePolicyCsv } from '../../src/http/api/policy-file.js';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import { API_PREFIX, colonPath, routeKey, type ApiRoute } from '../../src/http/api/route.js';
import { ACCESS_MODEL } from '../../src/policy/access-index.js';
import { installPath } from '../../src/config/paths.js';
import { apiClient, ROUTE_SAMPLES, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { GROUP_SCHEMA, newUser, patchOf, scimClient } from '../support/scim-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * The authorization matrix of the server's own API, written out by hand from what each role is
 * for, and checked against the running server: every declared route, every scope, allowed or 403.
 * A route added without a row here fails the first test.
 */
const ADMIN: Scope[] = ['iam-admin'];
const READERS: Scope[] = ['iam-admin', 'approver', 'reviewer', 'auditor'];
const DECIDERS: Scope[] = ['iam-admin', 'approver'];
const AUDIT: Scope[] = ['iam-admin', 'auditor'];
/** people acting for themselves: requests, approvals, delegations, review decisions */
const PEOPLE: Scope[] = ['iam-admin', 'approver', 'reviewer', 'self-service'];
const PEOPLE_READ: Scope[] = [...PEOPLE, 'auditor'];

const catalogue = (collection: string, item: string): Record<string, Scope[]> => ({
  [`GET ${collection}`]: READERS,
  [`GET ${item}`]: READERS,
  [`PUT ${item}`]: ADMIN,
  [`DELETE ${item}`]: ADMIN,
});

const API_MATRIX: Record<string, Scope[] | 'public'> = {
  'GET /openapi.json': 'public',
  ...catalogue('/targets', '/targets/{name}'),
  ...catalogue('/entitlements', '/targets/{target}/entitlements/{key}'),
  ...catalogue('/roles', '/roles/{name}'),
  ...catalogue('/birthright-rules', '/birthright-rules/{name}'),
  ...catalogue('/sod-rules', '/sod-rules/{name}'),
  'GET /grants': READERS,
  'POST /grants': DECIDERS,
  'GET /grants/{id}': READERS,
  'DELETE /grants/{id}': DECIDERS,
  'GET /sod/violations': READERS,
  'GET /sod-exceptions': ['iam-admin', 'approver', 'auditor'],
  'POST /sod-exceptions': DECIDERS,
  'GET /sod-exceptions/{id}': ['iam-admin', 'approver', 'auditor'],
  'DELETE /sod-exceptions/{id}': ADMIN,
  'GET /identities/{id}/access': READERS,
  'POST /authz/check': ['iam-admin', 'auditor', 'authz:check'],
  'GET /policy': AUDIT,
  'POST /policy/simulate': ADMIN,
  'GET /audit/events': AUDIT,
  'GET /audit/verify': AUDIT,
  'GET /audit/export': AUDIT,
  'GET /reports/access': AUDIT,
  'GET /reports/sod-violations': AUDIT,
  'GET /jobs': AUDIT,
  'GET /review-definitions': AUDIT,
  'GET /review-definitions/{name}': AUDIT,
  'PUT /review-definitions/{name}': ADMIN,
  'DELETE /review-definitions/{name}': ADMIN,
  'GET /review-campaigns': AUDIT,
  'POST /review-campaigns': ADMIN,
  'GET /review-campaigns/{id}': AUDIT,
  'POST /review-campaigns/{id}/close': ADMIN,
  'GET /review-campaigns/{id}/report': AUDIT,
  'GET /review-items': PEOPLE_READ,
  'POST /review-items/decisions': PEOPLE,
  'POST /access-requests': PEOPLE,
  'GET /access-requests': PEOPLE_READ,
  'GET /access-requests/{id}': PEOPLE_READ,
  'POST /access-requests/{id}/decision': PEOPLE,
  'POST /access-requests/{id}/cancel': PEOPLE,
  'GET /approvals': PEOPLE_READ,
  'GET /delegations': PEOPLE_READ,
  'POST /delegations': PEOPLE,
  'DELETE /delegations/{id}': PEOPLE,
  'POST /hr/feeds': ['iam-admin', 'hr-system'],
  'GET /hr/feeds': ['iam-admin', 'auditor', 'hr-system'],
  'GET /hr/feeds/{id}': ['iam-admin', 'auditor', 'hr-system'],
  'POST /hr/feeds/{id}/approve': ADMIN,
  'POST /hr/feeds/{id}/reject': ADMIN,
  'POST /reconciliations': ADMIN,
  'GET /reconciliations': AUDIT,
  'GET /reconciliations/{id}': AUDIT,
  'GET /reconciliations/{id}/findings': AUDIT,
};

const SCIM_READERS: Scope[] = ['iam-admin', 'hr-system', 'scim:read', 'scim:write'];
const SCIM_WRITERS: Scope[] = ['iam-admin', 'hr-system', 'scim:write'];

/** SCIM routes as [method, path template, who may]. */
const SCIM_MATRIX: Array<[string, string, Scope[]]> = [
  ['GET', '/Users', SCIM_READERS], ['GET', '/Users/:id', SCIM_READERS], ['POST', '/Users/.search', SCIM_READERS],
  ['GET', '/Groups', SCIM_READERS], ['GET', '/Groups/:id', SCIM_READERS], ['POST', '/Groups/.search', SCIM_READERS],
  ['POST', '/.search', SCIM_READERS],
  ['POST', '/Users', SCIM_WRITERS], ['PUT', '/Users/:id', SCIM_WRITERS], ['PATCH', '/Users/:id', SCIM_WRITERS], ['DELETE', '/Users/:id', SCIM_WRITERS],
  ['POST', '/Groups', SCIM_WRITERS], ['PUT', '/Groups/:id', SCIM_WRITERS], ['PATCH', '/Groups/:id', SCIM_WRITERS], ['DELETE', '/Groups/:id', SCIM_WRITERS],
  ['POST', '/Bulk', SCIM_WRITERS],
];

const ALL_SCOPES = Object.keys(SCOPES) as Scope[];
const NO_SCOPE = '(no scope)';

async function auditCount(server: TestServer): Promise<number> {
  const [row] = await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events');
  return Number(row!.n);
}

/** Concrete path of a SCIM route template. */
function scimPath(template: string, ids: { user: string; group: string }): string {
  return template.replace('/Users/:id', `/Users/${ids.user}`).replace('/Groups/:id', `/Groups/${ids.group}`);
}

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';

/** A request body each SCIM write accepts (or rejects only after authorization). */
function scimBody(method: string, template: string): unknown {
  if (method === 'GET' || method === 'DELETE') return undefined;
  if (template.endsWith('.search')) return { schemas: [SEARCH] };
  if (template === '/Bulk') return { schemas: [BULK], Operations: [] };
  if (method === 'PATCH') return patchOf({ op: 'replace', path: 'displayName', value: 'Patched' });
  if (template.startsWith('/Users')) return newUser();
  return { schemas: [GROUP_SCHEMA], displayName: `matrix group ${randomUUID().slice(0, 8)}` };
}

function expectRefused(res: ApiResponse, scopes: string[], method: string, path: string, allowed: Scope[], what: string): void {
  expect(res.status, `${what}: ${res.text}`).to.equal(403);
  const held = scopes.length === 0 ? 'this token carries no scope, so it may not' : `this token's scopes (${scopes.join(', ')}) do not allow`;
  expect(res.text, what).to.include(`${held} ${method} ${path}; it needs one of the scopes ${ALL_SCOPES.filter((s) => allowed.includes(s)).join(', ')}`);
}

onEachDatabase('API authorization', (database) => {
  let server: TestServer;
  let routes: ApiRoute[];
  /** token text per scope, and one carrying no scope at all */
  const tokens = new Map<string, string>();

  before(async () => {
    server = await startTestServer(database().db);
    routes = apiRoutes(server.services, server.services.apiPolicy);
    for (const scope of ALL_SCOPES) tokens.set(scope, await server.token(scope, `matrix-${scope.replace(':', '-')}-${randomUUID().slice(0, 8)}`));
    // Tokens are issued with at least one scope; one whose scopes column is empty stands for a
    // token whose only scope was withdrawn.
    const bare = `matrix-bare-${randomUUID().slice(0, 8)}`;
    tokens.set(NO_SCOPE, await server.token('scim:read', bare));
    await server.services.db.execute('UPDATE api_tokens SET scopes = ? WHERE name = ?', ['', bare]);
  });
  after(() => server.close());

  it('has a row in the matrix and a sample request for every declared route, and no row for a route that does not exist', () => {
    const declared = routes.map(routeKey).sort();
    expect(declared).to.deep.equal(Object.keys(API_MATRIX).sort());
    expect(declared).to.deep.equal(Object.keys(ROUTE_SAMPLES).sort());
  });

  it('gives each scope exactly its row of the matrix on every route, and refuses the rest with 403 naming the scopes', async function () {
    this.timeout(120_000);
    const problems: string[] = [];
    for (const route of routes) {
      const key = routeKey(route);
      const expected = API_MATRIX[key]!;
      const sample = ROUTE_SAMPLES[key]!;
      const path = `${API_PREFIX}${sample.path.split('?')[0]}`;
      for (const [scope, token] of tokens) {
        const before = await auditCount(server);
        const res = await apiClient(server.apiUrl, token).request(route.method, sample.path, sample.body);
        const what = `${scope} ${key}`;
        const allowed = expected === 'public' || (scope !== NO_SCOPE && expected.includes(scope as Scope));
        if (allowed) {
          // Past authorization: the handler answered, whatever it made of the sample.
          if ([401, 403, 405].includes(res.status) || res.status >= 500 || res.body?.error?.code === 'route_not_found' || res.body?.error?.code === 'invalid_request') {
            problems.push(`${what}: expected to be let through, got ${res.status} ${res.text.slice(0, 200)}`);
          }
        } else {
          try {
            expectRefused(res, scope === NO_SCOPE ? [] : [scope], route.method, path, expected as Scope[], what);
          } catch (err) {
            problems.push((err as Error).message);
          }
          if ((await auditCount(server)) !== before) problems.push(`${what}: a refused request changed the audit trail`);
        }
      }
    }
    expect(problems, problems.join('\n')).to.deep.equal([]);
  });

  it('gives a token with several scopes the union of what they allow', async () => {
    const token = await server.token('reviewer,authz:check', `matrix-union-${randomUUID().slice(0, 8)}`);
    const client = apiClient(server.apiUrl, token);
    expect((await client.get('/roles')).status).to.equal(200);
    expect((await client.post('/authz/check', ROUTE_SAMPLES['POST /authz/check']!.body)).status).to.equal(200);
    const refused = await client.get('/audit/verify');
    expectRefused(refused, ['reviewer', 'authz:check'], 'GET', '/api/v1/audit/verify', AUDIT, 'reviewer+authz:check GET /audit/verify');
    expect(refused.body.error.details).to.deep.equal({ scopes: ['reviewer', 'authz:check'], requiredScopes: AUDIT, method: 'GET', path: '/api/v1/audit/verify' });
  });

  it('answers a token without any scope with 403 and a message saying it carries none', async () => {
    const res = await apiClient(server.apiUrl, tokens.get(NO_SCOPE)).get('/targets');
    expect(res.status).to.equal(403);
    expect(res.body).to.deep.equal({
      error: {
        status: 403, code: 'forbidden',
        message: 'this token carries no scope, so it may not GET /api/v1/targets; it needs one of the scopes iam-admin, approver, reviewer, auditor',
        details: { scopes: [], requiredScopes: READERS, method: 'GET', path: '/api/v1/targets' },
      },
    });
  });

  it('grants nothing for a token\'s name: a token named like a role has only its scopes', async () => {
    const name = 'iam-admin';
    const exists = await server.services.db.query('SELECT name FROM api_tokens WHERE name = ?', [name]);
    const token = exists.length === 0 ? await server.token('scim:read', name) : undefined;
    if (!token) throw new Error('a token named iam-admin already exists in this database');
    const res = await apiClient(server.apiUrl, token).get('/targets');
    expectRefused(res, ['scim:read'], 'GET', '/api/v1/targets', READERS, 'token named iam-admin');
  });

  it('authorizes the route that runs, whatever the letter case or trailing slash of the path', async () => {
    const reviewer = apiClient(server.apiUrl, tokens.get('reviewer'));
    for (const path of ['/ROLES', '/roles/']) {
      const res = await reviewer.get(path);
      expect(res.status, `${path}: ${res.text}`).to.equal(200);
    }
    const refused = await reviewer.request('PUT', '/ROLES/Sample-Role', { description: 'x' });
    expect(refused.status, refused.text).to.equal(403);
  });

  it('answers 401 with a bearer challenge, in the API\'s error shape, for a missing, foreign, malformed, unknown or revoked token', async () => {
    const revokedName = `matrix-revoked-${randomUUID().slice(0, 8)}`;
    const revoked = await server.token('iam-admin', revokedName);
    expect((await apiClient(server.apiUrl, revoked).get('/targets')).status).to.equal(200);
    await server.services.tokens.revoke(revokedName, 'test');

    const missing = await apiClient(server.apiUrl).get('/targets');
    expect(missing.status).to.equal(401);
    expect(missing.headers.get('www-authenticate')).to.equal('Bearer realm="iam"');
    expect(missing.body).to.deep.equal({ error: { status: 401, code: 'unauthorized', message: 'a bearer token is required' } });

    const basic = await apiClient(server.apiUrl).get('/targets', { authorization: 'Basic YWRtaW46YWRtaW4=' });
    expect(basic.status).to.equal(401);
    expect(basic.headers.get('www-authenticate')).to.equal('Bearer realm="iam"');
    expect(basic.body.error.message).to.equal('the Authorization header must be "Bearer <token>"');

    const unknown = `iam_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    for (const token of ['not-a-token', unknown, revoked]) {
      const res = await apiClient(server.apiUrl, token).post('/authz/check', ROUTE_SAMPLES['POST /authz/check']!.body);
      expect(res.status, token).to.equal(401);
      expect(res.headers.get('www-authenticate')).to.equal('Bearer realm="iam", error="invalid_token"');
      expect(res.body).to.deep.equal({ error: { status: 401, code: 'unauthorized', message: 'the bearer token is not valid' } });
    }
  });

  it('checks authentication before anything else: a bad body from an unknown token is a 401, from a refused one a 403', async () => {
    const anonymous = await apiClient(server.apiUrl).put('/targets/x', '{broken');
    expect(anonymous.status).to.equal(401);
    const reviewer = await apiClient(server.apiUrl, tokens.get('reviewer')).put('/targets/x', '{broken');
    expect(reviewer.status).to.equal(403);
  });

  it('serves the OpenAPI document without a token', async () => {
    const res = await apiClient(server.apiUrl).get('/openapi.json');
    expect(res.status).to.equal(200);
    expect(res.body.openapi).to.equal('3.1.0');
  });

  describe('SCIM through the same policy', () => {
    let ids: { user: string; group: string };
    before(async () => {
      const admin = scimClient(server.scimUrl, tokens.get('iam-admin'));
      const user = await admin.post('/Users', newUser());
      expect(user.status, user.text).to.equal(201);
      const group = await admin.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `matrix ${randomUUID().slice(0, 8)}` });
      expect(group.status, group.text).to.equal(201);
      ids = { user: user.body.id, group: group.body.id };
    });

    it('lets exactly iam-admin, hr-system and the SCIM scopes use SCIM, each as far as its row allows', async function () {
      this.timeout(60_000);
      const problems: string[] = [];
      // Deletes last, so the resources the other requests use still exist.
      const ordered = [...SCIM_MATRIX].sort((a, b) => Number(a[0] === 'DELETE') - Number(b[0] === 'DELETE'));
      for (const [method, template, allowedScopes] of ordered) {
        for (const [scope, token] of tokens) {
          const path = scimPath(template, ids);
          const res = await scimClient(server.scimUrl, token).request(method, path, scimBody(method, template));
          const what = `${scope} ${method} ${template}`;
          const allowed = scope !== NO_SCOPE && allowedScopes.includes(scope as Scope);
          if (allowed) {
            if ([401, 403].includes(res.status) || res.status >= 500) problems.push(`${what}: expected to be let through, got ${res.status} ${res.text.slice(0, 200)}`);
            // A second allowed DELETE finds the resource gone: recreate it for the next scope.
            if (method === 'DELETE' && res.status === 204) {
              const admin = scimClient(server.scimUrl, tokens.get('iam-admin'));
              const again = template.startsWith('/Users')
                ? await admin.post('/Users', newUser())
                : await admin.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `matrix ${randomUUID().slice(0, 8)}` });
              ids = template.startsWith('/Users') ? { ...ids, user: again.body.id } : { ...ids, group: again.body.id };
            }
          } else {
            const held = scope === NO_SCOPE ? 'this token carries no scope, so it may not' : `this token's scopes (${scope}) do not allow`;
            const expectedDetail = `${held} ${method} /scim/v2${path}; it needs one of the scopes ${ALL_SCOPES.filter((s) => allowedScopes.includes(s)).join(', ')}`;
            if (res.status !== 403 || res.body?.detail !== expectedDetail) problems.push(`${what}: expected 403 "${expectedDetail}", got ${res.status} ${res.text.slice(0, 300)}`);
          }
        }
      }
      expect(problems, problems.join('\n')).to.deep.equal([]);
    });
  });

  describe('the policy file', () => {
    let enforcer: Enforcer;
    before(async () => {
      enforcer = await newEnforcer(API_MODEL_FILE, installPath(server.services.config.policy.apiPolicyFile));
    });

    it('is written for the model the index implements', () => {
      // Casbin reads both files; the comments in the model file are all that differ from ACCESS_MODEL.
      const model = readFileSync(API_MODEL_FILE, 'utf8').split('\n').filter((l) => !l.startsWith('#')).join('\n').trim();
      expect(model).to.equal(ACCESS_MODEL.trim());
    });

    it('is decided by the index exactly as Casbin decides it, for every route, scope and method', async () => {
      const policy = server.services.apiPolicy;
      const objects = [
        ...routes.map((r: ApiRoute) => `${API_PREFIX}${ROUTE_SAMPLES[routeKey(r)]!.path.split('?')[0]}`),
        ...routes.map((r: ApiRoute) => `${API_PREFIX}${colonPath(r.path)}`),
        ...SCIM_MATRIX.map(([, template]) => `/scim/v2${template.replace(':id', '2819c223-7f76-453a-919d-413861904646')}`),
        '/api/v1', '/api/v1/', '/api/v1/unknown/deeper', '/scim/v2/Schemas', '/healthz', '',
      ];
      const subjects: string[][] = [...ALL_SCOPES.map((s) => [s]), [], ['reviewer', 'authz:check'], ['hr-system', 'auditor'], ['unknown-scope']];
      const disagreements: string[] = [];
      let compared = 0;
      for (const [i, scopes] of subjects.entries()) {
        // Casbin's view of a token: a subject linked to each of its scopes.
        const subject = `token:casbin-${i}`;
        for (const scope of scopes) await enforcer.addGroupingPolicy(subject, scope);
        for (const object of objects) {
          for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', '*']) {
            const casbin = await enforcer.enforce(subject, object, method);
            const index = policy.decide(`casbin-${i}`, scopes, object, method).allowed;
            compared++;
            if (casbin !== index) disagreements.push(`[${scopes.join(', ')}] ${method} ${object}: casbin ${casbin}, index ${index}`);
          }
        }
      }
      expect(disagreements, disagreements.join('\n')).to.deep.equal([]);
      expect(compared).to.be.greaterThan(5000);
    });

    it('refuses malformed lines with the file and line named', () => {
      expect(() => parsePolicyCsv('# ok\np, a, /x\n', 'test.csv')).to.throw('test.csv:2: expected "p, role, path, method" or "g, role, inherited role", got "p, a, /x"');
      expect(() => parsePolicyCsv('p, a, "/x, y", GET\n', 'test.csv')).to.throw('test.csv:1: quoted fields are not supported');
      expect(() => parsePolicyCsv('g, a, \n', 'test.csv')).to.throw('test.csv:1: a field is empty');
      expect(parsePolicyCsv('\n# comment\n  p , a , /x , GET \ng, b, a\n', 'test.csv')).to.deep.equal({ permissions: [['a', '/x', 'GET']], roleLinks: [['b', 'a']] });
    });

    it('is found from any working directory, and a broken one stops the start naming the file', async () => {
      const cwd = process.cwd();
      try {
        process.chdir('/');
        const loaded = await ApiPolicy.load('policies/api_policy.csv');
        expect(loaded.decide('cwd', ['auditor'], '/api/v1/audit/verify', 'GET').allowed).to.equal(true);
      } finally {
        process.chdir(cwd);
      }
      let failure: Error | undefined;
      try {
        await ApiPolicy.load('/nonexistent/api_policy.csv');
      } catch (err) {
        failure = err as Error;
      }
      expect(failure?.message).to.match(/^cannot read the API policy \/nonexistent\/api_policy.csv: /);
    });
  });
});
