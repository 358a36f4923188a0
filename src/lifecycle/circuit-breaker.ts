/*
 * The circuit breaker against accidental mass deletion (as Entra's provisioning has): a feed that
 * would make more leavers than a threshold applies nothing and is held for a person to approve or
 * reject. A truncated export or a wrong column mapping looks exactly like everyone leaving.
 */
import { z } from 'zod';

export const DEFAULT_BREAKER_PERCENT = 5;
export const DEFAULT_BREAKER_ABSOLUTE = 500;

export interface BreakerInput {
  /** leavers the feed would make (from the plan's counts) */
  leavers: number;
  /** active identities before the feed is applied */
  activeIdentities: number;
  /** percentage of active identities that may leave in one feed; default 5 */
  percent?: number;
  /** absolute number of leavers allowed in one feed; default 500 */
  absolute?: number;
}

export interface BreakerDecision {
  held: boolean;
  /** the most leavers a feed may make and still be applied */
  threshold: number;
  leavers: number;
  reason: string;
}

const count = z.number().int().nonnegative();
const inputSchema = z.object({
  leavers: count,
  activeIdentities: count,
  percent: z.number().min(0).max(100).default(DEFAULT_BREAKER_PERCENT),
  absolute: count.default(DEFAULT_BREAKER_ABSOLUTE),
});

/**
 * Whether a feed is held. threshold = min(floor(percent% × active), absolute), and the feed is held
 * when leavers > threshold. Rounding is down, so the percentage is never exceeded (with 5%, a store
 * of under 20 active identities holds any feed with a leaver). With no active identities there is
 * nothing to protect and the feed is never held: a first import cannot trip it.
 */
export function breakerDecision(input: BreakerInput): BreakerDecision {
  const { leavers, activeIdentities, percent, absolute } = inputSchema.parse(input);
  const byPercent = percentOf(percent, activeIdentities);
  const threshold = Math.min(byPercent, absolute);
  const basis = `min(${percent}% of ${activeIdentities} active = ${byPercent}, ${absolute})`;

  if (activeIdentities === 0) {
    return { held: false, threshold, leavers, reason: 'no active identities yet: nothing to protect, so the feed is not held' };
  }
  if (leavers > threshold) {
    return { held: true, threshold, leavers, reason: `${leavers} leavers exceed the threshold of ${threshold} (${basis}); the feed is held for approval` };
  }
  return { held: false, threshold, leavers, reason: `${leavers} leavers are within the threshold of ${threshold} (${basis})` };
}

/**
 * floor(percent% × n), computed on a scaled integer first: in binary floating point
 * 0.57 × 10000 is 5699.999…, which would floor to one less than the true 57.
 */
function percentOf(percent: number, n: number): number {
  return Math.floor(Math.round(percent * n * 1e6) / 1e8);
}
