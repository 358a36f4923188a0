import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerAuditCommands } from '../../src/cli/audit-commands.js';
import { CliError } from '../../src/cli/with.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { exportSigningKeys } from '../../src/auth/server-keys.js';
import { runCli, runInProcess } from '../support/cli.js';
import { onEachDatabase } from '../support/databases.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

onEachDatabase('iam audit report, verify-export, public-key', (database) => {
  const root = mkdtempSync(join(tmpdir(), 'iam-cli-audit-'));
  const iam = (...args: string[]) => runInProcess((program) => registerAuditCommands(program, (work) => work(database().db)), ['audit', ...args]);
  let exported: string;

  before(async () => {
    const identities = new IdentityService(database().db);
    for (const name of ['ada', 'bob']) await identities.create({ schemas: [USER], userName: `${name}@example.com` }, { actor: 'test:setup' });
    exported = join(root, 'export');
    const result = await iam('report', '--out', exported);
    expect(result.code, result.stderr).to.equal(0);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('report writes a signed export and says where, and how far the events go', async () => {
    expect(readdirSync(exported).sort()).to.deep.equal(['access-report.csv', 'audit-events.csv', 'manifest.json', 'manifest.sig', 'sod-violations.csv']);
    const [last] = await database().db.query<{ id: number | string; hash: string }>('SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1');
    const again = await iam('report', '--out', join(root, 'again'), '--since', '2000-01-01', '--format', 'jsonl');
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.match(new RegExp(`^signed export written to .*again: audit-events\\.jsonl, access-report\\.csv, sod-violations\\.csv, manifest\\.json, manifest\\.sig\\n\\d+ audit events, ending at event ${Number(last!.id)} \\(hash ${last!.hash}\\)\\n$`));
    expect(JSON.parse(readFileSync(join(root, 'again', 'manifest.json'), 'utf8')).range).to.deep.equal({ since: '2000-01-01T00:00:00.000Z', until: null });
  });

  it('public-key prints the key exports are signed with', async () => {
    const result = await iam('public-key');
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal((await exportSigningKeys(database().db)).publicKey);
    expect(result.stdout).to.match(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
  });

  it('verify-export exits 0 on an intact export, with the database\'s key or a key file', async () => {
    const fromDb = await iam('verify-export', exported);
    expect(fromDb.code, fromDb.stdout).to.equal(0);
    expect(fromDb.stdout).to.match(/^export intact: 3 files and \d+ audit events match the manifest, signed with the server's key \(from the database\)\n$/);
    const keyFile = join(root, 'server.pem');
    writeFileSync(keyFile, (await iam('public-key')).stdout);
    const fromFile = await iam('verify-export', exported, '--public-key', keyFile);
    expect(fromFile.code, fromFile.stdout).to.equal(0);
    expect(fromFile.stdout).to.include(`signed with the key in ${keyFile}`);
  });

  it('verify-export exits 1 naming each tampered file and why', async () => {
    const dir = join(root, 'tampered');
    expect((await iam('report', '--out', dir)).code).to.equal(0);
    const report = join(dir, 'access-report.csv');
    writeFileSync(report, readFileSync(report, 'utf8').replace('userName', 'username'));
    rmSync(join(dir, 'sod-violations.csv'));
    const result = await iam('verify-export', dir);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal([
      'TAMPERED access-report.csv: its SHA-256 does not match the manifest (the file was changed)',
      'TAMPERED sod-violations.csv: missing (listed in the manifest)',
      '',
    ].join('\n'));
  });

  it('verify-export refuses a key other than the one that signed', async () => {
    const other = join(root, 'other.pem');
    writeFileSync(other, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const result = await iam('verify-export', exported, '--public-key', other);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('TAMPERED manifest.sig: the manifest is signed by another key than the trusted one (the key inside it): it was not written by this server\n');
    let error: unknown;
    await iam('verify-export', exported, '--public-key', join(root, 'no-such.pem')).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(CliError);
    expect((error as Error).message).to.include(`cannot read --public-key ${join(root, 'no-such.pem')}`);
  });

  it('refuses bad times', async () => {
    let error: unknown;
    await iam('report', '--out', join(root, 'bad'), '--until', 'yesterday').catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(CliError);
    expect((error as Error).message).to.equal('--until must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z');
  });

  it('explains each command in --help', async () => {
    for (const [command, text] of [['report', '--out <dir>'], ['verify-export', '--trust-embedded-key'], ['public-key', 'print the public key']] as const) {
      const result = await iam(command, '--help');
      expect(result.code, command).to.equal(0);
      expect(result.stdout, command).to.include(text);
    }
  });

  it('the binary refuses to trust the embedded key alone (exit 2) unless told to', async function () {
    this.timeout(60_000);
    // A database of its own, without the export-signing key: as on an auditor's machine.
    const elsewhere = { IAM_DATABASE_URL: `sqlite:${join(root, 'elsewhere.sqlite')}` };
    const refused = await runCli(['audit', 'verify-export', exported], elsewhere);
    expect(refused.code).to.equal(2);
    expect(refused.stdout).to.equal('');
    expect(refused.stderr).to.match(/^iam: no trusted public key: the database has no export-signing key and no --public-key was given\. The key inside the manifest alone proves nothing/);
    const trusted = await runCli(['audit', 'verify-export', exported, '--trust-embedded-key'], elsewhere);
    expect(trusted.code, trusted.stderr).to.equal(0);
    expect(trusted.stdout).to.include('signed with the key inside the manifest (--trust-embedded-key: not proof of who signed)');
  });
});
