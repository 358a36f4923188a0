import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWith } from '../../src/config/index.js';
import { startServer } from '../../src/http/server.js';
import { createLogger } from '../../src/log/logger.js';
import { readPolicyState } from '../../src/policy/changes.js';
import { apiClient } from '../support/api-client.js';
import { onEachDatabase } from '../support/databases.js';

/*
 * The wiring of a real server start: migrate, start the policy engine, seed the policy on first
 * start only, serve the REST API under the API policy, and stop the engine on close.
 */
onEachDatabase('server start with the policy', (database) => {
  const quiet = createLogger('silent');
  const config = () => configWith({ port: 0, host: '127.0.0.1', databaseUrl: database().url, logLevel: 'silent' });

  it('seeds the policy from policies/catalog.json on first start, serves it, and stops the engine on close', async function () {
    this.timeout(60_000);
    const server = await startServer(config(), quiet);
    try {
      const version = (await readPolicyState(database().db)).version;
      expect(version).to.be.greaterThan(0);
      const token = (await server.services.tokens.create(`start-${database().kind}`, 'reviewer', 'test')).token;
      const roles = await apiClient(`${server.url}/api/v1`, token).get('/roles');
      expect(roles.status, roles.text).to.equal(200);
      expect(roles.body.items.map((r: { name: string }) => r.name)).to.include.members(['engineer', 'workforce']);
    } finally {
      await server.close();
    }
    let stopped: Error | undefined;
    try {
      await server.services.engine.check({ subject: 'x', object: '/x', action: 'read' });
    } catch (err) {
      stopped = err as Error;
    }
    expect(stopped?.message).to.match(/stopped/);
  });

  it('does not seed again once the database holds a policy', async function () {
    this.timeout(60_000);
    const before = await readPolicyState(database().db);
    const server = await startServer(config(), quiet);
    await server.close();
    expect((await readPolicyState(database().db)).version).to.equal(before.version);
  });

  it('refuses to start with an API policy it cannot use, naming the file and the line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iam-api-policy-'));
    try {
      const file = join(dir, 'api_policy.csv');
      writeFileSync(file, '# a typo\np, reviewer, /api/v1/roles\n');
      let failure: Error | undefined;
      try {
        const server = await startServer(configWith({ ...config(), policy: { ...config().policy, apiPolicyFile: file } }), quiet);
        await server.close();
      } catch (err) {
        failure = err as Error;
      }
      expect(failure?.message).to.include(`${file}:2: expected "p, role, path, method"`);

      writeFileSync(file, 'g, a, b\ng, b, a\n');
      failure = undefined;
      try {
        const server = await startServer(configWith({ ...config(), policy: { ...config().policy, apiPolicyFile: file } }), quiet);
        await server.close();
      } catch (err) {
        failure = err as Error;
      }
      expect(failure?.message).to.include(`the API policy ${file} cannot be used: cyclic role inheritance`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
