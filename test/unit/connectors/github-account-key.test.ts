import { expect } from 'chai';
import { invitationKey, parseAccountKey, sameLogin } from '../../../connectors/github/account-key.js';
import { invitationAccount, keyOfInvitation, memberAccount } from '../../../connectors/github/reader.js';

describe('GitHub account keys', () => {
  it('reads a login, an email invitation, and no key', () => {
    expect(parseAccountKey('octocat')).to.deep.equal({ kind: 'login', login: 'octocat' });
    expect(parseAccountKey(invitationKey(42))).to.deep.equal({ kind: 'invitation', id: 42 });
    expect(parseAccountKey(null)).to.equal(null);
    expect(parseAccountKey('')).to.equal(null);
  });

  it('does not take a malformed invitation key for an invitation', () => {
    expect(parseAccountKey('invitation:abc')).to.deep.equal({ kind: 'login', login: 'invitation:abc' });
    expect(parseAccountKey('invitation:-3')).to.deep.equal({ kind: 'login', login: 'invitation:-3' });
  });

  it('compares logins without case, and never matches a missing one', () => {
    expect(sameLogin('OctoCat', 'octocat')).to.equal(true);
    expect(sameLogin('octocat', 'octodog')).to.equal(false);
    expect(sameLogin(null, null)).to.equal(false);
  });

  it('keys an invitation by its login once GitHub knows it', () => {
    expect(keyOfInvitation({ id: 7, login: null })).to.equal('invitation:7');
    expect(keyOfInvitation({ id: 7, login: 'octocat' })).to.equal('octocat');
  });

  it('shows members and invitations as accounts with sorted memberships', () => {
    expect(memberAccount('octocat', ['web', 'data'])).to.deep.equal({ accountKey: 'octocat', enabled: true, attributes: { login: 'octocat' }, memberships: ['data', 'web'] });
    expect(invitationAccount({ id: 9, login: null, email: 'a@example.com', role: 'direct_member' }, ['b', 'a'])).to.deep.equal({
      accountKey: 'invitation:9', enabled: true, pending: true, attributes: { email: 'a@example.com' }, memberships: ['a', 'b'],
    });
  });
});
