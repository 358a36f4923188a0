import { ensureMariaDb, stopMariaDb } from './mariadb.js';
import { ensureSlapdInstalled } from './slapd.js';
import { ensureChromiumInstalled } from './browser.js';

/**
 * Brings up the services the suite needs once per run; a failure stops the run with its reason.
 * OpenLDAP is only installed here: each LDAP test file starts its own slapd (test/support/slapd.ts).
 */
export async function mochaGlobalSetup(): Promise<void> {
  try {
    process.env.IAM_TEST_MYSQL_SERVER = await ensureMariaDb();
  } catch (err) {
    throw new Error(`MariaDB for the tests could not be found or started: ${(err as Error).message}`);
  }
  try {
    ensureSlapdInstalled();
  } catch (err) {
    throw new Error(`OpenLDAP (slapd) for the tests could not be found or installed: ${(err as Error).message}`);
  }
  try {
    ensureChromiumInstalled();
  } catch (err) {
    throw new Error(`Chromium for the page tests could not be found or installed: ${(err as Error).message}`);
  }
}

export async function mochaGlobalTeardown(): Promise<void> {
  await stopMariaDb();
}
