import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { TokenService } from '../../src/auth/tokens.js';
import { onEachDatabase } from '../support/databases.js';

/*
 * A token already authenticated on a connection is compared with what that connection sent
 * before instead of being hashed again. These prove the shortcut never answers differently from
 * the full check: other tokens, a changed character, a revocation, another process's revocation.
 */
onEachDatabase('API tokens authenticated on a kept-alive connection', (database) => {
  let tokens: TokenService;
  let first: string;
  let second: string;
  let firstName: string;

  beforeEach(async () => {
    tokens = new TokenService(database().db);
    firstName = `conn-a-${randomUUID().slice(0, 8)}`;
    first = (await tokens.create(firstName, 'authz:check', 'test:setup')).token;
    second = (await tokens.create(`conn-b-${randomUUID().slice(0, 8)}`, 'auditor', 'test:setup')).token;
  });

  it('answers the same token on one connection with the same principal, and another token with its own', async () => {
    const connection = {};
    const a = await tokens.authenticate(first, connection);
    expect(a?.name).to.equal(firstName);
    expect(await tokens.authenticate(first, connection)).to.equal(a);
    // A proxy may send several clients' requests down one connection.
    expect((await tokens.authenticate(second, connection))?.scopes).to.deep.equal(['auditor']);
    expect(await tokens.authenticate(first, connection)).to.deep.equal(a);
  });

  it('refuses on the same connection a token differing by one character, in its secret or its id, or longer', async () => {
    const connection = {};
    expect(await tokens.authenticate(first, connection)).to.not.equal(undefined);
    const last = first.at(-1) === 'A' ? 'B' : 'A';
    for (const forged of [`${first.slice(0, -1)}${last}`, `${first.slice(0, 4)}${first[4] === 'a' ? 'b' : 'a'}${first.slice(5)}`, `${first}A`, first.slice(0, -1)]) {
      expect(await tokens.authenticate(forged, connection), forged).to.equal(undefined);
    }
    // And the real one still works there afterwards.
    expect((await tokens.authenticate(first, connection))?.name).to.equal(firstName);
  });

  it('stops at once on a revocation made through the service, on a connection that used the token', async () => {
    const connection = {};
    expect(await tokens.authenticate(first, connection)).to.not.equal(undefined);
    await tokens.revoke(firstName, 'test');
    expect(await tokens.authenticate(first, connection)).to.equal(undefined);
  });

  it('stops within the recheck time on a revocation made elsewhere (another process on the database)', async () => {
    const connection = {};
    expect(await tokens.authenticate(first, connection)).to.not.equal(undefined);
    await new TokenService(database().db).revoke(firstName, 'test');
    const started = Date.now();
    while (await tokens.authenticate(first, connection) !== undefined) {
      expect(Date.now() - started, 'still accepted after the recheck time').to.be.below(2000);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
