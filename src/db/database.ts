import type { DataSource, QueryRunner } from 'typeorm';
import { createDataSource, exactCollation, parseDatabaseUrl, redactDatabaseUrl, type Dialect } from './data-source.js';

/** A place to run parameterized SQL: the database itself or an open transaction. */
export interface Sql {
  readonly dialect: Dialect;
  /** Runs a SELECT and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement and returns the number of rows it changed. */
  execute(sql: string, params?: unknown[]): Promise<number>;
}

/** A unit of work; `afterCommit` callbacks run once the transaction has committed. */
export interface Transaction extends Sql {
  afterCommit(fn: () => void): void;
}

class RunnerSql implements Transaction {
  private readonly commitHooks: Array<() => void> = [];
  constructor(readonly dialect: Dialect, private readonly runner: QueryRunner) {}

  async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const result = await this.runner.query(sql, params, true);
    return result.records as T[];
  }

  async execute(sql: string, params: unknown[] = []): Promise<number> {
    const result = await this.runner.query(sql, params, true);
    return result.affected ?? 0;
  }

  afterCommit(fn: () => void): void {
    this.commitHooks.push(fn);
  }

  runCommitHooks(): void {
    for (const hook of this.commitHooks) hook();
  }
}

/** A FIFO lock: SQLite has one connection, so its transactions must take turns. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private holders = 0;

  /** True when nothing holds or waits for the lock, so synchronous work cannot interleave with a transaction. */
  get idle(): boolean {
    return this.holders === 0;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const prior = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.holders++;
    try {
      await prior;
      return await fn();
    } finally {
      this.holders--;
      release();
    }
  }
}

/** The subset of a better-sqlite3 connection that reads use. */
interface SqliteHandle {
  prepare(sql: string): { reader: boolean; all(...params: unknown[]): unknown[] };
}

// Prepared statements kept per SQLite connection; statements with generated IN lists vary, so
// the cache is bounded (oldest first out).
const SQLITE_STATEMENT_CACHE = 256;

/** The database: dialect-aware SQL helpers and explicit transactions on top of TypeORM. */
export class Database implements Sql {
  readonly dialect: Dialect;
  private readonly sqliteLock = new Mutex();
  private readonly sqliteStatements = new Map<string, ReturnType<SqliteHandle['prepare']>>();

  private constructor(readonly dataSource: DataSource) {
    this.dialect = dataSource.options.type === 'mysql' ? 'mysql' : 'sqlite';
  }

  /** Connects to the database a URL names; the error never carries the password. */
  static async connect(url: string): Promise<Database> {
    const dataSource = createDataSource(url);
    try {
      await dataSource.initialize();
    } catch (err) {
      const message = (err as Error).message.split(url).join(redactDatabaseUrl(url));
      throw new Error(`cannot connect to ${redactDatabaseUrl(url)}: ${message}`);
    }
    return new Database(dataSource);
  }

  /** Creates the MySQL database named in the URL if it does not exist yet (SQLite creates its file itself). */
  static async ensureExists(url: string): Promise<void> {
    const target = parseDatabaseUrl(url);
    if (target.dialect !== 'mysql') return;
    const { createConnection } = await import('mysql2/promise');
    const conn = await createConnection({
      host: target.host, port: target.port, user: target.user, password: target.password,
    });
    try {
      const [[{ version }]] = (await conn.query('SELECT VERSION() AS version')) as unknown as [[{ version: string }]];
      await conn.query(
        `CREATE DATABASE IF NOT EXISTS ${conn.escapeId(target.database!)} CHARACTER SET utf8mb4 COLLATE ${exactCollation(version)}`,
      );
    } finally {
      await conn.end();
    }
  }

  /** Applies pending migrations; returns the names of those applied. */
  async migrate(): Promise<string[]> {
    const applied = await this.dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  }

  /** Runs a SELECT outside any transaction. */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.dialect === 'sqlite') {
      // A read on the idle connection runs at once on a cached prepared statement: it is on the
      // path of every API request (token lookup), where a query runner per call costs more than
      // the read itself. Otherwise it waits its turn behind the transactions in flight.
      if (this.sqliteLock.idle) return this.readSqlite<T>(sql, params);
      return this.sqliteLock.run(async () => this.readSqlite<T>(sql, params));
    }
    return (await this.dataSource.query(sql, params)) as T[];
  }

  private readSqlite<T>(sql: string, params: unknown[]): T[] {
    let statement = this.sqliteStatements.get(sql);
    if (statement === undefined) {
      const handle = (this.dataSource.driver as unknown as { databaseConnection: SqliteHandle }).databaseConnection;
      statement = handle.prepare(sql);
      if (!statement.reader) throw new Error(`Database.query runs only statements that return rows: ${sql.slice(0, 80)}`);
      if (this.sqliteStatements.size >= SQLITE_STATEMENT_CACHE) this.sqliteStatements.delete(this.sqliteStatements.keys().next().value!);
      this.sqliteStatements.set(sql, statement);
    }
    // better-sqlite3 binds no booleans; stored booleans are 0/1.
    return statement.all(...params.map((p) => (typeof p === 'boolean' ? Number(p) : p))) as T[];
  }

  /** Runs one statement in its own implicit transaction. */
  async execute(sql: string, params: unknown[] = []): Promise<number> {
    return this.transaction((tx) => tx.execute(sql, params));
  }

  /** Runs `work` in one transaction: commit on success, rollback on any error. */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const runner = this.dataSource.createQueryRunner();
      const tx = new RunnerSql(this.dialect, runner);
      try {
        await runner.startTransaction();
        let result: T;
        try {
          result = await work(tx);
          await runner.commitTransaction();
        } catch (err) {
          if (runner.isTransactionActive) await runner.rollbackTransaction();
          throw err;
        }
        tx.runCommitHooks();
        return result;
      } finally {
        if (this.dialect === 'mysql') await runner.release();
      }
    };
    if (this.dialect === 'sqlite') return this.sqliteLock.run(run);
    // InnoDB picks a victim when two transactions lock rows in opposite orders; the victim has
    // been rolled back whole, so running it again is safe.
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        if (attempt >= DEADLOCK_ATTEMPTS || !isDeadlock(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
      }
    }
  }

  /** True when the database answers a trivial query. */
  async ping(): Promise<boolean> {
    try {
      await this.query('SELECT 1 AS ok');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

const DEADLOCK_ATTEMPTS = 4;

function isDeadlock(err: unknown): boolean {
  const e = err as { code?: string; driverError?: { code?: string } };
  const code = e.driverError?.code ?? e.code;
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT';
}

/** The suffix that locks the rows a SELECT reads until the transaction ends (SQLite transactions already run one at a time). */
export function forUpdate(dialect: Dialect): string {
  return dialect === 'mysql' ? ' FOR UPDATE' : '';
}

/** The suffix that keeps the rows a SELECT reads from being changed or deleted until the transaction ends. */
export function forShare(dialect: Dialect): string {
  return dialect === 'mysql' ? ' LOCK IN SHARE MODE' : '';
}

/** `INSERT IGNORE` in a dialect's words: a duplicate key leaves the existing row alone. */
export function insertIgnore(dialect: Dialect): string {
  return dialect === 'mysql' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
}

/** The name of the unique index a duplicate-key error hit, or undefined when it is another error. */
export function uniqueViolation(err: unknown): string | undefined {
  const e = err as { code?: string; errno?: number; message?: string; driverError?: { code?: string; message?: string } };
  const code = e.driverError?.code ?? e.code;
  const message = e.driverError?.message ?? e.message ?? '';
  if (code === 'ER_DUP_ENTRY') return /for key '(?:[^.']+\.)?([^']+)'/.exec(message)?.[1] ?? 'unknown';
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    // SQLite names columns, not indexes: "UNIQUE constraint failed: identities.user_name".
    return /failed: (.+)$/.exec(message)?.[1] ?? 'unknown';
  }
  return undefined;
}
