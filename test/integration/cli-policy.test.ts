import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IdentityService } from '../../src/identity/identity-service.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { Catalog } from '../../src/policy/catalog.js';
import { PolicyChangeLog } from '../../src/policy/changes.js';
import { GrantService } from '../../src/policy/grants.js';
import { installPath } from '../../src/config/paths.js';
import { SodService } from '../../src/policy/sod.js';
import { runCli } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const SEED = installPath('policies/catalog.json');

onEachDatabase('iam policy', (database) => {
  const env = () => ({ IAM_DATABASE_URL: database().url });
  const dir = mkdtempSync(join(tmpdir(), 'iam-cli-policy-'));
  const ctx = { actor: 'test:setup' };
  let aliceId: string;

  before(async function () {
    this.timeout(60_000);
    const imported = await runCli(['policy', 'import', SEED], env());
    expect(imported.code, imported.stderr).to.equal(0);
    expect(imported.stdout).to.match(/^imported .*catalog\.json as policy version \d+\n/);
    const { db } = database();
    const identities = new IdentityService(db);
    const alice = await identities.create({ schemas: [USER, ENTERPRISE], userName: 'alice@example.com', userType: 'Employee', [ENTERPRISE]: { department: 'Sales' } }, ctx);
    aliceId = alice.id;
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    await new GrantService(db, changes, birthright, new SodService(db)).grant({ identity: aliceId, item: 'role:sre', reason: 'on call' }, ctx);
  });

  it('export writes the live policy, which is the seed file read back with every default written out', async () => {
    const exported = await runCli(['policy', 'export'], env());
    expect(exported.code, exported.stderr).to.equal(0);
    const seed = Catalog.fromDocument(JSON.parse(readFileSync(SEED, 'utf8')) as Record<string, unknown>).document;
    const live = JSON.parse(exported.stdout) as typeof seed;
    // The live policy lists everything by name; the seed file in the order it was written.
    const byName = (items: Array<{ name?: string; target?: string; key?: string }>) => [...items].sort((a, b) => (a.name ?? `${a.target}/${a.key}`).localeCompare(b.name ?? `${b.target}/${b.key}`));
    for (const section of ['targets', 'entitlements', 'roles', 'birthrightRules', 'sodRules'] as const) {
      expect(JSON.parse(JSON.stringify(live[section])), section).to.deep.equal(JSON.parse(JSON.stringify(byName(seed[section]))));
    }
  });

  it('import of an export changes nothing, and export after it reads the same (the round trip)', async () => {
    const file = join(dir, 'live.json');
    const first = await runCli(['policy', 'export', '--output', file], env());
    expect(first.code, first.stderr).to.equal(0);
    const [{ version: before }] = await database().db.query<{ version: number | string }>('SELECT version FROM policy_state');
    const again = await runCli(['policy', 'import', file, '--json'], env());
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout).recompute.added).to.equal(0);
    const [{ version: after }] = await database().db.query<{ version: number | string }>('SELECT version FROM policy_state');
    expect(Number(after)).to.equal(Number(before));
    const second = await runCli(['policy', 'export'], env());
    expect(second.stdout).to.equal(readFileSync(file, 'utf8'));
  });

  it('check prints allow with the role path and rule, and exits 0', async () => {
    const result = await runCli(['policy', 'check', 'Alice@Example.com', '/deploy/prod', 'write'], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('allow: alice@example.com -> role:sre: p(role:sre, /deploy/*, write)\n');
  });

  it('check answers "does X hold item Y" through inheritance, as JSON on request', async () => {
    const result = await runCli(['policy', 'check', aliceId, 'ent:slack/account', 'hold', '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    const decision = JSON.parse(result.stdout) as { allowed: boolean; rolePath: string[] };
    expect(decision.allowed).to.equal(true);
    expect(decision.rolePath.slice(1)).to.deep.equal(['role:sre', 'role:engineer', 'role:workforce', 'ent:slack/account']);
  });

  it('check prints deny with the reason, and exits 1', async () => {
    const denied = await runCli(['policy', 'check', 'alice@example.com', '/payroll/run', 'write'], env());
    expect(denied.code).to.equal(1);
    expect(denied.stdout).to.match(/^deny: deny by default: no role of alice@example\.com .* grants write on \/payroll\/run\n$/);
    const unknown = await runCli(['policy', 'check', 'nobody@example.com', '/repos/x', 'read'], env());
    expect(unknown.code).to.equal(1);
    expect(unknown.stdout).to.include('unknown subject');
  });

  it('simulate shows who would gain what from a proposed rule, and changes nothing', async () => {
    const file = join(dir, 'proposal.json');
    writeFileSync(file, JSON.stringify({ changes: [{ op: 'put', kind: 'birthrightRule', value: { name: 'sales-read-finance', expression: "r.sub.department == 'Sales'", item: 'role:finance-reader' } }] }));
    const [{ n: grantsBefore }] = await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM grants');
    const result = await runCli(['policy', 'simulate', file], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.match(/1 identities would change/);
    expect(result.stdout).to.match(/alice@example\.com: .*\+role:finance-reader/);
    expect(result.stdout).to.include('+ent:ldap/finance');
    const [{ n: grantsAfter }] = await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM grants');
    expect(Number(grantsAfter)).to.equal(Number(grantsBefore));
  });

  it('refuses a file that is not a policy with one clear line and exit 2', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"roles": [{"name": "Bad Name"}]}');
    const result = await runCli(['policy', 'import', file], env());
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/^iam: the policy document is not valid: roles\.0\.name: a role name must be/);
    const missing = await runCli(['policy', 'simulate', join(dir, 'nope.json')], env());
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.match(/^iam: cannot read policy file .*nope\.json: ENOENT/);
  });

  it('violations lists SoD conflicts and exits 1 while one is not excepted', async () => {
    const clean = await runCli(['policy', 'violations'], env());
    expect(clean.code, clean.stderr).to.equal(0);
    expect(clean.stdout).to.equal('0 violations\n');
    // Birthright-style grants are never held back by SoD; a direct insert stands for one here.
    await database().db.execute(
      "INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, created) VALUES (?, ?, 'role:payroll-admin', 'birthright', 'payroll', 'system:birthright', ?), (?, ?, 'role:payment-approver', 'birthright', 'controllers-approve-payments', 'system:birthright', ?)",
      ['00000000-0000-4000-8000-000000000001', aliceId, new Date().toISOString(), '00000000-0000-4000-8000-000000000002', aliceId, new Date().toISOString()],
    );
    const found = await runCli(['policy', 'violations', '--json'], env());
    expect(found.code).to.equal(1);
    expect((JSON.parse(found.stdout) as Array<{ rule: string }>).map((v) => v.rule)).to.deep.equal(['payroll-maker-checker']);
  });
});
