/*
 * The LDAP requests the connector makes, on one bound ldapts Client. A request the server refuses
 * throws an LdapResultError carrying the result code (so callers decide by number: 68 on an add is
 * "already there") and the server's own diagnostic text with the request it answered, which is
 * what an operator needs to read in outbox.last_error. Anything else thrown here is a transport
 * failure (socket closed, timeout) and is left as it is for the pool to recognise.
 */
import { Attribute, Change, ResultCodeError, type Client, type Entry, type SearchOptions } from 'ldapts';

/** The result codes (RFC 4511) the connector acts on. */
export const ResultCode = {
  timeLimitExceeded: 3,
  noSuchAttribute: 16,
  typeOrValueExists: 20,
  noSuchObject: 32,
  invalidCredentials: 49,
  busy: 51,
  unavailable: 52,
  objectClassViolation: 65,
  notAllowedOnNonLeaf: 66,
  alreadyExists: 68,
  other: 80,
} as const;

const NAMES = new Map<number, string>([
  [1, 'operationsError'], [2, 'protocolError'], [3, 'timeLimitExceeded'], [4, 'sizeLimitExceeded'], [7, 'authMethodNotSupported'],
  [8, 'strongerAuthRequired'], [11, 'adminLimitExceeded'], [12, 'unavailableCriticalExtension'], [13, 'confidentialityRequired'],
  [16, 'noSuchAttribute'], [17, 'undefinedAttributeType'], [18, 'inappropriateMatching'], [19, 'constraintViolation'],
  [20, 'attributeOrValueExists'], [21, 'invalidAttributeSyntax'], [32, 'noSuchObject'], [34, 'invalidDNSyntax'],
  [48, 'inappropriateAuthentication'], [49, 'invalidCredentials'], [50, 'insufficientAccessRights'], [51, 'busy'],
  [52, 'unavailable'], [53, 'unwillingToPerform'], [54, 'loopDetect'], [64, 'namingViolation'], [65, 'objectClassViolation'],
  [66, 'notAllowedOnNonLeaf'], [67, 'notAllowedOnRDN'], [68, 'entryAlreadyExists'], [69, 'objectClassModsProhibited'],
  [71, 'affectsMultipleDSAs'], [80, 'other'],
]);

/** A request the server answered with a result code other than success. */
export class LdapResultError extends Error {
  constructor(readonly request: string, readonly code: number, readonly diagnostic: string) {
    super(`${request} answered ${code} ${NAMES.get(code) ?? 'resultCode'}${diagnostic ? `: ${diagnostic}` : ''}`);
    this.name = 'LdapResultError';
  }
}

/** Whether err is the server's refusal with one of these result codes. */
export function hasCode(err: unknown, ...codes: number[]): err is LdapResultError {
  return err instanceof LdapResultError && codes.includes(err.code);
}

/** ldapts's result error as ours; anything else (a transport failure) unchanged. */
export function asResultError(request: string, err: unknown): unknown {
  if (!(err instanceof ResultCodeError)) return err;
  // ldapts appends " Code: 0x20" to the server's text, or puts its own sentence where the server sent none.
  const text = err.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
  return new LdapResultError(request, err.code, text);
}

/** Runs one request; the server's refusal comes back as an LdapResultError naming it. */
export async function attempt<T>(request: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw asResultError(request, err);
  }
}

/** A change as ldapts takes it: replace with no values removes the attribute. */
export function change(operation: 'add' | 'delete' | 'replace', type: string, values: string[]): Change {
  return new Change({ operation, modification: new Attribute({ type, values }) });
}

/** The requests, each named with its DN in errors. */
export class Directory {
  constructor(readonly client: Client) {}

  add(dn: string, attributes: Record<string, string | string[]>): Promise<void> {
    return attempt(`add ${dn}`, () => this.client.add(dn, attributes));
  }

  modify(dn: string, changes: Change[]): Promise<void> {
    return attempt(`modify ${dn}`, () => this.client.modify(dn, changes));
  }

  /** Renames or moves an entry; newDn is a full DN whose RDN values are hex-escaped (see dn.ts). */
  rename(dn: string, newDn: string): Promise<void> {
    return attempt(`rename ${dn} to ${newDn}`, () => this.client.modifyDN(dn, newDn));
  }

  del(dn: string): Promise<void> {
    return attempt(`delete ${dn}`, () => this.client.del(dn));
  }

  /** All matching entries (paged underneath, so server size limits do not cut the answer short). */
  async search(base: string, options: SearchOptions & { pageSize?: number }): Promise<Entry[]> {
    const { pageSize, ...rest } = options;
    const result = await attempt(`search ${base}`, () => this.client.search(base, { ...rest, paged: { pageSize: pageSize ?? 500 } }));
    return result.searchEntries;
  }

  /** The entry at dn with these attributes, or null when there is none. */
  async read(dn: string, attributes: string[]): Promise<Entry | null> {
    try {
      const result = await attempt(`read ${dn}`, () => this.client.search(dn, { scope: 'base', attributes }));
      return result.searchEntries[0] ?? null;
    } catch (err) {
      if (hasCode(err, ResultCode.noSuchObject)) return null;
      throw err;
    }
  }

  /** Whether an entry exists at dn. */
  async exists(dn: string): Promise<boolean> {
    return (await this.read(dn, ['1.1'])) !== null;
  }
}
