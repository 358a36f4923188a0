import { expect } from 'chai';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, relative } from 'node:path';
import { installPath } from '../../src/config/paths.js';
import type { FeedReport } from '../../src/lifecycle/feed-service.js';
import { runCli } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';
import { company, employeeId, terminated, toCsv } from '../support/hr-people.js';

const ACTOR = `cli:${userInfo().username}`;

describe('iam hr help', () => {
  const commands = [['hr'], ['hr', 'import'], ['hr', 'approve'], ['hr', 'reject'], ['hr', 'list'], ['hr', 'show']];
  for (const command of commands) {
    it(`iam ${command.join(' ')} --help describes the command`, async () => {
      const result = await runCli([...command, '--help']);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.include(`Usage: iam ${command.join(' ')}`);
    });
  }

  it('names every subcommand and the import options in the help', async () => {
    const group = await runCli(['hr', '--help']);
    for (const sub of ['import', 'approve', 'reject', 'list', 'show']) expect(group.stdout).to.match(new RegExp(`^  ${sub}\\b`, 'm'));
    const help = (await runCli(['hr', 'import', '--help'])).stdout;
    for (const option of ['--mapping <file>', '--kind <kind>', '--dry-run', '--json']) expect(help).to.include(option);
    // Help text is wrapped to the terminal width.
    expect(help.replace(/\s+/g, ' ')).to.include('exit 0 when applied or a dry run, 3 when the circuit breaker held it, 2 when the file cannot be read');
  });
});

onEachDatabase('iam hr', (database) => {
  const env = () => ({ IAM_DATABASE_URL: database().url });
  const dir = mkdtempSync(join(tmpdir(), 'iam-cli-hr-'));
  const people = company(40, 'cli');
  let n = 0;
  /** Writes a feed file and returns its path. */
  const feedFile = (text: string, name = `feed-${++n}.csv`) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const feedRows = async () => Number((await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM hr_feeds'))[0]!.n);
  const statusOf = async (ids: string[]) => {
    const rows = await database().db.query<{ employee_id: string; status: string }>(
      `SELECT employee_id, status FROM identity_lifecycle WHERE employee_id IN (${ids.map(() => '?').join(', ')}) ORDER BY employee_id`, ids);
    return rows.map((r) => r.status);
  };
  const stored = async (id: string) => {
    const [row] = await database().db.query<{ status: string; source: string; created_by: string; file_name: string; report: string }>(
      'SELECT status, source, created_by, file_name, report FROM hr_feeds WHERE id = ?', [id]);
    return row!;
  };
  const idOf = (stdout: string) => /^feed ([0-9a-f-]{36}): /m.exec(stdout)![1]!;

  let heldId: string;

  it('imports a feed file, prints the report and exits 0', async function () {
    this.timeout(30_000);
    const path = feedFile(toCsv(people), 'day0.csv');
    const result = await runCli(['hr', 'import', path], env());
    expect(result.code, result.stderr).to.equal(0);
    const id = idOf(result.stdout);
    expect(result.stdout).to.include(`feed ${id}: applied (snapshot, csv, from cli, day0.csv)`);
    expect(result.stdout).to.match(/^ {4}joiner +40$/m);
    expect(result.stdout).to.match(/^ {4}rejected +0$/m);
    expect(result.stdout).to.include('circuit breaker: passed: no active identities yet');
    expect(result.stdout).to.match(/applied: grants \d+ added, \d+ removed, \d+ revoked from leavers, \d+ flagged for manager review; \d+ provisioning operations enqueued/);
    expect(result.stdout).to.match(/duration: \d/);
    const row = await stored(id);
    expect(row).to.include({ status: 'applied', source: 'cli', created_by: ACTOR, file_name: 'day0.csv' });
    expect(await statusOf([employeeId(1), employeeId(40)])).to.deep.equal(['active', 'active']);
  });

  it('imports the same file again with no changes', async function () {
    this.timeout(30_000);
    const result = await runCli(['hr', 'import', join(dir, 'day0.csv'), '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as FeedReport;
    expect(report.status).to.equal('applied');
    expect(report.counts).to.include({ unchanged: 40, joiner: 0, mover: 0, leaver: 0, rejected: 0 });
    expect(report.applied).to.deep.equal({ grantsAdded: 0, grantsRemoved: 0, grantsRevoked: 0, grantsFlagged: 0, operationsEnqueued: 0 });
  });

  it('reports a dry run without applying it, as JSON with rejected rows and their reasons', async function () {
    this.timeout(30_000);
    const changed = people.map((p, k) => (k === 4 ? { ...p, department: 'Sales' } : k === 5 ? { ...p, hire_date: '2020-02-30' } : p));
    const result = await runCli(['hr', 'import', feedFile(toCsv(changed)), '--dry-run', '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as FeedReport;
    expect(report.status).to.equal('dry-run');
    expect(report.counts).to.include({ mover: 1, rejected: 1 });
    expect(report.rejected).to.have.length(1);
    expect(report.rejected[0]).to.include({ row: 7, employeeId: employeeId(6) });
    expect(report.rejected[0]!.reason).to.include('"2020-02-30" is not a real date');
    const [identity] = await database().db.query<{ doc: string }>('SELECT doc FROM identities WHERE user_name = ?', ['cli5@example.com']);
    expect(identity!.doc, 'a dry run changes nothing').to.include('"department":"Engineering"').and.not.include('Sales');
    expect((await stored(report.feedId)).status).to.equal('dry-run');
  });

  it('prints rejected rows in the text report', async function () {
    this.timeout(30_000);
    const changed = people.map((p, k) => (k === 5 ? { ...p, hire_date: 'yesterday' } : p));
    const result = await runCli(['hr', 'import', feedFile(toCsv(changed)), '--dry-run'], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('rejected rows (1):\n');
    expect(result.stdout).to.match(new RegExp(`^ {4}row 7 \\(${employeeId(6)}\\): .*"yesterday" is not a real date`, 'm'));
  });

  it('holds a feed with too many leavers, applies nothing and exits 3', async function () {
    this.timeout(30_000);
    const before = await statusOf([employeeId(31), employeeId(40)]);
    const result = await runCli(['hr', 'import', feedFile(toCsv(terminated(people, [31, 32, 33, 34, 35, 36, 37, 38, 39, 40])))], env());
    expect(result.code, result.stderr).to.equal(3);
    heldId = idOf(result.stdout);
    expect(result.stdout).to.include(`feed ${heldId}: held (snapshot, csv, from cli`);
    expect(result.stdout).to.match(/^ {4}leaver +10$/m);
    expect(result.stdout).to.include('circuit breaker: HELD: 10 leavers exceed the threshold of 2');
    expect(result.stdout).to.include(`Apply it with: iam hr approve ${heldId}`);
    expect(result.stdout).to.include(`drop it with:                 iam hr reject ${heldId}`);
    expect(await statusOf([employeeId(31), employeeId(40)])).to.deep.equal(before);
    expect((await stored(heldId)).status).to.equal('held');
  });

  it('shows a feed\'s report, as text and as the stored JSON', async function () {
    this.timeout(30_000);
    const text = await runCli(['hr', 'show', heldId], env());
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include(`feed ${heldId}: held`);
    expect(text.stdout).to.include(`imported `);
    const json = await runCli(['hr', 'show', heldId, '--json'], env());
    expect(JSON.parse(json.stdout)).to.deep.equal(JSON.parse((await stored(heldId)).report));
  });

  it('lists feeds newest first, filtered by status', async function () {
    this.timeout(30_000);
    const all = await runCli(['hr', 'list', '--json'], env());
    expect(all.code, all.stderr).to.equal(0);
    const feeds = JSON.parse(all.stdout) as FeedReport[];
    expect(feeds.length).to.equal(await feedRows());
    expect(feeds[0]!.feedId).to.equal(heldId);
    const created = feeds.map((f) => f.created);
    expect(created).to.deep.equal([...created].sort().reverse());
    const held = JSON.parse((await runCli(['hr', 'list', '--status', 'held', '--json'], env())).stdout) as FeedReport[];
    expect(held.map((f) => f.feedId)).to.deep.equal([heldId]);
    const table = await runCli(['hr', 'list', '--limit', '2'], env());
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^ID +CREATED +STATUS +KIND +SOURCE +FILE +JOINERS +MOVERS +LEAVERS +REJECTED$/);
    expect(lines[1]).to.match(new RegExp(`^${heldId} +\\S+ +held +snapshot +cli +feed-\\d+\\.csv +0 +0 +10 +0$`));
    expect(lines).to.have.length(4);
    expect(lines[3]).to.equal('2 feeds');
    const bad = await runCli(['hr', 'list', '--limit', 'many'], env());
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.equal('iam: --limit must be a whole number from 1 to 1000, not "many"\n');
  });

  it('approves a held feed: the leavers are applied, the decision recorded and audited', async function () {
    this.timeout(30_000);
    const result = await runCli(['hr', 'approve', heldId], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include(`feed ${heldId}: applied`);
    expect(result.stdout).to.include(`approved by ${ACTOR} at `);
    expect(await statusOf([employeeId(30), employeeId(31), employeeId(40)])).to.deep.equal(['active', 'terminated', 'terminated']);
    const report = JSON.parse((await stored(heldId)).report) as FeedReport;
    expect(report).to.include({ status: 'applied', decidedBy: ACTOR });
    const audit = await database().db.query<{ actor: string }>('SELECT actor FROM audit_events WHERE action = ? AND target_id = ?', ['hr.feed.approve', heldId]);
    expect(audit.map((a) => a.actor)).to.deep.equal([ACTOR]);
  });

  it('refuses to approve or reject a feed that is not held, or does not exist, with exit 2', async function () {
    this.timeout(30_000);
    const again = await runCli(['hr', 'approve', heldId], env());
    expect(again.code).to.equal(2);
    expect(again.stderr).to.equal(`iam: feed ${heldId} is applied, not held: only a held feed can be approved\n`);
    const reject = await runCli(['hr', 'reject', heldId], env());
    expect(reject.code).to.equal(2);
    expect(reject.stderr).to.include('only a held feed can be rejected');
    const missing = await runCli(['hr', 'show', 'no-such-feed'], env());
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal('iam: feed no-such-feed not found\n');
  });

  it('rejects a held feed: nothing in it is applied', async function () {
    this.timeout(30_000);
    const remaining = terminated(people, [31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 21, 22, 23, 24, 25]);
    const held = await runCli(['hr', 'import', feedFile(toCsv(remaining)), '--json'], env());
    expect(held.code, held.stderr).to.equal(3);
    const id = (JSON.parse(held.stdout) as FeedReport).feedId;
    const result = await runCli(['hr', 'reject', id, '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.include({ feedId: id, status: 'rejected', decidedBy: ACTOR });
    expect(await statusOf([employeeId(21), employeeId(25)])).to.deep.equal(['active', 'active']);
    expect((await stored(id)).status).to.equal('rejected');
  });

  it('reads a feed with another mapping named relative to the working directory, and as a delta', async function () {
    this.timeout(30_000);
    const mapping = JSON.parse(readFileSync(installPath('config/hr-mapping.json'), 'utf8')) as { columns: Record<string, string> };
    mapping.columns.employeeId = 'Personnel Number';
    const mappingPath = join(dir, 'mapping.json');
    writeFileSync(mappingPath, JSON.stringify(mapping));
    const renamed = toCsv([people[0]!, { ...people[1]!, title: 'Staff Engineer' }]).replace(/^employee_id,/, 'Personnel Number,');
    const result = await runCli(['hr', 'import', feedFile(renamed), '--mapping', relative(process.cwd(), mappingPath), '--kind', 'delta', '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    const report = JSON.parse(result.stdout) as FeedReport;
    expect(report).to.include({ kind: 'delta', status: 'applied' });
    expect(report.counts).to.include({ unchanged: 1, mover: 1, leaver: 0 });
  });

  it('refuses a file it cannot read, a broken mapping and a missing file with exit 2, recording nothing', async function () {
    this.timeout(30_000);
    const before = await feedRows();
    const noEmail = toCsv(people, ['employee_id', 'first_name', 'last_name', 'status']);
    const unreadable = await runCli(['hr', 'import', feedFile(noEmail)], env());
    expect(unreadable.code).to.equal(2);
    expect(unreadable.stderr).to.match(/^iam: the feed's header cannot be used with this mapping:\n {2}- the feed has no column "preferred_name"/);
    expect(unreadable.stdout).to.equal('');

    const brokenMapping = join(dir, 'broken.json');
    writeFileSync(brokenMapping, '{"columns": {}}');
    const mapping = await runCli(['hr', 'import', join(dir, 'day0.csv'), '--mapping', brokenMapping], env());
    expect(mapping.code).to.equal(2);
    expect(mapping.stderr).to.include(`iam: invalid HR column mapping ${brokenMapping}:`);

    const missing = await runCli(['hr', 'import', join(dir, 'nope.csv')], env());
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.equal(`iam: cannot read ${join(dir, 'nope.csv')}: ENOENT: no such file or directory, stat '${join(dir, 'nope.csv')}'\n`);

    const kind = await runCli(['hr', 'import', join(dir, 'day0.csv'), '--kind', 'weekly'], env());
    expect(kind.code).to.not.equal(0);
    expect(kind.stderr).to.include("Allowed choices are snapshot, delta");
    expect(await feedRows()).to.equal(before);
  });
});
