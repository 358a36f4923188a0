import { expect } from 'chai';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import { routeKey, type ApiRoute } from '../../src/http/api/route.js';
import { apiClient, ROUTE_SAMPLES, type ApiClient, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * Bad input, route by route: every declared route is sent the faults that apply to it and must
 * answer 400, 413 or 415 in the API's error shape, naming the place of each fault, and change
 * nothing. The routes come from the declarations, so a new route is covered without a new test.
 */
const MAX_BODY = 1024;

interface Issue {
  in: string;
  path: string;
  code: string;
  message: string;
}

function expectError(res: ApiResponse, status: number, code: string, what: string): void {
  expect(res.status, `${what}: ${res.text}`).to.equal(status);
  expect(res.headers.get('content-type'), what).to.equal('application/json; charset=utf-8');
  expect(res.body.error, what).to.include({ status, code });
  expect(res.body.error.message, what).to.be.a('string').and.not.equal('');
}

function issuesOf(res: ApiResponse): Issue[] {
  return res.body.error.details.issues as Issue[];
}

onEachDatabase('API bad input', (database) => {
  let server: TestServer;
  let admin: ApiClient;
  let adminToken: string;
  let routes: ApiRoute[];

  const auditCount = async () => Number((await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events'))[0]!.n);

  before(async () => {
    server = await startTestServer(database().db, { api: { maxBodyBytes: MAX_BODY, maxBatchChecks: 3 } });
    adminToken = await server.token('iam-admin');
    admin = apiClient(server.apiUrl, adminToken);
    routes = apiRoutes(server.services, server.services.apiPolicy);
  });
  after(() => server.close());

  /** Runs `each` for the routes `which` selects, and checks that none of it wrote anything. */
  async function forRoutes(which: (r: ApiRoute) => boolean, each: (route: ApiRoute, sample: { path: string; body?: unknown }) => Promise<void>): Promise<number> {
    const before = await auditCount();
    const selected = routes.filter(which);
    for (const route of selected) await each(route, ROUTE_SAMPLES[routeKey(route)]!);
    expect(await auditCount(), 'refused requests changed the audit trail').to.equal(before);
    return selected.length;
  }

  it('refuses malformed JSON on every route that takes a body', async () => {
    const n = await forRoutes((r) => r.body !== undefined, async (route, sample) => {
      for (const text of ['{"broken":', '{"a":1}}', 'nul', '\u0000']) {
        const res = await admin.request(route.method, sample.path, text);
        expectError(res, 400, 'malformed_body', `${routeKey(route)} ${JSON.stringify(text)}`);
        expect(res.body.error.message).to.match(/^the body is not valid JSON/);
      }
      const empty = await admin.request(route.method, sample.path, '');
      expectError(empty, 400, 'malformed_body', `${routeKey(route)} empty body`);
      expect(empty.body.error.message).to.equal('the request needs a JSON body');
    });
    expect(n).to.be.greaterThan(8);
  });

  it('refuses an unknown field in every body, naming it', async () => {
    await forRoutes((r) => r.body !== undefined, async (route, sample) => {
      const res = await admin.request(route.method, sample.path, { ...(sample.body as object), unexpectedField: 1 });
      expectError(res, 400, 'invalid_request', routeKey(route));
      const issues = issuesOf(res);
      expect(issues, routeKey(route)).to.have.length(1);
      expect(issues[0], routeKey(route)).to.deep.include({ in: 'body', path: '', code: 'unrecognized_keys' });
      expect(issues[0]!.message).to.include('unexpectedField');
      expect(res.body.error.message).to.equal(`the request is not valid: body: ${issues[0]!.message}`);
    });
  });

  it('refuses a wrong type in each field of every body, naming the field', async () => {
    await forRoutes((r) => r.body !== undefined, async (route, sample) => {
      for (const field of Object.keys(sample.body as object)) {
        const res = await admin.request(route.method, sample.path, { ...(sample.body as object), [field]: 12345 });
        const what = `${routeKey(route)} ${field}`;
        expectError(res, 400, 'invalid_request', what);
        const issues = issuesOf(res);
        expect(issues.length, what).to.be.greaterThan(0);
        for (const issue of issues) {
          expect(issue.in, what).to.equal('body');
          expect(issue.path === field || issue.path.startsWith(`${field}.`), `${what}: ${issue.path}`).to.equal(true);
        }
      }
      for (const body of [[], 'text', 42, null]) {
        const res = await admin.request(route.method, sample.path, JSON.stringify(body));
        expectError(res, 400, 'invalid_request', `${routeKey(route)} ${JSON.stringify(body)}`);
      }
    });
  });

  it('refuses a body over api.maxBodyBytes with 413, whether its length is declared or not', async () => {
    await forRoutes((r) => r.body !== undefined, async (route, sample) => {
      const big = JSON.stringify({ ...(sample.body as object), padding: 'x'.repeat(MAX_BODY) });
      const declared = await admin.request(route.method, sample.path, big);
      expectError(declared, 413, 'body_too_large', routeKey(route));
      // Streamed without a length, the limit is found while reading.
      const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } });
      const res = await fetch(`${server.apiUrl}${sample.path}`, {
        method: route.method, body: stream, duplex: 'half',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      } as RequestInit);
      expect(res.status, `${routeKey(route)} streamed`).to.equal(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('body_too_large');
    });
  });

  it('refuses a body that is not JSON with 415', async () => {
    await forRoutes((r) => r.body !== undefined, async (route, sample) => {
      const res = await admin.request(route.method, sample.path, JSON.stringify(sample.body), { 'content-type': 'text/plain' });
      expectError(res, 415, 'unsupported_media_type', routeKey(route));
    });
  });

  it('refuses a body on a DELETE, which takes none', async () => {
    const n = await forRoutes((r) => r.method === 'DELETE', async (route, sample) => {
      const res = await admin.request('DELETE', sample.path, { reason: 'please' });
      expectError(res, 400, 'invalid_request', routeKey(route));
      expect(issuesOf(res)).to.deep.equal([{ in: 'body', path: '', code: 'unexpected_body', message: `DELETE ${route.path} takes no body` }]);
    });
    expect(n).to.be.greaterThan(5);
  });

  it('refuses an unknown query parameter on every route, naming it', async () => {
    await forRoutes(() => true, async (route, sample) => {
      const separator = sample.path.includes('?') ? '&' : '?';
      const res = await admin.request(route.method, `${sample.path}${separator}sort=name`, sample.body);
      expectError(res, 400, 'invalid_request', routeKey(route));
      expect(issuesOf(res)).to.deep.equal([{ in: 'query', path: '', code: 'unrecognized_keys', message: 'Unrecognized key: "sort"' }]);
    });
  });

  it('refuses repeated, out-of-range and malformed query values', async () => {
    const cases: Array<[string, string]> = [
      ['/entitlements?target=a&target=b', 'target'],
      ['/grants?limit=0', 'limit'],
      ['/grants?limit=1001', 'limit'],
      ['/grants?limit=ten', 'limit'],
      ['/grants?source=gift', 'source'],
      ['/audit/export?format=xml', 'format'],
      ['/audit/events?since=yesterday', 'since'],
      ['/audit/events?until=2026-13-01T00:00:00Z', 'until'],
      ['/identities/someone/access?at=now', 'at'],
    ];
    const before = await auditCount();
    for (const [path, field] of cases) {
      const res = await admin.get(path);
      expectError(res, 400, 'invalid_request', path);
      expect(issuesOf(res).map((i) => [i.in, i.path]), path).to.deep.equal([['query', field]]);
    }
    expect(await auditCount()).to.equal(before);
  });

  it('refuses a name in a PUT path that the name rules forbid', async () => {
    const before = await auditCount();
    for (const [path, body, field] of [
      ['/targets/Bad_Name', { type: 'other' }, 'name'],
      ['/roles/-leading-dash', {}, 'name'],
      ['/targets/ok/entitlements/-bad', { kind: 'group' }, 'key'],
      [`/sod-rules/${'x'.repeat(65)}`, { left: { items: ['role:a'] }, right: { items: ['role:b'] } }, 'name'],
    ] as const) {
      const res = await admin.put(path, body);
      expectError(res, 400, 'invalid_request', path);
      expect(issuesOf(res).map((i) => [i.in, i.path]), path).to.deep.equal([['params', field]]);
    }
    expect(await auditCount()).to.equal(before);
  });

  it('refuses a body whose name disagrees with the path', async () => {
    const res = await admin.put('/targets/one', { name: 'other', type: 'other' });
    expectError(res, 400, 'invalid_request', 'name mismatch');
    expect(issuesOf(res)).to.deep.equal([{ in: 'body', path: 'name', code: 'path_mismatch', message: 'is "other" but the path names "one"' }]);
    const entitlement = await admin.put('/targets/one/entitlements/k', { target: 'two', key: 'k', kind: 'group' });
    expect(issuesOf(entitlement).map((i) => i.path)).to.deep.equal(['target']);
  });

  it('refuses a malformed If-Match on every route that reads it', async () => {
    await forRoutes((r) => r.ifMatch === true, async (route, sample) => {
      for (const header of ['3', 'W/"3"', '"3", "4"', '"abc"']) {
        const res = await admin.request(route.method, sample.path, sample.body, { 'if-match': header });
        expectError(res, 400, 'invalid_request', `${routeKey(route)} If-Match ${header}`);
        expect(issuesOf(res).map((i) => [i.in, i.path])).to.deep.equal([['header', 'If-Match']]);
      }
    });
  });

  it('lists every fault of a request at once', async () => {
    const res = await admin.put('/targets/Bad_Name?x=1', { type: 'nope', displayName: 5 });
    expectError(res, 400, 'invalid_request', 'several faults');
    expect(issuesOf(res).map((i) => `${i.in}:${i.path}`).sort()).to.deep.equal(['body:displayName', 'body:type', 'params:name', 'query:']);
  });

  describe('POST /authz/check', () => {
    it('names the faulty check of a batch by its position', async () => {
      const res = await admin.post('/authz/check', { checks: [{ subject: 'a', object: '/x', action: 'read' }, { subject: 'b', object: '/x', action: 7 }] });
      expectError(res, 400, 'invalid_request', 'batch');
      expect(issuesOf(res).map((i) => i.path)).to.deep.equal(['checks.1.action']);
    });

    it('refuses an empty batch, and one larger than api.maxBatchChecks', async () => {
      const empty = await admin.post('/authz/check', { checks: [] });
      expectError(empty, 400, 'invalid_request', 'empty batch');
      expect(issuesOf(empty).map((i) => i.path)).to.deep.equal(['checks']);
      const check = { subject: 'a', object: '/x', action: 'read' };
      expect((await admin.post('/authz/check', { checks: [check, check, check] })).status).to.equal(200);
      const big = await admin.post('/authz/check', { checks: [check, check, check, check] });
      expectError(big, 400, 'invalid_request', 'large batch');
      expect(issuesOf(big)).to.deep.equal([{ in: 'body', path: 'checks', code: 'too_big', message: 'holds 4 checks; at most 3 are taken per request' }]);
    });

    it('refuses a check with an empty subject, object or action, or a context time that is no time', async () => {
      for (const [body, path] of [
        [{ subject: '', object: '/x', action: 'read' }, 'subject'],
        [{ subject: 'a', object: '', action: 'read' }, 'object'],
        [{ subject: 'a', object: '/x', action: '' }, 'action'],
        [{ subject: 'a', object: '/x', action: 'read', context: { time: 'noon' } }, 'context.time'],
        [{ subject: 'a', object: '/x', action: 'read', context: { tenant: 'x' } }, 'context'],
      ] as const) {
        const res = await admin.post('/authz/check', body);
        expectError(res, 400, 'invalid_request', JSON.stringify(body));
        expect(issuesOf(res).map((i) => i.path), JSON.stringify(body)).to.deep.equal([path]);
      }
    });
  });

  it('answers an unknown path with a JSON 404 and a known path with another method with 405 and Allow', async () => {
    const missing = await admin.get('/nothing/here');
    expectError(missing, 404, 'route_not_found', 'unknown path');
    const wrong = await admin.request('PATCH', '/roles/x', {});
    expectError(wrong, 405, 'method_not_allowed', 'PATCH');
    expect(wrong.headers.get('allow')).to.equal('GET, PUT, DELETE, HEAD');
    const post = await admin.post('/roles', {});
    expectError(post, 405, 'method_not_allowed', 'POST /roles');
    expect(post.headers.get('allow')).to.equal('GET, HEAD');
  });
});
