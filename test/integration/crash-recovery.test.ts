import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { onEachDatabase } from '../support/databases.js';
import { spawnCli } from '../support/cli.js';
import { newUser, scimClient } from '../support/scim-client.js';
import { TokenService } from '../../src/auth/tokens.js';
import { verifyAuditChain } from '../../src/audit/verify.js';

/** Starts `iam serve` on a database and resolves with its URL once it listens. */
function serve(databaseUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnCli(['serve'], { IAM_DATABASE_URL: databaseUrl, IAM_PORT: '0' });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`iam serve exited with ${code} before listening`)));
  });
}

const count = async (sql: { query<T>(s: string, p?: unknown[]): Promise<T[]> }, text: string) =>
  Number((await sql.query<{ n: number | string }>(text))[0]!.n);

onEachDatabase('a server killed mid-run', (database) => {
  it('keeps every acknowledged change, leaves nothing half-written, and its audit chain verifies', async function () {
    this.timeout(60_000);
    const { db, url } = database();
    const token = (await new TokenService(db).create('crash-test', 'scim:write', 'test:setup')).token;
    const first = await serve(url);
    const scim = scimClient(`${first.url}/scim/v2`, token);

    // Sixteen clients write until the server dies under them.
    const acknowledged: string[] = [];
    let stop = false;
    const clients = Array.from({ length: 16 }, async () => {
      while (!stop) {
        try {
          const res = await scim.post('/Users', newUser());
          if (res.status === 201) acknowledged.push(res.body.id);
          else throw new Error(`unexpected ${res.status}: ${res.text}`);
        } catch (err) {
          if (stop) return;
          throw err;
        }
      }
    });
    while (acknowledged.length < 150) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    await Promise.allSettled(clients);

    // Every acknowledged user survived; no row is half-written; every change has its audit event.
    const second = await serve(url);
    try {
      const again = scimClient(`${second.url}/scim/v2`, token);
      for (const id of acknowledged) expect((await again.get(`/Users/${id}`)).status, id).to.equal(200);
      const identities = await count(db, 'SELECT COUNT(*) AS n FROM identities');
      expect(identities).to.be.at.least(acknowledged.length);
      expect(await count(db, "SELECT COUNT(*) AS n FROM identity_values WHERE attr = 'emails'")).to.equal(identities);
      expect(await count(db, "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'identity.create'")).to.equal(identities);
      expect(await verifyAuditChain(db)).to.deep.include({ ok: true });
      // And the server takes writes again.
      expect((await again.post('/Users', newUser())).status).to.equal(201);
    } finally {
      const done = new Promise((r) => second.child.once('exit', r));
      second.child.kill('SIGTERM');
      await done;
    }
  });
});
