import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConnectionLostError, clientOptions, createClient, dispose, isAlive, tlsOptions } from '../../../connectors/ldap/client-options.js';
import { createLdapConnector, LDAP_DEFAULT_CORRELATION, LDAP_DEFAULT_MAPPING, LdapConnector } from '../../../connectors/ldap/index.js';
import { resolveLdapSettings } from '../../../connectors/ldap/settings.js';

const BASE = {
  url: 'ldap://ldap.example.com:389',
  bindDn: 'cn=admin,dc=example,dc=com',
  bindPassword: 'hunter2-secret',
  peopleDn: 'ou=people,dc=example,dc=com',
  groupsDn: 'ou=groups,dc=example,dc=com',
};

describe('LDAP connector settings', () => {
  it('fills in the documented defaults', () => {
    const c = resolveLdapSettings('dir', BASE);
    expect(c).to.include({
      startTls: false, rejectUnauthorized: true, groupClass: 'groupOfNames', memberAttribute: 'member', rdnAttribute: 'uid',
      emptyGroupMember: 'cn=nobody', pageSize: 500, poolSize: 4, timeoutMs: 10_000, bindPassword: 'hunter2-secret',
    });
    expect(c.objectClasses).to.deep.equal(['inetOrgPerson']);
    expect(c.disable).to.deep.equal({ method: 'move', disabledDn: 'ou=disabled,dc=example,dc=com' });
    expect(c.mapping).to.equal(LDAP_DEFAULT_MAPPING);
    expect(c.correlation).to.equal(LDAP_DEFAULT_CORRELATION);
    expect(LDAP_DEFAULT_MAPPING).to.deep.equal({ uid: 'userName', cn: 'displayName', sn: 'familyName', givenName: 'givenName', mail: 'email', employeeNumber: 'employeeId' });
  });

  it('ignores the keys every target entry carries', () => {
    expect(() => createLdapConnector('dir', { ...BASE, connector: 'ldap', concurrency: 4, ratePerSecond: 0 })).to.not.throw();
  });

  it('spells DNs canonically', () => {
    const c = resolveLdapSettings('dir', { ...BASE, peopleDn: 'OU=People, DC=Example, DC=com', disable: { method: 'move', disabledDn: 'OU=Gone,DC=Example,DC=com' } });
    expect(c.peopleDn).to.equal('ou=People,dc=Example,dc=com');
    expect(c.disable).to.deep.equal({ method: 'move', disabledDn: 'ou=Gone,dc=Example,dc=com' });
  });

  it('takes the attribute disable method with the ppolicy lock as default', () => {
    const c = resolveLdapSettings('dir', { ...BASE, disable: { method: 'attribute' } });
    expect(c.disable).to.deep.equal({ method: 'attribute', attribute: 'pwdAccountLockedTime', value: '000001010000Z' });
  });

  it('uses uniqueMember for groupOfUniqueNames', () => {
    expect(resolveLdapSettings('dir', { ...BASE, groupClass: 'groupOfUniqueNames' }).memberAttribute).to.equal('uniqueMember');
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['an http URL', { url: 'http://ldap.example.com' }, /target dir: url: must be ldap/],
    ['a URL with a path', { url: 'ldap://ldap.example.com/dc=example' }, /url/],
    ['StartTLS on ldaps', { url: 'ldaps://ldap.example.com', startTls: true }, /startTls: StartTLS is for ldap:\/\//],
    ['a people DN that is not a DN', { peopleDn: 'people' }, /peopleDn: must be a DN/],
    ['an unknown group class', { groupClass: 'posixGroup' }, /groupClass/],
    ['a mapping without the RDN attribute', { attributes: { mail: 'email' } }, /attributes: must map the RDN attribute uid/],
    ['a mapping naming an unknown identity attribute', { attributes: { uid: 'nickName' } }, /attributes\.uid/],
    ['an attribute name with filter syntax', { rdnAttribute: 'uid)(x' }, /rdnAttribute: must be an LDAP attribute name/],
    ['a one-RDN people DN without a disabled DN', { peopleDn: 'o=people' }, /disable\.disabledDn: required/],
    ['a page size of 0', { pageSize: 0 }, /pageSize/],
  ];
  for (const [what, change, message] of bad) {
    it(`stops the start on ${what}`, () => {
      expect(() => resolveLdapSettings('dir', { ...BASE, ...change })).to.throw(message);
    });
  }

  it('reads the bind password from the environment, naming a missing variable and never a value', () => {
    process.env.IAM_TEST_LDAP_PASSWORD = 'from-the-env';
    try {
      expect(resolveLdapSettings('dir', { ...BASE, bindPassword: { env: 'IAM_TEST_LDAP_PASSWORD' } }).bindPassword).to.equal('from-the-env');
    } finally {
      delete process.env.IAM_TEST_LDAP_PASSWORD;
    }
    expect(() => resolveLdapSettings('dir', { ...BASE, bindPassword: { env: 'IAM_TEST_LDAP_PASSWORD' } })).to.throw(/IAM_TEST_LDAP_PASSWORD is not set/);
    try {
      resolveLdapSettings('dir', { ...BASE, url: 'nope' });
      expect.fail('should throw');
    } catch (err) {
      expect((err as Error).message).to.not.include('hunter2');
    }
  });

  describe('target attributes', () => {
    const connector = new LdapConnector('dir', BASE);

    it('maps identity attributes with the default mapping', () => {
      expect(connector.targetAttributes({
        userName: 'jdoe', givenName: 'Jane', familyName: 'Doe', displayName: 'Jane Doe', email: 'jane@example.com', employeeId: 'E1', extra: {},
      })).to.deep.equal({ uid: 'jdoe', cn: 'Jane Doe', sn: 'Doe', givenName: 'Jane', mail: 'jane@example.com', employeeNumber: 'E1' });
    });

    it('fills cn and sn, which inetOrgPerson requires, from the userName', () => {
      expect(connector.targetAttributes({ userName: 'jdoe', extra: {} })).to.deep.equal({ uid: 'jdoe', cn: 'jdoe', sn: 'jdoe' });
    });

    it('follows a configured mapping, still filling required attributes', () => {
      const custom = new LdapConnector('dir', { ...BASE, attributes: { uid: 'userName', mail: 'email', departmentNumber: 'extra.department' } });
      expect(custom.targetAttributes({ userName: 'jdoe', email: 'j@example.com', extra: { department: 'Eng' } }))
        .to.deep.equal({ uid: 'jdoe', mail: 'j@example.com', departmentNumber: 'Eng', cn: 'jdoe', sn: 'jdoe' });
    });

    it('fills nothing for object classes that are not people', () => {
      const device = new LdapConnector('dir', { ...BASE, objectClasses: ['account'], attributes: { uid: 'userName' } });
      expect(device.targetAttributes({ userName: 'svc', extra: {} })).to.deep.equal({ uid: 'svc' });
    });

    it('correlates by uid, then mail, unless configured', () => {
      expect(connector.correlation).to.deep.equal([{ target: 'uid', identity: 'userName' }, { target: 'mail', identity: 'email' }]);
      expect(new LdapConnector('dir', { ...BASE, correlate: [{ target: 'employeeNumber', identity: 'employeeId' }] }).correlation)
        .to.deep.equal([{ target: 'employeeNumber', identity: 'employeeId' }]);
      expect(connector.keepsDisabledAccounts).to.equal(true);
    });
  });

  describe('TLS', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'iam-ldap-tls-'));
      writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('passes LDAPS options to ldapts: the CA, certificate checks and the server name', () => {
      const config = resolveLdapSettings('dir', { ...BASE, url: 'ldaps://ldap.example.com:636', tls: { caFile: join(dir, 'ca.pem'), rejectUnauthorized: false } });
      const options = clientOptions(config);
      expect(options.url).to.equal('ldaps://ldap.example.com:636');
      expect(options.tlsOptions).to.deep.equal({ host: 'ldap.example.com', servername: 'ldap.example.com', rejectUnauthorized: false, ca: [config.ca] });
      expect(config.ca).to.include('BEGIN CERTIFICATE');
      expect(options.timeout).to.equal(10_000);
      expect(options.connectTimeout).to.equal(10_000);
    });

    it('keeps StartTLS options out of the client, which would otherwise open TLS at once', () => {
      const config = resolveLdapSettings('dir', { ...BASE, startTls: true, tls: { caFile: join(dir, 'ca.pem') } });
      expect(clientOptions(config).tlsOptions).to.equal(undefined);
      expect(tlsOptions(config)).to.deep.equal({ host: 'ldap.example.com', servername: 'ldap.example.com', rejectUnauthorized: true, ca: [config.ca] });
    });

    it('sends no server name (SNI) for an IP address, checking the certificate against the address', () => {
      expect(tlsOptions(resolveLdapSettings('dir', { ...BASE, url: 'ldaps://127.0.0.1:636' }))).to.deep.equal({ host: '127.0.0.1', rejectUnauthorized: true });
      expect(tlsOptions(resolveLdapSettings('dir', { ...BASE, url: 'ldaps://[::1]:636' }))).to.deep.equal({ host: '::1', rejectUnauthorized: true });
    });

    it('stops the start when the CA file cannot be read', () => {
      expect(() => resolveLdapSettings('dir', { ...BASE, tls: { caFile: join(dir, 'missing.pem') } })).to.throw(/tls\.caFile: cannot read .*missing\.pem \(ENOENT\)/);
    });
  });

  describe('one socket per client', () => {
    let server: Server;
    let port: number;
    before(async () => {
      server = createServer((socket) => socket.destroy());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('makes a client whose connection dropped fail instead of reconnecting unbound', async () => {
      const config = resolveLdapSettings('dir', { ...BASE, url: `ldap://127.0.0.1:${port}`, timeoutMs: 2000 });
      const client = createClient(config);
      expect(isAlive(client)).to.equal(false);
      // The server hangs up at once: the first request sees its connection close.
      const first = await client.search('dc=example,dc=com', { scope: 'base' }).then(() => null, (err: Error) => err);
      expect(first).to.be.instanceOf(Error);
      expect(isAlive(client)).to.equal(false);
      const second = await client.search('dc=example,dc=com', { scope: 'base' }).then(() => null, (err: Error) => err);
      expect(second).to.be.instanceOf(ConnectionLostError);
      await dispose(client);
    });
  });
});
