import { exactCollation } from '../src/db/data-source.js';
import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/*
 * Governance: people acting through their own tokens, access requests and their approval tasks,
 * delegations, review campaigns and their items, mail waiting to be sent, and the server's own
 * keys (the mail-link key and the export-signing key, shared by every instance through the
 * database).
 */

const str = (name: string, length = 255, nullable = true): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable: nullable });
const int = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable });
const time = (name: string, nullable = false): TableColumnOptions => str(name, 24, nullable);
const text = (name: string, nullable = true): TableColumnOptions => ({ name, type: 'text', isNullable: nullable });
const key = (c: TableColumnOptions): TableColumnOptions => ({ ...c, isPrimary: true, isNullable: false });
const serial = (mysql: boolean): TableColumnOptions => ({ name: 'id', type: mysql ? 'bigint' : 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' });

export class Governance1764300000000 implements MigrationInterface {
  name = 'Governance1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const mysql = q.connection.options.type === 'mysql';
    let options = {};
    if (mysql) {
      const [{ version }] = (await q.query('SELECT VERSION() AS version')) as [{ version: string }];
      options = { engine: `InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${exactCollation(version)}` };
    }

    // A token may belong to a person: what it does is then done by them.
    await q.addColumn('api_tokens', new TableColumn(str('identity_id', 36)));
    // The person who may approve an exception to an SoD rule when a request would break it.
    await q.addColumn('sod_rules', new TableColumn(str('owner', 255)));

    await q.createTable(new Table({
      name: 'access_requests',
      ...options,
      columns: [
        key(str('id', 36)),
        // who asked (an identity) and through what (token:<name>, cli:<user>)
        str('requester_id', 36, false),
        str('requested_by', 255, false),
        str('beneficiary_id', 36, false),
        // role:<name> or ent:<target>/<key>
        str('item', 255, false),
        text('justification', false),
        int('duration_days'),
        // pending | approved | denied | expired | cancelled | failed
        str('status', 16, false),
        // the stage waiting for a decision (0-based), or the last one decided
        int('stage', false),
        // JSON: the approval chain as resolved when the request was made, and the SoD conflicts found
        text('chain', false),
        text('sod'),
        // the grant an approval made
        str('grant_id', 36),
        // a client's Idempotency-Key: a retried POST finds the request it already made
        str('idempotency_key', 255),
        text('outcome'),
        time('created'),
        time('updated'),
        time('expires_at'),
        time('decided_at', true),
      ],
      indices: [
        new TableIndex({ name: 'uq_access_requests_idempotency', columnNames: ['requested_by', 'idempotency_key'], isUnique: true }),
        new TableIndex({ name: 'ix_access_requests_beneficiary', columnNames: ['beneficiary_id', 'status'] }),
        new TableIndex({ name: 'ix_access_requests_requester', columnNames: ['requester_id', 'status'] }),
        new TableIndex({ name: 'ix_access_requests_status', columnNames: ['status', 'expires_at'] }),
      ],
    }));

    // Auditors filter the trail by actor, action and target (GET /api/v1/audit/events), paging by id.
    await q.createIndex('audit_events', new TableIndex({ name: 'ix_audit_events_actor', columnNames: ['actor', 'id'] }));
    await q.createIndex('audit_events', new TableIndex({ name: 'ix_audit_events_action', columnNames: ['action', 'id'] }));
    await q.createIndex('audit_events', new TableIndex({ name: 'ix_audit_events_target', columnNames: ['target_type', 'target_id', 'id'] }));

    // One row per person who may decide a stage of a request; any one of them decides it.
    await q.createTable(new Table({
      name: 'approval_tasks',
      ...options,
      columns: [
        key(str('id', 36)),
        str('request_id', 36, false),
        int('stage', false),
        str('approver_id', 36, false),
        // why this person: manager | owner | group | people | sod-owner | delegate | escalation
        str('reason', 16, false),
        // the approver this task was delegated or escalated from
        str('on_behalf_of', 36),
        // open | approved | denied | closed
        str('status', 16, false),
        text('comment'),
        time('created'),
        // when an undecided task escalates to the approver's manager
        time('escalate_at', true),
        time('decided_at', true),
      ],
      indices: [
        new TableIndex({ name: 'ix_approval_tasks_approver', columnNames: ['approver_id', 'status'] }),
        new TableIndex({ name: 'ix_approval_tasks_request', columnNames: ['request_id', 'stage'] }),
        new TableIndex({ name: 'ix_approval_tasks_escalate', columnNames: ['status', 'escalate_at'] }),
      ],
    }));

    await q.createTable(new Table({
      name: 'delegations',
      ...options,
      columns: [
        key(str('id', 36)),
        str('delegator_id', 36, false),
        str('deputy_id', 36, false),
        time('starts_at'),
        time('ends_at'),
        str('created_by', 255, false),
        time('created'),
        time('revoked', true),
      ],
      indices: [new TableIndex({ name: 'ix_delegations_delegator', columnNames: ['delegator_id', 'ends_at'] })],
    }));

    // Campaign definitions made through the API (those in the config file are not stored).
    await q.createTable(new Table({
      name: 'review_definitions',
      ...options,
      columns: [key(str('name', 64)), text('definition', false), str('created_by', 255, false), time('created'), time('updated')],
    }));

    await q.createTable(new Table({
      name: 'review_campaigns',
      ...options,
      columns: [
        key(str('id', 36)),
        // the definition it was started from (config or API)
        str('name', 64, false),
        // running | closed
        str('status', 16, false),
        // the stage under way (0-based) and how many there are
        int('stage', false),
        int('stages', false),
        // JSON: the definition as it was when the campaign started
        text('definition', false),
        str('started_by', 255, false),
        time('started'),
        // when the current stage ends
        time('stage_ends'),
        time('closed', true),
        // JSON: counts at close
        text('summary'),
      ],
      indices: [new TableIndex({ name: 'ix_review_campaigns_name', columnNames: ['name', 'started'] })],
    }));

    // One row per (identity, grant) under review, per stage. Kept narrow: a campaign may hold millions.
    await q.createTable(new Table({
      name: 'review_items',
      ...options,
      columns: [
        serial(mysql),
        str('campaign_id', 36, false),
        int('stage', false),
        str('identity_id', 36, false),
        str('grant_id', 36, false),
        str('item', 255, false),
        str('reviewer_id', 36, false),
        // manager | role-owner | target-owner | people | self-manager | reassigned | escalated
        str('reviewer_reason', 16, false),
        // keep | revoke, or null while undecided
        str('decision', 8),
        text('comment'),
        str('decided_by', 255),
        time('decided_at', true),
        // JSON: where the access comes from (source, granted by, since, role path) and SoD conflicts
        text('context'),
      ],
      indices: [
        new TableIndex({ name: 'ix_review_items_reviewer', columnNames: ['reviewer_id', 'campaign_id', 'decision'] }),
        new TableIndex({ name: 'ix_review_items_campaign', columnNames: ['campaign_id', 'stage', 'decision'] }),
      ],
    }));

    // Mail is queued in the transaction of what it tells about, and sent after commit.
    await q.createTable(new Table({
      name: 'mail_outbox',
      ...options,
      columns: [
        serial(mysql),
        // identity the mail is for (null for a configured address such as the auditors' list)
        str('recipient_id', 36),
        str('address', 320, false),
        // what event it tells about: request.awaiting, review.started, …
        str('kind', 48, false),
        str('subject', 255, false),
        text('body_text', false),
        text('body_html'),
        // a mail already queued under this key is not queued again (one per recipient per event)
        str('dedupe_key', 255),
        // JSON list of {filename, path} to attach
        text('attachments'),
        time('created'),
        int('attempts', false),
        time('next_attempt_at'),
        time('sent_at', true),
        text('last_error'),
      ],
      indices: [
        new TableIndex({ name: 'uq_mail_outbox_dedupe', columnNames: ['dedupe_key'], isUnique: true }),
        new TableIndex({ name: 'ix_mail_outbox_due', columnNames: ['sent_at', 'next_attempt_at'] }),
      ],
    }));

    await q.createTable(new Table({
      name: 'server_keys',
      ...options,
      columns: [key(str('name', 64)), text('value', false), time('created')],
    }));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['server_keys', 'mail_outbox', 'review_items', 'review_campaigns', 'review_definitions', 'delegations', 'approval_tasks', 'access_requests']) await q.dropTable(table);
    for (const index of ['ix_audit_events_actor', 'ix_audit_events_action', 'ix_audit_events_target']) await q.dropIndex('audit_events', index);
    await q.dropColumn('sod_rules', 'owner');
    await q.dropColumn('api_tokens', 'identity_id');
  }
}
