import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import { checkFormProof, formProof, LinkError, linkPath, loggablePath, PAGES_PREFIX, signLink, verifyLink, type LinkClaims } from '../../../src/notify/links.js';

const key = randomBytes(32);
const now = new Date('2030-03-01T09:00:00.000Z');
const inAnHour = Math.floor(now.getTime() / 1000) + 3600;
const claims: LinkClaims = { recipientId: '5b0c7a52-3f3c-4f0e-9d5e-1c2d3e4f5a6b', purpose: 'review', ref: 'campaign-1', expires: inAnHour };

function refused(token: string, at = now, withKey = key): LinkError {
  try {
    verifyLink(withKey, token, at);
  } catch (err) {
    expect(err).to.be.instanceOf(LinkError);
    return err as LinkError;
  }
  throw new Error(`expected ${token} to be refused`);
}

/** The token with one character of its payload (part 0) or signature (part 1) changed. */
function flip(token: string, part: 0 | 1, at: number): string {
  const parts = token.split('.');
  const s = parts[part]!;
  const i = at < 0 ? s.length + at : at;
  parts[part] = `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
  return parts.join('.');
}

describe('mail links', () => {
  it('verifies what it signed, with and without a ref', () => {
    expect(verifyLink(key, signLink(key, claims), now)).to.deep.equal(claims);
    const plain: LinkClaims = { recipientId: 'r1', purpose: 'approvals', expires: inAnHour };
    expect(verifyLink(key, signLink(key, plain), now)).to.deep.equal(plain);
    expect(linkPath(key, plain)).to.equal(`${PAGES_PREFIX}/${signLink(key, plain)}`);
  });

  it('refuses a token whose claims or signature were changed', () => {
    const token = signLink(key, claims);
    for (const changed of [flip(token, 0, 0), flip(token, 0, 5), flip(token, 0, -1), flip(token, 1, 0), flip(token, 1, -2), flip(token, 1, -1)]) {
      expect(changed).not.to.equal(token);
      expect(refused(changed).reason).to.equal('invalid');
    }
    // Claims of another person under this token's signature.
    const other = signLink(key, { ...claims, recipientId: 'someone-else' });
    expect(refused(`${other.split('.')[0]}.${token.split('.')[1]}`).reason).to.equal('invalid');
    // A later expiry made up by hand.
    const longer = Buffer.from(JSON.stringify([claims.recipientId, claims.purpose, claims.ref, inAnHour + 86_400 * 365])).toString('base64url');
    expect(refused(`${longer}.${token.split('.')[1]}`).reason).to.equal('invalid');
  });

  it('refuses a token signed with another key', () => {
    expect(refused(signLink(randomBytes(32), claims)).reason).to.equal('invalid');
  });

  it('refuses what is not a token at all', () => {
    for (const junk of ['', '.', 'abc', 'abc.', '.abc', 'a.b.c', `${signLink(key, claims)}.x`, 'not base64!.@@@']) {
      expect(refused(junk).reason, junk).to.equal('invalid');
    }
  });

  it('refuses a correctly signed token whose claims are not well-formed', () => {
    const forge = (fields: unknown) => {
      const payload = Buffer.from(JSON.stringify(fields)).toString('base64url');
      // Signed with the key, as a future format or a bug might: still refused, never trusted into a query.
      return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
    };
    for (const fields of [{ recipientId: 'x' }, ['x', 'admin', null, inAnHour], [1, 'review', null, inAnHour], ['x', 'review', null, 'soon'], ['x', 'review', 5, inAnHour], ['x', 'review', null]]) {
      expect(refused(forge(fields)).reason, JSON.stringify(fields)).to.equal('invalid');
    }
  });

  it('stops working when it expires, and says so', () => {
    const token = signLink(key, claims);
    expect(verifyLink(key, token, new Date((inAnHour - 1) * 1000)).recipientId).to.equal(claims.recipientId);
    const err = refused(token, new Date(inAnHour * 1000));
    expect(err.reason).to.equal('expired');
    expect(err.message).to.include('expired');
    expect(refused(token, new Date((inAnHour + 86_400) * 1000)).reason).to.equal('expired');
  });

  it('gives each link its own form proof, which is not its signature', () => {
    const a = signLink(key, claims);
    const b = signLink(key, { ...claims, recipientId: 'someone-else' });
    const proof = formProof(key, a);
    expect(checkFormProof(key, a, proof)).to.equal(true);
    expect(checkFormProof(key, b, proof)).to.equal(false);
    expect(checkFormProof(randomBytes(32), a, proof)).to.equal(false);
    expect(checkFormProof(key, a, '')).to.equal(false);
    expect(checkFormProof(key, a, `${proof}x`)).to.equal(false);
    expect(checkFormProof(key, a, flip(`${proof}.x`, 0, -1).split('.')[0]!)).to.equal(false);
    expect(proof).not.to.equal(a.split('.')[1]);
  });

  it('keeps tokens out of logged paths', () => {
    const path = linkPath(key, claims);
    expect(loggablePath(path)).to.equal('/m/[token]');
    expect(loggablePath(path.toUpperCase())).to.equal('/m/[token]');
    expect(loggablePath('/api/v1/grants')).to.equal('/api/v1/grants');
    expect(loggablePath('/metrics')).to.equal('/metrics');
  });
});
