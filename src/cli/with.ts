/* How command modules reach the database and the services: main.ts passes these in. */
import type { Database, Sql } from '../db/database.js';
import type { Actor } from '../governance/actor.js';
import { resolveIdentity } from '../policy/identity-ref.js';
import type { AppServices } from '../http/app.js';

/** Runs work on the configured database (migrated), then closes it. */
export type WithDatabase = <T>(work: (db: Database) => Promise<T>) => Promise<T>;
/** Runs work on the server's services over the configured database, then closes them. */
export type WithServices = <T>(work: (services: AppServices) => Promise<T>) => Promise<T>;

/** A failure a command reports in one line with exit code 2: bad arguments, unknown names, refused decisions. */
export class CliError extends Error {}

/** The actor a command acts as: the person `--as` names (a userName or identity id), or nobody when it is not given. */
export async function actingPerson(sql: Sql, actor: string, as?: string): Promise<Actor> {
  if (as === undefined) return { identityId: null, actor };
  const identity = await resolveIdentity(sql, as);
  if (!identity) throw new CliError(`no identity "${as}" (--as takes a userName or an identity id)`);
  return { identityId: identity.id, actor };
}
