/*
 * Keeps one connector under Slack's per-minute write limits. Slack counts writes per endpoint
 * (180 a minute, bursts of 20 for user writes) and per organisation; a write over the limit is
 * answered 429 and has to be sent again later. Waiting here before sending is cheaper than
 * failing and being rescheduled by the outbox, so every write reserves a slot first.
 *
 * The rule is the generic cell rate algorithm, which admits exactly what a token bucket of
 * `burst` tokens refilled at `perMinute` a minute admits: up to `burst` writes at once, then one
 * every 60000 / perMinute ms. Each caller reserves its own slot, so concurrent callers queue
 * in arrival order instead of all waking at once.
 */

/** The clock and sleep the limiter uses; tests pass their own to check the arithmetic. */
export interface LimiterClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: LimiterClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class WriteLimiter {
  /** ms between two writes at the steady rate */
  private readonly interval: number;
  /** how far ahead of the steady rate a burst may run */
  private readonly tolerance: number;
  /** the theoretical time the next write is due at the steady rate */
  private due = Number.NEGATIVE_INFINITY;

  constructor(readonly perMinute: number, readonly burst: number, private readonly clock: LimiterClock = realClock) {
    if (!(perMinute > 0) || !(burst >= 1)) throw new Error('a write limiter needs perMinute > 0 and burst >= 1');
    this.interval = 60_000 / perMinute;
    this.tolerance = (Math.floor(burst) - 1) * this.interval;
  }

  /** Reserves the next slot and returns how long the caller must wait for it (0: at once). */
  reserve(): number {
    const now = this.clock.now();
    const due = Math.max(this.due, now);
    this.due = due + this.interval;
    return Math.max(0, due - this.tolerance - now);
  }

  /** Waits until a write may be sent. */
  async acquire(): Promise<void> {
    const wait = this.reserve();
    // Rounded up: waking a fraction of a millisecond early would put the write over the limit.
    if (wait > 0) await this.clock.sleep(Math.ceil(wait));
  }
}
