import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';
import { registerOutboxCommands } from '../../src/cli/outbox-commands.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { create, insertOperations, type TestAccount } from '../support/outbox-fixtures.js';
import { timeOrderedId } from '../../src/db/ids.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

onEachDatabase('iam outbox', (database) => {
  let dir: string;
  let savedConfig: string | undefined;

  /** Runs `iam outbox …` in this process on the test database. */
  const iam = (...args: string[]) => runInProcess((program) => registerOutboxCommands(program, (work) => work(database().db), () => 'cli:tester'), ['outbox', ...args]);

  let ada: TestAccount;
  let ghost: TestAccount;
  let ids: number[];

  before(async () => {
    // The configuration names a connector for ldap only: github's operations wait.
    dir = mkdtempSync(join(tmpdir(), 'iam-outbox-cli-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ targets: { ldap: { connector: 'memory' } } }));
    savedConfig = process.env.IAM_CONFIG;
    process.env.IAM_CONFIG = join(dir, 'config.json');
    const { db } = database();
    const identity = await new IdentityService(db).create({ schemas: [USER], userName: 'ada@example.com' }, { actor: 'test' });
    ada = { accountId: timeOrderedId(), identityId: identity.id, target: 'ldap' };
    ghost = { accountId: timeOrderedId(), identityId: identity.id, target: 'github' };
    ids = await insertOperations(db, [
      { account: ada, operation: create('ada', ['staff']) },
      { account: ada, operation: { op: 'add-membership', entitlement: 'finance' } },
      { account: ghost, operation: create('ada') },
    ]);
    await db.execute(`UPDATE outbox SET status = 'dead', attempts = 8, last_error = 'ldap said no' WHERE id = ?`, [ids[0]]);
  });
  after(() => {
    if (savedConfig === undefined) delete process.env.IAM_CONFIG;
    else process.env.IAM_CONFIG = savedConfig;
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists operations with their state, and marks those of a target without a connector', async () => {
    const { stdout, code } = await iam('list');
    expect(code).to.equal(0);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).to.match(/^ID\s+STATUS\s+TARGET\s+OPERATION\s+IDENTITY\s+ATTEMPTS/);
    expect(lines[1]).to.match(new RegExp(`^${ids[0]}\\s+dead\\s+ldap\\s+create \\(enabled, 1 membership\\)\\s+ada@example.com\\s+8 .*ldap said no$`));
    expect(lines[2]).to.match(new RegExp(`^${ids[1]}\\s+pending\\s+ldap\\s+add-membership finance\\s+ada@example.com\\s+0 `));
    expect(lines[3]).to.match(new RegExp(`^${ids[2]}\\s+pending \\(no connector\\)\\s+github\\s+create`));
    expect(stdout).to.include('3 operations\n');
    expect(stdout).to.include('target github has no connector configured');
  });

  it('filters by status, target and identity, pages with --limit and --after, and prints JSON', async () => {
    const dead = JSON.parse((await iam('list', '--status', 'dead', '--json')).stdout) as { operations: Array<Record<string, unknown>> };
    expect(dead.operations.map((o) => o.id)).to.deep.equal([ids[0]]);
    expect(dead.operations[0]).to.deep.include({ status: 'dead', target: 'ldap', userName: 'ada@example.com', connected: true, lastError: 'ldap said no' });
    expect(dead.operations[0]!.operation).to.deep.equal(create('ada', ['staff']));
    const github = JSON.parse((await iam('list', '--target', 'github', '--json')).stdout) as { operations: Array<{ connected: boolean }> };
    expect(github.operations.map((o) => o.connected)).to.deep.equal([false]);
    const first = JSON.parse((await iam('list', '--identity', 'ADA@example.com', '--limit', '2', '--json')).stdout) as { operations: Array<{ id: number }>; next: number };
    expect([first.operations.map((o) => o.id), first.next]).to.deep.equal([[ids[0], ids[1]], ids[1]]);
    const rest = JSON.parse((await iam('list', '--identity', 'ada@example.com', '--after', String(first.next), '--json')).stdout) as { operations: Array<{ id: number }>; next?: number };
    expect([rest.operations.map((o) => o.id), rest.next]).to.deep.equal([[ids[2]], undefined]);
    expect(await iam('list', '--identity', 'nobody@example.com')).to.deep.equal({ stdout: '', stderr: 'iam: no identity nobody@example.com\n', code: 2 });
  });

  it('retries dead operations, audited, and says which given ids were not dead', async () => {
    const partly = await iam('retry', String(ids[0]), String(ids[1]));
    expect(partly.code).to.equal(1);
    expect(partly.stdout).to.equal(`retried 1 operation: ${ids[0]}\nnot retried: ${ids[1]} is pending, not dead\n`);
    const [row] = await database().db.query<{ status: string; attempts: number | string }>('SELECT status, attempts FROM outbox WHERE id = ?', [ids[0]]);
    expect([row!.status, Number(row!.attempts)]).to.deep.equal(['pending', 0]);
    const audit = await database().db.query<{ actor: string; target_id: string }>(`SELECT actor, target_id FROM audit_events WHERE action = 'outbox.retry'`);
    expect(audit).to.deep.equal([{ actor: 'cli:tester', target_id: String(ids[0]) }]);
    const none = await iam('retry', '--all-dead', '--json');
    expect([none.code, JSON.parse(none.stdout)]).to.deep.equal([0, { retried: [], skipped: [] }]);
    const refused = await iam('retry');
    expect(refused.code).to.not.equal(0);
    expect(refused.stderr).to.match(/name the operations to retry, or pass --all-dead/);
  });
});
