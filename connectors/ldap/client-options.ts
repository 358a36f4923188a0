/*
 * How an ldapts Client is built for a target: plain, LDAPS, or plain upgraded with StartTLS, with
 * the CA and the certificate checks the settings ask for, and how to tell whether its connection
 * still works.
 *
 * Three ldapts behaviours shape this. It opens a TLS socket whenever tlsOptions has any value,
 * even for an ldap:// URL, so StartTLS options are kept apart and handed to startTLS() only.
 * After a dropped connection it silently opens a new one on the next call, unbound (and, after
 * StartTLS, unencrypted); each Client here may open one socket only, so a dropped connection
 * fails the call and the pool replaces the client with a freshly bound one. And after StartTLS
 * it stops noticing that the connection closed (isConnected stays true, requests wait for their
 * timeout), so the sockets are watched here: a client is alive while none of its sockets is
 * destroyed.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client, type ClientOptions } from 'ldapts';
import type { LdapConfig } from './settings.js';

/** Raised by a client asked to open a second socket: its first connection is gone. */
export class ConnectionLostError extends Error {
  constructor(url: string) {
    super(`connection to ${url} lost`);
    this.name = 'ConnectionLostError';
  }
}

type TlsSettings = Pick<LdapConfig, 'url' | 'ca' | 'rejectUnauthorized'>;

/** TLS options for the target's host: CA, certificate checks, and the name the certificate must carry. */
export function tlsOptions(config: TlsSettings): ConnectionOptions {
  const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
  const options: ConnectionOptions = { host, rejectUnauthorized: config.rejectUnauthorized };
  // SNI carries host names only (RFC 6066); for an IP address the check uses `host`.
  if (isIP(host) === 0) options.servername = host;
  if (config.ca) options.ca = [config.ca];
  return options;
}

type ClientSettings = Pick<LdapConfig, 'url' | 'ca' | 'rejectUnauthorized' | 'timeoutMs'>;

/** ldapts options for one client: LDAPS options only for ldaps://, one connection at most; `opened` sees every socket. */
export function clientOptions(config: ClientSettings, opened: (socket: Socket) => void = () => undefined): ClientOptions {
  const secure = /^ldaps:/i.test(config.url);
  let connected = false;
  const once = <T extends Socket>(open: () => T): T => {
    if (connected) throw new ConnectionLostError(config.url);
    connected = true;
    return watched(open());
  };
  const watched = <T extends Socket>(socket: T): T => {
    opened(socket);
    return socket;
  };
  const options: ClientOptions = {
    url: config.url,
    timeout: config.timeoutMs,
    connectTimeout: config.timeoutMs,
  };
  if (secure) {
    options.tlsOptions = tlsOptions(config);
    options.createSecureConnection = ((...args: unknown[]) => once(() => Reflect.apply(tlsConnect, undefined, args))) as typeof tlsConnect;
  } else {
    options.createConnection = ((...args: unknown[]) => once(() => Reflect.apply(netConnect, undefined, args))) as typeof netConnect;
    // Only StartTLS calls this for an ldap:// URL, to wrap the connection made above.
    options.createSecureConnection = ((...args: unknown[]) => watched(Reflect.apply(tlsConnect, undefined, args))) as typeof tlsConnect;
  }
  return options;
}

/** The sockets each client opened, to see them closed when ldapts does not. */
const socketsOf = new WeakMap<Client, Socket[]>();

/** A new, unconnected client for the target. */
export function createClient(config: ClientSettings): Client {
  const sockets: Socket[] = [];
  const client = new Client(clientOptions(config, (socket) => sockets.push(socket)));
  socketsOf.set(client, sockets);
  return client;
}

/** Whether the client's connection is open: ldapts thinks so and no socket under it was closed. */
export function isAlive(client: Client): boolean {
  return client.isConnected && (socketsOf.get(client) ?? []).every((s) => !s.destroyed);
}

/** Ends a client: a polite unbind on a live connection, else its sockets destroyed (an unbind would wait for its timeout). */
export async function dispose(client: Client): Promise<void> {
  if (isAlive(client)) await client.unbind().catch(() => undefined);
  for (const socket of socketsOf.get(client) ?? []) socket.destroy();
}
