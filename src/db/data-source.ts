import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';

export type Dialect = 'sqlite' | 'mysql';

/**
 * The binary, NO PAD collation of a MySQL-family server: comparisons are exact to the byte and
 * trailing spaces count, as in SQLite. (utf8mb4_bin is PAD SPACE: "a" = "a " there.)
 */
export function exactCollation(serverVersion: string): string {
  return /mariadb/i.test(serverVersion) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

/** The parts of `IAM_DATABASE_URL` the data source needs. */
export interface DatabaseTarget {
  dialect: Dialect;
  /** SQLite file path, or ':memory:'. */
  file?: string;
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  database?: string;
}

/** Parses `sqlite:PATH` or `mysql://user:pass@host:port/db`. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!file) throw new Error('sqlite URL needs a file path, e.g. sqlite:./data/iam.sqlite');
    return { dialect: 'sqlite', file };
  }
  const parsed = new URL(url);
  if (parsed.protocol !== 'mysql:' && parsed.protocol !== 'mariadb:') {
    throw new Error(`unsupported database URL scheme ${parsed.protocol}`);
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!database) throw new Error('mysql URL needs a database name, e.g. mysql://root@127.0.0.1:3306/iam');
  return {
    dialect: 'mysql',
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username) || 'root',
    password: decodeURIComponent(parsed.password),
    database,
  };
}

/** The URL with its password replaced, safe for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** Builds (but does not initialize) the TypeORM data source for a database URL. */
export function createDataSource(url: string): DataSource {
  const target = parseDatabaseUrl(url);
  if (target.dialect === 'sqlite') {
    const file = target.file === ':memory:' ? ':memory:' : resolve(target.file!);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    return new DataSource({
      type: 'better-sqlite3',
      database: file,
      migrations: MIGRATIONS,
      migrationsTransactionMode: 'each',
      synchronize: false,
      statementCacheSize: 500,
      prepareDatabase: (db: { pragma(s: string): unknown }) => {
        // WAL lets readers run beside the one writer; NORMAL sync is durable across process
        // crashes (only an OS crash can lose the last commits). LIKE is made case-sensitive
        // because filter columns already hold the comparison form of each value.
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('foreign_keys = ON');
        db.pragma('busy_timeout = 5000');
        db.pragma('case_sensitive_like = ON');
        // 16 MB of page cache (the default is 2 MB): a feed import's transactions touch a dozen
        // indexes of tables with a hundred thousand rows; more cache bought no more speed.
        db.pragma('cache_size = -16384');
      },
    });
  }
  return new DataSource({
    type: 'mysql',
    host: target.host,
    port: target.port,
    username: target.user,
    password: target.password,
    database: target.database,
    charset: 'utf8mb4',
    timezone: 'Z',
    poolSize: 20,
    migrations: MIGRATIONS,
    migrationsTransactionMode: 'each',
    synchronize: false,
    extra: { connectionLimit: 20, waitForConnections: true },
  });
}
