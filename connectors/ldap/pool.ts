/*
 * A fixed number of bound LDAP connections shared by every operation on a target. Binding costs
 * a round trip and the server a little work, so connections are bound once and kept. A connection
 * the server closed (a restart, an idle timeout) is noticed before use and replaced by a new,
 * bound one; a call whose connection drops while it runs is run once more on a fresh connection,
 * and fails as a transport error (retryable) if that one is lost too.
 */
import type { Client } from 'ldapts';
import { ConnectorError } from '../../src/provisioning/connector.js';
import { dispose, isAlive } from './client-options.js';
import { LdapResultError } from './directory.js';
import { LdapTransportError } from './errors.js';

export interface LdapPoolOptions {
  /** the server, for messages */
  url: string;
  /** connections at most */
  size: number;
  /**
   * A new connected and bound client. A refused bind throws LdapResultError (or a
   * ConnectorError); anything else it throws is taken as the server being unreachable.
   */
  open: () => Promise<Client>;
}

/** Thrown to callers still waiting for a connection when the pool closes. */
export class PoolClosedError extends Error {
  constructor() {
    super('the LDAP connection pool is closed');
    this.name = 'PoolClosedError';
  }
}

export class LdapPool {
  private readonly idle: Client[] = [];
  /** connections handed out, or being opened for a caller */
  private leased = 0;
  private readonly waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private closed = false;

  constructor(private readonly options: LdapPoolOptions) {}

  /** Runs fn on a bound connection; once more on a fresh one if the connection drops under it. */
  async use<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.acquire();
      try {
        const result = await fn(client);
        this.release(client, true);
        return result;
      } catch (err) {
        const lost = !(err instanceof LdapResultError) && !(err instanceof ConnectorError) && !isAlive(client);
        this.release(client, !lost);
        if (!lost) throw err;
        if (attempt === 2) throw new LdapTransportError(this.options.url, err);
      }
    }
  }

  /** A bound connection for the caller alone until release(); waits while all are in use. */
  async acquire(): Promise<Client> {
    if (this.closed) throw new PoolClosedError();
    if (this.leased < this.options.size) this.leased++;
    else await new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    try {
      for (let client = this.idle.pop(); client; client = this.idle.pop()) {
        if (client.isBound && isAlive(client)) return client;
        discard(client);
      }
      return await this.open();
    } catch (err) {
      this.freeSlot();
      throw err;
    }
  }

  /** Gives a connection back; `reusable` false closes it (it failed in a way that leaves it unusable). */
  release(client: Client, reusable: boolean): void {
    if (reusable && !this.closed && client.isBound && isAlive(client)) this.idle.push(client);
    else discard(client);
    this.freeSlot();
  }

  /** Unbinds idle connections now and leased ones when they come back; waiting callers fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new PoolClosedError());
    await Promise.all(this.idle.splice(0).map((c) => dispose(c)));
  }

  private async open(): Promise<Client> {
    try {
      return await this.options.open();
    } catch (err) {
      if (err instanceof LdapResultError || err instanceof ConnectorError) throw err;
      throw new LdapTransportError(this.options.url, err);
    }
  }

  /** Hands the slot to the next waiting caller, or frees it. */
  private freeSlot(): void {
    const next = this.waiting.shift();
    if (next) next.resolve();
    else this.leased--;
  }
}

function discard(client: Client): void {
  void dispose(client);
}
