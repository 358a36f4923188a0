/*
 * Sends queued mail (mail_outbox) over SMTP with nodemailer: right after an event commits, and on
 * a schedule for what could not be sent then.
 */
import type { Config } from '../config/index.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';

/** Delivers mail_outbox rows. */
export class Mailer {
  /** the server's public URL, put in place of BASE_URL_PLACEHOLDER; set once the server listens */
  baseUrl = '';

  constructor(
    private readonly db: Database,
    private readonly config: Config['mail'],
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Closes the SMTP connection pool. */
  async close(): Promise<void> {}
}
