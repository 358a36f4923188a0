/*
 * What reconciliation compares, for one account: the state planned for it (accounts.planned_*,
 * what the outbox has been told to make true) against what the target reports, and the
 * operations that take the target from what it has to what was planned. Pure functions, so the
 * rules are testable without a target or a database.
 */
import type { AccountAttributes, Connector, Operation, TargetAccount } from '../connector.js';
import { hash53 } from '../hash53.js';

/** An account as planned, read from the accounts table. */
export interface PlannedAccount {
  status: 'enabled' | 'disabled' | 'deleted';
  memberships: string[];
  /** the planned attributes as the target names them: Connector.targetAttributes of accounts.planned_attributes */
  targetAttributes: Record<string, string>;
}

/** One way an account differs from its plan. */
export type Difference =
  | { what: 'status'; expected: 'enabled' | 'disabled' | 'absent'; actual: 'enabled' | 'disabled' | 'pending' }
  | { what: 'memberships'; missing: string[]; extra: string[] }
  | { what: 'attribute'; name: string; expected: string; actual: string }
  /** matched by correlation, not by the key the plan knew (renamed, or made by hand): the key is taken over */
  | { what: 'key'; expected: string | null; actual: string };

type TargetTraits = Pick<Connector, 'keepsDisabledAccounts' | 'deletesAccounts'>;

/**
 * The status the target can show for a planned status: a deletion on a target that can only
 * deactivate (Slack) leaves a disabled account.
 */
function reachable(status: PlannedAccount['status'], connector: TargetTraits): PlannedAccount['status'] {
  return status === 'deleted' && connector.deletesAccounts === false ? 'disabled' : status;
}

/** Whether the plan wants the account to exist on the target at all. */
export function shouldExist(planned: Pick<PlannedAccount, 'status'>, connector: TargetTraits): boolean {
  const status = reachable(planned.status, connector);
  return status === 'enabled' || (status === 'disabled' && connector.keepsDisabledAccounts);
}

/**
 * A 53-bit fingerprint of attributes (without case, `names` only when given) and memberships.
 * Reconciliation keeps this, not the planned values, for each of up to 100,000 planned accounts,
 * and compares the values themselves only for accounts whose fingerprints differ.
 */
export function fingerprint(attributes: Readonly<Record<string, string>>, memberships: readonly string[], names?: ReadonlySet<string>): number {
  let text = '';
  for (const name of Object.keys(attributes).sort()) {
    if (!names || names.has(name)) text += `${name}\u001f${attributes[name]!.toLowerCase()}\u001e`;
  }
  text += `\u001d${memberships.join('\u001f')}`;
  return hash53(text);
}

/** The status difference alone, when there is one (see differences). */
export function statusDifference(planned: Pick<PlannedAccount, 'status'>, observed: TargetAccount, connector: TargetTraits): Extract<Difference, { what: 'status' }> | undefined {
  const actual = observed.pending ? 'pending' : observed.enabled ? 'enabled' : 'disabled';
  if (!shouldExist(planned, connector)) return { what: 'status', expected: 'absent', actual };
  const expected = reachable(planned.status, connector) as 'enabled' | 'disabled';
  // An invitation not yet accepted is as enabled as the target lets it be.
  return expected === (observed.enabled || observed.pending ? 'enabled' : 'disabled') ? undefined : { what: 'status', expected, actual };
}

/**
 * How the account on the target differs from its plan. Attributes are compared for the target
 * attributes the plan maps to and the target reported: an attribute a target does not read back
 * (GitHub shows no member's email) cannot drift. Values are compared without case, as LDAP's
 * matching rules for names and mail, GitHub logins and Slack user names all do.
 */
export function differences(planned: PlannedAccount, observed: TargetAccount, connector: TargetTraits): Difference[] {
  const status = statusDifference(planned, observed, connector);
  if (status?.expected === 'absent') return [status];
  const out: Difference[] = status ? [status] : [];
  const have = new Set(observed.memberships);
  const want = new Set(planned.memberships);
  const missing = planned.memberships.filter((m) => !have.has(m));
  const extra = observed.memberships.filter((m) => !want.has(m));
  if (missing.length > 0 || extra.length > 0) out.push({ what: 'memberships', missing, extra });
  for (const [name, expected] of Object.entries(planned.targetAttributes)) {
    const value = observed.attributes[name];
    if (value !== undefined && value.toLowerCase() !== expected.toLowerCase()) out.push({ what: 'attribute', name, expected, actual: value });
  }
  return out;
}

/**
 * The operations that repair an account that drifted, in the order the planner would run them:
 * attributes and enable first, disable before removing memberships, a deletion last.
 * `attributes`: the planned attributes an update sends.
 */
export function repairOperations(planned: Pick<PlannedAccount, 'status'>, attributes: AccountAttributes, diffs: readonly Difference[]): Operation[] {
  const ops: Operation[] = [];
  const status = diffs.find((d) => d.what === 'status');
  const memberships = diffs.find((d) => d.what === 'memberships');
  if (status?.expected === 'absent') {
    ops.push(planned.status === 'deleted' ? { op: 'delete' } : { op: 'disable' });
    return ops;
  }
  if (diffs.some((d) => d.what === 'attribute')) ops.push({ op: 'update', attributes });
  if (status?.expected === 'enabled') ops.push({ op: 'enable' });
  // A deletion the target turned into a deactivation is repaired by deleting again.
  if (status?.expected === 'disabled') ops.push(planned.status === 'deleted' ? { op: 'delete' } : { op: 'disable' });
  for (const entitlement of memberships?.extra ?? []) ops.push({ op: 'remove-membership', entitlement });
  for (const entitlement of memberships?.missing ?? []) ops.push({ op: 'add-membership', entitlement });
  return ops;
}

/** The operation that makes a missing account as planned. */
export function createOperation(planned: Pick<PlannedAccount, 'status' | 'memberships'>, attributes: AccountAttributes): Operation {
  return { op: 'create', attributes, enabled: planned.status === 'enabled', memberships: planned.memberships };
}

/**
 * The operations that switch off an orphan account: disabled, then emptied of its memberships.
 * On a target without a disabled state, disabling removes the account and its memberships with it.
 */
export function orphanOperations(observed: TargetAccount, connector: Pick<Connector, 'keepsDisabledAccounts'>): Operation[] {
  if (!connector.keepsDisabledAccounts) return [{ op: 'disable' }];
  const ops: Operation[] = [];
  if (observed.enabled || observed.pending) ops.push({ op: 'disable' });
  for (const entitlement of observed.memberships) ops.push({ op: 'remove-membership', entitlement });
  return ops;
}
