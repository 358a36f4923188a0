/* How command modules reach the database and the services: main.ts passes these in. */
import type { Database } from '../db/database.js';
import type { AppServices } from '../http/app.js';

/** Runs work on the configured database (migrated), then closes it. */
export type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;
/** Runs work on the server's services over the configured database, then closes them. */
export type WithServices = <T>(work: (services: AppServices) => Promise<T>) => Promise<T>;

/** A failure a command reports in one line with exit code 2: bad arguments, unknown names, refused decisions. */
export class CliError extends Error {}
