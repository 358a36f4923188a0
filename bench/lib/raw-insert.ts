import BetterSqlite3 from 'better-sqlite3';
import { createPool } from 'mysql2/promise';

/**
 * The baseline benchmarks compare with: rows inserted straight through the driver in one
 * transaction (SQLite: one prepared statement per row; MariaDB: INSERTs of 2,000 rows). Returns
 * the seconds the inserts and the commit took; with `deleteAfter`, the rows are deleted again
 * (outside the timing) so the table is as it was.
 */
export async function rawInsertSeconds(
  kind: 'sqlite' | 'mariadb', url: string, table: string, columns: readonly string[], values: unknown[][], options: { deleteAfter?: boolean } = {},
): Promise<number> {
  const row = `(${columns.map(() => '?').join(', ')})`;
  if (kind === 'sqlite') {
    const db = new BetterSqlite3(url.slice('sqlite:'.length));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const insert = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${row}`);
    const all = db.transaction((list: unknown[][]) => {
      for (const v of list) insert.run(...v);
    });
    const started = performance.now();
    all(values);
    const seconds = (performance.now() - started) / 1000;
    if (options.deleteAfter) db.prepare(`DELETE FROM ${table}`).run();
    db.close();
    return seconds;
  }
  const u = new URL(url);
  const pool = createPool({ host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1), connectionLimit: 1 });
  const conn = await pool.getConnection();
  try {
    const started = performance.now();
    await conn.beginTransaction();
    for (let i = 0; i < values.length; i += 2000) {
      const chunk = values.slice(i, i + 2000);
      // The row values are strings and numbers; mysql2's parameter type is narrower than unknown[].
      await conn.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(() => row).join(', ')}`, chunk.flat() as never[]);
    }
    await conn.commit();
    const seconds = (performance.now() - started) / 1000;
    if (options.deleteAfter) await conn.query(`DELETE FROM ${table}`);
    return seconds;
  } finally {
    conn.release();
    await pool.end();
  }
}
