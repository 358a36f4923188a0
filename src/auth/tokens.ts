import { hash, randomBytes } from 'node:crypto';
import { recordAudit } from '../audit/recorder.js';
import { uniqueViolation, type Database } from '../db/database.js';
import { resolveIdentity } from '../policy/identity-ref.js';
import { parseScopes, type Scope } from './scopes.js';
import { sameBytes } from './constant-time.js';

/** A token as the server knows it after authentication; never holds the secret. */
export interface Principal {
  tokenId: string;
  name: string;
  scopes: Scope[];
  /** the person the token belongs to, for requests, approvals and reviews; null for a system's token */
  identityId: string | null;
}

/** A token as `iam token list` shows it. */
export interface TokenInfo {
  name: string;
  scopes: Scope[];
  /** the userName of the person the token belongs to */
  identity: string | null;
  created: string;
  revoked: string | null;
}

/** A failure the CLI shows as is: duplicate or unknown names, bad scopes. */
export class TokenError extends Error {}

// Tokens read `iam_<id>_<secret>`: the id finds the row, the secret is compared by hash in
// constant time, so neither a database index nor string comparison leaks timing about it.
const TOKEN_PATTERN = /^iam_([a-f0-9]{16})_([A-Za-z0-9_-]{43})$/;

/** The hex SHA-256 of a secret, as the api_tokens.secret_hash column holds it. */
function sha256Hex(text: string): string {
  // The one-shot form, to a string: this runs on every request, and a Hash object, or a Buffer
  // made for the digest, costs more than the hashing (on a busy server, about 2 µs of 3).
  return hash('sha256', text, 'hex');
}

/** Compares a hex digest with a stored one's characters, in constant time. */
function sameDigest(a: string, b: Buffer): boolean {
  // Small strings are copied into Node's shared pool: no allocation of their own.
  return sameBytes(Buffer.from(a, 'latin1'), b);
}

// A digest to compare with when no row was found, so a miss costs what a mismatch does.
const NO_DIGEST = Buffer.alloc(64);

/**
 * How long a token found valid is believed without reading its row again. A token is looked up on
 * every request, and on SQLite that read costs more than deciding an access check; so a revocation
 * made elsewhere (the CLI, another server) takes effect within this time, and one made through this
 * service at once.
 */
export const TOKEN_RECHECK_MS = 1000;

interface KnownToken {
  /** the hex digest's characters */
  secretHash: Buffer;
  principal: Principal;
  checkedAt: number;
}

// Tokens kept in memory at most; past it the oldest is forgotten and read again when next used.
const KNOWN_TOKENS = 10_000;

/** The bearer text last authenticated on a connection, and the known token it matched. */
interface ConnectionToken {
  bearer: Buffer;
  id: string;
  known: KnownToken;
}

/** Issues, lists, revokes and checks API tokens; only a hash of each secret is stored. */
export class TokenService {
  /** token id → what its row said when last read */
  private readonly known = new Map<string, KnownToken>();
  /** connection → the token last authenticated on it */
  private readonly byConnection = new WeakMap<object, ConnectionToken>();

  constructor(private readonly db: Database) {}

  /**
   * Creates a token and returns its full text, the only time it is ever available. With
   * `identity` (a userName or id) the token belongs to that person: requests, approvals and
   * review decisions made with it are theirs.
   */
  async create(name: string, scopeList: string, actor: string, identity?: string): Promise<{ token: string; scopes: Scope[] }> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name)) {
      throw new TokenError('a token name is 1-128 letters, digits, ".", "_", "@" or "-", starting with a letter or digit');
    }
    const scopes = parseScopesOrFail(scopeList);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    try {
      await this.db.transaction(async (tx) => {
        const person = identity === undefined ? undefined : await resolveIdentity(tx, identity);
        if (identity !== undefined && !person) throw new TokenError(`no identity "${identity}" to give the token to`);
        await tx.execute(
          'INSERT INTO api_tokens (id, name, secret_hash, scopes, created, identity_id) VALUES (?, ?, ?, ?, ?, ?)',
          [id, name, sha256Hex(secret), scopes.join(' '), now, person?.id ?? null],
        );
        await recordAudit(tx, { actor, action: 'token.create', targetType: 'token', targetId: name, details: { scopes, ...(person && { identity: person.userName }) } });
      });
    } catch (err) {
      if (uniqueViolation(err)) throw new TokenError(`a token named "${name}" already exists`);
      throw err;
    }
    return { token: `iam_${id}_${secret}`, scopes };
  }

  /** Every token, newest first, without secrets. */
  async list(): Promise<TokenInfo[]> {
    const rows = await this.db.query<{ name: string; scopes: string; created: string; revoked: string | null; user_name: string | null }>(
      `SELECT t.name, t.scopes, t.created, t.revoked, i.user_name FROM api_tokens t
         LEFT JOIN identities i ON i.id = t.identity_id ORDER BY t.created DESC, t.name`,
    );
    return rows.map((r) => ({ name: r.name, scopes: storedScopes(r.scopes), identity: r.user_name, created: r.created, revoked: r.revoked }));
  }

  /** Revokes a token by name; it stops working at once here, and within TOKEN_RECHECK_MS on other processes. */
  async revoke(name: string, actor: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const changed = await tx.execute('UPDATE api_tokens SET revoked = ? WHERE name = ? AND revoked IS NULL', [new Date().toISOString(), name]);
      if (changed === 0) throw new TokenError(`no active token named "${name}"`);
      await recordAudit(tx, { actor, action: 'token.revoke', targetType: 'token', targetId: name });
    });
    for (const [id, token] of this.known) if (token.principal.name === name) this.known.delete(id);
  }

  /**
   * The principal a bearer token belongs to, or undefined for any unknown, malformed or revoked
   * token alike. `connection` (the request's socket) lets a client that sends the same token with
   * every request on a kept-alive connection skip the hashing: its text is compared, in constant
   * time, with the bytes last authenticated on that connection, and believed only as long as the
   * token's row is (TOKEN_RECHECK_MS, and never past a revocation made through this service).
   */
  async authenticate(bearer: string, connection?: object): Promise<Principal | undefined> {
    const last = connection === undefined ? undefined : this.byConnection.get(connection);
    if (last !== undefined && this.known.get(last.id) === last.known && Date.now() - last.known.checkedAt < TOKEN_RECHECK_MS) {
      // UTF-8, so no two texts give the same bytes; only the length of a well-formed token shows in the time taken.
      const presented = Buffer.from(bearer, 'utf8');
      if (sameBytes(presented, last.bearer)) return last.known.principal;
    }
    const principal = await this.authenticateByHash(bearer);
    if (principal !== undefined && connection !== undefined) {
      // A buffer of its own: a slice of Node's shared pool would keep the whole pool alive with the connection.
      const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(bearer, 'utf8'));
      bytes.write(bearer, 'utf8');
      this.byConnection.set(connection, { bearer: bytes, id: principal.tokenId, known: this.known.get(principal.tokenId)! });
    }
    return principal;
  }

  /** The full check: the token's row (remembered for TOKEN_RECHECK_MS) and its secret's digest. */
  private async authenticateByHash(bearer: string): Promise<Principal | undefined> {
    const match = TOKEN_PATTERN.exec(bearer);
    // Hash even when the format is wrong, so a malformed token costs what a valid one does.
    const presented = sha256Hex(match?.[2] ?? bearer);
    const id = match?.[1];
    const known = id === undefined ? undefined : this.known.get(id);
    if (known !== undefined && Date.now() - known.checkedAt < TOKEN_RECHECK_MS) {
      return sameDigest(presented, known.secretHash) ? known.principal : undefined;
    }
    const [row] = id !== undefined
      ? await this.db.query<{ id: string; name: string; secret_hash: string; scopes: string; identity_id: string | null }>(
          'SELECT id, name, secret_hash, scopes, identity_id FROM api_tokens WHERE id = ? AND revoked IS NULL',
          [id],
        )
      : [];
    const stored = row ? Buffer.from(row.secret_hash, 'latin1') : NO_DIGEST;
    const equal = sameDigest(presented, stored) && row !== undefined;
    if (!row) {
      if (id !== undefined) this.known.delete(id);
      return undefined;
    }
    const principal: Principal = { tokenId: row.id, name: row.name, scopes: storedScopes(row.scopes), identityId: row.identity_id };
    // Only the row is remembered, never whether this attempt's secret matched it.
    this.known.delete(row.id);
    if (this.known.size >= KNOWN_TOKENS) this.known.delete(this.known.keys().next().value!);
    this.known.set(row.id, { secretHash: stored, principal, checkedAt: Date.now() });
    return equal ? principal : undefined;
  }
}

/** The scopes a stored token carries; an empty column is no scope at all, not one empty-named scope. */
function storedScopes(column: string): Scope[] {
  return column.split(' ').filter(Boolean) as Scope[];
}

function parseScopesOrFail(list: string): Scope[] {
  try {
    return parseScopes(list);
  } catch (err) {
    throw new TokenError((err as Error).message);
  }
}
