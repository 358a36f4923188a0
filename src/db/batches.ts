/*
 * Statements over many values, cut into batches: an IN list or a multi-row INSERT per batch, so
 * no statement passes SQLite's 32,766 or MySQL's 65,535 parameters and each stays a cheap probe.
 */
import type { Sql } from './database.js';

/** Values per IN list unless a caller says otherwise. */
export const IN_LIST_SIZE = 500;

// Parameters one multi-row INSERT may carry; well below SQLite's limit.
const INSERT_PARAMETERS = 16_000;

/** `items` in consecutive slices of at most `size`. */
export function chunks<T>(items: readonly T[], size: number = IN_LIST_SIZE): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `?, ?, …` for `count` parameters. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/**
 * Inserts rows (each a list of values for `columns`) with as many rows per statement as the
 * parameter budget allows, or `rowsPerStatement` when given.
 */
export async function insertRows(sql: Sql, table: string, columns: readonly string[], rows: readonly unknown[][], rowsPerStatement?: number): Promise<void> {
  const one = `(${placeholders(columns.length)})`;
  const size = rowsPerStatement ?? Math.max(1, Math.floor(INSERT_PARAMETERS / columns.length));
  for (const chunk of chunks(rows, size)) {
    await sql.execute(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${chunk.map(() => one).join(', ')}`, chunk.flat());
  }
}
