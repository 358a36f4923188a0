import { expect } from 'chai';
import type { FeedReport } from '../../src/lifecycle/feed-service.js';
import { hrFeedRoutes } from '../../src/http/api/routes/hr-feeds.js';
import { apiClient, checkContract, type ApiClient, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { company, employeeId, terminated, toCsv, toJson } from '../support/hr-people.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Upload cap for the suite: small, so a body over it is cheap to send. */
const MAX_UPLOAD = 32 * 1024;
/** api.maxBodyBytes for the suite, far below the uploads: it must not apply to them. */
const MAX_JSON_BODY = 1024;

function expectError(res: ApiResponse, status: number, code: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body?.error, res.text).to.include({ status, code });
}

onEachDatabase('HR feeds API', (database) => {
  let server: TestServer;
  let admin: ApiClient;
  let adminToken: string;
  let hr: ApiClient;
  let hrToken: string;
  let hrName: string;
  let auditor: ApiClient;
  const people = company(40, 'api');
  let heldId: string;

  const feedCount = async () => Number((await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM hr_feeds'))[0]!.n);
  const statusOf = async (id: string) => (await database().db.query<{ status: string }>('SELECT status FROM identity_lifecycle WHERE employee_id = ?', [id]))[0]?.status;
  /** Checks a 2xx answer against the route's declared status and schema. */
  const contract = (method: string, path: string, res: ApiResponse) => checkContract(hrFeedRoutes(server.services), method, path, res);

  const upload = async (client: ApiClient, query: string, body: string, type = 'text/csv') => {
    const path = `/hr/feeds${query}`;
    const res = await client.request('POST', path, body, { 'content-type': type });
    if (res.status < 300) contract('POST', path, res);
    return res;
  };

  before(async () => {
    server = await startTestServer(database().db, { api: { maxBodyBytes: MAX_JSON_BODY, maxBatchChecks: 10 }, hr: { maxUploadBytes: MAX_UPLOAD } });
    adminToken = await server.token('iam-admin');
    admin = apiClient(server.apiUrl, adminToken);
    hrName = `hr-feed-${Date.now()}`;
    hrToken = await server.token('hr-system', hrName);
    hr = apiClient(server.apiUrl, hrToken);
    auditor = apiClient(server.apiUrl, await server.token('auditor'));
  });
  after(() => server.close());

  it('imports a CSV upload far larger than api.maxBodyBytes: 201 with the report and its Location', async () => {
    const body = toCsv(people);
    expect(body.length).to.be.greaterThan(MAX_JSON_BODY);
    const res = await upload(hr, '?fileName=day0.csv', body);
    expect(res.status, res.text).to.equal(201);
    const report = res.body as FeedReport;
    expect(report).to.include({ status: 'applied', kind: 'snapshot', format: 'csv', source: 'api', fileName: 'day0.csv', createdBy: `token:${hrName}` });
    expect(report.counts).to.include({ joiner: 40, rejected: 0 });
    expect(res.headers.get('location')).to.equal(`/api/v1/hr/feeds/${report.feedId}`);
    expect(await statusOf(employeeId(40))).to.equal('active');
    const audit = await database().db.query<{ actor: string; request_id: string | null }>('SELECT actor, request_id FROM audit_events WHERE action = ? AND target_id = ?', ['hr.feed.import', report.feedId]);
    expect(audit).to.have.length(1);
    expect(audit[0]!.actor).to.equal(`token:${hrName}`);
    expect(audit[0]!.request_id, 'the request id is audited').to.be.a('string').and.not.equal('');
  });

  it('imports a JSON array as a delta, with rejected rows listed', async () => {
    const rows = [{ ...people[2]!, title: 'Principal Engineer' }, { ...people[3]!, hire_date: '2020-13-01' }];
    const res = await upload(hr, '?kind=delta', toJson(rows), 'application/json');
    expect(res.status, res.text).to.equal(201);
    const report = res.body as FeedReport;
    expect(report).to.include({ status: 'applied', kind: 'delta', format: 'json', fileName: null });
    expect(report.counts).to.include({ mover: 1, rejected: 1 });
    expect(report.rejected).to.have.length(1);
    expect(report.rejected[0]).to.include({ row: 2, employeeId: employeeId(4) });
    expect(report.rejected[0]!.reason).to.include('"2020-13-01" is not a real date');
  });

  it('reports a dry run without applying it (a charset parameter on the media type is fine)', async () => {
    const res = await upload(hr, '?dryRun=true', toCsv(terminated(people, [1])), 'text/csv; charset=utf-8');
    expect(res.status, res.text).to.equal(201);
    expect(res.body).to.include({ status: 'dry-run' });
    expect(res.body.counts).to.include({ leaver: 1 });
    expect(await statusOf(employeeId(1))).to.equal('active');
  });

  it('holds a feed with too many leavers: 202, nothing applied', async () => {
    const res = await upload(hr, '?fileName=truncated.csv', toCsv(terminated(people, [31, 32, 33, 34, 35, 36, 37, 38, 39, 40])));
    expect(res.status, res.text).to.equal(202);
    const report = res.body as FeedReport;
    heldId = report.feedId;
    expect(report.status).to.equal('held');
    expect(report.breaker).to.include({ held: true, leavers: 10, threshold: 2 });
    expect(report.applied).to.equal(null);
    expect(res.headers.get('location')).to.equal(`/api/v1/hr/feeds/${heldId}`);
    expect(await statusOf(employeeId(40))).to.equal('active');
  });

  it('lets the HR system and auditors read reports, newest first, page by page and by status', async () => {
    for (const client of [hr, auditor, admin]) {
      const one = await client.get(`/hr/feeds/${heldId}`);
      contract('GET', `/hr/feeds/${heldId}`, one);
      expect(one.status, one.text).to.equal(200);
      expect(one.body).to.include({ feedId: heldId, status: 'held' });
    }
    const held = await auditor.get('/hr/feeds?status=held');
    contract('GET', '/hr/feeds', held);
    expect(held.body.items.map((f: FeedReport) => f.feedId)).to.deep.equal([heldId]);

    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await hr.get(`/hr/feeds?limit=3${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      contract('GET', '/hr/feeds', page);
      expect(page.body.items.length).to.be.at.most(3);
      seen.push(...page.body.items.map((f: FeedReport) => f.feedId));
      after = page.body.next;
    } while (after);
    expect(seen).to.have.length(await feedCount());
    expect(new Set(seen).size).to.equal(seen.length);
    expect(seen[0]).to.equal(heldId);

    expectError(await hr.get('/hr/feeds/no-such-feed'), 404, 'not_found');
  });

  it('lets only iam-admin approve: the held feed is applied, and cannot be decided twice', async () => {
    expectError(await hr.post(`/hr/feeds/${heldId}/approve`, undefined), 403, 'forbidden');
    expectError(await auditor.post(`/hr/feeds/${heldId}/approve`, undefined), 403, 'forbidden');
    const res = await admin.post(`/hr/feeds/${heldId}/approve`, undefined);
    expect(res.status, res.text).to.equal(200);
    contract('POST', `/hr/feeds/${heldId}/approve`, res);
    expect(res.body).to.include({ feedId: heldId, status: 'applied' });
    expect(res.body.decidedBy).to.match(/^token:/);
    expect(await statusOf(employeeId(40))).to.equal('terminated');
    expect(await statusOf(employeeId(30))).to.equal('active');

    const again = await admin.post(`/hr/feeds/${heldId}/approve`, undefined);
    expectError(again, 409, 'conflict');
    expect(again.body.error.message).to.equal(`feed ${heldId} is applied, not held: only a held feed can be approved`);
    expectError(await admin.post(`/hr/feeds/${heldId}/reject`, undefined), 409, 'conflict');
    expectError(await admin.post('/hr/feeds/no-such-feed/approve', undefined), 404, 'not_found');
  });

  it('rejects a held feed: nothing in it is applied', async () => {
    const held = await upload(hr, '', toCsv(terminated(people, [31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 21, 22, 23, 24, 25])));
    expect(held.status, held.text).to.equal(202);
    const id = held.body.feedId as string;
    expectError(await hr.post(`/hr/feeds/${id}/reject`, undefined), 403, 'forbidden');
    const res = await admin.post(`/hr/feeds/${id}/reject`, undefined);
    expect(res.status, res.text).to.equal(200);
    contract('POST', `/hr/feeds/${id}/reject`, res);
    expect(res.body).to.include({ status: 'rejected' });
    expect(await statusOf(employeeId(21))).to.equal('active');
  });

  it('refuses an upload it cannot read with 422, recording nothing', async () => {
    const before = await feedCount();
    const res = await upload(hr, '', toCsv(people, ['employee_id', 'first_name', 'status']));
    expectError(res, 422, 'unprocessable');
    expect(res.body.error.message).to.match(/^the feed's header cannot be used with this mapping/);
    const notArray = await upload(hr, '', '{"employee_id": "T1"}', 'application/json');
    expectError(notArray, 422, 'unprocessable');
    const empty = await upload(hr, '', '');
    expectError(empty, 422, 'unprocessable');
    expect(empty.body.error.message).to.equal('the feed is empty: there is no header line');
    expect(await feedCount()).to.equal(before);
  });

  it('refuses other media types with 415, and a body over hr.maxUploadBytes with 413, declared or streamed', async () => {
    const before = await feedCount();
    const csv = toCsv(people);
    const plain = await upload(hr, '', csv, 'text/plain');
    expectError(plain, 415, 'unsupported_media_type');
    expect(plain.body.error.message).to.equal('content type text/plain is not accepted; send text/csv or application/json');
    const untyped = await fetch(`${server.apiUrl}/hr/feeds`, { method: 'POST', body: new Uint8Array(Buffer.from(csv)), headers: { authorization: `Bearer ${adminToken}` } });
    expect(untyped.status).to.equal(415);

    const big = csv + toCsv(company(400, 'big')).split('\n').slice(1).join('\n');
    expect(big.length).to.be.greaterThan(MAX_UPLOAD);
    expectError(await upload(hr, '', big), 413, 'body_too_large');
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode(big)); c.close(); } });
    const streamed = await fetch(`${server.apiUrl}/hr/feeds`, {
      method: 'POST', body: stream, duplex: 'half', headers: { authorization: `Bearer ${hrToken}`, 'content-type': 'text/csv' },
    } as RequestInit);
    expect(streamed.status).to.equal(413);
    expect(((await streamed.json()) as { error: { code: string } }).error.code).to.equal('body_too_large');
    expect(await feedCount()).to.equal(before);
  });

  it('refuses bad query parameters with 400 before importing anything', async () => {
    const before = await feedCount();
    for (const [query, field] of [['?kind=weekly', 'kind'], ['?dryRun=yes', 'dryRun'], ['?sort=name', ''], [`?fileName=${'x'.repeat(513)}`, 'fileName']] as const) {
      const res = await upload(hr, query, toCsv(people.slice(0, 2)));
      expectError(res, 400, 'invalid_request');
      expect(res.body.error.details.issues.map((i: { in: string; path: string }) => [i.in, i.path]), query).to.deep.equal([['query', field]]);
    }
    expect(await feedCount()).to.equal(before);
  });

  it('documents the upload in the OpenAPI document: both media types, 201 and 202, the errors', async () => {
    const doc = (await apiClient(server.apiUrl).get('/openapi.json')).body;
    const post = doc.paths['/hr/feeds'].post;
    expect(Object.keys(post.requestBody.content)).to.deep.equal(['text/csv', 'application/json']);
    expect(post.requestBody.description).to.include(`At most ${MAX_UPLOAD} bytes`);
    expect(Object.keys(post.responses)).to.include.members(['201', '202', '400', '401', '403', '413', '415', '422']);
    expect(post['x-allowed-scopes']).to.deep.equal(['iam-admin', 'hr-system']);
    expect(doc.paths['/hr/feeds/{id}/approve'].post['x-allowed-scopes']).to.deep.equal(['iam-admin']);
    expect(doc.paths['/hr/feeds/{id}'].get['x-allowed-scopes']).to.deep.equal(['iam-admin', 'auditor', 'hr-system']);
    expect(doc.components.schemas.HrFeedReport.required).to.include.members(['feedId', 'status', 'counts', 'rejected', 'breaker']);
  });
});
