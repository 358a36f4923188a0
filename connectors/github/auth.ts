/*
 * The credential on each GitHub request: a token from the settings, or a GitHub App
 * installation. An installation's token is minted with a JWT the app signs with its private key
 * (RS256 via node:crypto, no JWT library), lasts an hour, and is kept until shortly before it
 * expires, so a run of thousands of requests mints one token. Concurrent requests that find no
 * valid token wait for the same mint. A token GitHub refuses (revoked, or a clock that disagrees
 * about the expiry) is dropped so the next request mints another.
 */
import { createSign, type KeyObject } from 'node:crypto';
import { ConnectorError } from '../../src/provisioning/connector.js';
import { httpRequest } from '../../src/provisioning/connector-http.js';
import { GITHUB_HEADERS, githubFailure } from './protocol.js';

export interface GithubCredentials {
  /** the token for the next request */
  token(): Promise<string>;
  /** GitHub refused this token (401); true when a new one may work, so the request is worth one more try */
  refused(token: string): boolean;
  /** text with every secret this credential has used replaced by *** */
  mask(text: string): string;
}

const masked = (text: string, secrets: Iterable<string>) => {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
};

/** A personal access token or fine-grained token from the settings. */
export class StaticToken implements GithubCredentials {
  constructor(private readonly value: string) {}

  async token(): Promise<string> {
    return this.value;
  }

  refused(): boolean {
    return false;
  }

  mask(text: string): string {
    return masked(text, [this.value]);
  }
}

/**
 * The JWT a GitHub App authenticates as itself with: RS256, issued a minute in the past (GitHub
 * advises it, against clock drift), expiring nine minutes later (GitHub allows ten at most).
 */
export function appJwt(appId: string, privateKey: KeyObject, nowMs = Date.now()): string {
  const now = Math.floor(nowMs / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  // GitHub accepts the numeric app id as a number and a client id (Iv1.…) as a string.
  const iss = /^\d+$/.test(appId) ? Number(appId) : appId;
  const unsigned = `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ iat: now - 60, exp: now + 540, iss })}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(privateKey).toString('base64url');
  return `${unsigned}.${signature}`;
}

export interface AppInstallationOptions {
  target: string;
  /** the API root, e.g. https://api.github.com or https://HOST/api/v3 */
  baseUrl: string;
  appId: string;
  installationId: number;
  privateKey: KeyObject;
  timeoutMs: number;
  /** a clock, for tests */
  now?: () => number;
}

/** A token is renewed this long before GitHub says it expires, so no request carries one that dies in flight. */
export const TOKEN_RENEWAL_MARGIN_MS = 5 * 60_000;

export class AppInstallation implements GithubCredentials {
  /** how many tokens this installation has minted, for tests and metrics */
  minted = 0;
  private current: { token: string; expiresAt: number } | undefined;
  private minting: Promise<string> | undefined;
  private readonly used = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly options: AppInstallationOptions) {
    this.now = options.now ?? Date.now;
  }

  async token(): Promise<string> {
    if (this.current && this.now() < this.current.expiresAt - TOKEN_RENEWAL_MARGIN_MS) return this.current.token;
    this.minting ??= this.mint().finally(() => {
      this.minting = undefined;
    });
    return this.minting;
  }

  refused(token: string): boolean {
    // Another request may have replaced it already; either way the next token() gives a fresh one.
    if (this.current?.token === token) this.current = undefined;
    return true;
  }

  mask(text: string): string {
    return masked(text, this.used);
  }

  private async mint(): Promise<string> {
    const { target, baseUrl, appId, installationId, privateKey, timeoutMs } = this.options;
    const jwt = appJwt(appId, privateKey, this.now());
    this.used.add(jwt);
    const label = `POST /app/installations/${installationId}/access_tokens`;
    const answer = await httpRequest(target, `${baseUrl}/app/installations/${installationId}/access_tokens`, {
      method: 'POST', headers: { ...GITHUB_HEADERS, authorization: `Bearer ${jwt}` }, timeoutMs,
    });
    if (answer.status !== 201 && answer.status !== 200) throw githubFailure(target, label, answer, (t) => this.mask(t));
    const body = answer.body as { token?: unknown; expires_at?: unknown };
    const expiresAt = typeof body?.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
    if (typeof body?.token !== 'string' || Number.isNaN(expiresAt)) {
      throw new ConnectorError(`${target}: ${label} answered without a token and its expiry`, true);
    }
    this.used.add(body.token);
    this.current = { token: body.token, expiresAt };
    this.minted++;
    return body.token;
  }
}
