import { expect } from 'chai';
import { createHash, randomUUID } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { GROUP_SCHEMA, newUser, patchOf, scimClient, type ScimResponse } from '../support/scim-client.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const INVALID_TOKEN = 'the bearer token is not valid';

/** The parts of a 401/403 a client can observe, for comparing responses with one another. */
function observable(res: ScimResponse) {
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    challenge: res.headers.get('www-authenticate'),
    body: res.body as unknown,
  };
}

onEachDatabase('SCIM authentication and scopes', (database) => {
  let server: TestServer;
  let writeToken: string;
  let readToken: string;
  let revokedToken: string;
  let revokedName: string;
  let userId: string;
  let groupId: string;

  before(async () => {
    server = await startTestServer(database().db);
    writeToken = await server.token('scim:write', `auth-writer-${randomUUID().slice(0, 8)}`);
    readToken = await server.token('scim:read', `auth-reader-${randomUUID().slice(0, 8)}`);
    revokedName = `auth-revoked-${randomUUID().slice(0, 8)}`;
    revokedToken = await server.token('scim:read,scim:write', revokedName);
    const writer = scimClient(server.scimUrl, writeToken);
    // The revoked token worked before it was revoked, so a later 401 is the revocation's doing.
    expect((await scimClient(server.scimUrl, revokedToken).get('/Users')).status).to.equal(200);
    await server.services.tokens.revoke(revokedName, 'test');
    const user = await writer.post('/Users', newUser());
    expect(user.status, user.text).to.equal(201);
    userId = user.body.id;
    const group = await writer.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `auth group ${randomUUID().slice(0, 8)}` });
    expect(group.status, group.text).to.equal(201);
    groupId = group.body.id;
  });
  after(() => server.close());

  it('answers a request without a token with 401, a bare Bearer challenge and a SCIM error body', async () => {
    const res = await scimClient(server.scimUrl).get('/Users');
    expect(res.status).to.equal(401);
    expect(res.headers.get('www-authenticate')).to.equal('Bearer realm="iam"');
    expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
    expect(res.body).to.deep.equal({ schemas: [ERROR], status: '401', detail: 'a bearer token is required' });
  });

  it('answers another authentication scheme like a missing token, with a detail that names the expected form', async () => {
    const res = await scimClient(server.scimUrl).get('/Users', { authorization: `Basic ${Buffer.from('okta:secret').toString('base64')}` });
    expect(res.status).to.equal(401);
    expect(res.headers.get('www-authenticate')).to.equal('Bearer realm="iam"');
    expect(res.body).to.deep.equal({ schemas: [ERROR], status: '401', detail: 'the Authorization header must be "Bearer <token>"' });
  });

  it('gives malformed, unknown and revoked tokens the identical 401', async () => {
    // Unknown: well-formed (right prefix, id and secret lengths) but never issued.
    const unknown = `iam_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    // A real token's id with another secret: the row exists, the secret does not match.
    const wrongSecret = `${writeToken.slice(0, 21)}${'B'.repeat(43)}`;
    const responses = await Promise.all(
      ['not-a-token', 'iam_short_x', unknown, wrongSecret, revokedToken].map((token) => scimClient(server.scimUrl, token).get('/Users')),
    );
    const expected = {
      status: 401,
      contentType: 'application/scim+json; charset=utf-8',
      challenge: 'Bearer realm="iam", error="invalid_token"',
      body: { schemas: [ERROR], status: '401', detail: INVALID_TOKEN },
    };
    for (const res of responses) expect(observable(res)).to.deep.equal(expected);
  });

  it('refuses a revoked token on writes too, and changes nothing', async () => {
    const [{ n: before }] = (await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM identities')) as [{ n: number | string }];
    const res = await scimClient(server.scimUrl, revokedToken).post('/Users', newUser());
    expect(observable(res).body).to.deep.equal({ schemas: [ERROR], status: '401', detail: INVALID_TOKEN });
    const [{ n: after }] = (await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM identities')) as [{ n: number | string }];
    expect(Number(after)).to.equal(Number(before));
  });

  it('lets a scim:read token GET, list and search', async () => {
    const reader = scimClient(server.scimUrl, readToken);
    const one = await reader.get(`/Users/${userId}`);
    expect(one.status, one.text).to.equal(200);
    expect(one.body.id).to.equal(userId);
    const list = await reader.get('/Users');
    expect(list.status, list.text).to.equal(200);
    expect(list.body.totalResults).to.equal(1);
    expect((await reader.get(`/Groups/${groupId}`)).status).to.equal(200);
    expect((await reader.get('/Groups')).body.totalResults).to.equal(1);
    const search = await reader.post('/Users/.search', { schemas: [SEARCH], filter: `id eq "${userId}"` });
    expect(search.status, search.text).to.equal(200);
    expect(search.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([userId]);
    const root = await reader.post('/.search', { schemas: [SEARCH] });
    expect(root.status, root.text).to.equal(200);
    expect(root.body.totalResults).to.equal(2);
  });

  it('refuses every write of a scim:read token with 403 naming its scopes and those the route needs, and changes nothing', async () => {
    const reader = scimClient(server.scimUrl, readToken);
    const counts = async () => {
      const out: Record<string, number> = {};
      for (const table of ['identities', 'directory_groups', 'group_members', 'audit_events']) {
        const [{ n }] = (await server.services.db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`)) as [{ n: number | string }];
        out[table] = Number(n);
      }
      return out;
    };
    const before = await counts();
    const attempts: Array<[string, string, () => Promise<ScimResponse>]> = [
      ['POST', '/Users', () => reader.post('/Users', newUser())],
      ['PUT', `/Users/${userId}`, () => reader.put(`/Users/${userId}`, newUser())],
      ['PATCH', `/Users/${userId}`, () => reader.patch(`/Users/${userId}`, patchOf({ op: 'replace', path: 'active', value: false }))],
      ['DELETE', `/Users/${userId}`, () => reader.delete(`/Users/${userId}`)],
      ['POST', '/Groups', () => reader.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'nope' })],
      ['PUT', `/Groups/${groupId}`, () => reader.put(`/Groups/${groupId}`, { schemas: [GROUP_SCHEMA], displayName: 'nope' })],
      ['PATCH', `/Groups/${groupId}`, () => reader.patch(`/Groups/${groupId}`, patchOf({ op: 'add', path: 'members', value: [{ value: userId }] }))],
      ['DELETE', `/Groups/${groupId}`, () => reader.delete(`/Groups/${groupId}`)],
      ['POST', '/Bulk', () => reader.post('/Bulk', { schemas: [BULK], Operations: [{ method: 'POST', bulkId: 'u1', path: '/Users', data: newUser() }] })],
    ];
    for (const [method, path, attempt] of attempts) {
      const res = await attempt();
      expect(res.status, `${method} ${path}: ${res.text}`).to.equal(403);
      expect(res.headers.get('www-authenticate')).to.equal(null);
      expect(res.body).to.deep.equal({
        schemas: [ERROR],
        status: '403',
        detail: `this token's scopes (scim:read) do not allow ${method} /scim/v2${path}; it needs one of the scopes iam-admin, hr-system, scim:write`,
      });
    }
    expect(await counts()).to.deep.equal(before);
    expect((await scimClient(server.scimUrl, readToken).get(`/Users/${userId}`)).body.active).to.equal(true);
  });

  it('lets a scim:write token read as well as write', async () => {
    const writer = scimClient(server.scimUrl, writeToken);
    expect((await writer.get(`/Users/${userId}`)).status).to.equal(200);
    const changed = await writer.patch(`/Users/${userId}`, patchOf({ op: 'replace', path: 'title', value: 'Auditor' }));
    expect(changed.status, changed.text).to.equal(200);
    expect(changed.body.title).to.equal('Auditor');
  });

  it('serves the discovery documents without a token', async () => {
    const anonymous = scimClient(server.scimUrl);
    for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/Schemas', '/ResourceTypes/User', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User']) {
      const res = await anonymous.get(path);
      expect(res.status, `${path}: ${res.text}`).to.equal(200);
    }
  });

  it('stores only a SHA-256 of each secret: the api_tokens row holds neither the token nor its secret', async () => {
    const name = `auth-stored-${randomUUID().slice(0, 8)}`;
    const token = await server.token('scim:read', name);
    const m = /^iam_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
    expect(m, token).to.not.equal(null);
    const [id, secret] = [m![1]!, m![2]!];
    const rows = await server.services.db.query<Record<string, unknown>>('SELECT * FROM api_tokens WHERE name = ?', [name]);
    expect(rows).to.have.length(1);
    const row = rows[0]!;
    expect(row.id).to.equal(id);
    expect(row.secret_hash).to.equal(createHash('sha256').update(secret).digest('hex'));
    const stored = JSON.stringify(row);
    expect(stored).to.not.include(secret);
    expect(stored).to.not.include(token);
    // The hash of the secret is not a hash of the whole token either way round.
    expect(row.secret_hash).to.not.equal(createHash('sha256').update(token).digest('hex'));
  });

  it('never writes a token or its secret to the log or the audit trail', async () => {
    const name = `auth-trace-${randomUUID().slice(0, 8)}`;
    const token = await server.token('scim:write', name);
    const client = scimClient(server.scimUrl, token);
    const user = await client.post('/Users', newUser());
    expect(user.status).to.equal(201);
    expect((await client.patch(`/Users/${user.body.id}`, patchOf({ op: 'replace', path: 'title', value: 'x' }))).status).to.equal(200);
    expect((await client.get('/Users/does-not-exist')).status).to.equal(404);
    // A failing request, a revoked one and a wrong secret for a real id are logged too.
    expect((await client.post('/Users', '{"broken":')).status).to.equal(400);
    const wrong = `${token.slice(0, 21)}${'C'.repeat(43)}`;
    expect((await scimClient(server.scimUrl, wrong).get('/Users')).status).to.equal(401);
    await server.services.tokens.revoke(name, 'test');
    expect((await client.get('/Users')).status).to.equal(401);

    const secret = token.slice(21);
    const logs = server.logLines.join('\n');
    // The log did record these requests, with the token's name as actor: what is absent is the secret.
    expect(logs).to.include(`"actor":"${name}"`);
    for (const needle of [token, secret, wrong.slice(21)]) expect(logs).to.not.include(needle);
    const audit = await server.services.db.query<Record<string, unknown>>('SELECT * FROM audit_events');
    const trail = JSON.stringify(audit);
    expect(trail).to.include(`token:${name}`);
    for (const needle of [token, secret]) expect(trail).to.not.include(needle);
  });
});
