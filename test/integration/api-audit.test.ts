import { expect } from 'chai';
import { recordAudit } from '../../src/audit/recorder.js';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import { apiClient, contractClient, type ApiClient } from '../support/api-client.js';
import type { AuditEventView } from '../../src/audit/events.js';
import { AUDIT_COLUMNS, type AuditEventRow } from '../../src/audit/export.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

onEachDatabase('API audit listing, export and verification', (database) => {
  let server: TestServer;
  let auditor: ApiClient;
  let admin: ApiClient;
  let rows: AuditEventRow[];
  let events: Array<{ id: number; occurredAt: string }>;

  /** Every page of a listing, following `next`; checks each page's size. */
  async function allPages(query: string, limit: number): Promise<AuditEventView[]> {
    const out: AuditEventView[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const res = await auditor.get(`/audit/events?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.events.length).to.be.at.most(limit);
      out.push(...res.body.events);
      cursor = res.body.next;
      if (cursor === undefined) return out;
      expect(res.body.events).to.have.length(limit);
    }
    throw new Error('the listing never ended');
  }

  const ids = (list: Array<{ id: number }>) => list.map((e) => e.id);
  const idsWhere = (keep: (row: AuditEventRow) => boolean) => rows.filter(keep).map((r) => Number(r.id));

  before(async () => {
    server = await startTestServer(database().db);
    const routes = apiRoutes(server.services, server.services.apiPolicy);
    auditor = contractClient(server.apiUrl, await server.token('auditor'), routes);
    admin = contractClient(server.apiUrl, await server.token('iam-admin', 'audit-admin'), routes);
    for (const name of ['a', 'b', 'c']) {
      expect((await admin.put(`/targets/${name}`, { type: 'other', description: `target "${name}", with, commas` })).status).to.equal(201);
      // Distinct timestamps, so a time bound can fall between two events.
      await sleep(5);
    }
    expect((await admin.delete('/targets/c')).status).to.equal(204);
    await sleep(5);
    // Events by other actors, and values a spreadsheet would take for formulas.
    await server.services.db.transaction((tx) => recordAudit(tx, [
      { actor: 'system:reconcile', action: 'grant.create', targetType: 'grant', targetId: 'g-1', details: { item: 'role:x' } },
      { actor: 'system:reconcile', action: 'grant.revoke', targetType: 'grant', targetId: 'g-1', details: {} },
      { actor: 'cli:ops', action: 'grantee.note', targetType: 'identity', targetId: '=HYPERLINK("http://x")', requestId: 'req-1', details: { note: '@sum' } },
    ]));
    rows = await server.services.db.query<AuditEventRow>(`SELECT ${AUDIT_COLUMNS.join(', ')} FROM audit_events ORDER BY id`);
    events = rows.map((r) => ({ id: Number(r.id), occurredAt: r.occurred_at }));
  });
  after(() => server.close());

  describe('listing', () => {
    it('lists every event in id order with its fields, details parsed, on one page by default', async () => {
      const res = await auditor.get('/audit/events');
      expect(res.status).to.equal(200);
      expect(res.body.next).to.equal(undefined);
      const listed = res.body.events as AuditEventView[];
      expect(listed).to.deep.equal(rows.map((r) => ({
        id: Number(r.id), occurredAt: r.occurred_at, actor: r.actor, action: r.action, targetType: r.target_type,
        targetId: r.target_id, requestId: r.request_id, details: JSON.parse(r.details), prevHash: r.prev_hash, hash: r.hash,
      })));
      expect(listed[1]!.prevHash).to.equal(listed[0]!.hash);
      const created = listed.filter((e) => e.action === 'target.create');
      expect(created.map((e) => e.targetId)).to.deep.equal(['a', 'b', 'c']);
      expect(created[0]!.actor).to.equal('token:audit-admin');
    });

    it('pages by an opaque cursor: every event exactly once, in order, whatever the page size', async () => {
      for (const limit of [1, 2, 3, rows.length, rows.length + 1]) {
        expect(ids(await allPages('', limit)), `limit ${limit}`).to.deep.equal(ids(events));
      }
      const first = await auditor.get('/audit/events?limit=2');
      // base64url of the last id on the page
      expect(Buffer.from(first.body.next, 'base64url').toString()).to.equal(String(first.body.events[1].id));
    });

    it('filters by actor, action (exact or prefix), target and time, and pages the filtered listing', async () => {
      expect(ids(await allPages('&actor=system:reconcile', 1))).to.deep.equal(idsWhere((r) => r.actor === 'system:reconcile'));
      expect(ids(await allPages('&actor=token:audit-admin', 2))).to.deep.equal(idsWhere((r) => r.actor === 'token:audit-admin'));
      expect(ids(await allPages('&action=grant.create', 10))).to.deep.equal(idsWhere((r) => r.action === 'grant.create'));
      // A prefix matches at the dot: grant.* is not grantee.*.
      const grants = await allPages('&action=grant.*', 1);
      expect(grants.map((e) => e.action)).to.deep.equal(['grant.create', 'grant.revoke']);
      expect((await allPages('&action=grant*', 10)).map((e) => e.action)).to.deep.equal(['grant.create', 'grant.revoke', 'grantee.note']);
      expect(ids(await allPages('&action=target.*', 2))).to.deep.equal(idsWhere((r) => r.action.startsWith('target.')));
      expect(ids(await allPages('&targetType=target', 10))).to.deep.equal(idsWhere((r) => r.target_type === 'target'));
      expect(ids(await allPages('&targetType=target&targetId=c', 10))).to.deep.equal(idsWhere((r) => r.target_type === 'target' && r.target_id === 'c'));
      expect(ids(await allPages('&targetId=g-1&action=grant.revoke', 10))).to.deep.equal(idsWhere((r) => r.target_id === 'g-1' && r.action === 'grant.revoke'));
      expect(await allPages('&actor=nobody', 10)).to.deep.equal([]);

      const [, second, third] = events.slice(-6);
      const since = `&since=${encodeURIComponent(second!.occurredAt)}`;
      expect(ids(await allPages(since, 2))).to.deep.equal(events.filter((e) => e.occurredAt >= second!.occurredAt).map((e) => e.id));
      const until = `&until=${encodeURIComponent(third!.occurredAt)}`;
      expect(ids(await allPages(until, 2))).to.deep.equal(events.filter((e) => e.occurredAt < third!.occurredAt).map((e) => e.id));
      // The same instant written with another offset selects the same events.
      const shifted = new Date(new Date(second!.occurredAt).getTime() + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
      expect(ids(await allPages(`&since=${encodeURIComponent(shifted)}`, 3))).to.deep.equal(ids(await allPages(since, 3)));
    });

    it('refuses a cursor it did not make, and limits out of range', async () => {
      for (const [query, field] of [
        ['cursor=not-a-cursor!', 'cursor'], [`cursor=${Buffer.from('12abc').toString('base64url')}`, 'cursor'], [`cursor=${Buffer.from('-1').toString('base64url')}`, 'cursor'],
        ['limit=0', 'limit'], ['limit=1001', 'limit'], ['action=grant create', 'action'], ['action=*grant', 'action'], ['since=yesterday', 'since'], ['format=csv', ''],
      ] as const) {
        const res = await auditor.get(`/audit/events?${query}`);
        expect(res.status, query).to.equal(400);
        expect(res.body.error.details.issues.map((i: { path: string }) => i.path), query).to.deep.equal([field]);
      }
      const max = await auditor.get('/audit/events?limit=1000');
      expect(max.status).to.equal(200);
    });
  });

  describe('export', () => {
    it('streams every event as JSON lines by default, in id order, each with its hashes', async () => {
      const res = await auditor.get('/audit/export');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/x-ndjson; charset=utf-8');
      expect(res.headers.get('content-disposition')).to.equal('attachment; filename="audit-events.jsonl"');
      const lines = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.id)).to.deep.equal(ids(events));
      const created = lines.filter((l) => l.action === 'target.create');
      expect(created.map((l) => l.target_id)).to.deep.equal(['a', 'b', 'c']);
      for (const line of lines) expect(line.hash).to.match(/^[0-9a-f]{64}$/);
      expect(lines[1].prev_hash).to.equal(lines[0].hash);
      expect(lines.at(-1).details).to.deep.equal({ note: '@sum' });
    });

    it('exports CSV with a header, quoted cells, and formulas defused', async () => {
      const res = await auditor.get('/audit/export?format=csv');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
      expect(res.headers.get('content-disposition')).to.equal('attachment; filename="audit-events.csv"');
      const lines = res.text.trimEnd().split('\n');
      expect(lines[0]).to.equal('id,occurred_at,actor,action,target_type,target_id,request_id,details,prev_hash,hash');
      expect(lines).to.have.length(events.length + 1);
      // The details cell is JSON inside a quoted CSV cell: its quotes doubled, its commas kept.
      expect(res.text).to.include('target \\""a\\"", with, commas');
      // A target id that a spreadsheet would run is written with a quote in front.
      expect(lines.at(-1)).to.include(`,"'=HYPERLINK(""http://x"")",req-1,`);
      // Null request ids are empty cells.
      expect(lines[1]!.split(',')[6]).to.equal('');
    });

    it('bounds the export in time: since inclusive, until exclusive, any offset', async () => {
      const [, second, third] = events.slice(-3);
      const since = await auditor.get(`/audit/export?since=${encodeURIComponent(second!.occurredAt)}`);
      expect(since.text.trimEnd().split('\n').map((l) => JSON.parse(l).id)).to.deep.equal(events.filter((e) => e.occurredAt >= second!.occurredAt).map((e) => e.id));
      const until = await auditor.get(`/audit/export?until=${encodeURIComponent(third!.occurredAt)}`);
      expect(until.text.trimEnd().split('\n').map((l) => JSON.parse(l).id)).to.not.include(third!.id);
      const instant = new Date(second!.occurredAt);
      const shifted = new Date(instant.getTime() + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
      const offset = await auditor.get(`/audit/export?since=${encodeURIComponent(shifted)}`);
      expect(offset.text).to.equal(since.text);
      const empty = await auditor.get('/audit/export?since=2999-01-01T00:00:00Z&format=csv');
      expect(empty.text.trimEnd().split('\n')).to.have.length(1);
    });
  });

  // Last: these change the trail the tests above read.
  describe('verification and refusals', () => {
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
});
