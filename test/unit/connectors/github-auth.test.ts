import { generateKeyPairSync, verify } from 'node:crypto';
import { expect } from 'chai';
import { appJwt, StaticToken } from '../../../connectors/github/auth.js';

describe('GitHub credentials', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const NOW = Date.parse('2025-06-01T12:00:00Z');

  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

  it('signs an app JWT with RS256 that the public key verifies', () => {
    const [header, claims, signature] = appJwt('31337', privateKey, NOW).split('.');
    expect(decode(header!)).to.deep.equal({ alg: 'RS256', typ: 'JWT' });
    expect(verify('sha256', Buffer.from(`${header}.${claims}`), publicKey, Buffer.from(signature!, 'base64url'))).to.equal(true);
  });

  it('issues the JWT a minute back and lets it live nine minutes, within GitHub\'s ten', () => {
    const claims = decode(appJwt('31337', privateKey, NOW).split('.')[1]!);
    const now = NOW / 1000;
    expect(claims).to.deep.equal({ iat: now - 60, exp: now + 540, iss: 31337 });
  });

  it('puts a client id in iss as text', () => {
    expect(decode(appJwt('Iv1.abc123', privateKey, NOW).split('.')[1]!).iss).to.equal('Iv1.abc123');
  });

  it('masks a static token in any text', async () => {
    const token = new StaticToken('ghp_secret_value');
    expect(await token.token()).to.equal('ghp_secret_value');
    expect(token.mask('echo ghp_secret_value twice ghp_secret_value')).to.equal('echo *** twice ***');
    expect(token.refused()).to.equal(false);
  });
});
