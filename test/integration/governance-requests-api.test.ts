import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import type { ApiRoute } from '../../src/http/api/route.js';
import { apiClient, contractClient, type ApiClient, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { governanceFixtures, type GovernanceFixtures, type Person } from '../support/governance-fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

const DAY = 86_400_000;

function expectError(res: ApiResponse, status: number, code: string, message?: RegExp): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.error).to.include({ status, code });
  if (message) expect(res.body.error.message).to.match(message);
}

/*
 * The access-request, approval and delegation routes over HTTP, with tokens that belong to
 * people: who may request, see, decide and cancel what, Idempotency-Key, and every 2xx answer
 * checked against its declared schema.
 */
onEachDatabase('API: access requests, approvals, delegations', (database) => {
  let now = new Date();
  let server: TestServer;
  let routes: ApiRoute[];
  let f: GovernanceFixtures;
  const people: Record<string, Person> = {};
  /** A contract-checked client with a self-service token of `person` (or other scopes). */
  const clientOf = async (person: Person | null, scopes = 'self-service'): Promise<ApiClient> =>
    contractClient(server.apiUrl, await server.token(scopes, `api-${randomUUID().slice(0, 8)}`, person?.userName), routes);
  const clients: Record<string, ApiClient> = {};
  const count = async (sql: string, params: unknown[]) => Number((await database().db.query<{ n: number | string }>(sql, params))[0]!.n);

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer(database().db, {
      governance: { escalationDays: 3, requestExpiryDays: 14, managersRequestForReports: true, defaultChain: [{ approver: 'manager' }, { approver: 'role-owner' }], chains: {} },
    }, { clock: () => now });
    routes = apiRoutes(server.services, server.services.apiPolicy);
    f = governanceFixtures(server.services);
    people.mgr = await f.createPerson({ userName: 'mgr' });
    people.owner = await f.createPerson({ userName: 'owner' });
    people.stranger = await f.createPerson({ userName: 'stranger' });
    people.deputy = await f.createPerson({ userName: 'deputy' });
    people.admin = await f.createPerson({ userName: 'admin' });
    await f.createTarget('apimem');
    for (const key of ['finance', 'locked', 'a', 'b']) await f.createEntitlement({ target: 'apimem', key, kind: 'group', requestable: key !== 'locked' });
    await f.createRole({ name: 'api-reader', owner: people.owner, entitlements: ['apimem/finance'], maxDurationDays: 30 });
    await f.createRole({ name: 'api-a', owner: people.owner, entitlements: ['apimem/a'] });
    await f.createRole({ name: 'api-b', owner: people.owner, entitlements: ['apimem/b'] });
    await f.createSodRule({ name: 'api-a-b', left: { items: ['role:api-a'] }, right: { items: ['role:api-b'] } });
    for (const key of ['mgr', 'owner', 'stranger', 'deputy']) clients[key] = await clientOf(people[key]!);
    clients.admin = await clientOf(people.admin, 'iam-admin');
    clients.auditor = await clientOf(null, 'auditor');
    clients.nobody = await clientOf(null);
    clients.systemAdmin = await clientOf(null, 'iam-admin');
  });
  after(() => server?.close());
  beforeEach(() => {
    now = new Date();
  });

  /** A fresh report of the manager, with a client of their own. */
  const newReport = async () => {
    const person = await f.createPerson({ manager: people.mgr });
    return { person, client: await clientOf(person) };
  };

  it('creates a request (201, Location), takes the item as item, role or entitlement, and shows it to those involved only', async () => {
    const { person, client } = await newReport();
    const created = await client.post('/access-requests', { role: 'api-reader', justification: 'reports', durationDays: 10 });
    expect(created.status, created.text).to.equal(201);
    expect(created.headers.get('location')).to.equal(`/api/v1/access-requests/${created.body.id}`);
    expect(created.body).to.deep.include({ item: 'role:api-reader', status: 'pending', durationDays: 10 });
    expect(created.body.beneficiary).to.deep.equal({ id: person.id, userName: person.userName });
    expect(created.body.stages[0]).to.deep.include({ approver: 'manager', status: 'open', approvers: [people.mgr.userName] });

    const ent = await client.post('/access-requests', { entitlement: 'apimem/finance', justification: 'files' });
    expect(ent.status, ent.text).to.equal(201);
    expect(ent.body.item).to.equal('ent:apimem/finance');
    const prefixed = await client.post('/access-requests', { item: 'role:api-a', justification: 'a' });
    expect(prefixed.status, prefixed.text).to.equal(201);
    expectError(await client.post('/access-requests', { role: 'api-b', item: 'role:api-b', justification: 'two' }), 422, 'unprocessable', /exactly one/);
    expectError(await client.post('/access-requests', { role: 'ent:apimem/a', justification: 'wrong kind' }), 422, 'unprocessable');
    expectError(await client.post('/access-requests', { role: 'api-reader' }), 400, 'invalid_request');

    for (const reader of [client, clients.mgr!, clients.auditor!, clients.admin!]) {
      const read = await reader.get(`/access-requests/${created.body.id}`);
      expect(read.status, read.text).to.equal(200);
      expect(read.body.id).to.equal(created.body.id);
    }
    expectError(await clients.stranger!.get(`/access-requests/${created.body.id}`), 404, 'not_found');
    expectError(await clients.nobody!.get(`/access-requests/${created.body.id}`), 404, 'not_found');
  });

  it('refuses a token that belongs to no person (403, also for iam-admin), and answers 404, 422 and 409 sod_violation', async () => {
    const { person, client } = await newReport();
    for (const token of [clients.nobody!, clients.systemAdmin!]) {
      expectError(await token.post('/access-requests', { beneficiary: person.userName, role: 'api-a', justification: 'x' }), 403, 'forbidden', /only a person can request access: this token belongs to no identity/);
      expectError(await token.post('/access-requests', { role: 'api-a', justification: 'x' }), 403, 'forbidden');
    }
    expectError(await client.post('/access-requests', { beneficiary: 'nobody@example.com', role: 'api-a', justification: 'x' }), 404, 'not_found');
    expectError(await client.post('/access-requests', { role: 'no-such-role', justification: 'x' }), 404, 'not_found');
    expectError(await client.post('/access-requests', { entitlement: 'apimem/locked', justification: 'x' }), 422, 'unprocessable', /not requestable/);
    expectError(await client.post('/access-requests', { role: 'api-reader', justification: 'x', durationDays: 31 }), 422, 'unprocessable', /at most 30 days/);
    expectError(await client.post('/access-requests', { beneficiary: people.stranger.userName, role: 'api-a', justification: 'x' }), 403, 'forbidden');
    await server.services.grants.grant({ identity: person.id, item: 'role:api-a' }, { actor: 'test:setup' });
    const sod = await client.post('/access-requests', { role: 'api-b', justification: 'both' });
    expectError(sod, 409, 'sod_violation', /api-a-b/);
    expect(sod.body.error.details.rule).to.equal('api-a-b');
    // An iam-admin person may request for anyone.
    const forOther = await clients.admin!.post('/access-requests', { beneficiary: people.stranger.userName, role: 'api-reader', justification: 'setup', durationDays: 5 });
    expect(forOther.status, forOther.text).to.equal(201);
  });

  it('answers a retried POST with the same Idempotency-Key with the same request (200), never a second one, also for two at once', async () => {
    const { person, client } = await newReport();
    const body = { role: 'api-a', justification: 'once' };
    const key = { 'Idempotency-Key': `k-${randomUUID()}` };
    const first = await client.post('/access-requests', body, key);
    const again = await client.post('/access-requests', body, key);
    expect([first.status, again.status]).to.deep.equal([201, 200]);
    expect(again.body).to.deep.equal(first.body);
    expectError(await client.post('/access-requests', { ...body, justification: 'another' }, key), 409, 'conflict', /Idempotency-Key/);
    expectError(await client.post('/access-requests', body, { 'Idempotency-Key': 'x'.repeat(256) }), 400, 'invalid_request', /Idempotency-Key/);
    expect(await count('SELECT COUNT(*) AS n FROM access_requests WHERE beneficiary_id = ?', [person.id])).to.equal(1);

    const other = await newReport();
    const concurrentKey = { 'Idempotency-Key': `k-${randomUUID()}` };
    const both = await Promise.all([0, 1].map(() => other.client.post('/access-requests', { role: 'api-b', justification: 'at once' }, concurrentKey)));
    expect(both.map((r) => r.status).sort()).to.deep.equal([200, 201]);
    expect(both[0]!.body.id).to.equal(both[1]!.body.id);
    expect(await count('SELECT COUNT(*) AS n FROM access_requests WHERE beneficiary_id = ?', [other.person.id])).to.equal(1);
  });

  it('lists what waits for the caller, lets the open stage\'s approvers decide (403 for others, 409 once decided), and grants after the last', async () => {
    const { person, client } = await newReport();
    const { body: request } = await client.post('/access-requests', { role: 'api-reader', justification: 'decide me', durationDays: 7 });
    const waiting = await clients.mgr!.get('/approvals');
    expect(waiting.status).to.equal(200);
    expect(waiting.body.items.map((r: { id: string }) => r.id)).to.include(request.id);
    expect((await clients.owner!.get('/approvals')).body.items.map((r: { id: string }) => r.id)).to.not.include(request.id);
    expect((await clients.nobody!.get('/approvals')).body).to.deep.equal({ items: [] });

    expectError(await client.post(`/access-requests/${request.id}/decision`, { decision: 'approve' }), 403, 'forbidden', /own access/);
    expectError(await clients.stranger!.post(`/access-requests/${request.id}/decision`, { decision: 'approve' }), 403, 'forbidden');
    expectError(await clients.admin!.post(`/access-requests/${request.id}/decision`, { decision: 'approve' }), 403, 'forbidden', /POST \/api\/v1\/grants/);
    expectError(await clients.mgr!.post(`/access-requests/${request.id}/decision`, { decision: 'maybe' }), 400, 'invalid_request');
    expectError(await clients.mgr!.post('/access-requests/no-such-request/decision', { decision: 'approve' }), 404, 'not_found');

    const first = await clients.mgr!.post(`/access-requests/${request.id}/decision`, { decision: 'approve', comment: 'ok' });
    expect(first.status, first.text).to.equal(200);
    expect(first.body.stage).to.equal(1);
    expectError(await clients.mgr!.post(`/access-requests/${request.id}/decision`, { decision: 'approve' }), 409, 'conflict', /already been decided/);
    const last = await clients.owner!.post(`/access-requests/${request.id}/decision`, { decision: 'approve' });
    expect(last.status, last.text).to.equal(200);
    expect(last.body.status).to.equal('approved');
    const grant = await clients.admin!.get(`/grants/${last.body.grantId}`);
    expect(grant.body).to.deep.include({ identityId: person.id, source: 'request', sourceRef: request.id });
    expectError(await clients.owner!.post(`/access-requests/${request.id}/decision`, { decision: 'deny' }), 409, 'conflict', /already approved/);
  });

  it('lists one\'s own requests (everyone\'s for auditors), pages them, and refuses another person\'s list', async () => {
    const { person, client } = await newReport();
    for (const role of ['api-a', 'api-b']) expect((await client.post('/access-requests', { role, justification: 'list' })).status).to.equal(201);
    const mine = await client.get('/access-requests');
    expect(mine.body.items.map((r: { item: string }) => r.item).sort()).to.deep.equal(['role:api-a', 'role:api-b']);
    const page = await client.get('/access-requests?limit=1');
    expect(page.body.items).to.have.length(1);
    const rest = await client.get(`/access-requests?limit=1&after=${page.body.next}`);
    expect(rest.body.items).to.have.length(1);
    expect(rest.body.items[0].id).to.not.equal(page.body.items[0].id);
    expect((await client.get('/access-requests?status=approved')).body.items).to.deep.equal([]);
    expectError(await client.get(`/access-requests?involving=${people.mgr.userName}`), 403, 'forbidden');
    expectError(await client.get('/access-requests?involving=nobody@example.com'), 404, 'not_found');
    const audited = await clients.auditor!.get(`/access-requests?involving=${person.userName}`);
    expect(audited.body.items).to.have.length(2);
    // the manager made none and benefits from none
    expect((await clients.mgr!.get(`/access-requests?involving=${people.mgr.userName}`)).body.items.every((r: { beneficiary: { id: string } }) => r.beneficiary.id !== person.id)).to.equal(true);
    expect((await clients.nobody!.get('/access-requests')).body).to.deep.equal({ items: [] });
  });

  it('cancels a request for its requester; an approver gets 403', async () => {
    const { client } = await newReport();
    const { body: request } = await client.post('/access-requests', { role: 'api-reader', justification: 'cancel me', durationDays: 3 });
    expectError(await clients.mgr!.post(`/access-requests/${request.id}/cancel`, undefined), 403, 'forbidden');
    const cancelled = await client.post(`/access-requests/${request.id}/cancel`, undefined);
    expect(cancelled.status, cancelled.text).to.equal(200);
    expect(cancelled.body.status).to.equal('cancelled');
    expectError(await client.post(`/access-requests/${request.id}/cancel`, undefined), 409, 'conflict');
  });

  it('names, lists and withdraws deputies; the deputy sees and decides the delegator\'s approvals meanwhile', async () => {
    const { client } = await newReport();
    const { body: request } = await client.post('/access-requests', { role: 'api-reader', justification: 'deputy', durationDays: 3 });
    const until = new Date(now.getTime() + 7 * DAY).toISOString();
    expectError(await clients.mgr!.post('/delegations', { deputy: 'nobody@example.com', until }), 404, 'not_found');
    expectError(await clients.nobody!.post('/delegations', { deputy: people.deputy.userName, until }), 403, 'forbidden');
    expectError(await clients.mgr!.post('/delegations', { deputy: people.deputy.userName, until: new Date(now.getTime() - DAY).toISOString() }), 422, 'unprocessable');
    const made = await clients.mgr!.post('/delegations', { deputy: people.deputy.userName, until });
    expect(made.status, made.text).to.equal(201);
    expect(made.body).to.deep.include({ active: true, until, revoked: null });
    expect(made.body.deputy).to.deep.equal({ id: people.deputy.id, userName: people.deputy.userName });
    for (const side of [clients.mgr!, clients.deputy!]) expect((await side.get('/delegations')).body.items.map((d: { id: string }) => d.id)).to.include(made.body.id);
    expect((await clients.stranger!.get('/delegations')).body.items.map((d: { id: string }) => d.id)).to.not.include(made.body.id);

    expect((await clients.deputy!.get('/approvals')).body.items.map((r: { id: string }) => r.id)).to.include(request.id);
    const decided = await clients.deputy!.post(`/access-requests/${request.id}/decision`, { decision: 'approve', comment: 'for mgr' });
    expect(decided.status, decided.text).to.equal(200);
    expect(decided.body.stages[0]).to.deep.include({ decidedBy: people.deputy.userName, onBehalfOf: people.mgr.userName });

    expectError(await clients.deputy!.delete(`/delegations/${made.body.id}`), 403, 'forbidden');
    expectError(await clients.stranger!.delete(`/delegations/${made.body.id}`), 404, 'not_found');
    expect((await clients.mgr!.delete(`/delegations/${made.body.id}`)).status).to.equal(204);
    expectError(await clients.mgr!.delete(`/delegations/${made.body.id}`), 409, 'conflict');
    expect((await clients.mgr!.get('/delegations')).body.items.map((d: { id: string }) => d.id)).to.not.include(made.body.id);
    const ended = await clients.mgr!.get('/delegations?includeEnded=true');
    expect(ended.body.items.find((d: { id: string }) => d.id === made.body.id).revoked).to.be.a('string');
    const audit = await database().db.query<{ action: string }>("SELECT action FROM audit_events WHERE target_type = 'delegation' AND target_id = ? ORDER BY id", [made.body.id]);
    expect(audit.map((a) => a.action)).to.deep.equal(['delegation.create', 'delegation.revoke']);
  });

  it('keeps the unauthenticated and wrongly scoped out: 401 without a token, 403 for a scope the policy does not allow', async () => {
    expect((await apiClient(server.apiUrl).get('/approvals')).status).to.equal(401);
    const scim = apiClient(server.apiUrl, await server.token('scim:read'));
    expectError(await scim.get('/approvals'), 403, 'forbidden');
    expectError(await clients.auditor!.post('/access-requests', { role: 'api-a', justification: 'x' }), 403, 'forbidden', /scopes \(auditor\) do not allow/);
  });
});
