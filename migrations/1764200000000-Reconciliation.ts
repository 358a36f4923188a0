import { exactCollation } from '../src/db/data-source.js';
import { Table, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/*
 * Reconciliation: each run over a target (reconciliations) and what it found there
 * (reconciliation_findings): orphan accounts, missing accounts and drift, one row each, kept so a
 * report can be paged, exported as CSV and compared with the next run.
 */

const str = (name: string, length = 255, nullable = true): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable });
const time = (name: string, nullable = false): TableColumnOptions => str(name, 24, nullable);
const text = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
const key = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true, isNullable: false });

export class Reconciliation1764200000000 implements MigrationInterface {
  name = 'Reconciliation1764200000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    let options = {};
    if (mysql) {
      const [{ version }] = (await q.query('SELECT VERSION() AS version')) as [{ version: string }];
      options = { engine: `InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation(version)}` };
    }

    await q.createTable(new Table({
      name: 'reconciliations',
      ...options,
      columns: [
        key(str('id', 36)),
        str('target', 64, false),
        // report | fix
        str('mode', 8, false),
        // running | done | failed
        str('status', 16, false),
        // who started it: token:<name>, cli:<user>, system:reconcile
        str('actor', 128, false),
        // JSON: accounts read, findings per kind, operations enqueued, accounts skipped in flight
        text('summary'),
        text('error'),
        time('started'),
        time('finished', true),
      ],
      indices: [new TableIndex({ name: 'ix_reconciliations_target_started', columnNames: ['target', 'started'] })],
    }));

    await q.createTable(new Table({
      name: 'reconciliation_findings',
      ...options,
      columns: [
        key(str('run_id', 36)),
        key(int('seq', false)),
        // orphan | missing | drift
        str('kind', 16, false),
        // orphan: no-identity | no-grant | duplicate; missing: absent; drift: what differs (status, memberships, attributes)
        str('reason', 64, false),
        // the target's id of the account (null for a missing account)
        str('account_key', 512, true),
        // our account (accounts.id), when we have one
        str('account_id', 36, true),
        str('identity_id', 36, true),
        str('user_name', 255, true),
        // JSON: what was expected and what was found
        text('detail', false),
        // operations enqueued to repair it (fix mode)
        int('enqueued', false),
      ],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['reconciliation_findings', 'reconciliations']) await q.dropTable(table);
  }
}
