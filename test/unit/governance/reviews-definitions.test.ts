import { expect } from 'chai';
import { campaignDefinition } from '../../../src/governance/definitions.js';
import { Catalog } from '../../../src/policy/catalog.js';
import { resolveScope, targetItems } from '../../../src/governance/reviews/scope.js';
import { summarize } from '../../../src/governance/reviews/close.js';
import type { CampaignRecord } from '../../../src/governance/reviews/campaigns.js';
import { GovernanceError } from '../../../src/governance/errors.js';

/* Campaign definitions as parsed, scopes as resolved against a catalogue, and a closed campaign's summary. */
const catalog = Catalog.fromDocument({
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }],
  entitlements: [{ target: 'ldap', key: 'finance', kind: 'group' }, { target: 'github', key: 'platform', kind: 'team' }],
  roles: [
    { name: 'finance-reader', entitlements: ['ldap/finance'] },
    { name: 'senior-finance', inherits: ['finance-reader'] },
    { name: 'engineer', entitlements: ['github/platform'] },
  ],
});

describe('reviews: definitions and scopes', () => {
  it('fills in the defaults: everyone\'s non-birthright access, keep when undecided, revocations applied at once', () => {
    const parsed = campaignDefinition.parse({ stages: [{ reviewer: 'manager', durationDays: 14 }] });
    expect(parsed).to.deep.equal({ scope: {}, stages: [{ reviewer: 'manager', durationDays: 14 }], reminderDays: [], undecided: 'keep', applyImmediately: true });
    expect(resolveScope(catalog, parsed.scope)).to.deep.equal({ sources: new Set(['request', 'manual', 'review']) });
  });

  it('refuses what cannot run: no stages, four stages, a people stage naming nobody, a bad cron, unknown keys', () => {
    const stage = { reviewer: 'manager', durationDays: 1 };
    for (const bad of [
      { stages: [] }, { stages: [stage, stage, stage, stage] }, { stages: [{ reviewer: 'people', durationDays: 3 }] },
      { stages: [stage], schedule: 'every monday' }, { stages: [stage], owner: 'x' }, { stages: [{ ...stage, durationDays: 0 }] },
      { stages: [stage], undecided: 'maybe' },
    ]) expect(campaignDefinition.safeParse(bad).success, JSON.stringify(bad)).to.equal(false);
    expect(campaignDefinition.safeParse({ stages: [stage], schedule: '0 6 1 */3 *', escalationDays: 3, reminderDays: [7, 1] }).success).to.equal(true);
  });

  it('resolves role and target scopes to items, a target to the roles reaching it too', () => {
    expect(resolveScope(catalog, { role: 'finance-reader' }).items).to.deep.equal(new Set(['role:finance-reader']));
    expect(resolveScope(catalog, { role: 'role:engineer', department: 'Sales' })).to.deep.include({ department: 'sales' });
    expect(targetItems(catalog, 'ldap')).to.deep.equal(new Set(['ent:ldap/finance', 'role:finance-reader', 'role:senior-finance']));
    const both = resolveScope(catalog, { role: 'role:engineer', target: 'ldap' });
    expect(both.items).to.deep.equal(new Set());
    expect(resolveScope(catalog, { sources: ['birthright'] }).sources).to.deep.equal(new Set(['birthright']));
    expect(() => resolveScope(catalog, { role: 'role:nope' })).to.throw(GovernanceError, /not in the policy/);
    expect(() => resolveScope(catalog, { target: 'slack' })).to.throw(GovernanceError, /target slack/);
  });

  it('sums a closed campaign up: each (identity, grant) pair counted once, where it ended', () => {
    const record = {
      stage: 2, snapshot: { definition: campaignDefinition.parse({ stages: [{ reviewer: 'manager', durationDays: 1 }, { reviewer: 'manager', durationDays: 1 }, { reviewer: 'manager', durationDays: 1 }], undecided: 'keep' }) },
    } as unknown as CampaignRecord;
    // stage 0: 10 items, 7 kept (6 carried, 1 dropped), 2 revoked, 1 undecided, kept at close;
    // stage 1: 6 items, 4 kept (all carried), 1 revoked, 1 undecided kept at close; stage 2: 4 items, 3 kept, 1 revoked
    const counts = {
      items: 20, decided: 20, kept: 16, revoked: 4, undecided: 0,
      stages: [{ stage: 0, items: 10, kept: 8, revoked: 2, undecided: 0 }, { stage: 1, items: 6, kept: 5, revoked: 1, undecided: 0 }, { stage: 2, items: 4, kept: 3, revoked: 1, undecided: 0 }],
    };
    const summary = summarize(record, counts, { decidedAtClose: 2, history: [{ stage: 0, carried: 6, dropped: 1 }, { stage: 1, carried: 4, dropped: 0 }] }, { applied: 4, failed: 0 }, 'test');
    expect(summary).to.deep.include({ reviewed: 10, kept: 5, revoked: 4, open: 0, dropped: 1, decidedAtClose: 2, stagesRun: 3 });
    expect(summary.kept + summary.revoked + summary.open + summary.dropped).to.equal(summary.reviewed);
  });
});
