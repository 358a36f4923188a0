/*
 * Slack's SCIM rate limits, from its "SCIM API rate limits" page: per minute, with the burst
 * each allows, organisation-wide for all writes and all reads, and per endpoint on top. A
 * request is admitted when every limit it falls under has room, and then counts against all of
 * them; otherwise it is answered 429 with the seconds until it would have room. Each limit is
 * a token bucket of `burst` tokens refilled at `perMinute` a minute. Tests make them small to
 * reach them quickly.
 */
export interface RateLimit {
  perMinute: number;
  burst: number;
}

export type LimitName =
  | 'orgWrites' | 'orgReads'
  | 'userGet' | 'userCreate' | 'userUpdate' | 'userDelete'
  | 'groupGet' | 'groupCreate' | 'groupUpdate' | 'groupDelete';

/** The documented limits. */
export const SLACK_RATE_LIMITS: Readonly<Record<LimitName, RateLimit>> = {
  orgWrites: { perMinute: 600, burst: 180 },
  orgReads: { perMinute: 1000, burst: 1000 },
  userGet: { perMinute: 300, burst: 300 },
  userCreate: { perMinute: 180, burst: 20 },
  userUpdate: { perMinute: 180, burst: 20 },
  userDelete: { perMinute: 180, burst: 20 },
  groupGet: { perMinute: 300, burst: 300 },
  groupCreate: { perMinute: 180, burst: 20 },
  groupUpdate: { perMinute: 180, burst: 80 },
  groupDelete: { perMinute: 180, burst: 20 },
};

/** Which limits a request counts against. */
export function limitsOf(method: string, resource: 'Users' | 'Groups' | 'other', hasId: boolean): LimitName[] {
  if (method === 'GET') {
    if (resource === 'Users' && hasId) return ['orgReads', 'userGet'];
    if (resource === 'Groups' && hasId) return ['orgReads', 'groupGet'];
    return ['orgReads'];
  }
  const prefix = resource === 'Groups' ? 'group' : resource === 'Users' ? 'user' : undefined;
  if (prefix === undefined) return ['orgWrites'];
  const kind = method === 'POST' ? 'Create' : method === 'DELETE' ? 'Delete' : 'Update';
  return ['orgWrites', `${prefix}${kind}` as LimitName];
}

class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly limit: RateLimit, now: number) {
    this.tokens = limit.burst;
    this.at = now;
  }

  /** ms until a token is there (0: now). */
  waitFor(now: number): number {
    this.refill(now);
    // A hair of slack for floating-point refill arithmetic.
    return this.tokens >= 1 - 1e-9 ? 0 : ((1 - this.tokens) * 60_000) / this.limit.perMinute;
  }

  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.at) * this.limit.perMinute) / 60_000);
    this.at = now;
  }
}

export class RateLimiter {
  private readonly buckets = new Map<LimitName, TokenBucket>();

  /** `overrides`: a limit replaced, or null to switch it off. */
  constructor(overrides: Partial<Record<LimitName, RateLimit | null>> = {}, now = Date.now()) {
    for (const [name, limit] of Object.entries({ ...SLACK_RATE_LIMITS, ...overrides }) as Array<[LimitName, RateLimit | null]>) {
      if (limit) this.buckets.set(name, new TokenBucket(limit, now));
    }
  }

  /** Admits the request (0) or answers the seconds to wait (Retry-After), taking nothing. */
  admit(names: readonly LimitName[], now = Date.now()): number {
    const buckets = names.map((n) => this.buckets.get(n)).filter((b): b is TokenBucket => b !== undefined);
    const wait = Math.max(0, ...buckets.map((b) => b.waitFor(now)));
    if (wait > 0) return Math.max(1, Math.ceil(wait / 1000));
    for (const b of buckets) b.take(now);
    return 0;
  }
}
