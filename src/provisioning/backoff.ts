/* Retry timing and per-target pacing for outbox workers. */

export interface BackoffOptions {
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base · 2^(attempt-1))).
 * Full jitter spreads the retries of operations that failed together (a target outage) instead
 * of bringing them back in one burst.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.backoffMaxMs, options.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/** The wait before a retry: the backoff, but never sooner than the target asked (Retry-After). */
export function retryDelay(attempt: number, options: BackoffOptions, retryAfterMs?: number, random: () => number = Math.random): number {
  return Math.max(retryAfterMs ?? 0, backoffDelay(attempt, options, random));
}

/**
 * A token bucket: `ratePerSecond` operations per second on average, with bursts of up to one
 * second's worth. A rate of 0 is unlimited.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  constructor(private readonly ratePerSecond: number, private readonly now: () => number = Date.now) {
    this.capacity = Math.max(1, ratePerSecond);
    this.tokens = this.capacity;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
  }

  /** How many operations may start now (whole tokens), at most `wanted`. */
  available(wanted: number): number {
    if (this.ratePerSecond <= 0) return wanted;
    this.refill();
    return Math.min(wanted, Math.floor(this.tokens));
  }

  /** Spends `count` tokens (count ≤ available()). */
  take(count: number): void {
    if (this.ratePerSecond <= 0) return;
    this.refill();
    this.tokens -= count;
  }

  /** Milliseconds until the next whole token; 0 when one is there now. */
  msUntilNext(): number {
    if (this.ratePerSecond <= 0) return 0;
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }
}
