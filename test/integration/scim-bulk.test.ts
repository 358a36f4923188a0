import { expect } from 'chai';
import { configWith } from '../../src/config/index.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, withScimServer, type TestServer } from '../support/server.js';
import { ENTERPRISE, GROUP_SCHEMA, newUser, patchOf, scimClient, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/* POST /Bulk from RFC 7644 §3.7: operations, bulkId references, failOnErrors and the limits. */

type Doc = Record<string, any>;

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

const bulkOf = (Operations: unknown[], extra: Doc = {}) => ({ schemas: [BULK_REQUEST], Operations, ...extra });

let counter = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${++counter}`;
const groupBody = (displayName: string, members: string[] = []) => ({ schemas: [GROUP_SCHEMA], displayName, members: members.map((value) => ({ value })) });

function expectError(res: ScimResponse, status: number, scimType?: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.schemas).to.deep.equal([ERROR_SCHEMA]);
  expect(res.body.status).to.equal(String(status));
  if (scimType === undefined) expect(res.body).to.not.have.property('scimType');
  else expect(res.body.scimType).to.equal(scimType);
}

onEachDatabase('SCIM Bulk (RFC 7644 §3.7)', (database) => {
  let server!: TestServer;
  let scim!: ScimClient;
  withScimServer(database, (s, c) => ([server, scim] = [s, c]));

  const userUrl = (id: string) => `${server.scimUrl}/Users/${id}`;
  const groupUrl = (id: string) => `${server.scimUrl}/Groups/${id}`;
  /** The id at the end of a location URL of this server. */
  const idOf = (location: string, endpoint: 'Users' | 'Groups') => {
    const prefix = `${server.scimUrl}/${endpoint}/`;
    expect(location.startsWith(prefix), location).to.equal(true);
    return location.slice(prefix.length);
  };

  async function bulk(body: unknown): Promise<Doc[]> {
    const res = await scim.post('/Bulk', body);
    expect(res.status, res.text).to.equal(200);
    expect(res.body.schemas).to.deep.equal([BULK_RESPONSE]);
    return res.body.Operations as Doc[];
  }

  async function countUsers(userName: string): Promise<number> {
    return (await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`)).body.totalResults;
  }

  async function countGroups(displayName: string): Promise<number> {
    return (await scim.get(`/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}`)).body.totalResults;
  }

  async function createUser(body: Doc = newUser()): Promise<Doc> {
    const res = await scim.post('/Users', body);
    expect(res.status).to.equal(201);
    return res.body;
  }

  const errorOf = (status: number, scimType?: string) => ({
    schemas: [ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}),
  });

  it('runs POST, PUT, PATCH and DELETE and reports each status, location and version', async () => {
    const toReplace = await createUser();
    const toDelete = await createUser();
    const group = (await scim.post('/Groups', groupBody(unique('bulk-patch')))).body;
    const created = newUser();
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'qwerty', data: created },
      { method: 'PUT', path: `/Users/${toReplace.id}`, data: { ...newUser(), userName: toReplace.userName, nickName: 'replaced' } },
      { method: 'PATCH', path: `/Groups/${group.id}`, data: patchOf({ op: 'add', path: 'members', value: [{ value: toReplace.id }] }) },
      { method: 'DELETE', path: `/Users/${toDelete.id}` },
    ]));
    const newId = idOf(ops[0]!.location, 'Users');
    expect(ops).to.deep.equal([
      { method: 'POST', bulkId: 'qwerty', location: userUrl(newId), version: 'W/"1"', status: '201' },
      { method: 'PUT', location: userUrl(toReplace.id), version: 'W/"2"', status: '200' },
      { method: 'PATCH', location: groupUrl(group.id), version: 'W/"2"', status: '204' },
      { method: 'DELETE', location: userUrl(toDelete.id), status: '204' },
    ]);
    const read = await scim.get(`/Users/${newId}`);
    expect(read.body.userName).to.equal(created.userName);
    expect(read.body.meta.version).to.equal('W/"1"');
    expect((await scim.get(`/Users/${toReplace.id}`)).body.nickName).to.equal('replaced');
    expect((await scim.get(`/Groups/${group.id}`)).body.members.map((m: Doc) => m.value)).to.deep.equal([toReplace.id]);
    expect((await scim.get(`/Users/${toDelete.id}`)).status).to.equal(404);
  });

  it('substitutes "bulkId:x" in group members with the id created earlier in the request', async () => {
    const name = unique('bulk-members');
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'u1', data: newUser() },
      { method: 'POST', path: '/Users', bulkId: 'u2', data: newUser() },
      { method: 'POST', path: '/Groups', bulkId: 'g1', data: { schemas: [GROUP_SCHEMA], displayName: name, members: [{ type: 'User', value: 'bulkId:u1' }, { type: 'User', value: 'bulkId:u2' }] } },
    ]));
    expect(ops.map((o) => [o.method, o.bulkId, o.status, o.version])).to.deep.equal([
      ['POST', 'u1', '201', 'W/"1"'], ['POST', 'u2', '201', 'W/"1"'], ['POST', 'g1', '201', 'W/"1"'],
    ]);
    const [u1, u2] = [idOf(ops[0]!.location, 'Users'), idOf(ops[1]!.location, 'Users')];
    const group = (await scim.get(`/Groups/${idOf(ops[2]!.location, 'Groups')}`)).body;
    expect(group.displayName).to.equal(name);
    expect(group.members.map((m: Doc) => m.value).sort()).to.deep.equal([u1, u2].sort());
  });

  it('substitutes "bulkId:x" in the enterprise manager.value', async () => {
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'boss', data: newUser() },
      { method: 'POST', path: '/Users', bulkId: 'report', data: newUser({ [ENTERPRISE]: { department: 'Ops', manager: { value: 'bulkId:boss' } } }) },
    ]));
    expect(ops.map((o) => o.status)).to.deep.equal(['201', '201']);
    const boss = idOf(ops[0]!.location, 'Users');
    const report = (await scim.get(`/Users/${idOf(ops[1]!.location, 'Users')}`)).body;
    expect(report[ENTERPRISE]).to.deep.equal({ department: 'Ops', manager: { value: boss } });
  });

  it('resolves forward references: an operation may use a bulkId a later operation defines', async () => {
    const name = unique('bulk-forward');
    const manager = newUser();
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Groups', bulkId: 'g1', data: groupBody(name, ['bulkId:u1']) },
      { method: 'POST', path: '/Users', bulkId: 'u2', data: newUser({ [ENTERPRISE]: { manager: { value: 'bulkId:u1' } } }) },
      { method: 'PATCH', path: '/Users/bulkId:u1', data: patchOf({ op: 'add', path: 'nickName', value: 'patched by bulkId path' }) },
      { method: 'POST', path: '/Users', bulkId: 'u1', data: manager },
    ]));
    // The response lists operations in request order, whatever order they ran in.
    expect(ops.map((o) => [o.method, o.bulkId, o.status])).to.deep.equal([
      ['POST', 'g1', '201'], ['POST', 'u2', '201'], ['PATCH', undefined, '200'], ['POST', 'u1', '201'],
    ]);
    const u1 = idOf(ops[3]!.location, 'Users');
    expect(ops[2]).to.deep.equal({ method: 'PATCH', location: userUrl(u1), version: 'W/"2"', status: '200' });
    const group = (await scim.get(`/Groups/${idOf(ops[0]!.location, 'Groups')}`)).body;
    expect(group.members.map((m: Doc) => m.value)).to.deep.equal([u1]);
    expect((await scim.get(`/Users/${idOf(ops[1]!.location, 'Users')}`)).body[ENTERPRISE]).to.deep.equal({ manager: { value: u1 } });
    const created = (await scim.get(`/Users/${u1}`)).body;
    expect([created.userName, created.nickName]).to.deep.equal([manager.userName, 'patched by bulkId path']);
  });

  it('fails each operation of a circular reference with 409 and creates none of them', async () => {
    const [a, b] = [unique('cycle-a'), unique('cycle-b')];
    const independent = newUser();
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Groups', bulkId: 'ga', data: groupBody(a, ['bulkId:gb']) },
      { method: 'POST', path: '/Groups', bulkId: 'gb', data: groupBody(b, ['bulkId:ga']) },
      { method: 'POST', path: '/Users', bulkId: 'free', data: independent },
    ]));
    expect(ops).to.have.length(3);
    expect(ops[0]).to.deep.equal({
      method: 'POST', bulkId: 'ga', status: '409',
      response: { ...errorOf(409), detail: 'circular bulkId reference (ga -> gb -> ga): operation 1 waits for bulkId "gb", which waits for it in turn' },
    });
    expect(ops[1]).to.deep.equal({
      method: 'POST', bulkId: 'gb', status: '409',
      response: { ...errorOf(409), detail: 'circular bulkId reference (gb -> ga -> gb): operation 2 waits for bulkId "ga", which waits for it in turn' },
    });
    expect([ops[2]!.bulkId, ops[2]!.status]).to.deep.equal(['free', '201']);
    expect(await countGroups(a)).to.equal(0);
    expect(await countGroups(b)).to.equal(0);
    expect(await countUsers(independent.userName as string)).to.equal(1);
  });

  it('fails an operation that waits on a cycle with 409 too', async () => {
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'x', data: newUser({ [ENTERPRISE]: { manager: { value: 'bulkId:y' } } }) },
      { method: 'POST', path: '/Users', bulkId: 'y', data: newUser({ [ENTERPRISE]: { manager: { value: 'bulkId:x' } } }) },
      { method: 'PATCH', path: '/Users/bulkId:x', data: patchOf({ op: 'add', path: 'nickName', value: 'n' }) },
    ]));
    expect(ops.map((o) => o.status)).to.deep.equal(['409', '409', '409']);
    expect(ops[2]!.response.detail).to.equal('operation 3 waits for bulkId "x", which is caught in a circular bulkId reference');
    expect(ops[2]).to.not.have.property('location');
  });

  it('fails an operation naming an unknown bulkId, and runs the others', async () => {
    const name = unique('unknown-ref');
    const other = newUser();
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Groups', bulkId: 'g1', data: groupBody(name, ['bulkId:nobody']) },
      { method: 'POST', path: '/Users', bulkId: 'u1', data: other },
    ]));
    expect(ops[0]).to.deep.equal({
      method: 'POST', bulkId: 'g1', status: '400',
      response: { ...errorOf(400, 'invalidValue'), detail: 'bulkId "nobody" is not defined by any POST in this request' },
    });
    expect([ops[1]!.bulkId, ops[1]!.status]).to.deep.equal(['u1', '201']);
    expect(await countGroups(name)).to.equal(0);
    expect(await countUsers(other.userName as string)).to.equal(1);
  });

  it('fails an operation whose bulkId reference names a failed POST with 409', async () => {
    const taken = await createUser();
    const name = unique('failed-ref');
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'dup', data: newUser({ userName: taken.userName.toUpperCase() }) },
      { method: 'POST', path: '/Groups', bulkId: 'g', data: groupBody(name, ['bulkId:dup']) },
    ]));
    expect(ops[0]).to.deep.include({ method: 'POST', bulkId: 'dup', status: '409' });
    expect(ops[0]).to.not.have.property('location');
    expect(ops[0]!.response).to.deep.include(errorOf(409, 'uniqueness'));
    expect(ops[1]).to.deep.equal({ method: 'POST', bulkId: 'g', status: '409', response: { ...errorOf(409), detail: 'the operation with bulkId "dup" failed' } });
    expect(await countGroups(name)).to.equal(0);
  });

  it('reports a failed PUT, PATCH or DELETE with its location and SCIM error', async () => {
    const missing = '6c1e7a8e-0000-4000-8000-0000000000aa';
    const user = await createUser();
    const ops = await bulk(bulkOf([
      { method: 'DELETE', path: `/Users/${missing}` },
      { method: 'PATCH', path: `/Users/${user.id}`, data: patchOf({ op: 'replace', path: 'id', value: 'x' }) },
      { method: 'PUT', path: `/Users/${user.id}`, version: 'W/"7"', data: { ...newUser(), userName: user.userName } },
    ]));
    expect(ops[0]).to.deep.equal({ method: 'DELETE', location: userUrl(missing), status: '404', response: { ...errorOf(404), detail: `User ${missing} not found` } });
    expect(ops[1]).to.deep.include({ method: 'PATCH', location: userUrl(user.id), status: '400' });
    expect(ops[1]!.response).to.deep.include(errorOf(400, 'mutability'));
    expect(ops[2]).to.deep.include({ method: 'PUT', location: userUrl(user.id), status: '412' });
    expect(ops[2]!.response).to.deep.include(errorOf(412, 'invalidVers'));
    expect((await scim.get(`/Users/${user.id}`)).body).to.deep.equal(user);
  });

  it('uses an operation\'s "version" as If-Match', async () => {
    const user = await createUser();
    const ops = await bulk(bulkOf([
      { method: 'PATCH', path: `/Users/${user.id}`, version: 'W/"1"', data: patchOf({ op: 'add', path: 'title', value: 'first' }) },
      { method: 'PATCH', path: `/Users/${user.id}`, version: 'W/"1"', data: patchOf({ op: 'add', path: 'title', value: 'second' }) },
    ]));
    expect(ops.map((o) => [o.status, o.version])).to.deep.equal([['200', 'W/"2"'], ['412', undefined]]);
    expect((await scim.get(`/Users/${user.id}`)).body.title).to.equal('first');
  });

  it('failOnErrors: 1 stops after the first error; later operations neither run nor appear', async () => {
    const later = newUser();
    const ops = await bulk(bulkOf([
      { method: 'POST', path: '/Users', bulkId: 'ok', data: newUser() },
      { method: 'DELETE', path: '/Users/6c1e7a8e-0000-4000-8000-0000000000bb' },
      { method: 'POST', path: '/Users', bulkId: 'later', data: later },
    ], { failOnErrors: 1 }));
    expect(ops.map((o) => [o.method, o.status])).to.deep.equal([['POST', '201'], ['DELETE', '404']]);
    expect(await countUsers(later.userName as string)).to.equal(0);
  });

  it('failOnErrors: 2 accepts one error and stops at the second', async () => {
    const later = newUser();
    const ops = await bulk(bulkOf([
      { method: 'DELETE', path: '/Users/6c1e7a8e-0000-4000-8000-0000000000c1' },
      { method: 'POST', path: '/Users', bulkId: 'mid', data: newUser() },
      { method: 'DELETE', path: '/Users/6c1e7a8e-0000-4000-8000-0000000000c2' },
      { method: 'POST', path: '/Users', bulkId: 'later', data: later },
    ], { failOnErrors: 2 }));
    expect(ops.map((o) => o.status)).to.deep.equal(['404', '201', '404']);
    expect(await countUsers(later.userName as string)).to.equal(0);
  });

  it('without failOnErrors runs every operation whatever fails', async () => {
    const later = newUser();
    const ops = await bulk(bulkOf([
      { method: 'DELETE', path: '/Users/6c1e7a8e-0000-4000-8000-0000000000d1' },
      { method: 'DELETE', path: '/Users/6c1e7a8e-0000-4000-8000-0000000000d2' },
      { method: 'POST', path: '/Users', bulkId: 'later', data: later },
    ]));
    expect(ops.map((o) => o.status)).to.deep.equal(['404', '404', '201']);
    expect(await countUsers(later.userName as string)).to.equal(1);
  });

  for (const [title, body, scimType] of [
    ['a body without the BulkRequest schema', { Operations: [] }, 'invalidSyntax'],
    ['a POST without bulkId', bulkOf([{ method: 'POST', path: '/Users', data: newUser() }]), 'invalidValue'],
    ['a bulkId used twice', bulkOf([{ method: 'POST', path: '/Users', bulkId: 'a', data: newUser() }, { method: 'POST', path: '/Users', bulkId: 'a', data: newUser() }]), 'invalidValue'],
    ['an unknown method', bulkOf([{ method: 'GET', path: '/Users' }]), 'invalidValue'],
  ] as [string, Doc, string][]) {
    it(`refuses ${title} with 400 ${scimType} and runs nothing`, async () => {
      const ops = (body.Operations ?? []) as Doc[];
      expectError(await scim.post('/Bulk', body), 400, scimType);
      for (const op of ops) if (op.data?.userName) expect(await countUsers(op.data.userName)).to.equal(0);
    });
  }

  it('ServiceProviderConfig advertises the default bulk limits', async () => {
    const { scim: limits } = configWith();
    const res = await scimClient(server.scimUrl).get('/ServiceProviderConfig');
    expect(res.body.bulk).to.deep.equal({ supported: true, maxOperations: limits.bulkMaxOperations, maxPayloadSize: limits.bulkMaxPayloadBytes });
  });

  describe('limits (bulkMaxOperations 3, bulkMaxPayloadBytes 2000)', () => {
    let small: TestServer;
    let client: ScimClient;
    before(async () => {
      small = await startTestServer(database().db, { scim: { bulkMaxOperations: 3, bulkMaxPayloadBytes: 2000 } });
      client = scimClient(small.scimUrl, await small.token());
    });
    after(() => small.close());

    /** A User body small enough for four of them to stay under 2000 bytes. */
    const tiny = () => ({ userName: unique('t') });

    it('ServiceProviderConfig advertises exactly those limits', async () => {
      const res = await scimClient(small.scimUrl).get('/ServiceProviderConfig');
      expect(res.status).to.equal(200);
      expect(res.body.bulk).to.deep.equal({ supported: true, maxOperations: 3, maxPayloadSize: 2000 });
    });

    it('accepts exactly maxOperations operations', async () => {
      const res = await client.post('/Bulk', bulkOf([1, 2, 3].map((i) => ({ method: 'POST', path: '/Users', bulkId: `u${i}`, data: tiny() }))));
      expect(res.status, res.text).to.equal(200);
      expect(res.body.Operations.map((o: Doc) => o.status)).to.deep.equal(['201', '201', '201']);
    });

    it('answers 413 tooMany for more than maxOperations, and runs none of them', async () => {
      const users = [1, 2, 3, 4].map(() => tiny());
      const body = bulkOf(users.map((data, i) => ({ method: 'POST', path: '/Users', bulkId: `u${i}`, data })));
      expect(JSON.stringify(body).length).to.be.below(2000);
      const res = await client.post('/Bulk', body);
      expectError(res, 413, 'tooMany');
      expect(res.body.detail).to.equal('the request has 4 operations; at most 3 are accepted');
      for (const u of users) expect(await countUsers(u.userName)).to.equal(0);
    });

    it('accepts a payload just under maxPayloadSize', async () => {
      // Filler in five entitlements (each value well under the 512-character column limit).
      const data = { ...tiny(), entitlements: [0, 1, 2, 3, 4].map(() => ({ value: '' })) };
      const envelope = JSON.stringify(bulkOf([{ method: 'POST', path: '/Users', bulkId: 'big', data }])).length;
      const room = 2000 - envelope;
      data.entitlements.forEach((e, i) => { e.value = `${i}`.padEnd(Math.floor(room / 5) + (i < room % 5 ? 1 : 0), 'x'); });
      const text = JSON.stringify(bulkOf([{ method: 'POST', path: '/Users', bulkId: 'big', data }]));
      expect(Buffer.byteLength(text)).to.equal(2000);
      const res = await client.post('/Bulk', text);
      expect(res.status, res.text).to.equal(200);
      expect(res.body.Operations[0].status).to.equal('201');
    });

    it('answers 413 for a payload bigger than maxPayloadSize, and runs nothing', async () => {
      const data = { ...tiny(), title: 'x'.repeat(2000) };
      const text = JSON.stringify(bulkOf([{ method: 'POST', path: '/Users', bulkId: 'big', data }]));
      const res = await client.post('/Bulk', text);
      expect(res.status).to.equal(413);
      expect(res.body.schemas).to.deep.equal([ERROR_SCHEMA]);
      expect(res.body.status).to.equal('413');
      expect(res.body.detail).to.equal(`the body is ${Buffer.byteLength(text)} bytes; at most 2000 are accepted`);
      expect(await countUsers(data.userName)).to.equal(0);
    });
  });
});
