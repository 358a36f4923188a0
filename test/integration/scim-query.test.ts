/*
 * SCIM 2.0 query conformance (RFC 7644 §3.4.2 filtering, sorting, pagination, attributes and
 * §3.4.3 POST .search), over real HTTP on SQLite and MariaDB.
 *
 * Every expected result is computed here from the data this file creates (the request bodies and
 * the ids/timestamps the server assigned), never copied from server output. Each block uses its
 * own marker (a unique userType, externalId prefix or displayName prefix) ANDed into its filters,
 * so data from other blocks or suites can never leak into an answer.
 *
 * Readings of the RFC where it is not explicit (the server implements the same ones):
 * - Absent attributes: a comparison on an attribute a resource lacks is false for eq, co, sw, ew,
 *   gt, ge, lt, le and pr; `ne` is the complement of `eq`, so it is true (§3.4.3 says an undefined
 *   attribute is treated "as if there is no attribute value", and "no value" is not equal to any
 *   value); `not (filter)` is the plain logical complement, so `not (title eq "x")` and
 *   `title ne "x"` select the same resources, both including those without a title.
 * - `ne` on a multi-valued attribute means "no value equals": `emails.value ne "x"` selects
 *   resources none of whose emails is x (also those without emails), again the complement of `eq`.
 * - Sorting: resources without a value for sortBy come last when ascending and first when
 *   descending (§3.4.2.3). Ties keep the default (creation) order in both directions, i.e. the
 *   sort is stable, so descending is not simply the reverse of ascending when there are ties.
 * - Root `POST /.search` lists matching Users first, then Groups; paging applies to the
 *   concatenation. An attribute that one resource type lacks has no value there (§3.4.3); an
 *   attribute that no resource type has is an invalidFilter error. A sortBy that one type lacks
 *   leaves that type in its default order; one that no type has is invalidValue.
 * - `count=0` answers totalResults with an empty page (itemsPerPage 0, no resources).
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ENTERPRISE, GROUP_SCHEMA, USER_SCHEMA, patchOf, scimClient, type ScimClient, type ScimResponse } from '../support/scim-client.js';

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const ENT = ENTERPRISE;

type Doc = Record<string, any>;
type Op = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/** A resource this file created: the body it sent and what the server assigned. */
interface Made {
  key: string;
  body: Doc;
  id: string;
  created: string;
  lastModified: string;
  /** Ids of the groups a user is a direct member of, or the member ids of a group. */
  links: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const marker = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;
/** A SCIM string literal (JSON string syntax, RFC 7644 §3.4.2.2). */
const lit = (value: string) => JSON.stringify(value);

function qs(params: Record<string, string | number>): string {
  return new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
}

/** Reference semantics of one comparison on a string value (RFC 7644 §3.4.2.2), absent values per the header comment. */
function cmp(actual: unknown, op: Op, value: string, caseExact = false): boolean {
  if (actual === undefined || actual === null) return op === 'ne';
  const a = caseExact ? String(actual) : String(actual).toLowerCase();
  const v = caseExact ? value : value.toLowerCase();
  switch (op) {
    case 'eq': return a === v;
    case 'ne': return a !== v;
    case 'co': return a.includes(v);
    case 'sw': return a.startsWith(v);
    case 'ew': return a.endsWith(v);
    case 'gt': return a > v;
    case 'ge': return a >= v;
    case 'lt': return a < v;
    case 'le': return a <= v;
  }
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';
const ent = (p: Made): Doc => (p.body[ENT] ?? {}) as Doc;
const emailsOf = (p: Made): Doc[] => (p.body.emails ?? []) as Doc[];

function idsOf(res: ScimResponse): string[] {
  return ((res.body?.Resources ?? []) as Doc[]).map((r) => r.id as string);
}

function keysOf(made: Made[], ids: string[]): string[] {
  return ids.map((id) => made.find((m) => m.id === id)?.key ?? `<foreign ${id}>`);
}

/** Asserts a 200 ListResponse whose resources are exactly `expected` (as a set), with consistent counts. */
function expectSet(res: ScimResponse, made: Made[], expected: Made[]): void {
  expect(res.status, res.text).to.equal(200);
  expect(res.body.schemas).to.deep.equal([LIST_RESPONSE]);
  const got = idsOf(res);
  expect(res.body.itemsPerPage).to.equal(got.length);
  expect(new Set(got).size, 'no duplicates').to.equal(got.length);
  expect(keysOf(made, got).sort()).to.deep.equal(expected.map((m) => m.key).sort());
  expect(res.body.totalResults).to.equal(expected.length);
}

/** Asserts a 200 ListResponse whose resources are exactly `expected`, in order. */
function expectOrder(res: ScimResponse, made: Made[], expected: Made[]): void {
  expect(res.status, res.text).to.equal(200);
  const got = idsOf(res);
  expect(res.body.itemsPerPage).to.equal(got.length);
  expect(keysOf(made, got)).to.deep.equal(expected.map((m) => m.key));
}

function expectError(res: ScimResponse, status: number, scimType?: string): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body.schemas).to.deep.equal([ERROR]);
  expect(res.body.status).to.equal(String(status));
  if (scimType) expect(res.body.scimType, res.text).to.equal(scimType);
}

async function createUser(scim: ScimClient, key: string, body: Doc): Promise<Made> {
  const res = await scim.post('/Users', { schemas: [USER_SCHEMA, ...(body[ENT] ? [ENT] : [])], ...body });
  expect(res.status, `create ${key}: ${res.text}`).to.equal(201);
  return { key, body, id: res.body.id, created: res.body.meta.created, lastModified: res.body.meta.lastModified, links: [] };
}

async function createGroup(scim: ScimClient, key: string, body: Doc, members: Made[] = []): Promise<Made> {
  const res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], ...body, members: members.map((m) => ({ value: m.id })) });
  expect(res.status, `create ${key}: ${res.text}`).to.equal(201);
  for (const m of members) m.links.push(res.body.id);
  return { key, body, id: res.body.id, created: res.body.meta.created, lastModified: res.body.meta.lastModified, links: members.map((m) => m.id) };
}

/** One filter case: the filter (ANDed with the block's marker) and the resources it must select. */
interface Case {
  filter: string;
  expect: (p: Made) => boolean;
  /** The expected set may be empty (otherwise an empty expectation is a mistake in the table). */
  empty?: boolean;
}

onEachDatabase('SCIM query conformance (RFC 7644 §3.4.2)', (database) => {
  let server: TestServer;
  let scim: ScimClient;
  before(async () => {
    server = await startTestServer(database().db);
    scim = scimClient(server.scimUrl, await server.token('scim:read,scim:write'));
  });
  after(() => server.close());

  // ---------------------------------------------------------------------------------------------
  describe('filtering', () => {
    const M = marker('qf');
    const D = `${M}.test`;
    const people: Made[] = [];
    const groups: Made[] = [];
    const by: Record<string, Made> = {};
    /** Users created before `t1`; users created after it; `t2` precedes the one later modification. */
    let t1 = '';
    let t2 = '';

    before(async function () {
      this.timeout(30_000);
      const add = async (key: string, body: Doc) => {
        const made = await createUser(scim, key, { userType: M, ...body });
        people.push(made);
        by[key] = made;
        return made;
      };
      await add('alice', {
        userName: `alice@${D}`, externalId: `Ext-Alice-${M}`, displayName: 'Alice Anderson',
        name: { givenName: 'Alice', familyName: 'Anderson' }, title: 'Engineer', active: true,
        emails: [{ value: 'Alice.Work@Example.com', type: 'work', primary: true }, { value: 'alice@home.test', type: 'home' }],
        [ENT]: { department: 'Engineering', employeeNumber: '1001' },
      });
      await add('bob', {
        userName: `bob@${D}`, externalId: `ext-bob-${M}`, displayName: 'Bob Brown',
        name: { givenName: 'Bob', familyName: 'Brown' }, title: 'Senior Engineer', active: false,
        emails: [{ value: 'bob@example.com', type: 'work' }],
        [ENT]: { department: 'Sales', manager: { value: by.alice!.id } },
      });
      await add('emile', {
        userName: `Émile@${D}`, externalId: `EXT-EMILE-${M}`, displayName: 'Émile Zola',
        name: { givenName: 'Émile', familyName: 'Zola' }, active: true,
        emails: [{ value: 'Émile@Example.org', type: 'home' }],
        [ENT]: { department: 'Research', manager: { value: by.bob!.id } },
      });
      await add('john', {
        userName: `john.${M}@x.com`, externalId: `Ext-John-${M}`, displayName: 'John Carter',
        name: { familyName: 'carter' }, title: 'Manager', active: true,
        emails: [{ value: `john.${M}@x.com`, type: 'other' }],
      });
      await add('zoe', {
        userName: `zoe@${D}`, displayName: 'Zoë Østergaard', title: 'engineer', active: true,
        [ENT]: { department: 'engineering' },
      });
      // Titles full of LIKE wildcards, the escape character and quotes, each with a near miss.
      const tricky = ['100% done', '1000 done', 'a_b', 'axb', 'x!y', 'x!!y', 'say "hi"', "O'Brien's", 'back\\slash', '%_!'];
      for (const [i, title] of tricky.entries()) await add(`w${i + 1}`, { userName: `w${i + 1}@${D}`, title });

      groups.push(await createGroup(scim, 'g-eng', { displayName: `Eng ${M}`, externalId: `${M}-g1` }, [by.alice!, by.bob!]));
      groups.push(await createGroup(scim, 'g-research', { displayName: `Research ${M}`, externalId: `${M}-g2` }, [by.emile!]));
      groups.push(await createGroup(scim, 'g-empty', { displayName: `Empty ${M}`, externalId: `${M}-g3` }));

      await sleep(15);
      t1 = new Date().toISOString();
      await sleep(15);
      await add('late1', { userName: `late1@${D}`, title: 'Late' });
      await add('late2', { userName: `late2@${D}` });
      await sleep(15);
      t2 = new Date().toISOString();
      await sleep(15);
      const patched = await scim.patch(`/Users/${by.alice!.id}`, patchOf({ op: 'replace', path: 'nickName', value: 'Al' }));
      expect(patched.status, patched.text).to.equal(200);
      by.alice!.body.nickName = 'Al';
      by.alice!.lastModified = patched.body.meta.lastModified;
    });

    const s = (path: string, get: (p: Made) => unknown, op: Op, value: string, caseExact = false): Case =>
      ({ filter: `${path} ${op} ${lit(value)}`, expect: (p) => cmp(get(p), op, value, caseExact) });
    const userName = (p: Made) => p.body.userName;
    const displayName = (p: Made) => p.body.displayName;
    const familyName = (p: Made) => p.body.name?.familyName;
    const title = (p: Made) => p.body.title;
    const externalId = (p: Made) => p.body.externalId;
    const department = (p: Made) => ent(p).department;
    const managerId = (p: Made) => ent(p).manager?.value;
    const DEPT = `${ENT}:department`;
    const MANAGER = `${ENT}:manager.value`;

    const userCases = (): Case[] => {
      const a = by.alice!;
      const b = by.bob!;
      const gEng = groups[0]!;
      return [
        // userName: caseExact false, every operator.
        s('userName', userName, 'eq', `ALICE@${D.toUpperCase()}`),
        s('userName', userName, 'ne', `alice@${D}`),
        s('userName', userName, 'co', 'O'),
        s('userName', userName, 'sw', 'W'),
        s('userName', userName, 'ew', `@${D}`),
        s('userName', userName, 'gt', 'john'),
        s('userName', userName, 'ge', `john.${M}@x.com`),
        s('userName', userName, 'lt', 'BOB'),
        s('userName', userName, 'le', `bob@${D}`),
        { filter: 'userName pr', expect: (p) => present(userName(p)) },
        // Trailing spaces are significant (MariaDB's PAD SPACE collations would ignore them in "=").
        { filter: `userName eq ${lit(`alice@${D} `)}`, expect: () => false, empty: true },
        { filter: `title eq "engineer "`, expect: () => false, empty: true },
        // Non-ASCII case folding.
        s('userName', userName, 'eq', `émile@${D}`),
        s('userName', userName, 'eq', `ÉMILE@${D.toUpperCase()}`),
        { filter: `userName eq ${lit(`emile@${D}`)}`, expect: () => false, empty: true },
        s('displayName', displayName, 'co', 'ÉMILE'),
        s('displayName', displayName, 'sw', 'zoË'),
        s('displayName', displayName, 'ew', 'ØSTERGAARD'),
        // displayName, name.familyName, title.
        s('displayName', displayName, 'eq', 'bob brown'),
        s('displayName', displayName, 'ne', 'Bob Brown'),
        s('displayName', displayName, 'co', 'an'),
        s('displayName', displayName, 'gt', 'c'),
        s('displayName', displayName, 'le', 'bob brown'),
        s('name.familyName', familyName, 'eq', 'ANDERSON'),
        s('name.familyName', familyName, 'ne', 'anderson'),
        s('name.familyName', familyName, 'co', 'R'),
        s('name.familyName', familyName, 'sw', 'zo'),
        s('name.familyName', familyName, 'ew', 'ER'),
        s('name.familyName', familyName, 'gt', 'C'),
        s('name.familyName', familyName, 'ge', 'carter'),
        s('name.familyName', familyName, 'lt', 'Carter'),
        s('name.familyName', familyName, 'le', 'brown'),
        { filter: 'name.familyName pr', expect: (p) => present(familyName(p)) },
        { filter: 'name pr', expect: (p) => Object.values(p.body.name ?? {}).some(present) },
        s('title', title, 'eq', 'Engineer'),
        s('title', title, 'ne', 'Engineer'),
        s('title', title, 'co', 'ENGINEER'),
        s('title', title, 'sw', 'senior'),
        s('title', title, 'ew', 'ER'),
        s('title', title, 'gt', 'm'),
        s('title', title, 'ge', 'manager'),
        s('title', title, 'lt', 'b'),
        s('title', title, 'le', 'engineer'),
        { filter: 'title pr', expect: (p) => present(title(p)) },
        // externalId is caseExact.
        s('externalId', externalId, 'eq', `Ext-Alice-${M}`, true),
        { filter: `externalId eq ${lit(`ext-alice-${M}`)}`, expect: () => false, empty: true },
        s('externalId', externalId, 'ne', `Ext-Alice-${M}`, true),
        s('externalId', externalId, 'co', 'EXT', true),
        s('externalId', externalId, 'co', 'xt-', true),
        s('externalId', externalId, 'sw', 'ext-', true),
        s('externalId', externalId, 'sw', 'Ext', true),
        s('externalId', externalId, 'ew', `-${M}`, true),
        { filter: `externalId ew ${lit(`-${M.toUpperCase()}`)}`, expect: () => false, empty: true },
        s('externalId', externalId, 'gt', 'ext', true),
        s('externalId', externalId, 'lt', 'Ext-B', true),
        { filter: 'externalId pr', expect: (p) => present(externalId(p)) },
        // id.
        { filter: `id eq ${lit(a.id)}`, expect: (p) => p === a },
        { filter: `id ne ${lit(a.id)}`, expect: (p) => p !== a },
        // active (boolean), including the string spellings Entra ID sends.
        { filter: 'active eq true', expect: (p) => p.body.active !== false },
        { filter: 'active eq false', expect: (p) => p.body.active === false },
        { filter: 'active ne true', expect: (p) => p.body.active === false },
        { filter: 'active ne false', expect: (p) => p.body.active !== false },
        { filter: 'active eq "False"', expect: (p) => p.body.active === false },
        { filter: 'active eq True', expect: (p) => p.body.active !== false },
        { filter: 'active pr', expect: () => true },
        { filter: 'not (active pr)', expect: () => false, empty: true },
        { filter: 'not (active eq true)', expect: (p) => p.body.active === false },
        // meta.created / meta.lastModified around known times.
        { filter: `meta.created gt ${lit(t1)}`, expect: (p) => p.created > t1 },
        { filter: `meta.created lt ${lit(t1)}`, expect: (p) => p.created < t1 },
        { filter: `meta.created ge ${lit(by.late1!.created)}`, expect: (p) => p.created >= by.late1!.created },
        { filter: `meta.created le ${lit(by.late1!.created)}`, expect: (p) => p.created <= by.late1!.created },
        { filter: `meta.created eq ${lit(by.late2!.created)}`, expect: (p) => p.created === by.late2!.created },
        { filter: `meta.created ne ${lit(by.late2!.created)}`, expect: (p) => p.created !== by.late2!.created },
        { filter: `meta.lastModified gt ${lit(t2)}`, expect: (p) => p.lastModified > t2 },
        { filter: `meta.lastModified lt ${lit(t2)}`, expect: (p) => p.lastModified < t2 },
        { filter: `meta.lastModified gt ${lit(t1)} and meta.created lt ${lit(t1)}`, expect: (p) => p.lastModified > t1 && p.created < t1 },
        // Other spellings of the same instant: an offset, no milliseconds, unquoted.
        { filter: `meta.created gt ${lit(new Date(Date.parse(t1)).toISOString().replace(/\.\d+Z$/, 'Z'))}`, expect: (p) => p.created > t1.replace(/\.\d+Z$/, '.000Z') },
        { filter: `meta.created lt ${lit(offset(t1, 120))}`, expect: (p) => p.created < t1 },
        { filter: `meta.created gt 2000-01-01T00:00:00Z`, expect: () => true },
        { filter: 'meta.created pr', expect: () => true },
        // Enterprise extension by full URN.
        s(DEPT, department, 'eq', 'engineering'),
        s(DEPT, department, 'ne', 'Sales'),
        s(DEPT, department, 'co', 'EAR'),
        s(DEPT, department, 'sw', 'eng'),
        s(DEPT, department, 'ew', 'ES'),
        s(DEPT, department, 'gt', 'r'),
        s(DEPT, department, 'le', 'research'),
        { filter: `${DEPT} pr`, expect: (p) => present(department(p)) },
        { filter: `not (${DEPT} pr)`, expect: (p) => !present(department(p)) },
        s(MANAGER, managerId, 'eq', a.id, true),
        { filter: `${MANAGER} eq ${lit(a.id.toUpperCase())}`, expect: () => false, empty: true },
        s(MANAGER, managerId, 'ne', a.id, true),
        s(MANAGER, managerId, 'sw', b.id.slice(0, 8), true),
        { filter: `${MANAGER} pr`, expect: (p) => present(managerId(p)) },
        { filter: `${ENT}:manager pr`, expect: (p) => present(managerId(p)) },
        // Multi-valued emails.
        { filter: 'emails.value eq "alice.work@example.com"', expect: (p) => emailsOf(p).some((e) => cmp(e.value, 'eq', 'alice.work@example.com')) },
        { filter: 'emails.value eq "ÉMILE@EXAMPLE.ORG"', expect: (p) => p === by.emile },
        { filter: 'emails co "EXAMPLE.ORG"', expect: (p) => emailsOf(p).some((e) => cmp(e.value, 'co', 'example.org')) },
        { filter: 'emails.value ew "@example.com"', expect: (p) => emailsOf(p).some((e) => cmp(e.value, 'ew', '@example.com')) },
        { filter: 'emails.value sw "alice"', expect: (p) => emailsOf(p).some((e) => cmp(e.value, 'sw', 'alice')) },
        { filter: 'emails.value ne "bob@example.com"', expect: (p) => !emailsOf(p).some((e) => cmp(e.value, 'eq', 'bob@example.com')) },
        { filter: 'emails.type eq "OTHER"', expect: (p) => emailsOf(p).some((e) => e.type === 'other') },
        { filter: 'emails.primary eq true', expect: (p) => emailsOf(p).some((e) => e.primary === true) },
        { filter: 'emails pr', expect: (p) => emailsOf(p).length > 0 },
        { filter: 'not (emails pr)', expect: (p) => emailsOf(p).length === 0 },
        { filter: 'emails[type eq "work" and value ew "@example.com"]', expect: (p) => emailsOf(p).some((e) => e.type === 'work' && cmp(e.value, 'ew', '@example.com')) },
        // One value must satisfy the whole bracket: Alice has a home email and an @example.com one, but not both in one.
        { filter: 'emails[type eq "home" and value ew "@example.com"]', expect: () => false, empty: true },
        { filter: 'emails.type eq "home" and emails.value ew "@example.com"', expect: (p) => p === by.alice },
        { filter: 'emails[not (type eq "home")]', expect: (p) => emailsOf(p).some((e) => e.type !== 'home') },
        { filter: 'not (emails[type eq "home"])', expect: (p) => !emailsOf(p).some((e) => e.type === 'home') },
        { filter: 'emails[value sw "ALICE" or type eq "other"]', expect: (p) => emailsOf(p).some((e) => cmp(e.value, 'sw', 'alice') || e.type === 'other') },
        { filter: 'emails[value pr]', expect: (p) => emailsOf(p).length > 0 },
        // groups on users (direct memberships).
        { filter: `groups.value eq ${lit(gEng.id)}`, expect: (p) => p.links.includes(gEng.id) },
        { filter: `groups eq ${lit(gEng.id)}`, expect: (p) => p.links.includes(gEng.id) },
        { filter: `groups.display eq ${lit(`RESEARCH ${M}`)}`, expect: (p) => p === by.emile },
        { filter: 'groups pr', expect: (p) => p.links.length > 0 },
        { filter: 'not (groups pr)', expect: (p) => p.links.length === 0 },
        { filter: `groups[value eq ${lit(gEng.id)}] and active eq true`, expect: (p) => p.links.includes(gEng.id) && p.body.active !== false },
        // Logic and nesting.
        { filter: 'title eq "engineer" and active eq true', expect: (p) => cmp(title(p), 'eq', 'engineer') && p.body.active !== false },
        { filter: 'title eq "manager" or active eq false', expect: (p) => cmp(title(p), 'eq', 'manager') || p.body.active === false },
        {
          filter: '((title eq "engineer" or title eq "manager") and not (active eq false))',
          expect: (p) => (cmp(title(p), 'eq', 'engineer') || cmp(title(p), 'eq', 'manager')) && p.body.active !== false,
        },
        {
          filter: `not ((title co "engineer") or (${DEPT} eq "sales"))`,
          expect: (p) => !(cmp(title(p), 'co', 'engineer') || cmp(department(p), 'eq', 'sales')),
        },
        {
          filter: `title sw "senior" or (${DEPT} eq "research" and not (emails.type eq "work"))`,
          expect: (p) => cmp(title(p), 'sw', 'senior') || (cmp(department(p), 'eq', 'research') && !emailsOf(p).some((e) => e.type === 'work')),
        },
        { filter: 'not (not (title eq "manager"))', expect: (p) => cmp(title(p), 'eq', 'manager') },
        {
          filter: 'title eq "engineer" or title eq "manager" and active eq false',
          // "and" binds tighter than "or".
          expect: (p) => cmp(title(p), 'eq', 'engineer') || (cmp(title(p), 'eq', 'manager') && p.body.active === false),
        },
        // Absent attributes: see the header comment.
        { filter: 'title ne "engineer"', expect: (p) => !cmp(title(p), 'eq', 'engineer') },
        { filter: 'not (title eq "engineer")', expect: (p) => !cmp(title(p), 'eq', 'engineer') },
        { filter: 'not (title gt "m")', expect: (p) => !cmp(title(p), 'gt', 'm') },
        { filter: 'not (title pr)', expect: (p) => !present(title(p)) },
        { filter: 'nickName ne "al"', expect: (p) => p !== by.alice },
        // Attribute names, operators and keywords in any case; schema-qualified core names.
        { filter: `USERNAME EQ ${lit(`alice@${D}`)}`, expect: (p) => p === by.alice },
        { filter: `Name.FAMILYNAME Eq "anderson"`, expect: (p) => p === by.alice },
        { filter: 'EMAILS[TYPE eq "work"] AND Not (Active EQ false)', expect: (p) => emailsOf(p).some((e) => e.type === 'work') && p.body.active !== false },
        { filter: `URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:DEPARTMENT eq "SALES"`, expect: (p) => cmp(department(p), 'eq', 'sales') },
        { filter: `urn:ietf:params:scim:schemas:core:2.0:User:userName eq ${lit(`bob@${D}`)}`, expect: (p) => p === by.bob },
        { filter: `EXTERNALID eq ${lit(`Ext-John-${M}`)}`, expect: (p) => p === by.john },
        // Unquoted values (Entra ID).
        { filter: `userName eq john.${M}@x.com`, expect: (p) => p === by.john },
        { filter: `externalId eq Ext-Alice-${M}`, expect: (p) => p === by.alice },
        // LIKE wildcards, the escape character and quotes match literally.
        s('title', title, 'co', '0% d'),
        s('title', title, 'co', '%'),
        s('title', title, 'sw', '%'),
        s('title', title, 'co', 'a_b'),
        s('title', title, 'ew', '_b'),
        s('title', title, 'co', '_'),
        s('title', title, 'co', 'x!y'),
        s('title', title, 'ew', '!y'),
        s('title', title, 'co', '!!'),
        s('title', title, 'ew', '_!'),
        s('title', title, 'eq', 'say "hi"'),
        s('title', title, 'co', '"hi"'),
        s('title', title, 'co', "o'b"),
        s('title', title, 'eq', "O'BRIEN'S"),
        s('title', title, 'co', 'k\\s'),
        s('title', title, 'sw', 'back\\'),
        { filter: 'title eq "a%"', expect: () => false, empty: true },
        { filter: 'title sw "x!!"', expect: (p) => cmp(title(p), 'sw', 'x!!') },
      ];
    };

    it('every case of the table has a sensible expectation', () => {
      for (const c of userCases()) {
        const n = people.filter(c.expect).length;
        if (c.empty) expect(n, c.filter).to.equal(0);
        else expect(n, `${c.filter} selects no fixture: the case cannot tell a broken server from a working one`).to.be.greaterThan(0);
      }
    });

    it('answers every filter of the table with exactly the expected Users (GET /Users)', async function () {
      this.timeout(30_000);
      const failures: string[] = [];
      for (const c of userCases()) {
        const res = await scim.get(`/Users?${qs({ filter: `userType eq ${lit(M)} and (${c.filter})`, count: 1000 })}`);
        const want = people.filter(c.expect).map((p) => p.key).sort();
        const got = res.status === 200 ? keysOf(people, idsOf(res)).sort() : [];
        if (res.status !== 200) failures.push(`${c.filter}\n    → ${res.status} ${res.text}`);
        else if (JSON.stringify(got) !== JSON.stringify(want) || res.body.totalResults !== want.length || res.body.itemsPerPage !== got.length) {
          failures.push(`${c.filter}\n    expected ${JSON.stringify(want)}\n    got      ${JSON.stringify(got)} (totalResults ${res.body.totalResults})`);
        }
      }
      expect(failures, `\n  ${failures.join('\n  ')}\n`).to.deep.equal([]);
    });

    it('answers the same table through POST /Users/.search', async function () {
      this.timeout(30_000);
      const failures: string[] = [];
      for (const c of userCases()) {
        const res = await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter: `userType eq ${lit(M)} and (${c.filter})`, count: 1000 });
        const want = people.filter(c.expect).map((p) => p.key).sort();
        const got = res.status === 200 ? keysOf(people, idsOf(res)).sort() : [];
        if (res.status !== 200 || JSON.stringify(got) !== JSON.stringify(want) || res.body.totalResults !== want.length) {
          failures.push(`${c.filter} → ${res.status} ${JSON.stringify(got)} (want ${JSON.stringify(want)})`);
        }
      }
      expect(failures, `\n  ${failures.join('\n  ')}\n`).to.deep.equal([]);
    });

    const groupCases = (): Case[] => {
      const [gEng, gResearch] = groups;
      const a = by.alice!;
      const e = by.emile!;
      return [
        { filter: `members.value eq ${lit(a.id)}`, expect: (g) => g.links.includes(a.id) },
        { filter: `members eq ${lit(e.id)}`, expect: (g) => g.links.includes(e.id) },
        { filter: `members.value eq ${lit(a.id.toUpperCase())}`, expect: () => false, empty: true },
        { filter: `members[value eq ${lit(by.bob!.id)}]`, expect: (g) => g.links.includes(by.bob!.id) },
        { filter: `members.value ne ${lit(a.id)}`, expect: (g) => !g.links.includes(a.id) },
        { filter: 'members pr', expect: (g) => g.links.length > 0 },
        { filter: 'not (members pr)', expect: (g) => g.links.length === 0 },
        { filter: 'members.display co "zola"', expect: (g) => g === gResearch },
        { filter: `displayName eq ${lit(`EMPTY ${M}`)}`, expect: (g) => cmp(g.body.displayName, 'eq', `empty ${M}`) },
        { filter: 'displayName sw "eng"', expect: (g) => cmp(g.body.displayName, 'sw', 'eng') },
        { filter: `displayName ew ${lit(` ${M.toUpperCase()}`)}`, expect: () => true },
        { filter: 'displayName co "SEARCH"', expect: (g) => cmp(g.body.displayName, 'co', 'search') },
        { filter: 'displayName gt "f"', expect: (g) => cmp(g.body.displayName, 'gt', 'f') },
        { filter: 'displayName ne "eng"', expect: () => true },
        { filter: `externalId eq ${lit(`${M}-g1`)}`, expect: (g) => g === gEng },
        { filter: `id eq ${lit(gEng!.id)} or members.value eq ${lit(e.id)}`, expect: (g) => g === gEng || g === gResearch },
        { filter: `DISPLAYNAME sw "Research" and not (MEMBERS pr)`, expect: () => false, empty: true },
        { filter: `meta.created ge ${lit(gResearch!.created)}`, expect: (g) => g.created >= gResearch!.created },
      ];
    };

    it('answers filters on Groups (members.value, displayName) with exactly the expected groups', async function () {
      const failures: string[] = [];
      for (const c of groupCases()) {
        const n = groups.filter(c.expect).length;
        if (c.empty ? n !== 0 : n === 0) failures.push(`${c.filter}: bad table entry (${n} expected)`);
        for (const via of ['get', 'search'] as const) {
          const filter = `externalId sw ${lit(`${M}-`)} and (${c.filter})`;
          const res = via === 'get'
            ? await scim.get(`/Groups?${qs({ filter })}`)
            : await scim.post('/Groups/.search', { schemas: [SEARCH_REQUEST], filter });
          const want = groups.filter(c.expect).map((g) => g.key).sort();
          const got = res.status === 200 ? keysOf(groups, idsOf(res)).sort() : [];
          if (res.status !== 200 || JSON.stringify(got) !== JSON.stringify(want) || res.body.totalResults !== want.length) {
            failures.push(`${via} ${c.filter} → ${res.status} ${JSON.stringify(got)} (want ${JSON.stringify(want)}) ${res.status !== 200 ? res.text : ''}`);
          }
        }
      }
      expect(failures, `\n  ${failures.join('\n  ')}\n`).to.deep.equal([]);
    });

    const invalidUserFilters = [
      // Syntax.
      'userName eq',
      'userName xx "a"',
      'userName "a"',
      '(userName eq "a"',
      'userName eq "a")',
      'userName eq "a" and',
      'or userName eq "a"',
      'userName eq "unterminated',
      'userName eq "bad \\q escape"',
      'emails[type eq "work"',
      'emails[type eq "work"].value eq "x"',
      'emails[type[value eq "x"]]',
      'not userName eq "a"',
      'userName pr "x"',
      '"userName" eq "a"',
      'userName eq "a" userName eq "b"',
      '()',
      ' ',
      '1userName eq "a"',
      // Unknown attributes.
      'foo eq "x"',
      'name.nickname eq "x"',
      'emails.foo eq "x"',
      'emails[foo eq "x"]',
      'userName[value eq "x"]',
      `${ENT}:foo eq "x"`,
      'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"',
      'urn:example:unknown:schema:userName eq "x"',
      'meta.foo gt "2020-01-01T00:00:00Z"',
      // Operators the attribute type does not support, and values of the wrong type.
      'active gt true',
      'active le false',
      'active co "t"',
      'active eq "yes"',
      'active eq 1',
      'meta.created co "2024"',
      'meta.created sw "2024-01-01T00:00:00Z"',
      'meta.lastModified ew "Z"',
      'meta.created gt "not-a-date"',
      'meta.created gt "2024-02-30T00:00:00Z"',
      'meta.created gt "2024-13-01T00:00:00Z"',
      'meta.created lt "1"',
      'meta.lastModified lt 12345',
      'meta.created gt true',
      'userName gt true',
      'title eq false',
      'name eq "x"',
      'emails.primary co "t"',
      'emails[type gt true]',
      'title gt null',
    ];

    for (const filter of invalidUserFilters) {
      it(`rejects ${JSON.stringify(filter)} with 400 invalidFilter`, async () => {
        expectError(await scim.get(`/Users?${qs({ filter })}`), 400, 'invalidFilter');
      });
    }

    it('rejects invalid filters on Groups and in .search bodies with 400 invalidFilter', async () => {
      for (const filter of ['userName eq "x"', 'members.value gt true', 'displayName xx "a"', 'members[foo eq "x"]', 'emails pr']) {
        expectError(await scim.get(`/Groups?${qs({ filter })}`), 400, 'invalidFilter');
        expectError(await scim.post('/Groups/.search', { schemas: [SEARCH_REQUEST], filter }), 400, 'invalidFilter');
      }
      for (const filter of ['foo eq "x"', 'active gt true', 'userName eq']) {
        expectError(await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter }), 400, 'invalidFilter');
      }
      expectError(await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter: 42 }), 400, 'invalidFilter');
    });

    it('treats SQL injection attempts as plain values: 200, no match, and the tables unchanged', async () => {
      const rows = async () => ({
        identities: (await database().db.query<{ id: string }>('SELECT id FROM identities ORDER BY id')).map((r) => r.id),
        groups: (await database().db.query<{ id: string }>('SELECT id FROM directory_groups ORDER BY id')).map((r) => r.id),
        values: Number((await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM identity_values'))[0]!.n),
      });
      const before = await rows();
      const attempts = [
        `userName eq "x' OR 1=1 --"`,
        `userName eq "x' OR '1'='1"`,
        `userName eq "'); DROP TABLE identities; --"`,
        `userName eq "x\\" or userName pr or userName eq \\"x"`,
        `displayName co "%' OR 1=1 --"`,
        `title eq "a\\\\' OR 1=1 -- "`,
        `externalId sw "' UNION SELECT id, doc FROM identities --"`,
        `emails[value eq "x' OR 1=1) --"]`,
        `userName eq x'OR'1'='1`,
      ];
      for (const filter of attempts) {
        for (const res of [
          await scim.get(`/Users?${qs({ filter })}`),
          await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter }),
        ]) {
          expect(res.status, `${filter}: ${res.text}`).to.equal(200);
          expect(res.body.totalResults, filter).to.equal(0);
          expect(idsOf(res), filter).to.deep.equal([]);
        }
      }
      expect(await rows()).to.deep.equal(before);
      const all = await scim.get(`/Users?${qs({ filter: `userType eq ${lit(M)}`, count: 1000 })}`);
      expectSet(all, people, people);
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('sorting', () => {
    const M = marker('qs');
    const people: Made[] = [];
    const groups: Made[] = [];
    before(async function () {
      this.timeout(30_000);
      const rows: Array<[string, Doc]> = [
        ['delta', { userName: `delta@${M}.test`, externalId: `b-${M}`, name: { familyName: 'Miller' }, emails: [{ value: 'z@s.test' }, { value: 'm@s.test', primary: true }] }],
        ['alpha', { userName: `Alpha@${M}.test`, externalId: `A-${M}`, name: { familyName: 'miller' }, emails: [{ value: 'b@s.test' }, { value: 'a@s.test' }] }],
        ['charlie', { userName: `charlie@${M}.test`, externalId: `a-${M}`, name: { familyName: 'Adams' } }],
        ['bravo', { userName: `bravo@${M}.test`, externalId: `B-${M}`, emails: [{ value: 'x@s.test' }, { value: 'C@s.test', primary: true }] }],
        ['echo', { userName: `echo@${M}.test`, name: { familyName: 'MILLER' }, emails: [{ value: 'k@s.test' }] }],
        ['foxtrot', { userName: `Foxtrot@${M}.test`, externalId: `c-${M}`, name: { familyName: 'Baker' } }],
      ];
      for (const [key, body] of rows) {
        people.push(await createUser(scim, key, { userType: M, ...body }));
        // Distinct creation times, so the default order and tie order are known.
        await sleep(4);
      }
      for (const name of ['Gamma', 'alpha', 'Beta']) {
        groups.push(await createGroup(scim, name, { displayName: `${name} ${M}`, externalId: `${M}-${name}` }));
        await sleep(4);
      }
    });

    /** The order RFC 7644 §3.4.2.3 asks for: by key, no value last (ascending) or first (descending), ties in creation order. */
    function ordered(items: Made[], key: (m: Made) => string | undefined, descending: boolean): Made[] {
      return items
        .map((m, index) => ({ m, index, k: key(m) }))
        .sort((x, y) => {
          if (x.k === undefined || y.k === undefined) {
            if (x.k === y.k) return x.index - y.index;
            return (x.k === undefined) !== descending ? 1 : -1;
          }
          if (x.k !== y.k) return (x.k < y.k) !== descending ? -1 : 1;
          return x.index - y.index;
        })
        .map((x) => x.m);
    }
    const lower = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : undefined);
    /** The value a multi-valued attribute sorts by: the primary one, else the first. */
    const primaryEmail = (m: Made) => {
      const list = emailsOf(m);
      return lower((list.find((e) => e.primary) ?? list[0])?.value);
    };

    const sorts: Array<[string, (m: Made) => string | undefined]> = [
      ['userName', (m) => lower(m.body.userName)],
      ['name.familyName', (m) => lower(m.body.name?.familyName)],
      ['meta.created', (m) => m.created],
      ['emails.value', primaryEmail],
      ['emails', primaryEmail],
      ['externalId', (m) => m.body.externalId as string | undefined],
      ['NAME.FAMILYNAME', (m) => lower(m.body.name?.familyName)],
      [`urn:ietf:params:scim:schemas:core:2.0:User:userName`, (m) => lower(m.body.userName)],
    ];
    for (const [sortBy, key] of sorts) {
      for (const sortOrder of ['ascending', 'descending'] as const) {
        it(`sorts Users by ${sortBy} ${sortOrder}`, async () => {
          const filter = `userType eq ${lit(M)}`;
          const res = await scim.get(`/Users?${qs({ filter, sortBy, sortOrder })}`);
          expectOrder(res, people, ordered(people, key, sortOrder === 'descending'));
          // The same request gives the same order, and .search agrees.
          const again = await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter, sortBy, sortOrder });
          expect(idsOf(again)).to.deep.equal(idsOf(res));
        });
      }
    }

    it('defaults sortOrder to ascending and accepts it in any case', async () => {
      const filter = `userType eq ${lit(M)}`;
      const want = ordered(people, (m) => lower(m.body.userName), false);
      expectOrder(await scim.get(`/Users?${qs({ filter, sortBy: 'userName' })}`), people, want);
      expectOrder(await scim.get(`/Users?${qs({ filter, sortBy: 'userName', sortOrder: 'DESCENDING' })}`), people, ordered(people, (m) => lower(m.body.userName), true));
    });

    it('lists in creation order without sortBy', async () => {
      expectOrder(await scim.get(`/Users?${qs({ filter: `userType eq ${lit(M)}` })}`), people, people);
      expectOrder(await scim.get(`/Groups?${qs({ filter: `externalId sw ${lit(`${M}-`)}` })}`), groups, groups);
    });

    it('sorts Groups by displayName both ways', async () => {
      const filter = `externalId sw ${lit(`${M}-`)}`;
      for (const descending of [false, true]) {
        const res = await scim.get(`/Groups?${qs({ filter, sortBy: 'displayName', sortOrder: descending ? 'descending' : 'ascending' })}`);
        expectOrder(res, groups, ordered(groups, (g) => lower(g.body.displayName), descending));
      }
    });

    it('rejects an unknown or unsortable sortBy and a bad sortOrder with 400 invalidValue', async () => {
      const filter = `userType eq ${lit(M)}`;
      for (const sortBy of ['foo', 'name', 'name.nickname', 'meta.foo', `${ENT}:foo`, 'emails.foo', 'userName[value eq "x"]']) {
        expectError(await scim.get(`/Users?${qs({ filter, sortBy })}`), 400, 'invalidValue');
      }
      expectError(await scim.get(`/Groups?${qs({ sortBy: 'userName' })}`), 400, 'invalidValue');
      expectError(await scim.get(`/Users?${qs({ filter, sortBy: 'userName', sortOrder: 'sideways' })}`), 400, 'invalidValue');
      expectError(await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], sortBy: 'foo' }), 400, 'invalidValue');
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('pagination', () => {
    const M = marker('qp');
    const people: Made[] = [];
    /** A second server on the same database with small page limits. */
    let small: TestServer;
    let smallScim: ScimClient;
    const filter = () => `userType eq ${lit(M)}`;
    before(async function () {
      this.timeout(30_000);
      for (const name of ['kilo', 'alpha', 'juliet', 'bravo', 'india', 'charlie', 'hotel']) {
        people.push(await createUser(scim, name, { userType: M, userName: `${name}@${M}.test` }));
        await sleep(2);
      }
      small = await startTestServer(database().db, { scim: { maxPageSize: 4, defaultPageSize: 2 } });
      smallScim = scimClient(small.scimUrl, await small.token());
    });
    after(() => small.close());

    const byName = () => [...people].sort((a, b) => (a.body.userName < b.body.userName ? -1 : 1));
    const page = (params: Record<string, string | number>) => scim.get(`/Users?${qs({ filter: filter(), sortBy: 'userName', ...params })}`);

    it('treats startIndex 0 and negative as 1', async () => {
      for (const startIndex of [0, -1, -100]) {
        const res = await page({ startIndex, count: 3 });
        expectOrder(res, people, byName().slice(0, 3));
        expect(res.body.startIndex).to.equal(1);
        expect(res.body.totalResults).to.equal(people.length);
      }
    });

    it('answers count=0 with totalResults only', async () => {
      for (const res of [await page({ count: 0 }), await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter: filter(), count: 0 })]) {
        expect(res.status).to.equal(200);
        expect(res.body.totalResults).to.equal(people.length);
        expect(res.body.itemsPerPage).to.equal(0);
        expect(res.body.Resources ?? []).to.deep.equal([]);
      }
    });

    it('treats a negative count as 0', async () => {
      const res = await page({ count: -5 });
      expect(res.status).to.equal(200);
      expect(res.body.totalResults).to.equal(people.length);
      expect(idsOf(res)).to.deep.equal([]);
    });

    it('clamps count to scim.maxPageSize and uses scim.defaultPageSize when count is absent', async () => {
      const wanted = byName();
      const clamped = await smallScim.get(`/Users?${qs({ filter: filter(), sortBy: 'userName', count: 100 })}`);
      expectOrder(clamped, people, wanted.slice(0, 4));
      expect(clamped.body.totalResults).to.equal(people.length);
      const defaulted = await smallScim.get(`/Users?${qs({ filter: filter(), sortBy: 'userName' })}`);
      expectOrder(defaulted, people, wanted.slice(0, 2));
      const searched = await smallScim.post('/Users/.search', { schemas: [SEARCH_REQUEST], filter: filter(), sortBy: 'userName', startIndex: 2, count: 1000 });
      expectOrder(searched, people, wanted.slice(1, 5));
      // The default server (maxPageSize 1000) returns everything for a large count.
      expectOrder(await page({ count: 5000 }), people, wanted);
    });

    it('answers a startIndex beyond the end with an empty page and the right totalResults', async () => {
      for (const startIndex of [people.length + 1, people.length + 50]) {
        const res = await page({ startIndex, count: 3 });
        expect(res.status).to.equal(200);
        expect(res.body.totalResults).to.equal(people.length);
        expect(res.body.startIndex).to.equal(startIndex);
        expect(res.body.itemsPerPage).to.equal(0);
        expect(idsOf(res)).to.deep.equal([]);
      }
      const last = await page({ startIndex: people.length, count: 3 });
      expectOrder(last, people, byName().slice(-1));
    });

    it('pages concatenate to the full sorted list without duplicates or gaps, in every page size', async () => {
      for (const sortOrder of ['ascending', 'descending']) {
        const full = await page({ sortOrder, count: 100 });
        expect(idsOf(full)).to.have.length(people.length);
        for (const size of [1, 2, 3, 5, 7]) {
          const seen: string[] = [];
          for (let start = 1; start <= people.length; start += size) {
            const res = await page({ sortOrder, startIndex: start, count: size });
            expect(res.body.startIndex).to.equal(start);
            expect(res.body.totalResults).to.equal(people.length);
            expect(res.body.itemsPerPage).to.equal(Math.min(size, people.length - start + 1));
            seen.push(...idsOf(res));
          }
          expect(seen, `${sortOrder} by ${size}`).to.deep.equal(idsOf(full));
        }
      }
      // Without sortBy too (creation order).
      const seen: string[] = [];
      for (let start = 1; start <= people.length; start += 3) {
        seen.push(...idsOf(await scim.get(`/Users?${qs({ filter: filter(), startIndex: start, count: 3 })}`)));
      }
      expect(keysOf(people, seen)).to.deep.equal(people.map((p) => p.key));
    });

    it('rejects non-integer count and startIndex with 400', async () => {
      const bad: Array<Record<string, string>> = [{ count: 'abc' }, { startIndex: 'abc' }, { count: '1x' }, { startIndex: 'Infinity' }];
      for (const params of bad) {
        expectError(await page(params), 400, 'invalidValue');
      }
      expectError(await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], count: 'abc' }), 400, 'invalidValue');
      expectError(await scim.post('/Users/.search', { schemas: [SEARCH_REQUEST], startIndex: true }), 400, 'invalidValue');
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('attributes and excludedAttributes', () => {
    const M = marker('qa');
    let user: Made;
    let other: Made;
    let group: Made;
    before(async () => {
      user = await createUser(scim, 'user', {
        userName: `ada@${M}.test`, userType: M, displayName: 'Ada Lovelace', title: 'Countess', externalId: `ext-${M}`,
        name: { givenName: 'Ada', familyName: 'Lovelace', formatted: 'Ada Lovelace' },
        emails: [{ value: `ada@${M}.test`, type: 'work', primary: true }, { value: 'ada@home.test', type: 'home' }],
        [ENT]: { department: 'Analytics', employeeNumber: '1815', manager: { value: 'boss-id' } },
      });
      other = await createUser(scim, 'other', { userName: `grace@${M}.test`, userType: M, displayName: 'Grace' });
      group = await createGroup(scim, 'group', { displayName: `Engines ${M}`, externalId: `${M}-engines` }, [user, other]);
    });

    /** The same request three ways: list (filtered to the one resource), get by id, and .search. */
    async function threeWays(resource: 'Users' | 'Groups', id: string, attributes: Record<string, string>): Promise<Doc[]> {
      const list = await scim.get(`/${resource}?${qs({ filter: `id eq ${lit(id)}`, ...attributes })}`);
      const one = await scim.get(`/${resource}/${id}?${qs(attributes)}`);
      const search = await scim.post(`/${resource}/.search`, {
        schemas: [SEARCH_REQUEST], filter: `id eq ${lit(id)}`,
        ...Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v.split(',')])),
      });
      for (const res of [list, one, search]) expect(res.status, res.text).to.equal(200);
      expect(list.body.totalResults).to.equal(1);
      expect(search.body.totalResults).to.equal(1);
      return [list.body.Resources[0], one.body, search.body.Resources[0]];
    }

    const userSchemas = [USER_SCHEMA, ENT];
    const cases: Array<{ params: Record<string, string>; want: () => Doc }> = [
      { params: { attributes: 'userName' }, want: () => ({ schemas: userSchemas, id: user.id, userName: user.body.userName }) },
      { params: { attributes: 'USERNAME' }, want: () => ({ schemas: userSchemas, id: user.id, userName: user.body.userName }) },
      { params: { attributes: 'userName,externalId' }, want: () => ({ schemas: userSchemas, id: user.id, userName: user.body.userName, externalId: user.body.externalId }) },
      { params: { attributes: 'name.givenName' }, want: () => ({ schemas: userSchemas, id: user.id, name: { givenName: 'Ada' } }) },
      { params: { attributes: 'Name.GivenName,name.FAMILYNAME' }, want: () => ({ schemas: userSchemas, id: user.id, name: { givenName: 'Ada', familyName: 'Lovelace' } }) },
      { params: { attributes: 'emails.value' }, want: () => ({ schemas: userSchemas, id: user.id, emails: [{ value: `ada@${M}.test` }, { value: 'ada@home.test' }] }) },
      { params: { attributes: `${ENT}:department` }, want: () => ({ schemas: userSchemas, id: user.id, [ENT]: { department: 'Analytics' } }) },
      { params: { attributes: `${ENT.toUpperCase()}:DEPARTMENT` }, want: () => ({ schemas: userSchemas, id: user.id, [ENT]: { department: 'Analytics' } }) },
      { params: { attributes: `${ENT}:manager.value,userName` }, want: () => ({ schemas: userSchemas, id: user.id, userName: user.body.userName, [ENT]: { manager: { value: 'boss-id' } } }) },
      { params: { attributes: `urn:ietf:params:scim:schemas:core:2.0:User:title` }, want: () => ({ schemas: userSchemas, id: user.id, title: 'Countess' }) },
      { params: { attributes: 'groups.display' }, want: () => ({ schemas: userSchemas, id: user.id, groups: [{ display: `Engines ${M}` }] }) },
    ];
    for (const c of cases) {
      it(`returns only what attributes=${c.params.attributes} names on list, get and .search`, async () => {
        for (const doc of await threeWays('Users', user.id, c.params)) expect(doc).to.deep.equal(c.want());
      });
    }

    it('drops what excludedAttributes names, keeping id and schemas', async () => {
      const docs = await threeWays('Users', user.id, { excludedAttributes: 'emails,NAME,id,schemas,meta' });
      for (const doc of docs) {
        expect(doc.id).to.equal(user.id);
        expect(doc.schemas).to.deep.equal(userSchemas);
        expect(doc).to.not.have.any.keys('emails', 'name', 'meta');
        expect(doc.userName).to.equal(user.body.userName);
        expect(doc[ENT]).to.deep.equal(user.body[ENT]);
        expect(doc.groups.map((g: Doc) => g.value)).to.deep.equal([group.id]);
      }
      for (const doc of await threeWays('Users', user.id, { excludedAttributes: `emails.type,name.formatted,${ENT}:manager,groups` })) {
        expect(doc.emails).to.deep.equal([{ value: `ada@${M}.test`, primary: true }, { value: 'ada@home.test' }]);
        expect(doc.name).to.deep.equal({ givenName: 'Ada', familyName: 'Lovelace' });
        expect(doc[ENT]).to.deep.equal({ department: 'Analytics', employeeNumber: '1815' });
        expect(doc).to.not.have.property('groups');
      }
    });

    it('applies attributes to every resource of a list', async () => {
      const res = await scim.get(`/Users?${qs({ filter: `userType eq ${lit(M)}`, attributes: 'displayName' })}`);
      expect(res.body.Resources).to.deep.equal([
        { schemas: userSchemas, id: user.id, displayName: 'Ada Lovelace' },
        { schemas: [USER_SCHEMA], id: other.id, displayName: 'Grace' },
      ]);
    });

    it('answers excludedAttributes=members on groups without members, and attributes on members', async () => {
      const members = [user.id, other.id];
      for (const doc of await threeWays('Groups', group.id, { excludedAttributes: 'members' })) {
        expect(doc).to.not.have.property('members');
        expect(doc).to.include({ id: group.id, displayName: `Engines ${M}`, externalId: `${M}-engines` });
        expect(doc.meta.resourceType).to.equal('Group');
      }
      for (const doc of await threeWays('Groups', group.id, { excludedAttributes: 'MEMBERS' })) expect(doc).to.not.have.property('members');
      for (const doc of await threeWays('Groups', group.id, { attributes: 'displayName' })) {
        expect(doc).to.deep.equal({ schemas: [GROUP_SCHEMA], id: group.id, displayName: `Engines ${M}` });
      }
      // Multi-valued attributes are unordered (RFC 7643 §2.4), so members compare as a set.
      const byValue = (list: Doc[]) => [...list].sort((x, y) => (x.value < y.value ? -1 : 1));
      for (const doc of await threeWays('Groups', group.id, { attributes: 'members.value' })) {
        expect({ ...doc, members: byValue(doc.members) }).to.deep.equal({ schemas: [GROUP_SCHEMA], id: group.id, members: byValue(members.map((value) => ({ value }))) });
      }
      for (const doc of await threeWays('Groups', group.id, { excludedAttributes: 'members.value' })) {
        expect(doc.members).to.have.length(2);
        for (const m of doc.members as Doc[]) {
          expect(m).to.not.have.property('value');
          expect(m.type).to.equal('User');
        }
      }
      for (const doc of await threeWays('Groups', group.id, { attributes: GROUP_SCHEMA })) {
        expect(doc.members.map((m: Doc) => m.value)).to.have.members(members);
        expect(doc.displayName).to.equal(`Engines ${M}`);
      }
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('POST .search', () => {
    const M = marker('qr');
    const users: Made[] = [];
    const groups: Made[] = [];
    const all = () => [...users, ...groups];
    before(async () => {
      for (const n of [1, 2, 3]) {
        users.push(await createUser(scim, `u${n}`, { userName: `u${n}@${M}.test`, displayName: `${M} user ${4 - n}`, title: n === 2 ? 'Chief' : undefined }));
        await sleep(2);
      }
      for (const n of [1, 2, 3]) {
        groups.push(await createGroup(scim, `g${n}`, { displayName: `${M} group ${4 - n}`, externalId: `${M}-g${n}` }, n === 1 ? [users[0]!] : []));
        await sleep(2);
      }
    });
    const mine = `displayName sw ${lit(M)}`;
    const root = (body: Doc) => scim.post('/.search', { schemas: [SEARCH_REQUEST], ...body });

    it('searches Users and Groups at the root: Users first, then Groups', async () => {
      const res = await root({ filter: mine });
      expectOrder(res, all(), all());
      expect(res.body.totalResults).to.equal(6);
      expect(res.body.Resources.map((r: Doc) => r.meta.resourceType)).to.deep.equal(['User', 'User', 'User', 'Group', 'Group', 'Group']);
    });

    it('pages across both resource types', async () => {
      for (const size of [1, 2, 4, 5]) {
        const seen: string[] = [];
        for (let start = 1; start <= 6; start += size) {
          const res = await root({ filter: mine, startIndex: start, count: size });
          expect(res.status, res.text).to.equal(200);
          expect(res.body.totalResults).to.equal(6);
          expect(res.body.startIndex).to.equal(start);
          expect(res.body.itemsPerPage).to.equal(Math.min(size, 7 - start));
          seen.push(...idsOf(res));
        }
        expect(keysOf(all(), seen), `pages of ${size}`).to.deep.equal(all().map((m) => m.key));
      }
      const count0 = await root({ filter: mine, count: 0 });
      expect([count0.body.totalResults, idsOf(count0)]).to.deep.equal([6, []]);
      const beyond = await root({ filter: mine, startIndex: 7, count: 3 });
      expect([beyond.body.totalResults, idsOf(beyond)]).to.deep.equal([6, []]);
    });

    it('treats an attribute one resource type lacks as having no value there', async () => {
      const cases: Array<[string, Made[]]> = [
        [`${mine} and userName pr`, users],
        [`${mine} and not (userName pr)`, groups],
        [`${mine} and members pr`, [groups[0]!]],
        [`${mine} and not (members pr)`, [...users, groups[1]!, groups[2]!]],
        [`userName eq ${lit(`u2@${M}.test`)} or displayName eq ${lit(`${M} group 1`)}`, [users[1]!, groups[2]!]],
        [`${mine} and title ne "chief"`, [users[0]!, users[2]!, ...groups]],
        [`${mine} and emails[type eq "work"]`, []],
        [`${mine} and not (emails[type eq "work"])`, all()],
      ];
      for (const [filter, want] of cases) {
        const res = await root({ filter });
        expect(res.status, `${filter}: ${res.text}`).to.equal(200);
        expect(keysOf(all(), idsOf(res)), filter).to.deep.equal(all().filter((m) => want.includes(m)).map((m) => m.key));
        expect(res.body.totalResults, filter).to.equal(want.length);
      }
    });

    it('rejects at the root a filter naming an attribute no resource type has, and bad syntax', async () => {
      for (const filter of ['foo eq "x"', `${mine} and bar pr`, `${mine} and`, 'active gt true']) expectError(await root({ filter }), 400, 'invalidFilter');
    });

    it('sorts each resource type at the root and applies attributes to both', async () => {
      const byName = (list: Made[], descending: boolean) =>
        [...list].sort((a, b) => ((a.body.displayName < b.body.displayName) !== descending ? -1 : 1));
      for (const sortOrder of ['ascending', 'descending'] as const) {
        const res = await root({ filter: mine, sortBy: 'displayName', sortOrder });
        expectOrder(res, all(), [...byName(users, sortOrder === 'descending'), ...byName(groups, sortOrder === 'descending')]);
      }
      // Groups have no userName: they keep their default order.
      expectOrder(await root({ filter: mine, sortBy: 'userName', sortOrder: 'descending' }), all(), [...[...users].reverse(), ...groups]);
      expectError(await root({ filter: mine, sortBy: 'nope' }), 400, 'invalidValue');
      const projected = await root({ filter: mine, attributes: ['displayName'], count: 4 });
      expect(projected.body.Resources).to.deep.equal([
        ...users.map((u) => ({ schemas: [USER_SCHEMA], id: u.id, displayName: u.body.displayName })),
        { schemas: [GROUP_SCHEMA], id: groups[0]!.id, displayName: groups[0]!.body.displayName },
      ]);
      const excluded = await root({ filter: `${mine} and members pr`, excludedAttributes: ['members'] });
      expect(excluded.body.Resources).to.have.length(1);
      expect(excluded.body.Resources[0]).to.not.have.property('members');
    });

    it('answers /Users/.search and /Groups/.search with SearchRequest bodies', async () => {
      const u = await scim.post('/Users/.search', {
        schemas: [SEARCH_REQUEST], filter: mine, sortBy: 'displayName', sortOrder: 'ascending', startIndex: 2, count: 1, attributes: ['userName'],
      });
      expect(u.status).to.equal(200);
      expect(u.body).to.deep.equal({
        schemas: [LIST_RESPONSE], totalResults: 3, itemsPerPage: 1, startIndex: 2,
        Resources: [{ schemas: [USER_SCHEMA], id: users[1]!.id, userName: users[1]!.body.userName }],
      });
      const g = await scim.post('/Groups/.search', { schemas: [SEARCH_REQUEST], filter: mine, excludedAttributes: ['members'], sortBy: 'displayName' });
      expectOrder(g, groups, [...groups].reverse());
      expect(g.body.Resources.some((r: Doc) => 'members' in r)).to.equal(false);
      // Without a filter the search still works (and still sees our rows).
      const everything = await scim.post('/Groups/.search', { schemas: [SEARCH_REQUEST], count: 1000 });
      expect(idsOf(everything)).to.include.members(groups.map((x) => x.id));
    });

    it('rejects a body that is not a SearchRequest', async () => {
      expectError(await scim.post('/Users/.search', { schemas: ['urn:example:wrong'], filter: mine }), 400, 'invalidSyntax');
      expectError(await scim.post('/.search', ['not', 'an', 'object']), 400, 'invalidSyntax');
      expectError(await scim.post('/Groups/.search', 'not json'), 400);
    });
  });
});

/** `iso` written with a +hh:mm offset (same instant). */
function offset(iso: string, minutes: number): string {
  const local = new Date(Date.parse(iso) + minutes * 60_000).toISOString().replace('Z', '');
  const sign = minutes >= 0 ? '+' : '-';
  const abs = Math.abs(minutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
