import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { cellValue, CsvReader } from '../../src/audit/csv.js';
import { accessReportCsv, ACCESS_REPORT_COLUMNS, SOD_REPORT_COLUMNS } from '../../src/audit/reports.js';
import { insertRows } from '../../src/db/batches.js';
import { apiRoutes } from '../../src/http/api/routes/index.js';
import type { CatalogDocumentInput } from '../../src/policy/model.js';
import { contractClient, type ApiClient } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ctx = { actor: 'test:reports' };
const DAY = 86_400_000;

const CATALOG: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }],
  entitlements: ['finance', 'ap-clerks', 'payment-approvers', 'wiki'].map((key) => ({ target: 'ldap', key, kind: 'group' as const })),
  roles: [
    { name: 'finance-reader', entitlements: ['ldap/finance'] },
    { name: 'accountant', inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'] },
    { name: 'payment-approver', inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'] },
  ],
  birthrightRules: [],
  sodRules: [],
};
const SOD_RULE = {
  name: 'pay-what-you-enter', severity: 'critical' as const,
  left: { mode: 'any' as const, items: ['role:accountant', 'ent:ldap/ap-clerks'] },
  right: { mode: 'any' as const, items: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
};

type Row = Record<string, string | null>;

/** Parses a CSV report into records keyed by its header; checks the header. */
function parse(text: string, columns: readonly string[]): Row[] {
  const reader = new CsvReader();
  const [header, ...records] = [...reader.push(text), ...reader.end()];
  expect(header!.map((c) => c.text)).to.deep.equal([...columns]);
  return records.map((cells) => Object.fromEntries(columns.map((c, i) => [c, cellValue(cells[i]!)])));
}

async function collect(chunks: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const chunk of chunks) text += chunk;
  return text;
}

onEachDatabase('audit reports', (database) => {
  let server: TestServer;
  let auditor: ApiClient;
  const people: Record<string, { id: string; userName: string }> = {};

  const person = async (key: string, userName: string, displayName: string, department: string) => {
    const created = await server.services.identities.create({ schemas: [USER, ENTERPRISE], userName, displayName, [ENTERPRISE]: { department } }, ctx);
    people[key] = { id: created.id, userName };
  };
  const grant = (who: string, item: string, extra: Record<string, unknown> = {}) => server.services.grants.grant({ identity: people[who]!.id, item, ...extra }, ctx);

  before(async function () {
    this.timeout(30_000);
    server = await startTestServer(database().db);
    auditor = contractClient(server.apiUrl, await server.token('auditor'), apiRoutes(server.services, server.services.apiPolicy));
    await server.services.policyStore.replaceAll(CATALOG, { actor: 'test:setup' });
    await person('carol', 'Carol.Clerk@example.com', 'Carol Clerk', 'Finance');
    await person('eve', 'eve@example.com', '=HYPERLINK("http://evil.example","click")', '@Ops');
    await person('bob', 'bob@example.com', 'Bob Both', 'Finance');
    await person('ann', 'ann@example.com', 'Ann Excepted', 'Finance');
    await person('nobody', 'nobody@example.com', 'No Grants', 'Sales');
    await grant('carol', 'role:accountant', { reason: 'month end' });
    await grant('carol', 'ent:ldap/finance', { source: 'request', sourceRef: 'REQ-7', validUntil: new Date(Date.now() + 30 * DAY).toISOString() });
    await grant('eve', 'ent:ldap/wiki');
    // Not in force yet: left out of the report until it starts.
    await grant('eve', 'role:finance-reader', { validFrom: new Date(Date.now() + 10 * DAY).toISOString() });
    // Both sides of a rule, granted before the rule existed: violations once it does.
    for (const who of ['bob', 'ann']) {
      await grant(who, 'role:accountant');
      await grant(who, 'role:payment-approver');
    }
    await server.services.policyStore.replaceAll({ ...CATALOG, sodRules: [SOD_RULE] }, { actor: 'test:setup' });
    await server.services.sodExceptions.create({ rule: SOD_RULE.name, identity: people.ann!.id, reason: 'small office', approvedBy: 'ciso@example.com' }, ctx);
  });
  after(() => server.close());

  it('reports who holds what, why, since when and granted by whom: a row per item reached per grant, in userName order', async () => {
    const res = await auditor.get('/reports/access');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).to.equal('attachment; filename="access-report.csv"');
    const rows = parse(res.text, ACCESS_REPORT_COLUMNS);
    expect([...new Set(rows.map((r) => r.userName))]).to.deep.equal(['ann@example.com', 'bob@example.com', 'Carol.Clerk@example.com', 'eve@example.com']);

    const grants = await server.services.db.query<{ item: string; created: string; valid_until: string | null }>(
      'SELECT item, created, valid_until FROM grants WHERE identity_id = ? ORDER BY item', [people.carol!.id]);
    const role = grants.find((g) => g.item === 'role:accountant')!;
    const direct = grants.find((g) => g.item === 'ent:ldap/finance')!;
    const carol = { userName: 'Carol.Clerk@example.com', displayName: 'Carol Clerk', department: 'Finance' };
    const viaRole = { ...carol, source: 'manual', sourceRef: '', grantedBy: 'test:reports', since: role.created, validUntil: null };
    expect(rows.filter((r) => r.userName === carol.userName)).to.deep.equal([
      { ...viaRole, item: 'ent:ldap/ap-clerks', via: 'role:accountant > ent:ldap/ap-clerks' },
      { ...carol, item: 'ent:ldap/finance', via: 'ent:ldap/finance', source: 'request', sourceRef: 'REQ-7', grantedBy: 'test:reports', since: direct.created, validUntil: direct.valid_until },
      { ...viaRole, item: 'ent:ldap/finance', via: 'role:accountant > role:finance-reader > ent:ldap/finance' },
      { ...viaRole, item: 'role:accountant', via: 'role:accountant' },
      { ...viaRole, item: 'role:finance-reader', via: 'role:accountant > role:finance-reader' },
    ]);
    // The grant that starts later is not there; nor is anyone without grants.
    expect(rows.filter((r) => r.userName === 'eve@example.com').map((r) => r.item)).to.deep.equal(['ent:ldap/wiki']);
    expect(rows.some((r) => r.userName === 'nobody@example.com')).to.equal(false);
  });

  it('defuses cells a spreadsheet would run as formulas', async () => {
    const res = await auditor.get('/reports/access');
    const line = res.text.split('\n').find((l) => l.startsWith('eve@example.com'))!;
    expect(line).to.equal(`eve@example.com,"'=HYPERLINK(""http://evil.example"",""click"")",'@Ops,ent:ldap/wiki,ent:ldap/wiki,manual,"",test:reports,${line.split(',').at(-2)},`);
    // Read back, the values are as stored.
    const eve = parse(res.text, ACCESS_REPORT_COLUMNS).find((r) => r.userName === 'eve@example.com')!;
    expect(eve).to.include({ displayName: '=HYPERLINK("http://evil.example","click")', department: '@Ops' });
  });

  it('includes a grant from the time it is in force', async () => {
    const later = await collect(accessReportCsv(database().db, { now: new Date(Date.now() + 11 * DAY) }));
    expect(parse(later, ACCESS_REPORT_COLUMNS).filter((r) => r.userName === 'eve@example.com').map((r) => r.via)).to.deep.equal([
      'role:finance-reader > ent:ldap/finance', 'ent:ldap/wiki', 'role:finance-reader',
    ]);
  });

  it('reports the SoD violations GET /sod/violations lists, excepted ones marked', async () => {
    const res = await auditor.get('/reports/sod-violations');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).to.equal('attachment; filename="sod-violations.csv"');
    const rows = parse(res.text, SOD_REPORT_COLUMNS);
    const listed = (await auditor.get('/sod/violations')).body.items as Array<{ rule: string; severity: string; userName: string; identityId: string; left: string[]; right: string[]; excepted: boolean; exceptionId?: string }>;
    expect(listed).to.have.length(2);
    expect(rows).to.deep.equal(listed.map((v) => ({
      rule: v.rule, severity: v.severity, userName: v.userName, identityId: v.identityId, left: v.left.join(' '), right: v.right.join(' '),
      excepted: v.excepted ? 'yes' : 'no', exceptionId: v.exceptionId ?? null,
    })));
    expect(rows.map((r) => [r.userName, r.excepted])).to.deep.equal([['ann@example.com', 'yes'], ['bob@example.com', 'no']]);
    expect(rows[1]).to.include({ rule: 'pay-what-you-enter', severity: 'critical', left: 'role:accountant ent:ldap/ap-clerks', right: 'role:payment-approver ent:ldap/payment-approvers' });
  });

  it('reads identities in batches: everyone with access, once, in userName order', async function () {
    this.timeout(60_000);
    const { db } = database();
    const count = 1_234;
    const now = new Date().toISOString();
    const items = Array.from({ length: count }, (_, i) => ({
      id: randomUUID(),
      doc: { schemas: [USER], userName: `bulk.${String(i).padStart(5, '0')}@example.com`, displayName: `Bulk ${i}`, active: true },
    }));
    await db.transaction((tx) => server.services.identities.insertMany(tx, items, ctx));
    // Grants written straight into the table: a thousand GrantService calls would only slow the test.
    await insertRows(db, 'grants', ['id', 'identity_id', 'item', 'source', 'source_ref', 'granted_by', 'reason', 'valid_from', 'valid_until', 'created'],
      items.map((p) => [randomUUID(), p.id, 'ent:ldap/wiki', 'manual', '', 'test:bulk', null, null, null, now]));
    let progress = 0;
    const rows = parse(await collect(accessReportCsv(db, { onProgress: (n) => (progress = n) })), ACCESS_REPORT_COLUMNS);
    const bulk = rows.filter((r) => r.userName!.startsWith('bulk.'));
    expect(bulk.map((r) => r.userName)).to.deep.equal(items.map((p) => p.doc.userName));
    expect(rows.map((r) => r.userName!.toLowerCase())).to.deep.equal(rows.map((r) => r.userName!.toLowerCase()).sort());
    expect(progress).to.equal(count + Object.keys(people).length);
  });
});
