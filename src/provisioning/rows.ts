/* Batched UPDATEs: many rows, each with its own values, in one statement per batch. */
import { chunks, placeholders } from '../db/batches.js';
import type { Sql } from '../db/database.js';

// Rows per statement: each row costs 2 parameters per column plus its key; stays well under
// SQLite's 32,766 parameters for the handful of columns updated here.
const ROWS_PER_UPDATE = 500;

/**
 * Sets `columns` of the rows keyed by `key` to per-row values with one
 * `UPDATE … SET c = CASE key WHEN … THEN … END … WHERE key IN (…)` per batch, instead of a round
 * trip per row. Each row is [key, ...values in `columns` order].
 */
export async function updateRows(sql: Sql, table: string, key: string, columns: readonly string[], rows: readonly unknown[][]): Promise<void> {
  for (const chunk of chunks(rows, ROWS_PER_UPDATE)) {
    const params: unknown[] = [];
    const sets = columns.map((column, i) => {
      for (const row of chunk) params.push(row[0], row[i + 1]);
      return `${column} = CASE ${key} ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END`;
    });
    params.push(...chunk.map((row) => row[0]));
    await sql.execute(`UPDATE ${table} SET ${sets.join(', ')} WHERE ${key} IN (${placeholders(chunk.length)})`, params);
  }
}
