import { expect } from 'chai';
import { WriteLimiter, type LimiterClock } from '../../../connectors/slack/write-limiter.js';

/** A clock that moves only when told to, and records what the limiter waited for. */
function manualClock(): LimiterClock & { at: number; slept: number[] } {
  const clock = {
    at: 1_000_000,
    slept: [] as number[],
    now: () => clock.at,
    sleep: async (ms: number) => {
      clock.slept.push(ms);
    },
  };
  return clock;
}

describe('the Slack write limiter', () => {
  it('lets a burst through at once, then one write per interval', () => {
    const limiter = new WriteLimiter(60, 3, manualClock());
    expect(Array.from({ length: 6 }, () => limiter.reserve())).to.deep.equal([0, 0, 0, 1000, 2000, 3000]);
  });

  it('refills with time, never beyond the burst', () => {
    const clock = manualClock();
    const limiter = new WriteLimiter(120, 2, clock);
    expect([limiter.reserve(), limiter.reserve(), limiter.reserve()]).to.deep.equal([0, 0, 500]);
    clock.at += 60_000;
    // A minute idle earns the burst back, not 120 writes at once.
    expect([limiter.reserve(), limiter.reserve(), limiter.reserve()]).to.deep.equal([0, 0, 500]);
  });

  it('admits no more than the burst plus the rate over any window, whatever the arrival pattern', () => {
    const clock = manualClock();
    const perMinute = 180;
    const burst = 10;
    const limiter = new WriteLimiter(perMinute, burst, clock);
    const sent: number[] = [];
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      clock.at += seed % 400;
      sent.push(clock.at + limiter.reserve());
    }
    sent.sort((a, b) => a - b);
    for (let i = 0; i < sent.length; i++) {
      const windowEnd = sent[i]! + 60_000;
      let j = i;
      while (j < sent.length && sent[j]! < windowEnd) j++;
      expect(j - i).to.be.at.most(perMinute + burst);
    }
  });

  it('waits, rounded up to whole milliseconds, instead of refusing', async () => {
    const clock = manualClock();
    const limiter = new WriteLimiter(7, 1, clock);
    await limiter.acquire();
    await limiter.acquire();
    expect(clock.slept).to.deep.equal([Math.ceil(60_000 / 7)]);
  });

  it('refuses a rate or burst that admits nothing', () => {
    expect(() => new WriteLimiter(0, 5)).to.throw(/perMinute/);
    expect(() => new WriteLimiter(10, 0)).to.throw(/burst/);
  });
});
