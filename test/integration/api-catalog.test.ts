import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import type { ApiRoute } from '../../src/http/api/route.js';
import { readPolicyState } from '../../src/policy/changes.js';
import { contractClient, type ApiClient, type ApiResponse } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

function expectError(res: ApiResponse, status: number, code: string, message?: RegExp): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.error).to.include({ status, code });
  if (message) expect(res.body.error.message).to.match(message);
}

onEachDatabase('API catalogue', (database) => {
  let server: TestServer;
  let routes: ApiRoute[];
  let admin: ApiClient;
  let tokenName: string;

  before(async () => {
    server = await startTestServer(database().db);
    routes = apiRoutes(server.services, server.services.apiPolicy);
    tokenName = `catalog-admin-${randomUUID().slice(0, 8)}`;
    admin = contractClient(server.apiUrl, await server.token('iam-admin', tokenName), routes);
  });
  after(() => server.close());

  describe('create, replace and read with versions', () => {
    it('creates with PUT: 201, Location, ETag of version 1, and the stored entry', async () => {
      const res = await admin.put('/targets/github', { type: 'github', displayName: 'GitHub' });
      expect(res.status, res.text).to.equal(201);
      expect(res.headers.get('location')).to.equal('/api/v1/targets/github');
      expect(res.headers.get('etag')).to.equal('"1"');
      expect(res.body).to.deep.include({ name: 'github', type: 'github', displayName: 'GitHub', version: 1 });
      const read = await admin.get('/targets/github');
      expect(read.status).to.equal(200);
      expect(read.headers.get('etag')).to.equal('"1"');
      expect(read.body).to.deep.equal(res.body);
    });

    it('replaces with PUT: 200, the next version, no Location', async () => {
      const res = await admin.put('/targets/github', { name: 'github', type: 'github', displayName: 'GitHub org' });
      expect(res.status, res.text).to.equal(200);
      expect(res.headers.get('location')).to.equal(null);
      expect(res.headers.get('etag')).to.equal('"2"');
      expect(res.body).to.deep.include({ displayName: 'GitHub org', version: 2 });
    });

    it('applies If-Match only at the current version, and leaves the entry alone otherwise', async () => {
      const stale = await admin.put('/targets/github', { type: 'github', displayName: 'stale write' }, { 'if-match': '"1"' });
      expectError(stale, 412, 'precondition_failed');
      expect((await admin.get('/targets/github')).body).to.deep.include({ displayName: 'GitHub org', version: 2 });
      const current = await admin.put('/targets/github', { type: 'github', displayName: 'GitHub' }, { 'if-match': '"2"' });
      expect(current.status, current.text).to.equal(200);
      expect(current.headers.get('etag')).to.equal('"3"');
    });

    it('takes If-Match: * as "only if it exists"', async () => {
      const missing = await admin.put('/targets/nowhere', { type: 'other' }, { 'if-match': '*' });
      expectError(missing, 412, 'precondition_failed', /requires target nowhere to exist/);
      expectError(await admin.get('/targets/nowhere'), 404, 'not_found');
      const existing = await admin.put('/targets/github', { type: 'github' }, { 'if-match': '*' });
      expect(existing.status, existing.text).to.equal(200);
      expect(existing.body.displayName).to.equal(undefined);
    });

    it('reads an entitlement whose key needs encoding, and lists entitlements by target', async () => {
      expect((await admin.put('/targets/ldap', { type: 'ldap' })).status).to.equal(201);
      const spaced = await admin.put('/targets/ldap/entitlements/Domain%20Users', { kind: 'group', risk: 'medium' });
      expect(spaced.status, spaced.text).to.equal(201);
      expect(spaced.headers.get('location')).to.equal('/api/v1/targets/ldap/entitlements/Domain%20Users');
      expect(spaced.body).to.deep.include({ target: 'ldap', key: 'Domain Users', kind: 'group', risk: 'medium', requestable: true });
      expect((await admin.put('/targets/github/entitlements/platform', { kind: 'team' })).status).to.equal(201);
      expect((await admin.get('/targets/ldap/entitlements/Domain%20Users')).body.key).to.equal('Domain Users');
      const byTarget = await admin.get('/entitlements?target=ldap');
      expect(byTarget.body.items.map((e: { key: string }) => e.key)).to.deep.equal(['Domain Users']);
      expect((await admin.get('/entitlements')).body.items).to.have.length(2);
    });

    it('stores roles with their hierarchy, entitlements and permissions', async () => {
      const engineer = await admin.put('/roles/engineer', {
        displayName: 'Engineer', entitlements: ['github/platform'], permissions: [{ object: '/repos/*', action: 'read' }],
      });
      expect(engineer.status, engineer.text).to.equal(201);
      expect(engineer.body).to.deep.include({ name: 'engineer', inherits: [], entitlements: ['github/platform'], requestable: false, risk: 'low' });
      const senior = await admin.put('/roles/senior-engineer', { inherits: ['engineer'], maxDurationDays: 90 });
      expect(senior.status, senior.text).to.equal(201);
      const list = await admin.get('/roles');
      expect(list.body.items.map((r: { name: string }) => r.name)).to.deep.equal(['engineer', 'senior-engineer']);
    });

    it('records each write in the audit trail as the token, under the request id', async () => {
      const res = await admin.put('/targets/slack', { type: 'slack' }, { 'x-request-id': 'catalog-put-slack' });
      expect(res.status).to.equal(201);
      const events = await server.services.db.query<{ actor: string; action: string; target_id: string }>(
        'SELECT actor, action, target_id FROM audit_events WHERE request_id = ?', ['catalog-put-slack']);
      expect(events).to.deep.equal([{ actor: `token:${tokenName}`, action: 'target.create', target_id: 'slack' }]);
    });
  });

  describe('refusals', () => {
    it('answers 404 for an entry that does not exist, on read, replace-if-match and delete', async () => {
      expectError(await admin.get('/roles/ghost'), 404, 'not_found', /ghost/);
      expectError(await admin.delete('/roles/ghost'), 404, 'not_found', /ghost/);
      expectError(await admin.get('/targets/github/entitlements/ghost'), 404, 'not_found');
      expectError(await admin.get('/birthright-rules/ghost'), 404, 'not_found');
      expectError(await admin.get('/sod-rules/ghost'), 404, 'not_found');
    });

    it('answers 422 for a reference to nothing, naming it', async () => {
      expectError(await admin.put('/targets/jira/entitlements/admins', { kind: 'group' }), 422, 'unprocessable', /jira/);
      expectError(await admin.put('/roles/lost', { inherits: ['nobody'] }), 422, 'unprocessable', /nobody/);
      expectError(await admin.put('/sod-rules/void', { left: { items: ['role:engineer'] }, right: { items: ['role:nothing'] } }), 422, 'unprocessable', /role:nothing/);
    });

    it('answers 422 for cyclic role inheritance, naming the cycle, and keeps the roles as they were', async () => {
      const res = await admin.put('/roles/engineer', { entitlements: ['github/platform'], inherits: ['senior-engineer'] });
      expectError(res, 422, 'unprocessable', /cycl/i);
      expect(res.body.error.message).to.include('engineer');
      expect((await admin.get('/roles/engineer')).body.inherits).to.deep.equal([]);
    });

    it('answers 422 for a birthright rule that reaches outside the identity attributes', async () => {
      for (const expression of ["r.sub.salary > 100000", "process.exit(1)", "r.sub.department == 'x' || eval('1')"]) {
        const res = await admin.put('/birthright-rules/sneaky', { expression, item: 'role:engineer' });
        expectError(res, 422, 'unprocessable');
      }
      expectError(await admin.get('/birthright-rules/sneaky'), 404, 'not_found');
    });

    it('answers 409 for deleting what is still referenced, naming what refers to it', async () => {
      const target = await admin.delete('/targets/github');
      expectError(target, 409, 'conflict', /platform|entitlement/);
      const role = await admin.delete('/roles/engineer');
      expectError(role, 409, 'conflict', /senior-engineer/);
      expect((await admin.get('/roles/engineer')).status).to.equal(200);
    });

    it('deletes under If-Match only at the current version', async () => {
      const current = await admin.get('/roles/senior-engineer');
      const version = Number(JSON.parse(current.headers.get('etag')!));
      expectError(await admin.delete('/roles/senior-engineer', { 'if-match': `"${version + 1}"` }), 412, 'precondition_failed');
      const deleted = await admin.delete('/roles/senior-engineer', { 'if-match': `"${version}"` });
      expect(deleted.status, deleted.text).to.equal(204);
      expect(deleted.text).to.equal('');
      expectError(await admin.get('/roles/senior-engineer'), 404, 'not_found');
    });
  });

  describe('the whole policy', () => {
    it('exports the live policy in the policies/ file format', async () => {
      const res = await admin.get('/policy');
      expect(res.status, res.text).to.equal(200);
      expect(Object.keys(res.body)).to.deep.equal(['targets', 'entitlements', 'roles', 'birthrightRules', 'sodRules']);
      expect(res.body.targets.map((t: { name: string }) => t.name)).to.deep.equal(['github', 'ldap', 'slack']);
      expect(res.body.roles.map((r: { name: string }) => r.name)).to.deep.equal(['engineer']);
      // Exported entries carry no server stamps: the file is the policy, not the rows.
      expect(res.body.roles[0]).to.not.have.property('version');
    });

    it('simulates a change without applying it', async () => {
      const before = await readPolicyState(server.services.db);
      const res = await admin.post('/policy/simulate', {
        changes: [{ op: 'put', kind: 'role', value: { name: 'sre', inherits: ['engineer'] } }, { op: 'delete', kind: 'target', name: 'slack' }],
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.body.policyVersion).to.equal(before.version);
      expect(res.body.totals.identitiesChanged).to.equal(0);
      expect((await readPolicyState(server.services.db)).version).to.equal(before.version);
      expectError(await admin.get('/roles/sre'), 404, 'not_found');
      expect((await admin.get('/targets/slack')).status).to.equal(200);
    });

    it('answers 422 for a simulated change the policy would refuse', async () => {
      const res = await admin.post('/policy/simulate', { changes: [{ op: 'put', kind: 'role', value: { name: 'loop', inherits: ['loop'] } }] });
      expectError(res, 422, 'unprocessable', /loop/);
    });
  });
});
