import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { configWith, type Config } from '../../src/config/index.js';
import { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/log/logger.js';
import { BASE_URL_PLACEHOLDER } from '../../src/notify/links.js';
import { queueMail, type QueuedMail } from '../../src/notify/mail-queue.js';
import { Mailer } from '../../src/notify/mailer.js';
import { onEachDatabase } from '../support/databases.js';
import { startTestSmtp, type TestSmtp } from '../support/smtp.js';
import { TestClock } from '../support/clock.js';

const HOUR = 3_600_000;

interface MailRow { id: number | string; attempts: number | string; next_attempt_at: string; sent_at: string | null; last_error: string | null }

const mail = (n: string, extra: Partial<QueuedMail> = {}): QueuedMail => ({
  recipientId: null, address: `person-${n}@example.com`, kind: 'request.awaiting', subject: `Mail ${n}`, text: `Hello ${n}`, ...extra,
});

onEachDatabase('mailer', (database, kind) => {
  let db: Database;
  let smtp: TestSmtp;
  let logLines: string[];
  let clock: TestClock;
  const mailers: Mailer[] = [];

  const logger = () => createLogger('debug', new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  }));
  const mailer = (overrides: Partial<Config['mail']> = {}, registry?: Registry, on: Database = db) => {
    const m = new Mailer(on, configWith({ mail: smtp.mailConfig(overrides) }).mail, logger(), clock.now, registry);
    m.baseUrl = 'https://iam.example.com';
    mailers.push(m);
    return m;
  };
  const queue = (mails: QueuedMail | QueuedMail[]) => db.transaction((tx) => queueMail(tx, mails, clock.now()));
  const rows = () => db.query<MailRow>('SELECT id, attempts, next_attempt_at, sent_at, last_error FROM mail_outbox ORDER BY id');

  before(async () => {
    db = database().db;
    smtp = await startTestSmtp();
  });
  after(() => smtp.close());
  beforeEach(async () => {
    // Each test owns the queue: rows another test left unsent would be due for this one's mailer.
    await db.execute('DELETE FROM mail_outbox');
    smtp.reset();
    logLines = [];
    clock = new TestClock(Date.parse('2030-03-01T09:00:00.000Z'));
  });
  afterEach(async () => {
    await Promise.all(mailers.splice(0).map((m) => m.close()));
  });

  it('sends due mail with the server URL in place of the placeholder, and marks it sent', async () => {
    await queue(mail('1', {
      subject: 'Zoë, 3 approvals wait for you',
      text: `Open ${BASE_URL_PLACEHOLDER}/m/abc to decide.\nAgain: ${BASE_URL_PLACEHOLDER}/m/abc`,
      html: `<p><a href="${BASE_URL_PLACEHOLDER}/m/abc">Decide</a></p>`,
    }));
    expect(await mailer().sendDue()).to.deep.equal({ sent: 1, failed: 0 });
    const [sent] = smtp.mails;
    expect(sent!.to).to.deep.equal(['person-1@example.com']);
    expect(sent!.from).to.equal('iam@example.com');
    expect(sent!.subject).to.equal('Zoë, 3 approvals wait for you');
    expect(sent!.text).to.include('Open https://iam.example.com/m/abc to decide.\nAgain: https://iam.example.com/m/abc');
    expect(sent!.html).to.include('<a href="https://iam.example.com/m/abc">');
    expect(sent!.raw).not.to.include(BASE_URL_PLACEHOLDER);
    const [row] = await rows();
    expect(row!.sent_at).to.equal(clock.now().toISOString());
    expect(Number(row!.attempts)).to.equal(1);
    // Sent once: a second run finds nothing due.
    expect(await mailer().sendDue()).to.deep.equal({ sent: 0, failed: 0 });
    expect(smtp.mails).to.have.length(1);
  });

  it('retries a refused mail after a backoff and sends it once the server accepts', async () => {
    await queue(mail('2'));
    const m = mailer();
    smtp.refuse(1);
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 1 });
    let [row] = await rows();
    expect(Number(row!.attempts)).to.equal(1);
    expect(row!.sent_at).to.equal(null);
    expect(row!.last_error).to.match(/451/).and.include('relay is busy');
    // Not retried at once: the next attempt waits at least half a minute.
    expect(Date.parse(row!.next_attempt_at) - clock.now().getTime()).to.be.at.least(30_000);
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 0 });
    expect(smtp.offered).to.equal(1);
    clock.advance(2 * HOUR);
    expect(await m.sendDue()).to.deep.equal({ sent: 1, failed: 0 });
    [row] = await rows();
    expect(Number(row!.attempts)).to.equal(2);
    expect(row!.sent_at).to.equal(clock.now().toISOString());
    expect(row!.last_error).to.equal(null);
    expect(smtp.mails.map((x) => x.subject)).to.deep.equal(['Mail 2']);
    expect(logLines.some((l) => l.includes('"level":"warn"') && l.includes('will be tried again'))).to.equal(true);
  });

  it('gives a mail up after maxAttempts, keeping its last error', async () => {
    await queue(mail('3'));
    const m = mailer({ maxAttempts: 2 });
    smtp.refuse(10);
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 1 });
    clock.advance(2 * HOUR);
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 1 });
    clock.advance(2 * HOUR);
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 0 });
    const [row] = await rows();
    expect(Number(row!.attempts)).to.equal(2);
    expect(row!.sent_at).to.equal(null);
    expect(row!.last_error).to.include('451');
    expect(smtp.offered).to.equal(2);
    expect(logLines.some((l) => l.includes('"level":"error"') && l.includes('given up'))).to.equal(true);
  });

  it('keeps mail queued when no SMTP host is configured, saying so once at debug level', async () => {
    await queue(mail('4'));
    const m = mailer({ host: '' });
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 0 });
    expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 0 });
    const [row] = await rows();
    expect(Number(row!.attempts)).to.equal(0);
    expect(row!.sent_at).to.equal(null);
    const told = logLines.filter((l) => l.includes('mail.host is empty'));
    expect(told).to.have.length(1);
    expect(told[0]).to.include('"level":"debug"');
    expect(smtp.offered).to.equal(0);
  });

  it('holds mail with links back while the server URL is unknown, and sends mail without links', async () => {
    await queue([mail('5a', { text: `Decide at ${BASE_URL_PLACEHOLDER}/m/x` }), mail('5b', { text: 'No link here' })]);
    const m = mailer();
    m.baseUrl = '';
    expect(await m.sendDue()).to.deep.equal({ sent: 1, failed: 0 });
    expect(smtp.mails.map((x) => x.subject)).to.deep.equal(['Mail 5b']);
    m.baseUrl = 'https://iam.example.com';
    expect(await m.sendDue()).to.deep.equal({ sent: 1, failed: 0 });
    expect(smtp.mails[1]!.text).to.include('https://iam.example.com/m/x');
  });

  it('attaches files read from their path when the mail is sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iam-mail-'));
    try {
      writeFileSync(join(dir, 'report.csv'), 'who,what\nzoë,role:admin\n');
      await queue(mail('6', { kind: 'audit.report', attachments: [{ filename: 'audit-report.csv', path: join(dir, 'report.csv') }] }));
      expect(await mailer().sendDue()).to.deep.equal({ sent: 1, failed: 0 });
      expect(smtp.mails[0]!.attachments).to.have.length(1);
      expect(smtp.mails[0]!.attachments[0]!.filename).to.equal('audit-report.csv');
      expect(smtp.mails[0]!.attachments[0]!.content.toString('utf8')).to.equal('who,what\nzoë,role:admin\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries a mail whose attachment is missing instead of sending it without', async () => {
    await queue(mail('7', { attachments: [{ filename: 'gone.csv', path: join(tmpdir(), 'iam-no-such-dir', 'gone.csv') }] }));
    expect(await mailer().sendDue()).to.deep.equal({ sent: 0, failed: 1 });
    const [row] = await rows();
    expect(row!.last_error).to.include('ENOENT');
    expect(smtp.offered).to.equal(0);
  });

  it('never lets the SMTP password into the stored error or the log, even when the server echoes it', async () => {
    const secure = await startTestSmtp({ login: { user: 'iam', password: 'right-Pa55word' }, echoRefusedPassword: true });
    try {
      await queue(mail('8'));
      const wrong = 'wr0ng-S3cret-Pa55';
      const m = new Mailer(db, configWith({ mail: secure.mailConfig({ password: wrong }) }).mail, logger(), clock.now);
      mailers.push(m);
      expect(await m.sendDue()).to.deep.equal({ sent: 0, failed: 1 });
      const [row] = await rows();
      // The server did echo it (the error names the redaction), and neither copy kept it.
      expect(row!.last_error).to.include('535').and.include('[redacted]');
      for (const text of [row!.last_error!, ...logLines]) {
        expect(text).not.to.include(wrong);
        expect(text).not.to.include(Buffer.from(wrong).toString('base64'));
        expect(text).not.to.include(Buffer.from(`\u0000iam\u0000${wrong}`).toString('base64'));
      }
      expect(logLines.some((l) => l.includes('mail not sent'))).to.equal(true);
      clock.advance(2 * HOUR);
      const right = new Mailer(db, configWith({ mail: secure.mailConfig() }).mail, logger(), clock.now);
      mailers.push(right);
      expect(await right.sendDue()).to.deep.equal({ sent: 1, failed: 0 });
      expect(secure.mails).to.have.length(1);
    } finally {
      // The server's close waits for open connections: the mailers' pools go first.
      await Promise.all(mailers.splice(0).map((x) => x.close()));
      await secure.close();
    }
  });

  it('sends each mail once when two instances send the same queue at the same time', async function () {
    this.timeout(30_000);
    await queue(Array.from({ length: 45 }, (_, i) => mail(`9-${i}`)));
    // On MariaDB a second connection, as another server instance has; SQLite serves one instance
    // (a second writer process gets SQLITE_BUSY), so there the two mailers share the connection.
    const other = kind === 'mariadb' ? await Database.connect(database().url) : db;
    try {
      const [a, b] = await Promise.all([mailer().sendDue(), mailer({}, undefined, other).sendDue()]);
      expect(a.sent + b.sent).to.equal(45);
      expect(a.failed + b.failed).to.equal(0);
      const subjects = smtp.mails.map((x) => x.subject);
      expect(subjects).to.have.length(45);
      expect(new Set(subjects).size).to.equal(45);
      expect((await rows()).every((r) => r.sent_at !== null && Number(r.attempts) === 1)).to.equal(true);
    } finally {
      await Promise.all(mailers.splice(0).map((m) => m.close()));
      if (other !== db) await other.close();
    }
  });

  it('sends soon after sendSoon, once for a burst of calls, and counts what it sent', async () => {
    const registry = new Registry();
    const m = mailer({}, registry);
    await queue([mail('10a'), mail('10b')]);
    for (let i = 0; i < 5; i++) m.sendSoon();
    await smtp.waitFor(2);
    // Nothing more arrives: the burst was one run, and each mail went once.
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.mails.map((x) => x.subject).sort()).to.deep.equal(['Mail 10a', 'Mail 10b']);
    const metric = await registry.getSingleMetricAsString('iam_mail_sent_total');
    expect(metric).to.include('iam_mail_sent_total{outcome="sent"} 2');
  });

  it('lets a sendDue during a run send what was queued meanwhile', async () => {
    const m = mailer();
    await queue(mail('11a'));
    const first = m.sendDue();
    await queue(mail('11b'));
    const second = m.sendDue();
    const [one, two] = await Promise.all([first, second]);
    expect(one.sent + two.sent).to.equal(2);
    expect(smtp.mails.map((x) => x.subject).sort()).to.deep.equal(['Mail 11a', 'Mail 11b']);
  });
});
