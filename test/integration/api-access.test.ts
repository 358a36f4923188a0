import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import type { ApiRoute } from '../../src/http/api/route.js';
import { contractClient, type ApiClient, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { ENTERPRISE, newUser, scimClient } from '../support/scim-client.js';
import { startTestServer, type TestServer } from '../support/server.js';

function expectError(res: ApiResponse, status: number, code: string, message?: RegExp): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.error).to.include({ status, code });
  if (message) expect(res.body.error.message).to.match(message);
}

/*
 * Grants, separation of duties, effective access and the check API, end to end over HTTP: the
 * catalogue is written through the API, people arrive through SCIM, and every answer is checked
 * against its route's declared schema.
 */
onEachDatabase('API grants, SoD, effective access and checks', (database) => {
  let server: TestServer;
  let routes: ApiRoute[];
  let admin: ApiClient;
  let approver: ApiClient;
  let app: ApiClient;
  const people: Record<'alice' | 'bob', { id: string; userName: string }> = {} as never;
  let accountantGrant: string;

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer(database().db);
    routes = apiRoutes(server.services, server.services.apiPolicy);
    admin = contractClient(server.apiUrl, await server.token('iam-admin'), routes);
    approver = contractClient(server.apiUrl, await server.token('approver'), routes);
    app = contractClient(server.apiUrl, await server.token('authz:check'), routes);
    const scim = scimClient(server.scimUrl, await server.token('hr-system'));
    for (const [key, type] of [['alice', 'Employee'], ['bob', 'Contractor']] as const) {
      const res = await scim.post('/Users', newUser({ userType: type, [ENTERPRISE]: { department: 'Finance', employeeNumber: `E-${randomUUID().slice(0, 6)}` } }));
      expect(res.status, res.text).to.equal(201);
      people[key] = { id: res.body.id, userName: res.body.userName };
    }
    const puts: Array<[string, unknown]> = [
      ['/targets/ldap', { type: 'ldap' }],
      ['/targets/ldap/entitlements/ap-clerks', { kind: 'group', risk: 'high' }],
      ['/targets/ldap/entitlements/payment-approvers', { kind: 'group', risk: 'critical' }],
      ['/roles/finance-reader', { permissions: [{ object: '/ledger/*', action: 'read' }] }],
      ['/roles/accountant', { inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'], permissions: [{ object: '/invoices/:id', action: 'write' }] }],
      ['/roles/payment-approver', { inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'], permissions: [{ object: '/payments/:id', action: 'approve' }], requestable: true, maxDurationDays: 30 }],
      ['/sod-rules/pay-what-you-enter', { severity: 'critical', left: { items: ['role:accountant'] }, right: { items: ['role:payment-approver'] } }],
      ['/birthright-rules/no-contractor-payments', { expression: "r.sub.employmentType == 'Contractor'", effect: 'deny', item: 'role:payment-approver' }],
    ];
    for (const [path, body] of puts) {
      const res = await admin.put(path, body);
      expect(res.status, `${path}: ${res.text}`).to.equal(201);
    }
  });
  after(() => server.close());

  describe('grants', () => {
    it('grants a role by userName: 201 with Location, and the same request again is 200 with the same grant', async () => {
      const body = { identity: people.alice.userName.toUpperCase(), item: 'role:accountant', reason: 'month-end close' };
      const res = await approver.post('/grants', body);
      expect(res.status, res.text).to.equal(201);
      expect(res.body).to.deep.include({ identityId: people.alice.id, item: 'role:accountant', source: 'manual', sourceRef: '', reason: 'month-end close', validUntil: null });
      expect(res.body.grantedBy).to.match(/^token:/);
      expect(res.headers.get('location')).to.equal(`/api/v1/grants/${res.body.id}`);
      accountantGrant = res.body.id;
      const again = await approver.post('/grants', body);
      expect(again.status, again.text).to.equal(200);
      expect(again.body.id).to.equal(accountantGrant);
      expect((await approver.get(`/grants/${accountantGrant}`)).body).to.deep.equal(res.body);
    });

    it('refuses with 409 sod_violation a grant that breaks an SoD rule, naming the rule and the items', async () => {
      const res = await approver.post('/grants', { identity: people.alice.id, item: 'role:payment-approver', source: 'request', sourceRef: 'REQ-1', validUntil: new Date(Date.now() + 7 * 86_400_000).toISOString() });
      expectError(res, 409, 'sod_violation', /pay-what-you-enter/);
      expect(res.body.error.details.rule).to.equal('pay-what-you-enter');
      expect(res.body.error.details.conflicting).to.include.members(['role:accountant', 'role:payment-approver']);
    });

    it('refuses with 422 a grant a deny rule forbids, and one longer than the role allows', async () => {
      const denied = await admin.post('/grants', { identity: people.bob.userName, item: 'role:payment-approver' });
      expectError(denied, 422, 'unprocessable', /no-contractor-payments/);
      const tooLong = await admin.post('/grants', { identity: people.alice.id, item: 'role:payment-approver', source: 'request', sourceRef: 'REQ-2', validUntil: new Date(Date.now() + 90 * 86_400_000).toISOString() });
      expectError(tooLong, 422, 'unprocessable', /30 days/);
    });

    it('answers 404 for a grant to an unknown identity or of an unknown item', async () => {
      expectError(await approver.post('/grants', { identity: 'nobody@example.com', item: 'role:accountant' }), 404, 'not_found', /nobody@example.com/);
      expectError(await approver.post('/grants', { identity: people.alice.id, item: 'role:ghost' }), 404, 'not_found', /role:ghost/);
      expectError(await approver.get('/grants/no-such-grant'), 404, 'not_found');
    });

    it('lets an approved SoD exception through, and the violation then shows as excepted', async () => {
      const exception = await approver.post('/sod-exceptions', { rule: 'pay-what-you-enter', identity: people.alice.userName, reason: 'small office', approvedBy: 'cfo@example.com' });
      expect(exception.status, exception.text).to.equal(201);
      expect(exception.body).to.deep.include({ rule: 'pay-what-you-enter', identityId: people.alice.id, approvedBy: 'cfo@example.com' });
      expect(exception.headers.get('location')).to.equal(`/api/v1/sod-exceptions/${exception.body.id}`);
      expect((await approver.get(`/sod-exceptions/${exception.body.id}`)).body).to.deep.equal(exception.body);
      expect((await approver.get(`/sod-exceptions?identity=${encodeURIComponent(people.alice.userName)}`)).body.items).to.have.length(1);

      const granted = await approver.post('/grants', { identity: people.alice.id, item: 'role:payment-approver', source: 'request', sourceRef: 'REQ-3', validUntil: new Date(Date.now() + 7 * 86_400_000).toISOString() });
      expect(granted.status, granted.text).to.equal(201);

      const violations = await admin.get('/sod/violations');
      expect(violations.body.items).to.have.length(1);
      expect(violations.body.items[0]).to.deep.include({ rule: 'pay-what-you-enter', identityId: people.alice.id, severity: 'critical', excepted: true, exceptionId: exception.body.id });
      expect((await admin.get('/sod/violations?rule=pay-what-you-enter')).body.items).to.have.length(1);
      expectError(await admin.get('/sod/violations?rule=other-rule'), 404, 'not_found', /other-rule/);
    });

    it('lists grants by identity, item and source, a page at a time', async () => {
      const all = await admin.get(`/grants?identity=${encodeURIComponent(people.alice.userName)}`);
      expect(all.body.items.map((g: { item: string }) => g.item).sort()).to.deep.equal(['role:accountant', 'role:payment-approver']);
      expect(all.body).to.not.have.property('next');
      const first = await admin.get(`/grants?identity=${people.alice.id}&limit=1`);
      expect(first.body.items).to.have.length(1);
      const second = await admin.get(`/grants?identity=${people.alice.id}&limit=1&after=${first.body.next}`);
      expect(second.body.items).to.have.length(1);
      expect(second.body.items[0].id).to.not.equal(first.body.items[0].id);
      expect((await admin.get('/grants?source=request')).body.items.map((g: { item: string }) => g.item)).to.deep.equal(['role:payment-approver']);
      expect((await admin.get('/grants?item=role:accountant')).body.items.map((g: { id: string }) => g.id)).to.deep.equal([accountantGrant]);
      expect((await admin.get('/grants?identity=nobody@example.com')).body.items).to.deep.equal([]);
    });
  });

  describe('effective access', () => {
    it('lists every item an identity holds with the grant, source and role path it comes from', async () => {
      const res = await admin.get(`/identities/${encodeURIComponent(people.alice.userName)}/access`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.include({ identityId: people.alice.id });
      const items = Object.fromEntries((res.body.items as Array<{ item: string }>).map((i) => [i.item, i]));
      expect(Object.keys(items).sort()).to.deep.equal([
        'ent:ldap/ap-clerks', 'ent:ldap/payment-approvers', 'role:accountant', 'role:finance-reader', 'role:payment-approver',
      ]);
      expect(items['ent:ldap/ap-clerks']).to.deep.include({ kind: 'entitlement', target: 'ldap' });
      const reader = items['role:finance-reader'] as unknown as { via: Array<{ path: string[]; source: string; validUntil: string | null }> };
      expect(reader.via.map((v) => v.path).sort()).to.deep.equal([['role:accountant', 'role:finance-reader'], ['role:payment-approver', 'role:finance-reader']]);
      expect(reader.via.find((v) => v.source === 'request')!.validUntil).to.be.a('string');
    });

    it('answers as of another instant, and 404 for an unknown identity', async () => {
      const later = new Date(Date.now() + 30 * 86_400_000).toISOString();
      const res = await admin.get(`/identities/${people.alice.id}/access?at=${encodeURIComponent(later)}`);
      expect((res.body.items as Array<{ item: string }>).map((i) => i.item)).to.not.include('role:payment-approver');
      expectError(await admin.get('/identities/nobody@example.com/access'), 404, 'not_found');
    });
  });

  describe('POST /authz/check', () => {
    it('allows with the role path and the rule that decided, for a subject named by userName in any case', async () => {
      const res = await app.post('/authz/check', { subject: people.alice.userName.toUpperCase(), object: '/ledger/2026/q1', action: 'read' });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.allowed).to.equal(true);
      expect(res.body.rolePath).to.deep.equal([people.alice.userName, 'role:accountant', 'role:finance-reader']);
      expect(res.body.rule).to.deep.equal(['role:finance-reader', '/ledger/*', 'read']);
      expect(res.body.reason).to.include('role:finance-reader');
      expect(res.body.policyVersion).to.be.a('number').and.greaterThan(0);
    });

    it('denies by default with a reason, and denies unknown subjects saying so', async () => {
      const denied = await app.post('/authz/check', { subject: people.bob.id, object: '/ledger/2026', action: 'read' });
      expect(denied.body).to.include({ allowed: false });
      expect(denied.body.reason).to.match(/deny/);
      const unknown = await app.post('/authz/check', { subject: 'ghost@example.com', object: '/ledger/x', action: 'read' });
      expect(unknown.body.allowed).to.equal(false);
      expect(unknown.body.reason).to.include('ghost@example.com');
    });

    it('decides a batch in order, on one policy version', async () => {
      const res = await app.post('/authz/check', {
        checks: [
          { subject: people.alice.id, object: '/payments/7', action: 'approve' },
          { subject: people.alice.id, object: '/payments/7', action: 'delete' },
          { subject: people.bob.userName, object: '/invoices/3', action: 'write' },
          { subject: people.alice.id, object: 'role:finance-reader', action: 'hold' },
          { subject: people.alice.id, object: '/payments/7', action: 'approve', context: { time: new Date(Date.now() + 30 * 86_400_000).toISOString() } },
        ],
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.results.map((r: { allowed: boolean }) => r.allowed)).to.deep.equal([true, false, false, true, false]);
      expect(new Set(res.body.results.map((r: { policyVersion: number }) => r.policyVersion)).size).to.equal(1);
    });

    it('reflects a change at once: a revoked grant, a changed role', async () => {
      const check = { subject: people.alice.id, object: '/invoices/9', action: 'write' };
      expect((await app.post('/authz/check', check)).body.allowed).to.equal(true);
      expect((await approver.delete(`/grants/${accountantGrant}`)).status).to.equal(204);
      expect((await app.post('/authz/check', check)).body.allowed).to.equal(false);

      const ledger = { subject: people.alice.id, object: '/ledger/2026', action: 'export' };
      expect((await app.post('/authz/check', ledger)).body.allowed).to.equal(false);
      const changed = await admin.put('/roles/finance-reader', { permissions: [{ object: '/ledger/*', action: 'read' }, { object: '/ledger/*', action: 'export' }] });
      expect(changed.status, changed.text).to.equal(200);
      expect((await app.post('/authz/check', ledger)).body.allowed).to.equal(true);
    });

    it('withdraws an SoD exception', async () => {
      const [exception] = (await admin.get('/sod-exceptions?rule=pay-what-you-enter')).body.items;
      expect((await admin.delete(`/sod-exceptions/${exception.id}`)).status).to.equal(204);
      expectError(await admin.get(`/sod-exceptions/${exception.id}`), 404, 'not_found');
      expectError(await admin.delete(`/sod-exceptions/${exception.id}`), 404, 'not_found');
    });
  });
});
