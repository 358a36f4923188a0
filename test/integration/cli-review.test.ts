import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { PolicyChangeLog } from '../../src/policy/changes.js';
import { GrantService } from '../../src/policy/grants.js';
import { SodService } from '../../src/policy/sod.js';
import { PolicyStore } from '../../src/policy/store.js';
import { runCli } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';
import { freshDepartment, REVIEW_POLICY } from '../support/review-fixtures.js';
import { ENTERPRISE, USER_SCHEMA } from '../support/scim-client.js';

/* `iam review …` through the real binary, on a test database and a config file naming a campaign. */
onEachDatabase('iam review', (database) => {
  const dir = mkdtempSync(join(tmpdir(), 'iam-cli-review-'));
  const department = freshDepartment();
  const env = () => ({ IAM_DATABASE_URL: database().url, IAM_CONFIG: join(dir, 'config.json') });
  const names = { manager: `mgr.${department}@example.com`, alice: `alice.${department}@example.com` };
  const grants: Record<string, string> = {};
  let campaignId = '';

  before(async function () {
    this.timeout(60_000);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({
      reviews: { campaigns: { 'cli-review': { description: 'the CLI test\'s campaign', scope: { department }, stages: [{ reviewer: 'manager', durationDays: 14 }] } } },
    }));
    const { db } = database();
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    await new PolicyStore(db, changes, birthright).replaceAll(REVIEW_POLICY, { actor: 'test:setup' });
    const identities = new IdentityService(db, changes);
    const ctx = { actor: 'test:setup' };
    const make = async (userName: string, manager?: string) => (await identities.create({
      schemas: [USER_SCHEMA, ENTERPRISE], userName, emails: [{ value: userName, primary: true }],
      [ENTERPRISE]: { department, ...(manager !== undefined && { manager: { value: manager } }) },
    }, ctx)).id;
    const managerId = await make(names.manager);
    const aliceId = await make(names.alice, managerId);
    const service = new GrantService(db, changes, birthright, new SodService(db));
    for (const item of ['ent:ldap/wiki', 'ent:github/api', 'role:engineer']) grants[item] = (await service.grant({ identity: aliceId, item }, ctx)).grant.id;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const itemIds = async () => new Map((await database().db.query<{ id: number | string; item: string }>('SELECT id, item FROM review_items WHERE campaign_id = ?', [campaignId]))
    .map((r) => [r.item, String(r.id)]));

  it('explains itself with --help', async () => {
    const help = await runCli(['review', '--help'], env());
    expect(help.code).to.equal(0);
    for (const command of ['start', 'list', 'show', 'items', 'decide', 'close', 'report']) expect(help.stdout).to.match(new RegExp(`\\n\\s+${command}\\b`));
    const decide = await runCli(['review', 'decide', '--help'], env());
    expect(decide.stdout).to.include('--keep').and.to.include('--revoke').and.to.include('--as <userName>');
  });

  it('starts a campaign of a config definition and lists it', async () => {
    const started = await runCli(['review', 'start', 'cli-review', '--as', names.manager], env());
    expect(started.code, started.stderr).to.equal(0);
    const match = /^started campaign ([0-9a-f-]{36}) of cli-review: 3 items of 1 identities for 1 reviewers; stage 1 of 1 ends \S+\n$/.exec(started.stdout);
    expect(match, started.stdout).to.not.equal(null);
    campaignId = match![1]!;
    const again = await runCli(['review', 'start', 'cli-review'], env());
    expect(again.code).to.equal(2);
    expect(again.stderr).to.equal(`iam: a campaign of cli-review is still running (${campaignId}); close it first\n`);
    const list = await runCli(['review', 'list'], env());
    expect(list.code, list.stderr).to.equal(0);
    expect(list.stdout.split('\n')[0]).to.match(/^ID\s+DEFINITION\s+STATUS\s+STAGE/);
    expect(list.stdout).to.match(new RegExp(`${campaignId}\\s+cli-review\\s+running\\s+1/1`));
  });

  it('lists a reviewer\'s items and decides them as that reviewer only', async () => {
    const items = await runCli(['review', 'items', '--as', names.manager], env());
    expect(items.code, items.stderr).to.equal(0);
    expect(items.stdout.trimEnd().split('\n')).to.have.length(4);
    expect(items.stdout).to.include(names.alice).and.to.include('ent:github/api');
    const ids = await itemIds();

    const notTheirs = await runCli(['review', 'decide', ids.get('ent:ldap/wiki')!, '--as', names.alice, '--keep'], env());
    expect(notTheirs.code).to.equal(2);
    expect(notTheirs.stderr).to.match(/^iam: you are not the reviewer of item \d+\n$/);
    const neither = await runCli(['review', 'decide', ids.get('ent:ldap/wiki')!, '--as', names.manager], env());
    expect(neither.code).to.equal(2);
    expect(neither.stderr).to.equal('iam: give --keep or --revoke\n');

    const kept = await runCli(['review', 'decide', ids.get('ent:ldap/wiki')!, ids.get('ent:github/api')!, '--as', names.manager, '--keep', '--comment', 'still needed'], env());
    expect(kept.code, kept.stderr).to.equal(0);
    expect(kept.stdout).to.equal('kept 2 items\n');
    const revoked = await runCli(['review', 'decide', ids.get('role:engineer')!, '--as', names.manager, '--revoke'], env());
    expect(revoked.code, revoked.stderr).to.equal(0);
    expect(revoked.stdout).to.equal('revoked 1 item; 1 grant removed\n');
    expect(await database().db.query('SELECT id FROM grants WHERE id = ?', [grants['role:engineer']])).to.deep.equal([]);
    const twice = await runCli(['review', 'decide', ids.get('role:engineer')!, '--as', names.manager, '--keep'], env());
    expect(twice.code).to.equal(2);
    expect(twice.stderr).to.match(/already decided/);
  });

  it('reports completion per reviewer and writes the decisions as CSV', async () => {
    const csv = join(dir, 'decisions.csv');
    const report = await runCli(['review', 'report', campaignId, '--csv', csv], env());
    expect(report.code, report.stderr).to.equal(0);
    expect(report.stdout).to.match(/REVIEWER\s+ASSIGNED\s+DECIDED\s+KEPT\s+REVOKED\n/);
    expect(report.stdout).to.match(new RegExp(`${names.manager.replace(/\./g, '\\.')}\\s+3\\s+3\\s+2\\s+1\\n`));
    expect(report.stdout).to.include('revocations: 1 decided, 1 carried out, 0 pending');
    const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
    expect(lines[0]).to.match(/^item_id,stage,identity_id,user_name,/);
    expect(lines).to.have.length(4);
    expect(lines.filter((l) => l.includes(',keep,'))).to.have.length(2);
    expect(lines.find((l) => l.includes('role:engineer'))).to.match(/,revoke,.*,applied$/);
    const json = await runCli(['review', 'report', campaignId, '--json'], env());
    expect(JSON.parse(json.stdout).decisions).to.have.length(3);
  });

  it('closes the campaign once', async () => {
    const closed = await runCli(['review', 'close', campaignId], env());
    expect(closed.code, closed.stderr).to.equal(0);
    expect(closed.stdout).to.include(`campaign ${campaignId} (cli-review): closed`);
    expect(closed.stdout).to.match(/3 reviewed, 2 kept, 1 revoked, 0 open, 0 dropped/);
    const again = await runCli(['review', 'close', campaignId], env());
    expect(again.code).to.equal(2);
    expect(again.stderr).to.equal(`iam: campaign ${campaignId} is closed\n`);
    const unknown = await runCli(['review', 'show', 'no-such-campaign'], env());
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.equal('iam: review campaign no-such-campaign does not exist\n');
  });
});
