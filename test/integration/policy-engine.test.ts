import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Database, type Transaction } from '../../src/db/database.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { createLogger } from '../../src/log/logger.js';
import { PolicyChangeLog, readPolicyState } from '../../src/policy/changes.js';
import { PolicyEngine, type CheckRequest, type CheckResult } from '../../src/policy/engine.js';
import { onEachDatabase } from '../support/databases.js';

/*
 * The decision engine on a real database: answers after grant, role, permission and identity
 * changes are fresh at once on the instance that made them, and within 2 s on a second instance
 * (its own connection and change log) that only learns of them by polling. Catalogue and grant
 * rows are written here with plain SQL plus the PolicyChangeLog calls every writer makes, so
 * the engine is tested against the contract of the tables rather than one writer's code.
 */

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ctx = { actor: 'test:policy-engine' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface RoleRows {
  name: string;
  inherits?: string[];
  entitlements?: string[];
  permissions?: Array<[object: string, action: string]>;
}

/** Creates or replaces a role's rows in one transaction, as a catalogue write does; returns the new policy version. */
function putRole(db: Database, changes: PolicyChangeLog, role: RoleRows): Promise<number> {
  return db.transaction(async (tx) => {
    const now = new Date().toISOString();
    for (const table of ['role_permissions', 'role_entitlements', 'role_inherits']) await tx.execute(`DELETE FROM ${table} WHERE role = ?`, [role.name]);
    const updated = await tx.execute('UPDATE roles SET version = version + 1, last_modified = ? WHERE name = ?', [now, role.name]);
    if (updated === 0) {
      await tx.execute(
        'INSERT INTO roles (name, display_name, description, owner, requestable, max_duration_days, risk, version, created, last_modified) VALUES (?, NULL, NULL, NULL, 0, NULL, ?, 1, ?, ?)',
        [role.name, 'low', now, now],
      );
    }
    for (const [position, parent] of (role.inherits ?? []).entries()) await tx.execute('INSERT INTO role_inherits (role, parent, position) VALUES (?, ?, ?)', [role.name, parent, position]);
    for (const [position, entitlement] of (role.entitlements ?? []).entries()) {
      const [target, key] = entitlement.split('/');
      await tx.execute('INSERT INTO role_entitlements (role, target, ent_key, position) VALUES (?, ?, ?, ?)', [role.name, target, key, position]);
    }
    for (const [position, [object, action]] of (role.permissions ?? []).entries()) {
      await tx.execute('INSERT INTO role_permissions (role, object, action, position) VALUES (?, ?, ?, ?)', [role.name, object, action, position]);
    }
    return changes.catalogChanged(tx);
  });
}

function putEntitlement(db: Database, changes: PolicyChangeLog, target: string, key: string): Promise<number> {
  return db.transaction(async (tx) => {
    const now = new Date().toISOString();
    const [known] = await tx.query('SELECT name FROM targets WHERE name = ?', [target]);
    if (!known) await tx.execute('INSERT INTO targets (name, type, display_name, description, version, created, last_modified) VALUES (?, ?, NULL, NULL, 1, ?, ?)', [target, 'github', now, now]);
    await tx.execute(
      'INSERT INTO entitlements (target, ent_key, kind, display_name, description, requestable, risk, version, created, last_modified) VALUES (?, ?, ?, NULL, NULL, 1, ?, 1, ?, ?)',
      [target, key, 'team', 'low', now, now],
    );
    return changes.catalogChanged(tx);
  });
}

interface GrantWindow {
  from?: Date;
  until?: Date;
}

async function insertGrant(tx: Transaction, identityId: string, item: string, window: GrantWindow = {}): Promise<string> {
  const id = randomUUID();
  await tx.execute(
    `INSERT INTO grants (id, identity_id, item, source, source_ref, granted_by, reason, valid_from, valid_until, created)
     VALUES (?, ?, ?, 'manual', ?, 'test', NULL, ?, ?, ?)`,
    [id, identityId, item, id, window.from?.toISOString() ?? null, window.until?.toISOString() ?? null, new Date().toISOString()],
  );
  return id;
}

/** Grants `item` in one transaction, recording the change as every grant writer does; returns the grant id. */
function grant(db: Database, changes: PolicyChangeLog, identityId: string, item: string, window: GrantWindow = {}): Promise<string> {
  return db.transaction(async (tx) => {
    const id = await insertGrant(tx, identityId, item, window);
    await changes.identitiesChanged(tx, [identityId]);
    return id;
  });
}

function revoke(db: Database, changes: PolicyChangeLog, grantId: string): Promise<void> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ identity_id: string }>('SELECT identity_id FROM grants WHERE id = ?', [grantId]);
    await tx.execute('DELETE FROM grants WHERE id = ?', [grantId]);
    await changes.identitiesChanged(tx, [row!.identity_id]);
  });
}

/** A logger whose lines the test can read. */
function capturedLogger(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger('debug', sink), lines };
}

/** Asks `engine` every 10 ms until `accept` holds; returns the milliseconds it took, or throws after `limitMs`. */
async function timeUntil(engine: PolicyEngine, request: CheckRequest, accept: (result: CheckResult) => boolean, since: number, limitMs = 5000): Promise<number> {
  for (;;) {
    const result = await engine.check(request);
    const elapsed = performance.now() - since;
    if (accept(result)) return elapsed;
    if (elapsed > limitMs) throw new Error(`no fresh answer after ${Math.round(elapsed)} ms: still ${JSON.stringify(result)}`);
    await sleep(10);
  }
}

onEachDatabase('policy engine', (database, kind) => {
  let db: Database;
  let changes: PolicyChangeLog;
  let identities: IdentityService;
  let engine: PolicyEngine;
  let logLines: Array<Record<string, unknown>>;
  let alice: string;
  let bob: string;

  const check = (subject: string, object: string, action: string, time?: Date) =>
    engine.check({ subject, object, action, ...(time && { context: { time: time.toISOString() } }) });
  const newIdentity = async (userName: string, active = true) => (await identities.create({ schemas: [USER], userName, active }, ctx)).id;

  before(async () => {
    db = database().db;
    changes = new PolicyChangeLog();
    identities = new IdentityService(db, changes);
    await putEntitlement(db, changes, 'github', 'platform');
    await putRole(db, changes, { name: 'engineer', entitlements: ['github/platform'], permissions: [['/repos/:repo', 'read']] });
    await putRole(db, changes, { name: 'senior', inherits: ['engineer'], permissions: [['/repos/:repo/merge', 'write']] });
    await putRole(db, changes, { name: 'lead', inherits: ['senior'] });
    await putRole(db, changes, { name: 'auditor', permissions: [['/audit/*', 'read']] });
    alice = await newIdentity('Alice.Example@example.com');
    bob = await newIdentity('bob@example.com');
    await grant(db, changes, alice, 'role:lead');
    const logged = capturedLogger();
    logLines = logged.lines;
    // Polling is off for all practical purposes: freshness on this instance must come from the change log alone.
    engine = await PolicyEngine.start(db, changes, logged.log, { pollIntervalMs: 600_000 });
  });

  after(() => engine?.stop());

  describe('decisions', () => {
    it('starts at the stored policy version and serves its catalogue', async () => {
      expect(engine.version).to.equal((await readPolicyState(db)).version);
      const catalog = await engine.catalog();
      expect([...catalog.roles.keys()].sort()).to.deep.equal(['auditor', 'engineer', 'lead', 'senior']);
      expect(logLines.some((line) => line.msg === 'policy engine reloaded' && typeof line.ms === 'number' && line.identities === 2)).to.equal(true);
    });

    it('names the role path and the rule that allowed, and the policy version', async () => {
      const result = await check(alice, '/repos/iam/merge', 'write');
      expect(result).to.deep.equal({
        allowed: true,
        reason: 'alice.example@example.com -> role:lead -> role:senior: p(role:senior, /repos/:repo/merge, write)',
        rolePath: ['alice.example@example.com', 'role:lead', 'role:senior'],
        rule: ['role:senior', '/repos/:repo/merge', 'write'],
        policyVersion: engine.version,
      });
      expect((await check(alice, 'ent:github/platform', 'hold')).rolePath).to.deep.equal(['alice.example@example.com', 'role:lead', 'role:senior', 'role:engineer', 'ent:github/platform']);
    });

    it('takes the subject as an id or as a userName in any case', async () => {
      for (const subject of [alice, 'alice.example@example.com', 'ALICE.Example@Example.COM']) {
        expect((await check(subject, '/repos/iam', 'read')).allowed, subject).to.equal(true);
      }
    });

    it('denies by default and says why', async () => {
      const denied = await check(alice, '/audit/2026', 'read');
      expect(denied.allowed).to.equal(false);
      expect(denied.reason).to.equal('deny by default: no role of alice.example@example.com (4 roles held or inherited) grants read on /audit/2026');
      expect(denied).not.to.have.property('rule');
      expect((await check(bob, '/repos/iam', 'read')).reason).to.equal('deny by default: bob@example.com holds no role and no rule names it');
    });

    it('denies an unknown subject, naming it', async () => {
      for (const subject of ['nobody@example.com', randomUUID(), 'role:lead', '']) {
        const result = await check(subject, '/repos/iam', 'read');
        expect(result.allowed).to.equal(false);
        expect(result.reason).to.equal(`unknown subject ${JSON.stringify(subject)}: no identity has this id or userName`);
      }
    });

    it('never lets a userName that spells a role act as that role', async () => {
      const impostor = await newIdentity('role:lead');
      expect((await check('role:lead', '/repos/iam/merge', 'write')).allowed).to.equal(false);
      expect((await check(impostor, 'role:lead', 'hold')).allowed).to.equal(false);
      await identities.remove(impostor, ctx);
    });

    it('checkMany answers each request in order on one policy version', async () => {
      const results = await engine.checkMany([
        { subject: alice, object: '/repos/iam', action: 'read' },
        { subject: bob, object: '/repos/iam', action: 'read' },
        { subject: 'nobody', object: '/repos/iam', action: 'read' },
        { subject: 'ALICE.EXAMPLE@EXAMPLE.COM', object: 'role:engineer', action: 'hold' },
      ]);
      expect(results.map((r) => r.allowed)).to.deep.equal([true, false, false, true]);
      expect(new Set(results.map((r) => r.policyVersion))).to.deep.equal(new Set([engine.version]));
    });

    it('refuses a context.time that is not a time', async () => {
      let error: unknown;
      try {
        await engine.checkMany([{ subject: alice, object: '/x', action: 'read' }, { subject: alice, object: '/x', action: 'read', context: { time: 'yesterday' } }]);
      } catch (err) {
        error = err;
      }
      expect(error).to.have.property('kind', 'invalid');
      expect((error as Error).message).to.contain('checks[1].context.time');
    });
  });

  describe('freshness on the instance that made the change', () => {
    it('a grant allows and its revocation denies in the very next decision', async () => {
      expect((await check(bob, '/repos/iam', 'read')).allowed).to.equal(false);
      const id = await grant(db, changes, bob, 'role:engineer');
      expect((await check(bob, '/repos/iam', 'read')).allowed).to.equal(true);
      await revoke(db, changes, id);
      expect((await check(bob, '/repos/iam', 'read')).allowed).to.equal(false);
    });

    it('a permission added to or removed from a role counts in the next decision, with the new version', async () => {
      const version = await putRole(db, changes, { name: 'engineer', entitlements: ['github/platform'], permissions: [['/repos/:repo', 'read'], ['/wiki/*', 'edit']] });
      const allowed = await check(alice, '/wiki/home', 'edit');
      expect(allowed).to.include({ allowed: true, policyVersion: version });
      expect(allowed.rolePath).to.deep.equal(['alice.example@example.com', 'role:lead', 'role:senior', 'role:engineer']);
      expect(engine.version).to.equal(version);
      await putRole(db, changes, { name: 'engineer', entitlements: ['github/platform'], permissions: [['/repos/:repo', 'read']] });
      expect((await check(alice, '/wiki/home', 'edit')).allowed).to.equal(false);
    });

    it('an inheritance removed from a role counts in the next decision', async () => {
      await putRole(db, changes, { name: 'lead' });
      expect((await check(alice, '/repos/iam/merge', 'write')).reason).to.equal('deny by default: no role of alice.example@example.com (1 role held or inherited) grants write on /repos/iam/merge');
      await putRole(db, changes, { name: 'lead', inherits: ['senior'] });
      expect((await check(alice, '/repos/iam/merge', 'write')).allowed).to.equal(true);
    });

    it('deactivation, renaming and deletion of an identity count in the next decision', async () => {
      const carol = await newIdentity('carol@example.com');
      expect((await check('carol@example.com', 'role:auditor', 'hold')).allowed).to.equal(false);
      await grant(db, changes, carol, 'role:auditor');
      expect((await check('carol@example.com', '/audit/x', 'read')).allowed).to.equal(true);

      await identities.update(carol, (doc) => ({ ...doc, active: false }), ctx);
      expect((await check(carol, '/audit/x', 'read')).reason).to.equal('carol@example.com is not active: an inactive identity is denied everything');
      await identities.update(carol, (doc) => ({ ...doc, active: true }), ctx);
      expect((await check(carol, '/audit/x', 'read')).allowed).to.equal(true);

      await identities.update(carol, (doc) => ({ ...doc, userName: 'Carol.New@example.com' }), ctx);
      expect((await check('carol@example.com', '/audit/x', 'read')).reason).to.match(/^unknown subject/);
      expect((await check('carol.new@example.com', '/audit/x', 'read')).rolePath).to.deep.equal(['carol.new@example.com', 'role:auditor']);

      await identities.remove(carol, ctx);
      expect((await check(carol, '/audit/x', 'read')).reason).to.match(/^unknown subject/);
      expect((await check('carol.new@example.com', '/audit/x', 'read')).reason).to.match(/^unknown subject/);
    });

    it('concurrent checks right after a change share one reload and all see the change', async () => {
      const dave = await newIdentity('dave@example.com');
      expect((await check(dave, '/audit/x', 'read')).allowed).to.equal(false);
      const before = logLines.length;
      await grant(db, changes, dave, 'role:auditor');
      const results = await Promise.all(Array.from({ length: 50 }, () => check(dave, '/audit/x', 'read')));
      expect(results.every((r) => r.allowed)).to.equal(true);
      const reloads = logLines.slice(before).filter((line) => typeof line.msg === 'string' && (line.msg as string).startsWith('policy engine reloaded'));
      expect(reloads).to.have.length(1);
    });
  });

  describe('validity windows', () => {
    it('a grant stops allowing the moment it expires, without any change being made', async () => {
      const erin = await newIdentity('erin@example.com');
      const until = new Date(Date.now() + 700);
      await grant(db, changes, erin, 'role:auditor', { until });
      expect((await check(erin, '/audit/x', 'read')).allowed).to.equal(true);
      const before = logLines.length;
      await sleep(until.getTime() - Date.now() + 5);
      expect((await check(erin, '/audit/x', 'read')).allowed).to.equal(false);
      expect(logLines.length, 'no reload was needed').to.equal(before);
    });

    it('a grant that starts later allows only from then on; context.time asks about another instant', async () => {
      const frank = await newIdentity('frank@example.com');
      const from = new Date(Date.now() + 3_600_000);
      const until = new Date(Date.now() + 7_200_000);
      await grant(db, changes, frank, 'role:senior', { from, until });
      await grant(db, changes, frank, 'role:auditor', { until: new Date(Date.now() - 1000) });
      expect((await check(frank, '/repos/iam/merge', 'write')).allowed).to.equal(false);
      expect((await check(frank, '/repos/iam/merge', 'write', from)).allowed, 'valid_from is inclusive').to.equal(true);
      expect((await check(frank, '/repos/iam/merge', 'write', new Date(until.getTime() - 1))).allowed).to.equal(true);
      expect((await check(frank, '/repos/iam/merge', 'write', until)).allowed, 'valid_until is exclusive').to.equal(false);
      expect((await check(frank, '/audit/x', 'read')).allowed, 'expired a second ago').to.equal(false);
      expect((await check(frank, '/audit/x', 'read', new Date(Date.now() - 2000))).allowed).to.equal(true);
      // Asking about another instant does not disturb the answer for now.
      expect((await check(frank, '/repos/iam/merge', 'write')).allowed).to.equal(false);
    });

    it('of two grants of one item, the one still valid keeps allowing', async () => {
      const gina = await newIdentity('gina@example.com');
      await grant(db, changes, gina, 'role:auditor', { until: new Date(Date.now() - 1) });
      await grant(db, changes, gina, 'role:auditor', { from: new Date(Date.now() - 1000) });
      expect((await check(gina, '/audit/x', 'read')).allowed).to.equal(true);
    });
  });

  describe('the identity write path records what decisions depend on', () => {
    const changesOf = async (id: string) => Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE identity_id = ?', [id]))[0]!.n);

    it('records creation, userName and active changes and deletion, and nothing for other attributes', async () => {
      const id = await newIdentity('henry@example.com');
      expect(await changesOf(id)).to.equal(1);
      await identities.update(id, (doc) => ({ ...doc, title: 'Engineer' }), ctx);
      expect(await changesOf(id)).to.equal(1);
      await identities.update(id, (doc) => ({ ...doc, userName: 'henry2@example.com' }), ctx);
      expect(await changesOf(id)).to.equal(2);
      await identities.update(id, (doc) => ({ ...doc, active: false }), ctx);
      expect(await changesOf(id)).to.equal(3);
      await identities.remove(id, ctx);
      expect(await changesOf(id)).to.equal(4);
    });
  });

  describe('a second instance on the same database', () => {
    let second: Database;
    let other: PolicyEngine;
    let otherLog: Array<Record<string, unknown>>;

    before(async () => {
      second = await Database.connect(database().url);
      const logged = capturedLogger();
      otherLog = logged.lines;
      // Its own change log: it hears nothing from this instance's writes and must poll, at the default interval.
      other = await PolicyEngine.start(second, new PolicyChangeLog(), logged.log, { pollIntervalMs: 1000 });
    });

    after(async () => {
      await other?.stop();
      await second?.close();
    });

    it('sees a grant and its revocation within 2 s', async () => {
      const ivan = await newIdentity('ivan@example.com');
      const request = { subject: 'ivan@example.com', object: '/repos/iam', action: 'read' };
      await timeUntil(other, request, (r) => !r.reason.startsWith('unknown subject'), performance.now());
      expect((await other.check(request)).allowed).to.equal(false);

      let started = performance.now();
      const id = await grant(db, changes, ivan, 'role:engineer');
      expect((await engine.check(request)).allowed).to.equal(true);
      const granted = await timeUntil(other, request, (r) => r.allowed, started);
      expect(granted).to.be.below(2000);

      started = performance.now();
      await revoke(db, changes, id);
      const revoked = await timeUntil(other, request, (r) => !r.allowed, started);
      expect(revoked).to.be.below(2000);
    });

    it('sees a role change within 2 s, at the new policy version', async () => {
      const request = { subject: alice, object: '/deploy/prod', action: 'run' };
      expect((await other.check(request)).allowed).to.equal(false);
      const started = performance.now();
      const version = await putRole(db, changes, { name: 'senior', inherits: ['engineer'], permissions: [['/repos/:repo/merge', 'write'], ['/deploy/*', 'run']] });
      const elapsed = await timeUntil(other, request, (r) => r.allowed, started);
      expect(elapsed).to.be.below(2000);
      expect((await other.check(request)).policyVersion).to.equal(version);
      expect(other.version).to.equal(version);
      expect(otherLog.some((line) => line.msg === 'policy engine reloaded' && line.policyVersion === version)).to.equal(true);
    });

    it('sees a deactivation made through the identity service within 2 s', async () => {
      const judy = await newIdentity('judy@example.com');
      await grant(db, changes, judy, 'role:auditor');
      const request = { subject: judy, object: '/audit/x', action: 'read' };
      await timeUntil(other, request, (r) => r.allowed, performance.now());
      const started = performance.now();
      await identities.update(judy, (doc) => ({ ...doc, active: false }), ctx);
      expect(await timeUntil(other, request, (r) => r.reason.endsWith('is not active: an inactive identity is denied everything'), started)).to.be.below(2000);
    });

    it('sees a bulk grant change (grants epoch) within 2 s', async () => {
      const kim = await newIdentity('kim@example.com');
      const request = { subject: kim, object: '/audit/x', action: 'read' };
      await timeUntil(other, request, (r) => !r.reason.startsWith('unknown subject'), performance.now());
      const started = performance.now();
      // A bulk writer records one epoch instead of a row per identity.
      await db.transaction(async (tx) => {
        await insertGrant(tx, kim, 'role:auditor');
        await changes.allGrantsChanged(tx);
      });
      expect((await engine.check(request)).allowed).to.equal(true);
      expect(await timeUntil(other, request, (r) => r.allowed, started)).to.be.below(2000);
    });

    // Only where writers run concurrently: SQLite runs one writer at a time, so there seq order is commit order.
    if (kind === 'mariadb') it('does not miss a change whose lower seq commits after a higher one', async () => {
      const [early, late] = [await newIdentity('early@example.com'), await newIdentity('late@example.com')];
      for (const id of [early, late]) await timeUntil(other, { subject: id, object: '/x', action: 'y' }, (r) => !r.reason.startsWith('unknown subject'), performance.now());
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let inserted!: () => void;
      const seqTaken = new Promise<void>((resolve) => (inserted = resolve));
      const slow = db.transaction(async (tx) => {
        await insertGrant(tx, early, 'role:auditor');
        await changes.identitiesChanged(tx, [early]);
        inserted();
        await held;
      });
      await seqTaken;
      // A later change, with a higher seq, commits first and is seen.
      await grant(db, changes, late, 'role:auditor');
      await timeUntil(other, { subject: late, object: '/audit/x', action: 'read' }, (r) => r.allowed, performance.now());
      const seqs = await db.query<{ seq: number; identity_id: string }>('SELECT seq, identity_id FROM access_changes WHERE identity_id IN (?, ?) ORDER BY seq DESC', [early, late]);
      expect(Number(seqs.find((r) => r.identity_id === early)!.seq)).to.be.below(Number(seqs.find((r) => r.identity_id === late)!.seq));
      const started = performance.now();
      release();
      await slow;
      expect(await timeUntil(other, { subject: early, object: '/audit/x', action: 'read' }, (r) => r.allowed, started)).to.be.below(2000);
    });

    it('keeps answering when a poll fails, logs it, and catches up once the database answers again', async () => {
      const before = otherLog.length;
      await db.execute('ALTER TABLE access_changes RENAME TO access_changes_away');
      try {
        const started = performance.now();
        while (!otherLog.slice(before).some((line) => line.msg === 'policy engine could not poll for changes; retrying at the next interval')) {
          if (performance.now() - started > 5000) throw new Error('no poll failure was logged');
          await sleep(20);
        }
        expect((await other.check({ subject: alice, object: '/repos/iam', action: 'read' })).allowed).to.equal(true);
      } finally {
        await db.execute('ALTER TABLE access_changes_away RENAME TO access_changes');
      }
      const lena = await newIdentity('lena@example.com');
      const started = performance.now();
      await grant(db, changes, lena, 'role:auditor');
      expect(await timeUntil(other, { subject: lena, object: '/audit/x', action: 'read' }, (r) => r.allowed, started)).to.be.below(2500);
    });

    it('sweeps access changes older than an hour, and keeps recent ones', async () => {
      const old = Date.now() - 2 * 3_600_000;
      await db.execute('INSERT INTO access_changes (identity_id, created_ms) VALUES (?, ?)', [randomUUID(), old]);
      const recent = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE created_ms >= ?', [Date.now() - 3_600_000]);
      const sweeper = await PolicyEngine.start(second, new PolicyChangeLog(), capturedLogger().log, { pollIntervalMs: 50 });
      try {
        const started = performance.now();
        while (Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE created_ms = ?', [old]))[0]!.n) > 0) {
          if (performance.now() - started > 3000) throw new Error('the old row was not swept');
          await sleep(20);
        }
      } finally {
        await sweeper.stop();
      }
      const left = await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_changes WHERE created_ms >= ?', [Date.now() - 3_600_000]);
      expect(Number(left[0]!.n)).to.be.at.least(Number(recent[0]!.n));
    });
  });

  describe('stopping', () => {
    it('refuses checks once stopped, since nothing keeps it fresh any more', async () => {
      const stopped = await PolicyEngine.start(db, changes, capturedLogger().log, { pollIntervalMs: 600_000 });
      expect((await stopped.check({ subject: alice, object: '/repos/iam', action: 'read' })).allowed).to.equal(true);
      await stopped.stop();
      let error: unknown;
      await stopped.check({ subject: alice, object: '/repos/iam', action: 'read' }).catch((err: unknown) => (error = err));
      expect((error as Error).message).to.equal('the policy engine is stopped');
    });
  });
});
