import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { GROUP_SCHEMA, PATCH_OP, scimClient, USER_SCHEMA, ENTERPRISE, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/*
 * Replays of what Microsoft Entra ID and Okta send, in their own shapes and header styles, to the
 * real server over HTTP. Each request below is written the way the client writes it (Entra:
 * capitalised ops, string booleans, `?aadOptscim062020` on every URL, `+` for spaces in filters;
 * Okta: `%20`-encoded filters with startIndex/count, PUT for updates, PATCH for (de)activation).
 */

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

const unique = () => randomUUID().slice(0, 8);

/** Asserts a SCIM error response with exactly this status (and scimType, when given). */
function expectScimError(res: ScimResponse, status: number, scimType?: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.headers.get('content-type')).to.match(/^application\/scim\+json/);
  expect(res.body.schemas).to.deep.equal([ERROR]);
  expect(res.body.status).to.equal(String(status));
  if (scimType) expect(res.body.scimType).to.equal(scimType);
  expect(res.body.detail).to.be.a('string').and.not.equal('');
}

onEachDatabase('SCIM client replay: Microsoft Entra ID', (database) => {
  let server: TestServer;
  let entra: ScimClient;
  // Entra appends the feature flag of the tenant URL to every request it makes.
  const FLAG = 'aadOptscim062020';
  const at = (path: string, query = '') => `${path}?${FLAG}${query ? `&${query}` : ''}`;
  // Entra writes filters with `+` for spaces and raw quotes.
  const filter = (text: string) => `filter=${encodeURIComponent(text).replace(/%20/g, '+')}`;
  const headers = { accept: 'application/scim+json', 'content-type': 'application/scim+json' };
  const get = (path: string) => entra.get(path, headers);
  const post = (path: string, body: unknown) => entra.post(path, body, headers);
  const patch = (path: string, body: unknown) => entra.patch(path, body, headers);
  const del = (path: string) => entra.delete(path, headers);

  /** A User as Entra creates it (validator shape), with `active` as the string Entra may send. */
  const entraUser = (n: string, extra: Record<string, unknown> = {}) => ({
    schemas: [USER_SCHEMA, ENTERPRISE],
    externalId: `0a21f0f2-${n}-4f8e-bf98-7363c4aed4ef`,
    userName: `Test_User_${n}@contoso.example`,
    active: 'True',
    displayName: `Test User ${n}`,
    emails: [{ primary: true, type: 'work', value: `Test_User_${n}@contoso.example` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
    ...extra,
  });

  const createUser = async (extra: Record<string, unknown> = {}) => {
    const res = await post(at('/Users'), entraUser(unique(), extra));
    expect(res.status, res.text).to.equal(201);
    return res.body as Record<string, any>;
  };

  const createGroup = async (members: string[] = []) => {
    const n = unique();
    const res = await post(at('/Groups'), {
      schemas: [GROUP_SCHEMA],
      externalId: `8aa1a0c0-${n}-4bc0-b4a5-2ef676900159`,
      displayName: `Entra group ${n}`,
      meta: { resourceType: 'Group' },
      ...(members.length ? { members: members.map((value) => ({ value })) } : {}),
    });
    expect(res.status, res.text).to.equal(201);
    return res.body as Record<string, any>;
  };

  const memberIds = async (groupId: string): Promise<string[]> => {
    const res = await get(at(`/Groups/${groupId}`));
    expect(res.status, res.text).to.equal(200);
    return ((res.body.members ?? []) as Array<{ value: string }>).map((m) => m.value).sort();
  };

  before(async () => {
    server = await startTestServer(database().db);
    entra = scimClient(server.scimUrl, await server.token('scim:write', `entra-${unique()}`));
  });
  after(() => server.close());

  it('matches by userName before creating: 0 results, then a POST with "active": "True" creates an active user', async () => {
    const n = unique();
    const body = entraUser(n);
    const before = await get(at('/Users', filter(`userName eq "${body.userName}"`)));
    expect(before.status, before.text).to.equal(200);
    expect(before.body.totalResults).to.equal(0);
    expect(before.body.Resources).to.deep.equal([]);

    const created = await post(at('/Users'), body);
    expect(created.status, created.text).to.equal(201);
    expect(created.body.active).to.equal(true);
    expect(created.body.userName).to.equal(body.userName);
    expect(created.body.externalId).to.equal(body.externalId);
    expect(created.headers.get('location')).to.equal(`${server.scimUrl}/Users/${created.body.id}`);

    const after = await get(at('/Users', filter(`userName eq "${body.userName}"`)));
    expect(after.body.totalResults).to.equal(1);
    expect(after.body.Resources[0].id).to.equal(created.body.id);
    expect(after.body.Resources[0].active).to.equal(true);
  });

  it('stores "active": "False" in a POST as the boolean false', async () => {
    const user = await createUser({ active: 'False' });
    expect(user.active).to.equal(false);
    const [row] = await server.services.db.query<{ active: number | string }>('SELECT active FROM identities WHERE id = ?', [user.id]);
    expect(Number(row!.active)).to.equal(0);
  });

  it('reads attribute names in any case: "UserName", "DisplayName", "Name.GivenName"', async () => {
    const n = unique();
    const res = await post(at('/Users'), {
      schemas: [USER_SCHEMA],
      UserName: `Mixed.Case_${n}@contoso.example`,
      DisplayName: `Mixed ${n}`,
      Name: { GivenName: 'Mixed', FamilyName: 'Case' },
      Active: 'True',
    });
    expect(res.status, res.text).to.equal(201);
    expect(res.body.userName).to.equal(`Mixed.Case_${n}@contoso.example`);
    expect(res.body.displayName).to.equal(`Mixed ${n}`);
    expect(res.body.name).to.deep.equal({ givenName: 'Mixed', familyName: 'Case' });
    expect(res.body.active).to.equal(true);
    expect(res.body).to.not.have.any.keys('UserName', 'DisplayName', 'Name', 'Active');
  });

  it('finds users by externalId eq "…" and by an unquoted userName eq x@y.com', async () => {
    const user = await createUser();
    const byExternal = await get(at('/Users', filter(`externalId eq "${user.externalId}"`)));
    expect(byExternal.status, byExternal.text).to.equal(200);
    expect(byExternal.body.totalResults).to.equal(1);
    expect(byExternal.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([user.id]);

    const unquoted = await get(at('/Users', filter(`userName eq ${user.userName}`)));
    expect(unquoted.status, unquoted.text).to.equal(200);
    expect(unquoted.body.totalResults).to.equal(1);
    expect(unquoted.body.Resources[0].id).to.equal(user.id);

    const other = await get(at('/Users', filter(`externalId eq "${user.externalId}-other"`)));
    expect(other.body.totalResults).to.equal(0);
  });

  it('applies capitalised ops (Add, Replace, Remove) and a PATCH path in other case ("DisplayName")', async () => {
    const user = await createUser({ title: 'Engineer' });
    const res = await patch(at(`/Users/${user.id}`), {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Add', path: 'name.givenName', value: 'Bar' },
        { op: 'Replace', path: 'name.familyName', value: 'Foo2' },
        { op: 'Replace', path: 'DisplayName', value: 'Renamed By Entra' },
        { op: 'Remove', path: 'title' },
      ],
    });
    expect(res.status, res.text).to.equal(200);
    expect(res.body.name.givenName).to.equal('Bar');
    expect(res.body.name.familyName).to.equal('Foo2');
    expect(res.body.displayName).to.equal('Renamed By Entra');
    expect(res.body).to.not.have.property('title');
    expect(res.body).to.not.have.property('DisplayName');
    const found = await get(at('/Users', filter('displayName eq "renamed by entra"')));
    expect(found.body.Resources.map((r: { id: string }) => r.id)).to.include(user.id);
  });

  it('creates the work email when replacing emails[type eq "work"].value on a user without one', async () => {
    const user = await createUser({ emails: [{ type: 'home', value: 'home@contoso.example' }] });
    const n = unique();
    const res = await patch(at(`/Users/${user.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'emails[type eq "work"].value', value: `work.${n}@contoso.example` }],
    });
    expect(res.status, res.text).to.equal(200);
    expect(res.body.emails).to.deep.equal([
      { type: 'home', value: 'home@contoso.example' },
      { type: 'work', value: `work.${n}@contoso.example` },
    ]);
    // The new value is a filterable row too.
    const found = await get(at('/Users', filter(`emails.value eq "work.${n}@contoso.example"`)));
    expect(found.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([user.id]);

    // A second replace changes that one value, not adding another.
    const again = await patch(at(`/Users/${user.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'emails[type eq "work"].value', value: `changed.${n}@contoso.example` }],
    });
    expect(again.status, again.text).to.equal(200);
    expect(again.body.emails).to.deep.equal([
      { type: 'home', value: 'home@contoso.example' },
      { type: 'work', value: `changed.${n}@contoso.example` },
    ]);
  });

  it('soft-deletes with Replace active "False": the user stays readable, by id and by filter, with active false', async () => {
    const user = await createUser();
    const res = await patch(at(`/Users/${user.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    expect(res.status, res.text).to.equal(200);
    expect(res.body.active).to.equal(false);

    const read = await get(at(`/Users/${user.id}`));
    expect(read.status, read.text).to.equal(200);
    expect(read.body.active).to.equal(false);
    expect(read.body.userName).to.equal(user.userName);

    const listed = await get(at('/Users', filter(`userName eq "${user.userName}"`)));
    expect(listed.body.totalResults).to.equal(1);
    expect(listed.body.Resources[0].active).to.equal(false);

    const inactive = await get(at('/Users', filter('active eq false')));
    expect(inactive.body.Resources.map((r: { id: string }) => r.id)).to.include(user.id);

    // Re-assignment in Entra re-enables the same object.
    const back = await patch(at(`/Users/${user.id}`), { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect(back.status, back.text).to.equal(200);
    expect(back.body.active).to.equal(true);
  });

  it('queries groups with excludedAttributes=members: no members key, in a list and by id', async () => {
    const user = await createUser();
    const group = await createGroup([user.id]);
    const listed = await get(at('/Groups', `excludedAttributes=members&${filter(`displayName eq "${group.displayName}"`)}`));
    expect(listed.status, listed.text).to.equal(200);
    expect(listed.body.totalResults).to.equal(1);
    expect(listed.body.Resources[0].id).to.equal(group.id);
    expect(listed.body.Resources[0].displayName).to.equal(group.displayName);
    expect(listed.body.Resources[0]).to.not.have.property('members');

    const one = await get(at(`/Groups/${group.id}`, 'excludedAttributes=members'));
    expect(one.status, one.text).to.equal(200);
    expect(one.body.id).to.equal(group.id);
    expect(one.body).to.not.have.property('members');

    // Without the exclusion the member is there, so the exclusion is what hid it.
    expect(await memberIds(group.id)).to.deep.equal([user.id]);

    const byExternal = await get(at('/Groups', `excludedAttributes=members&${filter(`externalId eq "${group.externalId}"`)}`));
    expect(byExternal.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([group.id]);
  });

  it('checks membership with filter=id eq "…" and members eq "…" (excluding members)', async () => {
    const [member, outsider] = [await createUser(), await createUser()];
    const group = await createGroup([member.id]);
    const check = (userId: string) => get(at('/Groups', `excludedAttributes=members&${filter(`id eq "${group.id}" and members eq "${userId}"`)}`));
    const yes = await check(member.id);
    expect(yes.status, yes.text).to.equal(200);
    expect(yes.body.totalResults).to.equal(1);
    expect(yes.body.Resources[0].id).to.equal(group.id);
    expect(yes.body.Resources[0]).to.not.have.property('members');
    const no = await check(outsider.id);
    expect(no.status, no.text).to.equal(200);
    expect(no.body.totalResults).to.equal(0);
  });

  it('adds members with "Add" and removes only the listed ones with {"op":"Remove","path":"members","value":[…]}', async () => {
    const [a, b, c] = [await createUser(), await createUser(), await createUser()];
    const group = await createGroup();
    const added = await patch(at(`/Groups/${group.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Add', path: 'members', value: [a, b, c].map((u) => ({ $ref: null, value: u.id })) }],
    });
    expect(added.status, added.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([a.id, b.id, c.id].sort());

    const removed = await patch(at(`/Groups/${group.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: b.id }] }],
    });
    expect(removed.status, removed.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([a.id, c.id].sort());
  });

  it('creates a group whose schemas also name Entra\'s own group schema, which carries no data', async () => {
    const res = await post(at('/Groups'), {
      schemas: [GROUP_SCHEMA, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      externalId: `ms-${unique()}`,
      displayName: `Entra sample group ${unique()}`,
    });
    expect(res.status, res.text).to.equal(201);
    expect(res.body.schemas).to.deep.equal([GROUP_SCHEMA]);
  });

  it('renames a group with Replace "displayName" without touching its members', async () => {
    const [a, b] = [await createUser(), await createUser()];
    const group = await createGroup([a.id, b.id]);
    const res = await patch(at(`/Groups/${group.id}`), {
      schemas: [PATCH_OP],
      Operations: [{ op: 'Replace', path: 'displayName', value: `${group.displayName} updated` }],
    });
    expect(res.status, res.text).to.equal(204);
    const read = await get(at(`/Groups/${group.id}`));
    expect(read.body.displayName).to.equal(`${group.displayName} updated`);
    expect(((read.body.members ?? []) as Array<{ value: string }>).map((m) => m.value).sort()).to.deep.equal([a.id, b.id].sort());
  });

  it('hard-deletes a user: 204, then 404 with a SCIM error body, and gone from its groups', async () => {
    const user = await createUser();
    const group = await createGroup([user.id]);
    const res = await del(at(`/Users/${user.id}`));
    expect(res.status, res.text).to.equal(204);
    expect(res.text).to.equal('');
    expectScimError(await get(at(`/Users/${user.id}`)), 404);
    expectScimError(await del(at(`/Users/${user.id}`)), 404);
    expect(await memberIds(group.id)).to.deep.equal([]);
    const found = await get(at('/Users', filter(`userName eq "${user.userName}"`)));
    expect(found.body.totalResults).to.equal(0);
  });
});

onEachDatabase('SCIM client replay: Okta', (database) => {
  let server: TestServer;
  let okta: ScimClient;
  const headers = {
    accept: 'application/scim+json',
    'content-type': 'application/scim+json; charset=utf-8',
    'user-agent': 'Okta SCIM Client 1.0.0',
  };
  // Okta percent-encodes its filters and always pages with startIndex=1&count=100.
  const lookup = (resource: string, text: string) => okta.get(`${resource}?filter=${encodeURIComponent(text)}&startIndex=1&count=100`, headers);

  /** A User as Okta creates it: with a password and an empty groups list. */
  const oktaUser = (n: string) => ({
    schemas: [USER_SCHEMA],
    userName: `test.user.${n}@okta.local`,
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: `test.user.${n}@okta.local`, type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId: `00ujl29u0le5T6Aj10h7${n}`,
    groups: [],
    password: `1mz050nq-${n}`,
    active: true,
  });

  const createUser = async () => {
    const res = await okta.post('/Users', oktaUser(unique()), headers);
    expect(res.status, res.text).to.equal(201);
    return res.body as Record<string, any>;
  };

  const createGroup = async () => {
    const res = await okta.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `Okta group ${unique()}`, members: [] }, headers);
    expect(res.status, res.text).to.equal(201);
    return res.body as Record<string, any>;
  };

  const memberIds = async (groupId: string): Promise<string[]> => {
    const res = await okta.get(`/Groups/${groupId}`, headers);
    expect(res.status, res.text).to.equal(200);
    return ((res.body.members ?? []) as Array<{ value: string }>).map((m) => m.value).sort();
  };

  before(async () => {
    server = await startTestServer(database().db);
    okta = scimClient(server.scimUrl, await server.token('scim:write', `okta-${unique()}`));
  });
  after(() => server.close());

  it('answers the existence check with an empty ListResponse whose counts are integers', async () => {
    const res = await lookup('/Users', `userName eq "nobody.${unique()}@okta.local"`);
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/scim\+json/);
    expect(res.body).to.deep.equal({ schemas: [LIST], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });
    // deep.equal compares 0 and "0" as different, but say it outright: the raw JSON has numbers.
    expect(res.text).to.match(/"totalResults":0[,}]/).and.match(/"startIndex":1[,}]/).and.match(/"itemsPerPage":0[,}]/);
  });

  it('creates a user (dropping password and groups), then finds it with integer counts', async () => {
    const body = oktaUser(unique());
    const created = await okta.post('/Users', body, headers);
    expect(created.status, created.text).to.equal(201);
    expect(created.body.userName).to.equal(body.userName);
    expect(created.body.active).to.equal(true);
    expect(created.body).to.not.have.property('password');
    const [row] = await server.services.db.query<{ doc: string }>('SELECT doc FROM identities WHERE id = ?', [created.body.id]);
    expect(row!.doc).to.not.include(body.password);

    const found = await lookup('/Users', `userName eq "${body.userName}"`);
    expect(found.status).to.equal(200);
    expect(found.body.totalResults).to.equal(1);
    expect(found.body.itemsPerPage).to.equal(1);
    expect(found.body.startIndex).to.equal(1);
    expect(found.body.Resources[0].id).to.equal(created.body.id);
  });

  it('replaces a user with PUT: new values land, attributes left out are removed, id is kept', async () => {
    const user = await createUser();
    const titled = await okta.put(`/Users/${user.id}`, { ...oktaUser('x'), userName: user.userName, externalId: user.externalId, title: 'Engineer' }, headers);
    expect(titled.status, titled.text).to.equal(200);
    expect(titled.body.title).to.equal('Engineer');

    const put = await okta.put(`/Users/${user.id}`, {
      schemas: [USER_SCHEMA],
      id: user.id,
      userName: user.userName,
      name: { givenName: 'Another', middleName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: `another.${unique()}@okta.local`, type: 'work' }],
      displayName: 'Another Test User',
      locale: 'en-US',
      externalId: user.externalId,
      groups: [],
      password: 'ignored-on-put',
      active: true,
      meta: { resourceType: 'User' },
    }, headers);
    expect(put.status, put.text).to.equal(200);
    expect(put.body.id).to.equal(user.id);
    expect(put.body.name).to.deep.equal({ givenName: 'Another', middleName: 'Test', familyName: 'User' });
    expect(put.body.displayName).to.equal('Another Test User');
    expect(put.body).to.not.have.property('title');
    expect(put.body).to.not.have.property('password');
    expect(put.body.meta.version).to.equal('W/"3"');

    const read = await okta.get(`/Users/${user.id}`, headers);
    expect(read.body.name.givenName).to.equal('Another');
    expect(read.body).to.not.have.property('title');
  });

  it('deactivates and reactivates with PATCH {"op":"replace","value":{"active":…}}', async () => {
    const user = await createUser();
    const off = await okta.patch(`/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] }, headers);
    expect(off.status, off.text).to.equal(200);
    expect(off.body.active).to.equal(false);
    expect((await okta.get(`/Users/${user.id}`, headers)).body.active).to.equal(false);
    const found = await lookup('/Users', `userName eq "${user.userName}"`);
    expect(found.body.Resources[0].active).to.equal(false);

    const on = await okta.patch(`/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] }, headers);
    expect(on.status, on.text).to.equal(200);
    expect(on.body.active).to.equal(true);
  });

  it('pushes a group: create empty, find by displayName, add members, remove one by filter', async () => {
    const group = await createGroup();
    expect(group).to.not.have.property('members');
    const found = await lookup('/Groups', `displayName eq "${group.displayName}"`);
    expect(found.body.totalResults).to.equal(1);
    expect(found.body.Resources[0].id).to.equal(group.id);

    const [a, b] = [await createUser(), await createUser()];
    const add = await okta.patch(`/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'members', value: [a, b].map((u) => ({ value: u.id, display: u.userName })) }],
    }, headers);
    expect(add.status, add.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([a.id, b.id].sort());

    const remove = await okta.patch(`/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'remove', path: `members[value eq "${a.id}"]` }],
    }, headers);
    expect(remove.status, remove.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([b.id]);
  });

  it('renames a group with a path-less replace that repeats the group\'s own id', async () => {
    const group = await createGroup();
    const member = await createUser();
    await okta.patch(`/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: member.id }] }] }, headers);
    const res = await okta.patch(`/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { id: group.id, displayName: `${group.displayName} renamed` } }],
    }, headers);
    expect(res.status, res.text).to.equal(204);
    const read = await okta.get(`/Groups/${group.id}`, headers);
    expect(read.body.displayName).to.equal(`${group.displayName} renamed`);
    expect(await memberIds(group.id)).to.deep.equal([member.id]);
    const other = await okta.patch(`/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { id: 'another-id' } }] }, headers);
    expect(other.status, other.text).to.equal(400);
    expect(other.body.scimType).to.equal('mutability');
  });

  it('empties a group with replace members [] (push of an empty group)', async () => {
    const group = await createGroup();
    const [a, b] = [await createUser(), await createUser()];
    const filled = await okta.patch(`/Groups/${group.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: 'members', value: [a, b].map((u) => ({ value: u.id, display: u.userName })) }],
    }, headers);
    expect(filled.status, filled.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([a.id, b.id].sort());

    const emptied = await okta.patch(`/Groups/${group.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'members', value: [] }] }, headers);
    expect(emptied.status, emptied.text).to.equal(204);
    expect(await memberIds(group.id)).to.deep.equal([]);
    const [{ n }] = (await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?', [group.id])) as [{ n: number | string }];
    expect(Number(n)).to.equal(0);
  });

  it('pushes a group of 1,800 members in one POST and empties it with replace members []', async function () {
    this.timeout(30_000);
    // Fixture rows written straight to the table: creating 1,800 users over HTTP would take
    // longer than the behaviour under test. More ids than one audit event lists (see below).
    const ids = Array.from({ length: 1800 }, () => randomUUID());
    const now = new Date().toISOString();
    for (let i = 0; i < ids.length; i += 200) {
      const chunk = ids.slice(i, i + 200);
      await server.services.db.execute(
        `INSERT INTO identities (id, user_name, active, version, created, last_modified, doc) VALUES ${chunk.map(() => '(?, ?, 1, 1, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((id) => [id, `bulk.${id}@okta.local`, now, now, JSON.stringify({ schemas: [USER_SCHEMA], userName: `bulk.${id}@okta.local`, active: true })]),
      );
    }
    const res = await okta.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: `Okta push ${unique()}`, members: ids.map((value) => ({ value })) }, headers);
    expect(res.status, res.text).to.equal(201);
    const group = res.body.id as string;
    const stored = await server.services.db.query<{ member_id: string }>('SELECT member_id FROM group_members WHERE group_id = ?', [group]);
    expect(stored.map((r) => r.member_id).sort()).to.deep.equal([...ids].sort());

    // Every added id is in the audit trail, across as many events as it takes.
    const audit = async (key: 'membersAdded' | 'membersRemoved') => {
      const rows = await server.services.db.query<{ action: string; details: string }>('SELECT action, details FROM audit_events WHERE target_id = ? ORDER BY id', [group]);
      return rows.map((r) => ({ action: r.action, details: JSON.parse(r.details) as Record<string, any> })).filter((r) => r.details[key]?.length);
    };
    const created = await audit('membersAdded');
    expect(created.map((e) => e.action)).to.deep.equal(['group.create', 'group.members']);
    expect(created[0]!.details.after.displayName).to.equal(res.body.displayName);
    expect(created.map((e) => [e.details.part, e.details.parts])).to.deep.equal([[1, 2], [2, 2]]);
    expect(created.flatMap((e) => e.details.membersAdded as string[]).sort()).to.deep.equal([...ids].sort());

    const emptied = await okta.patch(`/Groups/${group}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'members', value: [] }] }, headers);
    expect(emptied.status, emptied.text).to.equal(204);
    expect(await memberIds(group)).to.deep.equal([]);
    const removed = await audit('membersRemoved');
    expect(removed.map((e) => e.action)).to.deep.equal(['group.update', 'group.members']);
    expect(removed.flatMap((e) => e.details.membersRemoved as string[]).sort()).to.deep.equal([...ids].sort());
  });

  it('answers a bad token with 401 and a SCIM error body', async () => {
    const res = await scimClient(server.scimUrl, 'not-a-real-okta-token').get(`/Users?filter=${encodeURIComponent('userName eq "a@b.c"')}&startIndex=1&count=100`, headers);
    expectScimError(res, 401);
    expect(res.body.status).to.equal('401');
    expect(res.headers.get('www-authenticate')).to.match(/^Bearer /);
  });

  it('deletes a user and a group: 204, then 404', async () => {
    const user = await createUser();
    const group = await createGroup();
    expect((await okta.delete(`/Users/${user.id}`, headers)).status).to.equal(204);
    expect((await okta.delete(`/Groups/${group.id}`, headers)).status).to.equal(204);
    expectScimError(await okta.get(`/Users/${user.id}`, headers), 404);
    expectScimError(await okta.get(`/Groups/${group.id}`, headers), 404);
    expect((await lookup('/Users', `userName eq "${user.userName}"`)).body.totalResults).to.equal(0);
  });
});
