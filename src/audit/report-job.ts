/*
 * The scheduled audit report: a signed export (signed-export.ts) of the whole trail up to the
 * run, written into `<audit.reportFolder>/<time>/`, and one mail to each configured recipient
 * with the manifest, its signature and the two reports attached. The events file stays in the
 * folder: it can be large, and the manifest's chain head ties the mail to it.
 */
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import { queueMail, type QueuedMail } from '../notify/mail-queue.js';
import { recordAudit } from './recorder.js';
import { ACCESS_REPORT_FILE, MANIFEST_FILE, SIGNATURE_FILE, SOD_REPORT_FILE } from './manifest.js';
import { writeSignedExport } from './signed-export.js';

/** The job's name, and its actor in the audit trail. */
export const AUDIT_REPORT_JOB = 'audit-report';

/** What the report job needs of the server's services. */
export interface AuditReportServices {
  db: Database;
  config: Pick<Config, 'audit'>;
  clock: () => Date;
  /** told to send soon once the mail is queued (without it, the mail job sends it on its schedule) */
  mailer?: { sendSoon(): void };
}

/** What one run wrote and queued. */
export interface AuditReportOutcome {
  folder: string;
  events: number;
  lastId: number | null;
  mailed: number;
}

/** Writes the signed audit report into a new folder under config.audit.reportFolder and queues its mail to the recipients. */
export async function auditReportJob(services: AuditReportServices): Promise<AuditReportOutcome> {
  const { db, config, clock, mailer } = services;
  const folderRoot = config.audit.reportFolder.trim();
  if (folderRoot === '') throw new Error('audit.reportFolder is not set: the audit report has nowhere to go');
  const now = clock();
  const stamp = now.toISOString().replace(/:/g, '-');
  const folder = join(folderRoot, stamp);
  const written = await writeSignedExport(db, folder, { until: now.toISOString() }, { now });
  const head = written.manifest.auditChainHead;
  const attach = [MANIFEST_FILE, SIGNATURE_FILE, ACCESS_REPORT_FILE, SOD_REPORT_FILE].map((filename) => ({ filename, path: join(folder, filename) }));
  const text = [
    `The signed audit report of ${now.toISOString()} is written to ${folder} on the IAM server.`,
    '',
    `Audit events: ${written.events}${head.lastId === null ? '' : `, up to event ${head.lastId} (hash ${head.hash})`}.`,
    'Attached: the manifest and its signature, the access report (who holds what, why, since when) and the separation-of-duties violations.',
    '',
    `To check the whole folder: iam audit verify-export ${folder} --public-key <the server's key, from iam audit public-key>`,
  ].join('\n');
  const mails: QueuedMail[] = config.audit.reportRecipients.map((address) => ({
    recipientId: null, address, kind: 'audit.report', subject: `Audit report ${stamp.slice(0, 10)}`, text,
    dedupeKey: `audit.report:${stamp}:${address}`, attachments: attach,
  }));
  const mailed = await db.transaction(async (tx) => {
    const queued = mails.length > 0 ? await queueMail(tx, mails, now) : 0;
    if (queued > 0 && mailer) tx.afterCommit(() => mailer.sendSoon());
    await recordAudit(tx, {
      actor: `system:${AUDIT_REPORT_JOB}`, action: 'audit.report', targetType: 'audit-report', targetId: stamp,
      details: { folder, events: written.events, lastId: head.lastId, hash: head.hash, recipients: config.audit.reportRecipients.length },
    });
    return queued;
  });
  return { folder, events: written.events, lastId: head.lastId, mailed };
}
