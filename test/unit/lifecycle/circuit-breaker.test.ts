import { expect } from 'chai';
import { breakerDecision, type BreakerInput } from '../../../src/lifecycle/circuit-breaker.js';

describe('lifecycle/circuit-breaker', () => {
  const cases: Array<{ name: string; input: BreakerInput; threshold: number; held: boolean }> = [
    { name: 'a first import (no active identities) with no leavers', input: { leavers: 0, activeIdentities: 0 }, threshold: 0, held: false },
    { name: 'a first import cannot trip it even with leavers (pending ones withdrawn)', input: { leavers: 5, activeIdentities: 0 }, threshold: 0, held: false },
    { name: 'rounding down: 5% of 19 is 0, so one leaver holds', input: { leavers: 1, activeIdentities: 19 }, threshold: 0, held: true },
    { name: 'no leavers never holds, even at threshold 0', input: { leavers: 0, activeIdentities: 19 }, threshold: 0, held: false },
    { name: '5% of 20 is 1: one leaver passes', input: { leavers: 1, activeIdentities: 20 }, threshold: 1, held: false },
    { name: '5% of 20 is 1: two leavers hold', input: { leavers: 2, activeIdentities: 20 }, threshold: 1, held: true },
    { name: 'exactly the threshold passes', input: { leavers: 5, activeIdentities: 100 }, threshold: 5, held: false },
    { name: 'one over the threshold holds', input: { leavers: 6, activeIdentities: 100 }, threshold: 5, held: true },
    { name: 'floor(499.95) = 499: 499 pass', input: { leavers: 499, activeIdentities: 9_999 }, threshold: 499, held: false },
    { name: 'floor(499.95) = 499: 500 hold', input: { leavers: 500, activeIdentities: 9_999 }, threshold: 499, held: true },
    { name: 'the absolute cap wins when smaller: 500 of 20,000 pass', input: { leavers: 500, activeIdentities: 20_000 }, threshold: 500, held: false },
    { name: 'the absolute cap wins when smaller: 501 of 20,000 hold', input: { leavers: 501, activeIdentities: 20_000 }, threshold: 500, held: true },
    { name: 'a fractional percentage without floating-point loss (0.57% of 10,000 = 57)', input: { leavers: 57, activeIdentities: 10_000, percent: 0.57 }, threshold: 57, held: false },
    { name: 'a configured absolute', input: { leavers: 4, activeIdentities: 100, percent: 10, absolute: 3 }, threshold: 3, held: true },
    { name: 'a configured percentage', input: { leavers: 20, activeIdentities: 100, percent: 20 }, threshold: 20, held: false },
    { name: 'percent 0 holds any leaver', input: { leavers: 1, activeIdentities: 1_000, percent: 0 }, threshold: 0, held: true },
    { name: 'absolute 0 holds any leaver', input: { leavers: 1, activeIdentities: 1_000, absolute: 0 }, threshold: 0, held: true },
    { name: '100% lets everyone leave', input: { leavers: 10, activeIdentities: 10, percent: 100 }, threshold: 10, held: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decision = breakerDecision(c.input);
      expect(decision).to.include({ threshold: c.threshold, held: c.held, leavers: c.input.leavers });
      expect(decision.reason).to.be.a('string').and.not.empty;
    });
  }

  it('says why it held, with the numbers', () => {
    const { reason } = breakerDecision({ leavers: 6, activeIdentities: 100 });
    expect(reason).to.contain('6 leavers').and.contain('threshold of 5').and.contain('5% of 100');
  });

  it('says a first import is not held because nothing is active', () => {
    expect(breakerDecision({ leavers: 3, activeIdentities: 0 }).reason).to.contain('no active identities');
  });

  const invalid: Array<[string, BreakerInput]> = [
    ['negative leavers', { leavers: -1, activeIdentities: 10 }],
    ['fractional active identities', { leavers: 1, activeIdentities: 10.5 }],
    ['a percentage over 100', { leavers: 1, activeIdentities: 10, percent: 150 }],
    ['a negative absolute', { leavers: 1, activeIdentities: 10, absolute: -5 }],
  ];
  for (const [name, input] of invalid) {
    it(`refuses ${name}`, () => {
      expect(() => breakerDecision(input)).to.throw();
    });
  }
});
