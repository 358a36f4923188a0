/**
 * Parser for SCIM 2.0 filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2).
 *
 * A tokenizer splits the text into brackets, quoted strings and "words" (any other run of
 * non-space characters); a small recursive-descent parser then decides from its position
 * whether a word is an attribute path, an operator, a keyword or an unquoted value. Words are
 * kept whole rather than split into finer tokens because both attribute paths
 * (`urn:...:2.0:User:manager.value`) and the unquoted values some clients send
 * (`john.doe@example.com`, `2011-05-13T04:42:34Z`) contain dots and colons.
 *
 * Positions in errors are 0-based offsets (UTF-16 code units) into the text given.
 */
import type { AttrPath, CompareOp, FilterNode, FilterValue } from './ast.js';

/** Longest filter or path accepted, in characters; bounds the work done for one request. */
export const MAX_FILTER_LENGTH = 10_000;

/** Deepest nesting of `(`, `not (` and `[` accepted; keeps recursion far below the stack limit. */
export const MAX_FILTER_DEPTH = 64;

/** Thrown for any filter or PATCH path that does not match the grammar; `position` is the 0-based offset of the offending character. */
export class FilterSyntaxError extends Error {
  readonly position: number;

  /** Creates the error; `message` should already say what was expected and where. */
  constructor(message: string, position: number) {
    super(message);
    this.name = 'FilterSyntaxError';
    this.position = position;
  }
}

/** Parses a SCIM filter expression (the `filter` query parameter or `filter` in a search request) into an AST. */
export function parseFilter(text: string): FilterNode {
  const parser = new Parser(text, 'filter');
  return parser.parseWholeFilter();
}

/** Parses a SCIM PATCH `path` (attrPath, valuePath or valuePath.subAttr) into its parts. */
export function parsePatchPath(text: string): { path: AttrPath; filter?: FilterNode; subAttr?: string } {
  const parser = new Parser(text, 'path');
  return parser.parseWholePath();
}

// ---------------------------------------------------------------------------
// Tokenizer

type TokenType = '(' | ')' | '[' | ']' | 'string' | 'word' | 'eof';

interface Token {
  type: TokenType;
  /** Offset of the token's first character. */
  pos: number;
  /** The token as written (strings include their quotes). */
  text: string;
  /** Decoded contents of a string token; '' for other tokens. */
  str: string;
}

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const OPERATOR_LIST = 'eq, ne, co, sw, ew, gt, ge, lt, le or pr';

// ATTRNAME of RFC 7643 §2.1, plus `$ref`, which the core schemas use as a sub-attribute name.
const NAME_RE = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/;
// Only the scheme part of the URI is checked: schema URNs are matched against known schemas later.
const SCHEMA_RE = /^[A-Za-z][A-Za-z0-9+.-]*:.*[^:]$/;
// JSON number (RFC 8259 §6); anything else unquoted that is not true/false/null is a bare string.
const NUMBER_RE = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const HEX4_RE = /^[0-9A-Fa-f]{4}$/;
const NAME_RULE = 'names start with a letter and contain only letters, digits, "-" and "_"';

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t',
};

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function endsWord(c: string): boolean {
  return isSpace(c) || c === '(' || c === ')' || c === '[' || c === ']' || c === '"';
}

function tokenize(src: string, fail: (pos: number, msg: string) => never): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (isSpace(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ type: c, pos: i, text: c, str: '' });
      i++;
    } else if (c === '"') {
      const end = readString(src, i, tokens, fail);
      i = end;
    } else {
      let j = i + 1;
      while (j < src.length && !endsWord(src.charAt(j))) j++;
      tokens.push({ type: 'word', pos: i, text: src.slice(i, j), str: '' });
      i = j;
    }
  }
  tokens.push({ type: 'eof', pos: src.length, text: '', str: '' });
  return tokens;
}

const EOF: Token = { type: 'eof', pos: 0, text: '', str: '' };

/** Reads the JSON string starting at `start` (a `"`), pushes it and returns the offset after the closing quote. */
function readString(src: string, start: number, tokens: Token[], fail: (pos: number, msg: string) => never): number {
  const parts: string[] = [];
  let i = start + 1;
  let runStart = i;
  for (;;) {
    if (i >= src.length) fail(start, `Unterminated string starting at position ${start}: expected a closing '"'`);
    const c = src.charAt(i);
    if (c === '"') break;
    if (c !== '\\') {
      i++;
      continue;
    }
    parts.push(src.slice(runStart, i));
    const e = src.charAt(i + 1);
    const simple = Object.hasOwn(SIMPLE_ESCAPES, e) ? SIMPLE_ESCAPES[e] : undefined;
    if (simple !== undefined) {
      parts.push(simple);
      i += 2;
    } else if (e === 'u') {
      const hex = src.slice(i + 2, i + 6);
      if (!HEX4_RE.test(hex)) fail(i, `Invalid escape at position ${i}: expected '\\u' followed by 4 hex digits`);
      // Surrogate pairs written as two \u escapes recombine naturally in a UTF-16 string.
      parts.push(String.fromCharCode(parseInt(hex, 16)));
      i += 6;
    } else if (e === '') {
      fail(start, `Unterminated string starting at position ${start}: expected a closing '"'`);
    } else {
      fail(i, `Invalid escape '\\${e}' at position ${i}: expected one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX`);
    }
    runStart = i;
  }
  parts.push(src.slice(runStart, i));
  tokens.push({ type: 'string', pos: start, text: src.slice(start, i + 1), str: parts.join('') });
  return i + 1;
}

// ---------------------------------------------------------------------------
// Parser
//
//   filter   := or
//   or       := and ("or" and)*                      left-associative
//   and      := unary ("and" unary)*                 left-associative
//   unary    := "not" "(" or ")" | "(" or ")" | attrPath ("pr" | compareOp value | "[" or "]")
//
// Inside "[...]" the same rules apply, except that paths are bare sub-attribute names and
// another "[" is rejected.

interface Context {
  depth: number;
  /** Inside the brackets of a value path. */
  inValue: boolean;
}

function describe(t: Token, label: string): string {
  switch (t.type) {
    case 'eof': return `end of ${label}`;
    case 'string': return `string ${truncate(t.text)}`;
    case 'word': return `"${truncate(t.text)}"`;
    default: return `"${t.type}"`;
  }
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function isKeyword(t: Token, kw: string): boolean {
  return t.type === 'word' && t.text.toLowerCase() === kw;
}

class Parser {
  private readonly label: 'filter' | 'path';
  private readonly tokens: Token[];
  private index = 0;

  constructor(src: unknown, label: 'filter' | 'path') {
    this.label = label;
    // Query parameters can arrive as arrays or be missing at runtime despite the declared type.
    if (typeof src !== 'string') this.fail(0, `Expected a string at position 0, found ${src === null ? 'null' : typeof src}`);
    if (src.length > MAX_FILTER_LENGTH) {
      this.fail(MAX_FILTER_LENGTH, `The ${label} is longer than the maximum of ${MAX_FILTER_LENGTH} characters: expected its end at position ${MAX_FILTER_LENGTH}`);
    }
    this.tokens = tokenize(src, (pos, msg) => this.fail(pos, msg));
  }

  parseWholeFilter(): FilterNode {
    if (this.peek().type === 'eof') this.fail(0, 'Empty filter at position 0: expected an attribute path, "not" or "("');
    const node = this.parseOr({ depth: 0, inValue: false });
    const t = this.peek();
    if (t.type !== 'eof') {
      if (t.type === ')' || t.type === ']') {
        this.fail(t.pos, `Unexpected "${t.type}" at position ${t.pos}: no matching "${t.type === ')' ? '(' : '['}"`);
      }
      this.fail(t.pos, `Expected "and", "or" or end of filter at position ${t.pos}, found ${this.describe(t)}`);
    }
    return node;
  }

  parseWholePath(): { path: AttrPath; filter?: FilterNode; subAttr?: string } {
    const first = this.peek();
    if (first.type === 'eof') this.fail(0, 'Empty path at position 0: expected an attribute path');
    if (first.type !== 'word') {
      this.fail(first.pos, `Expected an attribute path at position ${first.pos}, found ${this.describe(first)}`);
    }
    this.next();
    const path = this.parseAttrPath(first, false);
    const result: { path: AttrPath; filter?: FilterNode; subAttr?: string } = { path };
    if (this.peek().type === '[') {
      result.filter = this.parseBrackets(first, path, { depth: 0, inValue: false });
      const after = this.peek();
      if (after.type === 'word' && after.text.startsWith('.')) {
        this.next();
        const sub = after.text.slice(1);
        if (!NAME_RE.test(sub)) {
          this.fail(after.pos + 1, `Invalid sub-attribute name "${truncate(sub)}" at position ${after.pos + 1}: ${NAME_RULE}`);
        }
        result.subAttr = sub;
      }
    }
    const end = this.peek();
    if (end.type !== 'eof') {
      const expected = result.filter === undefined
        ? '"[" or end of path'
        : result.subAttr === undefined ? '".subAttribute" or end of path' : 'end of path';
      this.fail(end.pos, `Expected ${expected} at position ${end.pos}, found ${this.describe(end)}`);
    }
    return result;
  }

  private parseOr(ctx: Context): FilterNode {
    let left = this.parseAnd(ctx);
    // A loop rather than recursion so long and/or chains cost no stack depth.
    while (isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.parseAnd(ctx) };
    }
    return left;
  }

  private parseAnd(ctx: Context): FilterNode {
    let left = this.parseUnary(ctx);
    while (isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.parseUnary(ctx) };
    }
    return left;
  }

  private parseUnary(ctx: Context): FilterNode {
    const t = this.peek();
    if (t.type === '(') return this.parseGroup(ctx);
    if (t.type === 'word') {
      if (isKeyword(t, 'not')) {
        const n = this.peek(1);
        if (n.type === '(') {
          this.next();
          return { kind: 'not', expr: this.parseGroup(ctx) };
        }
        // "not" followed by an operator is an attribute that happens to be called "not".
        if (!(n.type === 'word' && (COMPARE_OPS.has(n.text.toLowerCase()) || isKeyword(n, 'pr')))) {
          this.fail(n.pos, `Expected "(" after "not" at position ${n.pos}, found ${this.describe(n)}`);
        }
      }
      this.next();
      return this.parseAttrExpr(t, ctx);
    }
    this.fail(t.pos, `Expected an attribute path, "not" or "(" at position ${t.pos}, found ${this.describe(t)}`);
  }

  /** Parses "(" filter ")"; the next token is the "(". */
  private parseGroup(ctx: Context): FilterNode {
    const open = this.next();
    const inner = { depth: this.deeper(ctx, open), inValue: ctx.inValue };
    const node = this.parseOr(inner);
    const close = this.peek();
    if (close.type !== ')') {
      this.fail(close.pos, `Expected "and", "or" or ")" to close the "(" at position ${open.pos}; found ${this.describe(close)} at position ${close.pos}`);
    }
    this.next();
    return node;
  }

  private parseAttrExpr(pathTok: Token, ctx: Context): FilterNode {
    const path = this.parseAttrPath(pathTok, ctx.inValue);
    const op = this.peek();
    if (op.type === '[') {
      if (ctx.inValue) {
        this.fail(op.pos, `Unexpected "[" at position ${op.pos}: value paths cannot be nested inside another value path`);
      }
      const filter = this.parseBrackets(pathTok, path, ctx);
      const after = this.peek();
      if (after.type === 'word' && after.text.startsWith('.')) {
        this.fail(after.pos, `Unexpected "${truncate(after.text)}" at position ${after.pos}: a sub-attribute after a value path is only allowed in PATCH paths, not in filters`);
      }
      return { kind: 'valuePath', path, filter };
    }
    if (op.type !== 'word') {
      this.fail(op.pos, `Expected an operator (${OPERATOR_LIST}) after "${truncate(pathTok.text)}" at position ${op.pos}, found ${this.describe(op)}`);
    }
    const name = op.text.toLowerCase();
    this.next();
    if (name === 'pr') {
      const after = this.peek();
      if (after.type === 'string' || (after.type === 'word' && !isKeyword(after, 'and') && !isKeyword(after, 'or'))) {
        this.fail(after.pos, `Unexpected ${this.describe(after)} at position ${after.pos}: "pr" takes no value; expected "and", "or" or the end of the expression after "pr"`);
      }
      return { kind: 'present', path };
    }
    if (!COMPARE_OPS.has(name)) {
      this.fail(op.pos, `Unknown operator "${truncate(op.text)}" at position ${op.pos}: expected one of ${OPERATOR_LIST}`);
    }
    return { kind: 'compare', path, op: name as CompareOp, value: this.parseValue(op) };
  }

  /** Parses "[" filter "]" after `pathTok`; the next token is the "[". */
  private parseBrackets(pathTok: Token, path: AttrPath, ctx: Context): FilterNode {
    if (path.sub !== undefined) {
      const dot = pathTok.pos + pathTok.text.lastIndexOf('.');
      this.fail(dot, `Unexpected sub-attribute at position ${dot}: a value path "attr[...]" must be filtered on the attribute itself, not on "${truncate(pathTok.text)}"`);
    }
    const open = this.next();
    const node = this.parseOr({ depth: this.deeper(ctx, open), inValue: true });
    const close = this.peek();
    if (close.type !== ']') {
      this.fail(close.pos, `Expected "and", "or" or "]" to close the "[" at position ${open.pos}; found ${this.describe(close)} at position ${close.pos}`);
    }
    this.next();
    return node;
  }

  private parseValue(op: Token): FilterValue {
    const t = this.peek();
    if (t.type === 'string') {
      this.next();
      return t.str;
    }
    if (t.type !== 'word') {
      this.fail(t.pos, `Expected a value (string, number, true, false or null) after "${op.text}" at position ${t.pos}, found ${this.describe(t)}`);
    }
    this.next();
    if (NUMBER_RE.test(t.text)) {
      const n = Number(t.text);
      if (!Number.isFinite(n)) this.fail(t.pos, `Number "${truncate(t.text)}" at position ${t.pos} is out of range`);
      return n;
    }
    const lower = t.text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    if (lower === 'null') return null;
    // Unquoted strings are not in the RFC, but Microsoft Entra ID and others send them.
    return t.text;
  }

  private parseAttrPath(t: Token, relative: boolean): AttrPath {
    const text = t.text;
    // Schema URNs contain dots ("2.0"), so the attribute starts after the last colon, not at a dot.
    const colon = text.lastIndexOf(':');
    const rest = text.slice(colon + 1);
    const restPos = t.pos + colon + 1;
    const dot = rest.indexOf('.');
    const attr = dot < 0 ? rest : rest.slice(0, dot);
    const path: AttrPath = { attr };
    if (colon >= 0) {
      const schema = text.slice(0, colon);
      if (relative) {
        this.fail(t.pos, `Unexpected schema URI in "${truncate(text)}" at position ${t.pos}: attributes inside "[...]" are sub-attribute names of the enclosing attribute`);
      }
      if (!SCHEMA_RE.test(schema)) {
        this.fail(t.pos, `Invalid schema URI "${truncate(schema)}" at position ${t.pos}: expected a URI such as "urn:ietf:params:scim:schemas:core:2.0:User" before the attribute name`);
      }
      path.schema = schema;
    }
    if (!NAME_RE.test(attr)) {
      this.fail(restPos, attr === ''
        ? `Expected an attribute name at position ${restPos}, found ${this.describe(t)}`
        : `Invalid attribute name "${truncate(attr)}" at position ${restPos}: ${NAME_RULE}`);
    }
    if (dot >= 0) {
      const sub = rest.slice(dot + 1);
      const subPos = restPos + dot + 1;
      if (relative) {
        this.fail(restPos + dot, `Unexpected "." at position ${restPos + dot}: attributes inside "[...]" are sub-attribute names and cannot have sub-attributes themselves`);
      }
      if (!NAME_RE.test(sub)) {
        this.fail(subPos, sub === ''
          ? `Expected a sub-attribute name after "." at position ${subPos}`
          : `Invalid sub-attribute name "${truncate(sub)}" at position ${subPos}: ${NAME_RULE}`);
      }
      path.sub = sub;
    }
    return path;
  }

  private deeper(ctx: Context, open: Token): number {
    const depth = ctx.depth + 1;
    if (depth > MAX_FILTER_DEPTH) {
      this.fail(open.pos, `The ${this.label} nests deeper than ${MAX_FILTER_DEPTH} levels at position ${open.pos}`);
    }
    return depth;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)] ?? EOF;
  }

  private next(): Token {
    const t = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return t;
  }

  private describe(t: Token): string {
    return describe(t, this.label);
  }

  private fail(pos: number, msg: string): never {
    throw new FilterSyntaxError(this.label === 'path' ? `Invalid path: ${msg}` : `Invalid filter: ${msg}`, pos);
  }
}
