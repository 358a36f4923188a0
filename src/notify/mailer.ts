/*
 * Sends queued mail (mail_outbox) over SMTP with nodemailer: right after an event commits
 * (sendSoon) and on a schedule for what could not be sent then (sendDue).
 *
 * Any number of instances share the queue. A row is claimed by moving its next_attempt_at past
 * a lease, conditionally on the value just read (and, on MariaDB, after locking it with SKIP
 * LOCKED), so only one instance sends it; an instance that dies mid-send leaves the row to come
 * back when the lease ends. Delivery is therefore at least once: a crash between the SMTP
 * server's "250 OK" and the sent_at update sends that mail again.
 */
import { Counter, type Registry } from 'prom-client';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config/index.js';
import type { Database, Transaction } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { retryDelay, type BackoffOptions } from '../provisioning/backoff.js';
import { BASE_URL_PLACEHOLDER } from './links.js';
import { oncePerRegistry } from '../http/metrics.js';

/** What one sendDue run did: mails delivered, and attempts that failed (retried later or given up). */
export interface SendSummary {
  sent: number;
  failed: number;
}

/** A mail_outbox row as the claim reads it (ids and counts may come back as strings from MySQL). */
interface MailRow {
  id: number | string;
  address: string;
  subject: string;
  body_text: string;
  body_html: string | null;
  attachments: string | null;
  attempts: number | string;
  next_attempt_at: string;
}

/** A claimed mail: attempts already counts this attempt. */
interface Claimed {
  id: number;
  address: string;
  subject: string;
  text: string;
  html: string | null;
  attachments: { filename: string; path: string }[];
  attempts: number;
}

// Rows claimed per round; a round's mails go out together over the pool's connections.
const BATCH = 20;
// How long a claimed row is reserved for its sender: longer than the transport's timeouts allow a
// send to take, so a slow send is never claimed by a second instance while it is still under way.
const LEASE_MS = 5 * 60_000;
const TIMEOUTS = { connectionTimeout: 30_000, greetingTimeout: 30_000, socketTimeout: 60_000 };
// A failed mail waits at least half a minute, then doubling (with jitter) up to an hour.
const BACKOFF: BackoffOptions = { backoffBaseMs: 60_000, backoffMaxMs: 60 * 60_000 };
const MIN_RETRY_MS = 30_000;
// The debounce of sendSoon: events committed in a burst (a campaign start) go out in one run.
const SOON_MS = 200;
const MAX_ERROR = 1000;

/** The mail counter of a registry, registered on first use (several mailers may share one registry). */
const mailCounter = oncePerRegistry((registry: Registry): Counter<'outcome'> => new Counter({
  name: 'iam_mail_sent_total',
  help: 'Mail delivery attempts by outcome (sent, retry, failed: given up after the last attempt)',
  labelNames: ['outcome'] as const,
  registers: [registry],
}));

/** Delivers mail_outbox rows. */
export class Mailer {
  /** the server's public URL, put in place of BASE_URL_PLACEHOLDER; set once the server listens */
  baseUrl = '';
  private transport?: Transporter;
  private readonly counter?: Counter<'outcome'>;
  private readonly told = new Set<string>();
  private soonTimer?: NodeJS.Timeout;
  private current?: Promise<SendSummary>;
  private queued?: Promise<SendSummary>;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly config: Config['mail'],
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
    registry?: Registry,
  ) {
    if (registry) this.counter = mailCounter(registry);
  }

  /**
   * Sends every due mail (unsent, its retry time reached, attempts left), in rounds until none is
   * due. One run at a time per mailer: a call during a run gets the next run, which starts when
   * that one ends (calls meanwhile share it), so mail queued during a run is not missed.
   */
  sendDue(): Promise<SendSummary> {
    // Once closed, nothing is sent (a new run would open a new pool nobody closes).
    if (this.closed) return Promise.resolve({ sent: 0, failed: 0 });
    if (!this.current) return this.start();
    this.queued ??= this.current.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.closed ? { sent: 0, failed: 0 } : this.start();
    });
    return this.queued;
  }

  /**
   * Asks for a sendDue run shortly (debounced): services call it after a commit that queued mail,
   * so mail goes out within moments in a running server. Failures are logged, never thrown.
   */
  sendSoon(): void {
    if (this.closed || this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      this.sendDue().catch((err: unknown) => this.log.error({ error: this.scrub(errorText(err)) }, 'sending queued mail failed'));
    }, SOON_MS);
    // A pending send must not keep a finished CLI command alive; the scheduled job sends it later.
    this.soonTimer.unref();
  }

  /** Stops sendSoon, waits for a run under way, and closes the SMTP connection pool. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
    await this.queued?.catch(() => undefined);
    await this.current?.catch(() => undefined);
    this.transport?.close();
    this.transport = undefined;
  }

  private start(): Promise<SendSummary> {
    const run = this.runDue().finally(() => {
      if (this.current === run) this.current = undefined;
    });
    this.current = run;
    return run;
  }

  private async runDue(): Promise<SendSummary> {
    const summary: SendSummary = { sent: 0, failed: 0 };
    if (this.config.host === '') {
      this.once('debug', 'no-host', 'mail.host is empty: mail stays queued in mail_outbox, unsent');
      return summary;
    }
    if (this.baseUrl === '') {
      this.once('warn', 'no-base-url', 'the server URL is not known (publicUrl): mail with links stays queued until a server sends it');
    }
    for (;;) {
      const claimed = await this.db.transaction((tx) => this.claim(tx));
      const outcomes = await Promise.all(claimed.map((mail) => this.deliver(mail)));
      const sent = outcomes.filter(Boolean).length;
      summary.sent += sent;
      summary.failed += outcomes.length - sent;
      if (claimed.length < BATCH || this.closed) return summary;
    }
  }

  /** Claims up to BATCH due rows for this instance: attempts + 1, next_attempt_at = the end of the lease. */
  private async claim(tx: Transaction): Promise<Claimed[]> {
    const now = this.clock();
    const stamp = now.toISOString();
    const leaseUntil = new Date(now.getTime() + LEASE_MS).toISOString();
    const mysql = tx.dialect === 'mysql';
    // Without the server's URL a link cannot be written out; such mail waits for an instance that knows it.
    const linkFree = this.baseUrl === '' ? ' AND body_text NOT LIKE ? AND (body_html IS NULL OR body_html NOT LIKE ?)' : '';
    const params: unknown[] = [stamp, this.config.maxAttempts];
    if (linkFree) params.push(`%${BASE_URL_PLACEHOLDER}%`, `%${BASE_URL_PLACEHOLDER}%`);
    const rows = await tx.query<MailRow>(
      `SELECT id, address, subject, body_text, body_html, attachments, attempts, next_attempt_at FROM mail_outbox
        WHERE sent_at IS NULL AND next_attempt_at <= ? AND attempts < ?${linkFree}
        ORDER BY next_attempt_at, id LIMIT ${BATCH}${mysql ? ' FOR UPDATE SKIP LOCKED' : ''}`, params);
    const claimed: Claimed[] = [];
    for (const row of rows) {
      // The condition on what was read makes the claim safe where rows are not locked (SQLite
      // files shared by several processes): of two instances that read the same row, one wins.
      const won = await tx.execute(
        'UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND next_attempt_at = ? AND attempts = ? AND sent_at IS NULL',
        [leaseUntil, row.id, row.next_attempt_at, Number(row.attempts)]);
      if (won !== 1) continue;
      claimed.push({
        id: Number(row.id), address: row.address, subject: row.subject, text: row.body_text, html: row.body_html,
        attachments: row.attachments ? JSON.parse(row.attachments) as Claimed['attachments'] : [], attempts: Number(row.attempts) + 1,
      });
    }
    return claimed;
  }

  /** Sends one claimed mail and records the result; true when it was delivered. */
  private async deliver(mail: Claimed): Promise<boolean> {
    try {
      await this.smtp().sendMail({
        from: this.config.from,
        to: mail.address,
        subject: mail.subject,
        text: this.withBaseUrl(mail.text),
        ...(mail.html !== null && { html: this.withBaseUrl(mail.html) }),
        ...(mail.attachments.length > 0 && { attachments: mail.attachments.map((a) => ({ filename: a.filename, path: a.path })) }),
      });
    } catch (err) {
      await this.failed(mail, this.scrub(errorText(err)));
      return false;
    }
    await this.db.execute('UPDATE mail_outbox SET sent_at = ?, last_error = NULL WHERE id = ?', [this.clock().toISOString(), mail.id]);
    this.counter?.inc({ outcome: 'sent' });
    return true;
  }

  private async failed(mail: Claimed, error: string): Promise<void> {
    const last = mail.attempts >= this.config.maxAttempts;
    const next = new Date(this.clock().getTime() + retryDelay(mail.attempts, BACKOFF, MIN_RETRY_MS)).toISOString();
    await this.db.execute('UPDATE mail_outbox SET next_attempt_at = ?, last_error = ? WHERE id = ? AND sent_at IS NULL',
      [next, error.slice(0, MAX_ERROR), mail.id]);
    this.counter?.inc({ outcome: last ? 'failed' : 'retry' });
    const fields = { mailId: mail.id, attempts: mail.attempts, error };
    if (last) this.log.error(fields, 'mail given up after its last attempt; it stays in mail_outbox with its error');
    else this.log.warn(fields, 'mail not sent; it will be tried again');
  }

  private withBaseUrl(body: string): string {
    return body.split(BASE_URL_PLACEHOLDER).join(this.baseUrl);
  }

  /** The pooled transport, made on first use so a server without mail opens no connection. */
  private smtp(): Transporter {
    const { host, port, secure, requireTls, user, password } = this.config;
    this.transport ??= nodemailer.createTransport({
      pool: true,
      maxConnections: 3,
      host,
      port,
      secure,
      requireTLS: requireTls,
      ...(user !== '' && { auth: { user, pass: password } }),
      ...TIMEOUTS,
      // nodemailer logs nothing unless given a logger; kept so, for its debug output carries the AUTH exchange.
      logger: false,
      debug: false,
    });
    return this.transport;
  }

  /**
   * An error text with the SMTP password taken out, whatever form it came back in: a server may
   * echo the credentials of a refused AUTH (plain, or base64 as AUTH PLAIN and LOGIN send them).
   */
  private scrub(text: string): string {
    const { user, password } = this.config;
    if (password === '') return text;
    const forms = [
      password,
      Buffer.from(password).toString('base64'),
      Buffer.from(`\u0000${user}\u0000${password}`).toString('base64'),
    ];
    let out = text;
    for (const form of forms) out = out.split(form).join('[redacted]');
    return out;
  }

  /** Logs a condition once per mailer: it holds for every run until the configuration changes. */
  private once(level: 'debug' | 'warn', key: string, message: string): void {
    if (this.told.has(key)) return;
    this.told.add(key);
    this.log[level](message);
  }
}

/** An error's message with its SMTP response code, the part an operator acts on. */
function errorText(err: unknown): string {
  const e = err as { message?: unknown; responseCode?: unknown; code?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? `${e.code}: ` : '';
  return `${code}${message}`;
}
