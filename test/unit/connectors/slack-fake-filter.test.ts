import { expect } from 'chai';
import { ScimError } from '../../support/slack-fake/errors.js';
import { parseFilter } from '../../support/slack-fake/filter.js';

const user = { username: ['carly'], email: ['carly@example.com', 'c.rae@example.org'] };
const matches = (text: string) => parseFilter(text, ['username', 'email'])((a) => user[a as keyof typeof user] ?? []);

function refusal(text: string): string {
  try {
    parseFilter(text, ['username', 'email']);
  } catch (err) {
    expect(err).to.be.instanceOf(ScimError);
    return (err as ScimError).detail;
  }
  throw new Error(`${text} was accepted`);
}

describe('the fake Slack filter parser', () => {
  it('reads filters as Slack documents them: names, operators and values without case', () => {
    const table: Array<[string, boolean]> = [
      ['userName Eq "Carly"', true],
      ['username eq "carly"', true],
      ['email eq "C.RAE@example.org"', true],
      ['email sw "nobody"', false],
      ['userName eq "x" or email co "example.org"', true],
      ['userName eq "carly" and (email eq "x" or email ew ".com")', true],
      ['userName eq "carly" and email eq "x" or userName eq "y"', false],
      ['userName pr', true],
      ['userName eq "a \\"quoted\\" name"', false],
    ];
    for (const [text, expected] of table) expect(matches(text), text).to.equal(expected);
  });

  it('refuses what is not a filter, with the error code Slack lists', () => {
    expect(refusal('')).to.equal('no_filters');
    expect(refusal('userName eq carly')).to.equal('invalid_query');
    expect(refusal('title eq "x"')).to.equal('invalid_query');
    expect(refusal('userName like "x"')).to.equal('invalid_query');
    expect(refusal('userName eq "x" and')).to.equal('incomplete_filter');
    expect(refusal('(userName eq "x"')).to.equal('invalid_filter_group');
    expect(refusal('userName eq "unterminated')).to.equal('incomplete_filter');
  });
});
