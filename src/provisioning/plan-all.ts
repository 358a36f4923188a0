/*
 * Plans the accounts of every identity: the catch-up for what reaches grants without passing
 * through a lifecycle event or a grant by hand, such as a role gaining an entitlement or a
 * birthright rule edited. The planner compares with what was already planned, so a pass over an
 * unchanged population enqueues nothing. Runs as the `plan-accounts` job.
 */
import type { Database } from '../db/database.js';
import type { CatalogCache } from '../policy/catalog.js';
import type { AccountPlanner, PlanSummary } from './planner.js';

const PAGE = 1000;

export const PLAN_ACCOUNTS_JOB = 'plan-accounts';

export async function planAllAccounts(db: Database, planner: AccountPlanner, catalogs: CatalogCache, cause: string, now: Date): Promise<PlanSummary & { identities: number }> {
  const total = { identities: 0, enqueued: 0, cancelled: 0, byOp: {} as PlanSummary['byOp'] };
  for (let after = '';;) {
    const ids = (await db.query<{ id: string }>(`SELECT id FROM identities WHERE id > ? ORDER BY id LIMIT ${PAGE}`, [after])).map((r) => r.id);
    if (ids.length === 0) break;
    const summary = await db.transaction(async (tx) => planner.plan(tx, (await catalogs.read(tx)).catalog, ids, cause, now));
    total.identities += ids.length;
    total.enqueued += summary.enqueued;
    total.cancelled += summary.cancelled;
    for (const [op, n] of Object.entries(summary.byOp)) total.byOp[op as keyof PlanSummary['byOp']] = (total.byOp[op as keyof PlanSummary['byOp']] ?? 0) + n;
    after = ids[ids.length - 1]!;
  }
  return total;
}
