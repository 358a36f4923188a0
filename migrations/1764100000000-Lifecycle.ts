import { exactCollation } from '../src/db/data-source.js';
import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/*
 * The lifecycle and provisioning: where each person stands with HR (identity_lifecycle), the HR
 * feeds imported and held (hr_feeds), the accounts planned and seen on each target (accounts),
 * the provisioning outbox (outbox), the slots scheduled jobs have claimed (job_runs), and the flag
 * a mover puts on grants their new manager must confirm (grants.review_flag).
 *
 * Dates (YYYY-MM-DD) and times (ISO 8601 UTC) are text, as in the earlier migrations: they compare
 * correctly as strings on both databases.
 */

const str = (name: string, length = 255, nullable = true): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable });
const time = (name: string, nullable = false): TableColumnOptions => str(name, 24, nullable);
const date = (name: string): TableColumnOptions => str(name, 10, true);
const text = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
/** Text that may exceed MySQL's 64 KB TEXT: a held feed's records, a report listing thousands of rejected rows. */
const longText = (mysql: boolean, name: string): TableColumnOptions => ({ name, type: mysql ? 'longtext' : 'text', isNullable: true });
const key = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true, isNullable: false });

export class Lifecycle1764100000000 implements MigrationInterface {
  name = 'Lifecycle1764100000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    let options = {};
    if (mysql) {
      const [{ version }] = (await q.query('SELECT VERSION() AS version')) as [{ version: string }];
      options = { engine: `InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation(version)}` };
    }

    // One row per identity the lifecycle knows: its HR employee id, status and effective dates.
    await q.createTable(new Table({
      name: 'identity_lifecycle',
      ...options,
      columns: [
        key(str('identity_id', 36)),
        // HR's key (SCIM externalId / employeeNumber); null for an identity that has none
        str('employee_id', 64, true),
        // active | pending | terminated
        str('status', 16, false),
        // as HR last stated them; preferred_name is kept here because the SCIM document only
        // shows it folded into displayName
        str('preferred_name'),
        // HR attributes no SCIM attribute carries (githubLogin, ...), as JSON, for connectors
        text('extra'),
        date('hire_date'),
        date('termination_date'),
        // pending: the day access starts; active: the day a scheduled termination takes effect
        date('starts_on'),
        date('leaves_on'),
        time('terminated_at', true),
        // what last changed it: hr-feed:<id>, scim:<request id>, schedule
        str('last_cause', 128, true),
        time('last_modified'),
      ],
      indices: [
        new TableIndex({ name: 'uq_identity_lifecycle_employee', columnNames: ['employee_id'], isUnique: true }),
        new TableIndex({ name: 'ix_identity_lifecycle_starts', columnNames: ['status', 'starts_on'] }),
        new TableIndex({ name: 'ix_identity_lifecycle_leaves', columnNames: ['status', 'leaves_on'] }),
      ],
      foreignKeys: [{ columnNames: ['identity_id'], referencedTableName: 'identities', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
    }));

    await q.createTable(new Table({
      name: 'hr_feeds',
      ...options,
      columns: [
        key(str('id', 36)),
        // snapshot | delta
        str('kind', 16, false),
        // csv | json
        str('format', 8, false),
        // cli | api | drop-folder
        str('source', 16, false),
        str('file_name', 512, true),
        str('sha256', 64, false),
        // applied | held | rejected | dry-run | failed
        str('status', 16, false),
        // the FeedReport as JSON
        longText(mysql, 'report'),
        // held feeds only: the records and the reader's rejections, to apply on approval
        longText(mysql, 'held_records'),
        str('created_by', 255, false),
        time('created'),
        str('decided_by', 255, true),
        time('decided_at', true),
      ],
      indices: [
        new TableIndex({ name: 'ix_hr_feeds_created', columnNames: ['created'] }),
        new TableIndex({ name: 'ix_hr_feeds_status', columnNames: ['status'] }),
      ],
    }));

    // An account as planned (what the outbox has been told to make true) and as last seen on
    // the target (written by workers after an operation succeeds, and by reconciliation).
    await q.createTable(new Table({
      name: 'accounts',
      ...options,
      columns: [
        key(str('id', 36)),
        str('identity_id', 36, false),
        str('target', 64, false),
        // the target's own id for the account, once created
        str('account_key', 255, true),
        // enabled | disabled | deleted
        str('planned_status', 16, false),
        // JSON array of entitlement keys on this target, sorted
        text('planned_memberships', false),
        // JSON of the attributes last sent (userName, names, email, ...)
        text('planned_attributes', false),
        // absent (never created) | enabled | disabled | deleted
        str('observed_status', 16, false),
        text('observed_memberships', true),
        time('observed_at', true),
        time('created'),
        time('last_modified'),
      ],
      indices: [
        new TableIndex({ name: 'uq_accounts_identity_target', columnNames: ['identity_id', 'target'], isUnique: true }),
        new TableIndex({ name: 'ix_accounts_target_key', columnNames: ['target', 'account_key'] }),
      ],
    }));

    // The provisioning outbox: each row one operation, written in the transaction of the change
    // that caused it; workers run them after commit, in id order per account.
    await q.createTable(new Table({
      name: 'outbox',
      ...options,
      columns: [
        { name: 'id', type: mysql ? 'bigint' : 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment', isNullable: false },
        str('account_id', 36, false),
        str('identity_id', 36, false),
        str('target', 64, false),
        // create | update | disable | enable | delete | add-membership | remove-membership
        str('op', 24, false),
        // JSON: what the operation needs (attributes, memberships, the entitlement key)
        text('payload', false),
        str('idempotency_key', 128, false),
        // pending | running | done | dead | cancelled
        str('status', 16, false),
        int('attempts', false),
        time('not_before'),
        time('lease_until', true),
        str('leased_by', 128, true),
        text('last_error'),
        // what caused it: hr-feed:<id>, scim:<request id>, schedule, api:<request id>
        str('cause', 128, true),
        time('created'),
        time('last_modified'),
        time('completed', true),
      ],
      indices: [
        new TableIndex({ name: 'uq_outbox_idempotency_key', columnNames: ['idempotency_key'], isUnique: true }),
        new TableIndex({ name: 'ix_outbox_status_due', columnNames: ['status', 'not_before'] }),
        // claims are per target: operations of a target without a connector must not sit in front of the others
        new TableIndex({ name: 'ix_outbox_target_due', columnNames: ['target', 'status', 'not_before'] }),
        new TableIndex({ name: 'ix_outbox_account', columnNames: ['account_id', 'status'] }),
        new TableIndex({ name: 'ix_outbox_identity', columnNames: ['identity_id'] }),
      ],
    }));

    // A scheduled job's run, claimed by the first instance to insert it: each slot runs once.
    await q.createTable(new Table({
      name: 'job_runs',
      ...options,
      columns: [key(str('job', 64)), key(str('slot', 32)), str('instance', 128, false), time('claimed'), time('finished', true), text('outcome')],
    }));

    // A grant the holder's new manager must confirm (a mover's requested access), and since when.
    await q.addColumns('grants', [
      new TableColumn(str('review_flag', 64, true)),
      new TableColumn(time('review_flag_since', true)),
    ]);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('grants', 'review_flag_since');
    await q.dropColumn('grants', 'review_flag');
    for (const table of ['job_runs', 'outbox', 'accounts', 'hr_feeds', 'identity_lifecycle']) await q.dropTable(table);
  }
}
