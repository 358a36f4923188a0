import { expect } from 'chai';
import { PLANNER_CATALOG } from '../../support/outbox-fixtures.js';
import { accountAttributes, targetsHeld } from '../../../src/provisioning/planner.js';
import { attributesJson } from '../../../src/provisioning/operations.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

describe('what the planner wants for an identity', () => {
  const catalog = PLANNER_CATALOG;


  it('reaches targets through roles and inheritance; memberships leave out the account entitlement', () => {
    expect(Object.fromEntries(targetsHeld(catalog, ['role:engineer', 'ent:github/api']))).to.deep.equal({
      github: ['api', 'platform'], slack: [], ldap: ['staff'],
    });
    expect(targetsHeld(catalog, []).size).to.equal(0);
    // A role that is gone from the policy reaches nothing.
    expect(targetsHeld(catalog, ['role:deleted']).size).to.equal(0);
  });

  it('takes attributes from the SCIM document and HR extras, with the same JSON for the same values', () => {
    const doc = {
      userName: 'ada@example.com', externalId: 'E-7', displayName: 'Ada L',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: 'old@example.com' }, { value: 'ada@example.com', primary: true }],
      [ENTERPRISE]: { employeeNumber: 'E-0007' },
    };
    const attrs = accountAttributes(doc, { z: '1', githubLogin: 'ada' });
    expect(attrs).to.deep.equal({
      userName: 'ada@example.com', givenName: 'Ada', familyName: 'Lovelace', displayName: 'Ada L', email: 'ada@example.com',
      employeeId: 'E-0007', extra: { githubLogin: 'ada', z: '1' },
    });
    expect(attributesJson(accountAttributes(doc, { githubLogin: 'ada', z: '1' }))).to.equal(attributesJson(attrs));
    // No employeeNumber: externalId; no primary email: the first.
    const plain = accountAttributes({ userName: 'b', externalId: 'X1', emails: [{ value: 'b@x' }] });
    expect(plain).to.deep.equal({ userName: 'b', email: 'b@x', employeeId: 'X1', extra: {} });
  });
});
