import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { onEachDatabase } from '../support/databases.js';
import { withScimServer, type TestServer } from '../support/server.js';
import { ENTERPRISE, GROUP_SCHEMA, newUser, patchOf, type ScimClient, type ScimResponse } from '../support/scim-client.js';

/*
 * Concurrent SCIM writes through real HTTP. Members are rows and every write locks what it
 * changes, so no interleaving may lose a write: each test fires its requests at once and then
 * checks the exact end state, row counts and versions included.
 */

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

onEachDatabase('SCIM concurrency', (database) => {
  let server!: TestServer;
  let scim!: ScimClient;
  withScimServer(database, (s, c) => ([server, scim] = [s, c]));

  const createUsers = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    // Created in parallel too: concurrent POSTs of different users must all succeed.
    const results = await Promise.all(Array.from({ length: n }, () => scim.post('/Users', newUser())));
    for (const res of results) {
      expect(res.status, res.text).to.equal(201);
      ids.push(res.body.id);
    }
    return ids;
  };

  const createGroup = async (members: string[] = []): Promise<string> => {
    const res = await scim.post('/Groups', {
      schemas: [GROUP_SCHEMA],
      displayName: `concurrent ${randomUUID().slice(0, 8)}`,
      members: members.map((value) => ({ value })),
    });
    expect(res.status, res.text).to.equal(201);
    return res.body.id;
  };

  /** Member ids as stored, read straight from the table. */
  const storedMembers = async (groupId: string): Promise<string[]> =>
    (await server.services.db.query<{ member_id: string }>('SELECT member_id FROM group_members WHERE group_id = ? ORDER BY member_id', [groupId])).map((r) => r.member_id);

  const version = async (path: string): Promise<string> => {
    const res = await scim.get(path);
    expect(res.status, res.text).to.equal(200);
    return res.body.meta.version as string;
  };

  const statuses = (responses: ScimResponse[]) => responses.map((r) => r.status);

  it('50 concurrent PATCH add-member requests all succeed and all 50 users end up in the group', async () => {
    const users = await createUsers(50);
    const group = await createGroup();
    const responses = await Promise.all(users.map((id) => scim.patch(`/Groups/${group}`, patchOf({ op: 'add', path: 'members', value: [{ value: id }] }))));
    expect(statuses(responses)).to.deep.equal(users.map(() => 204));
    expect(await storedMembers(group)).to.deep.equal([...users].sort());
    const read = await scim.get(`/Groups/${group}`);
    expect(read.body.members.map((m: { value: string }) => m.value).sort()).to.deep.equal([...users].sort());
    // Each add was its own change: version 1 plus 50, one audit event each.
    expect(read.body.meta.version).to.equal('W/"51"');
    const audited = await server.services.db.query<{ details: string }>("SELECT details FROM audit_events WHERE action = 'group.update' AND target_id = ?", [group]);
    expect(audited.flatMap((a) => (JSON.parse(a.details) as { membersAdded: string[] }).membersAdded).sort()).to.deep.equal([...users].sort());
  });

  it('the same user added by 20 concurrent requests is a member once, added once', async () => {
    const [user] = await createUsers(1);
    const group = await createGroup();
    const responses = await Promise.all(Array.from({ length: 20 }, () => scim.patch(`/Groups/${group}`, patchOf({ op: 'Add', path: 'members', value: [{ value: user }] }))));
    expect(statuses(responses)).to.deep.equal(Array(20).fill(204));
    expect(await storedMembers(group)).to.deep.equal([user]);
    expect(await version(`/Groups/${group}`)).to.equal('W/"2"');
  });

  it('concurrent removes never lose a concurrent add', async () => {
    const leaving = await createUsers(20);
    const joining = await createUsers(20);
    const group = await createGroup(leaving);
    expect(await storedMembers(group)).to.have.length(20);
    const requests: Array<Promise<ScimResponse>> = [];
    for (let i = 0; i < 20; i++) {
      requests.push(scim.patch(`/Groups/${group}`, patchOf({ op: 'add', path: 'members', value: [{ value: joining[i] }] })));
      // Both spellings of a removal: Entra's value list and Okta's filter path.
      requests.push(scim.patch(`/Groups/${group}`, i % 2 === 0
        ? patchOf({ op: 'Remove', path: 'members', value: [{ value: leaving[i] }] })
        : patchOf({ op: 'remove', path: `members[value eq "${leaving[i]}"]` })));
    }
    const responses = await Promise.all(requests);
    expect(statuses(responses)).to.deep.equal(requests.map(() => 204));
    expect(await storedMembers(group)).to.deep.equal([...joining].sort());
    expect(await version(`/Groups/${group}`)).to.equal('W/"41"');
  });

  it('renames (PATCH replace with and without path, PUT without members) concurrent with adds never empty the group', async () => {
    const initial = await createUsers(5);
    const joining = await createUsers(20);
    const group = await createGroup(initial);
    const requests: Array<Promise<ScimResponse>> = [];
    const seen: number[] = [];
    for (let i = 0; i < 20; i++) {
      requests.push(scim.patch(`/Groups/${group}`, patchOf({ op: 'add', path: 'members', value: [{ value: joining[i] }] })));
      if (i % 4 === 0) requests.push(scim.patch(`/Groups/${group}`, patchOf({ op: 'replace', path: 'displayName', value: `renamed ${i}` })));
      if (i % 4 === 1) requests.push(scim.patch(`/Groups/${group}`, patchOf({ op: 'replace', value: { displayName: `renamed ${i}` } })));
      if (i % 4 === 2) requests.push(scim.put(`/Groups/${group}`, { schemas: [GROUP_SCHEMA], displayName: `renamed ${i}` }));
      if (i % 4 === 3) {
        requests.push(scim.get(`/Groups/${group}`).then((res) => {
          seen.push((res.body.members ?? []).length);
          return { ...res, status: res.status === 200 ? 204 : res.status };
        }));
      }
    }
    const responses = await Promise.all(requests);
    // PUT answers 200 with the group; everything else here answers 204 (the GETs are mapped to it).
    expect(statuses(responses).filter((s) => s !== 200 && s !== 204)).to.deep.equal([]);
    expect(statuses(responses).filter((s) => s === 200)).to.have.length(5);
    expect(seen).to.have.length(5);
    for (const n of seen) expect(n).to.be.within(5, 25);
    expect(await storedMembers(group)).to.deep.equal([...initial, ...joining].sort());
    const read = await scim.get(`/Groups/${group}`);
    expect(read.body.displayName).to.match(/^renamed \d+$/);
    expect(read.body.meta.version).to.equal('W/"36"');
  });

  it('concurrent POSTs of one userName (in any case): exactly one 201, the rest 409 uniqueness', async () => {
    const userName = `race.${randomUUID().slice(0, 8)}@example.com`;
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => scim.post('/Users', newUser({ userName: i % 2 ? userName.toUpperCase() : userName }))));
    const created = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status !== 201);
    expect(created).to.have.length(1);
    expect(refused).to.have.length(19);
    for (const res of refused) {
      expect(res.status, res.text).to.equal(409);
      expect(res.body.schemas).to.deep.equal([ERROR]);
      expect(res.body.status).to.equal('409');
      expect(res.body.scimType).to.equal('uniqueness');
    }
    const rows = await server.services.db.query<{ id: string }>('SELECT id FROM identities WHERE user_name = ?', [userName.toLowerCase()]);
    expect(rows.map((r) => r.id)).to.deep.equal([created[0]!.body.id]);
    const audited = await server.services.db.query<{ target_id: string }>("SELECT target_id FROM audit_events WHERE action = 'identity.create' AND target_id = ?", [created[0]!.body.id]);
    expect(audited).to.have.length(1);
    // The losers left no value rows behind either.
    const [{ n }] = (await server.services.db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM identity_values v LEFT JOIN identities i ON i.id = v.identity_id WHERE i.id IS NULL')) as [{ n: number | string }];
    expect(Number(n)).to.equal(0);
  });

  it('concurrent PATCHes of different attributes of one user are all applied (no lost update)', async () => {
    const [user] = await createUsers(1);
    const changes: Array<[string, unknown]> = [
      ['title', 'Staff Engineer'],
      ['nickName', 'Ace'],
      ['displayName', 'Ada L.'],
      ['name.givenName', 'Ada'],
      ['name.familyName', 'Lovelace'],
      ['locale', 'en-GB'],
      ['timezone', 'Europe/London'],
      ['preferredLanguage', 'en'],
      ['userType', 'Employee'],
      ['active', 'False'],
      ['phoneNumbers', [{ type: 'work', value: '+44 20 7946 0000' }]],
      [`${ENTERPRISE}:department`, 'Research'],
      [`${ENTERPRISE}:costCenter`, 'CC-42'],
      [`${ENTERPRISE}:manager`, { value: 'mgr-1' }],
    ];
    const responses = await Promise.all(changes.map(([path, value]) => scim.patch(`/Users/${user}`, patchOf({ op: 'Replace', path, value }))));
    expect(statuses(responses)).to.deep.equal(changes.map(() => 200));
    const read = await scim.get(`/Users/${user}`);
    const u = read.body;
    expect(u.title).to.equal('Staff Engineer');
    expect(u.nickName).to.equal('Ace');
    expect(u.displayName).to.equal('Ada L.');
    expect(u.name.givenName).to.equal('Ada');
    expect(u.name.familyName).to.equal('Lovelace');
    expect(u.locale).to.equal('en-GB');
    expect(u.timezone).to.equal('Europe/London');
    expect(u.preferredLanguage).to.equal('en');
    expect(u.userType).to.equal('Employee');
    expect(u.active).to.equal(false);
    expect(u.phoneNumbers).to.deep.equal([{ type: 'work', value: '+44 20 7946 0000' }]);
    expect(u[ENTERPRISE].department).to.equal('Research');
    expect(u[ENTERPRISE].costCenter).to.equal('CC-42');
    expect(u[ENTERPRISE].manager).to.deep.equal({ value: 'mgr-1' });
    expect(u.meta.version).to.equal(`W/"${1 + changes.length}"`);
    // The filter columns agree with the document.
    const found = await scim.get(`/Users?filter=${encodeURIComponent('title eq "staff engineer" and active eq false and phoneNumbers.value eq "+44 20 7946 0000"')}`);
    expect(found.body.Resources.map((r: { id: string }) => r.id)).to.deep.equal([user]);
  });

  it('a user deleted while being added to groups leaves no member row behind', async () => {
    const users = await createUsers(15);
    const groups = await Promise.all([createGroup(), createGroup(), createGroup()]);
    const requests: Array<Promise<ScimResponse>> = [];
    for (const id of users) {
      for (const group of groups) requests.push(scim.patch(`/Groups/${group}`, patchOf({ op: 'add', path: 'members', value: [{ value: id }] })));
      requests.push(scim.delete(`/Users/${id}`));
    }
    const responses = await Promise.all(requests);
    // An add that ran after the delete is refused (400: no such user); none may fail otherwise.
    for (const res of responses) expect([204, 400], res.text).to.include(res.status);
    expect(responses.filter((r) => r.status === 400).every((r) => /^no User or Group with id /.test(r.body.detail))).to.equal(true);
    for (const group of groups) expect(await storedMembers(group)).to.deep.equal([]);
    const [{ n }] = (await server.services.db.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM group_members m LEFT JOIN identities i ON i.id = m.member_id WHERE m.member_type = 'user' AND i.id IS NULL",
    )) as [{ n: number | string }];
    expect(Number(n)).to.equal(0);
  });

  it('two groups added into each other at the same moment both succeed (a deadlock victim is retried)', async () => {
    for (let round = 0; round < 5; round++) {
      const [g, h] = await Promise.all([createGroup(), createGroup()]);
      const [a, b] = await Promise.all([
        scim.patch(`/Groups/${g}`, patchOf({ op: 'add', path: 'members', value: [{ value: h }] })),
        scim.patch(`/Groups/${h}`, patchOf({ op: 'add', path: 'members', value: [{ value: g }] })),
      ]);
      expect([a.status, b.status], `${a.text} ${b.text}`).to.deep.equal([204, 204]);
      expect(await storedMembers(g)).to.deep.equal([h]);
      expect(await storedMembers(h)).to.deep.equal([g]);
    }
  });
});
