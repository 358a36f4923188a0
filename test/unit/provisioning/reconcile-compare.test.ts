import { expect } from 'chai';
import { differences, fingerprint, orphanOperations, repairOperations, shouldExist, type PlannedAccount } from '../../../src/provisioning/reconciliation/compare.js';
import type { AccountAttributes, TargetAccount } from '../../../src/provisioning/connector.js';

const attributes: AccountAttributes = { userName: 'ann', email: 'ann@example.com', extra: {} };
const planned = (over: Partial<PlannedAccount> = {}): PlannedAccount => ({ status: 'enabled', memberships: ['staff'], targetAttributes: { uid: 'ann', mail: 'ann@example.com' }, ...over });
const found = (over: Partial<TargetAccount> = {}): TargetAccount => ({ accountKey: 'k1', enabled: true, attributes: { uid: 'ann', mail: 'ann@example.com' }, memberships: ['staff'], ...over });
const target = (traits: { keepsDisabledAccounts?: boolean; deletesAccounts?: boolean } = {}) => ({
  keepsDisabledAccounts: traits.keepsDisabledAccounts ?? true,
  ...(traits.deletesAccounts !== undefined && { deletesAccounts: traits.deletesAccounts }),
});

describe('reconciliation comparison', () => {
  it('finds nothing when the account is as planned', () => {
    expect(differences(planned(), found(), target())).to.deep.equal([]);
  });

  it('names status, membership and attribute differences, and repairs them in the planner\'s order', () => {
    const diffs = differences(planned({ memberships: ['staff', 'vpn'] }), found({ enabled: false, memberships: ['staff', 'finance'], attributes: { uid: 'ann', mail: 'old@example.com' } }), target());
    expect(diffs).to.deep.equal([
      { what: 'status', expected: 'enabled', actual: 'disabled' },
      { what: 'memberships', missing: ['vpn'], extra: ['finance'] },
      { what: 'attribute', name: 'mail', expected: 'ann@example.com', actual: 'old@example.com' },
    ]);
    expect(repairOperations(planned({ memberships: ['staff', 'vpn'] }), attributes, diffs).map((o) => o.op + ('entitlement' in o ? ` ${o.entitlement}` : ''))).to.deep.equal([
      'update', 'enable', 'remove-membership finance', 'add-membership vpn',
    ]);
  });

  it('does not compare an attribute the target does not read back', () => {
    expect(differences(planned(), found({ attributes: { uid: 'ann' } }), target())).to.deep.equal([]);
  });

  it('expects a planned-disabled account to be absent on a target without a disabled state', () => {
    const plan = planned({ status: 'disabled', memberships: [] });
    expect(shouldExist(plan, target({ keepsDisabledAccounts: false }))).to.equal(false);
    const diffs = differences(plan, found({ memberships: [] }), target({ keepsDisabledAccounts: false }));
    expect(diffs).to.deep.equal([{ what: 'status', expected: 'absent', actual: 'enabled' }]);
    expect(repairOperations(plan, attributes, diffs)).to.deep.equal([{ op: 'disable' }]);
  });

  it('accepts a deactivated account where delete can only deactivate, and deletes again an active one', () => {
    const plan = planned({ status: 'deleted', memberships: [] });
    const slack = target({ deletesAccounts: false });
    expect(shouldExist(plan, slack)).to.equal(true);
    expect(differences(plan, found({ enabled: false, memberships: [] }), slack)).to.deep.equal([]);
    const diffs = differences(plan, found({ enabled: true, memberships: [] }), slack);
    expect(diffs).to.deep.equal([{ what: 'status', expected: 'disabled', actual: 'enabled' }]);
    expect(repairOperations(plan, attributes, diffs)).to.deep.equal([{ op: 'delete' }]);
    // Where delete deletes, the account should be gone.
    expect(differences(plan, found({ enabled: false, memberships: [] }), target())).to.deep.equal([{ what: 'status', expected: 'absent', actual: 'disabled' }]);
  });

  it('treats a pending invitation as enabled', () => {
    expect(differences(planned(), found({ enabled: true, pending: true }), target())).to.deep.equal([]);
  });

  it('switches orphans off: disabled and emptied, or only disabled where that removes the account', () => {
    expect(orphanOperations(found({ memberships: ['a', 'b'] }), target())).to.deep.equal([
      { op: 'disable' }, { op: 'remove-membership', entitlement: 'a' }, { op: 'remove-membership', entitlement: 'b' }]);
    expect(orphanOperations(found({ enabled: false, memberships: [] }), target())).to.deep.equal([]);
    expect(orphanOperations(found(), target({ keepsDisabledAccounts: false }))).to.deep.equal([{ op: 'disable' }]);
  });

  it('fingerprints attributes without case, only the names asked for, and memberships', () => {
    const base = fingerprint({ uid: 'ann', mail: 'Ann@Example.com' }, ['staff']);
    expect(fingerprint({ mail: 'ann@example.com', uid: 'ANN' }, ['staff'])).to.equal(base);
    expect(fingerprint({ uid: 'ann', mail: 'ann@example.com', title: 'x' }, ['staff'], new Set(['uid', 'mail']))).to.equal(base);
    expect(fingerprint({ uid: 'ann', mail: 'ann@example.org' }, ['staff'])).to.not.equal(base);
    expect(fingerprint({ uid: 'ann', mail: 'ann@example.com' }, ['staff', 'vpn'])).to.not.equal(base);
    expect(fingerprint({ uid: 'ann' }, ['staff'])).to.not.equal(base);
    expect(Number.isSafeInteger(base)).to.equal(true);
  });
});
