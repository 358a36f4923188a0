import { expect } from 'chai';
import { configWith } from '../../src/config/index.js';
import { registerRequestCommands } from '../../src/cli/request-commands.js';
import { CliError } from '../../src/cli/with.js';
import { GovernanceError } from '../../src/governance/errors.js';
import type { AccessRequestView } from '../../src/governance/requests/model.js';
import { closeServices, createServices, type AppServices } from '../../src/http/app.js';
import { createLogger } from '../../src/log/logger.js';
import { runCli, runInProcess } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';
import { governanceFixtures, type GovernanceFixtures, type Person } from '../support/governance-fixtures.js';

/*
 * `iam request list|show|approve|deny` on a test database: in this process for speed, and once
 * through the real binary for the exit status and the one-line refusal.
 */
onEachDatabase('iam request', (database) => {
  let services: AppServices;
  let f: GovernanceFixtures;
  const people: Record<string, Person> = {};
  const iam = (...args: string[]) => runInProcess((program) => registerRequestCommands(program, (work) => work(services), () => 'cli:tester'), ['request', ...args]);
  const request = async (beneficiary: Person, item = 'role:cli-role'): Promise<AccessRequestView> =>
    (await services.requests.create({ item, justification: 'from the cli test', durationDays: 5 }, { identityId: beneficiary.id, actor: 'test:setup' })).request;

  /** The error a command throws (main() prints it in one line with exit status 2). */
  async function thrown(work: Promise<unknown>): Promise<Error> {
    try {
      await work;
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected the command to throw');
  }

  before(async function () {
    this.timeout(60_000);
    services = await createServices(configWith({ logLevel: 'silent' }), database().db, createLogger('silent'));
    f = governanceFixtures(services);
    people.mgr = await f.createPerson({ userName: 'mgr' });
    people.owner = await f.createPerson({ userName: 'owner' });
    people.stranger = await f.createPerson({ userName: 'stranger' });
    await f.createTarget('climem');
    await f.createEntitlement({ target: 'climem', key: 'files', kind: 'group' });
    await f.createRole({ name: 'cli-role', owner: people.owner, entitlements: ['climem/files'], maxDurationDays: 30 });
  });
  after(async () => {
    if (services) await closeServices(services);
  });

  it('explains each command with --help', async () => {
    for (const [command, words] of [
      ['list', ['--status <status>', '--as <userName>', '--awaiting', '--json']],
      ['show', ['<id>', '--json']],
      ['approve', ['<id>', '--as <userName>', '--comment <text>', 'Exit status']],
      ['deny', ['<id>', '--as <userName>', '--comment <text>']],
    ] as const) {
      const help = await iam(command, '--help');
      expect(help.code, command).to.equal(0);
      for (const word of words) expect(help.stdout, `${command} ${word}`).to.include(word);
    }
  });

  it('approves stage by stage as the approver --as names, to a grant, audited as the operating-system user', async () => {
    const beneficiary = await f.createPerson({ manager: people.mgr });
    const r = await request(beneficiary);
    const first = await iam('approve', r.id, '--as', people.mgr.userName, '--comment', 'ok from cli');
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.equal(`approved request ${r.id} (role:cli-role for ${beneficiary.userName}): pending; now waiting for stage 2 (role-owner: ${people.owner.userName})\n`);
    const last = await iam('approve', r.id, '--as', people.owner.id);
    expect(last.code, last.stderr).to.equal(0);
    const view = await services.requests.get(r.id);
    expect(view.status).to.equal('approved');
    expect(last.stdout).to.equal(`approved request ${r.id} (role:cli-role for ${beneficiary.userName}): approved; grant ${view.grantId}\n`);
    const actors = await database().db.query<{ actor: string; action: string }>("SELECT actor, action FROM audit_events WHERE target_id = ? AND action = 'request.approve'", [r.id]);
    expect(actors).to.deep.equal([{ actor: 'cli:tester', action: 'request.approve' }, { actor: 'cli:tester', action: 'request.approve' }]);

    const shown = await iam('show', r.id);
    expect(shown.stdout).to.include(`request ${r.id}: approved`).and.include(`stage 1: manager approved by ${people.mgr.userName}: "ok from cli"`)
      .and.include(`grant:         ${view.grantId}`);
    expect(JSON.parse((await iam('show', r.id, '--json')).stdout)).to.deep.equal(view);
  });

  it('denies, and refuses who may not decide and names nobody knows', async () => {
    const beneficiary = await f.createPerson({ manager: people.mgr });
    const r = await request(beneficiary);
    const refused = await thrown(iam('approve', r.id, '--as', people.stranger.userName));
    expect(refused).to.be.instanceOf(GovernanceError);
    expect((refused as GovernanceError).kind).to.equal('forbidden');
    expect(await thrown(iam('approve', r.id, '--as', 'nobody@example.com'))).to.be.instanceOf(CliError);
    const usage = await iam('deny', r.id);
    expect(usage.code).to.not.equal(0);
    expect(usage.stderr).to.include("required option '--as <userName>' not specified");
    const denied = await iam('deny', r.id, '--as', people.mgr.userName, '--comment', 'no');
    expect(denied.stdout).to.equal(`denied request ${r.id} (role:cli-role for ${beneficiary.userName}): denied\n`);
    expect((await services.requests.get(r.id)).stages[0]).to.deep.include({ status: 'denied', comment: 'no' });
  });

  it('lists requests as a table or JSON, by status, and those of one person or waiting for them', async () => {
    const beneficiary = await f.createPerson({ manager: people.mgr });
    const r = await request(beneficiary);
    const table = await iam('list');
    expect(table.code).to.equal(0);
    expect(table.stdout.split('\n')[0]).to.match(/^ID\s+STATUS\s+STAGE\s+ITEM\s+FOR\s+BY\s+CREATED$/);
    expect(table.stdout).to.match(new RegExp(`${r.id}\\s+pending\\s+1/2 manager\\s+role:cli-role\\s+${beneficiary.userName.replace(/\./g, '\\.')}`));
    const pending = JSON.parse((await iam('list', '--status', 'pending', '--json')).stdout) as AccessRequestView[];
    expect(pending.map((x) => x.id)).to.include(r.id);
    expect(pending.every((x) => x.status === 'pending')).to.equal(true);
    const theirs = JSON.parse((await iam('list', '--as', beneficiary.userName, '--json')).stdout) as AccessRequestView[];
    expect(theirs.map((x) => x.id)).to.deep.equal([r.id]);
    const waiting = JSON.parse((await iam('list', '--as', people.mgr.userName, '--awaiting', '--json')).stdout) as AccessRequestView[];
    expect(waiting.map((x) => x.id)).to.include(r.id);
    expect(JSON.parse((await iam('list', '--as', people.owner.userName, '--awaiting', '--json')).stdout)).to.deep.equal([]);
    expect((await iam('list', '--as', people.stranger.userName)).stdout).to.equal('no access requests\n');
    expect(await thrown(iam('list', '--status', 'lost'))).to.be.instanceOf(CliError);
    expect(await thrown(iam('list', '--awaiting'))).to.be.instanceOf(CliError);
  });

  it('prints a refusal in one line and exits 2 from the real binary', async function () {
    this.timeout(60_000);
    const beneficiary = await f.createPerson({ manager: people.mgr });
    const r = await request(beneficiary);
    const result = await runCli(['request', 'approve', r.id, '--as', people.stranger.userName], { IAM_DATABASE_URL: database().url });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.equal('iam: this request is not waiting for your decision\n');
    const missing = await runCli(['request', 'show', 'no-such-request'], { IAM_DATABASE_URL: database().url });
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal('iam: access request no-such-request does not exist\n');
  });
});
