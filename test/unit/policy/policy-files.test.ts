import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { newEnforcer, newModelFromString } from 'casbin';
import { AccessIndex, ACCESS_MODEL } from '../../../src/policy/access-index.js';
import { Catalog } from '../../../src/policy/catalog.js';
import { PolicyError, type CatalogDocumentInput } from '../../../src/policy/model.js';
import { installPath } from '../../../src/config/paths.js';

const read = (file: string) => readFileSync(installPath(file), 'utf8');
const seed = () => JSON.parse(read('policies/catalog.json')) as CatalogDocumentInput & Required<Pick<CatalogDocumentInput, 'roles' | 'sodRules'>>;

describe('policies/ files', () => {
  it('access_model.conf is the model the access index implements', () => {
    // build() refuses any model whose sections differ from ACCESS_MODEL.
    expect(() => AccessIndex.build({ roleLinks: [], permissions: [] }, read('policies/access_model.conf'))).not.to.throw();
    expect(() => AccessIndex.build({ roleLinks: [], permissions: [] }, read('policies/access_model.conf').replace('keyMatch2(r.obj', 'keyMatch(r.obj'))).to.throw(/differs/);
  });

  it('catalog.json is a valid policy with a three-level role hierarchy', () => {
    const catalog = Catalog.fromDocument(seed());
    const depth = (role: string): number => {
      const parents = catalog.roles.get(role)!.inherits;
      return 1 + Math.max(0, ...parents.map(depth));
    };
    expect(Math.max(...[...catalog.roles.keys()].map(depth))).to.equal(3);
    expect(catalog.birthrightRules.size).to.be.greaterThan(5);
    expect([...catalog.birthrightRules.values()].some((r) => r.effect === 'deny')).to.equal(true);
    expect([...catalog.sodRules.values()].map((r) => r.left.mode)).to.include.members(['any', 'all']);
  });

  it('catalog.json answers like Casbin itself through the role hierarchy', async () => {
    const catalog = Catalog.fromDocument(seed());
    const policy = catalog.accessPolicy();
    const enforcer = await newEnforcer(newModelFromString(ACCESS_MODEL));
    await enforcer.addGroupingPolicies([...policy.roleLinks, ['alice', 'role:sre'], ['bob', 'role:accountant']]);
    await enforcer.addPolicies(policy.permissions);
    const index = catalog.accessIndex();
    const questions: Array<[string, string[], string, string]> = [
      ['alice', ['role:sre'], '/deploy/prod', 'write'],
      ['alice', ['role:sre'], '/repos/api', 'read'],
      ['alice', ['role:sre'], '/repos/api', 'write'],
      ['alice', ['role:sre'], '/intranet/news', 'read'],
      ['alice', ['role:sre'], 'ent:slack/account', 'hold'],
      ['alice', ['role:sre'], 'ent:ldap/finance', 'hold'],
      ['bob', ['role:accountant'], '/finance/invoices/42', 'write'],
      ['bob', ['role:accountant'], '/finance/payments/42', 'approve'],
      ['bob', ['role:accountant'], 'role:finance-reader', 'hold'],
    ];
    for (const [subject, direct, object, action] of questions) {
      const expected = enforcer.enforceSync(subject, object, action);
      const viaLinks = AccessIndex.build({ roleLinks: [...policy.roleLinks, ...direct.map((d) => [subject, d] as [string, string])], permissions: policy.permissions });
      expect(viaLinks.decide(subject, object, action).allowed, `${subject} ${action} ${object}`).to.equal(expected);
      expect(index.decide(subject, object, action).allowed).to.equal(false);
    }
  });

  it('refuses a catalogue whose roles inherit in a cycle, naming it', () => {
    const doc = seed();
    doc.roles.find((r) => r.name === 'workforce')!.inherits = ['senior-engineer'];
    expect(() => Catalog.fromDocument(doc)).to.throw(PolicyError, /cyclic role inheritance: role:\S+ -> .*role:workforce/);
  });

  it('refuses dangling references, each one named', () => {
    const doc = seed();
    doc.roles[0]!.entitlements = ['ldap/nope'];
    doc.sodRules[0]!.left.items = ['role:ghost'];
    const err = (() => { try { Catalog.fromDocument(doc); } catch (e) { return e as PolicyError; } throw new Error('accepted'); })();
    expect(err.kind).to.equal('invalid');
    expect(err.message).to.contain('bundles unknown entitlement ldap/nope').and.to.contain('names unknown item role:ghost');
  });
});
