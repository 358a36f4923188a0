/*
 * What an LDAP failure means for the outbox. The server being busy, unavailable or slow (result
 * codes 3, 51, 52, 80) and a lost or refused connection may pass: retryable. Any other result
 * code is an answer retrying cannot change (a schema violation, no access, bad credentials):
 * permanent, with the server's own text. Messages name the request and the DN, never the password.
 */
import { ConnectorError } from '../../src/provisioning/connector.js';
import { DnSyntaxError } from './dn.js';
import { LdapResultError, ResultCode } from './directory.js';

const RETRYABLE_CODES: ReadonlySet<number> = new Set([ResultCode.timeLimitExceeded, ResultCode.busy, ResultCode.unavailable, ResultCode.other]);

/** A connection that could not be opened or was lost mid-request. */
export class LdapTransportError extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`${url} unreachable: ${describeCause(cause)}`);
    this.name = 'LdapTransportError';
  }
}

/** The cause of a transport failure in a few words: a socket error code or ldapts's first line. */
function describeCause(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.split('\n')[0]!.slice(0, 200);
}

/** Whether the server's refusal with this result code may pass if tried again. */
export function isRetryableCode(code: number): boolean {
  return RETRYABLE_CODES.has(code);
}

/** Any failure of an LDAP call as the ConnectorError the outbox records. */
export function toConnectorError(target: string, what: string, err: unknown): ConnectorError {
  if (err instanceof ConnectorError) return err;
  if (err instanceof LdapResultError) return new ConnectorError(`${target}: ${what} failed: ${err.message}`, isRetryableCode(err.code));
  if (err instanceof LdapTransportError) return new ConnectorError(`${target}: ${what} failed: ${err.message}`, true);
  if (err instanceof DnSyntaxError) return new ConnectorError(`${target}: ${what} failed: ${err.message}`, false);
  return new ConnectorError(`${target}: ${what} failed: ${err instanceof Error ? err.message : String(err)}`, false);
}
