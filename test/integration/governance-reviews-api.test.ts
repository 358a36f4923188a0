import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { apiClient, type ApiClient } from '../support/api-client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { createOwners, freshDepartment, freshName, grant, grantExists, person, REVIEW_POLICY, reviewConfig, type TestPerson } from '../support/review-fixtures.js';
import { TestClock } from '../support/clock.js';

/*
 * The review routes over HTTP: definitions (config ones read-only), campaigns, a reviewer's items
 * and decisions with their own token, reports, and the statuses each refusal gets.
 */
const QUARTERLY = { description: 'every quarter', scope: {}, stages: [{ reviewer: 'manager', durationDays: 14 }], schedule: '0 6 1 */3 *' };

onEachDatabase('governance: review API', (database) => {
  let server: TestServer;
  let admin: ApiClient;
  let auditor: ApiClient;
  const clock = new TestClock();
  const clientOf = async (p: TestPerson, scopes = 'self-service') => apiClient(server.apiUrl, await server.token(scopes, `t-${p.id.slice(-12)}-${Math.random().toString(36).slice(2, 8)}`, p.id));

  before(async function () {
    this.timeout(60_000);
    server = await startTestServer(database().db, reviewConfig({ quarterly: QUARTERLY }), { clock: clock.now });
    await server.services.policyStore.replaceAll(REVIEW_POLICY, { actor: 'test:setup' });
    await createOwners(server.services);
    admin = apiClient(server.apiUrl, await server.token('iam-admin', `admin-${Date.now()}`));
    auditor = apiClient(server.apiUrl, await server.token('auditor', `auditor-${Date.now()}`));
  });
  after(() => server?.close());

  describe('definitions', () => {
    it('lists the config\'s definitions read-only beside stored ones, and refuses a config name (409)', async () => {
      const name = freshName('api-def');
      const body = { scope: { department: 'Sales' }, stages: [{ reviewer: 'manager', durationDays: 10 }, { reviewer: 'role-owner', durationDays: 5 }], reminderDays: [2], undecided: 'revoke' };
      const created = await admin.put(`/review-definitions/${name}`, body);
      expect(created.status, created.text).to.equal(201);
      expect(created.headers.get('location')).to.equal(`/api/v1/review-definitions/${name}`);
      expect(created.body).to.deep.include({ name, source: 'api' });
      expect(created.body.definition).to.deep.include({ undecided: 'revoke', applyImmediately: true, reminderDays: [2] });
      const replaced = await admin.put(`/review-definitions/${name}`, { ...body, undecided: 'open' });
      expect(replaced.status).to.equal(200);
      expect(replaced.body.definition.undecided).to.equal('open');

      const list = await auditor.get('/review-definitions');
      expect(list.status).to.equal(200);
      const items = list.body.items as Array<{ name: string; source: string; definition: Record<string, unknown> }>;
      expect(items.find((d) => d.name === 'quarterly')).to.deep.include({ source: 'config' });
      expect(items.find((d) => d.name === 'quarterly')!.definition).to.deep.include({ schedule: '0 6 1 */3 *' });
      expect(items.find((d) => d.name === name)).to.deep.include({ source: 'api' });
      expect((await admin.get('/review-definitions/quarterly')).body).to.deep.include({ name: 'quarterly', source: 'config', createdBy: null });

      const conflict = await admin.put('/review-definitions/quarterly', body);
      expect(conflict.status).to.equal(409);
      expect(conflict.body.error.message).to.include('config file');
      expect((await admin.delete('/review-definitions/quarterly')).status).to.equal(409);
      expect((await admin.put(`/review-definitions/${name}`, { stages: [] })).status).to.equal(400);
      expect((await admin.put(`/review-definitions/${name}`, { stages: [{ reviewer: 'people', durationDays: 3 }] })).status).to.equal(400);
      expect((await admin.put('/review-definitions/Bad%20Name', body)).status).to.equal(422);

      expect((await admin.delete(`/review-definitions/${name}`)).status).to.equal(204);
      expect((await admin.get(`/review-definitions/${name}`)).status).to.equal(404);
      expect((await admin.delete(`/review-definitions/${name}`)).status).to.equal(404);
      const audit = await database().db.query<{ action: string }>("SELECT action FROM audit_events WHERE target_type = 'review_definition' AND target_id = ? ORDER BY id", [name]);
      expect(audit.map((a) => a.action)).to.deep.equal(['review.definition.create', 'review.definition.update', 'review.definition.delete']);
    });
  });

  describe('campaigns and items', () => {
    it('starts, lists, decides as the reviewer, reports and closes', async () => {
      const department = freshDepartment();
      const boss = await person(server.services, { department });
      const manager = await person(server.services, { department, manager: boss.id });
      const alice = await person(server.services, { department, manager: manager.id });
      const kept = await grant(server.services, alice.id, 'ent:ldap/wiki');
      const revoked = await grant(server.services, alice.id, 'role:engineer');
      const name = freshName('api-campaign');
      expect((await admin.put(`/review-definitions/${name}`, { scope: { department }, stages: [{ reviewer: 'manager', durationDays: 7 }] })).status).to.equal(201);

      const started = await admin.post('/review-campaigns', { definition: name });
      expect(started.status, started.text).to.equal(201);
      const id = started.body.id as string;
      expect(started.headers.get('location')).to.equal(`/api/v1/review-campaigns/${id}`);
      expect(started.body).to.deep.include({ name, status: 'running', stage: 0, stages: 1 });
      expect(started.body.counts).to.deep.include({ items: 2, undecided: 2 });
      expect((await admin.post('/review-campaigns', { definition: name })).status).to.equal(409);
      expect((await admin.post('/review-campaigns', { definition: 'no-such-definition' })).status).to.equal(404);

      const listed = await auditor.get(`/review-campaigns?definition=${name}`);
      expect(listed.status).to.equal(200);
      expect(listed.body.items.map((c: { id: string }) => c.id)).to.deep.equal([id]);
      expect((await auditor.get(`/review-campaigns/${id}`)).body.counts.items).to.equal(2);
      expect((await auditor.get('/review-campaigns/no-such-campaign')).status).to.equal(404);

      const reviewer = await clientOf(manager);
      const mine = await reviewer.get(`/review-items?campaign=${id}&undecided=true`);
      expect(mine.status, mine.text).to.equal(200);
      const items = mine.body.items as Array<{ id: number; grantId: string; identity: { userName: string }; context: { source: string; path: string[] } }>;
      expect(items.map((i) => i.grantId).sort()).to.deep.equal([kept, revoked].sort());
      expect(items[0]!.identity.userName).to.equal(alice.userName);
      const page = await reviewer.get(`/review-items?campaign=${id}&limit=1`);
      expect(page.body.items).to.have.length(1);
      expect(page.body.next).to.equal(page.body.items[0].id);

      // alice sees nothing to review, and may not decide her own access
      const aliceClient = await clientOf(alice);
      expect((await aliceClient.get(`/review-items?campaign=${id}`)).body.items).to.deep.equal([]);
      const ids = items.map((i) => i.id);
      const forbidden = await aliceClient.post('/review-items/decisions', { items: ids, decision: 'keep' });
      expect(forbidden.status).to.equal(403);
      expect(forbidden.body.error.details.items.sort()).to.deep.equal([...ids].sort());
      // another person's list: only for iam-admin and auditor tokens
      expect((await aliceClient.get(`/review-items?reviewer=${manager.userName}`)).status).to.equal(403);
      expect((await admin.get(`/review-items?reviewer=${manager.userName}&campaign=${id}`)).body.items).to.have.length(2);
      expect((await admin.get('/review-items')).status).to.equal(422);
      expect((await reviewer.post('/review-items/decisions', { items: [999_999_999], decision: 'keep' })).status).to.equal(404);
      expect((await reviewer.post('/review-items/decisions', { items: [], decision: 'keep' })).status).to.equal(400);

      const keep = await reviewer.post('/review-items/decisions', { items: [items.find((i) => i.grantId === kept)!.id], decision: 'keep', comment: 'needed' });
      expect(keep.status, keep.text).to.equal(200);
      expect(keep.body).to.deep.equal({ decided: 1, revoked: 0, failed: 0 });
      const revoke = await reviewer.post('/review-items/decisions', { items: [items.find((i) => i.grantId === revoked)!.id], decision: 'revoke' });
      expect(revoke.body).to.deep.equal({ decided: 1, revoked: 1, failed: 0 });
      expect(await grantExists(database().db, revoked)).to.equal(false);
      expect((await reviewer.post('/review-items/decisions', { items: ids, decision: 'keep' })).status).to.equal(409);

      const csv = await auditor.get(`/review-campaigns/${id}/report?format=csv`);
      expect(csv.status).to.equal(200);
      expect(csv.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
      const lines = csv.text.trimEnd().split('\n');
      expect(lines).to.have.length(3);
      expect(lines.find((l) => l.includes(revoked))).to.match(/,revoke,.*,applied$/);
      const json = await auditor.get(`/review-campaigns/${id}/report`);
      expect(json.status).to.equal(200);
      const report = JSON.parse(json.text) as { reviewers: Array<Record<string, unknown>>; revocations: Record<string, number>; decisions: unknown[] };
      expect(report.reviewers).to.deep.equal([{ reviewer: { id: manager.id, userName: manager.userName }, assigned: 2, decided: 2, kept: 1, revoked: 1 }]);
      expect(report.revocations).to.deep.equal({ decided: 1, applied: 1, pending: 0 });
      expect(report.decisions).to.have.length(2);

      const closed = await admin.request('POST', `/review-campaigns/${id}/close`);
      expect(closed.status, closed.text).to.equal(200);
      expect(closed.body.status).to.equal('closed');
      expect(closed.body.summary).to.deep.include({ reviewed: 2, kept: 1, revoked: 1, open: 0 });
      expect((await admin.request('POST', `/review-campaigns/${id}/close`)).status).to.equal(409);
      expect((await reviewer.post('/review-items/decisions', { items: ids, decision: 'keep' })).status).to.equal(409);
      expect((await reviewer.get(`/review-items?campaign=${id}&undecided=true`)).body.items).to.deep.equal([]);
      expect((await auditor.get('/review-campaigns?status=closed')).body.items.map((c: { id: string }) => c.id)).to.include(id);
    });

    it('keeps the route policy: self-service may not start, close, define or report', async () => {
      const p = await person(server.services, { department: freshDepartment() });
      const client = await clientOf(p);
      expect((await client.post('/review-campaigns', { definition: 'quarterly' })).status).to.equal(403);
      expect((await client.get('/review-campaigns')).status).to.equal(403);
      expect((await client.put('/review-definitions/x', QUARTERLY)).status).to.equal(403);
      expect((await auditor.put('/review-definitions/x', QUARTERLY)).status).to.equal(403);
      expect((await auditor.post('/review-campaigns', { definition: 'quarterly' })).status).to.equal(403);
    });
  });
});
