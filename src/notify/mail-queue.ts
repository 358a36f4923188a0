/*
 * Mail waiting to be sent. Whatever a mail tells about (a request awaiting someone, a campaign
 * started) queues it in the same transaction, so a mail exists exactly when its event does; the
 * sender (mailer.ts) delivers it after commit and retries what the SMTP server refused.
 */
import { insertIgnore, type Sql } from '../db/database.js';

/** The events mail is sent for. */
export type MailKind =
  | 'request.awaiting' | 'request.decided' | 'request.escalated' | 'request.expired'
  | 'grant.expiring'
  | 'review.started' | 'review.reminder' | 'review.escalated' | 'review.reassigned'
  | 'audit.report';

/** One mail as its event composes it. */
export interface QueuedMail {
  /** the identity it is for; null for a configured address (the auditors) */
  recipientId: string | null;
  address: string;
  kind: MailKind;
  subject: string;
  /** plain text; links start with BASE_URL_PLACEHOLDER */
  text: string;
  html?: string;
  /**
   * One mail per recipient per event: a second mail with the same key is not queued (a job run
   * twice, a reminder already sent today).
   */
  dedupeKey?: string;
  /** files to attach, read when the mail is sent */
  attachments?: { filename: string; path: string }[];
}

/** Queues mail inside the caller's transaction; returns how many were new (deduplicated ones are skipped). */
export async function queueMail(tx: Sql, mails: QueuedMail | QueuedMail[], now: Date = new Date()): Promise<number> {
  let queued = 0;
  const at = now.toISOString();
  for (const mail of Array.isArray(mails) ? mails : [mails]) {
    queued += await tx.execute(
      `${insertIgnore(tx.dialect)} INTO mail_outbox (recipient_id, address, kind, subject, body_text, body_html, dedupe_key, attachments, created, attempts, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
      [mail.recipientId, mail.address, mail.kind, mail.subject.slice(0, 255), mail.text, mail.html ?? null, mail.dedupeKey ?? null,
        mail.attachments ? JSON.stringify(mail.attachments) : null, at, at],
    );
  }
  return queued;
}
