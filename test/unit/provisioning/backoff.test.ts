import { expect } from 'chai';
import { backoffDelay, RateLimiter, retryDelay } from '../../../src/provisioning/backoff.js';

const options = { backoffBaseMs: 1000, backoffMaxMs: 60_000 };

describe('outbox backoff and rate limits', () => {
  it('backs off exponentially with full jitter, capped at the maximum', () => {
    // random() just below 1 gives the ceiling of each attempt's window.
    const top = () => 0.999999;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => Math.round(backoffDelay(a, options, top) / 1000))).to.deep.equal([1, 2, 4, 8, 16, 32, 60, 60]);
    expect(backoffDelay(5, options, () => 0)).to.equal(0);
    expect(backoffDelay(3, options, () => 0.5)).to.equal(2000);
  });

  it('spreads retries over the whole window', () => {
    const delays = Array.from({ length: 2000 }, () => backoffDelay(4, options));
    expect(Math.min(...delays)).to.be.below(800);
    expect(Math.max(...delays)).to.be.above(7200).and.below(8000);
  });

  it('never retries sooner than Retry-After', () => {
    expect(retryDelay(1, options, 30_000, () => 0.999)).to.equal(30_000);
    expect(retryDelay(7, options, 5_000, () => 0.999)).to.be.above(50_000);
    expect(retryDelay(2, options, undefined, () => 0.5)).to.equal(1000);
  });

  it('starts at most ratePerSecond operations per second, with one second of burst', () => {
    let now = 0;
    const limiter = new RateLimiter(10, () => now);
    expect(limiter.available(50)).to.equal(10);
    limiter.take(10);
    expect(limiter.available(50)).to.equal(0);
    expect(limiter.msUntilNext()).to.equal(100);
    now += 250;
    expect(limiter.available(50)).to.equal(2);
    now += 10_000;
    expect(limiter.available(50)).to.equal(10);
  });

  it('allows a rate below one per second, and 0 means unlimited', () => {
    let now = 0;
    const slow = new RateLimiter(0.5, () => now);
    expect(slow.available(5)).to.equal(1);
    slow.take(1);
    expect(slow.available(5)).to.equal(0);
    expect(slow.msUntilNext()).to.equal(2000);
    now += 2000;
    expect(slow.available(5)).to.equal(1);
    const unlimited = new RateLimiter(0, () => now);
    unlimited.take(1000);
    expect(unlimited.available(1000)).to.equal(1000);
    expect(unlimited.msUntilNext()).to.equal(0);
  });
});
