import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createTestDatabase, onEachDatabase, type TestDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { GROUP_SCHEMA, newUser, patchOf, PATCH_OP, scimClient, USER_SCHEMA, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/*
 * A corpus of client mistakes. Each one must get a 4xx with a SCIM error body (RFC 7644 §3.12:
 * the Error schema, the status as a string, the scimType where the RFC defines one) and must
 * leave the database exactly as it was. None may ever be a 500.
 */

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const TABLES = ['identities', 'identity_values', 'directory_groups', 'group_members', 'audit_events'] as const;

type Counts = Record<(typeof TABLES)[number], number>;

async function counts(server: TestServer): Promise<Counts> {
  const out = {} as Counts;
  for (const table of TABLES) {
    const [{ n }] = (await server.services.db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`)) as [{ n: number | string }];
    out[table] = Number(n);
  }
  return out;
}

/** Asserts an RFC 7644 §3.12 error body; `scimType: null` asserts that none is sent. */
function expectScimError(res: ScimResponse, status: number, scimType: string | null): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
  expect(res.body, res.text).to.be.an('object');
  expect(res.body.schemas).to.deep.equal([ERROR]);
  expect(res.body.status).to.equal(String(status));
  if (scimType === null) expect(res.body).to.not.have.property('scimType');
  else expect(res.body.scimType).to.equal(scimType);
  expect(res.body.detail).to.be.a('string').and.not.equal('');
}

interface Fixture {
  userId: string;
  userName: string;
  otherUserName: string;
  groupId: string;
  memberId: string;
}

interface BadCase {
  name: string;
  method: string;
  path: (f: Fixture) => string;
  /** A string is sent as is. */
  body?: (f: Fixture) => unknown;
  headers?: Record<string, string>;
  status: number;
  /** The RFC 7644 §3.12 type; null where the RFC defines none for this failure. */
  scimType: string | null;
}

const users = (f: Fixture) => `/Users/${f.userId}`;
const groups = (f: Fixture) => `/Groups/${f.groupId}`;
const q = (filter: string) => `/Users?filter=${encodeURIComponent(filter)}`;
const user = (extra: Record<string, unknown>) => () => newUser(extra);
const ops = (...operations: unknown[]) => () => patchOf(...operations);

const CORPUS: BadCase[] = [
  // Bodies that are not a JSON object.
  { name: 'malformed JSON', method: 'POST', path: () => '/Users', body: () => '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":', status: 400, scimType: 'invalidSyntax' },
  { name: 'JSON with a trailing comma', method: 'POST', path: () => '/Users', body: () => '{"userName":"a@b.c",}', status: 400, scimType: 'invalidSyntax' },
  { name: 'a JSON array', method: 'POST', path: () => '/Users', body: () => JSON.stringify([newUser()]), status: 400, scimType: 'invalidSyntax' },
  { name: 'a JSON string', method: 'POST', path: () => '/Users', body: () => '"user.name@example.com"', status: 400, scimType: 'invalidSyntax' },
  { name: 'a JSON number', method: 'POST', path: () => '/Users', body: () => '42', status: 400, scimType: 'invalidSyntax' },
  { name: 'JSON null', method: 'POST', path: () => '/Users', body: () => 'null', status: 400, scimType: 'invalidSyntax' },
  { name: 'an empty body', method: 'POST', path: () => '/Users', body: () => '', headers: { 'content-type': 'application/scim+json' }, status: 400, scimType: 'invalidSyntax' },
  { name: 'a JSON array as PATCH body', method: 'PATCH', path: users, body: () => '[{"op":"add","path":"title","value":"x"}]', status: 400, scimType: 'invalidSyntax' },

  // Media types.
  { name: 'Content-Type: text/plain', method: 'POST', path: () => '/Users', body: () => JSON.stringify(newUser()), headers: { 'content-type': 'text/plain' }, status: 415, scimType: null },
  { name: 'Content-Type: application/x-www-form-urlencoded', method: 'POST', path: () => '/Users', body: () => 'userName=a%40b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, scimType: null },
  { name: 'Content-Type: application/xml on PATCH', method: 'PATCH', path: users, body: () => '<PatchOp/>', headers: { 'content-type': 'application/xml' }, status: 415, scimType: null },

  // Wrong types and schema violations.
  { name: 'userName as a number', method: 'POST', path: () => '/Users', body: user({ userName: 12345 }), status: 400, scimType: 'invalidValue' },
  { name: 'emails as a string', method: 'POST', path: () => '/Users', body: user({ emails: 'a@b.c' }), status: 400, scimType: 'invalidValue' },
  { name: 'emails[].value as a number', method: 'POST', path: () => '/Users', body: user({ emails: [{ value: 42 }] }), status: 400, scimType: 'invalidValue' },
  { name: 'active "maybe"', method: 'POST', path: () => '/Users', body: user({ active: 'maybe' }), status: 400, scimType: 'invalidValue' },
  { name: 'name as a string', method: 'POST', path: () => '/Users', body: user({ name: 'Ada Lovelace' }), status: 400, scimType: 'invalidValue' },
  { name: 'an unknown schema URN, with data under it', method: 'POST', path: () => '/Users', body: user({ schemas: [USER_SCHEMA, 'urn:example:params:scim:schemas:unknown:2.0:Thing'], 'urn:example:params:scim:schemas:unknown:2.0:Thing': { shoeSize: 42 } }), status: 400, scimType: 'invalidValue' },
  { name: 'schemas without the core User schema', method: 'POST', path: () => '/Users', body: user({ schemas: [] }), status: 400, scimType: 'invalidValue' },
  { name: 'a group body posted to /Users', method: 'POST', path: () => '/Users', body: () => ({ schemas: [GROUP_SCHEMA], displayName: 'x' }), status: 400, scimType: 'invalidValue' },
  { name: 'missing userName', method: 'POST', path: () => '/Users', body: user({ userName: undefined }), status: 400, scimType: 'invalidValue' },
  { name: 'a blank userName', method: 'POST', path: () => '/Users', body: user({ userName: '   ' }), status: 400, scimType: 'invalidValue' },
  { name: 'a userName of 300 characters', method: 'POST', path: () => '/Users', body: user({ userName: `${'a'.repeat(288)}@example.com` }), status: 400, scimType: 'invalidValue' },
  { name: 'an email value of 600 characters', method: 'POST', path: () => '/Users', body: user({ emails: [{ value: `${'e'.repeat(588)}@example.com` }] }), status: 400, scimType: 'invalidValue' },
  { name: 'a User of 8,000 emails (larger than a stored document may be)', method: 'POST', path: () => '/Users', body: user({ emails: Array.from({ length: 8000 }, (_, i) => ({ value: `mail${i}@example.com`, type: 'other' })) }), status: 400, scimType: 'invalidValue' },
  { name: 'a taken userName, in other case', method: 'POST', path: () => '/Users', body: (f) => newUser({ userName: f.otherUserName.toUpperCase() }), status: 409, scimType: 'uniqueness' },
  { name: 'PUT with a wrong type', method: 'PUT', path: users, body: (f) => newUser({ userName: f.userName, active: 'sometimes' }), status: 400, scimType: 'invalidValue' },
  { name: 'PUT taking another user\'s userName', method: 'PUT', path: users, body: (f) => newUser({ userName: f.otherUserName }), status: 409, scimType: 'uniqueness' },
  { name: 'PUT to an unknown id', method: 'PUT', path: () => `/Users/${randomUUID()}`, body: user({}), status: 404, scimType: null },
  { name: 'a group without displayName', method: 'POST', path: () => '/Groups', body: () => ({ schemas: [GROUP_SCHEMA] }), status: 400, scimType: 'invalidValue' },
  { name: 'a group naming an unknown member', method: 'POST', path: () => '/Groups', body: (f) => ({ schemas: [GROUP_SCHEMA], displayName: 'g', members: [{ value: f.userId }, { value: randomUUID() }] }), status: 400, scimType: 'invalidValue' },
  { name: 'a group member without value', method: 'POST', path: () => '/Groups', body: () => ({ schemas: [GROUP_SCHEMA], displayName: 'g', members: [{ display: 'x' }] }), status: 400, scimType: 'invalidValue' },

  // Absurd PATCH bodies.
  { name: 'Operations not a list', method: 'PATCH', path: users, body: () => ({ schemas: [PATCH_OP], Operations: { op: 'add', path: 'title', value: 'x' } }), status: 400, scimType: 'invalidValue' },
  { name: 'Operations empty', method: 'PATCH', path: users, body: () => ({ schemas: [PATCH_OP], Operations: [] }), status: 400, scimType: 'invalidValue' },
  { name: 'no Operations at all', method: 'PATCH', path: users, body: () => ({ schemas: [PATCH_OP] }), status: 400, scimType: 'invalidValue' },
  { name: 'a PATCH declaring another schema', method: 'PATCH', path: users, body: () => ({ schemas: [USER_SCHEMA], Operations: [{ op: 'add', path: 'title', value: 'x' }] }), status: 400, scimType: 'invalidSyntax' },
  { name: 'an operation that is a string', method: 'PATCH', path: users, body: () => ({ schemas: [PATCH_OP], Operations: ['add title x'] }), status: 400, scimType: 'invalidSyntax' },
  { name: 'op missing', method: 'PATCH', path: users, body: ops({ path: 'title', value: 'x' }), status: 400, scimType: 'invalidSyntax' },
  { name: 'op "delete"', method: 'PATCH', path: users, body: ops({ op: 'delete', path: 'title' }), status: 400, scimType: 'invalidSyntax' },
  { name: 'op as a number', method: 'PATCH', path: users, body: ops({ op: 1, path: 'title', value: 'x' }), status: 400, scimType: 'invalidSyntax' },
  { name: 'path as a number', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 42, value: 'x' }), status: 400, scimType: 'invalidPath' },
  { name: 'path naming no attribute', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'favouriteColour', value: 'x' }), status: 400, scimType: 'invalidPath' },
  { name: 'path with a broken filter', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'emails[type eq "work"', value: 'x' }), status: 400, scimType: 'invalidPath' },
  { name: 'remove without a path', method: 'PATCH', path: users, body: ops({ op: 'remove', value: { title: 'x' } }), status: 400, scimType: 'noTarget' },
  { name: 'replace without a value', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'title' }), status: 400, scimType: 'invalidValue' },
  { name: 'add without a path and a non-object value', method: 'PATCH', path: users, body: ops({ op: 'add', value: ['title', 'x'] }), status: 400, scimType: 'invalidValue' },
  { name: 'replace active with "maybe"', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'active', value: 'maybe' }), status: 400, scimType: 'invalidValue' },
  { name: 'replace of the read-only groups', method: 'PATCH', path: users, body: (f) => patchOf({ op: 'add', path: 'groups', value: [{ value: f.groupId }] }), status: 400, scimType: 'mutability' },
  { name: 'a good operation followed by a bad one (all or nothing)', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'title', value: 'Changed' }, { op: 'replace', path: 'nope', value: 'x' }), status: 400, scimType: 'invalidPath' },
  { name: 'replace userName with 300 characters', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'userName', value: 'u'.repeat(300) }), status: 400, scimType: 'invalidValue' },
  { name: 'replace userName with a taken one', method: 'PATCH', path: users, body: (f) => patchOf({ op: 'replace', path: 'userName', value: f.otherUserName }), status: 409, scimType: 'uniqueness' },
  { name: 'PATCH with a stale If-Match', method: 'PATCH', path: users, body: ops({ op: 'replace', path: 'title', value: 'x' }), headers: { 'if-match': 'W/"999"' }, status: 412, scimType: 'invalidVers' },
  { name: 'PATCH of an unknown user', method: 'PATCH', path: () => `/Users/${randomUUID()}`, body: ops({ op: 'replace', path: 'title', value: 'x' }), status: 404, scimType: null },
  { name: 'group: add a known and an unknown member (all or nothing)', method: 'PATCH', path: groups, body: (f) => patchOf({ op: 'add', path: 'members', value: [{ value: f.userId }, { value: randomUUID() }] }), status: 400, scimType: 'invalidValue' },
  { name: 'group: add itself as a member', method: 'PATCH', path: groups, body: (f) => patchOf({ op: 'add', path: 'members', value: [{ value: f.groupId }] }), status: 400, scimType: 'invalidValue' },
  { name: 'group: member value as a number', method: 'PATCH', path: groups, body: ops({ op: 'add', path: 'members', value: [{ value: 7 }] }), status: 400, scimType: 'invalidValue' },
  { name: 'group: replace members[filter]', method: 'PATCH', path: groups, body: (f) => patchOf({ op: 'replace', path: `members[value eq "${f.memberId}"]`, value: { value: f.userId } }), status: 400, scimType: 'invalidPath' },
  { name: 'group: a members sub-attribute path', method: 'PATCH', path: groups, body: (f) => patchOf({ op: 'remove', path: `members[value eq "${f.memberId}"].display` }), status: 400, scimType: 'invalidPath' },
  { name: 'group: remove displayName', method: 'PATCH', path: groups, body: ops({ op: 'remove', path: 'displayName' }), status: 400, scimType: 'invalidValue' },
  { name: 'group: displayName of 300 characters', method: 'PATCH', path: groups, body: ops({ op: 'replace', path: 'displayName', value: 'g'.repeat(300) }), status: 400, scimType: 'invalidValue' },

  // Filters and list parameters.
  { name: 'a filter of 10,001 characters', method: 'GET', path: () => q(`userName eq "${'a'.repeat(10_001 - 'userName eq ""'.length)}"`), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter nested in 100 parentheses', method: 'GET', path: () => q(`${'('.repeat(100)}userName eq "x"${')'.repeat(100)}`), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter with an unbalanced parenthesis', method: 'GET', path: () => q('(userName eq "x"'), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter with an unknown operator', method: 'GET', path: () => q('userName like "x%"'), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter on an unknown attribute', method: 'GET', path: () => q('shoeSize gt 40'), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter missing its value', method: 'GET', path: () => q('userName eq'), status: 400, scimType: 'invalidFilter' },
  { name: 'a filter breaking out of its quotes', method: 'GET', path: () => q('userName eq "x" or "1"="1"'), status: 400, scimType: 'invalidFilter' },
  { name: 'a boolean compared with a word', method: 'GET', path: () => q('active eq maybe'), status: 400, scimType: 'invalidFilter' },
  { name: 'two filter parameters', method: 'GET', path: () => '/Users?filter=userName%20eq%20%22a%22&filter=userName%20eq%20%22b%22', status: 400, scimType: 'invalidFilter' },
  { name: 'count that is not a number', method: 'GET', path: () => '/Users?count=many', status: 400, scimType: 'invalidValue' },
  { name: 'sortOrder sideways', method: 'GET', path: () => '/Users?sortOrder=sideways', status: 400, scimType: 'invalidValue' },
  { name: 'sortBy an unknown attribute', method: 'GET', path: () => '/Users?sortBy=shoeSize', status: 400, scimType: 'invalidValue' },
  { name: '.search with a numeric filter', method: 'POST', path: () => '/Users/.search', body: () => ({ schemas: [SEARCH], filter: 42 }), status: 400, scimType: 'invalidFilter' },
  { name: '.search with a broken filter', method: 'POST', path: () => '/.search', body: () => ({ schemas: [SEARCH], filter: 'userName eq "x" and' }), status: 400, scimType: 'invalidFilter' },
  { name: '.search without its schema', method: 'POST', path: () => '/Groups/.search', body: () => ({ schemas: [PATCH_OP], filter: 'displayName pr' }), status: 400, scimType: 'invalidSyntax' },

  // Bulk envelopes.
  { name: 'Bulk without Operations', method: 'POST', path: () => '/Bulk', body: () => ({ schemas: [BULK] }), status: 400, scimType: 'invalidSyntax' },
  { name: 'Bulk with an operation lacking a method', method: 'POST', path: () => '/Bulk', body: () => ({ schemas: [BULK], Operations: [{ path: '/Users', bulkId: 'a', data: newUser() }] }), status: 400, scimType: 'invalidValue' },

  // Unknown endpoints and methods.
  { name: 'GET of an unknown resource type', method: 'GET', path: () => '/Widgets', status: 404, scimType: null },
  { name: 'GET below a resource', method: 'GET', path: (f) => `/Users/${f.userId}/manager`, status: 404, scimType: null },
  { name: 'DELETE of a whole collection', method: 'DELETE', path: () => '/Users', status: 404, scimType: null },
  { name: 'POST to an unknown resource type', method: 'POST', path: () => '/Devices', body: () => ({ schemas: [USER_SCHEMA], userName: 'x' }), status: 404, scimType: null },
  { name: 'GET of an unknown user id', method: 'GET', path: () => `/Users/${randomUUID()}`, status: 404, scimType: null },
  { name: 'DELETE of an unknown group id', method: 'DELETE', path: () => `/Groups/${randomUUID()}`, status: 404, scimType: null },
  { name: 'POST to a discovery document', method: 'POST', path: () => '/ServiceProviderConfig', body: () => ({}), status: 405, scimType: null },
  { name: 'a filter on a discovery document', method: 'GET', path: () => '/Schemas?filter=id%20eq%20%22x%22', status: 403, scimType: null },

  // Shapes that are not resources, and values no schema allows.
  ...(['"group"', '42', 'null', '[{"displayName":"g"}]'] as const).map((text): BadCase => (
    { name: `a Group body of ${text}`, method: 'POST', path: () => '/Groups', body: () => text, status: 400, scimType: 'invalidSyntax' })),
  { name: 'a null entry among emails on POST', method: 'POST', path: () => '/Users', body: () => ({ ...newUser(), emails: [null, { value: 'n@example.com' }] }), status: 400, scimType: 'invalidValue' },
  { name: 'a PATCH adding a null email', method: 'PATCH', path: users, body: ops({ op: 'add', path: 'emails', value: [null] }), status: 400, scimType: 'invalidValue' },
  { name: 'a group PATCH adding a number without a path', method: 'PATCH', path: groups, body: ops({ op: 'add', value: 5 }), status: 400, scimType: 'invalidValue' },
  { name: 'a group PATCH replacing with null without a path', method: 'PATCH', path: groups, body: ops({ op: 'replace', value: null }), status: 400, scimType: 'invalidValue' },
  { name: 'a user PATCH adding a list without a path', method: 'PATCH', path: users, body: ops({ op: 'add', value: [{ title: 'x' }] }), status: 400, scimType: 'invalidValue' },
];

onEachDatabase('SCIM bad input', (database) => {
  let server: TestServer;
  let scim: ScimClient;
  let token: string;
  const fixture = {} as Fixture;

  before(async () => {
    server = await startTestServer(database().db);
    token = await server.token('scim:write');
    scim = scimClient(server.scimUrl, token);
    const a = await scim.post('/Users', newUser({ title: 'Original' }));
    const b = await scim.post('/Users', newUser());
    const member = await scim.post('/Users', newUser());
    expect([a.status, b.status, member.status]).to.deep.equal([201, 201, 201]);
    const group = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'bad-input group', members: [{ value: member.body.id }] });
    expect(group.status, group.text).to.equal(201);
    Object.assign(fixture, { userId: a.body.id, userName: a.body.userName, otherUserName: b.body.userName, groupId: group.body.id, memberId: member.body.id });
  });
  after(() => server.close());

  for (const c of CORPUS) {
    it(`${c.name} → ${c.status}${c.scimType ? ` ${c.scimType}` : ''}, database unchanged`, async () => {
      const before = await counts(server);
      const body = c.body?.(fixture);
      const res = await scim.request(c.method, c.path(fixture), body, c.headers);
      expectScimError(res, c.status, c.scimType);
      expect(await counts(server)).to.deep.equal(before);
    });
  }

  it('leaves the user and the group exactly as they were after the whole corpus', async () => {
    const u = await scim.get(`/Users/${fixture.userId}`);
    expect(u.body.title).to.equal('Original');
    expect(u.body.userName).to.equal(fixture.userName);
    expect(u.body.meta.version).to.equal('W/"1"');
    const g = await scim.get(`/Groups/${fixture.groupId}`);
    expect(g.body.displayName).to.equal('bad-input group');
    expect(g.body.members.map((m: { value: string }) => m.value)).to.deep.equal([fixture.memberId]);
    expect(g.body.meta.version).to.equal('W/"1"');
  });

  it('refuses a 10 MB body with 413 whether its length is declared or streamed, and stays up', async () => {
    const before = await counts(server);
    const big = JSON.stringify(newUser({ title: 'x'.repeat(10 * 1024 * 1024) }));
    const declared = await scim.post('/Users', big);
    expectScimError(declared, 413, null);
    expect(declared.body.detail).to.equal(`the body is ${Buffer.byteLength(big)} bytes; at most 1048576 are accepted`);

    const bytes = new TextEncoder().encode(big);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
        controller.close();
      },
    });
    const res = await fetch(`${server.scimUrl}/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: stream,
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    const text = await res.text();
    expect(res.status, text).to.equal(413);
    expect(JSON.parse(text)).to.deep.equal({ schemas: [ERROR], status: '413', detail: 'the body is larger than 1048576 bytes' });
    expect(await counts(server)).to.deep.equal(before);
    expect((await scim.get('/Users?count=1')).status).to.equal(200);
  });

  it('accepts valid JSON without a Content-Type header (201)', async () => {
    const body = newUser();
    const res = await fetch(`${server.scimUrl}/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: new TextEncoder().encode(JSON.stringify(body)),
    });
    expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
    const created = (await res.json()) as Record<string, unknown>;
    expect(res.status).to.equal(201);
    expect(created.userName).to.equal(body.userName);
    expect((await scim.get(`/Users/${String(created.id)}`)).status).to.equal(200);
  });

  it('reads a body that starts with a UTF-8 byte order mark as the JSON after it (RFC 8259 §8.1 allows ignoring it)', async () => {
    const body = newUser();
    const res = await scim.post('/Users', `\uFEFF${JSON.stringify(body)}`);
    expect(res.status, res.text).to.equal(201);
    expect(res.body.userName).to.equal(body.userName);
    expect(res.body.schemas).to.deep.equal(body.schemas);
  });

  it('treats filter injection as data: 200 with zero results, nothing changed', async () => {
    const before = await counts(server);
    for (const filter of [
      `userName eq "x' OR 1=1 --"`,
      'userName eq "x\\" or \\"1\\"=\\"1"',
      `userName eq "x'); DROP TABLE identities; --"`,
      'userName co "%"',
      'userName sw "_"',
      `displayName eq "' OR ''='"`,
    ]) {
      const res = await scim.get(q(filter));
      expect(res.status, `${filter}: ${res.text}`).to.equal(200);
      expect(res.body.totalResults, filter).to.equal(0);
      expect(res.body.Resources, filter).to.deep.equal([]);
    }
    const search = await scim.post('/Groups/.search', { schemas: [SEARCH], filter: `displayName eq "x' OR 1=1 --"` });
    expect(search.status).to.equal(200);
    expect(search.body.totalResults).to.equal(0);
    expect(await counts(server)).to.deep.equal(before);
    // The escaped quote was read as part of the value, which a user can really have.
    const odd = await scim.post('/Users', newUser({ userName: 'x" or "1"="1' }));
    expect(odd.status, odd.text).to.equal(201);
    const found = await scim.get(q('userName eq "x\\" or \\"1\\"=\\"1"'));
    expect(found.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([odd.body.id]);
  });

  it('accepts a filter of exactly 10,000 characters (the limit), refusing one more', async () => {
    const filter = `userName eq "${'a'.repeat(10_000 - 'userName eq ""'.length)}"`;
    expect(filter).to.have.length(10_000);
    const res = await scim.get(q(filter));
    expect(res.status, res.text).to.equal(200);
    expect(res.body.totalResults).to.equal(0);
    const over = await scim.get(q(`${filter} `));
    expectScimError(over, 400, 'invalidFilter');
  });

  it('never answered a client mistake with a 500, nor logged an unexpected error', () => {
    const errors = server.logLines.filter((line) => (JSON.parse(line) as { level: string }).level === 'error');
    expect(errors).to.deep.equal([]);
    const statuses = server.logLines
      .map((line) => JSON.parse(line) as { msg: string; status?: number })
      .filter((l) => l.msg === 'request')
      .map((l) => l.status!);
    expect(statuses.length).to.be.greaterThan(CORPUS.length);
    expect(statuses.filter((s) => s >= 500)).to.deep.equal([]);
  });
});

onEachDatabase('SCIM unexpected fault', (database) => {
  let own: TestDatabase;
  let server: TestServer;

  before(async function () {
    this.timeout(60_000);
    // A database of its own, so closing it cannot disturb the suite's shared one.
    own = await createTestDatabase(database().kind);
    server = await startTestServer(own.db);
  });
  after(async () => {
    await server.close();
    await own.drop();
  });

  it('answers 500 with an opaque SCIM body that leaks no stack, SQL or driver text, and logs the cause', async () => {
    const scim = scimClient(server.scimUrl, await server.token());
    expect((await scim.get('/Users')).status).to.equal(200);
    await own.db.close();

    const res = await scim.get('/Users?filter=userName%20eq%20%22someone%40example.com%22', { 'x-request-id': 'fault-probe-1' });
    expect(res.status, res.text).to.equal(500);
    expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
    expect(res.headers.get('x-request-id')).to.equal('fault-probe-1');
    expect(res.body).to.deep.equal({
      schemas: [ERROR],
      status: '500',
      detail: 'internal error; quote request id fault-probe-1 to the administrator',
    });
    for (const leak of [/select/i, /from /i, /sqlite/i, /mysql|maria/i, /typeorm/i, /QueryFailed|TypeORMError|Error:/, /\bat [\w.<]+ \(/, /\/work\/|node_modules|\.ts\b/, /stack/i]) {
      expect(res.text).to.not.match(leak);
    }
    // A write fails the same way, and the cause is in the log under the request id.
    const write = await scim.post('/Users', newUser(), { 'x-request-id': 'fault-probe-2' });
    expect(write.status).to.equal(500);
    expect(write.body.detail).to.equal('internal error; quote request id fault-probe-2 to the administrator');
    const logged = server.logLines.map((l) => JSON.parse(l) as { level: string; requestId?: string; msg: string; err?: { message?: string } });
    const fault = logged.find((l) => l.level === 'error' && l.requestId === 'fault-probe-1');
    expect(fault?.msg).to.equal('unexpected error in SCIM request');
    expect(fault?.err?.message).to.be.a('string').and.not.equal('');
  });
});
