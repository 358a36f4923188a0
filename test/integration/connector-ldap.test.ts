import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Attribute, Change, Client, EqualityFilter, type Entry } from 'ldapts';
import { createLdapConnector, LdapConnector, type LdapSettings } from '../../connectors/ldap/index.js';
import { ConnectorError, type AccountAttributes, type Operation, type OperationResult, type TargetAccount } from '../../src/provisioning/connector.js';
import { startSlapd, type SlapdServer } from '../support/slapd.js';
import { connectorFailure } from '../support/connector-assertions.js';

/*
 * The LDAP connector against a real OpenLDAP (one private slapd for this file). What the
 * connector did is checked with ldapts directly, as the directory itself reports it.
 */

const HRGEN = join(dirname(fileURLToPath(import.meta.url)), '..', 'support', 'hrgen.mjs');

/** How LDAP compares names (case and surrounding or repeated spaces do not count): two names with one key are one entry. */
const matchKey = (name: string) => name.trim().replace(/ +/g, ' ').toLowerCase();

/** hrgen names with something besides ASCII letters in them (accents, apostrophes, spaces, padding), as "Last, First" too. */
function awkwardHrgenNames(limit: number, taken: string[]): string[] {
  const rows = JSON.parse(execFileSync(process.execPath, [HRGEN, '--count', '800', '--seed', '5', '--format', 'json'], { encoding: 'utf8' })) as Array<{ first_name: string; last_name: string }>;
  const candidates = rows.flatMap((r) => [r.first_name, `${r.last_name}, ${r.first_name.trim()}`]).filter((n) => /[^A-Za-z]/.test(n));
  // Padded cells first, so they are kept over their trimmed twins.
  candidates.sort((a, b) => Number(b.startsWith(' ')) - Number(a.startsWith(' ')));
  const keys = new Set(taken.map(matchKey));
  const picked: string[] = [];
  for (const n of candidates) {
    if (keys.has(matchKey(n))) continue;
    keys.add(matchKey(n));
    picked.push(n);
  }
  // A few padded ones, then the rest in feed order.
  const padded = picked.filter((n) => n.startsWith(' ')).slice(0, 3);
  return [...padded, ...picked.filter((n) => !n.startsWith(' '))].slice(0, limit);
}

const HAND_MADE_NASTY = [
  'Smith, John', 'a+b=c', '"quoted"', 'back\\slash\\', ' leading space', 'trailing space ', '#hash', 'semi;colon <angle>',
  'star*(paren)', 'Zoë Müller-Łukasz', '東京 太郎', "O'Brien, Seán", '\\2c not an escape', ',leading comma',
];

describe('LDAP connector against slapd', function () {
  this.timeout(60_000);
  let slapd: SlapdServer;
  const opened: LdapConnector[] = [];
  let n = 0;

  before(async () => {
    slapd = await startSlapd({ tls: true });
  });

  after(async () => {
    await Promise.all(opened.map((c) => c.close()));
    await slapd?.close();
  });

  /** A connector on the test server; settings override the defaults. */
  function connector(settings: Partial<LdapSettings> = {}): LdapConnector {
    const c = new LdapConnector('dir', {
      url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.bindPassword, peopleDn: slapd.peopleDn, groupsDn: slapd.groupsDn, ...settings,
    });
    opened.push(c);
    return c;
  }

  /** A person with every mapped attribute; userName unique per call unless given. */
  function person(more: Partial<AccountAttributes> = {}): AccountAttributes {
    const id = ++n;
    return {
      userName: `user${id}`, givenName: `Given${id}`, familyName: `Family${id}`, displayName: `Given${id} Family${id}`,
      email: `user${id}@example.com`, employeeId: `E${id}`, extra: {}, ...more,
    };
  }

  const run = (c: LdapConnector, accountKey: string | null, operation: Operation): Promise<OperationResult> =>
    c.execute({ accountId: `acc-${accountKey ?? 'new'}`, identityId: 'id', target: 'dir', accountKey }, operation, `key-${operation.op}`);

  /** Runs the same call twice, as a retry would (same account key both times); both answers. */
  async function twice(c: LdapConnector, accountKey: string | null, operation: Operation): Promise<[OperationResult, OperationResult]> {
    return [await run(c, accountKey, operation), await run(c, accountKey, operation)];
  }

  async function create(c: LdapConnector, attributes: AccountAttributes, memberships: string[] = [], enabled = true): Promise<string> {
    const { accountKey } = await run(c, null, { op: 'create', attributes, enabled, memberships });
    expect(accountKey).to.be.a('string');
    return accountKey!;
  }

  const failure = connectorFailure;

  // --- the directory as ldapts sees it ---------------------------------------------------------

  async function asAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client({ url: slapd.url, timeout: 5000 });
    try {
      await client.bind(slapd.bindDn, slapd.bindPassword);
      return await fn(client);
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  /** The entry at dn (user and the asked operational attributes), or null. */
  const entry = (dn: string, attributes = ['*', 'memberOf', 'pwdAccountLockedTime']): Promise<Entry | null> =>
    asAdmin(async (client) => {
      try {
        return (await client.search(dn, { scope: 'base', attributes })).searchEntries[0] ?? null;
      } catch (err) {
        if ((err as { code?: number }).code === 32) return null;
        throw err;
      }
    });

  const values = (e: Entry | null, name: string): string[] => {
    const v = e?.[name];
    return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String);
  };

  /** Entries below base whose attribute equals value, counted by the server. */
  const countWhere = (base: string, attribute: string, value: string): Promise<number> =>
    asAdmin(async (client) => (await client.search(base, { scope: 'sub', filter: new EqualityFilter({ attribute, value }), attributes: ['1.1'] })).searchEntries.length);

  /** Whether the group cn=<cn> lists memberDn, as the server matches DNs. */
  const isMember = (cn: string, memberDn: string, attribute = 'member'): Promise<boolean> =>
    asAdmin(async (client) => {
      const groups = await client.search(slapd.groupsDn, { scope: 'one', filter: new EqualityFilter({ attribute: 'cn', value: cn }), attributes: ['1.1'] });
      if (groups.searchEntries.length === 0) return false;
      const hit = await client.search(groups.searchEntries[0]!.dn, { scope: 'base', filter: new EqualityFilter({ attribute, value: memberDn }), attributes: ['1.1'] });
      return hit.searchEntries.length === 1;
    });

  const groupMembers = async (cn: string, attribute = 'member'): Promise<string[]> => values(await entry(`cn=${cn},${slapd.groupsDn}`, [attribute]), attribute);

  /** The cn of each group the entry's memberOf names. */
  const memberOf = async (dn: string): Promise<string[]> =>
    values(await entry(dn), 'memberOf').map((g) => /^cn=([^,]+),/i.exec(g)![1]!).sort();

  async function listAll(c: LdapConnector): Promise<{ pages: TargetAccount[][]; accounts: TargetAccount[] }> {
    const pages: TargetAccount[][] = [];
    for await (const page of c.list()) pages.push(page);
    return { pages, accounts: pages.flat() };
  }

  // --- connection and credentials ---------------------------------------------------------------

  describe('test()', () => {
    it('passes with the right credentials and base DNs', async () => {
      await connector().test();
    });

    it('fails permanent on a wrong password, with the server\'s answer and without the password', async () => {
      const wrong = `wrong-${slapd.bindPassword}`;
      const err = await failure(connector({ bindPassword: wrong }).test());
      expect(err.retryable).to.equal(false);
      expect(err.message).to.include('invalidCredentials').and.include(slapd.bindDn);
      expect(err.message).to.not.include(wrong);
      expect(err.message).to.not.include(slapd.bindPassword);
      // Operations fail the same way.
      const op = await failure(run(connector({ bindPassword: wrong }), null, { op: 'create', attributes: person(), enabled: true, memberships: [] }));
      expect(op.retryable).to.equal(false);
      expect(op.message).to.not.include(wrong);
    });

    it('fails permanent when a configured DN does not exist', async () => {
      const err = await failure(connector({ groupsDn: `ou=nowhere,${slapd.baseDn}` }).test());
      expect(err.retryable).to.equal(false);
      expect(err.message).to.include('ou=nowhere');
    });
  });

  describe('TLS', () => {
    it('connects with LDAPS, trusting the configured CA', async () => {
      const c = connector({ url: slapd.ldapsUrl, tls: { caFile: slapd.caFile } });
      await c.test();
      const key = await create(c, person(), ['tls-ldaps']);
      expect(await isMember('tls-ldaps', key)).to.equal(true);
    });

    it('upgrades a plain connection with StartTLS, trusting the configured CA', async () => {
      const c = connector({ startTls: true, tls: { caFile: slapd.caFile } });
      await c.test();
      expect(await create(c, person())).to.be.a('string');
    });

    it('refuses a certificate it cannot verify, saying why, for LDAPS and StartTLS alike', async () => {
      for (const settings of [{ url: slapd.ldapsUrl }, { startTls: true }] as Array<Partial<LdapSettings>>) {
        const err = await failure(connector(settings).test());
        expect(err.message, JSON.stringify(settings)).to.match(/SELF_SIGNED|self.signed|certificate/i);
        expect(err.message).to.not.include(slapd.bindPassword);
      }
    });

    it('connects to an unverified certificate only when told to', async () => {
      await connector({ url: slapd.ldapsUrl, tls: { rejectUnauthorized: false } }).test();
    });
  });

  // --- operations -------------------------------------------------------------------------------

  describe('create', () => {
    it('writes an inetOrgPerson with the default mapping and joins its groups; twice is once', async () => {
      const c = connector();
      const attrs = person();
      const [first, second] = await twice(c, null, { op: 'create', attributes: attrs, enabled: true, memberships: ['create-eng', 'create-ops'] });
      expect(first.accountKey).to.equal(`uid=${attrs.userName},${slapd.peopleDn}`);
      expect(second).to.deep.equal(first);
      const e = await entry(first.accountKey!);
      expect(values(e, 'objectClass')).to.include('inetOrgPerson');
      expect(e).to.include({ uid: attrs.userName, cn: attrs.displayName, sn: attrs.familyName, givenName: attrs.givenName, mail: attrs.email, employeeNumber: attrs.employeeId });
      expect(await countWhere(slapd.baseDn, 'uid', attrs.userName)).to.equal(1);
      expect(await memberOf(first.accountKey!)).to.deep.equal(['create-eng', 'create-ops']);
      expect(await groupMembers('create-eng')).to.have.length(1);
      expect(await c.get(first.accountKey!)).to.deep.equal({
        accountKey: first.accountKey, enabled: true, attributes: c.targetAttributes(attrs), memberships: ['create-eng', 'create-ops'],
      });
    });

    it('falls back to the userName for cn and sn, which the schema requires', async () => {
      const c = connector();
      const key = await create(c, { userName: `bare${++n}`, extra: {} });
      expect(await entry(key)).to.include({ cn: `bare${n}`, sn: `bare${n}` });
    });

    it('creates a disabled account in the disabled OU', async () => {
      const c = connector();
      const attrs = person();
      const key = await create(c, attrs, ['create-disabled'], false);
      expect(key).to.equal(`uid=${attrs.userName},${slapd.disabledDn}`);
      expect(await c.get(key)).to.include({ enabled: false });
      expect(await memberOf(key)).to.deep.equal(['create-disabled']);
    });

    it('fails permanent, with the server\'s text, on an attribute the schema does not have', async () => {
      const c = connector({ attributes: { uid: 'userName', favouriteColour: 'extra.colour' } });
      const err = await failure(run(c, null, { op: 'create', attributes: { userName: `colour${++n}`, extra: { colour: 'blue' } }, enabled: true, memberships: [] }));
      expect(err.retryable).to.equal(false);
      expect(err.message).to.match(/favouriteColour/);
    });
  });

  describe('update', () => {
    it('replaces mapped attributes and removes the ones the identity lost; twice is once', async () => {
      const c = connector();
      const attrs = person();
      const key = await create(c, attrs);
      const changed: AccountAttributes = { ...attrs, email: `new-${attrs.email}`, givenName: undefined, displayName: 'New Display' };
      const [first, second] = await twice(c, key, { op: 'update', attributes: changed });
      expect(first).to.deep.equal({ accountKey: key });
      expect(second).to.deep.equal(first);
      const e = await entry(key);
      expect(e).to.include({ mail: changed.email, cn: 'New Display', sn: attrs.familyName });
      expect(e).to.not.have.property('givenName');
      expect((await c.get(key))!.attributes).to.deep.equal(c.targetAttributes(changed));
    });

    it('renames on a new userName, keeping group memberships (refint) and reporting the new DN', async () => {
      const c = connector();
      const attrs = person();
      const oldKey = await create(c, attrs, ['rename-a', 'rename-b']);
      const renamed = { ...attrs, userName: `renamed-${attrs.userName}` };
      // The second call comes with the old key, as a retry whose first answer was lost would.
      const [first, second] = await twice(c, oldKey, { op: 'update', attributes: renamed });
      const newKey = `uid=${renamed.userName},${slapd.peopleDn}`;
      expect(first).to.deep.equal({ accountKey: newKey });
      expect(second).to.deep.equal(first);
      expect(await entry(oldKey)).to.equal(null);
      expect(await entry(newKey)).to.include({ uid: renamed.userName });
      for (const group of ['rename-a', 'rename-b']) {
        expect(await isMember(group, newKey), group).to.equal(true);
        expect(await isMember(group, oldKey), group).to.equal(false);
      }
      expect(await memberOf(newKey)).to.deep.equal(['rename-a', 'rename-b']);
      expect((await c.get(newKey))!.memberships).to.deep.equal(['rename-a', 'rename-b']);
      // And the new key works for what comes next.
      expect(await run(c, newKey, { op: 'update', attributes: renamed })).to.deep.equal({ accountKey: newKey });
    });

    it('finds the entry by its name when the account key is unknown', async () => {
      const c = connector();
      const attrs = person();
      const key = await create(c, attrs);
      expect(await run(c, null, { op: 'update', attributes: { ...attrs, email: 'found@example.com' } })).to.deep.equal({ accountKey: key });
      expect(await entry(key)).to.include({ mail: 'found@example.com' });
    });

    it('fails permanent for an account that does not exist', async () => {
      const c = connector();
      const err = await failure(run(c, null, { op: 'update', attributes: person() }));
      expect(err.retryable).to.equal(false);
      expect(err.message).to.include('does not exist');
      const gone = await failure(run(c, `uid=never-there,${slapd.peopleDn}`, { op: 'update', attributes: person() }));
      expect(gone.retryable).to.equal(false);
    });
  });

  describe('disable and enable by moving to the disabled OU', () => {
    it('moves the entry and back, keeping memberships; each twice, also with the stale key', async () => {
      const c = connector();
      const attrs = person();
      const key = await create(c, attrs, ['move-a', 'move-b']);
      const disabledKey = `uid=${attrs.userName},${slapd.disabledDn}`;

      const [d1, d2] = await twice(c, key, { op: 'disable' });
      expect(d1).to.deep.equal({ accountKey: disabledKey });
      expect(d2).to.deep.equal(d1);
      expect(await run(c, disabledKey, { op: 'disable' })).to.deep.equal(d1);
      expect(await entry(key)).to.equal(null);
      expect(await memberOf(disabledKey)).to.deep.equal(['move-a', 'move-b']);
      expect(await isMember('move-a', disabledKey)).to.equal(true);
      expect(await c.get(disabledKey)).to.deep.include({ enabled: false, memberships: ['move-a', 'move-b'] });
      // Reconciliation may still hold the old key.
      expect(await c.get(key)).to.deep.include({ accountKey: disabledKey, enabled: false });

      const [e1, e2] = await twice(c, disabledKey, { op: 'enable' });
      expect(e1).to.deep.equal({ accountKey: key });
      expect(e2).to.deep.equal(e1);
      expect(await run(c, key, { op: 'enable' })).to.deep.equal(e1);
      expect(await entry(disabledKey)).to.equal(null);
      expect(await memberOf(key)).to.deep.equal(['move-a', 'move-b']);
      expect(await c.get(key)).to.deep.include({ enabled: true });
    });

    it('reports disabled accounts in list(), enabled false', async () => {
      const c = connector();
      const attrs = person();
      const key = await create(c, attrs);
      const { accountKey } = await run(c, key, { op: 'disable' });
      const { accounts } = await listAll(c);
      expect(accounts.find((a) => a.accountKey === accountKey)).to.deep.include({ enabled: false });
      expect(accounts.find((a) => a.accountKey === key)).to.equal(undefined);
    });

    it('treats disable of an absent account as done and enable of one as a permanent failure', async () => {
      const c = connector();
      expect(await run(c, null, { op: 'disable' })).to.deep.equal({});
      expect(await run(c, `uid=absent,${slapd.peopleDn}`, { op: 'disable' })).to.deep.equal({});
      expect((await failure(run(c, null, { op: 'enable' }))).retryable).to.equal(false);
      expect((await failure(run(c, `uid=absent,${slapd.disabledDn}`, { op: 'enable' }))).retryable).to.equal(false);
    });
  });

  describe('disable and enable by attribute (ppolicy lock)', () => {
    it('locks the account so it cannot bind, and unlocks it; each twice', async () => {
      const c = connector({ disable: { method: 'attribute' } });
      const attrs = person();
      const key = await create(c, attrs, ['lock-a']);
      await asAdmin((client) => client.modify(key, [new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: ['their-password'] }) })]));
      const canBind = async () => {
        const user = new Client({ url: slapd.url, timeout: 5000 });
        try {
          await user.bind(key, 'their-password');
          return true;
        } catch (err) {
          expect((err as { code?: number }).code).to.equal(49);
          return false;
        } finally {
          await user.unbind().catch(() => undefined);
        }
      };
      expect(await canBind()).to.equal(true);

      const [d1, d2] = await twice(c, key, { op: 'disable' });
      expect(d1).to.deep.equal({ accountKey: key });
      expect(d2).to.deep.equal(d1);
      expect(values(await entry(key), 'pwdAccountLockedTime')).to.deep.equal(['000001010000Z']);
      expect(await canBind()).to.equal(false);
      expect(await c.get(key)).to.deep.include({ enabled: false, memberships: ['lock-a'] });
      expect((await listAll(c)).accounts.find((a) => a.accountKey === key)).to.deep.include({ enabled: false });

      const [e1, e2] = await twice(c, key, { op: 'enable' });
      expect(e1).to.deep.equal({ accountKey: key });
      expect(e2).to.deep.equal(e1);
      expect(values(await entry(key), 'pwdAccountLockedTime')).to.deep.equal([]);
      expect(await canBind()).to.equal(true);
      expect(await c.get(key)).to.deep.include({ enabled: true });
    });

    it('creates a disabled account locked, in the people OU', async () => {
      const c = connector({ disable: { method: 'attribute' } });
      const attrs = person();
      const key = await create(c, attrs, [], false);
      expect(key).to.equal(`uid=${attrs.userName},${slapd.peopleDn}`);
      expect(values(await entry(key), 'pwdAccountLockedTime')).to.deep.equal(['000001010000Z']);
    });

    it('works with another attribute and value', async () => {
      const c = connector({ disable: { method: 'attribute', attribute: 'description', value: 'DISABLED' } });
      const key = await create(c, person());
      await run(c, key, { op: 'disable' });
      expect(values(await entry(key), 'description')).to.deep.equal(['DISABLED']);
      expect(await c.get(key)).to.deep.include({ enabled: false });
      await run(c, key, { op: 'enable' });
      expect(values(await entry(key), 'description')).to.deep.equal([]);
    });
  });

  describe('memberships', () => {
    it('adds and removes a member, creating the group on its first member; each twice', async () => {
      const c = connector();
      const key = await create(c, person());
      const other = await create(c, person(), ['members-x']);
      const [a1, a2] = await twice(c, key, { op: 'add-membership', entitlement: 'members-x' });
      expect(a1).to.deep.equal({});
      expect(a2).to.deep.equal({});
      expect(await groupMembers('members-x')).to.have.length(2);
      expect(await isMember('members-x', key)).to.equal(true);
      expect((await c.get(key))!.memberships).to.deep.equal(['members-x']);

      const [r1, r2] = await twice(c, key, { op: 'remove-membership', entitlement: 'members-x' });
      expect(r1).to.deep.equal({});
      expect(r2).to.deep.equal({});
      expect(await isMember('members-x', key)).to.equal(false);
      expect(await isMember('members-x', other)).to.equal(true);
      expect((await c.get(key))!.memberships).to.deep.equal([]);
      // Removing from a group that does not exist, or without an account, is done already.
      expect(await run(c, key, { op: 'remove-membership', entitlement: 'members-never' })).to.deep.equal({});
      expect(await run(c, null, { op: 'remove-membership', entitlement: 'members-x' })).to.deep.equal({});
      expect((await failure(run(c, null, { op: 'add-membership', entitlement: 'members-x' }))).retryable).to.equal(false);
    });

    it('keeps a placeholder in a group whose last member left, and drops it for the next member', async () => {
      const c = connector();
      const first = await create(c, person(), ['empty-rule']);
      await twice(c, first, { op: 'remove-membership', entitlement: 'empty-rule' });
      expect(await groupMembers('empty-rule')).to.deep.equal(['cn=nobody']);

      const second = await create(c, person());
      await twice(c, second, { op: 'add-membership', entitlement: 'empty-rule' });
      expect(await groupMembers('empty-rule')).to.have.length(1);
      expect(await isMember('empty-rule', second)).to.equal(true);

      // A fresh connector (another worker) knows nothing of the group, and still drops the placeholder.
      await run(c, second, { op: 'remove-membership', entitlement: 'empty-rule' });
      expect(await groupMembers('empty-rule')).to.deep.equal(['cn=nobody']);
      await run(connector(), first, { op: 'add-membership', entitlement: 'empty-rule' });
      expect(await groupMembers('empty-rule')).to.have.length(1);
      expect(await isMember('empty-rule', first)).to.equal(true);
    });

    it('uses a configured placeholder', async () => {
      const c = connector({ emptyGroupMember: slapd.bindDn });
      const key = await create(c, person(), ['empty-custom']);
      await run(c, key, { op: 'remove-membership', entitlement: 'empty-custom' });
      expect(await isMember('empty-custom', slapd.bindDn)).to.equal(true);
      await run(c, key, { op: 'add-membership', entitlement: 'empty-custom' });
      expect(await isMember('empty-custom', slapd.bindDn)).to.equal(false);
    });

    it('manages groupOfUniqueNames with uniqueMember', async () => {
      const c = connector({ groupClass: 'groupOfUniqueNames' });
      const key = await create(c, person(), ['unique-a']);
      const group = await entry(`cn=unique-a,${slapd.groupsDn}`, ['objectClass', 'uniqueMember']);
      expect(values(group, 'objectClass')).to.include('groupOfUniqueNames');
      expect(await isMember('unique-a', key, 'uniqueMember')).to.equal(true);
      await twice(c, key, { op: 'add-membership', entitlement: 'unique-b' });
      expect((await c.get(key))!.memberships).to.deep.equal(['unique-a', 'unique-b']);
      await twice(c, key, { op: 'remove-membership', entitlement: 'unique-a' });
      expect(await groupMembers('unique-a', 'uniqueMember')).to.deep.equal(['cn=nobody']);
      const { accountKey: disabled } = await run(c, key, { op: 'disable' });
      expect(await isMember('unique-b', disabled!, 'uniqueMember')).to.equal(true);
      expect((await c.get(disabled!))!.memberships).to.deep.equal(['unique-b']);
    });
  });

  describe('delete', () => {
    it('removes the entry and its memberships; twice is once', async () => {
      const c = connector();
      const key = await create(c, person(), ['delete-a']);
      const stays = await create(c, person(), ['delete-b']);
      await run(c, key, { op: 'add-membership', entitlement: 'delete-b' });
      const [first, second] = await twice(c, key, { op: 'delete' });
      expect(first).to.deep.equal({});
      expect(second).to.deep.equal({});
      expect(await entry(key)).to.equal(null);
      expect(await groupMembers('delete-a')).to.deep.equal(['cn=nobody']);
      expect(await isMember('delete-b', key)).to.equal(false);
      expect(await isMember('delete-b', stays)).to.equal(true);
      expect(await c.get(key)).to.equal(null);
      expect(await run(c, null, { op: 'delete' })).to.deep.equal({});
    });

    it('deletes a disabled account from the disabled OU, also by its old key', async () => {
      const c = connector();
      const key = await create(c, person());
      const { accountKey: disabled } = await run(c, key, { op: 'disable' });
      await run(c, key, { op: 'delete' });
      expect(await entry(disabled!)).to.equal(null);
    });
  });

  describe('names with commas, plus signs, quotes, backslashes, non-ASCII, leading spaces and #', () => {
    const names = [...HAND_MADE_NASTY, ...awkwardHrgenNames(20, HAND_MADE_NASTY)];

    it('has hrgen names worth sending', () => {
      expect(names.length).to.equal(HAND_MADE_NASTY.length + 20);
      expect(names.some((v) => /[^\x00-\x7f]/.test(v) && !HAND_MADE_NASTY.includes(v))).to.equal(true);
      expect(names.some((v) => v.startsWith(' ') && !HAND_MADE_NASTY.includes(v)), 'a padded cell').to.equal(true);
    });

    it('round-trips through create, get, list and rename', async function () {
      this.timeout(120_000);
      const c = connector();
      const made: Array<{ name: string; key: string }> = [];
      for (const [i, name] of names.entries()) {
        const attrs = person({ userName: name, displayName: name, familyName: name });
        const [first, second] = await twice(c, null, { op: 'create', attributes: attrs, enabled: true, memberships: [`nasty ${name}`] });
        expect(second, name).to.deep.equal(first);
        const key = first.accountKey!;
        // The server finds the entry at exactly this DN, holding exactly this name.
        const e = await entry(key);
        expect(e, key).to.not.equal(null);
        expect(e!.uid, key).to.equal(name);
        expect(e!.cn, key).to.equal(name);
        expect(await countWhere(slapd.peopleDn, 'uid', name), name).to.equal(1);
        const got = await c.get(key);
        expect(got, key).to.deep.equal({ accountKey: key, enabled: true, attributes: c.targetAttributes(attrs), memberships: [`nasty ${name}`] });
        made.push({ name, key });
        if (i === 0) expect(key).to.equal(`uid=Smith\\2c John,${slapd.peopleDn}`);
      }
      const { accounts } = await listAll(c);
      const listed = new Map(accounts.map((a) => [a.accountKey, a]));
      for (const { name, key } of made) {
        expect(listed.get(key), key).to.deep.include({ enabled: true, memberships: [`nasty ${name}`] });
        expect(listed.get(key)!.attributes.uid).to.equal(name);
      }
      // Rename each to another nasty name, twice, then disable (a move) and check the groups followed.
      for (const [i, { name, key }] of made.entries()) {
        const newName = `${names[(i + 1) % names.length]}~${i}`;
        const [first, second] = await twice(c, key, { op: 'update', attributes: person({ userName: newName, displayName: name, familyName: name }) });
        expect(second, newName).to.deep.equal(first);
        const newKey = first.accountKey!;
        expect((await entry(newKey))!.uid, newKey).to.equal(newName);
        expect(await entry(key), key).to.equal(null);
        expect(await isMember(`nasty ${name}`, newKey), newKey).to.equal(true);
        const { accountKey: disabled } = await run(c, newKey, { op: 'disable' });
        expect(await c.get(disabled!), disabled).to.deep.include({ enabled: false, memberships: [`nasty ${name}`] });
      }
    });

    it('names entries by cn ("Last, First") when configured', async () => {
      const c = connector({ rdnAttribute: 'cn' });
      for (const displayName of ['Müller, Jürgen', "O'Brien, Seán + Co", ' #Padded ']) {
        const attrs = person({ displayName });
        const key = await create(c, attrs, ['by-cn']);
        expect((await entry(key))!.cn).to.equal(displayName);
        const { accountKey: renamed } = await run(c, key, { op: 'update', attributes: { ...attrs, displayName: `${displayName}, Jr.` } });
        expect((await entry(renamed!))!.cn).to.equal(`${displayName}, Jr.`);
        expect(await isMember('by-cn', renamed!)).to.equal(true);
      }
    });
  });

  describe('list()', () => {
    it('reads 1,200 entries in pages of at most 500, all of them, each once', async function () {
      this.timeout(120_000);
      const ou = `ou=bulk,${slapd.baseDn}`;
      const disabledOu = `ou=bulk-disabled,${slapd.baseDn}`;
      await asAdmin(async (client) => {
        await client.add(ou, { objectClass: 'organizationalUnit', ou: 'bulk' });
        await client.add(disabledOu, { objectClass: 'organizationalUnit', ou: 'bulk-disabled' });
      });
      const c = connector({ peopleDn: ou, disable: { method: 'move', disabledDn: disabledOu }, pageSize: 500 });
      const keys: string[] = [];
      const queue = Array.from({ length: 1200 }, (_, i) => i);
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
          const memberships = i % 3 === 0 ? ['bulk-a', 'bulk-b'] : [];
          keys.push(await create(c, person({ userName: `bulk${i}` }), memberships, i % 10 !== 0));
        }
      }));
      const { pages, accounts } = await listAll(c);
      expect(pages.length).to.be.at.least(3);
      for (const page of pages) expect(page.length).to.be.at.most(500);
      expect(accounts).to.have.length(1200);
      expect(new Set(accounts.map((a) => a.accountKey))).to.deep.equal(new Set(keys));
      const byUid = new Map(accounts.map((a) => [a.attributes.uid, a]));
      expect(byUid.get('bulk3')).to.deep.include({ enabled: true, memberships: ['bulk-a', 'bulk-b'] });
      expect(byUid.get('bulk10')).to.deep.include({ enabled: false });
      expect(byUid.get('bulk10')!.accountKey).to.equal(`uid=bulk10,${disabledOu}`);
      expect(byUid.get('bulk1')).to.deep.include({ enabled: true, memberships: [] });
      expect(Object.keys(byUid.get('bulk1')!.attributes).sort()).to.deep.equal(['cn', 'employeeNumber', 'givenName', 'mail', 'sn', 'uid']);
    });
  });

  // --- the server going away --------------------------------------------------------------------

  describe('when slapd stops and comes back', () => {
    it('fails every call retryable while it is down, and works again after the restart without a caller retry', async () => {
      const c = connector();
      const key = await create(c, person());
      await slapd.stop();
      try {
        for (const call of [
          run(c, key, { op: 'update', attributes: person() }),
          run(c, null, { op: 'create', attributes: person(), enabled: true, memberships: [] }),
          c.get(key),
          c.test(),
          listAll(c),
        ]) {
          const err = await failure(call);
          expect(err.retryable, err.message).to.equal(true);
          expect(err.message).to.include(slapd.url);
          expect(err.message).to.not.include(slapd.bindPassword);
        }
      } finally {
        await slapd.restart();
      }
      // The pooled connections died with the server; the next call gets a fresh, bound one.
      expect(await c.get(key)).to.not.equal(null);
      expect(await run(c, key, { op: 'add-membership', entitlement: 'after-restart' })).to.deep.equal({});
      expect(await isMember('after-restart', key)).to.equal(true);
    });

    it('notices at once that LDAPS and StartTLS connections died with the server', async () => {
      // ldapts alone keeps a StartTLS connection for open after the server closed it, and a request on it waits for the timeout.
      const secure = [
        connector({ url: slapd.ldapsUrl, tls: { caFile: slapd.caFile }, timeoutMs: 8000 }),
        connector({ startTls: true, tls: { caFile: slapd.caFile }, timeoutMs: 8000 }),
      ];
      const key = await create(secure[0]!, person());
      for (const c of secure) expect(await c.get(key)).to.not.equal(null);
      await slapd.restart();
      for (const c of secure) {
        const started = Date.now();
        expect(await c.get(key)).to.not.equal(null);
        expect(Date.now() - started).to.be.lessThan(2000);
      }
    });

    it('loses nothing when slapd restarts in the middle of a run of operations', async function () {
      this.timeout(120_000);
      const c = connector({ poolSize: 4, timeoutMs: 3000 });
      const people = Array.from({ length: 60 }, (_, i) => person({ userName: `restart${i}` }));
      let retried = 0;
      let done = 0;
      /** Runs one operation until it succeeds, as the outbox would: retryable failures again after a pause, permanent ones fail the test. */
      const untilDone = async (accountKey: string | null, operation: Operation): Promise<OperationResult> => {
        for (;;) {
          try {
            const result = await run(c, accountKey, operation);
            done++;
            return result;
          } catch (err) {
            if (!(err instanceof ConnectorError) || !err.retryable) throw err;
            retried++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      };
      /** One person's operations in order, as the outbox runs them per account. */
      const lifeOf = async (attrs: AccountAttributes, i: number) => {
        let key = (await untilDone(null, { op: 'create', attributes: attrs, enabled: true, memberships: ['restart-all'] })).accountKey!;
        await untilDone(key, { op: 'add-membership', entitlement: `restart-${i % 3}` });
        key = (await untilDone(key, { op: 'update', attributes: { ...attrs, email: `moved-${attrs.email}` } })).accountKey ?? key;
        if (i % 4 === 0) key = (await untilDone(key, { op: 'disable' })).accountKey ?? key;
        if (i % 5 === 0) await untilDone(key, { op: 'remove-membership', entitlement: 'restart-all' });
        return key;
      };
      const queue = people.map((p, i) => [p, i] as const);
      const keys = new Map<number, string>();
      const workers = Promise.all(Array.from({ length: 6 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          keys.set(next[1], await lifeOf(next[0], next[1]));
          // Paced so the restart lands in the middle of the run.
          await new Promise((r) => setTimeout(r, 20));
        }
      }));
      while (done < 40) await new Promise((r) => setTimeout(r, 5));
      await slapd.stop();
      const doneWhileStopped = done;
      await new Promise((r) => setTimeout(r, 1000));
      await slapd.restart();
      await workers;

      const total = 60 * 3 + people.filter((_, i) => i % 4 === 0).length + people.filter((_, i) => i % 5 === 0).length;
      expect(doneWhileStopped, 'the restart came before the run ended').to.be.lessThan(total);
      expect(done, 'every operation succeeded').to.equal(total);
      expect(retried, 'operations failed while slapd was down').to.be.greaterThan(0);
      for (const [i, attrs] of people.entries()) {
        const expectedKey = `uid=${attrs.userName},${i % 4 === 0 ? slapd.disabledDn : slapd.peopleDn}`;
        expect(keys.get(i)).to.equal(expectedKey);
        const e = await entry(expectedKey);
        expect(e, expectedKey).to.not.equal(null);
        expect(e!.mail).to.equal(`moved-${attrs.email}`);
        const groups = [...(i % 5 === 0 ? [] : ['restart-all']), `restart-${i % 3}`].sort();
        expect(await memberOf(expectedKey), expectedKey).to.deep.equal(groups);
      }
      let entries = 0;
      for (const attrs of people) entries += await countWhere(slapd.baseDn, 'uid', attrs.userName);
      expect(entries, 'one entry per person, no duplicates').to.equal(60);
    });
  });

  it('is what the registry builds from a target entry', async () => {
    const c = createLdapConnector('dir', {
      connector: 'ldap', concurrency: 4, ratePerSecond: 0,
      url: slapd.url, bindDn: slapd.bindDn, bindPassword: slapd.bindPassword, peopleDn: slapd.peopleDn, groupsDn: slapd.groupsDn,
    });
    try {
      await c.test();
      expect(c.target).to.equal('dir');
    } finally {
      await c.close?.();
    }
  });
});
