import { expect } from 'chai';
import { createSlackConnector } from '../../connectors/slack/index.js';
import { ConnectorError, type AccountAttributes, type Connector, type Operation, type TargetAccount } from '../../src/provisioning/connector.js';
import * as slackFake from '../support/slack-fake/index.js';
import type { SlackFake } from '../support/slack-fake/index.js';
import { accountRef, connectorFailure } from '../support/connector-assertions.js';

const TOKEN = 'xoxp-1111-2222-secret-token';

function person(n: number, extra: Partial<AccountAttributes> = {}): AccountAttributes {
  return { userName: `user${n}@example.com`, givenName: `Given${n}`, familyName: `Family${n}`, displayName: `Person ${n}`, email: `person${n}@example.com`, extra: {}, ...extra };
}

const ref = (accountKey: string | null, accountId?: string) => accountRef('slack', accountKey, accountId);

const failure = connectorFailure;

async function all(pages: AsyncIterable<TargetAccount[]>): Promise<TargetAccount[][]> {
  const out: TargetAccount[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

describe('the Slack connector against the fake Slack SCIM API', () => {
  let fake: SlackFake;
  let slack: Connector;

  const connect = (settings: Record<string, unknown> = {}): Connector =>
    createSlackConnector('slack', { baseUrl: fake.url, token: TOKEN, ...settings });
  const run = (key: string | null, operation: Operation) => slack.execute(ref(key), operation, `key-${operation.op}`);
  const create = (attributes: AccountAttributes, memberships: string[] = [], enabled = true) =>
    run(null, { op: 'create', attributes, enabled, memberships });

  beforeEach(async () => {
    fake = await slackFake.start({ token: TOKEN });
    slack = connect();
  });

  afterEach(async () => {
    const violations = [...fake.violations];
    await fake.close();
    expect(violations, 'requests Slack documentation forbids').to.deep.equal([]);
  });

  describe('connection', () => {
    it('test() passes with the right token and fails permanently with a wrong one, never showing it', async () => {
      await slack.test();
      const wrong = createSlackConnector('slack', { baseUrl: fake.url, token: 'xoxp-9999-wrong-secret' });
      const e = await failure(wrong.test());
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('401').and.include('invalid_authentication');
      expect(e.message).not.to.include('xoxp-9999-wrong-secret');
      expect(e.message).not.to.include(TOKEN);
    });

    it('reads the token from the environment and names a missing variable, not a value', async () => {
      process.env.SLACK_TEST_TOKEN = TOKEN;
      try {
        await createSlackConnector('slack', { baseUrl: fake.url, token: { env: 'SLACK_TEST_TOKEN' } }).test();
      } finally {
        delete process.env.SLACK_TEST_TOKEN;
      }
      expect(() => createSlackConnector('slack', { baseUrl: fake.url, token: { env: 'SLACK_TEST_TOKEN' } })).to.throw(/SLACK_TEST_TOKEN is not set/);
    });

    it('refuses settings it cannot honour, naming the setting', () => {
      expect(() => connect({ pageSize: 5000 })).to.throw(/target slack: pageSize/);
      expect(() => connect({ attributes: { nickname: 'userName' } })).to.throw(/attributes: target attributes must be among/);
      expect(() => createSlackConnector('slack', { baseUrl: fake.url })).to.throw(/token/);
    });

    it('is retryable when Slack cannot be reached', async () => {
      const url = fake.url;
      await fake.close();
      const e = await failure(createSlackConnector('slack', { baseUrl: url, token: TOKEN, timeoutMs: 2000 }).test());
      expect(e.retryable).to.equal(true);
      fake = await slackFake.start({ token: TOKEN });
    });
  });

  describe('accounts', () => {
    it('creates a user with its groups, and a second create changes nothing', async () => {
      const { accountKey } = await create(person(1), ['platform', 'eng']);
      expect(accountKey).to.match(/^U[0-9A-Z]+$/);
      const user = fake.user(accountKey!)!;
      expect(user).to.include({ userName: 'user1', givenName: 'Given1', familyName: 'Family1', displayName: 'Person 1', active: true });
      expect(user.emails).to.deep.equal([{ value: 'person1@example.com', primary: true }]);
      expect(fake.groupsOf(accountKey!)).to.deep.equal(['eng', 'platform']);

      // Again with the key the first create reported, and again as a retry that never saw it.
      expect(await slack.execute(ref(accountKey!), { op: 'create', attributes: person(1), enabled: true, memberships: ['platform', 'eng'] }, 'k')).to.deep.equal({ accountKey });
      expect(await create(person(1), ['platform', 'eng'])).to.deep.equal({ accountKey });
      expect(fake.directory.users.size).to.equal(1);
      expect(fake.directory.groups.size).to.equal(2);
      expect(fake.groupsOf(accountKey!)).to.deep.equal(['eng', 'platform']);
    });

    it('answers a 409 on create with the user Slack already has, reactivated and brought in line', async () => {
      const existing = fake.addUser({ userName: 'user2', email: 'person2@example.com', displayName: 'Old Name', active: false });
      expect(await create(person(2), ['platform'])).to.deep.equal({ accountKey: existing });
      expect(fake.requests.some((r) => r.method === 'POST' && r.path.endsWith('/Users') && r.status === 409)).to.equal(true);
      expect(fake.user(existing)).to.include({ active: true, displayName: 'Person 2', givenName: 'Given2' });
      expect(fake.groupsOf(existing)).to.deep.equal(['platform']);
    });

    it('finds the existing user by email when Slack has it under another userName', async () => {
      const existing = fake.addUser({ userName: 'someone.else', email: 'person3@example.com' });
      expect(await create(person(3))).to.deep.equal({ accountKey: existing });
      expect(fake.user(existing)!.userName).to.equal('user3');
      expect(fake.directory.users.size).to.equal(1);
    });

    it("refuses to take over a user who has the same userName but another email", async () => {
      const stranger = fake.addUser({ userName: 'jane.doe', email: 'jane.doe@elsewhere.example', displayName: 'Jane Somebody' });
      const e = await failure(create(person(21, { userName: 'Jane.Doe@example.com' })));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include(stranger).and.include('another email');
      expect(fake.user(stranger)).to.include({ displayName: 'Jane Somebody', active: true });
      expect(fake.directory.users.size).to.equal(1);
      expect((await failure(run(null, { op: 'update', attributes: person(21, { userName: 'jane.doe' }) }))).message).to.include('another email');
    });

    it('creates a user planned disabled with its groups, then deactivates it', async () => {
      const { accountKey } = await create(person(4), ['platform'], false);
      expect(fake.user(accountKey!)!.active).to.equal(false);
      expect(fake.groupsOf(accountKey!)).to.deep.equal(['platform']);
      const { accountKey: again } = await create(person(4), [], false);
      expect(again).to.equal(accountKey);
      expect(fake.user(accountKey!)!.active).to.equal(false);
    });

    it('refuses to create without an email, before asking Slack', async () => {
      const e = await failure(create(person(5, { email: undefined })));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('email');
      expect(fake.requests).to.deep.equal([]);
    });

    it('updates the mapped attributes, twice to the same effect, and locates the user by email when no key is known', async () => {
      const { accountKey } = await create(person(6));
      const changed = person(6, { givenName: 'Renée', familyName: "O'Brien, Jr.", displayName: 'Renée O.', email: 'renee@example.com' });
      for (let i = 0; i < 2; i++) expect(await run(accountKey!, { op: 'update', attributes: changed })).to.deep.equal({});
      expect(fake.user(accountKey!)).to.include({ givenName: 'Renée', familyName: "O'Brien, Jr.", displayName: 'Renée O.' });
      expect(fake.user(accountKey!)!.emails).to.deep.equal([{ value: 'renee@example.com', primary: true }]);
      expect(await run(null, { op: 'update', attributes: { ...changed, displayName: 'Found By Email' } })).to.deep.equal({ accountKey });
      expect(fake.user(accountKey!)!.displayName).to.equal('Found By Email');
    });

    it('fails an update of a user Slack does not have, permanently', async () => {
      const e = await failure(run('U0000DOESNOT', { op: 'update', attributes: person(7) }));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('does not exist');
      expect((await failure(run(null, { op: 'update', attributes: person(7) }))).retryable).to.equal(false);
    });

    it('deactivates and reactivates, each twice, keeping the user', async () => {
      const { accountKey } = await create(person(8));
      for (let i = 0; i < 2; i++) await run(accountKey!, { op: 'disable' });
      expect(fake.user(accountKey!)!.active).to.equal(false);
      expect((await slack.get(accountKey!))!.enabled).to.equal(false);
      for (let i = 0; i < 2; i++) await run(accountKey!, { op: 'enable' });
      expect(fake.user(accountKey!)!.active).to.equal(true);
      expect((await slack.get(accountKey!))!.enabled).to.equal(true);
    });

    it('treats disable and delete of an account never created, or unknown to Slack, as done; enable of one as an error', async () => {
      await run(null, { op: 'disable' });
      await run(null, { op: 'delete' });
      await run('U0000GONE000', { op: 'disable' });
      await run('U0000GONE000', { op: 'delete' });
      expect((await failure(run(null, { op: 'enable' }))).retryable).to.equal(false);
      expect((await failure(run('U0000GONE000', { op: 'enable' }))).retryable).to.equal(false);
    });

    it('delete deactivates, since Slack keeps every user, and is safe to repeat', async () => {
      const { accountKey } = await create(person(9), ['platform']);
      for (let i = 0; i < 2; i++) expect(await run(accountKey!, { op: 'delete' })).to.deep.equal({});
      expect(fake.user(accountKey!)).to.include({ active: false });
      expect(slack.keepsDisabledAccounts).to.equal(true);
    });

    it('get answers the account in flat attributes, or null for an unknown id', async () => {
      const { accountKey } = await create(person(10, { userName: 'Zoë.Ünal@example.com' }), ['b-team', 'a-team']);
      expect(await slack.get(accountKey!)).to.deep.equal({
        accountKey,
        enabled: true,
        attributes: { userName: 'zo_._nal', givenName: 'Given10', familyName: 'Family10', displayName: 'Person 10', email: 'person10@example.com' },
        memberships: ['a-team', 'b-team'],
      });
      // What was planned compares equal to what Slack keeps, userName conversion included.
      expect(slack.targetAttributes(person(10, { userName: 'Zoë.Ünal@example.com' }))).to.deep.equal((await slack.get(accountKey!))!.attributes);
      expect(await slack.get('U0000NOBODY0')).to.equal(null);
    });
  });

  describe('group memberships', () => {
    it('creates a missing group with the member, adds to an existing one, each twice', async () => {
      const { accountKey } = await create(person(11));
      const existing = fake.addGroup('existing');
      for (let i = 0; i < 2; i++) {
        await run(accountKey!, { op: 'add-membership', entitlement: 'brand-new' });
        await run(accountKey!, { op: 'add-membership', entitlement: 'existing' });
      }
      expect([...fake.group('brand-new')!.members]).to.deep.equal([accountKey]);
      expect([...fake.group('existing')!.members]).to.deep.equal([accountKey]);
      expect(fake.group('existing')!.id).to.equal(existing);
      expect(fake.directory.groups.size).to.equal(2);
      // Group ids are looked up once per name.
      expect(fake.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Groups'))).to.have.length(2);
    });

    it('removes a member, twice, and treats a group that does not exist as already left', async () => {
      const { accountKey } = await create(person(12), ['platform']);
      const other = fake.addUser({ userName: 'other', email: 'other@example.com' });
      fake.group('platform')!.members.add(other);
      for (let i = 0; i < 2; i++) await run(accountKey!, { op: 'remove-membership', entitlement: 'platform' });
      expect([...fake.group('platform')!.members]).to.deep.equal([other]);
      await run(accountKey!, { op: 'remove-membership', entitlement: 'no-such-group' });
      await run(null, { op: 'remove-membership', entitlement: 'platform' });
      expect((await failure(run(null, { op: 'add-membership', entitlement: 'platform' }))).retryable).to.equal(false);
    });

    it('finds a group again when the one it knew was deleted', async () => {
      const { accountKey } = await create(person(13), ['platform']);
      const first = fake.group('platform')!.id;
      fake.directory.groups.delete(first);
      await run(accountKey!, { op: 'add-membership', entitlement: 'platform' });
      expect(fake.group('platform')!.id).not.to.equal(first);
      expect([...fake.group('platform')!.members]).to.deep.equal([accountKey]);
    });

    it("fails permanently with Slack's own text when Slack refuses a member", async () => {
      const { accountKey } = await create(person(14));
      await run(accountKey!, { op: 'disable' });
      const e = await failure(run(accountKey!, { op: 'add-membership', entitlement: 'platform' }));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('400').and.include('unable_to_add_deleted_or_guest_to_group');
    });
  });

  describe('list', () => {
    it('reads every user a page at a time, with groups and state', async () => {
      const ids: string[] = [];
      for (let n = 0; n < 25; n++) ids.push(fake.addUser({ userName: `member${n}`, email: `member${n}@example.com`, active: n % 5 !== 0 }));
      fake.addGroup('zeta', ids.slice(0, 3));
      fake.addGroup('alpha', ids.slice(0, 2));
      const pages = await all(connect({ pageSize: 10 }).list());
      expect(pages.map((p) => p.length)).to.deep.equal([10, 10, 5]);
      const accounts = pages.flat();
      expect(accounts.map((a) => a.accountKey)).to.deep.equal(ids);
      expect(accounts[0]).to.deep.equal({ accountKey: ids[0], enabled: false, attributes: { userName: 'member0', email: 'member0@example.com' }, memberships: ['alpha', 'zeta'] });
      expect(accounts[2]!.memberships).to.deep.equal(['zeta']);
      expect(accounts.filter((a) => !a.enabled)).to.have.length(5);
      expect(fake.requests.map((r) => r.method)).to.deep.equal(['GET', 'GET', 'GET']);
    });

    it('reads an empty organisation as no pages, and waits out a 429 between pages', async () => {
      expect(await all(slack.list())).to.deep.equal([]);
      for (let n = 0; n < 4; n++) fake.addUser({ userName: `m${n}`, email: `m${n}@example.com` });
      fake.failNext({ status: 429, retryAfter: 0, path: '/Users' });
      expect((await all(connect({ pageSize: 3 }).list())).map((p) => p.length)).to.deep.equal([3, 1]);
    });

    it('fails a list Slack answers 5xx to, as retryable', async () => {
      fake.failNext({ status: 500, path: '/Users' });
      expect((await failure(all(slack.list()))).retryable).to.equal(true);
    });
  });

  describe('failures and limits', () => {
    it("answers 429 with Slack's Retry-After as a retryable error, having changed nothing", async () => {
      fake.failNext({ status: 429, retryAfter: 7, method: 'POST', path: '/Users' });
      const e = await failure(create(person(15)));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.equal(7000);
      expect(e.message).to.include('429').and.include('too_many_requests');
      expect(fake.directory.users.size).to.equal(0);
      await create(person(15));
      expect(fake.directory.users.size).to.equal(1);
    });

    it('answers 5xx as retryable, for writes and reads alike', async () => {
      fake.failNext({ status: 503, times: 2 });
      expect((await failure(create(person(16)))).retryable).to.equal(true);
      expect((await failure(slack.get('U0000000001'))).retryable).to.equal(true);
      await create(person(16));
    });

    it("meets Slack's documented per-endpoint limit when writes come faster than it", async () => {
      const small = await slackFake.start({ token: TOKEN, rateLimits: { userCreate: { perMinute: 60, burst: 2 } } });
      try {
        const hurried = createSlackConnector('slack', { baseUrl: small.url, token: TOKEN, writesPerMinute: 100_000, writeBurst: 1000 });
        await hurried.execute(ref(null, 'a'), { op: 'create', attributes: person(17), enabled: true, memberships: [] }, 'a');
        await hurried.execute(ref(null, 'b'), { op: 'create', attributes: person(18), enabled: true, memberships: [] }, 'b');
        const e = await failure(hurried.execute(ref(null, 'c'), { op: 'create', attributes: person(19), enabled: true, memberships: [] }, 'c'));
        expect(e.retryable).to.equal(true);
        expect(e.retryAfterMs).to.be.at.least(1000);
        expect(small.rateLimited).to.equal(1);
        expect(small.violations).to.deep.equal([]);
      } finally {
        await small.close();
      }
    });

    it('keeps a burst of writes under the limit by waiting, where the same burst unlimited is refused', async () => {
      // The same rate, and three tokens of headroom over the connector's burst: a request reaches
      // the fake a moment after the limiter let it go (longer on a loaded machine), and a late
      // first burst leaves the fake's bucket that much behind.
      const limits = { userCreate: { perMinute: 1200, burst: 6 }, orgWrites: { perMinute: 1200, burst: 6 } };
      const burst = async (settings: Record<string, unknown>): Promise<SlackFake> => {
        const target = await slackFake.start({ token: TOKEN, rateLimits: limits });
        const c = createSlackConnector('slack', { baseUrl: target.url, token: TOKEN, ...settings });
        await Promise.allSettled(Array.from({ length: 15 }, (_, n) =>
          c.execute(ref(null, `acc-${n}`), { op: 'create', attributes: person(100 + n), enabled: true, memberships: [] }, `k${n}`)));
        await target.close();
        return target;
      };
      const unlimited = await burst({ writesPerMinute: 100_000, writeBurst: 1000 });
      expect(unlimited.rateLimited, 'the burst is more than the fake admits').to.be.greaterThan(0);
      const limited = await burst({ writesPerMinute: 1200, writeBurst: 3 });
      expect(limited.rateLimited).to.equal(0);
      expect(limited.directory.users.size).to.equal(15);
      expect(limited.writes()).to.equal(15);
      expect([...unlimited.violations, ...limited.violations]).to.deep.equal([]);
    });

    it('meets the lock Slack puts on a user being updated as a retryable 429', async () => {
      const slow = await slackFake.start({ token: TOKEN, latencyMs: 150 });
      try {
        const c = createSlackConnector('slack', { baseUrl: slow.url, token: TOKEN });
        const id = slow.addUser({ userName: 'locked', email: 'locked@example.com' });
        const results = await Promise.allSettled([
          c.execute(ref(id), { op: 'update', attributes: person(20, { userName: 'locked' }) }, 'u1'),
          c.execute(ref(id), { op: 'disable' }, 'd1'),
        ]);
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(refused).to.have.length(1);
        expect(refused[0]!.reason).to.be.instanceOf(ConnectorError).and.include({ retryable: true, retryAfterMs: 1000 });
        expect((refused[0]!.reason as Error).message).to.include('resource_locked');
      } finally {
        await slow.close();
      }
    });
  });
});

describe('the fake Slack SCIM API itself', () => {
  let fake: SlackFake;
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${fake.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeEach(async () => {
    fake = await slackFake.start({ token: TOKEN });
  });
  afterEach(() => fake.close());

  it('refuses requests the documentation forbids, in the SCIM 2.0 error format, and records each', async () => {
    const user = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ada', emails: [{ value: 'ada@example.com', primary: true }] };
    const cases: Array<[Response, number, string]> = [
      [await call('POST', '/Users', { ...user, schemas: undefined }), 400, 'missing_schema_element'],
      [await call('POST', '/Users', { ...user, shoeSize: 44 }), 400, 'invalid_request_payload'],
      [await call('POST', '/Users', { ...user, userName: 'a-name-much-longer-than-21' }), 400, 'username_too_long'],
      [await call('POST', '/Users', { ...user, emails: [] }), 400, 'email_empty'],
      [await call('POST', '/Users', { ...user, displayName: '@ada' }), 400, 'invalid_starts_with_at'],
      [await call('POST', '/Users', '{"schemas": ['), 400, 'invalid_request_payload'],
      [await call('GET', `/Users?filter=${encodeURIComponent('userName eq ada')}`), 400, 'invalid_query'],
      [await call('GET', `/Users?filter=${encodeURIComponent('title eq "x"')}`), 400, 'invalid_query'],
      [await call('GET', '/Nothing'), 404, 'bad_endpoint'],
    ];
    for (const [response, status, detail] of cases) {
      expect(response.status).to.equal(status);
      expect(await response.json()).to.deep.equal({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], detail, status });
    }
    expect(fake.violations).to.have.length(cases.length);
    expect(fake.directory.users.size).to.equal(0);

    const created = await call('POST', '/Users', user);
    expect(created.status).to.equal(201);
    const { id } = (await created.json()) as { id: string };
    const patch = (Operations: unknown) => call('PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations });
    expect((await patch([{ op: 'merge', path: 'title', value: 'x' }])).status).to.equal(400);
    expect((await patch([{ op: 'replace', path: 'password', value: 'x' }])).status).to.equal(400);
    expect((await patch([{ op: 'remove', path: 'emails[value eq "ada@example.com"]' }])).status).to.equal(400);
    expect((await call('GET', '/Users?count=5000')).status).to.equal(200);
    expect(fake.violations).to.have.length(cases.length + 4);
    expect(fake.violations.at(-1)).to.include('count=5000');
  });

  it('answers conflicts, unknown ids and bad tokens as Slack does, without calling them violations', async () => {
    const user = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'Ada.L', emails: [{ value: 'ada@example.com' }] };
    const first = (await (await call('POST', '/Users', user)).json()) as { userName: string };
    expect(first.userName).to.equal('ada.l');
    const again = await call('POST', '/Users', { ...user, emails: [{ value: 'other@example.com' }] });
    expect([again.status, ((await again.json()) as { detail: string }).detail]).to.deep.equal([409, 'username_taken']);
    const sameEmail = await call('POST', '/Users', { ...user, userName: 'other' });
    expect([sameEmail.status, ((await sameEmail.json()) as { detail: string }).detail]).to.deep.equal([409, 'email_taken']);
    expect((await call('GET', '/Users/U0000NOBODY0')).status).to.equal(404);
    const noToken = await fetch(`${fake.url}/Users`);
    expect([noToken.status, ((await noToken.json()) as { detail: string }).detail]).to.deep.equal([401, 'missing_authentication']);
    const found = (await (await call('GET', `/Users?filter=${encodeURIComponent('email eq "ADA@example.com"')}`)).json()) as { totalResults: number };
    expect(found.totalResults).to.equal(1);
    expect(fake.violations).to.deep.equal([]);
  });

  it('applies its documented rate limits with Retry-After, and can be told to fail', async () => {
    const limited = await slackFake.start({ token: TOKEN, rateLimits: { orgReads: { perMinute: 60, burst: 2 } } });
    try {
      const get = () => fetch(`${limited.url}/Users`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect([(await get()).status, (await get()).status]).to.deep.equal([200, 200]);
      const refused = await get();
      expect(refused.status).to.equal(429);
      expect(refused.headers.get('retry-after')).to.equal('1');
      expect(limited.rateLimited).to.equal(1);
    } finally {
      await limited.close();
    }
    fake.failNext({ status: 502, times: 2, method: 'GET' });
    expect([(await call('GET', '/Users')).status, (await call('GET', '/Users')).status, (await call('GET', '/Users')).status]).to.deep.equal([502, 502, 200]);
  });
});
