import { expect } from 'chai';
import { onEachDatabase } from '../support/databases.js';
import { MIGRATIONS } from '../../migrations/index.js';
import type { Database } from '../../src/db/database.js';

const TABLES = [
  'access_changes', 'access_requests', 'accounts', 'api_tokens', 'approval_tasks', 'audit_events', 'audit_head', 'birthright_rules', 'delegations',
  'directory_groups', 'entitlements', 'grants', 'group_members', 'hr_feeds', 'identities', 'identity_lifecycle', 'identity_values', 'job_runs',
  'mail_outbox', 'outbox', 'policy_state', 'reconciliation_findings', 'reconciliations', 'review_campaigns', 'review_definitions', 'review_items',
  'role_entitlements', 'role_inherits', 'role_permissions', 'roles', 'server_keys', 'sod_exceptions', 'sod_rules', 'targets',
];

async function tables(db: Database): Promise<string[]> {
  const rows = db.dialect === 'sqlite'
    ? await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'migrations'")
    : await db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> 'migrations'");
  return rows.map((r) => r.name).sort();
}

onEachDatabase('migrations', (database) => {
  it('creates every table, and a fresh chain head', async () => {
    expect(await tables(database().db)).to.deep.equal(TABLES);
    const [head] = await database().db.query<{ last_hash: string }>('SELECT last_hash FROM audit_head WHERE id = 1');
    expect(head!.last_hash).to.equal('0'.repeat(64));
  });

  it('reverts every migration with down, and applies them again with up', async () => {
    const { db } = database();
    for (let i = 0; i < MIGRATIONS.length; i++) await db.dataSource.undoLastMigration({ transaction: 'each' });
    expect(await tables(db)).to.deep.equal([]);
    expect(await db.migrate()).to.deep.equal(MIGRATIONS.map((m) => m.name));
    expect(await tables(db)).to.deep.equal(TABLES);
  });

  it('has nothing to apply twice', async () => {
    expect(await database().db.migrate()).to.deep.equal([]);
  });
});
