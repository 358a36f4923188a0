/**
 * Birthright rule conditions: a deliberately tiny expression language checked here before a rule
 * is stored, then evaluated by Casbin as the matcher of the rule's own model
 * (policies/birthright_model.conf, request `r = sub`; see src/policy/birthright.ts).
 *
 * Casbin's matcher evaluation hands the text to jsep + @casbin/expression-eval, which accept far more than we
 * want (any identifier in the evaluation context — `p_cond`, `regexMatch`, `this` — computed
 * members, arithmetic, ...). So a rule is only ever accepted if this module's own parser can read
 * it, and the grammar is chosen so that every accepted text means the same thing to jsep as it
 * does to us (see the `!` and string-literal notes below).
 *
 * Grammar (whitespace = space, tab, CR, LF between tokens):
 *   expr       := and ( '||' and )*
 *   and        := unary ( '&&' unary )*
 *   unary      := '!' unary | primary
 *   primary    := '(' expr ')' | call | operand cmpOp operand | booleanAttribute
 *   call       := inList(stringAttr, str, ...) | hasItem(listAttr, str)
 *               | startsWith(stringAttr, str) | endsWith(stringAttr, str) | contains(stringAttr, str)
 *   operand    := 'r.sub.' attribute | str | number | 'true' | 'false'
 *   cmpOp      := '==' | '!=' | '<' | '<=' | '>' | '>='
 *   str        := '...' | "..."   escapes: \\ \' \" \. \$ \& \`
 * plus the type rules: exactly one side of a comparison is an attribute; string attributes meet
 * string literals; boolean attributes meet true/false with == or != only; list attributes appear
 * only as the first argument of hasItem. Numbers are lexed only so the error can name them.
 */

/** How an attribute's value is shaped, which decides where it may appear in a rule. */
export type AttributeKind = 'string' | 'boolean' | 'list';

/** The identity attributes a birthright rule may read, by kind. */
export const BIRTHRIGHT_ATTRIBUTES = Object.freeze({
  department: 'string',
  title: 'string',
  location: 'string',
  employmentType: 'string',
  costCenter: 'string',
  division: 'string',
  organization: 'string',
  userType: 'string',
  employeeNumber: 'string',
  userName: 'string',
  active: 'boolean',
  managerChain: 'list',
  groups: 'list',
} as const satisfies Record<string, AttributeKind>);

/** Name of an attribute a rule may read. */
export type BirthrightAttribute = keyof typeof BIRTHRIGHT_ATTRIBUTES;

/** A rule text that is not in the accepted language; `position` is the 0-based offset of the problem. */
export class RuleExpressionError extends Error {
  readonly position: number;

  constructor(message: string, position: number) {
    super(message);
    this.name = 'RuleExpressionError';
    this.position = position;
  }
}

const MAX_LENGTH = 2000;
const MAX_DEPTH = 32;

type FunctionName = 'inList' | 'hasItem' | 'startsWith' | 'endsWith' | 'contains';
const FUNCTION_NAMES: readonly FunctionName[] = ['inList', 'hasItem', 'startsWith', 'endsWith', 'contains'];

type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
type Punct = '(' | ')' | ',' | '!' | '&&' | '||' | CompareOp;
const COMPARE_OPS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=']);
const FLIPPED: Record<CompareOp, CompareOp> = { '==': '==', '!=': '!=', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };

type Token =
  | { type: 'path'; segments: string[]; text: string; pos: number; end: number }
  | { type: 'string'; value: string; pos: number }
  | { type: 'number'; text: string; pos: number }
  | { type: 'bool'; value: boolean; pos: number }
  | { type: 'punct'; value: Punct; pos: number }
  | { type: 'end'; pos: number };

type Node =
  | { kind: 'or' | 'and'; items: Node[] }
  | { kind: 'not'; operand: Node }
  | { kind: 'compare'; attribute: BirthrightAttribute; op: CompareOp; value: string | boolean }
  | { kind: 'flag'; attribute: BirthrightAttribute }
  | { kind: 'call'; fn: FunctionName; attribute: BirthrightAttribute; values: string[] };

type Operand =
  | { kind: 'attr'; name: BirthrightAttribute; type: AttributeKind; pos: number; text: string }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'bool'; value: boolean; pos: number }
  | { kind: 'number'; text: string; pos: number };

const ESCAPABLE = new Set(['\\', "'", '"', '.', '$', '&', '`']);
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

// Characters that cannot start any token, with the reason an admin most likely needs to hear.
const FORBIDDEN_CHARS: Record<string, string> = {
  '`': 'template strings are not allowed',
  '[': 'brackets (computed members, arrays) are not allowed; attributes are written r.sub.<name>',
  ']': 'brackets (computed members, arrays) are not allowed; attributes are written r.sub.<name>',
  '{': 'object literals are not allowed',
  '}': 'object literals are not allowed',
  '/': 'regular expressions and division are not allowed; use startsWith, endsWith or contains',
  '+': 'arithmetic is not allowed',
  '-': 'arithmetic and negative numbers are not allowed',
  '*': 'arithmetic is not allowed',
  '%': 'arithmetic is not allowed',
  '^': 'bitwise operators are not allowed',
  '~': 'bitwise operators are not allowed',
  '?': 'conditional expressions are not allowed',
  ':': 'conditional expressions are not allowed',
  ';': 'only a single expression is allowed',
  '.': "a '.' may only join the parts of r.sub.<attribute>",
};

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c === '$';
}

function isIdentPart(c: string): boolean {
  return isIdentStart(c) || (c >= '0' && c <= '9');
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f || code > 0x7e ? `U+${code.toString(16).toUpperCase().padStart(4, '0')}` : `'${c}'`;
}

function describeToken(token: Token): string {
  switch (token.type) {
    case 'path': return FUNCTION_NAMES.includes(token.text as FunctionName) ? `function ${token.text}` : `'${token.text}'`;
    case 'string': return `string literal ${quote(token.value)}`;
    case 'number': return `number ${token.text}`;
    case 'bool': return `literal ${token.value}`;
    case 'punct': return `'${token.value}'`;
    case 'end': return 'end of expression';
  }
}

function describeOperand(operand: Operand): string {
  switch (operand.kind) {
    case 'attr': return `attribute ${operand.text}`;
    case 'string': return `string literal ${quote(operand.value)}`;
    case 'bool': return `literal ${operand.value}`;
    case 'number': return `number ${operand.text}`;
  }
}

function expected(what: string, found: string, position: number, hint?: string): RuleExpressionError {
  return new RuleExpressionError(`Expected ${what} but found ${found} at position ${position}${hint ? ` (${hint})` : ''}`, position);
}

/** Lexes on demand so that the first problem reported is the leftmost one. */
class Lexer {
  private index = 0;

  constructor(readonly text: string) {}

  next(): Token {
    const text = this.text;
    while (this.index < text.length && WHITESPACE.has(text[this.index]!)) this.index++;
    const pos = this.index;
    if (pos >= text.length) return { type: 'end', pos };
    const c = text[pos]!;
    const two = text.slice(pos, pos + 2);
    const three = text.slice(pos, pos + 3);

    if (three === '===' || three === '!==') {
      throw new RuleExpressionError(`Operator '${three}' at position ${pos} is not supported; use '${three.slice(0, 2)}'`, pos);
    }
    if (two === '==' || two === '!=' || two === '<=' || two === '>=' || two === '&&' || two === '||') {
      this.index += 2;
      return { type: 'punct', value: two, pos };
    }
    if (c === '(' || c === ')' || c === ',' || c === '!' || c === '<' || c === '>') {
      this.index += 1;
      return { type: 'punct', value: c, pos };
    }
    if (c === '=') throw new RuleExpressionError(`Unexpected '=' at position ${pos}: assignment is not allowed; compare with '=='`, pos);
    if (c === '&' || c === '|') {
      throw new RuleExpressionError(`Unexpected '${c}' at position ${pos}: bitwise operators are not allowed; use '${c}${c}'`, pos);
    }
    if (c === "'" || c === '"') return this.string(c, pos);
    if (isDigit(c)) return this.number(pos);
    if (isIdentStart(c)) return this.path(pos);
    const reason = FORBIDDEN_CHARS[c];
    throw new RuleExpressionError(`Unexpected character ${showChar(c)} at position ${pos}${reason ? `: ${reason}` : ''}`, pos);
  }

  private string(quoteChar: string, start: number): Token {
    const text = this.text;
    let value = '';
    let i = start + 1;
    for (;;) {
      if (i >= text.length) throw new RuleExpressionError(`Unterminated string literal starting at position ${start}`, start);
      const c = text[i]!;
      if (c === quoteChar) break;
      const code = c.charCodeAt(0);
      if (code < 0x20 || code === 0x7f) {
        throw new RuleExpressionError(`Control character ${showChar(c)} at position ${i} is not allowed in a string literal`, i);
      }
      if (c === '\\') {
        const escaped = text[i + 1];
        if (escaped === undefined) throw new RuleExpressionError(`Unterminated string literal starting at position ${start}`, start);
        // Only escapes whose meaning jsep shares with us: jsep turns \n into a newline but \u0041 into "u0041".
        if (!ESCAPABLE.has(escaped)) {
          throw new RuleExpressionError(
            `Unsupported escape '\\${escaped}' at position ${i}; only \\\\ \\' \\" \\. \\$ \\& and \\\` may be escaped`, i);
        }
        value += escaped;
        i += 2;
        continue;
      }
      value += c;
      i += 1;
    }
    this.index = i + 1;
    return { type: 'string', value, pos: start };
  }

  private number(start: number): Token {
    const match = /^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(start))!;
    const end = start + match[0].length;
    const after = this.text[end];
    if (after !== undefined && (isIdentPart(after) || after === '.')) {
      throw new RuleExpressionError(`Malformed number at position ${start}`, start);
    }
    this.index = end;
    return { type: 'number', text: match[0], pos: start };
  }

  // Dots are only legal inside a path written without spaces: Casbin rewrites "r." to "r_" by regex,
  // and "r . sub" would escape that rewrite and fail at evaluation time instead of here.
  private path(start: number): Token {
    const text = this.text;
    const segments: string[] = [];
    let i = start;
    for (;;) {
      const segStart = i;
      while (i < text.length && isIdentPart(text[i]!)) i++;
      // jsep would take non-ASCII letters as part of the name; name the character rather than a truncated name.
      if (i < text.length && text.charCodeAt(i) > 0x7e) {
        throw new RuleExpressionError(`Unexpected character ${showChar(text[i]!)} at position ${i}`, i);
      }
      segments.push(text.slice(segStart, i));
      if (text[i] !== '.') break;
      if (i + 1 >= text.length || !isIdentStart(text[i + 1]!)) {
        const found = i + 1 >= text.length ? 'end of expression' : showChar(text[i + 1]!);
        throw expected(`a name after '${text.slice(start, i + 1)}'`, found, i + 1);
      }
      i += 1;
    }
    this.index = i;
    const whole = text.slice(start, i);
    if (segments.length === 1 && (whole === 'true' || whole === 'false')) return { type: 'bool', value: whole === 'true', pos: start };
    return { type: 'path', segments, text: whole, pos: start, end: i };
  }
}

class Parser {
  private readonly lexer: Lexer;
  private token: Token;

  constructor(readonly text: string) {
    this.lexer = new Lexer(text);
    this.token = this.lexer.next();
  }

  parse(): Node {
    if (this.token.type === 'end') throw expected('a condition', 'end of expression', this.token.pos, 'the rule is empty');
    const node = this.parseOr(0);
    const rest = this.peek(); // re-read: TS keeps the narrowing of this.token from before parseOr
    if (rest.type !== 'end') throw expected("'&&', '||' or end of expression", describeToken(rest), rest.pos);
    return node;
  }

  private peek(): Token {
    return this.token;
  }

  private advance(): Token {
    const current = this.token;
    this.token = this.lexer.next();
    return current;
  }

  private isPunct(value: Punct): boolean {
    return this.token.type === 'punct' && this.token.value === value;
  }

  private expectPunct(value: Punct, what = `'${value}'`): Token {
    if (!this.isPunct(value)) throw expected(what, describeToken(this.token), this.token.pos);
    return this.advance();
  }

  private checkDepth(depth: number, pos: number): void {
    if (depth > MAX_DEPTH) throw new RuleExpressionError(`Expression nests deeper than ${MAX_DEPTH} levels at position ${pos}`, pos);
  }

  private parseOr(depth: number): Node {
    const items = [this.parseAnd(depth)];
    while (this.isPunct('||')) {
      this.advance();
      items.push(this.parseAnd(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'or', items };
  }

  private parseAnd(depth: number): Node {
    const items = [this.parseUnary(depth)];
    while (this.isPunct('&&')) {
      this.advance();
      items.push(this.parseUnary(depth));
    }
    return items.length === 1 ? items[0]! : { kind: 'and', items };
  }

  private parseUnary(depth: number): Node {
    if (!this.isPunct('!')) return this.parsePrimary(depth);
    const bang = this.advance();
    this.checkDepth(depth + 1, bang.pos);
    if (this.isPunct('!') || this.isPunct('(')) return { kind: 'not', operand: this.parseUnary(depth + 1) };
    const operandPos = this.token.pos;
    const operand = this.parsePrimary(depth + 1);
    // jsep binds '!' tighter than '==': "!r.sub.active == false" means "(!r.sub.active) == false" to
    // Casbin, while our grammar would read "!(r.sub.active == false)"; they differ for a missing
    // attribute, so the ambiguous spelling is refused rather than silently reinterpreted.
    if (operand.kind === 'compare') {
      throw new RuleExpressionError(
        `'!' at position ${bang.pos} is followed by a comparison without parentheses (starting at position ${operandPos}); ` +
          "write !( ... ) around the comparison or use '!='", bang.pos);
    }
    return { kind: 'not', operand };
  }

  private parsePrimary(depth: number): Node {
    const token = this.token;
    if (token.type === 'punct' && token.value === '(') {
      this.advance();
      this.checkDepth(depth + 1, token.pos);
      const inner = this.parseOr(depth + 1);
      this.expectPunct(')', "'&&', '||' or ')'");
      return inner;
    }
    if (token.type === 'path' && token.segments.length === 1 && FUNCTION_NAMES.includes(token.text as FunctionName)) {
      return this.parseCall(token.text as FunctionName);
    }
    if (token.type === 'path' || token.type === 'string' || token.type === 'number' || token.type === 'bool') {
      return this.parseComparison();
    }
    throw expected('a condition', describeToken(token), token.pos);
  }

  private parseComparison(): Node {
    const left = this.parseOperand();
    const opToken = this.token;
    if (opToken.type !== 'punct' || !COMPARE_OPS.has(opToken.value)) {
      if (left.kind === 'attr' && left.type === 'boolean') return { kind: 'flag', attribute: left.name };
      if (left.kind === 'attr' && left.type === 'list') throw listMisuse(left);
      throw expected(`a comparison operator after ${describeOperand(left)}`, describeToken(opToken), opToken.pos);
    }
    this.advance();
    const right = this.parseOperand();
    let op = opToken.value as CompareOp;
    let attr: Operand = left;
    let literal: Operand = right;
    if (left.kind !== 'attr') {
      if (right.kind !== 'attr') {
        throw new RuleExpressionError(
          `A comparison must read an attribute, but at position ${left.pos} ${describeOperand(left)} is compared with ${describeOperand(right)}`,
          left.pos);
      }
      attr = right;
      literal = left;
      op = FLIPPED[op];
    }
    if (attr.kind !== 'attr') throw new Error('unreachable');
    if (literal.kind === 'attr') {
      throw expected(`a literal to compare ${attr.text} with`, describeOperand(literal), literal.pos, 'attributes cannot be compared with each other');
    }
    if (attr.type === 'list') throw listMisuse(attr);
    if (attr.type === 'boolean') {
      if (op !== '==' && op !== '!=') {
        throw new RuleExpressionError(`Boolean attribute ${attr.text} can only be compared with '==' or '!=', found '${opToken.value}' at position ${opToken.pos}`, opToken.pos);
      }
      if (literal.kind !== 'bool') throw expected(`true or false to compare with boolean attribute ${attr.text}`, describeOperand(literal), literal.pos);
      return { kind: 'compare', attribute: attr.name, op, value: literal.value };
    }
    if (literal.kind !== 'string') throw expected(`a string literal to compare with ${attr.text}`, describeOperand(literal), literal.pos);
    return { kind: 'compare', attribute: attr.name, op, value: literal.value };
  }

  private parseOperand(): Operand {
    const token = this.token;
    switch (token.type) {
      case 'string': this.advance(); return { kind: 'string', value: token.value, pos: token.pos };
      case 'number': this.advance(); return { kind: 'number', text: token.text, pos: token.pos };
      case 'bool': this.advance(); return { kind: 'bool', value: token.value, pos: token.pos };
      case 'path': {
        const attr = this.resolvePath(token);
        this.advance();
        if (this.isPunct('(')) {
          throw new RuleExpressionError(`Attribute ${attr.text} cannot be called, found '(' at position ${this.token.pos}`, this.token.pos);
        }
        return attr;
      }
      default: throw expected('an attribute (r.sub.<name>) or a literal', describeToken(token), token.pos);
    }
  }

  private resolvePath(token: Extract<Token, { type: 'path' }>): Extract<Operand, { kind: 'attr' }> {
    const { segments, pos } = token;
    const head = segments[0]!;
    if (head === 'r' && segments[1] === 'sub') {
      const name = segments[2];
      if (name === undefined) {
        const next = this.text[token.end];
        const found = next === undefined ? 'end of expression' : showChar(next);
        const hint = next === '[' ? 'computed member access is not allowed' : 'write r.sub.<attribute>';
        throw expected("'.<attribute>' after 'r.sub'", found, token.end, hint);
      }
      // Own-property lookup only: 'constructor' and '__proto__' must not resolve through Object.prototype.
      if (!Object.hasOwn(BIRTHRIGHT_ATTRIBUTES, name)) {
        throw new RuleExpressionError(
          `Unknown attribute '${name}' at position ${pos + 6}; known attributes are ${Object.keys(BIRTHRIGHT_ATTRIBUTES).join(', ')}`, pos + 6);
      }
      if (segments.length > 3) {
        const memberPos = pos + `r.sub.${name}`.length;
        throw new RuleExpressionError(`Attribute r.sub.${name} has no members, found '.${segments.slice(3).join('.')}' at position ${memberPos}`, memberPos);
      }
      const attribute = name as BirthrightAttribute;
      return { kind: 'attr', name: attribute, type: BIRTHRIGHT_ATTRIBUTES[attribute], pos, text: token.text };
    }
    if (token.text === 'r') {
      throw new RuleExpressionError(`'r' at position ${pos} must be followed directly (no spaces) by '.sub.<attribute>'`, pos);
    }
    if (head === 'r') {
      throw new RuleExpressionError(`Unknown request field '${token.text}' at position ${pos}; a rule can only read r.sub.<attribute>`, pos);
    }
    if (head === 'p') {
      throw new RuleExpressionError(`Policy fields ('${token.text}') are not readable from a rule, at position ${pos}; read identity attributes as r.sub.<attribute>`, pos);
    }
    if (head === 'this') throw new RuleExpressionError(`'this' is not allowed, at position ${pos}; read identity attributes as r.sub.<attribute>`, pos);
    if (segments.length === 1 && FUNCTION_NAMES.includes(head as FunctionName)) {
      throw expected('an attribute (r.sub.<name>) or a literal', `function ${head}`, pos, 'function calls cannot be nested or compared');
    }
    if (segments.length === 1 && /^\s*\(/.test(this.text.slice(token.end))) {
      throw new RuleExpressionError(`Unknown function '${head}' at position ${pos}; allowed functions are ${FUNCTION_NAMES.join(', ')}`, pos);
    }
    throw new RuleExpressionError(`Unknown name '${token.text}' at position ${pos}; identity attributes are written r.sub.<attribute>`, pos);
  }

  private parseCall(fn: FunctionName): Node {
    const nameToken = this.advance();
    this.expectPunct('(', `'(' after ${fn}`);
    const args: Operand[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        const arg = this.parseOperand();
        this.checkArgument(fn, args.length, arg);
        args.push(arg);
        if (!this.isPunct(',')) break;
        this.advance();
      }
    }
    const close = this.expectPunct(')', `',' or ')'`);
    const arity = fn === 'inList' ? 'at least 2 arguments (an attribute and one or more values)' : '2 arguments (an attribute and a value)';
    if (args.length < 2 || (fn !== 'inList' && args.length > 2)) {
      throw new RuleExpressionError(`${fn} (at position ${nameToken.pos}) takes ${arity} but found ${args.length} at position ${close.pos}`, close.pos);
    }
    const [first, ...rest] = args;
    if (first?.kind !== 'attr') throw new Error('unreachable');
    return { kind: 'call', fn, attribute: first.name, values: rest.map((r) => (r as { value: string }).value) };
  }

  private checkArgument(fn: FunctionName, index: number, arg: Operand): void {
    if (fn !== 'inList' && index >= 2) return; // arity is reported once the call is closed
    if (index === 0) {
      const wanted: AttributeKind = fn === 'hasItem' ? 'list' : 'string';
      if (arg.kind === 'attr' && arg.type === wanted) return;
      if (arg.kind === 'attr' && arg.type === 'list') throw listMisuse(arg);
      const what = wanted === 'list' ? 'a list attribute (r.sub.managerChain or r.sub.groups)' : 'a string attribute';
      throw expected(`${what} as the first argument of ${fn}`, describeOperand(arg), arg.pos);
    }
    if (arg.kind !== 'string') throw expected(`a string literal as argument ${index + 1} of ${fn}`, describeOperand(arg), arg.pos);
  }
}

function listMisuse(attr: Extract<Operand, { kind: 'attr' }>): RuleExpressionError {
  return new RuleExpressionError(
    `List attribute ${attr.text} at position ${attr.pos} can only be tested with hasItem(${attr.text}, '...')`, attr.pos);
}

function parseRule(text: string): Node {
  if (typeof text !== 'string') throw new RuleExpressionError('A rule condition must be a string', 0);
  if (text.length > MAX_LENGTH) {
    throw new RuleExpressionError(`Rule is ${text.length} characters long; at most ${MAX_LENGTH} are allowed (position ${MAX_LENGTH})`, MAX_LENGTH);
  }
  return new Parser(text).parse();
}

function collectAttributes(node: Node, into: Set<string>): void {
  switch (node.kind) {
    case 'or':
    case 'and': for (const item of node.items) collectAttributes(item, into); return;
    case 'not': collectAttributes(node.operand, into); return;
    default: into.add(node.attribute);
  }
}

// Casbin mangles the rule text before jsep sees it, even inside string literals:
//  - escapeAssertion() rewrites "r." / "p." (optionally "r2." etc.) after a separator to "r_";
//  - replaceEval() splices the rule in with String.prototype.replace, so "$&", "$$", "$`" and "$'"
//    are replacement patterns.
// The canonical form escapes exactly the characters that would trigger either, and jsep drops the
// backslash, so the value Casbin compares with is the value validated here.
const ASSERTION_TAIL = /[()\s|&,=!><+\-*/][rp][0-9]*$/;

function quote(value: string): string {
  let out = "'";
  for (const c of value) {
    if (c === '\\' || c === "'") out += `\\${c}`;
    else if (out.endsWith('$') && (c === '$' || c === '&' || c === '`')) out += `\\${c}`;
    else if (c === '.' && ASSERTION_TAIL.test(out)) out += '\\.';
    else out += c;
  }
  return `${out}'`;
}

function serialise(node: Node, negated = false): string {
  switch (node.kind) {
    case 'or': return node.items.map((item) => serialise(item)).join(' || ');
    case 'and': return node.items.map((item) => (item.kind === 'or' ? `(${serialise(item)})` : serialise(item))).join(' && ');
    case 'not': {
      const inner = node.operand;
      const bare = inner.kind === 'not' || inner.kind === 'call' || inner.kind === 'flag';
      return bare ? `!${serialise(inner, true)}` : `!(${serialise(inner)})`;
    }
    case 'compare': return `r.sub.${node.attribute} ${node.op} ${typeof node.value === 'boolean' ? String(node.value) : quote(node.value)}`;
    // A bare attribute that is undefined makes Casbin throw ("matcher result should only be of type
    // boolean, number, or string") and a non-boolean one would count as a match, so outside '!' it
    // is spelled as the comparison it means.
    case 'flag': return negated ? `r.sub.${node.attribute}` : `r.sub.${node.attribute} == true`;
    case 'call': return `${node.fn}(r.sub.${node.attribute}, ${node.values.map(quote).join(', ')})`;
  }
}

function flatten(node: Node): Node {
  switch (node.kind) {
    case 'or':
    case 'and': {
      const items: Node[] = [];
      for (const item of node.items.map(flatten)) {
        if (item.kind === node.kind) items.push(...item.items);
        else items.push(item);
      }
      return { kind: node.kind, items };
    }
    case 'not': return { kind: 'not', operand: flatten(node.operand) };
    default: return node;
  }
}

// The limit also holds for the normal form (which adds spaces, escapes and "== true"), so that whatever
// canonicalRuleExpression returns is itself a valid rule and validate/canonical accept the same texts.
function analyse(text: string): { node: Node; canonical: string } {
  const node = flatten(parseRule(text));
  const canonical = serialise(node);
  if (canonical.length > MAX_LENGTH) {
    throw new RuleExpressionError(
      `Rule is ${canonical.length} characters long once normalised (spacing, quoting, escapes); at most ${MAX_LENGTH} are allowed (position ${text.length})`,
      text.length);
  }
  return { node, canonical };
}

/** Checks a rule condition against the birthright grammar and returns the attributes it reads (sorted, unique); throws RuleExpressionError otherwise. */
export function validateRuleExpression(text: string): { attributes: string[] } {
  const attributes = new Set<string>();
  collectAttributes(analyse(text).node, attributes);
  return { attributes: [...attributes].sort() };
}

/** Validates a rule and re-serialises it in the one normal form that should be stored and handed to Casbin. */
export function canonicalRuleExpression(text: string): string {
  return analyse(text).canonical;
}

/** True when `value` is a string equal to one of `items`. */
function inList(value: unknown, ...items: unknown[]): boolean {
  return typeof value === 'string' && items.includes(value);
}

/** True when `list` is an array holding `item`. */
function hasItem(list: unknown, item: unknown): boolean {
  return Array.isArray(list) && typeof item === 'string' && list.includes(item);
}

/** True when both are strings and `value` starts with `prefix`. */
function startsWith(value: unknown, prefix: unknown): boolean {
  return typeof value === 'string' && typeof prefix === 'string' && value.startsWith(prefix);
}

/** True when both are strings and `value` ends with `suffix`. */
function endsWith(value: unknown, suffix: unknown): boolean {
  return typeof value === 'string' && typeof suffix === 'string' && value.endsWith(suffix);
}

/** True when both are strings and `value` contains `part`. */
function contains(value: unknown, part: unknown): boolean {
  return typeof value === 'string' && typeof part === 'string' && value.includes(part);
}

/** The functions a rule may call, for `enforcer.addFunction(name, fn)`; they never throw and answer false for missing values. */
export const ruleFunctions = Object.freeze({ inList, hasItem, startsWith, endsWith, contains });
