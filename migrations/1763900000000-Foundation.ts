import { exactCollation } from '../src/db/data-source.js';
import { Table, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/*
 * Identities, groups, API tokens and the audit chain.
 *
 * Each SCIM resource keeps its full representation in `doc` (JSON). Beside it sit filter columns:
 * one per attribute a filter or sort can name, holding the value's comparison form: lowercase
 * where the schema says `caseExact: false`, ISO-8601 UTC text for dates, 0/1 for booleans. On
 * MySQL every text column has a binary NO PAD collation, so comparisons are exact on both databases.
 */

const str = (name: string, length = 255, nullable = true): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable });
const time = (name: string, nullable = false): TableColumnOptions => str(name, 24, nullable);
// MySQL's TEXT holds 64 KB; documents and audit details may be larger.
const doc = (mysql: boolean, name = 'doc'): TableColumnOptions => ({ name, type: mysql ? 'mediumtext' : 'text', isNullable: false });

/** Filter columns for the singular attributes of the User and EnterpriseUser schemas. */
const IDENTITY_FILTER_COLUMNS = [
  'display_name', 'nick_name', 'profile_url', 'title', 'user_type', 'preferred_language', 'locale', 'timezone',
  'name_formatted', 'name_family_name', 'name_given_name', 'name_middle_name', 'name_honorific_prefix', 'name_honorific_suffix',
  'employee_number', 'cost_center', 'organization', 'division', 'department', 'manager_id', 'manager_display_name',
];

/** The multi-valued complex attributes of a User, one row per value. */
const VALUE_COLUMNS = ['type', 'value', 'display', 'formatted', 'street_address', 'locality', 'region', 'postal_code', 'country'];

export class Foundation1763900000000 implements MigrationInterface {
  name = 'Foundation1763900000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    let options = {};
    if (mysql) {
      const [{ version }] = (await q.query('SELECT VERSION() AS version')) as [{ version: string }];
      options = { engine: `InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation(version)}` };
    }

    await q.createTable(new Table({
      name: 'identities',
      ...options,
      columns: [
        { ...str('id', 36, false), isPrimary: true },
        str('user_name', 255, false),
        str('external_id'),
        // displayName as written, for member lists that show names without parsing each doc.
        str('display_label'),
        ...IDENTITY_FILTER_COLUMNS.map((c) => str(c)),
        int('active', false),
        int('version', false),
        time('created'),
        time('last_modified'),
        doc(mysql),
      ],
      indices: [
        new TableIndex({ name: 'uq_identities_user_name', columnNames: ['user_name'], isUnique: true }),
        new TableIndex({ name: 'ix_identities_external_id', columnNames: ['external_id'] }),
        new TableIndex({ name: 'ix_identities_employee_number', columnNames: ['employee_number'] }),
        new TableIndex({ name: 'ix_identities_display_name', columnNames: ['display_name'] }),
        new TableIndex({ name: 'ix_identities_family_name', columnNames: ['name_family_name'] }),
        new TableIndex({ name: 'ix_identities_department', columnNames: ['department'] }),
        new TableIndex({ name: 'ix_identities_manager_id', columnNames: ['manager_id'] }),
        new TableIndex({ name: 'ix_identities_created', columnNames: ['created', 'id'] }),
        new TableIndex({ name: 'ix_identities_last_modified', columnNames: ['last_modified'] }),
      ],
    }));

    await q.createTable(new Table({
      name: 'identity_values',
      ...options,
      columns: [
        str('identity_id', 36, false),
        str('attr', 32, false),
        int('position', false),
        int('is_primary'),
        ...VALUE_COLUMNS.map((c) => str(c, c === 'value' ? 512 : 255)),
      ],
      indices: [
        new TableIndex({ name: 'ix_identity_values_attr_value', columnNames: ['attr', 'value'] }),
        new TableIndex({ name: 'ix_identity_values_identity', columnNames: ['identity_id', 'attr'] }),
      ],
      foreignKeys: [{ columnNames: ['identity_id'], referencedTableName: 'identities', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
    }));

    await q.createTable(new Table({
      name: 'directory_groups',
      ...options,
      columns: [
        { ...str('id', 36, false), isPrimary: true },
        str('display_name', 255, false),
        str('display_label', 255, false),
        str('external_id'),
        int('version', false),
        time('created'),
        time('last_modified'),
        doc(mysql),
      ],
      indices: [
        new TableIndex({ name: 'ix_directory_groups_display_name', columnNames: ['display_name'] }),
        new TableIndex({ name: 'ix_directory_groups_external_id', columnNames: ['external_id'] }),
        new TableIndex({ name: 'ix_directory_groups_created', columnNames: ['created', 'id'] }),
        new TableIndex({ name: 'ix_directory_groups_last_modified', columnNames: ['last_modified'] }),
      ],
    }));

    // Members are rows, never a list inside the group: adding one is an insert, so concurrent
    // PATCH requests cannot overwrite each other's additions.
    await q.createTable(new Table({
      name: 'group_members',
      ...options,
      columns: [
        { ...str('group_id', 36, false), isPrimary: true },
        { ...str('member_id', 36, false), isPrimary: true },
        str('member_type', 8, false),
        time('added'),
      ],
      indices: [new TableIndex({ name: 'ix_group_members_member', columnNames: ['member_id'] })],
      foreignKeys: [{ columnNames: ['group_id'], referencedTableName: 'directory_groups', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
    }));

    await q.createTable(new Table({
      name: 'api_tokens',
      ...options,
      columns: [
        { ...str('id', 32, false), isPrimary: true },
        str('name', 128, false),
        str('secret_hash', 64, false),
        str('scopes', 1024, false),
        time('created'),
        time('revoked', true),
      ],
      indices: [new TableIndex({ name: 'uq_api_tokens_name', columnNames: ['name'], isUnique: true })],
    }));

    await q.createTable(new Table({
      name: 'audit_events',
      ...options,
      columns: [
        { name: 'id', type: mysql ? 'bigint' : 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
        time('occurred_at'),
        str('actor', 255, false),
        str('action', 64, false),
        str('target_type', 64, false),
        str('target_id', 255),
        str('request_id', 64),
        doc(mysql, 'details'),
        str('prev_hash', 64, false),
        str('hash', 64, false),
      ],
      indices: [new TableIndex({ name: 'ix_audit_events_occurred_at', columnNames: ['occurred_at'] })],
    }));

    // The head of the chain: one row, locked by every writer, so events link in commit order.
    await q.createTable(new Table({
      name: 'audit_head',
      ...options,
      columns: [
        { ...int('id', false), isPrimary: true },
        str('last_hash', 64, false),
      ],
    }));
    await q.query(`INSERT INTO audit_head (id, last_hash) VALUES (1, ?)`, ['0'.repeat(64)]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['audit_head', 'audit_events', 'api_tokens', 'group_members', 'directory_groups', 'identity_values', 'identities']) {
      await q.dropTable(table);
    }
  }
}
