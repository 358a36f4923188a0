import { expect } from 'chai';
import { configWith } from '../../../src/config/index.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryConnector } from '../../../connectors/memory/index.js';
import type { AccountRef } from '../../../src/provisioning/connector.js';
import { ConnectorConfigError, ConnectorRegistry } from '../../../src/provisioning/registry.js';
import { connectorFailure } from '../../support/connector-assertions.js';

const ref: AccountRef = { accountId: 'acc-1', identityId: 'id-1', target: 'mem', accountKey: null };
const attributes = { userName: 'ada@example.com', extra: {} };

const failure = connectorFailure;

describe('the memory connector', () => {
  it('applies an idempotency key once and answers a repeat from memory', async () => {
    const m = new MemoryConnector('mem');
    const first = await m.execute(ref, { op: 'create', attributes, enabled: true, memberships: ['a'] }, 'k1');
    await m.execute(ref, { op: 'add-membership', entitlement: 'b' }, 'k2');
    await m.execute(ref, { op: 'remove-membership', entitlement: 'b' }, 'k3');
    // k2 again must not add b back: the key was applied already.
    await m.execute(ref, { op: 'add-membership', entitlement: 'b' }, 'k2');
    expect(await m.execute(ref, { op: 'create', attributes, enabled: true, memberships: ['a'] }, 'k1')).to.deep.equal(first);
    expect([...m.accounts.get('acc-1')!.memberships]).to.deep.equal(['a']);
    expect(m.replayed).to.equal(2);
    expect(m.calls).to.equal(5);
  });

  it('treats "already there" and "already gone" as success, and a missing account as a permanent failure', async () => {
    const m = new MemoryConnector('mem');
    await m.execute(ref, { op: 'disable' }, 'd0');
    await m.execute(ref, { op: 'remove-membership', entitlement: 'x' }, 'r0');
    await m.execute(ref, { op: 'delete' }, 'x0');
    expect((await failure(m.execute(ref, { op: 'enable' }, 'e0'))).retryable).to.equal(false);
    const { accountKey } = await m.execute(ref, { op: 'create', attributes, enabled: false, memberships: [] }, 'c1');
    // A second create under another key finds the account there: success with the same key.
    expect(await m.execute(ref, { op: 'create', attributes, enabled: true, memberships: [] }, 'c2')).to.deep.equal({ accountKey });
    await m.execute(ref, { op: 'add-membership', entitlement: 'x' }, 'a1');
    await m.execute(ref, { op: 'add-membership', entitlement: 'x' }, 'a2');
    expect([...m.accounts.get('acc-1')!.memberships]).to.deep.equal(['x']);
    expect(m.accounts.get('acc-1')!.enabled).to.equal(false);
  });

  it('injects failures, retryable or not, with Retry-After, before changing anything', async () => {
    const m = new MemoryConnector('mem');
    m.failNext({ times: 2, retryAfterMs: 1500, message: '429 slow down', op: 'create' });
    const create = { op: 'create' as const, attributes, enabled: true, memberships: [] };
    const e = await failure(m.execute(ref, create, 'c'));
    expect([e.message, e.retryable, e.retryAfterMs]).to.deep.equal(['429 slow down', true, 1500]);
    await failure(m.execute(ref, create, 'c'));
    expect(m.accounts.size).to.equal(0);
    await m.execute(ref, create, 'c');
    expect(m.accounts.size).to.equal(1);
    m.failNext({ times: 1, retryable: false });
    expect((await failure(m.execute(ref, { op: 'disable' }, 'd'))).retryable).to.equal(false);
  });

  it('keeps a journal that a new instance replays, so a key applied before a crash is not applied again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iam-memory-'));
    try {
      const stateFile = join(dir, 'journal.jsonl');
      const before = new MemoryConnector('mem', { stateFile });
      const { accountKey } = await before.execute(ref, { op: 'create', attributes, enabled: true, memberships: ['a'] }, 'k1');
      await before.execute(ref, { op: 'add-membership', entitlement: 'b' }, 'k2');
      const after = new MemoryConnector('mem', { stateFile });
      expect(after.accounts.get('acc-1')?.accountKey).to.equal(accountKey);
      expect([...after.accounts.get('acc-1')!.memberships].sort()).to.deep.equal(['a', 'b']);
      await after.execute(ref, { op: 'add-membership', entitlement: 'b' }, 'k2');
      expect(after.replayed).to.equal(1);
      expect(readFileSync(stateFile, 'utf8').trim().split('\n')).to.have.length(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is built by the registry from config.targets, which refuses an unknown connector', () => {
    const registry = ConnectorRegistry.fromConfig(configWith({ targets: {
      ldap: { connector: 'memory', concurrency: 2, ratePerSecond: 5, reconcile: { fixOrphans: false } },
      slack: { connector: 'noop' },
    } }).targets);
    expect(registry.targets()).to.deep.equal(['ldap', 'slack']);
    expect(registry.get('ldap')!.connector).to.be.instanceOf(MemoryConnector);
    expect(registry.get('ldap')).to.deep.include({ concurrency: 2, ratePerSecond: 5, reconcile: { fixOrphans: false, ignore: [] } });
    expect(registry.get('slack')).to.deep.include({ concurrency: 4, ratePerSecond: 0 });
    expect(registry.get('github')).to.equal(undefined);
    expect(() => ConnectorRegistry.fromConfig(configWith({ targets: { gl: { connector: 'gitlab' } } }).targets))
      .to.throw(ConnectorConfigError, /target gl names connector "gitlab", which does not exist \(known: github, ldap, memory, noop, slack\)/);
  });
});
