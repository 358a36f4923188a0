import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordAudit } from '../../src/audit/recorder.js';
import { auditReportJob } from '../../src/audit/report-job.js';
import { manifestBytes, signManifest, type ExportManifest } from '../../src/audit/manifest.js';
import { writeSignedExport, type SignedExport } from '../../src/audit/signed-export.js';
import { UntrustedKeyError, verifyExport, type ExportVerification } from '../../src/audit/verify-export.js';
import { configWith } from '../../src/config/index.js';
import { GENESIS_HASH } from '../../src/audit/hash.js';
import { IdentityService } from '../../src/identity/identity-service.js';
import { exportSigningKeys } from '../../src/auth/server-keys.js';
import { BirthrightService } from '../../src/policy/birthright.js';
import { PolicyChangeLog } from '../../src/policy/changes.js';
import { GrantService } from '../../src/policy/grants.js';
import { SodService } from '../../src/policy/sod.js';
import { PolicyStore } from '../../src/policy/store.js';
import { onEachDatabase } from '../support/databases.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ctx = { actor: 'test:export' };
const FILES = ['access-report.csv', 'audit-events.csv', 'sod-violations.csv'];

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const problemsOf = (report: ExportVerification) => report.problems.map((p) => `${p.file}: ${p.reason}`);

/** An attacker's key pair: not the server's. */
const forger = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

/** Rewrites a manifest (after `change`) and signs it with `privateKey`, as someone covering their tracks would. */
function resign(dir: string, privateKey: string, publicKey: string, change: (m: ExportManifest) => void): void {
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
  change(manifest);
  manifest.publicKey = publicKey;
  const bytes = manifestBytes(manifest);
  writeFileSync(join(dir, 'manifest.json'), bytes);
  writeFileSync(join(dir, 'manifest.sig'), signManifest(bytes, privateKey));
}

/** Lists `file` in the manifest with its current size and hash. */
const relist = (dir: string, file: string) => (m: ExportManifest) => {
  const entry = m.files.find((f) => f.name === file)!;
  entry.bytes = statSync(join(dir, file)).size;
  entry.sha256 = sha256(join(dir, file));
};

onEachDatabase('signed audit exports', (database) => {
  const root = mkdtempSync(join(tmpdir(), 'iam-signed-export-'));
  let serverKey: string;
  let good: SignedExport;
  let copies = 0;

  /** A copy of the good export to tamper with. */
  const copy = () => {
    const dir = join(root, `copy-${++copies}`);
    cpSync(good.dir, dir, { recursive: true });
    return dir;
  };
  const verifyWithServerKey = (dir: string) => verifyExport(dir, { publicKey: serverKey });

  before(async function () {
    this.timeout(30_000);
    const { db } = database();
    const changes = new PolicyChangeLog();
    const birthright = new BirthrightService(db, changes);
    await new PolicyStore(db, changes, birthright).replaceAll({
      targets: [{ name: 'ldap', type: 'ldap' }],
      entitlements: [{ target: 'ldap', key: 'staff', kind: 'group' }],
      roles: [{ name: 'employee', entitlements: ['ldap/staff'] }],
      birthrightRules: [],
      sodRules: [],
    }, ctx);
    const identities = new IdentityService(db, changes);
    const grants = new GrantService(db, changes, birthright, new SodService(db));
    for (const name of ['ada', 'grace', '=cmd']) {
      const who = await identities.create({ schemas: [USER], userName: `${name}@example.com`, displayName: `${name}, "quoted"\nand on two lines` }, ctx);
      await grants.grant({ identity: who.id, item: 'role:employee' }, ctx);
    }
    // Values that test the CSV: empty strings next to nulls, formulas, line breaks.
    await db.transaction((tx) => recordAudit(tx, [
      { actor: 'test:export', action: 'note.add', targetType: 'note', targetId: '', requestId: null, details: { text: 'line\nbreak, "quoted"' } },
      { actor: '=1+1', action: 'note.add', targetType: 'note', targetId: null, requestId: '', details: {} },
    ]));
    serverKey = (await exportSigningKeys(db)).publicKey;
    good = await writeSignedExport(db, join(root, 'good'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  describe('writing', () => {
    it('writes the events, the reports, the manifest and its signature', async () => {
      const { db } = database();
      expect(readdirSync(good.dir).sort()).to.deep.equal([...FILES, 'manifest.json', 'manifest.sig'].sort());
      const manifest = JSON.parse(readFileSync(join(good.dir, 'manifest.json'), 'utf8')) as ExportManifest;
      expect(manifest).to.deep.equal(good.manifest);
      expect(manifest.server).to.equal('iam');
      expect(manifest.range).to.deep.equal({ since: null, until: null });
      expect(manifest.publicKey).to.equal(serverKey);
      expect(manifest.files.map((f) => f.name)).to.deep.equal(['audit-events.csv', 'access-report.csv', 'sod-violations.csv']);
      for (const file of manifest.files) {
        expect(file.sha256, file.name).to.equal(sha256(join(good.dir, file.name)));
        expect(file.bytes, file.name).to.equal(statSync(join(good.dir, file.name)).size);
      }
      const [last] = await db.query<{ id: number | string; hash: string }>('SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1');
      const [head] = await db.query<{ last_hash: string }>('SELECT last_hash FROM audit_head');
      expect(manifest.auditChainHead).to.deep.equal({ lastId: Number(last!.id), hash: last!.hash, headHash: head!.last_hash });
      expect(last!.hash).to.equal(head!.last_hash);
      const [{ n }] = await db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM audit_events');
      expect(good.events).to.equal(Number(n));
      expect(readFileSync(join(good.dir, 'access-report.csv'), 'utf8')).to.include(`'=cmd@example.com`);
    });

    it('signs manifest.json with Ed25519 so that openssl can check it too', () => {
      const key = join(root, 'server-key.pem');
      writeFileSync(key, serverKey);
      const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', key, '-rawin', '-in', join(good.dir, 'manifest.json'), '-sigfile', join(good.dir, 'manifest.sig')], { encoding: 'utf8' });
      expect(out).to.include('Signature Verified Successfully');
      expect(statSync(join(good.dir, 'manifest.sig')).size).to.equal(64);
    });

    it('refuses a folder that already holds files', async () => {
      let error: Error | undefined;
      await writeSignedExport(database().db, good.dir).catch((err: Error) => (error = err));
      expect(error?.message).to.equal(`${good.dir} is not empty: a signed export is written into a folder of its own`);
    });

    it('bounds the events in time, and writes JSON lines when asked', async () => {
      const { db } = database();
      // Events written in one millisecond share their time: make sure the trail spans a few distinct ones.
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 3));
        await db.transaction((tx) => recordAudit(tx, { actor: 'test:setup', action: 'test.spacer', targetType: 'test', targetId: String(i) }));
      }
      const rows = await db.query<{ id: number | string; occurred_at: string; prev_hash: string }>('SELECT id, occurred_at, prev_hash FROM audit_events ORDER BY id');
      const times = [...new Set(rows.map((r) => r.occurred_at))].sort();
      // From the second distinct time (so the first exported event links to one outside the file) to the last (exclusive).
      const since = times[1]!;
      const until = times.at(-1)!;
      const bounded = await writeSignedExport(db, join(root, 'bounded'), { since, until }, { format: 'jsonl' });
      const expected = rows.filter((r) => r.occurred_at >= since && r.occurred_at < until);
      expect(bounded.events).to.equal(expected.length);
      expect(bounded.manifest.range).to.deep.equal({ since, until });
      expect(bounded.manifest.files[0]!.name).to.equal('audit-events.jsonl');
      expect(bounded.manifest.auditChainHead.lastId).to.equal(Number(expected.at(-1)!.id));
      const lines = readFileSync(join(bounded.dir, 'audit-events.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.id)).to.deep.equal(expected.map((r) => Number(r.id)));
      // The first event links to one outside the file: fine when the export has a start time.
      expect(lines[0].prev_hash).to.not.equal(GENESIS_HASH);
      const report = await verifyWithServerKey(bounded.dir);
      expect(problemsOf(report)).to.deep.equal([]);
      expect(report.events).to.equal(expected.length);
    });

    it('stops at the chain head it read first while events keep being written', async function () {
      this.timeout(30_000);
      const { db } = database();
      let writing = true;
      const writer = (async () => {
        // Bounded, so a failing export cannot leave it writing for the rest of the suite.
        for (let i = 0; (writing || i < 5) && i < 2_000; i++) {
          await db.transaction((tx) => recordAudit(tx, { actor: 'test:busy', action: 'note.add', targetType: 'note', targetId: String(i), details: { i } }));
          // As requests do: each write comes from an event of its own. (SQLite transactions resolve
          // in microtasks only, so a tight loop would starve the export's file I/O.)
          await new Promise((r) => setImmediate(r));
        }
      })();
      await new Promise((r) => setTimeout(r, 20));
      let during: SignedExport;
      try {
        during = await writeSignedExport(db, join(root, 'during'));
      } finally {
        writing = false;
        await writer;
      }
      expect(problemsOf(await verifyWithServerKey(during.dir))).to.deep.equal([]);
      const [{ m }] = await db.query<{ m: number | string }>('SELECT MAX(id) AS m FROM audit_events');
      expect(during.manifest.auditChainHead.lastId).to.be.below(Number(m));
    });

    it('exports a trail that was tampered with in the database as it is, and the check names the edited event', async () => {
      const { db } = database();
      const [victim] = await db.query<{ id: number | string }>("SELECT id FROM audit_events WHERE action = 'grant.create' ORDER BY id LIMIT 1");
      const [before] = await db.query<{ actor: string }>('SELECT actor FROM audit_events WHERE id = ?', [victim!.id]);
      await db.execute('UPDATE audit_events SET actor = ? WHERE id = ?', ['someone-else', victim!.id]);
      try {
        const tampered = await writeSignedExport(db, join(root, 'db-tampered'));
        const report = await verifyWithServerKey(tampered.dir);
        const ids = (await db.query<{ id: number | string }>('SELECT id FROM audit_events WHERE id <= ? ORDER BY id', [tampered.manifest.auditChainHead.lastId])).map((r) => Number(r.id));
        const position = ids.indexOf(Number(victim!.id)) + 1;
        expect(problemsOf(report)).to.deep.equal([`audit-events.csv: event ${Number(victim!.id)} (number ${position} in the file): its content does not match its hash (the event was edited)`]);
      } finally {
        await db.execute('UPDATE audit_events SET actor = ? WHERE id = ?', [before!.actor, victim!.id]);
      }
    });
  });

  describe('verifying', () => {
    it('finds an untouched export intact, with the server\'s key', async () => {
      const report = await verifyWithServerKey(good.dir);
      expect(problemsOf(report)).to.deep.equal([]);
      expect(report).to.include({ ok: true, keySource: 'given', events: good.events });
    });

    it('refuses to trust the key inside the manifest unless told to', async () => {
      let error: unknown;
      await verifyExport(good.dir).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(UntrustedKeyError);
      expect((error as Error).message).to.include('the key inside the manifest alone proves nothing');
      const embedded = await verifyExport(good.dir, { trustEmbeddedKey: true });
      expect(embedded).to.include({ ok: true, keySource: 'embedded' });
    });

    it('names a report edited by one byte', async () => {
      const dir = copy();
      const file = join(dir, 'access-report.csv');
      const bytes = readFileSync(file);
      bytes[bytes.length - 2] = bytes[bytes.length - 2] === 0x41 ? 0x42 : 0x41;
      writeFileSync(file, bytes);
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal(['access-report.csv: its SHA-256 does not match the manifest (the file was changed)']);
    });

    it('names an event edited in the events file: the hash of the file, and the chain inside it', async () => {
      const dir = copy();
      const file = join(dir, 'audit-events.csv');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.replace('grant.create', 'grant.cre8te'));
      const problems = problemsOf(await verifyWithServerKey(dir));
      expect(problems).to.have.length(2);
      expect(problems[0]).to.equal('audit-events.csv: its SHA-256 does not match the manifest (the file was changed)');
      expect(problems[1]).to.match(/^audit-events\.csv: event \d+ \(number \d+ in the file\): its content does not match its hash \(the event was edited\)$/);
    });

    it('names a deleted file and an added one', async () => {
      const dir = copy();
      rmSync(join(dir, 'sod-violations.csv'));
      writeFileSync(join(dir, 'notes.txt'), 'nothing to see');
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal([
        'notes.txt: not listed in the manifest (added after signing)',
        'sod-violations.csv: missing (listed in the manifest)',
      ]);
      const noSignature = copy();
      rmSync(join(noSignature, 'manifest.sig'));
      expect(problemsOf(await verifyWithServerKey(noSignature))).to.deep.equal(['manifest.sig: missing: the manifest is not signed']);
      const noManifest = copy();
      rmSync(join(noManifest, 'manifest.json'));
      expect(problemsOf(await verifyWithServerKey(noManifest))).to.deep.equal(['manifest.json: missing']);
    });

    it('names a manifest changed after signing', async () => {
      const dir = copy();
      const path = join(dir, 'manifest.json');
      writeFileSync(path, readFileSync(path, 'utf8').replace('"until": null', '"until": "2000-01-01T00:00:00.000Z"'));
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal([
        'manifest.sig: the signature does not match manifest.json (the manifest was changed after signing, or signed with another key)',
      ]);
    });

    it('names a forged manifest signed with another key, which only the embedded key would have accepted', async () => {
      const dir = copy();
      const file = join(dir, 'access-report.csv');
      writeFileSync(file, readFileSync(file, 'utf8').replace('ada@example.com', 'eve@example.com'));
      resign(dir, forger.privateKey, forger.publicKey, relist(dir, 'access-report.csv'));
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal([
        'manifest.sig: the manifest is signed by another key than the trusted one (the key inside it): it was not written by this server',
      ]);
      // Why the embedded key is not trusted by default: the forgery is consistent with it.
      expect(await verifyExport(dir, { trustEmbeddedKey: true })).to.include({ ok: true });
    });

    it('names an events file cut short, even when the forger relisted it', async () => {
      const dir = copy();
      const file = join(dir, 'audit-events.csv');
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      // The last event (written by recordAudit in the setup) has no line break inside it.
      truncateSync(file, Buffer.byteLength(`${lines.slice(0, -1).join('\n')}\n`));
      const lastId = good.manifest.auditChainHead.lastId!;
      const endsShort = `audit-events.csv: ends at event ${lastId - 1}, but the manifest's chain head is event ${lastId} (events were removed from or added to the end)`;
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal([
        `audit-events.csv: ${statSync(file).size} bytes, the manifest says ${good.manifest.files[0]!.bytes} (the file was changed)`,
        endsShort,
      ]);
      resign(dir, forger.privateKey, forger.publicKey, relist(dir, 'audit-events.csv'));
      expect(problemsOf(await verifyExport(dir, { trustEmbeddedKey: true }))).to.deep.equal([endsShort]);
    });

    it('names events removed from the start of an export that claims the whole trail', async () => {
      const dir = copy();
      const file = join(dir, 'audit-events.csv');
      const [header, , ...rest] = readFileSync(file, 'utf8').split('\n');
      writeFileSync(file, [header, ...rest].join('\n'));
      resign(dir, forger.privateKey, forger.publicKey, relist(dir, 'audit-events.csv'));
      const second = rest[0]!.split(',')[0];
      expect(problemsOf(await verifyExport(dir, { trustEmbeddedKey: true }))).to.deep.equal([
        `audit-events.csv: event ${second} (number 1 in the file): the export has no start time, yet its first event does not start the chain (events before it are missing)`,
      ]);
    });
  });

  describe('the scheduled report', () => {
    it('writes a signed export into a folder of its own and queues one mail per recipient with the reports attached', async () => {
      const { db } = database();
      const folder = join(root, 'scheduled');
      const config = configWith({ audit: { reportFolder: folder, reportRecipients: ['audit@example.com', 'ciso@example.com'] } });
      const at = new Date('2031-02-03T04:05:06.789Z');
      const outcome = await auditReportJob({ db, config, clock: () => at });
      const dir = join(folder, '2031-02-03T04-05-06.789Z');
      expect(outcome).to.include({ folder: dir, mailed: 2 });
      expect(problemsOf(await verifyWithServerKey(dir))).to.deep.equal([]);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ExportManifest;
      expect(manifest.created).to.equal(at.toISOString());
      expect(manifest.range).to.deep.equal({ since: null, until: at.toISOString() });
      expect(outcome.lastId).to.equal(manifest.auditChainHead.lastId);

      const mails = await db.query<{ recipient_id: string | null; address: string; kind: string; subject: string; body_text: string; attachments: string; dedupe_key: string }>(
        "SELECT recipient_id, address, kind, subject, body_text, attachments, dedupe_key FROM mail_outbox WHERE kind = 'audit.report' ORDER BY address");
      expect(mails.map((m) => [m.recipient_id, m.address, m.subject])).to.deep.equal([
        [null, 'audit@example.com', 'Audit report 2031-02-03'], [null, 'ciso@example.com', 'Audit report 2031-02-03'],
      ]);
      const attachments = JSON.parse(mails[0]!.attachments) as Array<{ filename: string; path: string }>;
      expect(attachments.map((a) => a.filename)).to.deep.equal(['manifest.json', 'manifest.sig', 'access-report.csv', 'sod-violations.csv']);
      for (const a of attachments) expect(existsSync(a.path), a.path).to.equal(true);
      expect(mails[0]!.body_text).to.include(dir).and.include(`iam audit verify-export ${dir}`);

      const [event] = await db.query<{ actor: string; target_id: string; details: string }>("SELECT actor, target_id, details FROM audit_events WHERE action = 'audit.report'");
      expect(event).to.include({ actor: 'system:audit-report', target_id: '2031-02-03T04-05-06.789Z' });
      expect(JSON.parse(event!.details)).to.include({ folder: dir, events: outcome.events, recipients: 2 });

      // The same slot again (a retry) finds its folder taken and queues nothing more.
      let error: Error | undefined;
      await auditReportJob({ db, config, clock: () => at }).catch((err: Error) => (error = err));
      expect(error?.message).to.include('is not empty');
      const [{ n }] = await db.query<{ n: number | string }>("SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'audit.report'");
      expect(Number(n)).to.equal(2);
    });

    it('refuses to run without a folder', async () => {
      let error: Error | undefined;
      await auditReportJob({ db: database().db, config: configWith({}), clock: () => new Date() }).catch((err: Error) => (error = err));
      expect(error?.message).to.equal('audit.reportFolder is not set: the audit report has nowhere to go');
    });
  });
});
