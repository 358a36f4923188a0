import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from '../support/cli.js';
import { startTestServer } from '../support/server.js';
import { scimClient } from '../support/scim-client.js';
import { TOKEN_RECHECK_MS } from '../../src/auth/tokens.js';

describe('iam CLI help', () => {
  const commands = [[], ['serve'], ['migrate'], ['token'], ['token', 'create'], ['token', 'list'], ['token', 'revoke'], ['audit'], ['audit', 'verify'], ['audit', 'export']];
  for (const command of commands) {
    it(`${['iam', ...command].join(' ')} --help describes the command`, async () => {
      const result = await runCli([...command, '--help']);
      expect(result.code).to.equal(0);
      expect(result.stdout).to.include(`Usage: iam${command.length ? ` ${command.join(' ')}` : ''}`);
    });
  }

  it('stops with every configuration problem listed and exit code 2', async () => {
    const result = await runCli(['migrate'], { IAM_PORT: 'abc', IAM_LOG_LEVEL: 'loud' });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('invalid configuration').and.include('IAM_PORT').and.include('IAM_LOG_LEVEL');
  });
});

describe('iam serve', () => {
  it('migrates, listens, prints where and how to get a token, and stops cleanly on SIGTERM', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'iam-serve-'));
    const child = spawnCli(['serve'], { IAM_DATABASE_URL: `sqlite:${join(dir, 'iam.sqlite')}`, IAM_PORT: '0' });
    try {
      const banner = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d) => {
          out += d;
          if (out.includes('token create')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`serve exited early with ${code}`)));
      });
      const url = /listening on (http:\/\/\S+) /.exec(banner)![1]!;
      expect(banner).to.include('npx iam token create --name NAME --scopes scim:read,scim:write');
      const health = await fetch(`${url}/healthz`);
      expect(health.status).to.equal(200);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    }
  });
});

onEachDatabase('iam token', (database) => {
  const env = () => ({ IAM_DATABASE_URL: database().url });

  it('iam migrate reports the database up to date', async () => {
    const result = await runCli(['migrate'], env());
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.equal('database is up to date\n');
  });

  it('creates a token printed once on the last line, which then authenticates SCIM calls', async () => {
    const created = await runCli(['token', 'create', '--name', 'okta', '--scopes', 'scim:read,scim:write'], env());
    expect(created.code, created.stderr).to.equal(0);
    const lines = created.stdout.trim().split('\n');
    const token = lines[lines.length - 1]!;
    expect(token).to.match(/^iam_[a-f0-9]{16}_[A-Za-z0-9_-]{43}$/);

    const stored = await database().db.query<{ secret_hash: string }>('SELECT secret_hash FROM api_tokens WHERE name = ?', ['okta']);
    expect(stored[0]!.secret_hash).to.match(/^[a-f0-9]{64}$/);
    expect(token).not.to.include(stored[0]!.secret_hash);

    const server = await startTestServer(database().db);
    try {
      const res = await scimClient(server.scimUrl, token).get('/Users');
      expect(res.status).to.equal(200);
    } finally {
      await server.close();
    }
  });

  it('refuses a duplicate name and an unknown scope with a clear message', async () => {
    const duplicate = await runCli(['token', 'create', '--name', 'okta', '--scopes', 'scim:read'], env());
    expect(duplicate.code).to.equal(2);
    expect(duplicate.stderr).to.equal('iam: a token named "okta" already exists\n');
    const badScope = await runCli(['token', 'create', '--name', 'other', '--scopes', 'root'], env());
    expect(badScope.code).to.equal(2);
    expect(badScope.stderr).to.include('unknown scope root');
  });

  it('lists tokens without secrets', async () => {
    const result = await runCli(['token', 'list', '--json'], env());
    expect(result.code, result.stderr).to.equal(0);
    const list = JSON.parse(result.stdout);
    expect(list.map((t: { name: string }) => t.name)).to.include('okta');
    expect(result.stdout).not.to.match(/iam_[a-f0-9]{16}_/);
    expect(result.stdout).not.to.include('secret');
  });

  it('revokes a token so a running server refuses it within TOKEN_RECHECK_MS', async () => {
    const created = await runCli(['token', 'create', '--name', 'short-lived', '--scopes', 'scim:read'], env());
    const token = created.stdout.trim().split('\n').pop()!;
    const server = await startTestServer(database().db);
    try {
      const scim = scimClient(server.scimUrl, token);
      expect((await scim.get('/Users')).status).to.equal(200);
      const revoked = await runCli(['token', 'revoke', 'short-lived'], env());
      expect(revoked.code, revoked.stderr).to.equal(0);
      // The server believes a token it checked for up to TOKEN_RECHECK_MS; the revoke ran in another process.
      const revokedAt = performance.now();
      while ((await scim.get('/Users')).status !== 401) {
        expect(performance.now() - revokedAt, 'still accepted after the recheck interval').to.be.below(TOKEN_RECHECK_MS + 250);
        await new Promise((r) => setTimeout(r, 20));
      }
      const again = await runCli(['token', 'revoke', 'short-lived'], env());
      expect(again.code).to.equal(2);
      expect(again.stderr).to.include('no active token named "short-lived"');
    } finally {
      await server.close();
    }
    const table = await runCli(['token', 'list'], env());
    expect(table.stdout).to.match(/short-lived\s+scim:read\s+-\s+\S+\s+revoked/);
  });

  it('audits token changes with the CLI user as actor', async () => {
    const rows = await database().db.query<{ actor: string; action: string; target_id: string }>(
      "SELECT actor, action, target_id FROM audit_events WHERE action LIKE 'token.%' ORDER BY id",
    );
    expect(rows.map((r) => `${r.action}:${r.target_id}`)).to.deep.equal(['token.create:okta', 'token.create:short-lived', 'token.revoke:short-lived']);
    expect(rows.every((r) => r.actor.startsWith('cli:'))).to.equal(true);
  });
});
