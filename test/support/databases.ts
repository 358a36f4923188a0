import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { Database } from '../../src/db/database.js';

/** A fresh, migrated database for one test suite. */
export interface TestDatabase {
  kind: 'sqlite' | 'mariadb';
  url: string;
  db: Database;
  /** Closes the connection and deletes the database. */
  drop(): Promise<void>;
}

/** Creates an empty database of the given kind and applies every migration. */
export async function createTestDatabase(kind: 'sqlite' | 'mariadb'): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'iam-test-sqlite-'));
    const url = `sqlite:${join(dir, 'iam.sqlite')}`;
    const db = await Database.connect(url);
    await db.migrate();
    return { kind, url, db, drop: async () => { await db.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const server = process.env.IAM_TEST_MYSQL_SERVER;
  if (!server) throw new Error('IAM_TEST_MYSQL_SERVER is not set: the global test setup did not run');
  const name = `iam_test_${randomBytes(6).toString('hex')}`;
  const url = `${server}/${name}`;
  await Database.ensureExists(url);
  const db = await Database.connect(url);
  await db.migrate();
  return {
    kind, url, db,
    drop: async () => {
      await db.close();
      const u = new URL(server);
      const conn = await createConnection({ host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username) || 'root', password: decodeURIComponent(u.password) });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/** The database kinds every database test runs on. */
export const DATABASE_KINDS = ['sqlite', 'mariadb'] as const;

/**
 * Declares `body` once per database kind, each in its own describe block with a fresh database
 * for the block; `get()` returns it inside hooks and tests, and `kind` says which database the
 * block is for, for the few tests that only mean something on one of them.
 */
export function onEachDatabase(title: string, body: (get: () => TestDatabase, kind: TestDatabase['kind']) => void): void {
  for (const kind of DATABASE_KINDS) {
    describe(`${title} [${kind}]`, function () {
      let current: TestDatabase | undefined;
      before(async function () {
        this.timeout(60_000);
        current = await createTestDatabase(kind);
      });
      after(async () => {
        await current?.drop();
      });
      body(() => {
        if (!current) throw new Error('test database not ready');
        return current;
      }, kind);
    });
  }
}
