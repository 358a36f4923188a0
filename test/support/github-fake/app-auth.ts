/*
 * The fake's side of GitHub App authentication: the JWT an app signs with its private key
 * (RS256, `iss` the app id, at most ten minutes of life) is checked against the public key the
 * test registered, and installation tokens are minted with an expiry and accepted until then.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

export interface FakeAppOptions {
  appId: number | string;
  installationId: number;
  /** the public half of the key pair the test generated */
  publicKey: KeyObject | string;
  /** how long a minted installation token lives; GitHub's are an hour */
  tokenLifetimeSeconds?: number;
}

export interface MintedToken {
  token: string;
  expiresAt: Date;
}

const decodePart = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

export class FakeApp {
  readonly minted: MintedToken[] = [];
  tokenLifetimeSeconds: number;
  private readonly publicKey: KeyObject;

  constructor(readonly options: FakeAppOptions) {
    this.publicKey = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  }

  /** Why GitHub would refuse this JWT (its own wording), or undefined when it is good. */
  jwtProblem(jwt: string, now = Date.now()): string | undefined {
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'A JSON web token could not be decoded';
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = decodePart(parts[0]!);
      claims = decodePart(parts[1]!);
    } catch {
      return 'A JSON web token could not be decoded';
    }
    if (header.alg !== 'RS256') return `The JWT uses ${String(header.alg)}; GitHub Apps sign with RS256`;
    if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), this.publicKey, Buffer.from(parts[2]!, 'base64url'))) {
      return 'A JSON web token could not be decoded';
    }
    const seconds = Math.floor(now / 1000);
    if (String(claims.iss) !== String(this.options.appId)) return `'Issuer' claim ('iss') must be an Integer`;
    if (typeof claims.iat !== 'number' || claims.iat > seconds + 60) return "'Issued at' claim ('iat') must be an Integer representing a time in the past";
    if (typeof claims.exp !== 'number' || claims.exp <= seconds) return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
    if (claims.exp > seconds + 600 + 60 || claims.exp - claims.iat > 600 + 60) return "'Expiration time' claim ('exp') is too far in the future";
    return undefined;
  }

  /** A new installation token, as POST /app/installations/{installation_id}/access_tokens makes. */
  mint(now = Date.now()): MintedToken {
    const token = { token: `ghs_${randomBytes(18).toString('base64url')}`, expiresAt: new Date(now + this.tokenLifetimeSeconds * 1000) };
    this.minted.push(token);
    return token;
  }

  /** Whether an installation token is one this app minted and still valid. */
  accepts(token: string, now = Date.now()): boolean {
    const minted = this.minted.find((m) => m.token === token);
    return minted !== undefined && minted.expiresAt.getTime() > now;
  }

  /** Makes every token minted so far invalid, as an expiry or a revocation would. */
  expireTokens(now = Date.now()): void {
    for (const m of this.minted) if (m.expiresAt.getTime() > now) m.expiresAt = new Date(now);
  }
}
