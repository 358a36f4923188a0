/*
 * Signed links in mail. A link names its recipient, what it opens and when it stops working,
 * and carries an HMAC of those over the server's mail-link key, so it cannot be altered or made
 * up, and deciding through it is deciding as the person it was sent to. The page a link opens
 * only shows; deciding takes a POST from that page (mail scanners follow links with GET).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a link opens: the recipient's waiting approvals, their items in one campaign, or their own requests and expiring access. */
export type LinkPurpose = 'approvals' | 'review' | 'my-access';

/** The facts a link carries. */
export interface LinkClaims {
  /** the identity the link was sent to */
  recipientId: string;
  purpose: LinkPurpose;
  /** the campaign id, for a review link */
  ref?: string;
  /** when it stops working, as epoch seconds */
  expires: number;
}

/** Where the pages are served; links are `${PAGES_PREFIX}/<token>`. */
export const PAGES_PREFIX = '/m';

/**
 * Mail is composed inside the transaction of its event, before any server knows the URL it will
 * be reached at; bodies write links from this placeholder and the sender replaces it with the
 * server's public URL.
 */
export const BASE_URL_PLACEHOLDER = '{{baseUrl}}';

/** Why a link was refused, in words a person can act on. */
export class LinkError extends Error {}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(payload).digest();
}

/** The token for a link: base64url claims, a dot, base64url HMAC. */
export function signLink(key: Buffer, claims: LinkClaims): string {
  const payload = Buffer.from(JSON.stringify([claims.recipientId, claims.purpose, claims.ref ?? null, claims.expires])).toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/** The path of a link (to put after BASE_URL_PLACEHOLDER). */
export function linkPath(key: Buffer, claims: LinkClaims): string {
  return `${PAGES_PREFIX}/${signLink(key, claims)}`;
}

/** The claims of a token, once its signature and expiry are checked; throws LinkError otherwise. */
export function verifyLink(key: Buffer, token: string, now: Date = new Date()): LinkClaims {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) throw new LinkError('this link is not one the server made');
  const expected = mac(key, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new LinkError('this link is not one the server made');
  const [recipientId, purpose, ref, expires] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [string, LinkPurpose, string | null, number];
  if (expires * 1000 <= now.getTime()) throw new LinkError('this link has expired; open the newest mail, or ask for a new one');
  return { recipientId, purpose, ...(ref !== null && { ref }), expires };
}
