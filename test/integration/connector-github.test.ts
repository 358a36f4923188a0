import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { createGithubConnector, GithubConnector } from '../../connectors/github/index.js';
import { type AccountAttributes, type AccountRef, type Connector, type Operation, type TargetAccount } from '../../src/provisioning/connector.js';
import * as githubFake from '../support/github-fake/index.js';
import type { GithubFake, Violation } from '../support/github-fake/index.js';
import { accountRef, connectorFailure } from '../support/connector-assertions.js';

const TOKEN = 'ghp_integration_secret_token_0123456789';

function person(login: string | undefined, email?: string): AccountAttributes {
  return { userName: `${login ?? email}`, displayName: 'Some One', ...(email && { email }), extra: login ? { githubLogin: login } : {} };
}

const ref = (accountKey: string | null, accountId?: string) => accountRef('github', accountKey, accountId);

const failure = connectorFailure;

/** Takes the one violation a test provoked on purpose, so the check after each test sees only the unintended ones. */
function takeOnlyViolation(fake: GithubFake, pattern: RegExp): Violation {
  const taken = fake.takeViolations();
  expect(taken, JSON.stringify(taken)).to.have.length(1);
  expect(taken[0]!.problem).to.match(pattern);
  return taken[0]!;
}

async function pages(connector: Connector): Promise<TargetAccount[][]> {
  const out: TargetAccount[][] = [];
  for await (const page of connector.list()) out.push(page);
  return out;
}

async function accounts(connector: Connector): Promise<TargetAccount[]> {
  return (await pages(connector)).flat();
}

/** Runs an operation twice, as a retry would, and checks both runs report the same. */
async function twice(connector: Connector, account: AccountRef, operation: Operation) {
  const first = await connector.execute(account, operation, `key-${operation.op}`);
  const second = await connector.execute({ ...account, accountKey: first.accountKey ?? account.accountKey }, operation, `key-${operation.op}`);
  if (first.accountKey !== undefined) expect(second.accountKey ?? first.accountKey).to.equal(first.accountKey);
  return first;
}

describe('the GitHub connector against the fake GitHub', () => {
  let fake: GithubFake;
  let github: Connector;

  const connect = (settings: Record<string, unknown> = {}): Connector =>
    createGithubConnector('github', { baseUrl: fake.url, org: 'acme', auth: { token: TOKEN }, ...settings });
  const run = (key: string | null, operation: Operation, accountId = 'acc-1') => github.execute(ref(key, accountId), operation, `key-${operation.op}`);
  const create = (attributes: AccountAttributes, memberships: string[] = [], key: string | null = null) =>
    run(key, { op: 'create', attributes, enabled: true, memberships });
  /** How many requests reached the fake while `work` ran. */
  const requestsDuring = async (work: () => Promise<unknown>) => {
    const before = fake.requests.length;
    await work();
    return fake.requests.slice(before);
  };
  const onlyViolation = (pattern: RegExp) => takeOnlyViolation(fake, pattern);

  beforeEach(async () => {
    fake = await githubFake.start({ token: TOKEN });
    fake.state.addTeam('platform', 'Platform');
    fake.state.addTeam('data', 'Data');
    github = connect();
  });

  afterEach(async () => {
    const violations = [...fake.violations];
    await fake.close();
    expect(violations, 'requests GitHub\'s OpenAPI description forbids').to.deep.equal([]);
  });

  describe('connection and settings', () => {
    it('test() passes with the right token and fails permanently with a wrong one, never showing it', async () => {
      await github.test();
      const wrong = connect({ auth: { token: 'ghp_wrong_secret_value' } });
      const e = await failure(wrong.test());
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('401').and.include('Bad credentials');
      expect(e.message).not.to.include('ghp_wrong_secret_value');
      expect(e.message).not.to.include(TOKEN);
      onlyViolation(/not the configured token/);
    });

    it('test() fails permanently with GitHub\'s text for an organization the token cannot see', async () => {
      const e = await failure(connect({ org: 'someone-else' }).test());
      expect(e.retryable).to.equal(false);
      expect(e.message).to.match(/GET \/orgs\/someone-else answered 404: Not Found/);
    });

    it('a GitHub that cannot be reached is a retryable failure', async () => {
      const gone = await githubFake.start({ token: TOKEN });
      await gone.close();
      const e = await failure(createGithubConnector('github', { baseUrl: gone.url, org: 'acme', auth: { token: TOKEN } }).test());
      expect(e.retryable).to.equal(true);
      expect(e.message).to.include('ECONNREFUSED');
      expect(e.message).not.to.include(TOKEN);
    });

    it('works against GitHub Enterprise Server\'s /api/v3 root', async () => {
      const ghes = await githubFake.start({ token: TOKEN, pathPrefix: '/api/v3' });
      try {
        expect(ghes.url).to.match(/\/api\/v3$/);
        ghes.state.addUser('octocat');
        ghes.state.addTeam('platform');
        for (let i = 0; i < 3; i++) ghes.state.addMember(`member${i}`);
        const connector = createGithubConnector('ghes', { baseUrl: `${ghes.url}/`, org: 'acme', auth: { token: TOKEN }, perPage: 2 });
        await connector.test();
        expect(await connector.execute(ref(null), { op: 'create', attributes: person('octocat'), enabled: true, memberships: ['platform'] }, 'k')).to.deep.equal({ accountKey: 'octocat' });
        // Paging links carry the /api/v3 root and are followed.
        expect((await accounts(connector)).map((a) => a.accountKey)).to.deep.equal(['member0', 'member1', 'member2', 'octocat']);
        expect(ghes.violations).to.deep.equal([]);
      } finally {
        await ghes.close();
      }
    });

    it('reads the token from the environment and names a missing variable, not a value', async () => {
      process.env.GITHUB_TEST_TOKEN = TOKEN;
      try {
        await connect({ auth: { token: { env: 'GITHUB_TEST_TOKEN' } } }).test();
      } finally {
        delete process.env.GITHUB_TEST_TOKEN;
      }
      expect(() => connect({ auth: { token: { env: 'GITHUB_TEST_TOKEN' } } })).to.throw(/GITHUB_TEST_TOKEN is not set/);
    });

    it('exposes the defaults: no disabled state, login then email correlation', () => {
      expect(github.keepsDisabledAccounts).to.equal(false);
      expect(github.correlation).to.deep.equal([{ target: 'login', identity: 'extra.githubLogin' }, { target: 'email', identity: 'email' }]);
      expect(github.targetAttributes(person('octocat', 'o@example.com'))).to.deep.equal({ login: 'octocat', email: 'o@example.com' });
      expect(connect({ attributes: { login: 'userName' } }).targetAttributes(person('octocat', 'o@example.com'))).to.deep.equal({ login: 'octocat' });
    });
  });

  describe('every operation, run twice', () => {
    it('create by login invites once; the person is pending with their teams until they accept', async () => {
      fake.state.addUser('octocat');
      const result = await twice(github, ref(null), { op: 'create', attributes: person('octocat', 'octo@example.com'), enabled: true, memberships: ['platform', 'data'] });
      expect(result).to.deep.equal({ accountKey: 'octocat' });
      expect([...fake.state.invitations.values()].map((i) => i.login)).to.deep.equal(['octocat']);
      expect(await github.get('octocat')).to.deep.equal({ accountKey: 'octocat', enabled: true, pending: true, attributes: { login: 'octocat' }, memberships: ['data', 'platform'] });
      fake.acceptInvitation('octocat');
      expect(await github.get('octocat')).to.deep.equal({ accountKey: 'octocat', enabled: true, attributes: { login: 'octocat' }, memberships: ['data', 'platform'] });
    });

    it('create for someone already a member keeps them (an owner stays owner) and adds the teams; the key is the login as GitHub spells it', async () => {
      fake.state.addMember('OctoCat', 'admin');
      expect(await twice(github, ref(null), { op: 'create', attributes: person('octocat'), enabled: true, memberships: ['data'] })).to.deep.equal({ accountKey: 'OctoCat' });
      expect(fake.state.invitations.size).to.equal(0);
      expect(fake.state.members.get('octocat')).to.equal('admin');
      expect([...fake.state.teams.get('data')!.members]).to.deep.equal(['octocat']);
      // The second run found everything in place: it only read.
      expect(fake.requests.filter((r) => r.method !== 'GET')).to.have.length(1);
    });

    it('create by email sends one invitation carrying the team ids', async () => {
      const result = await twice(github, ref(null), { op: 'create', attributes: person(undefined, 'new.hire@example.com'), enabled: true, memberships: ['platform'] });
      const [invitation] = [...fake.state.invitations.values()];
      expect(fake.state.invitations.size).to.equal(1);
      expect(result).to.deep.equal({ accountKey: `invitation:${invitation!.id}` });
      expect(invitation!.email).to.equal('new.hire@example.com');
      expect(invitation!.role).to.equal('direct_member');
      expect([...invitation!.teamIds]).to.deep.equal([fake.state.teams.get('platform')!.id]);
    });

    it('create with memberRole admin invites owners', async () => {
      fake.state.addUser('boss');
      await connect({ memberRole: 'admin' }).execute(ref(null), { op: 'create', attributes: person('boss'), enabled: true, memberships: [] }, 'k');
      fake.acceptInvitation('boss');
      expect(fake.state.members.get('boss')).to.equal('admin');
    });

    it('a create of a disabled account keeps the login out of the organization', async () => {
      fake.state.addMember('octocat');
      expect(await twice(github, ref(null), { op: 'create', attributes: person('octocat'), enabled: false, memberships: [] })).to.deep.equal({ accountKey: 'octocat' });
      expect(fake.state.isMember('octocat')).to.equal(false);
    });

    it('update changes nothing on GitHub for a member and sends no request', async () => {
      fake.state.addMember('octocat');
      const sent = await requestsDuring(() => twice(github, ref('octocat'), { op: 'update', attributes: { ...person('octocat', 'x@example.com'), displayName: 'New Name' } }));
      expect(sent).to.deep.equal([]);
      expect(fake.state.isMember('octocat')).to.equal(true);
    });

    it('disable and delete remove the member from the organization and its teams; gone already is success', async () => {
      fake.state.addMember('octocat');
      fake.state.addMember('other');
      fake.state.addTeamMember('platform', 'octocat');
      await twice(github, ref('octocat'), { op: 'disable' });
      expect(fake.state.isMember('octocat')).to.equal(false);
      expect([...fake.state.teams.get('platform')!.members]).to.deep.equal([]);
      expect((await accounts(github)).map((a) => a.accountKey)).to.deep.equal(['other']);
      expect(await github.get('octocat')).to.equal(null);
      await twice(github, ref('octocat'), { op: 'delete' });
      await twice(github, ref('other'), { op: 'delete' });
      expect(await accounts(github)).to.deep.equal([]);
    });

    it('enable invites again, once', async () => {
      fake.state.addUser('octocat');
      await twice(github, ref('octocat'), { op: 'enable' });
      expect(fake.state.invitations.size).to.equal(1);
      expect((await github.get('octocat'))?.pending).to.equal(true);
      fake.acceptInvitation('octocat');
      await twice(github, ref('octocat'), { op: 'enable' });
      expect(fake.state.isMember('octocat')).to.equal(true);
      expect(fake.state.invitations.size).to.equal(0);
    });

    it('add-membership and remove-membership put a member in a team and take them out', async () => {
      fake.state.addMember('octocat');
      await twice(github, ref('octocat'), { op: 'add-membership', entitlement: 'platform' });
      expect((await github.get('octocat'))?.memberships).to.deep.equal(['platform']);
      await twice(github, ref('octocat'), { op: 'remove-membership', entitlement: 'platform' });
      expect((await github.get('octocat'))?.memberships).to.deep.equal([]);
    });

    it('add-membership for someone only invited makes a pending team membership that becomes real on acceptance', async () => {
      fake.state.addUser('octocat');
      await create(person('octocat'));
      await twice(github, ref('octocat'), { op: 'add-membership', entitlement: 'data' });
      expect(fake.state.teamMembership('data', 'octocat')).to.equal('pending');
      expect((await accounts(github)).find((a) => a.accountKey === 'octocat')?.memberships).to.deep.equal(['data']);
      fake.acceptInvitation('octocat');
      expect(fake.state.teamMembership('data', 'octocat')).to.equal('active');
    });

    it('operations without a key: disable, delete and remove-membership are done, enable and add-membership are permanent errors, update finds the account', async () => {
      fake.state.addMember('octocat');
      const sent = await requestsDuring(async () => {
        await run(null, { op: 'disable' });
        await run(null, { op: 'delete' });
        await run(null, { op: 'remove-membership', entitlement: 'platform' });
      });
      expect(sent).to.deep.equal([]);
      for (const op of [{ op: 'enable' }, { op: 'add-membership', entitlement: 'platform' }] as Operation[]) {
        const e = await failure(run(null, op));
        expect(e.retryable).to.equal(false);
        expect(e.message).to.include('does not exist');
      }
      expect(await run(null, { op: 'update', attributes: person('OCTOCAT') })).to.deep.equal({ accountKey: 'octocat' });
      expect((await failure(run(null, { op: 'update', attributes: person('nobody-here') }))).retryable).to.equal(false);
    });

    it('a changed login moves the organization and team memberships to the new GitHub account', async () => {
      fake.state.addMember('old-handle');
      fake.state.addTeamMember('platform', 'old-handle');
      fake.state.addUser('new-handle');
      expect(await twice(github, ref('old-handle'), { op: 'update', attributes: person('new-handle') })).to.deep.equal({ accountKey: 'new-handle' });
      expect(fake.state.isMember('old-handle')).to.equal(false);
      expect(fake.state.invitationOf('new-handle')?.teamIds.has(fake.state.teams.get('platform')!.id)).to.equal(true);
    });
  });

  describe('invitations by email', () => {
    it('an accepted invitation shows in the list as a member with the invitation\'s teams', async () => {
      const { accountKey } = await create(person(undefined, 'new.hire@example.com'), ['platform', 'data']);
      expect(await accounts(github)).to.deep.equal([
        { accountKey, enabled: true, pending: true, attributes: { email: 'new.hire@example.com' }, memberships: ['data', 'platform'] },
      ]);
      expect(await github.get(accountKey!)).to.deep.equal((await accounts(github))[0]);
      const login = fake.acceptInvitation('new.hire@example.com', 'newhire');
      expect(await accounts(github)).to.deep.equal([{ accountKey: login, enabled: true, attributes: { login: 'newhire' }, memberships: ['data', 'platform'] }]);
      expect(await github.get(accountKey!)).to.equal(null);
    });

    it('an email GitHub knows is keyed by its login from the start', async () => {
      fake.state.addUser('known', { email: 'known@example.com' });
      expect(await create(person(undefined, 'known@example.com'), ['data'])).to.deep.equal({ accountKey: 'known' });
      expect((await accounts(github))[0]).to.deep.include({ accountKey: 'known', pending: true, attributes: { login: 'known', email: 'known@example.com' } });
      await run('known', { op: 'disable' });
      expect(fake.state.invitations.size).to.equal(0);
    });

    it('disable of a pending invitation cancels it (leaver before accepting); twice is fine', async () => {
      const { accountKey } = await create(person(undefined, 'leaver@example.com'), ['platform']);
      await twice(github, ref(accountKey!), { op: 'disable' });
      expect(fake.state.invitations.size).to.equal(0);
      expect(await accounts(github)).to.deep.equal([]);
      expect(await github.get(accountKey!)).to.equal(null);
      await twice(github, ref(accountKey!), { op: 'delete' });
    });

    it('disable of a pending invitation by login cancels it through the membership', async () => {
      fake.state.addUser('octocat');
      await create(person('octocat'), ['data']);
      await twice(github, ref('octocat'), { op: 'disable' });
      expect(fake.state.invitations.size).to.equal(0);
    });

    it('a team change re-issues the invitation with the new team list (new key); no change sends no new invitation', async () => {
      const { accountKey: first } = await create(person(undefined, 'pending@example.com'), ['platform']);
      const added = await twice(github, ref(first!), { op: 'add-membership', entitlement: 'data' });
      expect(added.accountKey).to.match(/^invitation:\d+$/).and.not.equal(first);
      expect(fake.state.invitations.size).to.equal(1);
      expect((await github.get(added.accountKey!))?.memberships).to.deep.equal(['data', 'platform']);
      const removed = await twice(github, ref(added.accountKey!), { op: 'remove-membership', entitlement: 'platform' });
      expect(removed.accountKey).to.match(/^invitation:\d+$/).and.not.equal(added.accountKey);
      const [invitation] = [...fake.state.invitations.values()];
      expect(invitation!.email).to.equal('pending@example.com');
      expect([...invitation!.teamIds]).to.deep.equal([fake.state.teams.get('data')!.id]);
    });

    it('a login that appears replaces the email invitation by one for the login, with the same teams', async () => {
      fake.state.addUser('found-later');
      const { accountKey } = await create(person(undefined, 'later@example.com'), ['platform']);
      const result = await twice(github, ref(accountKey!), { op: 'update', attributes: person('found-later', 'later@example.com') });
      expect(result).to.deep.equal({ accountKey: 'found-later' });
      const invitations = [...fake.state.invitations.values()];
      expect(invitations.map((i) => [i.login, i.email])).to.deep.equal([['found-later', null]]);
      expect([...invitations[0]!.teamIds]).to.deep.equal([fake.state.teams.get('platform')!.id]);
    });

    it('a changed email sends the invitation to the new address', async () => {
      const { accountKey } = await create(person(undefined, 'old@example.com'), ['data']);
      const { accountKey: moved } = await run(accountKey!, { op: 'update', attributes: person(undefined, 'new@example.com') });
      expect((await github.get(moved!))).to.deep.include({ attributes: { email: 'new@example.com' }, memberships: ['data'] });
      expect(fake.state.invitations.size).to.equal(1);
    });

    it('enable or add-membership of an email invitation cancelled on leave is a permanent error that says what to do', async () => {
      const { accountKey } = await create(person(undefined, 'gone@example.com'));
      await run(accountKey!, { op: 'enable' });
      await run(accountKey!, { op: 'disable' });
      const e = await failure(run(accountKey!, { op: 'enable' }));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('no longer pending');
      expect((await failure(run(accountKey!, { op: 'add-membership', entitlement: 'data' }))).message).to.include('no longer pending');
      expect(await run(accountKey!, { op: 'remove-membership', entitlement: 'data' })).to.deep.equal({});
    });

    it('an identity with neither login nor email cannot be invited', async () => {
      const e = await failure(create({ userName: 'ghost', extra: {} }));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('neither a GitHub login');
    });
  });

  describe('GitHub\'s refusals and limits', () => {
    it('an unknown GitHub user is a permanent error with GitHub\'s text', async () => {
      const e = await failure(create(person('no-such-user-anywhere')));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.equal('github: PUT /orgs/acme/memberships/{username} answered 404: Not Found');
    });

    it('a team the organization lacks is a permanent error', async () => {
      fake.state.addMember('octocat');
      const e = await failure(run('octocat', { op: 'add-membership', entitlement: 'no-such-team' }));
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('404').and.include('Not Found');
      const byEmail = await failure(create(person(undefined, 'x@example.com'), ['no-such-team']));
      expect(byEmail.message).to.include('has no team no-such-team');
    });

    it('429 with Retry-After is retryable after that many seconds', async () => {
      fake.state.addUser('octocat');
      fake.failNext({ status: 429, retryAfter: 7 });
      const e = await failure(create(person('octocat')));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.equal(7000);
      expect(e.message).to.include('429').and.include('secondary rate limit');
      expect(e.message).not.to.include(TOKEN);
      expect(await create(person('octocat'))).to.deep.equal({ accountKey: 'octocat' });
    });

    it('403 with x-ratelimit-remaining 0 is retryable when x-ratelimit-reset comes', async () => {
      fake.state.addMember('octocat');
      const reset = Math.floor(Date.now() / 1000) + 120;
      fake.failNext({ status: 403, rateLimitReset: reset });
      const e = await failure(run('octocat', { op: 'disable' }));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.be.within(118_000, 120_000);
      expect(e.message).to.include('403').and.include('API rate limit exceeded');
    });

    it('a secondary-limit 403 is retryable: after Retry-After, or a minute when GitHub names no time', async () => {
      fake.state.addMember('octocat');
      fake.failNext({ status: 403, retryAfter: 30 });
      expect((await failure(run('octocat', { op: 'add-membership', entitlement: 'data' }))).retryAfterMs).to.equal(30_000);
      fake.failNext({ status: 403 });
      const e = await failure(run('octocat', { op: 'add-membership', entitlement: 'data' }));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.equal(60_000);
    });

    it('the organization\'s daily invitation cap is retryable an hour later, not a dead operation', async () => {
      fake.state.invitationsPerDay = 2;
      await create(person(undefined, 'one@example.com'));
      await create(person(undefined, 'two@example.com'));
      const e = await failure(create(person(undefined, 'three@example.com')));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.equal(3_600_000);
      expect(e.message).to.equal('github: POST /orgs/acme/invitations answered 422: Validation Failed: Over invitation rate limit');
      fake.state.addUser('octocat');
      expect((await failure(create(person('octocat')))).retryAfterMs).to.equal(3_600_000);
      expect(fake.state.invitations.size).to.equal(2);
    });

    it('500 and 502 are retryable', async () => {
      fake.failNext({ status: 500 });
      const e500 = await failure(github.test());
      expect(e500.retryable).to.equal(true);
      expect(e500.message).to.include('500');
      fake.failNext({ status: 502 });
      expect((await failure(create(person(undefined, 'a@example.com')))).retryable).to.equal(true);
      await github.test();
    });

    it('list() waits out a short rate limit in the middle of a read, and fails retryable on a long one', async () => {
      for (let i = 0; i < 150; i++) fake.state.addMember(`m${String(i).padStart(3, '0')}`);
      fake.failNext({ status: 429, retryAfter: 1, operationId: 'orgs/list-members' });
      const started = Date.now();
      expect(await accounts(github)).to.have.length(150);
      expect(Date.now() - started).to.be.at.least(900);
      fake.failNext({ status: 403, rateLimitReset: Math.floor(Date.now() / 1000) + 3600, operationId: 'orgs/list-members' });
      const e = await failure(accounts(github));
      expect(e.retryable).to.equal(true);
      expect(e.retryAfterMs).to.be.greaterThan(3_500_000);
    });
  });

  describe('reading for reconciliation', () => {
    it('lists members and invitations a page at a time, with team memberships from one read per team', async () => {
      for (let i = 0; i < 250; i++) fake.state.addMember(`user${String(i).padStart(3, '0')}`);
      fake.state.addTeam('web');
      for (let i = 0; i < 150; i++) fake.state.addTeamMember('platform', `user${String(i).padStart(3, '0')}`);
      for (let i = 100; i < 220; i++) fake.state.addTeamMember('data', `user${String(i).padStart(3, '0')}`);
      for (let i = 0; i < 10; i++) fake.state.addTeamMember('web', `user${String(i * 20).padStart(3, '0')}`);
      for (let i = 0; i < 35; i++) {
        await create(person(undefined, `invitee${i}@example.com`), i < 10 ? ['platform'] : [], null);
      }
      const sent = [] as typeof fake.requests;
      let read: TargetAccount[][] = [];
      sent.push(...(await requestsDuring(async () => {
        read = await pages(github);
      })));
      expect(read.map((p) => p.length)).to.deep.equal([100, 100, 50, 35]);
      const all = read.flat();
      expect(new Set(all.map((a) => a.accountKey)).size).to.equal(285);
      const byKey = new Map(all.map((a) => [a.accountKey, a]));
      expect(byKey.get('user000')?.memberships).to.deep.equal(['platform', 'web']);
      expect(byKey.get('user120')?.memberships).to.deep.equal(['data', 'platform', 'web']);
      expect(byKey.get('user219')?.memberships).to.deep.equal(['data']);
      expect(byKey.get('user249')?.memberships).to.deep.equal([]);
      const invited = all.filter((a) => a.pending);
      expect(invited).to.have.length(35);
      expect(invited.filter((a) => a.memberships.includes('platform'))).to.have.length(10);
      // teams (1) + members of platform (2), data (2), web (1) + invitations of each team (3) + members (3) + invitations (1)
      expect(sent).to.have.length(13);
      expect(sent.every((r) => r.method === 'GET' && /per_page=100/.test(r.path))).to.equal(true);
    });

    it('a member removed from the organization is gone from the list and from its teams', async () => {
      fake.state.addMember('stays');
      fake.state.addMember('leaves');
      fake.state.addTeamMember('platform', 'leaves');
      fake.state.addTeamMember('platform', 'stays');
      await run('leaves', { op: 'disable' });
      expect(await accounts(github)).to.deep.equal([{ accountKey: 'stays', enabled: true, attributes: { login: 'stays' }, memberships: ['platform'] }]);
    });

    it('get() answers for a member, an invitee and an unknown key', async () => {
      fake.state.addMember('member');
      fake.state.addTeamMember('data', 'member');
      expect(await github.get('member')).to.deep.equal({ accountKey: 'member', enabled: true, attributes: { login: 'member' }, memberships: ['data'] });
      expect(await github.get('nobody')).to.equal(null);
      expect(await github.get('invitation:999999')).to.equal(null);
    });
  });

  describe('GitHub App installation auth', () => {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKey = keys.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    let appFake: GithubFake;

    const connectApp = (key = privateKey) =>
      createGithubConnector('github', { baseUrl: appFake.url, org: 'acme', auth: { appId: 31337, installationId: 777, privateKey: key } }) as GithubConnector;

    beforeEach(async () => {
      appFake = await githubFake.start({ app: { appId: 31337, installationId: 777, publicKey: keys.publicKey } });
      appFake.state.addUser('octocat');
      appFake.state.addTeam('platform');
    });

    afterEach(async () => {
      const violations = [...appFake.violations];
      await appFake.close();
      expect(violations, 'requests GitHub\'s OpenAPI description forbids').to.deep.equal([]);
    });

    it('mints an installation token with a signed JWT, caches it and uses it for every request', async () => {
      const connector = connectApp();
      await connector.test();
      await connector.execute(ref(null), { op: 'create', attributes: person('octocat'), enabled: true, memberships: ['platform'] }, 'k');
      await accounts(connector);
      expect(appFake.app!.minted).to.have.length(1);
      expect(connector.installation!.minted).to.equal(1);
      const token = appFake.app!.minted[0]!.token;
      const api = appFake.requests.filter((r) => r.operationId !== 'apps/create-installation-access-token');
      expect(api.length).to.be.greaterThan(3);
      expect(api.every((r) => r.credential === token)).to.equal(true);
      expect(appFake.state.invitationOf('octocat')).to.not.equal(undefined);
    });

    it('mints a new token when the cached one is about to expire', async () => {
      // Tokens that live two minutes are inside the renewal margin at once: every request needs a fresh one.
      appFake.app!.tokenLifetimeSeconds = 120;
      const connector = connectApp();
      await connector.test();
      await connector.test();
      expect(appFake.app!.minted).to.have.length(2);
      appFake.app!.tokenLifetimeSeconds = 3600;
      await connector.test();
      await connector.test();
      expect(appFake.app!.minted).to.have.length(3);
    });

    it('a token GitHub stops accepting is replaced and the request goes through', async () => {
      const connector = connectApp();
      await connector.test();
      appFake.app!.expireTokens();
      await connector.test();
      expect(appFake.app!.minted).to.have.length(2);
      takeOnlyViolation(appFake, /not the configured token nor a valid installation token/);
    });

    it('a JWT signed with the wrong key fails test() permanently, never showing the key or the JWT', async () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const e = await failure(connectApp(other).test());
      expect(e.retryable).to.equal(false);
      expect(e.message).to.include('401').and.include('JSON web token');
      expect(e.message).not.to.match(/eyJ|PRIVATE KEY/);
      takeOnlyViolation(appFake, /app JWT was refused/);
    });

    it('a private key that is not one stops the start, without showing it', () => {
      let message = '';
      try {
        connectApp('not-a-key-secret-material');
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.match(/auth\.privateKey is not a PEM private key/);
      expect(message).not.to.include('secret-material');
    });
  });

  describe('the fake itself', () => {
    const call = (method: string, path: string, init: { body?: unknown; headers?: Record<string, string> } = {}) => fetch(`${fake.url}${path}`, {
      method,
      headers: {
        accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'test', authorization: `Bearer ${TOKEN}`,
        ...(init.body !== undefined && { 'content-type': 'application/json' }), ...init.headers,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });

    it('rejects requests GitHub\'s description forbids and records each', async () => {
      fake.state.addUser('octocat');
      const badRole = await call('PUT', '/orgs/acme/memberships/octocat', { body: { role: 'owner' } });
      expect(badRole.status).to.equal(422);
      expect(((await badRole.json()) as { message: string }).message).to.match(/^Invalid request/);
      onlyViolation(/body\/role must be equal to one of the allowed values/);

      expect((await call('POST', '/orgs/acme/invitations', { body: { email: 'a@example.com', teams: ['platform'] } })).status).to.equal(422);
      onlyViolation(/must NOT have additional properties \(teams\)/);

      expect((await call('GET', '/orgs/acme/members?per_page=lots')).status).to.equal(422);
      onlyViolation(/query parameter per_page must be integer/);

      expect((await call('GET', '/orgs/acme/members?perpage=100')).status).to.equal(422);
      onlyViolation(/query parameter perpage is not documented/);

      expect((await call('DELETE', '/orgs/acme/invitations/not-a-number')).status).to.equal(422);
      onlyViolation(/path parameter invitation_id must be integer/);

      expect((await call('PATCH', '/orgs/acme/memberships/octocat', { body: { role: 'member' } })).status).to.equal(404);
      onlyViolation(/no documented GitHub operation/);

      expect((await call('GET', '/orgs/acme', { headers: { authorization: '' } })).status).to.equal(401);
      onlyViolation(/no Authorization token/);

      expect((await call('GET', '/orgs/acme', { headers: { 'x-github-api-version': '2021-01-01' } })).status).to.equal(400);
      onlyViolation(/X-GitHub-Api-Version/);

      expect((await call('GET', '/orgs/acme/repos')).status).to.equal(404);
      onlyViolation(/does not implement/);
      expect(fake.state.invitations.size).to.equal(0);
    });

    it('accepts what the description allows and answers in the documented shapes', async () => {
      fake.state.addUser('octocat');
      const put = await call('PUT', '/orgs/acme/memberships/octocat', { body: { role: 'member' } });
      expect(put.status).to.equal(200);
      expect(await put.json()).to.deep.include({ state: 'pending', role: 'member' });
      expect((await call('GET', '/orgs/acme/teams/platform')).status).to.equal(200);
      expect((await call('GET', '/orgs/acme/invitations?per_page=1&page=1')).headers.get('link')).to.equal(null);
      expect(fake.violations).to.deep.equal([]);
    });
  });
});

