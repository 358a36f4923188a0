import { timingSafeEqual } from 'node:crypto';

/**
 * Whether two byte strings are equal, compared in time that depends only on their lengths: for
 * secrets, digests and signatures, whose formats fix the length, so it tells an attacker nothing.
 */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
