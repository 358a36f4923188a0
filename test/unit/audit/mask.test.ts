import { expect } from 'chai';
import { maskSecrets } from '../../../src/audit/mask.js';

describe('maskSecrets', () => {
  const cases: Array<[string, unknown, unknown]> = [
    ['top-level password', { userName: 'a', password: 'p' }, { userName: 'a', password: '[masked]' }],
    ['nested token and secret', { a: { token: 't', clientSecret: 's', keep: 1 } }, { a: { token: '[masked]', clientSecret: '[masked]', keep: 1 } }],
    ['inside arrays', [{ apiKey: 'k' }, { api_key: 'k' }, { other: 'v' }], [{ apiKey: '[masked]' }, { api_key: '[masked]' }, { other: 'v' }]],
    ['authorization header', { headers: { Authorization: 'Bearer x' } }, { headers: { Authorization: '[masked]' } }],
    ['plain values untouched', 'password', 'password'],
    ['null untouched', null, null],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => expect(maskSecrets(input)).to.deep.equal(expected));
  }

  it('does not modify its input', () => {
    const input = { password: 'p' };
    maskSecrets(input);
    expect(input.password).to.equal('p');
  });
});
