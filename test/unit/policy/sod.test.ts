import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { newEnforcer, newModelFromString } from 'casbin';
import { Catalog } from '../../../src/policy/catalog.js';
import type { CatalogDocumentInput } from '../../../src/policy/model.js';
import { SOD_MODEL_FILE, SodEvaluator, type RuleViolation } from '../../../src/policy/sod.js';
import { prng } from '../../support/prng.js';

const DOCUMENT: CatalogDocumentInput = {
  targets: [{ name: 'ldap', type: 'ldap' }, { name: 'github', type: 'github' }],
  entitlements: [
    ...['finance', 'ap-clerks', 'payment-approvers', 'vendor-master', 'treasury'].map((key) => ({ target: 'ldap', key, kind: 'group' as const })),
    { target: 'github', key: 'admin', kind: 'team' as const },
  ],
  roles: [
    { name: 'finance-reader', entitlements: ['ldap/finance'] },
    { name: 'accountant', inherits: ['finance-reader'], entitlements: ['ldap/ap-clerks'] },
    { name: 'senior-accountant', inherits: ['accountant'] },
    { name: 'payment-approver', inherits: ['finance-reader'], entitlements: ['ldap/payment-approvers'] },
    { name: 'vendor-admin', entitlements: ['ldap/vendor-master'] },
    { name: 'treasurer', entitlements: ['ldap/treasury'] },
  ],
  sodRules: [
    {
      name: 'pay-what-you-enter', severity: 'critical',
      left: { mode: 'any', items: ['role:accountant', 'ent:ldap/ap-clerks'] },
      right: { mode: 'any', items: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
    },
    {
      name: 'vendor-and-pay',
      left: { mode: 'all', items: ['ent:ldap/vendor-master', 'ent:ldap/ap-clerks'] },
      right: { mode: 'any', items: ['ent:ldap/payment-approvers', 'ent:ldap/treasury'] },
    },
    {
      name: 'treasury-needs-both',
      left: { mode: 'any', items: ['role:treasurer'] },
      right: { mode: 'all', items: ['role:vendor-admin', 'role:payment-approver'] },
    },
    {
      name: 'switched-off', enabled: false,
      left: { mode: 'any', items: ['ent:github/admin'] },
      right: { mode: 'any', items: ['role:finance-reader'] },
    },
  ],
};

const catalog = Catalog.fromDocument(DOCUMENT);
const effective = (granted: string[]) => [...catalog.expand(granted).keys()];

type Case = [name: string, granted: string[], violations: RuleViolation[]];

const PAY = 'pay-what-you-enter';
const CASES: Case[] = [
  ['nothing held', [], []],
  ['one side only', ['role:accountant'], []],
  ['any/any: a role on each side', ['role:accountant', 'role:payment-approver'],
    [{ rule: PAY, left: ['role:accountant', 'ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'] }]],
  ['any/any: entitlements on each side', ['ent:ldap/ap-clerks', 'ent:ldap/payment-approvers'],
    [{ rule: PAY, left: ['ent:ldap/ap-clerks'], right: ['ent:ldap/payment-approvers'] }]],
  ['left side reached through inheritance', ['role:senior-accountant', 'ent:ldap/payment-approvers'],
    [{ rule: PAY, left: ['role:accountant', 'ent:ldap/ap-clerks'], right: ['ent:ldap/payment-approvers'] }]],
  ['all: only part of the left side is held', ['role:vendor-admin', 'ent:ldap/treasury'], []],
  ['all: the left side completed by an entitlement a role bundles', ['role:vendor-admin', 'role:accountant', 'ent:ldap/treasury'],
    [{ rule: 'vendor-and-pay', left: ['ent:ldap/vendor-master', 'ent:ldap/ap-clerks'], right: ['ent:ldap/treasury'] }]],
  ['two rules at once, in catalogue order', ['role:vendor-admin', 'ent:ldap/ap-clerks', 'role:payment-approver'], [
    { rule: PAY, left: ['ent:ldap/ap-clerks'], right: ['role:payment-approver', 'ent:ldap/payment-approvers'] },
    { rule: 'vendor-and-pay', left: ['ent:ldap/vendor-master', 'ent:ldap/ap-clerks'], right: ['ent:ldap/payment-approvers'] },
  ]],
  ['all on the right: one of two is not enough', ['role:treasurer', 'role:vendor-admin'], []],
  ['all on the right: both held', ['role:treasurer', 'role:vendor-admin', 'role:payment-approver'],
    [{ rule: 'treasury-needs-both', left: ['role:treasurer'], right: ['role:vendor-admin', 'role:payment-approver'] }]],
  ['a disabled rule is never violated', ['ent:github/admin', 'role:finance-reader'], []],
  ['items outside every rule', ['role:finance-reader', 'ent:github/admin'], []],
];

describe('SoD evaluation (Casbin, policies/sod_model.conf)', () => {
  let evaluator: SodEvaluator;
  before(async () => {
    evaluator = await SodEvaluator.build(catalog);
  });

  for (const [name, granted, expected] of CASES) {
    it(`${expected.length > 0 ? 'violates' : 'allows'}: ${name}`, () => {
      expect(evaluator.violations(effective(granted))).to.deep.equal(expected);
    });
  }

  it('answers for one rule only when asked', () => {
    const held = effective(['role:vendor-admin', 'ent:ldap/ap-clerks', 'role:payment-approver']);
    expect(evaluator.violations(held, 'vendor-and-pay').map((v) => v.rule)).to.deep.equal(['vendor-and-pay']);
    expect(evaluator.violations(held, 'treasury-needs-both')).to.deep.equal([]);
  });

  it('counts only effective items: a granted role alone does not stand for what it gives', () => {
    // role:senior-accountant gives role:accountant, but only once expanded through the catalogue.
    expect(evaluator.violations(['role:senior-accountant', 'ent:ldap/payment-approvers'])).to.deep.equal([]);
  });

  it('is built once per catalogue and leaves disabled rules out', async () => {
    expect(await SodEvaluator.build(catalog)).to.equal(evaluator);
    expect(evaluator.ruleNames()).to.deep.equal([PAY, 'vendor-and-pay', 'treasury-needs-both']);
  });

  it('names as trigger items exactly the items that reach a left side', () => {
    expect([...evaluator.triggerItems()].sort()).to.deep.equal([
      'ent:ldap/ap-clerks', 'ent:ldap/vendor-master', 'role:accountant', 'role:senior-accountant', 'role:treasurer', 'role:vendor-admin',
    ]);
    expect([...evaluator.triggerItems('treasury-needs-both')]).to.deep.equal(['role:treasurer']);
  });

  it('finds what a plain reading of any/all finds, and agrees with one Casbin enforcer over all rules', async () => {
    // The reference: the rule semantics written out directly, and Casbin with every rule in one
    // enforcer (which can only say whether some rule matched).
    const whole = await newEnforcer(newModelFromString(readFileSync(SOD_MODEL_FILE, 'utf8')));
    await whole.addFunction('holds', (held: Set<string>, items: string, mode: string) =>
      (mode === 'all' ? items.split('|').every((i) => held.has(i)) : items.split('|').some((i) => held.has(i))));
    const enabled = [...catalog.sodRules.values()].filter((r) => r.enabled);
    await whole.addPolicies(enabled.map((r) => [r.name, r.left.items.join('|'), r.left.mode, r.right.items.join('|'), r.right.mode]));
    const items = [...catalog.roles.keys()].map((r) => `role:${r}`).concat([...catalog.entitlements.keys()]);
    const random = prng(20260315);
    for (let round = 0; round < 500; round++) {
      const granted = items.filter(() => random() < 0.25);
      const held = new Set(effective(granted));
      const side = (s: { mode: string; items: string[] }) => (s.mode === 'all' ? s.items.every((i) => held.has(i)) : s.items.some((i) => held.has(i)));
      const expected = enabled.filter((r) => side(r.left) && side(r.right)).map((r) => r.name);
      const found = evaluator.violations(held).map((v) => v.rule);
      expect(found, `granted ${granted.join(', ')}`).to.deep.equal(expected);
      expect(whole.enforceSync(held), `granted ${granted.join(', ')}`).to.equal(expected.length > 0);
    }
  });
});
