import { expect } from 'chai';
import { Catalog } from '../../../src/policy/catalog.js';
import { type ChainLink } from '../../../src/governance/people.js';
import { targetsOf } from '../../../src/policy/catalog.js';
import { ReviewerResolver, upTheChain } from '../../../src/governance/reviews/reviewers.js';
import type { ReviewStage } from '../../../src/governance/definitions.js';

/*
 * Who reviews what, decided in memory: each reviewer kind, nobody reviewing themselves, and the
 * fallbacks (manager, starter, unassigned), table-driven.
 */
const catalog = Catalog.fromDocument({
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }],
  entitlements: [{ target: 'ldap', key: 'finance', kind: 'group' }, { target: 'github', key: 'platform', kind: 'team' }, { target: 'ldap', key: 'staff', kind: 'group' }],
  roles: [
    { name: 'finance-reader', owner: 'owner@x', entitlements: ['ldap/finance'] },
    { name: 'engineer', entitlements: ['github/platform', 'ldap/staff'] },
    { name: 'orphan', owner: 'gone@x', entitlements: ['ldap/staff'] },
  ],
});

// alice -> manager -> boss; owner -> boss; solo has no manager; gone is not active (absent)
const managers = new Map<string, string | null>([
  ['alice', 'manager'], ['manager', 'boss'], ['boss', null], ['owner', 'boss'], ['solo', null], ['starter', null], ['pat', 'boss'], ['kim', 'boss'],
  ['self-managed', 'self-managed'], ['left-behind', 'gone'],
]);
const people = new Map([['owner@x', 'owner'], ['pat@x', 'pat'], ['kim@x', 'kim'], ['gh@x', 'pat'], ['ldap@x', 'kim']]);
const targetOwners = { github: 'gh@x', ldap: 'ldap@x' };

const resolver = (stage: ReviewStage, starterId: string | null = null, scopeTarget?: string) =>
  new ReviewerResolver(stage, { catalog, managers, people, targetOwners, starterId, ...(scopeTarget !== undefined && { scopeTarget }) });

describe('reviews: who reviews an item', () => {
  const cases: Array<[string, ReviewStage, string | null, string, string, string, string]> = [
    // title, stage, starter, identity, item, reviewer, reason
    ['manager', { reviewer: 'manager', durationDays: 1 }, null, 'alice', 'role:engineer', 'manager', 'manager'],
    ['no manager: the starter', { reviewer: 'manager', durationDays: 1 }, 'starter', 'solo', 'role:engineer', 'starter', 'starter'],
    ['no manager, no starter: unassigned', { reviewer: 'manager', durationDays: 1 }, null, 'solo', 'role:engineer', '', 'unassigned'],
    ['a manager who left counts as none', { reviewer: 'manager', durationDays: 1 }, null, 'left-behind', 'role:engineer', '', 'unassigned'],
    ['managing oneself is no review', { reviewer: 'manager', durationDays: 1 }, 'starter', 'self-managed', 'role:engineer', 'starter', 'starter'],
    ['the starter never reviews themselves', { reviewer: 'manager', durationDays: 1 }, 'solo', 'solo', 'role:engineer', '', 'unassigned'],
    ['role owner', { reviewer: 'role-owner', durationDays: 1 }, null, 'alice', 'role:finance-reader', 'owner', 'role-owner'],
    ['role owner of own access: their manager', { reviewer: 'role-owner', durationDays: 1 }, null, 'owner', 'role:finance-reader', 'boss', 'self-manager'],
    ['an entitlement has no role owner: the manager', { reviewer: 'role-owner', durationDays: 1 }, null, 'alice', 'ent:ldap/finance', 'manager', 'manager'],
    ['a role without owner: the manager', { reviewer: 'role-owner', durationDays: 1 }, null, 'alice', 'role:engineer', 'manager', 'manager'],
    ['an owner who left: the manager', { reviewer: 'role-owner', durationDays: 1 }, null, 'alice', 'role:orphan', 'manager', 'manager'],
    ['target owner of an entitlement', { reviewer: 'target-owner', durationDays: 1 }, null, 'alice', 'ent:ldap/finance', 'kim', 'target-owner'],
    ['target owner of a role: its first target', { reviewer: 'target-owner', durationDays: 1 }, null, 'alice', 'role:engineer', 'pat', 'target-owner'],
    ['target owner of own access: their manager', { reviewer: 'target-owner', durationDays: 1 }, null, 'pat', 'ent:github/platform', 'boss', 'self-manager'],
    ['people: the first named', { reviewer: 'people', people: ['pat@x', 'kim@x'], durationDays: 1 }, null, 'alice', 'role:engineer', 'pat', 'people'],
    ['people: the next named when the first is the identity', { reviewer: 'people', people: ['pat@x', 'kim@x'], durationDays: 1 }, null, 'pat', 'role:engineer', 'kim', 'people'],
    ['people: only the identity named: their manager', { reviewer: 'people', people: ['pat@x'], durationDays: 1 }, null, 'pat', 'role:engineer', 'boss', 'self-manager'],
  ];
  for (const [title, stage, starter, identity, item, reviewer, reason] of cases) {
    it(title, () => {
      expect(resolver(stage, starter).resolve(identity, item)).to.deep.equal({ reviewerId: reviewer, reason });
    });
  }

  it('asks the scope target\'s owner first about a role reaching several targets', () => {
    const stage: ReviewStage = { reviewer: 'target-owner', durationDays: 1 };
    expect(targetsOf(catalog, 'role:engineer')).to.deep.equal(['github', 'ldap']);
    expect(resolver(stage, null, 'ldap').resolve('alice', 'role:engineer')).to.deep.equal({ reviewerId: 'kim', reason: 'target-owner' });
  });

  it('walks up a leaver\'s chain past other leavers, the inactive and the identity under review', () => {
    const chains = new Map<string, ChainLink>([
      ['leaver', { managerId: 'm1', active: false }], ['m1', { managerId: 'm2', active: true }], ['m2', { managerId: 'm3', active: false }],
      ['m3', { managerId: 'm4', active: true }], ['m4', { managerId: null, active: true }],
    ]);
    expect(upTheChain(chains, 'leaver', 'x')).to.equal('m1');
    expect(upTheChain(chains, 'leaver', 'x', new Set(['m1']))).to.equal('m3');
    expect(upTheChain(chains, 'leaver', 'm3', new Set(['m1']))).to.equal('m4');
    expect(upTheChain(chains, 'm4', 'x')).to.equal(undefined);
  });
});
