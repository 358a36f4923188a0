/*
 * Distinguished names as strings (RFC 4514): escaping a value into a DN, parsing a DN back into
 * its parts, and one canonical form, so a DN we build and the same DN as the server reports it
 * (`uid=smith\2C john` from slapd, `uid=Smith\, John` typed by an admin) compare equal and an
 * account key never changes spelling between create, get and list.
 *
 * Escaping uses hex pairs for every special character (`\2c`, not `\,`): both are valid RFC 4514,
 * and with hex pairs no escaped comma can be mistaken for a separator by a naive splitter
 * (ldapts's modifyDN splits the new DN at the first comma not preceded by a backslash, which
 * misreads `\\,`). Non-ASCII characters stay as UTF-8, as RFC 4514 prefers.
 */

/** One attribute type and value of an RDN, the value unescaped. */
export interface Ava {
  type: string;
  value: string;
  /** the value came as `#hex` (a BER encoding): kept verbatim, never re-escaped */
  ber?: boolean;
}

/** A relative distinguished name: usually one Ava, several when joined with `+`. */
export type Rdn = Ava[];

/** Raised for a string that is not a DN; the message names the position. */
export class DnSyntaxError extends Error {
  constructor(dn: string, at: number, problem: string) {
    super(`not a DN (${problem} at position ${at}): ${dn}`);
    this.name = 'DnSyntaxError';
  }
}

/** Characters RFC 4514 requires escaping anywhere in a value (and `=`, which it allows escaping). */
const SPECIAL = new Set(['"', '+', ',', ';', '<', '>', '\\', '=']);
const hex = (c: string) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`;

/** A value escaped for use in a DN (RFC 4514 section 2.4). */
export function escapeDnValue(value: string): string {
  let out = '';
  const last = value.length - 1;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    const code = c.charCodeAt(0);
    if (SPECIAL.has(c) || code < 0x20 || code === 0x7f) out += hex(c);
    else if (c === ' ' && (i === 0 || i === last)) out += '\\20';
    else if (c === '#' && i === 0) out += '\\23';
    else out += c;
  }
  return out;
}

const TYPE = /(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)/y;
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a DN into its RDNs, first (leftmost) RDN first. Tolerates spaces around separators, as RFC 2253 readers did. */
export function parseDn(dn: string): Rdn[] {
  const rdns: Rdn[] = [];
  if (dn.trim() === '') return rdns;
  let i = 0;
  let rdn: Rdn = [];
  const skipSpaces = () => {
    while (dn[i] === ' ') i++;
  };
  for (;;) {
    skipSpaces();
    TYPE.lastIndex = i;
    const type = TYPE.exec(dn)?.[0];
    if (!type) throw new DnSyntaxError(dn, i, 'attribute type expected');
    i += type.length;
    skipSpaces();
    if (dn[i] !== '=') throw new DnSyntaxError(dn, i, '"=" expected');
    i++;
    skipSpaces();
    if (dn[i] === '#') {
      const hexValue = /^#[0-9A-Fa-f]*/.exec(dn.slice(i))![0];
      rdn.push({ type, value: hexValue, ber: true });
      i += hexValue.length;
      skipSpaces();
    } else {
      const [value, end] = readValue(dn, i);
      rdn.push({ type, value });
      i = end;
    }
    if (i >= dn.length) break;
    const separator = dn[i];
    i++;
    if (separator === '+') continue;
    if (separator === ',' || separator === ';') {
      rdns.push(rdn);
      rdn = [];
      continue;
    }
    throw new DnSyntaxError(dn, i - 1, `unexpected "${separator}"`);
  }
  rdns.push(rdn);
  return rdns;
}

/** Reads one escaped value from `start`; returns it and the index of the separator (or the end). */
function readValue(dn: string, start: number): [string, number] {
  const bytes: number[] = [];
  // Unescaped spaces are held back: they are dropped when they turn out to be trailing.
  let heldSpaces = 0;
  let i = start;
  const flush = () => {
    for (; heldSpaces > 0; heldSpaces--) bytes.push(0x20);
  };
  while (i < dn.length) {
    const c = dn[i]!;
    if (c === ',' || c === '+' || c === ';') break;
    if (c === ' ') {
      heldSpaces++;
      i++;
      continue;
    }
    flush();
    if (c === '\\') {
      const pair = dn.slice(i + 1, i + 3);
      if (HEX_PAIR.test(pair)) {
        bytes.push(Number.parseInt(pair, 16));
        i += 3;
      } else if (i + 1 < dn.length && (SPECIAL.has(dn[i + 1]!) || dn[i + 1] === ' ' || dn[i + 1] === '#')) {
        bytes.push(dn.charCodeAt(i + 1));
        i += 2;
      } else {
        throw new DnSyntaxError(dn, i, 'bad escape');
      }
      continue;
    }
    const code = dn.charCodeAt(i);
    if (code < 0x80) {
      bytes.push(code);
      i++;
      continue;
    }
    const char = String.fromCodePoint(dn.codePointAt(i)!);
    bytes.push(...Buffer.from(char, 'utf8'));
    i += char.length;
  }
  try {
    return [utf8.decode(Uint8Array.from(bytes)), i];
  } catch {
    throw new DnSyntaxError(dn, start, 'escaped bytes are not UTF-8');
  }
}

/** RDNs back to a DN string, each value escaped; attribute types lowercased. */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map(formatRdn).join(',');
}

function formatRdn(rdn: Rdn): string {
  return rdn.map((a) => `${a.type.toLowerCase()}=${a.ber ? a.value : escapeDnValue(a.value)}`).join('+');
}

/**
 * The canonical spelling of a DN: attribute types lowercased, no spaces around separators,
 * values escaped as escapeDnValue does, value case kept. Every account key this connector
 * reports is in this form.
 */
export function normalizeDn(dn: string): string {
  return formatDn(parseDn(dn));
}

const PLAIN_VALUE = '[A-Za-z0-9._@-]+(?: +[A-Za-z0-9._@-]+)*';
const PLAIN_RDN = `[A-Za-z][A-Za-z0-9-]* *= *${PLAIN_VALUE} *`;
/** A DN with single-valued RDNs whose values need no escaping: what dnKey can key without parsing. */
const PLAIN_DN = new RegExp(`^ *${PLAIN_RDN}(?:, *${PLAIN_RDN})*$`);

/**
 * A comparison key: the canonical form with values lowercased and multi-valued RDNs sorted.
 * Naming attributes (uid, cn, ou, dc, o) match case-insensitively in LDAP, so two DNs naming the
 * same entry have the same key.
 */
export function dnKey(dn: string | readonly Rdn[]): string {
  // Most DNs in a directory are plain (letters, digits, . _ @ - and inner spaces): their key is
  // the text lowercased without spaces around separators, with no parse. Reconciliation keys
  // hundreds of thousands of member values this way.
  if (typeof dn === 'string' && PLAIN_DN.test(dn)) return dn.trim().toLowerCase().replace(/ *([,=]) */g, '$1');
  const rdns = typeof dn === 'string' ? parseDn(dn) : dn;
  return rdns.map((rdn) => rdnKey(rdn)).join(',');
}

function rdnKey(rdn: Rdn): string {
  return rdn.map((a) => formatRdn([{ ...a, value: a.ber ? a.value : a.value.toLowerCase() }])).sort().join('+');
}

/** The DN of the entry `type=value` directly below `parent`. */
export function childDn(type: string, value: string, parent: string): string {
  return `${type.toLowerCase()}=${escapeDnValue(value)},${normalizeDn(parent)}`;
}

/** The DN one level up (the empty string for a one-RDN DN). */
export function parentDn(dn: string): string {
  return formatDn(parseDn(dn).slice(1));
}

/** The leftmost RDN of a DN. */
export function firstRdn(dn: string): Rdn {
  const rdns = parseDn(dn);
  if (rdns.length === 0) throw new DnSyntaxError(dn, 0, 'empty DN');
  return rdns[0]!;
}

/** Whether `dn` is somewhere below `base` (not `base` itself). */
export function isBelow(dn: string | readonly Rdn[], base: string | readonly Rdn[]): boolean {
  const d = typeof dn === 'string' ? parseDn(dn) : dn;
  const b = typeof base === 'string' ? parseDn(base) : base;
  if (d.length <= b.length) return false;
  const offset = d.length - b.length;
  return b.every((rdn, k) => rdnKey(rdn) === rdnKey(d[offset + k]!));
}

/** Whether `dn` is exactly one level below `parent`. */
export function isChildOf(dn: string | readonly Rdn[], parent: string | readonly Rdn[]): boolean {
  const d = typeof dn === 'string' ? parseDn(dn) : dn;
  const p = typeof parent === 'string' ? parseDn(parent) : parent;
  return d.length === p.length + 1 && isBelow(d, p);
}
