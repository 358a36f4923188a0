import { exactCollation } from '../src/db/data-source.js';
import { Table, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/*
 * The access model: targets, entitlements, roles, grants, birthright and SoD rules, and the two
 * things every server instance polls to keep its in-memory policy current (policy_state and
 * access_changes).
 *
 * Catalogue items are keyed by their names, which never change once created: a role is
 * `role:<name>` and an entitlement `ent:<target>/<key>` wherever it is referenced (grants, rules,
 * exports), so the policy files, the API and the tables all speak the same names.
 */

const str = (name: string, length = 255, nullable = true): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable });
const big = (mysql: boolean, name: string, nullable = false): TableColumnOptions => ({ name, type: mysql ? 'bigint' : 'integer', isNullable: nullable });
const time = (name: string, nullable = false): TableColumnOptions => str(name, 24, nullable);
const text = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
const key = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true, isNullable: false });
/** Columns every catalogue row carries: optimistic version and timestamps. */
const stamps = (): TableColumnOptions[] => [int('version', false), time('created'), time('last_modified')];

export class AccessModel1764000000000 implements MigrationInterface {
  name = 'AccessModel1764000000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    let options = {};
    if (mysql) {
      const [{ version }] = (await q.query('SELECT VERSION() AS version')) as [{ version: string }];
      options = { engine: `InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation(version)}` };
    }

    await q.createTable(new Table({
      name: 'targets',
      ...options,
      columns: [key(str('name', 64)), str('type', 32, false), str('display_name'), text('description'), ...stamps()],
    }));

    await q.createTable(new Table({
      name: 'entitlements',
      ...options,
      columns: [
        key(str('target', 64)),
        key(str('ent_key', 128)),
        str('kind', 32, false),
        str('display_name'),
        text('description'),
        int('requestable', false),
        str('risk', 16, false),
        ...stamps(),
      ],
      foreignKeys: [{ columnNames: ['target'], referencedTableName: 'targets', referencedColumnNames: ['name'] }],
    }));

    await q.createTable(new Table({
      name: 'roles',
      ...options,
      columns: [
        key(str('name', 64)),
        str('display_name'),
        text('description'),
        str('owner', 255),
        int('requestable', false),
        int('max_duration_days'),
        str('risk', 16, false),
        ...stamps(),
      ],
    }));

    // role inherits parent: whoever holds `role` also holds everything `parent` gives.
    await q.createTable(new Table({
      name: 'role_inherits',
      ...options,
      columns: [key(str('role', 64)), key(str('parent', 64)), int('position', false)],
      indices: [new TableIndex({ name: 'ix_role_inherits_parent', columnNames: ['parent'] })],
      foreignKeys: [
        { columnNames: ['role'], referencedTableName: 'roles', referencedColumnNames: ['name'], onDelete: 'CASCADE' },
        { columnNames: ['parent'], referencedTableName: 'roles', referencedColumnNames: ['name'] },
      ],
    }));

    await q.createTable(new Table({
      name: 'role_entitlements',
      ...options,
      columns: [key(str('role', 64)), key(str('target', 64)), key(str('ent_key', 128)), int('position', false)],
      indices: [new TableIndex({ name: 'ix_role_entitlements_entitlement', columnNames: ['target', 'ent_key'] })],
      foreignKeys: [
        { columnNames: ['role'], referencedTableName: 'roles', referencedColumnNames: ['name'], onDelete: 'CASCADE' },
        { columnNames: ['target', 'ent_key'], referencedTableName: 'entitlements', referencedColumnNames: ['target', 'ent_key'] },
      ],
    }));

    // Permission rules for the access-check API: Casbin `p, role:<name>, <object pattern>, <action>`.
    await q.createTable(new Table({
      name: 'role_permissions',
      ...options,
      columns: [key(str('role', 64)), key(str('object', 512)), key(str('action', 64)), int('position', false)],
      foreignKeys: [{ columnNames: ['role'], referencedTableName: 'roles', referencedColumnNames: ['name'], onDelete: 'CASCADE' }],
    }));

    // Desired state: who should hold what, why and until when. A revoked grant is deleted; the
    // audit trail keeps its history.
    await q.createTable(new Table({
      name: 'grants',
      ...options,
      columns: [
        key(str('id', 36)),
        str('identity_id', 36, false),
        // `role:<name>` or `ent:<target>/<key>`
        str('item', 200, false),
        str('source', 16, false),
        // what caused it within the source: the birthright rule, request or review; '' for manual
        str('source_ref', 128, false),
        str('granted_by', 255, false),
        text('reason'),
        time('valid_from', true),
        time('valid_until', true),
        time('created'),
      ],
      indices: [
        new TableIndex({ name: 'uq_grants_identity_item_source', columnNames: ['identity_id', 'item', 'source', 'source_ref'], isUnique: true }),
        new TableIndex({ name: 'ix_grants_item', columnNames: ['item'] }),
        new TableIndex({ name: 'ix_grants_source', columnNames: ['source', 'source_ref'] }),
        new TableIndex({ name: 'ix_grants_valid_until', columnNames: ['valid_until'] }),
      ],
      foreignKeys: [{ columnNames: ['identity_id'], referencedTableName: 'identities', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
    }));

    await q.createTable(new Table({
      name: 'birthright_rules',
      ...options,
      columns: [
        key(str('name', 64)),
        text('description'),
        // canonical form, as canonicalRuleExpression() prints it
        { name: 'expression', type: 'text', isNullable: false },
        // grant: matching identities get `item`; deny: matching identities may never hold it
        str('effect', 8, false),
        str('item', 200, false),
        int('enabled', false),
        ...stamps(),
      ],
      indices: [new TableIndex({ name: 'ix_birthright_rules_item', columnNames: ['item'] })],
    }));

    await q.createTable(new Table({
      name: 'sod_rules',
      ...options,
      columns: [
        key(str('name', 64)),
        text('description'),
        str('severity', 16, false),
        str('left_mode', 8, false),
        // JSON arrays of item names
        { name: 'left_items', type: 'text', isNullable: false },
        str('right_mode', 8, false),
        { name: 'right_items', type: 'text', isNullable: false },
        int('enabled', false),
        ...stamps(),
      ],
    }));

    await q.createTable(new Table({
      name: 'sod_exceptions',
      ...options,
      columns: [
        key(str('id', 36)),
        str('rule', 64, false),
        str('identity_id', 36, false),
        text('reason'),
        str('approved_by', 255, false),
        time('valid_until', true),
        time('created'),
      ],
      indices: [new TableIndex({ name: 'uq_sod_exceptions_rule_identity', columnNames: ['rule', 'identity_id'], isUnique: true })],
      foreignKeys: [
        { columnNames: ['rule'], referencedTableName: 'sod_rules', referencedColumnNames: ['name'], onDelete: 'CASCADE' },
        { columnNames: ['identity_id'], referencedTableName: 'identities', referencedColumnNames: ['id'], onDelete: 'CASCADE' },
      ],
    }));

    // One row. `version` counts catalogue and rule changes; `grants_epoch` moves when grants
    // changed in bulk (a rule recompute), telling every instance to reload all assignments.
    await q.createTable(new Table({
      name: 'policy_state',
      ...options,
      columns: [key(int('id')), big(mysql, 'version'), big(mysql, 'grants_epoch'), time('changed')],
    }));
    await q.query('INSERT INTO policy_state (id, version, grants_epoch, changed) VALUES (1, 0, 0, ?)', [new Date().toISOString()]);

    // Identities whose grants (or name) changed, for other instances to reload; swept after an hour.
    await q.createTable(new Table({
      name: 'access_changes',
      ...options,
      columns: [
        { ...big(mysql, 'seq'), isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
        str('identity_id', 36, false),
        big(mysql, 'created_ms'),
      ],
      indices: [new TableIndex({ name: 'ix_access_changes_created', columnNames: ['created_ms'] })],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'access_changes', 'policy_state', 'sod_exceptions', 'sod_rules', 'birthright_rules', 'grants',
      'role_permissions', 'role_entitlements', 'role_inherits', 'roles', 'entitlements', 'targets',
    ]) {
      await q.dropTable(table);
    }
  }
}
