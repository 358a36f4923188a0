import { expect } from 'chai';
import { GITHUB_DEFAULT_BASE_URL, githubSettings } from '../../../connectors/github/index.js';
import { parseSettings } from '../../../src/provisioning/connector-settings.js';

const parse = (settings: Record<string, unknown>) => parseSettings(githubSettings, 'github', settings);

describe('GitHub connector settings', () => {
  it('fills the defaults and drops the keys the registry reads', () => {
    const s = parse({ connector: 'github', concurrency: 4, ratePerSecond: 2, org: 'acme', auth: { token: { env: 'GITHUB_TOKEN' } } });
    expect(s).to.deep.equal({ baseUrl: GITHUB_DEFAULT_BASE_URL, org: 'acme', auth: { token: { env: 'GITHUB_TOKEN' } }, memberRole: 'member', timeoutMs: 30_000, perPage: 100 });
  });

  it('takes a GitHub Enterprise Server root without its trailing slash, and a GitHub App', () => {
    const s = parse({ baseUrl: 'https://github.example.com/api/v3/', org: 'acme', auth: { appId: 12, installationId: '34', privateKey: { file: '/run/secrets/app.pem' } } });
    expect(s.baseUrl).to.equal('https://github.example.com/api/v3');
    expect(s.auth).to.deep.equal({ appId: '12', installationId: 34, privateKey: { file: '/run/secrets/app.pem' } });
  });

  it('refuses what it cannot honour, naming the setting', () => {
    expect(() => parse({ org: 'acme', auth: { token: 't' }, perPage: 500 })).to.throw(/target github: perPage/);
    expect(() => parse({ org: 'acme', auth: { token: 't' }, memberRole: 'owner' })).to.throw(/memberRole/);
    expect(() => parse({ org: 'acme', auth: { token: 't' }, attributes: { name: 'displayName' } })).to.throw(/attributes: target attributes must be among login, email/);
    expect(() => parse({ org: 'acme', auth: { token: 't' }, correlate: [{ target: 'uid', identity: 'userName' }] })).to.throw(/correlate/);
    expect(() => parse({ auth: { token: 't' } })).to.throw(/org/);
    expect(() => parse({ org: 'acme' })).to.throw(/auth/);
    expect(() => parse({ org: 'acme', auth: { token: 't', appId: 1 } })).to.throw(/auth/);
  });
});
