/*
 * An SMTP server for a test file: smtp-server on 127.0.0.1 at a free port, capturing what is sent
 * to it. It can refuse the next messages (a temporarily unavailable relay), require a login, and
 * echo a refused password back in its reply, as careless servers do, to prove the sender keeps it
 * out of what it stores and logs.
 *
 * Messages are parsed here rather than with mailparser: the tests read the subject, the text and
 * HTML parts and the attachments of what nodemailer writes, which takes a page of code, not a
 * dependency tree.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { Config } from '../../src/config/index.js';

/** One message as the server received it. */
export interface CapturedMail {
  from: string;
  to: string[];
  subject: string;
  /** the text/plain part, decoded */
  text: string;
  /** the text/html part, decoded, when there is one */
  html?: string;
  attachments: { filename: string; content: Buffer }[];
  raw: string;
}

/** Options of the test server. */
export interface TestSmtpOptions {
  /** require this login (AUTH PLAIN or LOGIN over the plain connection) */
  login?: { user: string; password: string };
  /** answer a refused login with a message that contains the password the client sent */
  echoRefusedPassword?: boolean;
}

/** A running test SMTP server. */
export interface TestSmtp {
  port: number;
  /** what was accepted, in order */
  mails: CapturedMail[];
  /** how many messages were offered, refused ones included */
  offered: number;
  /** refuse the next `count` messages with a temporary failure (451) */
  refuse(count: number): void;
  /** forgets what was captured and offered, and stops refusing */
  reset(): void;
  /** the mail settings that send here (configWith's mail section) */
  mailConfig(overrides?: Partial<Config['mail']>): Partial<Config['mail']>;
  /** resolves once at least `count` mails were accepted */
  waitFor(count: number, timeoutMs?: number): Promise<CapturedMail[]>;
  close(): Promise<void>;
}

/** Starts an SMTP server on 127.0.0.1 at a free port. */
export async function startTestSmtp(options: TestSmtpOptions = {}): Promise<TestSmtp> {
  const mails: CapturedMail[] = [];
  let refusing = 0;
  let offered = 0;
  const server = new SMTPServer({
    // Plain connections only: the sender's TLS settings are nodemailer's, not under test here.
    disabledCommands: options.login ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !options.login,
    logger: false,
    onAuth(auth, _session, callback) {
      const login = options.login!;
      if (auth.username === login.user && auth.password === login.password) return callback(null, { user: auth.username });
      return callback(new Error(options.echoRefusedPassword ? `Authentication failed for ${auth.username} with password ${auth.password ?? ''}` : 'Authentication failed'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        offered++;
        if (refusing > 0) {
          refusing--;
          const err = new Error('try again later: the relay is busy') as Error & { responseCode: number };
          err.responseCode = 451;
          return callback(err);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
        mails.push({ ...parseMessage(raw), from, to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    mails,
    get offered() {
      return offered;
    },
    refuse(count) {
      refusing = count;
    },
    reset() {
      mails.length = 0;
      offered = 0;
      refusing = 0;
    },
    mailConfig(overrides = {}) {
      return {
        host: '127.0.0.1', port, secure: false, requireTls: false,
        user: options.login?.user ?? '', password: options.login?.password ?? '', from: 'IAM <iam@example.com>',
        ...overrides,
      };
    },
    async waitFor(count, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (mails.length < count) {
        if (Date.now() > until) throw new Error(`expected ${count} mails within ${timeoutMs} ms, got ${mails.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return mails;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Part {
  headers: Map<string, string>;
  body: string;
}

/** Splits a MIME entity into its (unfolded, lower-cased) headers and its body. */
function splitEntity(text: string): Part {
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

/** A parameter of a structured header (`boundary`, `charset`, `filename`). */
function param(header: string | undefined, name: string): string | undefined {
  const match = new RegExp(`${name}\\*?=(?:"([^"]*)"|([^;\\s]*))`, 'i').exec(header ?? '');
  return match ? decodeWords(match[1] ?? match[2] ?? '') : undefined;
}

function decodeQuotedPrintable(text: string): Buffer {
  const bytes: number[] = [];
  const soft = text.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i]!, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** Decodes RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`), as nodemailer writes non-ASCII subjects. */
function decodeWords(text: string): string {
  return text
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _charset: string, encoding: string, data: string) =>
      (encoding.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : decodeQuotedPrintable(data.replace(/_/g, ' '))).toString('utf8'));
}

function decodeBody(part: Part): Buffer {
  const encoding = (part.headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.body.replace(/\s+/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(part.body);
  return Buffer.from(part.body, 'utf8');
}

/** The leaf parts of an entity, multiparts opened recursively. */
function leaves(part: Part): Part[] {
  const type = part.headers.get('content-type') ?? 'text/plain';
  if (!/^multipart\//i.test(type)) return [part];
  const boundary = param(type, 'boundary');
  if (!boundary) return [];
  const sections = part.body.split(`--${boundary}`).slice(1);
  const out: Part[] = [];
  for (const section of sections) {
    if (section.startsWith('--')) break;
    out.push(...leaves(splitEntity(section.replace(/^\r?\n/, '').replace(/\r?\n$/, ''))));
  }
  return out;
}

/** The subject, text, HTML and attachments of a message as nodemailer composes them. */
export function parseMessage(raw: string): Omit<CapturedMail, 'from' | 'to' | 'raw'> {
  const root = splitEntity(raw);
  const out: Omit<CapturedMail, 'from' | 'to' | 'raw'> = { subject: decodeWords(root.headers.get('subject') ?? ''), text: '', attachments: [] };
  for (const part of leaves(root)) {
    const type = (part.headers.get('content-type') ?? 'text/plain').toLowerCase();
    const disposition = part.headers.get('content-disposition');
    if (disposition && /^attachment/i.test(disposition)) {
      out.attachments.push({ filename: param(disposition, 'filename') ?? param(type, 'name') ?? '', content: decodeBody(part) });
    } else if (type.startsWith('text/html')) {
      out.html = decodeBody(part).toString('utf8').replace(/\r\n/g, '\n');
    } else if (type.startsWith('text/plain')) {
      out.text = decodeBody(part).toString('utf8').replace(/\r\n/g, '\n');
    }
  }
  return out;
}
