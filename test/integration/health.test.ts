import { expect } from 'chai';
import { createTestDatabase, onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { scimClient } from '../support/scim-client.js';

onEachDatabase('health and metrics', (database) => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer(database().db);
  });
  after(() => server.close());

  it('GET /healthz answers ok', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ok' });
  });

  it('GET /readyz answers ready while the database answers', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ status: 'ready', database: 'ok' });
  });

  it('GET /metrics counts requests by route pattern, not by raw path', async () => {
    const scim = scimClient(server.scimUrl, await server.token());
    await scim.get('/Users/00000000-0000-0000-0000-000000000001');
    await scim.get('/Users/00000000-0000-0000-0000-000000000002');
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.match(/iam_http_requests_total\{method="GET",route="\/scim\/v2\/Users\/:id",status="404"\} 2/);
    expect(text).to.include('iam_http_request_duration_seconds_bucket');
    expect(text).not.to.include('00000000-0000-0000-0000-000000000001');
  });

  it('writes one JSON log line per request with its request id', async () => {
    const res = await fetch(`${server.url}/healthz`, { headers: { 'x-request-id': 'trace-abc-123' } });
    expect(res.headers.get('x-request-id')).to.equal('trace-abc-123');
    const line = server.logLines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'trace-abc-123');
    expect(line).to.include({ level: 'info', method: 'GET', path: '/healthz', status: 200, msg: 'request' });
  });
});

describe('GET /readyz without a database', () => {
  it('answers 503 once the database is gone', async () => {
    const database = await createTestDatabase('sqlite');
    const server = await startTestServer(database.db);
    try {
      await database.drop();
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).to.equal(503);
      expect(await res.json()).to.deep.equal({ status: 'not ready', database: 'unreachable' });
    } finally {
      await server.close();
    }
  });
});
