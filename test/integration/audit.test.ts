import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { TokenService } from '../../src/auth/tokens.js';
import { verifyAuditChain } from '../../src/audit/verify.js';
import { exportAuditEvents } from '../../src/audit/export.js';
import { runCli } from '../support/cli.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** The export's lines, each with its line break: the export yields chunks of many lines. */
async function collect(gen: AsyncGenerator<string>): Promise<string[]> {
  let text = '';
  for await (const chunk of gen) text += chunk;
  return text.split(/(?<=\n)/).filter(Boolean);
}

onEachDatabase('audit trail', (database) => {
  let identities: IdentityService;
  let lastId: () => Promise<number>;

  before(async () => {
    const { db } = database();
    identities = new IdentityService(db);
    lastId = async () => Number((await db.query<{ m: number }>('SELECT MAX(id) AS m FROM audit_events'))[0]!.m);
    const tokens = new TokenService(db);
    await tokens.create('audited-token', 'scim:read', 'test:setup');
    for (let i = 0; i < 5; i++) {
      const user = await identities.create({ schemas: [USER], userName: `audit.${i}@example.com`, password: 'hunter2' }, { actor: 'test:audit', requestId: `req-${i}` });
      await identities.update(user.id, (doc) => ({ ...doc, title: `Title ${i}` }), { actor: 'test:audit', requestId: `req-u${i}` });
    }
  });

  it('records every change with actor, action, target and request id, in the same transaction', async () => {
    const rows = await database().db.query<{ actor: string; action: string; target_type: string; request_id: string | null; details: string }>(
      'SELECT actor, action, target_type, request_id, details FROM audit_events ORDER BY id',
    );
    expect(rows.map((r) => r.action)).to.deep.equal(['token.create', ...Array.from({ length: 5 }, () => ['identity.create', 'identity.update']).flat()]);
    expect(rows[1]).to.include({ actor: 'test:audit', target_type: 'identity', request_id: 'req-0' });
    expect(JSON.parse(rows[2]!.details).changed.title).to.deep.equal({ to: 'Title 0' });
  });

  it('never stores a secret in audit details', async () => {
    const rows = await database().db.query<{ details: string }>('SELECT details FROM audit_events');
    const all = rows.map((r) => r.details).join('\n');
    expect(all).not.to.include('hunter2');
    expect(all).not.to.match(/iam_[a-f0-9]{16}_/);
  });

  it('rolls the event back with a failed change', async () => {
    const before = await lastId();
    await identities.create({ schemas: [USER], userName: 'audit.0@example.com' }, { actor: 'test:audit' }).catch(() => undefined);
    expect(await lastId()).to.equal(before);
  });

  it('keeps an intact chain under concurrent writers', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      identities.create({ schemas: [USER], userName: `audit.concurrent.${i}@example.com` }, { actor: 'test:audit' })));
    const report = await verifyAuditChain(database().db);
    expect(report).to.deep.include({ ok: true });
    expect(report.eventsChecked).to.equal(await lastId());
  });

  it('exports JSON lines and CSV in id order, bounded by time', async () => {
    const jsonl = (await collect(exportAuditEvents(database().db, 'jsonl'))).map((l) => JSON.parse(l));
    expect(jsonl).to.have.length(await lastId());
    expect(jsonl.map((e) => e.id)).to.deep.equal([...jsonl.map((e) => e.id)].sort((a, b) => a - b));
    expect(jsonl[0].details).to.be.an('object');
    const csv = await collect(exportAuditEvents(database().db, 'csv'));
    expect(csv[0]).to.equal('id,occurred_at,actor,action,target_type,target_id,request_id,details,prev_hash,hash\n');
    expect(csv).to.have.length(jsonl.length + 1);
    const future = await collect(exportAuditEvents(database().db, 'jsonl', { since: '2999-01-01T00:00:00.000Z' }));
    expect(future).to.deep.equal([]);
    const past = await collect(exportAuditEvents(database().db, 'jsonl', { until: '2000-01-01T00:00:00.000Z' }));
    expect(past).to.deep.equal([]);
  });

  it('iam audit verify exits 0 on an intact chain', async () => {
    const result = await runCli(['audit', 'verify'], { IAM_DATABASE_URL: database().url });
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/audit chain intact: \d+ events verified/);
  });

  it('iam audit export streams CSV to stdout', async () => {
    const result = await runCli(['audit', 'export', '--format', 'csv', '--since', '2000-01-01'], { IAM_DATABASE_URL: database().url });
    expect(result.code, result.stderr).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).to.equal('id,occurred_at,actor,action,target_type,target_id,request_id,details,prev_hash,hash');
    expect(lines.length - 1).to.equal(await lastId());
  });

  describe('tampering', () => {
    let snapshot: Array<Record<string, unknown>>;
    const columns = 'id, occurred_at, actor, action, target_type, target_id, request_id, details, prev_hash, hash';
    beforeEach(async () => {
      snapshot = await database().db.query(`SELECT ${columns} FROM audit_events ORDER BY id`);
    });
    afterEach(async () => {
      // Put the trail back exactly as it was, for the next case.
      await database().db.transaction(async (tx) => {
        await tx.execute('DELETE FROM audit_events');
        for (const row of snapshot) {
          await tx.execute(`INSERT INTO audit_events (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, Object.values(row));
        }
        await tx.execute('UPDATE audit_head SET last_hash = ? WHERE id = 1', [snapshot[snapshot.length - 1]!.hash]);
      });
      expect((await verifyAuditChain(database().db)).ok).to.equal(true);
    });

    const cases: Array<[string, (ids: number[]) => Array<[string, unknown[]]>, (ids: number[]) => number]> = [
      ['an edited event', (ids) => [['UPDATE audit_events SET details = ? WHERE id = ?', ['{"changed":{}}', ids[3]]]], (ids) => ids[3]!],
      ['an edited actor', (ids) => [['UPDATE audit_events SET actor = ? WHERE id = ?', ['someone-else', ids[2]]]], (ids) => ids[2]!],
      ['a deleted event', (ids) => [['DELETE FROM audit_events WHERE id = ?', [ids[4]]]], (ids) => ids[5]!],
      ['two events swapped', (ids) => [
        ['UPDATE audit_events SET id = ? WHERE id = ?', [-1, ids[5]]],
        ['UPDATE audit_events SET id = ? WHERE id = ?', [ids[5], ids[6]]],
        ['UPDATE audit_events SET id = ? WHERE id = ?', [ids[6], -1]],
      ], (ids) => ids[5]!],
      ['the newest events deleted', (ids) => [['DELETE FROM audit_events WHERE id >= ?', [ids[ids.length - 2]]]], (ids) => ids[ids.length - 2]!],
    ];
    for (const [name, tamper, firstBroken] of cases) {
      it(`verify names the first broken event after ${name}`, async () => {
        const ids = snapshot.map((r) => Number(r.id));
        for (const [sql, params] of tamper(ids)) await database().db.execute(sql, params);
        const report = await verifyAuditChain(database().db);
        expect(report.ok).to.equal(false);
        expect(report.brokenAt!.id).to.equal(firstBroken(ids));
        const cli = await runCli(['audit', 'verify'], { IAM_DATABASE_URL: database().url });
        expect(cli.code).to.equal(1);
        expect(cli.stdout).to.include(`BROKEN at event ${firstBroken(ids)}`);
      });
    }
  });
});
