import { expect } from 'chai';
import { newEnforcer, newModelFromString } from 'casbin';
import { ACCESS_MODEL, MAX_HIERARCHY_DEPTH } from '../../../src/policy/access-index.js';
import { Catalog, HOLD_ACTION } from '../../../src/policy/catalog.js';
import { PolicyError, type CatalogDocumentInput } from '../../../src/policy/model.js';

const DOC: CatalogDocumentInput = {
  targets: [{ name: 'slack', type: 'slack' }],
  entitlements: ['a.b', 'c++', 'plain'].map((key) => ({ target: 'slack', key, kind: 'usergroup' as const })),
  roles: [{ name: 'team.lead', entitlements: ['slack/a.b', 'slack/c++'] }],
};

describe('Catalog', () => {
  it('lets holding an item answer "hold" for exactly that name, even with . and + in it, as Casbin does', async () => {
    const catalog = Catalog.fromDocument(DOC);
    const policy = catalog.accessPolicy();
    const enforcer = await newEnforcer(newModelFromString(ACCESS_MODEL));
    await enforcer.addGroupingPolicies([...policy.roleLinks, ['alice', 'role:team.lead']]);
    await enforcer.addPolicies(policy.permissions);
    const questions: Array<[string, boolean]> = [
      ['ent:slack/a.b', true], ['ent:slack/aXb', false], ['ent:slack/c++', true], ['ent:slack/cc', false],
      ['role:team.lead', true], ['role:teamXlead', false], ['ent:slack/plain', false],
    ];
    for (const [object, expected] of questions) {
      expect(catalog.accessIndex().decideFor('alice', ['role:team.lead'], object, HOLD_ACTION).allowed, object).to.equal(expected);
      expect(enforcer.enforceSync('alice', object, HOLD_ACTION), `Casbin on ${object}`).to.equal(expected);
    }
  });

  it(`refuses role inheritance deeper than decisions follow (${MAX_HIERARCHY_DEPTH} links), and accepts one level less`, () => {
    const chain = (levels: number): CatalogDocumentInput => ({
      roles: Array.from({ length: levels }, (_, i) => ({ name: `r${i}`, inherits: i === 0 ? [] : [`r${i - 1}`] })),
    });
    expect(() => Catalog.fromDocument(chain(MAX_HIERARCHY_DEPTH - 1))).not.to.throw();
    expect(() => Catalog.fromDocument(chain(MAX_HIERARCHY_DEPTH))).to.throw(PolicyError, /role inheritance deeper than 9 levels is refused/);
  });
});
