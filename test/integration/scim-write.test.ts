import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { withScimServer, type TestServer } from '../support/server.js';
import { ENTERPRISE, GROUP_SCHEMA, newUser, patchOf, USER_SCHEMA, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/*
 * Writes through real HTTP, from RFC 7644 §3.3 (POST), §3.4.1 (GET by id), §3.5.1 (PUT),
 * §3.5.2 (PATCH), §3.6 (DELETE) and §3.14 (versioning with ETags).
 */

type Doc = Record<string, any>;

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** Asserts a SCIM error response (RFC 7644 §3.12): status, scimType (or none), and the error body. */
function expectError(res: ScimResponse, status: number, scimType?: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
  expect(res.body.schemas).to.deep.equal([ERROR_SCHEMA]);
  expect(res.body.status).to.equal(String(status));
  if (scimType === undefined) expect(res.body).to.not.have.property('scimType');
  else expect(res.body.scimType).to.equal(scimType);
  expect(res.body.detail).to.be.a('string').and.not.equal('');
}

/** The resource without `meta`, which carries timestamps. */
function withoutMeta(doc: Doc): Doc {
  const { meta: _meta, ...rest } = doc;
  return rest;
}

const sortedIds = (members: Doc[] | undefined) => (members ?? []).map((m) => m.value as string).sort();

onEachDatabase('SCIM writes (RFC 7644 §3.3, §3.5, §3.6, §3.14)', (database) => {
  let server!: TestServer;
  let scim!: ScimClient;
  withScimServer(database, (s, c) => ([server, scim] = [s, c]));

  /** The user most PATCH cases start from. */
  const seed = (extra: Doc = {}) => newUser({
    name: { givenName: 'Barbara', familyName: 'Jensen' },
    displayName: 'Babs',
    emails: [{ value: 'bj@work.example', type: 'work', primary: true }, { value: 'bj@home.example', type: 'home' }],
    [ENTERPRISE]: { department: 'Sales', manager: { value: 'm-1' } },
    ...extra,
  });

  async function createUser(body: Doc = seed()): Promise<Doc> {
    const res = await scim.post('/Users', body);
    expect(res.status, res.text).to.equal(201);
    return res.body;
  }

  async function createGroup(displayName: string, memberIds: string[] = []): Promise<Doc> {
    const res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName, members: memberIds.map((value) => ({ value })) });
    expect(res.status, res.text).to.equal(201);
    return res.body;
  }

  describe('POST /Users (§3.3)', () => {
    it('answers 201 with Location = meta.location and ETag = meta.version = W/"1"', async () => {
      const body = seed();
      const res = await scim.post('/Users', body);
      expect(res.status).to.equal(201);
      expect(res.headers.get('content-type')).to.equal('application/scim+json; charset=utf-8');
      const id = res.body.id as string;
      expect(id).to.match(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('location')).to.equal(`${server.scimUrl}/Users/${id}`);
      expect(res.body.meta.location).to.equal(`${server.scimUrl}/Users/${id}`);
      expect(res.headers.get('etag')).to.equal('W/"1"');
      expect(res.body.meta.version).to.equal('W/"1"');
      expect(res.body.meta.resourceType).to.equal('User');
      expect(res.body.meta.created).to.equal(res.body.meta.lastModified);
      expect(Date.parse(res.body.meta.created)).to.be.closeTo(Date.now(), 60_000);
      expect(withoutMeta(res.body)).to.deep.equal({ ...body, id, active: true });
    });

    it('ignores the readOnly id, meta and groups (and manager.displayName) sent by the client', async () => {
      const group = await createGroup(`ro-${Date.now()}`);
      const body = seed({
        id: 'client-chosen-id',
        meta: { resourceType: 'Group', created: '2001-01-01T00:00:00Z', version: 'W/"77"', location: 'https://evil.example/x' },
        groups: [{ value: group.id, display: 'smuggled' }],
        [ENTERPRISE]: { department: 'Sales', manager: { value: 'm-1', displayName: 'Forged Boss' } },
      });
      const res = await scim.post('/Users', body);
      expect(res.status, res.text).to.equal(201);
      expect(res.body.id).to.not.equal('client-chosen-id');
      expect(res.body).to.not.have.property('groups');
      expect(res.body[ENTERPRISE]).to.deep.equal({ department: 'Sales', manager: { value: 'm-1' } });
      expect(res.body.meta).to.deep.equal({
        resourceType: 'User', created: res.body.meta.created, lastModified: res.body.meta.created,
        version: 'W/"1"', location: `${server.scimUrl}/Users/${res.body.id}`,
      });
      expect(res.body.meta.created).to.not.equal('2001-01-01T00:00:00Z');
      const members = await scim.get(`/Groups/${group.id}`);
      expect(members.body).to.not.have.property('members');
    });

    it('never echoes or stores a password', async () => {
      const res = await scim.post('/Users', seed({ password: 't1meMa$heen' }));
      expect(res.status).to.equal(201);
      expect(res.body).to.not.have.property('password');
      expect(res.text).to.not.contain('t1meMa$heen');
      const read = await scim.get(`/Users/${res.body.id}`);
      expect(read.body).to.not.have.property('password');
      expect(read.text).to.not.contain('t1meMa$heen');
      const asked = await scim.get(`/Users/${res.body.id}?attributes=password,userName`);
      expect(asked.body).to.deep.equal({ schemas: [USER_SCHEMA, ENTERPRISE], id: res.body.id, userName: res.body.userName });
    });

    for (const [title, spell] of [
      ['the same', (s: string) => s],
      ['upper', (s: string) => s.toUpperCase()],
      ['mixed', (s: string) => s.charAt(0).toUpperCase() + s.slice(1)],
    ] as const) {
      it(`refuses a duplicate userName in ${title} case with 409 uniqueness`, async () => {
        const first = await createUser();
        const res = await scim.post('/Users', newUser({ userName: spell(first.userName) }));
        expectError(res, 409, 'uniqueness');
        const list = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${first.userName}"`)}`);
        expect(list.body.totalResults).to.equal(1);
      });
    }

    it('treats a trailing space as part of userName on every database', async () => {
      const first = await createUser();
      const padded = await scim.post('/Users', newUser({ userName: `${first.userName} ` }));
      expect(padded.status, padded.text).to.equal(201);
      const exact = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${first.userName}"`)}`);
      expect(exact.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([first.id]);
    });

    it('refuses a body without userName with 400 invalidValue', async () => {
      const { userName: _u, ...body } = newUser();
      expectError(await scim.post('/Users', body), 400, 'invalidValue');
    });
  });

  describe('GET /Users/{id} (§3.4.1)', () => {
    it('returns the resource as created, with ETag', async () => {
      const user = await createUser();
      const res = await scim.get(`/Users/${user.id}`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"1"');
      expect(res.body).to.deep.equal(user);
    });

    it('answers 404 with a SCIM error for an unknown id', async () => {
      expectError(await scim.get('/Users/6c1e7a8e-0000-4000-8000-000000000000'), 404);
      expectError(await scim.get('/Groups/6c1e7a8e-0000-4000-8000-000000000000'), 404);
    });

    it('lists the groups the user is a direct member of (readOnly "groups")', async () => {
      const user = await createUser();
      const group = await createGroup(`readers-${Date.now()}`, [user.id]);
      const res = await scim.get(`/Users/${user.id}`);
      expect(res.body.groups).to.deep.equal([{ value: group.id, $ref: `${server.scimUrl}/Groups/${group.id}`, display: group.displayName, type: 'direct' }]);
    });
  });

  describe('PUT /Users/{id} (§3.5.1)', () => {
    it('replaces the resource: attributes left out are cleared, id stays, version bumps', async () => {
      const user = await createUser(seed({ nickName: 'Bab', title: 'Dr' }));
      const res = await scim.put(`/Users/${user.id}`, {
        schemas: [USER_SCHEMA], id: 'another-id', userName: user.userName, displayName: 'Barbara J.',
        name: { familyName: 'Jensen' },
      });
      expect(res.status, res.text).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"2"');
      expect(withoutMeta(res.body)).to.deep.equal({
        schemas: [USER_SCHEMA], id: user.id, userName: user.userName, displayName: 'Barbara J.', name: { familyName: 'Jensen' }, active: true,
      });
      expect(res.body.meta.version).to.equal('W/"2"');
      expect(res.body.meta.created).to.equal(user.meta.created);
      expect(res.body.meta.location).to.equal(user.meta.location);
      expect((await scim.get(`/Users/${user.id}`)).body).to.deep.equal(res.body);
    });

    it('changes userName, and refuses one taken by another user in any case with 409', async () => {
      const a = await createUser();
      const b = await createUser();
      const renamed = await scim.put(`/Users/${a.id}`, { ...seed(), userName: `renamed.${a.userName}` });
      expect(renamed.status).to.equal(200);
      expect(renamed.body.userName).to.equal(`renamed.${a.userName}`);
      expectError(await scim.put(`/Users/${a.id}`, { ...seed(), userName: b.userName.toUpperCase() }), 409, 'uniqueness');
      expect((await scim.get(`/Users/${a.id}`)).body.meta.version).to.equal('W/"2"');
    });

    it('answers 404 for an unknown id and 400 for a body without userName', async () => {
      expectError(await scim.put('/Users/6c1e7a8e-0000-4000-8000-000000000001', seed()), 404);
      const user = await createUser();
      const { userName: _u, ...body } = seed();
      expectError(await scim.put(`/Users/${user.id}`, body), 400, 'invalidValue');
      expect((await scim.get(`/Users/${user.id}`)).body).to.deep.equal(user);
    });

    it('does not bump the version when the replacement equals the resource', async () => {
      const user = await createUser();
      const res = await scim.put(`/Users/${user.id}`, withoutMeta(user));
      expect(res.status).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"1"');
      expect(res.body).to.deep.equal(user);
    });
  });

  describe('DELETE /Users/{id} (§3.6)', () => {
    it('answers 204 without body, then 404 for every operation on the id', async () => {
      const user = await createUser();
      const group = await createGroup(`del-${Date.now()}`, [user.id]);
      const res = await scim.delete(`/Users/${user.id}`);
      expect(res.status).to.equal(204);
      expect(res.text).to.equal('');
      expectError(await scim.get(`/Users/${user.id}`), 404);
      expectError(await scim.put(`/Users/${user.id}`, seed()), 404);
      expectError(await scim.patch(`/Users/${user.id}`, patchOf({ op: 'replace', path: 'nickName', value: 'x' })), 404);
      expectError(await scim.delete(`/Users/${user.id}`), 404);
      expect((await scim.get(`/Groups/${group.id}`)).body).to.not.have.property('members');
    });
  });

  describe('active=false', () => {
    it('keeps the user readable, listed and filterable', async () => {
      const user = await createUser();
      const res = await scim.patch(`/Users/${user.id}`, patchOf({ op: 'replace', path: 'active', value: false }));
      expect(res.status).to.equal(200);
      expect(res.body.active).to.equal(false);
      const read = await scim.get(`/Users/${user.id}`);
      expect(read.status).to.equal(200);
      expect(withoutMeta(read.body)).to.deep.equal({ ...withoutMeta(user), active: false });
      const found = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${user.userName}" and active eq false`)}`);
      expect(found.body.totalResults).to.equal(1);
      expect(found.body.Resources[0].id).to.equal(user.id);
    });
  });

  describe('PATCH /Users/{id} (§3.5.2): each op on each path form', () => {
    type Case = [title: string, ops: Doc[], change: (d: Doc) => void];
    const ENT = ENTERPRISE;
    const cases: Case[] = [
      // no path: the value names the attributes
      ['add, no path, plain and "name.givenName" keys', [{ op: 'add', value: { nickName: 'Bab', 'name.givenName': 'Barb' } }],
        (d) => { d.nickName = 'Bab'; d.name.givenName = 'Barb'; }],
      ['replace, no path, extension URN key with object value', [{ op: 'replace', value: { [ENT]: { department: 'Ops', costCenter: 'CC-1' } } }],
        (d) => { d[ENT] = { department: 'Ops', costCenter: 'CC-1', manager: { value: 'm-1' } }; }],
      ['add, no path, full-URN extension attribute keys', [{ op: 'add', value: { [`${ENT}:division`]: 'North', [`${ENT}:manager.value`]: 'm-2' } }],
        (d) => { d[ENT] = { department: 'Sales', division: 'North', manager: { value: 'm-2' } }; }],
      ['replace, no path, multi-valued attribute', [{ op: 'replace', value: { emails: [{ value: 'only@example.com', type: 'work' }] } }],
        (d) => { d.emails = [{ value: 'only@example.com', type: 'work' }]; }],
      ['Replace (capitalised op, as Entra sends it), no path, string boolean', [{ op: 'Replace', value: { active: 'False' } }],
        (d) => { d.active = false; }],
      // simple attribute
      ['add simple attribute', [{ op: 'add', path: 'nickName', value: 'Bab' }], (d) => { d.nickName = 'Bab'; }],
      ['replace simple attribute', [{ op: 'replace', path: 'displayName', value: 'B. Jensen' }], (d) => { d.displayName = 'B. Jensen'; }],
      ['remove simple attribute', [{ op: 'remove', path: 'displayName' }], (d) => { delete d.displayName; }],
      ['replace externalId', [{ op: 'replace', path: 'externalId', value: 'ext-new' }], (d) => { d.externalId = 'ext-new'; }],
      ['remove externalId', [{ op: 'remove', path: 'externalId' }], (d) => { delete d.externalId; }],
      // sub-attribute
      ['add name.middleName', [{ op: 'add', path: 'name.middleName', value: 'Jane' }], (d) => { d.name.middleName = 'Jane'; }],
      ['replace name.familyName', [{ op: 'replace', path: 'name.familyName', value: 'Smith' }], (d) => { d.name.familyName = 'Smith'; }],
      ['remove name.givenName', [{ op: 'remove', path: 'name.givenName' }], (d) => { d.name = { familyName: 'Jensen' }; }],
      // multi-valued attribute whole
      ['add emails', [{ op: 'add', path: 'emails', value: [{ value: 'bj@other.example', type: 'other' }] }],
        (d) => { d.emails.push({ value: 'bj@other.example', type: 'other' }); }],
      ['replace emails', [{ op: 'replace', path: 'emails', value: [{ value: 'new@work.example', type: 'work', primary: true }] }],
        (d) => { d.emails = [{ value: 'new@work.example', type: 'work', primary: true }]; }],
      ['remove emails', [{ op: 'remove', path: 'emails' }], (d) => { delete d.emails; }],
      ['remove emails with a value list removes only those', [{ op: 'remove', path: 'emails', value: [{ value: 'bj@home.example' }] }],
        (d) => { d.emails = [{ value: 'bj@work.example', type: 'work', primary: true }]; }],
      // value path
      ['add emails[type eq "home"] merges into the value', [{ op: 'add', path: 'emails[type eq "home"]', value: { display: 'Home' } }],
        (d) => { d.emails[1].display = 'Home'; }],
      ['replace emails[type eq "work"] replaces the value', [{ op: 'replace', path: 'emails[type eq "work"]', value: { value: 'w2@work.example', type: 'work' } }],
        (d) => { d.emails[0] = { value: 'w2@work.example', type: 'work' }; }],
      ['remove emails[type eq "home"]', [{ op: 'remove', path: 'emails[type eq "home"]' }],
        (d) => { d.emails = [{ value: 'bj@work.example', type: 'work', primary: true }]; }],
      // value path with sub-attribute
      ['add emails[type eq "home"].display', [{ op: 'add', path: 'emails[type eq "home"].display', value: 'Home' }],
        (d) => { d.emails[1].display = 'Home'; }],
      ['replace emails[type eq "work"].value', [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'barbara@work.example' }],
        (d) => { d.emails[0].value = 'barbara@work.example'; }],
      ['remove emails[type eq "work"].primary', [{ op: 'remove', path: 'emails[type eq "work"].primary' }],
        (d) => { delete d.emails[0].primary; }],
      ['replace emails[type eq "home"].primary moves primary (one primary only)', [{ op: 'replace', path: 'emails[type eq "home"].primary', value: true }],
        (d) => { d.emails[0].primary = false; d.emails[1].primary = true; }],
      ['replace emails[type eq "other"].value with an equality filter and no match adds the value', [{ op: 'replace', path: 'emails[type eq "other"].value', value: 'o@example.com' }],
        (d) => { d.emails.push({ type: 'other', value: 'o@example.com' }); }],
      // extension attribute with full URN
      ['add enterprise costCenter', [{ op: 'add', path: `${ENT}:costCenter`, value: 'CC-4' }], (d) => { d[ENT].costCenter = 'CC-4'; }],
      ['replace enterprise department', [{ op: 'replace', path: `${ENT}:department`, value: 'Ops' }], (d) => { d[ENT].department = 'Ops'; }],
      ['remove enterprise department', [{ op: 'remove', path: `${ENT}:department` }], (d) => { d[ENT] = { manager: { value: 'm-1' } }; }],
      ['replace enterprise manager.value', [{ op: 'replace', path: `${ENT}:manager.value`, value: 'm-2' }], (d) => { d[ENT].manager = { value: 'm-2' }; }],
      ['add enterprise manager.value', [{ op: 'add', path: `${ENT}:manager.value`, value: 'm-3' }], (d) => { d[ENT].manager = { value: 'm-3' }; }],
      ['remove enterprise manager.value', [{ op: 'remove', path: `${ENT}:manager.value` }], (d) => { d[ENT] = { department: 'Sales' }; }],
      ['removing the last enterprise attributes removes the extension and its schema', [
        { op: 'remove', path: `${ENT}:department` }, { op: 'remove', path: `${ENT}:manager.value` }, { op: 'remove', path: `${ENT}:employeeNumber` },
      ], (d) => { delete d[ENT]; d.schemas = [USER_SCHEMA]; }],
      // the whole extension URN as path
      ['add with the extension URN as path', [{ op: 'add', path: ENT, value: { division: 'West' } }], (d) => { d[ENT].division = 'West'; }],
      ['replace with the extension URN as path keeps unnamed attributes', [{ op: 'replace', path: ENT, value: { department: 'Legal' } }],
        (d) => { d[ENT].department = 'Legal'; }],
      ['remove with the extension URN as path', [{ op: 'remove', path: ENT }], (d) => { delete d[ENT]; d.schemas = [USER_SCHEMA]; }],
      // several operations, in order
      ['several operations apply in order', [
        { op: 'add', path: 'title', value: 'Dr' }, { op: 'replace', path: 'title', value: 'Prof' }, { op: 'remove', path: 'emails[type eq "home"]' },
      ], (d) => { d.title = 'Prof'; d.emails = [{ value: 'bj@work.example', type: 'work', primary: true }]; }],
    ];

    for (const [title, ops, change] of cases) {
      it(title, async () => {
        const user = await createUser();
        const res = await scim.patch(`/Users/${user.id}`, patchOf(...ops));
        expect(res.status, res.text).to.equal(200);
        const want = structuredClone(user);
        change(want);
        expect(withoutMeta(res.body)).to.deep.equal(withoutMeta(want));
        expect(res.headers.get('etag')).to.equal('W/"2"');
        expect(res.body.meta.version).to.equal('W/"2"');
        expect(res.body.meta.created).to.equal(user.meta.created);
        const read = await scim.get(`/Users/${user.id}`);
        expect(read.body).to.deep.equal(res.body);
      });
    }
  });

  describe('PATCH /Users/{id} errors: 400 with scimType, resource unchanged', () => {
    type ErrorCase = [title: string, body: unknown, scimType: string];
    const ENT = ENTERPRISE;
    const op = (o: Doc) => patchOf(o);
    const cases: ErrorCase[] = [
      ['replace id (readOnly)', op({ op: 'replace', path: 'id', value: 'x' }), 'mutability'],
      ['replace meta.lastModified (readOnly)', op({ op: 'replace', path: 'meta.lastModified', value: '2020-01-01T00:00:00Z' }), 'mutability'],
      ['add groups (readOnly)', op({ op: 'add', path: 'groups', value: [{ value: 'g' }] }), 'mutability'],
      ['replace enterprise manager.displayName (readOnly)', op({ op: 'replace', path: `${ENT}:manager.displayName`, value: 'Boss' }), 'mutability'],
      ['unknown attribute path', op({ op: 'replace', path: 'favouriteColour', value: 'red' }), 'invalidPath'],
      ['unknown sub-attribute path', op({ op: 'replace', path: 'name.nickName', value: 'x' }), 'invalidPath'],
      ['unknown extension attribute', op({ op: 'add', path: `${ENT}:shoeSize`, value: '9' }), 'invalidPath'],
      ['filter without value', op({ op: 'replace', path: 'emails[type eq].value', value: 'x' }), 'invalidPath'],
      ['filter with an unknown operator', op({ op: 'replace', path: 'emails[type is "work"].value', value: 'x' }), 'invalidPath'],
      ['filter naming an unknown sub-attribute', op({ op: 'replace', path: 'emails[kind eq "work"].value', value: 'x' }), 'invalidPath'],
      ['remove without path', op({ op: 'remove' }), 'noTarget'],
      ['replace with a "co" filter matching nothing', op({ op: 'replace', path: 'emails[value co "nowhere"].value', value: 'x' }), 'noTarget'],
      ['replace with a "ne" filter matching nothing', op({ op: 'replace', path: 'emails[type ne "work" and type ne "home"].display', value: 'x' }), 'noTarget'],
      ['op "move"', op({ op: 'move', path: 'nickName', value: 'x' }), 'invalidSyntax'],
      ['op missing', op({ path: 'nickName', value: 'x' }), 'invalidSyntax'],
      ['an operation that is not an object', patchOf('add nickName'), 'invalidSyntax'],
      ['a body declaring another schema', { schemas: [USER_SCHEMA], Operations: [{ op: 'add', path: 'nickName', value: 'x' }] }, 'invalidSyntax'],
      ['string for boolean active', op({ op: 'replace', path: 'active', value: 'maybe' }), 'invalidValue'],
      ['number for string nickName', op({ op: 'replace', path: 'nickName', value: 5 }), 'invalidValue'],
      ['number for string name.givenName', op({ op: 'replace', path: 'name.givenName', value: 5 }), 'invalidValue'],
      ['string for complex name', op({ op: 'replace', path: 'name', value: 'Barbara Jensen' }), 'invalidValue'],
      ['string for multi-valued complex emails', op({ op: 'replace', path: 'emails', value: 'x@example.com' }), 'invalidValue'],
      ['add without value', op({ op: 'add', path: 'nickName' }), 'invalidValue'],
      ['remove userName (required)', op({ op: 'remove', path: 'userName' }), 'invalidValue'],
    ];
    for (const [title, body, scimType] of cases) {
      it(`${title} → 400 ${scimType}`, async () => {
        const user = await createUser();
        // A valid first operation proves the request is all-or-nothing.
        const withFirst = (body as Doc).Operations && Array.isArray((body as Doc).Operations)
          ? { ...(body as Doc), Operations: [{ op: 'replace', path: 'displayName', value: 'changed' }, ...(body as Doc).Operations] }
          : body;
        expectError(await scim.patch(`/Users/${user.id}`, withFirst), 400, scimType);
        const read = await scim.get(`/Users/${user.id}`);
        expect(read.body).to.deep.equal(user);
      });
    }

    it('PATCH on an unknown id → 404', async () => {
      expectError(await scim.patch('/Users/6c1e7a8e-0000-4000-8000-000000000002', patchOf({ op: 'replace', path: 'nickName', value: 'x' })), 404);
    });

    it('PATCH userName to one taken by another user, in other case → 409 uniqueness', async () => {
      const a = await createUser();
      const b = await createUser();
      expectError(await scim.patch(`/Users/${a.id}`, patchOf({ op: 'replace', path: 'userName', value: b.userName.toUpperCase() })), 409, 'uniqueness');
      expect((await scim.get(`/Users/${a.id}`)).body).to.deep.equal(a);
    });
  });

  describe('PATCH that changes nothing keeps the version', () => {
    const cases: [string, Doc[]][] = [
      ['replace with the current value', [{ op: 'replace', path: 'displayName', value: 'Babs' }]],
      ['remove an attribute without value', [{ op: 'remove', path: 'nickName' }]],
      ['remove with a value filter matching nothing', [{ op: 'remove', path: 'emails[type eq "other"]' }]],
      ['add an email that is already there', [{ op: 'add', path: 'emails', value: [{ value: 'bj@home.example', type: 'home' }] }]],
      ['add then remove the same attribute', [{ op: 'add', path: 'nickName', value: 'x' }, { op: 'remove', path: 'nickName' }]],
      ['set a password, which is never stored', [{ op: 'replace', path: 'password', value: 'N3w-Pa$$word' }]],
    ];
    for (const [title, ops] of cases) {
      it(title, async () => {
        const user = await createUser();
        const res = await scim.patch(`/Users/${user.id}`, patchOf(...ops));
        expect(res.status, res.text).to.equal(200);
        expect(res.headers.get('etag')).to.equal('W/"1"');
        expect(res.body).to.deep.equal(user);
        expect((await scim.get(`/Users/${user.id}`)).body).to.deep.equal(user);
      });
    }
  });

  describe('PATCH /Groups/{id} members (§3.5.2)', () => {
    let users: Doc[];
    before(async () => {
      users = [];
      for (let i = 0; i < 4; i++) users.push(await createUser(newUser()));
    });
    const ids = (...n: number[]) => n.map((i) => users[i]!.id as string).sort();
    const group = async (members: number[]) => createGroup(`team-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`, members.map((i) => users[i]!.id));
    const members = async (id: string) => {
      const res = await scim.get(`/Groups/${id}`);
      expect(res.status).to.equal(200);
      return { ids: sortedIds(res.body.members), body: res.body, etag: res.headers.get('etag') };
    };

    type GroupCase = [title: string, initial: number[], ops: () => Doc[], expectedMembers: () => string[], displayName?: string];
    const cases: GroupCase[] = [
      ['add members', [0], () => [{ op: 'add', path: 'members', value: [{ value: users[1]!.id }, { value: users[2]!.id }] }], () => ids(0, 1, 2)],
      ['add members without path', [0], () => [{ op: 'add', value: { members: [{ value: users[3]!.id }] } }], () => ids(0, 3)],
      ['remove members[value eq "id"]', [0, 1, 2], () => [{ op: 'remove', path: `members[value eq "${users[1]!.id}"]` }], () => ids(0, 2)],
      ['remove members with a value list removes only those', [0, 1, 2, 3], () => [{ op: 'remove', path: 'members', value: [{ value: users[0]!.id }, { value: users[3]!.id }] }], () => ids(1, 2)],
      ['remove members without value removes all', [0, 1], () => [{ op: 'remove', path: 'members' }], () => []],
      ['replace members sets exactly', [0, 1], () => [{ op: 'replace', path: 'members', value: [{ value: users[1]!.id }, { value: users[2]!.id }] }], () => ids(1, 2)],
      ['replace members with [] empties', [0, 1], () => [{ op: 'replace', path: 'members', value: [] }], () => []],
      ['replace displayName leaves members intact', [0, 2], () => [{ op: 'replace', path: 'displayName', value: 'Renamed' }], () => ids(0, 2), 'Renamed'],
      ['replace without path and without members leaves members intact', [1, 3], () => [{ op: 'replace', value: { displayName: 'Renamed too' } }], () => ids(1, 3), 'Renamed too'],
    ];
    for (const [title, initial, ops, want, displayName] of cases) {
      it(`${title} → 204 with ETag W/"2"`, async () => {
        const g = await group(initial);
        const res = await scim.patch(`/Groups/${g.id}`, patchOf(...ops()));
        expect(res.status, res.text).to.equal(204);
        expect(res.text).to.equal('');
        expect(res.headers.get('etag')).to.equal('W/"2"');
        const after = await members(g.id);
        expect(after.ids).to.deep.equal(want());
        expect(after.body.displayName).to.equal(displayName ?? g.displayName);
        expect(after.etag).to.equal('W/"2"');
      });
    }

    it('remove members[filter] selects by type, display and or-combined values', async () => {
      const nested = await createGroup(`nested-${Date.now()}`);
      const alice = await createUser(newUser({ displayName: 'Alice Filtered' }));
      const start = () => createGroup(`filters-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`, [users[0]!.id, alice.id, nested.id]);
      const cases: [string, string[]][] = [
        ['members[type eq "Group"]', [users[0]!.id, alice.id]],
        ['members[type eq "user"]', [nested.id]],
        ['members[display co "alice f"]', [users[0]!.id, nested.id]],
        [`members[value eq "${users[0]!.id}" or value eq "${nested.id}"]`, [alice.id]],
        [`members[not (value eq "${alice.id}")]`, [alice.id]],
      ];
      for (const [path, left] of cases) {
        const g = await start();
        const res = await scim.patch(`/Groups/${g.id}`, patchOf({ op: 'remove', path }));
        expect(res.status, `${path}: ${res.text}`).to.equal(204);
        expect((await members(g.id)).ids, path).to.deep.equal([...left].sort());
      }
    });

    it('answers 200 with the group when attributes are asked for', async () => {
      const g = await group([0]);
      const res = await scim.patch(`/Groups/${g.id}?attributes=members`, patchOf({ op: 'add', path: 'members', value: [{ value: users[1]!.id }] }));
      expect(res.status).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"2"');
      expect(Object.keys(res.body).sort()).to.deep.equal(['id', 'members', 'schemas']);
      expect(sortedIds(res.body.members)).to.deep.equal(ids(0, 1));
    });

    it('add of an unknown member id → 400 and nothing of the request changes', async () => {
      const g = await group([0]);
      const before = await members(g.id);
      const res = await scim.patch(`/Groups/${g.id}`, patchOf(
        { op: 'replace', path: 'displayName', value: 'Should not stick' },
        { op: 'add', path: 'members', value: [{ value: users[1]!.id }, { value: '6c1e7a8e-0000-4000-8000-00000000dead' }] },
      ));
      expectError(res, 400, 'invalidValue');
      expect(await members(g.id)).to.deep.equal(before);
    });

    it('a PATCH that changes nothing keeps the version', async () => {
      const g = await group([0]);
      const res = await scim.patch(`/Groups/${g.id}`, patchOf(
        { op: 'add', path: 'members', value: [{ value: users[0]!.id }] },
        { op: 'remove', path: `members[value eq "${users[3]!.id}"]` },
        { op: 'replace', path: 'displayName', value: g.displayName },
      ));
      expect(res.status).to.equal(204);
      expect(res.headers.get('etag')).to.equal('W/"1"');
      expect((await members(g.id)).etag).to.equal('W/"1"');
    });

    for (const [title, ops, scimType] of [
      ['replace id', [{ op: 'replace', path: 'id', value: 'x' }], 'mutability'],
      ['unknown attribute', [{ op: 'replace', path: 'userName', value: 'x' }], 'invalidPath'],
      ['filter on an unknown member sub-attribute', [{ op: 'remove', path: 'members[colour eq "x"]' }], 'invalidPath'],
      ['members value without "value"', [{ op: 'add', path: 'members', value: [{ display: 'x' }] }], 'invalidValue'],
    ] as [string, Doc[], string][]) {
      it(`${title} → 400 ${scimType}, group unchanged`, async () => {
        const g = await group([0, 1]);
        const before = await members(g.id);
        expectError(await scim.patch(`/Groups/${g.id}`, patchOf(...ops)), 400, scimType);
        expect(await members(g.id)).to.deep.equal(before);
      });
    }

    it('PUT without a members key leaves members; with members: [] empties them', async () => {
      const g = await group([0, 1]);
      const kept = await scim.put(`/Groups/${g.id}`, { schemas: [GROUP_SCHEMA], displayName: 'Put 1' });
      expect(kept.status).to.equal(200);
      expect(kept.headers.get('etag')).to.equal('W/"2"');
      expect(kept.body.displayName).to.equal('Put 1');
      expect(sortedIds(kept.body.members)).to.deep.equal(ids(0, 1));
      const emptied = await scim.put(`/Groups/${g.id}`, { schemas: [GROUP_SCHEMA], displayName: 'Put 1', members: [] });
      expect(emptied.status).to.equal(200);
      expect(emptied.headers.get('etag')).to.equal('W/"3"');
      expect(emptied.body).to.not.have.property('members');
      expect((await members(g.id)).ids).to.deep.equal([]);
    });
  });

  describe('ETags (§3.14)', () => {
    it('GET with If-None-Match naming the current version → 304 without body', async () => {
      const user = await createUser();
      const res = await scim.get(`/Users/${user.id}`, { 'if-none-match': 'W/"1"' });
      expect(res.status).to.equal(304);
      expect(res.text).to.equal('');
      expect(res.headers.get('etag')).to.equal('W/"1"');
      const g = await createGroup(`etag-${Date.now()}`);
      const gres = await scim.get(`/Groups/${g.id}`, { 'if-none-match': g.meta.version });
      expect(gres.status).to.equal(304);
      expect(gres.text).to.equal('');
    });

    it('GET with If-None-Match naming an older version → 200 with the resource', async () => {
      const user = await createUser();
      await scim.patch(`/Users/${user.id}`, patchOf({ op: 'add', path: 'nickName', value: 'v2' }));
      const res = await scim.get(`/Users/${user.id}`, { 'if-none-match': 'W/"1"' });
      expect(res.status).to.equal(200);
      expect(res.headers.get('etag')).to.equal('W/"2"');
      expect(res.body.nickName).to.equal('v2');
    });

    type Write = [name: string, send: (id: string, headers: Record<string, string>) => Promise<ScimResponse>, success: number];
    const userWrites: Write[] = [
      ['PUT', (id, h) => scim.put(`/Users/${id}`, seed({ userName: `put.${id}@example.com`, nickName: 'put' }), h), 200],
      ['PATCH', (id, h) => scim.patch(`/Users/${id}`, patchOf({ op: 'replace', path: 'nickName', value: 'patched' }), h), 200],
      ['DELETE', (id, h) => scim.delete(`/Users/${id}`, h), 204],
    ];
    for (const [name, send, success] of userWrites) {
      it(`${name} /Users with a stale If-Match → 412 invalidVers, resource unchanged`, async () => {
        const user = await createUser();
        await scim.patch(`/Users/${user.id}`, patchOf({ op: 'add', path: 'title', value: 'v2' }));
        const current = (await scim.get(`/Users/${user.id}`)).body;
        expectError(await send(user.id, { 'if-match': 'W/"1"' }), 412, 'invalidVers');
        expect((await scim.get(`/Users/${user.id}`)).body).to.deep.equal(current);
      });
      it(`${name} /Users with If-Match: * passes`, async () => {
        const user = await createUser();
        expect((await send(user.id, { 'if-match': '*' })).status).to.equal(success);
      });
      it(`${name} /Users with the current ETag passes`, async () => {
        const user = await createUser();
        const res = await send(user.id, { 'if-match': 'W/"1"' });
        expect(res.status, res.text).to.equal(success);
        if (success === 200) expect(res.headers.get('etag')).to.equal('W/"2"');
        else expectError(await scim.get(`/Users/${user.id}`), 404);
      });
    }

    const groupWrites: Write[] = [
      ['PUT', (id, h) => scim.put(`/Groups/${id}`, { schemas: [GROUP_SCHEMA], displayName: `put-${id}` }, h), 200],
      ['PATCH', (id, h) => scim.patch(`/Groups/${id}`, patchOf({ op: 'replace', path: 'displayName', value: `patched-${id}` }), h), 204],
      ['DELETE', (id, h) => scim.delete(`/Groups/${id}`, h), 204],
    ];
    for (const [name, send, success] of groupWrites) {
      it(`${name} /Groups with a stale If-Match → 412 invalidVers; with the current one it passes`, async () => {
        const g = await createGroup(`etag-${name}-${Date.now()}`);
        await scim.patch(`/Groups/${g.id}`, patchOf({ op: 'replace', path: 'displayName', value: `${g.displayName}-v2` }));
        const current = (await scim.get(`/Groups/${g.id}`)).body;
        expectError(await send(g.id, { 'if-match': 'W/"1"' }), 412, 'invalidVers');
        expect((await scim.get(`/Groups/${g.id}`)).body).to.deep.equal(current);
        expect((await send(g.id, { 'if-match': 'W/"2"' })).status).to.equal(success);
      });
    }

    it('ETag and meta.version grow by one with every change', async () => {
      const user = await createUser();
      const versions: string[] = [];
      for (const value of ['a', 'b', 'c']) {
        const res = await scim.patch(`/Users/${user.id}`, patchOf({ op: 'replace', path: 'nickName', value }));
        expect(res.body.meta.version).to.equal(res.headers.get('etag'));
        versions.push(res.headers.get('etag')!);
      }
      expect(versions).to.deep.equal(['W/"2"', 'W/"3"', 'W/"4"']);
    });
  });
});
