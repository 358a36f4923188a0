/*
 * Signed links in mail. A link names its recipient, what it opens and when it stops working,
 * and carries an HMAC of those over the server's mail-link key, so it cannot be altered or made
 * up, and deciding through it is deciding as the person it was sent to. The page a link opens
 * only shows; deciding takes a POST from that page (mail scanners follow links with GET).
 */
import { createHmac } from 'node:crypto';
import { sameBytes } from '../auth/constant-time.js';

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

/** A request path fit for logs: a page's token is a credential, so it is left out. */
export function loggablePath(path: string): string {
  const prefix = `${PAGES_PREFIX}/`;
  return path.slice(0, prefix.length).toLowerCase() === prefix ? `${PAGES_PREFIX}/[token]` : path;
}

/** Why a link was refused, in words a person can act on; `reason` tells a made-up or altered link from an old one. */
export class LinkError extends Error {
  constructor(readonly reason: 'invalid' | 'expired', message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

const PURPOSES: readonly string[] = ['approvals', 'review', 'my-access'] satisfies LinkPurpose[];
const NOT_OURS = 'this link is not one the server made; open the link from your mail as it was sent';

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
  if (!payload || !signature || extra !== undefined) throw new LinkError('invalid', NOT_OURS);
  // Compared as text, not decoded: base64url has several spellings of the same bytes, and a
  // token has exactly one.
  const expected = Buffer.from(mac(key, payload).toString('base64url'));
  const given = Buffer.from(signature);
  if (!sameBytes(given, expected)) throw new LinkError('invalid', NOT_OURS);
  // Signed by this server, so well-formed unless the format changed since; checked all the same
  // rather than trusted into a query.
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new LinkError('invalid', NOT_OURS);
  }
  if (!Array.isArray(fields) || fields.length !== 4) throw new LinkError('invalid', NOT_OURS);
  const [recipientId, purpose, ref, expires] = fields as unknown[];
  if (typeof recipientId !== 'string' || typeof purpose !== 'string' || !PURPOSES.includes(purpose)
    || (ref !== null && typeof ref !== 'string') || typeof expires !== 'number') throw new LinkError('invalid', NOT_OURS);
  if (expires * 1000 <= now.getTime()) throw new LinkError('expired', 'this link has expired; open the newest mail, or ask for a new one');
  return { recipientId, purpose: purpose as LinkPurpose, ...(ref !== null && { ref: ref as string }), expires };
}

/**
 * The proof a form on a link's page carries (its hidden `form` field): an HMAC of the token under
 * a separate label, so it differs from every link signature. It adds no secret beyond the link
 * (whoever holds the link can load the page), but it makes deciding a two-step act: the page is
 * read, then its form is posted. A POST made blind is refused: a mail scanner or prefetcher that
 * posts to URLs it finds, or a form on another site built from a leaked link, which the browser's
 * same-origin rule keeps from reading our page and so from knowing the proof.
 */
export function formProof(key: Buffer, token: string): string {
  return mac(key, `${token}|form`).toString('base64url');
}

/** True when `proof` is the form proof of `token`. */
export function checkFormProof(key: Buffer, token: string, proof: string): boolean {
  const expected = Buffer.from(formProof(key, token));
  const given = Buffer.from(proof);
  return sameBytes(given, expected);
}

/** Makes the link a recipient follows to their page for `purpose` (a review link names its campaign in `ref`), as mail text writes it. */
export type LinkMaker = (recipientId: string, purpose: LinkPurpose, ref?: string) => string;

/** A link maker signing with `key`, links valid for `ttlHours` from `now`. */
export function linkMaker(key: Buffer, now: Date, ttlHours: number): LinkMaker {
  const expires = Math.floor(now.getTime() / 1000) + ttlHours * 3600;
  return (recipientId, purpose, ref) => `${BASE_URL_PLACEHOLDER}${linkPath(key, { recipientId, purpose, ...(ref !== undefined && { ref }), expires })}`;
}
