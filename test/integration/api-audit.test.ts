import { expect } from 'chai';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import { apiClient, contractClient, type ApiClient } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface EventRow {
  id: number | string;
  occurred_at: string;
}

onEachDatabase('API audit export and verification', (database) => {
  let server: TestServer;
  let auditor: ApiClient;
  let admin: ApiClient;
  let events: Array<{ id: number; occurredAt: string }>;

  before(async () => {
    server = await startTestServer(database().db);
    const routes = apiRoutes(server.services, server.services.apiPolicy);
    auditor = contractClient(server.apiUrl, await server.token('auditor'), routes);
    admin = contractClient(server.apiUrl, await server.token('iam-admin'), routes);
    for (const name of ['a', 'b', 'c']) {
      expect((await admin.put(`/targets/${name}`, { type: 'other', description: `target "${name}", with, commas` })).status).to.equal(201);
      // Distinct timestamps, so a time bound can fall between two events.
      await new Promise((r) => setTimeout(r, 5));
    }
    const rows = await server.services.db.query<EventRow>('SELECT id, occurred_at FROM audit_events ORDER BY id');
    events = rows.map((r) => ({ id: Number(r.id), occurredAt: r.occurred_at }));
  });
  after(() => server.close());

  it('streams every event as JSON lines by default, in id order, each with its hashes', async () => {
    const res = await auditor.get('/audit/events');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('application/x-ndjson; charset=utf-8');
    expect(res.headers.get('content-disposition')).to.equal('attachment; filename="audit-events.jsonl"');
    const lines = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).to.deep.equal(events.map((e) => e.id));
    const created = lines.filter((l) => l.action === 'target.create');
    expect(created.map((l) => l.target_id)).to.deep.equal(['a', 'b', 'c']);
    for (const line of lines) expect(line.hash).to.match(/^[0-9a-f]{64}$/);
    expect(lines[1].prev_hash).to.equal(lines[0].hash);
  });

  it('exports CSV with a header and quoted cells', async () => {
    const res = await auditor.get('/audit/events?format=csv');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
    const lines = res.text.trimEnd().split('\n');
    expect(lines[0]).to.equal('id,occurred_at,actor,action,target_type,target_id,request_id,details,prev_hash,hash');
    expect(lines).to.have.length(events.length + 1);
    // The details cell is JSON inside a quoted CSV cell: its quotes doubled, its commas kept.
    expect(res.text).to.include('target \\""a\\"", with, commas');
  });

  it('bounds the export in time: since inclusive, until exclusive, any offset', async () => {
    const [, second, third] = events.slice(-3);
    const since = await auditor.get(`/audit/events?since=${encodeURIComponent(second!.occurredAt)}`);
    expect(since.text.trimEnd().split('\n').map((l) => JSON.parse(l).id)).to.deep.equal(events.filter((e) => e.occurredAt >= second!.occurredAt).map((e) => e.id));
    const until = await auditor.get(`/audit/events?until=${encodeURIComponent(third!.occurredAt)}`);
    expect(until.text.trimEnd().split('\n').map((l) => JSON.parse(l).id)).to.not.include(third!.id);
    // The same instant written with another offset selects the same events.
    const instant = new Date(second!.occurredAt);
    const shifted = new Date(instant.getTime() + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    const offset = await auditor.get(`/audit/events?since=${encodeURIComponent(shifted)}`);
    expect(offset.text).to.equal(since.text);
    const empty = await auditor.get('/audit/events?since=2999-01-01T00:00:00Z&format=csv');
    expect(empty.text.trimEnd().split('\n')).to.have.length(1);
  });

  it('verifies the chain, and finds the event that was edited', async () => {
    const ok = await auditor.get('/audit/verify');
    expect(ok.status).to.equal(200);
    expect(ok.body).to.deep.equal({ ok: true, eventsChecked: events.length });
    const target = events[2]!.id;
    await server.services.db.execute('UPDATE audit_events SET actor = ? WHERE id = ?', ['someone-else', target]);
    const broken = await auditor.get('/audit/verify');
    expect(broken.status).to.equal(200);
    expect(broken.body.ok).to.equal(false);
    expect(broken.body.brokenAt.id).to.equal(target);
    expect(broken.body.brokenAt.reason).to.include('edited');
  });

  it('keeps the auditor to reading: every write is refused', async () => {
    const plain = apiClient(server.apiUrl, await server.token('auditor'));
    for (const [method, path, body] of [
      ['PUT', '/targets/x', { type: 'other' }], ['DELETE', '/targets/a', undefined], ['POST', '/grants', { identity: 'x', item: 'role:x' }],
      ['POST', '/sod-exceptions', { rule: 'r', identity: 'x', reason: 'r', approvedBy: 'x' }], ['POST', '/policy/simulate', { changes: [] }],
    ] as const) {
      const res = await plain.request(method, path, body);
      expect(res.status, `${method} ${path}`).to.equal(403);
      expect(res.body.error.message).to.include("this token's scopes (auditor) do not allow");
    }
  });
});
