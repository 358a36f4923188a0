import { ensureMariaDb, stopMariaDb } from './mariadb.js';

/** Brings up the services the suite needs once per run; a failure stops the run with its reason. */
export async function mochaGlobalSetup(): Promise<void> {
  try {
    process.env.IAM_TEST_MYSQL_SERVER = await ensureMariaDb();
  } catch (err) {
    throw new Error(`MariaDB for the tests could not be found or started: ${(err as Error).message}`);
  }
}

export async function mochaGlobalTeardown(): Promise<void> {
  await stopMariaDb();
}
