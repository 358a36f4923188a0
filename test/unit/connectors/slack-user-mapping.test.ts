import { expect } from 'chai';
import { SLACK_DEFAULT_CORRELATION, SLACK_DEFAULT_MAPPING, slackSettings } from '../../../connectors/slack/index.js';
import { slackErrorText } from '../../../connectors/slack/scim-api.js';
import {
  accountFromUser, attributeOperations, newUserDocument, SCIM_ENTERPRISE_SCHEMA, SCIM_USER_SCHEMA, slackUserName,
} from '../../../connectors/slack/user-mapping.js';
import { mapAttributes } from '../../../src/provisioning/attribute-mapping.js';

describe('the Slack user mapping', () => {
  it("converts a userName as Slack does: an email's local part, lower case, other characters to _", () => {
    const cases: Array<[string, string]> = [
      ['Ada.Lovelace@example.com', 'ada.lovelace'],
      ['jean-luc_picard', 'jean-luc_picard'],
      ['Zoë Ünal', 'zo___nal'],
      ["o'brien+test", 'o_brien_test'],
    ];
    for (const [given, kept] of cases) expect(slackUserName(given), given).to.equal(kept);
  });

  it('writes the SCIM structure Slack documents for a new user', () => {
    const flat = mapAttributes(SLACK_DEFAULT_MAPPING, { userName: 'Ada@x.org', givenName: 'Ada', familyName: 'Lovelace', displayName: 'Ada L', email: 'ada@x.org', extra: {} });
    expect(newUserDocument(flat, true)).to.deep.equal({
      schemas: [SCIM_USER_SCHEMA],
      userName: 'ada',
      active: true,
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      displayName: 'Ada L',
      emails: [{ value: 'ada@x.org', type: 'work', primary: true }],
    });
    expect(newUserDocument({ userName: 'a', email: 'a@x.org', employeeNumber: '42' }, false)).to.deep.include({
      schemas: [SCIM_USER_SCHEMA, SCIM_ENTERPRISE_SCHEMA],
      [SCIM_ENTERPRISE_SCHEMA]: { employeeNumber: '42' },
      active: false,
    });
  });

  it('patches each mapped attribute at its SCIM path, and nothing the identity lacks', () => {
    expect(attributeOperations({ givenName: 'Ada', email: 'ada@x.org', title: 'Countess' })).to.deep.equal([
      { op: 'replace', path: 'name.givenName', value: 'Ada' },
      { op: 'replace', path: 'title', value: 'Countess' },
      { op: 'add', path: 'emails', value: [{ value: 'ada@x.org', type: 'work', primary: true }] },
    ]);
    expect(attributeOperations({})).to.deep.equal([]);
  });

  it('reads a Slack user back flat: primary email, groups by name, sorted, inactive as disabled', () => {
    expect(accountFromUser({
      id: 'U1', userName: 'ada', active: false, displayName: '', name: { givenName: 'Ada', familyName: null },
      emails: [{ value: 'old@x.org', primary: false }, { value: 'ada@x.org', primary: true }],
      groups: [{ value: 'S2', display: 'zeta' }, { value: 'S1', display: 'alpha' }],
      [SCIM_ENTERPRISE_SCHEMA]: { employeeNumber: '7' },
    })).to.deep.equal({
      accountKey: 'U1', enabled: false, attributes: { userName: 'ada', givenName: 'Ada', email: 'ada@x.org', employeeNumber: '7' }, memberships: ['alpha', 'zeta'],
    });
  });

  it("takes Slack's error text from either error form it answers with", () => {
    expect(slackErrorText({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], detail: 'username_taken', status: 409 })).to.equal('username_taken');
    expect(slackErrorText({ Errors: { description: 'invalid_authentication', code: 401 } })).to.equal('invalid_authentication');
    expect(slackErrorText('<html>Bad Gateway</html>')).to.equal('<html>Bad Gateway</html>');
    expect(slackErrorText(undefined)).to.equal('');
  });

  it('defaults: the names and email mapped, userName then email to correlate, Slack limits', () => {
    const s = slackSettings.parse({ token: 'x' });
    expect(s).to.deep.include({ baseUrl: 'https://api.slack.com/scim/v2', writesPerMinute: 180, writeBurst: 10, pageSize: 1000 });
    expect(Object.keys(SLACK_DEFAULT_MAPPING)).to.deep.equal(['userName', 'givenName', 'familyName', 'displayName', 'email']);
    expect(SLACK_DEFAULT_CORRELATION.map((r) => r.target)).to.deep.equal(['userName', 'email']);
    expect(slackSettings.parse({ token: 'x', baseUrl: 'http://127.0.0.1:9/scim/v2/' }).baseUrl).to.equal('http://127.0.0.1:9/scim/v2');
    expect(slackSettings.safeParse({ token: 'x', correlate: [{ target: 'login', identity: 'userName' }] }).success).to.equal(false);
  });
});
