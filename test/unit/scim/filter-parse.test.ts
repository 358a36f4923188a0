import { prng } from '../../support/prng.js';
import { expect } from 'chai';
import type { AttrPath, CompareOp, FilterNode, FilterValue } from '../../../src/scim/filter/ast.js';
import {
  FilterSyntaxError,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  parseFilter,
  parsePatchPath,
} from '../../../src/scim/filter/parse.js';

// --- AST builders -----------------------------------------------------------

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/** "a" or "a.b" (no schema) → AttrPath; use `sp` for schema-qualified paths. */
function p(path: string): AttrPath {
  const dot = path.indexOf('.');
  return dot < 0 ? { attr: path } : { attr: path.slice(0, dot), sub: path.slice(dot + 1) };
}
function sp(schema: string, attr: string, sub?: string): AttrPath {
  return sub === undefined ? { schema, attr } : { schema, attr, sub };
}
function cmp(path: string | AttrPath, op: CompareOp, value: FilterValue): FilterNode {
  return { kind: 'compare', path: typeof path === 'string' ? p(path) : path, op, value };
}
function pr(path: string | AttrPath): FilterNode {
  return { kind: 'present', path: typeof path === 'string' ? p(path) : path };
}
function and(left: FilterNode, right: FilterNode): FilterNode {
  return { kind: 'and', left, right };
}
function or(left: FilterNode, right: FilterNode): FilterNode {
  return { kind: 'or', left, right };
}
function not(expr: FilterNode): FilterNode {
  return { kind: 'not', expr };
}
function vp(path: string | AttrPath, filter: FilterNode): FilterNode {
  return { kind: 'valuePath', path: typeof path === 'string' ? p(path) : path, filter };
}

type Case = [input: string, expected: FilterNode];

function runValid(cases: Case[]): void {
  for (const [input, expected] of cases) {
    it(`parses ${JSON.stringify(input)}`, () => {
      expect(parseFilter(input)).to.deep.equal(expected);
    });
  }
}

function syntaxError(fn: () => unknown): FilterSyntaxError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(FilterSyntaxError);
    return err as FilterSyntaxError;
  }
  expect.fail('expected a FilterSyntaxError');
}

// --- Valid filters ------------------------------------------------------------

describe('parseFilter', () => {
  describe('RFC 7644 §3.4.2.2 examples', () => {
    runValid([
      ['userName eq "bjensen"', cmp('userName', 'eq', 'bjensen')],
      ['name.familyName co "O\'Malley"', cmp('name.familyName', 'co', "O'Malley")],
      ['userName sw "J"', cmp('userName', 'sw', 'J')],
      [`${CORE}:userName sw "J"`, cmp(sp(CORE, 'userName'), 'sw', 'J')],
      ['title pr', pr('title')],
      ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp('meta.lastModified', 'gt', '2011-05-13T04:42:34Z')],
      ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp('meta.lastModified', 'ge', '2011-05-13T04:42:34Z')],
      ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp('meta.lastModified', 'lt', '2011-05-13T04:42:34Z')],
      ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp('meta.lastModified', 'le', '2011-05-13T04:42:34Z')],
      ['title pr and userType eq "Employee"', and(pr('title'), cmp('userType', 'eq', 'Employee'))],
      ['title pr or userType eq "Intern"', or(pr('title'), cmp('userType', 'eq', 'Intern'))],
      [`schemas eq "${ENT}"`, cmp('schemas', 'eq', ENT)],
      [
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
        and(cmp('userType', 'eq', 'Employee'), or(cmp('emails', 'co', 'example.com'), cmp('emails.value', 'co', 'example.org'))),
      ],
      [
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        and(cmp('userType', 'ne', 'Employee'), not(or(cmp('emails', 'co', 'example.com'), cmp('emails.value', 'co', 'example.org')))),
      ],
      ['userType eq "Employee" and (emails.type eq "work")', and(cmp('userType', 'eq', 'Employee'), cmp('emails.type', 'eq', 'work'))],
      [
        'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
        and(cmp('userType', 'eq', 'Employee'), vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com')))),
      ],
      [
        'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
        or(
          vp('emails', and(cmp('type', 'eq', 'work'), cmp('value', 'co', '@example.com'))),
          vp('ims', and(cmp('type', 'eq', 'xmpp'), cmp('value', 'co', '@foo.com'))),
        ),
      ],
    ]);
  });

  describe('comparison operators', () => {
    const ops: CompareOp[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];
    runValid(ops.map((op): Case => [`displayName ${op} "x"`, cmp('displayName', op, 'x')]));
  });

  describe('case-insensitive keywords', () => {
    runValid([
      ['userName EQ "bjensen"', cmp('userName', 'eq', 'bjensen')],
      ['userName Eq "bjensen"', cmp('userName', 'eq', 'bjensen')],
      ['userName NE "x"', cmp('userName', 'ne', 'x')],
      ['userName Co "x"', cmp('userName', 'co', 'x')],
      ['userName sW "x"', cmp('userName', 'sw', 'x')],
      ['userName EW "x"', cmp('userName', 'ew', 'x')],
      ['meta.created GT "2020"', cmp('meta.created', 'gt', '2020')],
      ['meta.created gE "2020"', cmp('meta.created', 'ge', '2020')],
      ['meta.created Lt "2020"', cmp('meta.created', 'lt', '2020')],
      ['meta.created LE "2020"', cmp('meta.created', 'le', '2020')],
      ['title PR', pr('title')],
      ['title Pr', pr('title')],
      ['a pr AND b pr', and(pr('a'), pr('b'))],
      ['a pr And b pr', and(pr('a'), pr('b'))],
      ['a pr OR b pr', or(pr('a'), pr('b'))],
      ['a pr oR b pr', or(pr('a'), pr('b'))],
      ['NOT (a pr)', not(pr('a'))],
      ['Not (a pr)', not(pr('a'))],
      ['active eq TRUE', cmp('active', 'eq', true)],
      ['active eq False', cmp('active', 'eq', false)],
      ['manager eq NULL', cmp('manager', 'eq', null)],
      ['emails[TYPE EQ "work" AND value Pr]', vp('emails', and(cmp('TYPE', 'eq', 'work'), pr('value')))],
    ]);
  });

  describe('precedence, associativity and grouping', () => {
    runValid([
      ['a pr and b pr or c pr', or(and(pr('a'), pr('b')), pr('c'))],
      ['a pr or b pr and c pr', or(pr('a'), and(pr('b'), pr('c')))],
      ['a pr or b pr and c pr or d pr', or(or(pr('a'), and(pr('b'), pr('c'))), pr('d'))],
      ['a pr and b pr and c pr', and(and(pr('a'), pr('b')), pr('c'))],
      ['a pr or b pr or c pr', or(or(pr('a'), pr('b')), pr('c'))],
      ['a pr and b pr and c pr and d pr', and(and(and(pr('a'), pr('b')), pr('c')), pr('d'))],
      ['(a pr or b pr) and c pr', and(or(pr('a'), pr('b')), pr('c'))],
      ['a pr and (b pr or c pr)', and(pr('a'), or(pr('b'), pr('c')))],
      ['a pr or (b pr or c pr)', or(pr('a'), or(pr('b'), pr('c')))],
      ['not (a pr) and b pr', and(not(pr('a')), pr('b'))],
      ['b pr and not (a pr)', and(pr('b'), not(pr('a')))],
      ['not (a pr) or not (b pr)', or(not(pr('a')), not(pr('b')))],
      ['not (a pr or b pr)', not(or(pr('a'), pr('b')))],
      ['not (not (a pr))', not(not(pr('a')))],
      ['not(a pr)', not(pr('a'))],
      ['(a pr)', pr('a')],
      ['((a pr))', pr('a')],
      ['(((((a eq 1)))))', cmp('a', 'eq', 1)],
      [
        '((a eq 1) and (b eq 2 or (c pr)))',
        and(cmp('a', 'eq', 1), or(cmp('b', 'eq', 2), pr('c'))),
      ],
      [
        '(a eq 1 or b eq 2) and (c eq 3 or d eq 4)',
        and(or(cmp('a', 'eq', 1), cmp('b', 'eq', 2)), or(cmp('c', 'eq', 3), cmp('d', 'eq', 4))),
      ],
      [
        'not ((a pr and b pr) or not (c pr))',
        not(or(and(pr('a'), pr('b')), not(pr('c')))),
      ],
      // Words that are keywords elsewhere are attribute names where an attribute is expected.
      ['and pr or or pr', or(pr('and'), pr('or'))],
      ['not eq "x"', cmp('not', 'eq', 'x')],
      ['not pr and pr pr', and(pr('not'), pr('pr'))],
      ['eq eq "eq"', cmp('eq', 'eq', 'eq')],
    ]);
  });

  describe('attribute paths', () => {
    runValid([
      ['userName pr', pr('userName')],
      ['name.familyName pr', pr('name.familyName')],
      ['meta.lastModified pr', pr('meta.lastModified')],
      ['x509Certificates pr', pr('x509Certificates')],
      ['a-b_c9 pr', pr('a-b_c9')],
      ['members.$ref pr', pr('members.$ref')],
      ['$ref pr', pr('$ref')],
      ['USERNAME pr', pr('USERNAME')],
      [`${CORE}:userName eq "x"`, cmp(sp(CORE, 'userName'), 'eq', 'x')],
      [`${CORE}:name.givenName eq "x"`, cmp(sp(CORE, 'name', 'givenName'), 'eq', 'x')],
      [`${ENT}:employeeNumber eq "701984"`, cmp(sp(ENT, 'employeeNumber'), 'eq', '701984')],
      [`${ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"`, cmp(sp(ENT, 'manager', 'value'), 'eq', '26118915-6090-4610-87e4-49d8ca9f808d')],
      [`${ENT}:manager.$ref pr`, pr(sp(ENT, 'manager', '$ref'))],
      ['urn:example:params:scim:schemas:custom:1.0.3:Thing:field pr', pr(sp('urn:example:params:scim:schemas:custom:1.0.3:Thing', 'field'))],
      ['urn:x:a pr', pr(sp('urn:x', 'a'))],
      ['http://example.com/schemas/v1.0:attr pr', pr(sp('http://example.com/schemas/v1.0', 'attr'))],
      [`${CORE}:emails[type eq "work"]`, vp(sp(CORE, 'emails'), cmp('type', 'eq', 'work'))],
    ]);
  });

  describe('values', () => {
    runValid([
      // JSON strings
      ['a eq ""', cmp('a', 'eq', '')],
      ['a eq "with spaces  inside"', cmp('a', 'eq', 'with spaces  inside')],
      ['a eq "  padded  "', cmp('a', 'eq', '  padded  ')],
      ['a eq "tab\there"', cmp('a', 'eq', 'tab\there')],
      ['a eq "say \\"hi\\""', cmp('a', 'eq', 'say "hi"')],
      ['a eq "back\\\\slash"', cmp('a', 'eq', 'back\\slash')],
      ['a eq "\\/"', cmp('a', 'eq', '/')],
      ['a eq "\\b\\f\\n\\r\\t"', cmp('a', 'eq', '\b\f\n\r\t')],
      ['a eq "caf\\u00e9"', cmp('a', 'eq', 'café')],
      ['a eq "\\u00C9"', cmp('a', 'eq', 'É')],
      ['a eq "\\ud83d\\ude00"', cmp('a', 'eq', '😀')],
      ['a eq "\\u0000"', cmp('a', 'eq', '\u0000')],
      ['a eq "café 😀"', cmp('a', 'eq', 'café 😀')],
      ['a eq "(not) [a] filter and or"', cmp('a', 'eq', '(not) [a] filter and or')],
      ['a eq "123"', cmp('a', 'eq', '123')],
      ['a eq "true"', cmp('a', 'eq', 'true')],
      ['a eq "null"', cmp('a', 'eq', 'null')],
      // numbers
      ['a eq 0', cmp('a', 'eq', 0)],
      ['a eq 42', cmp('a', 'eq', 42)],
      ['a eq -7', cmp('a', 'eq', -7)],
      ['a eq 3.25', cmp('a', 'eq', 3.25)],
      ['a eq -0.5', cmp('a', 'eq', -0.5)],
      ['a eq 1e3', cmp('a', 'eq', 1000)],
      ['a eq 1E+3', cmp('a', 'eq', 1000)],
      ['a eq 2.5e-2', cmp('a', 'eq', 0.025)],
      ['a gt 9007199254740991', cmp('a', 'gt', 9007199254740991)],
      // literals
      ['active eq true', cmp('active', 'eq', true)],
      ['active eq false', cmp('active', 'eq', false)],
      ['manager eq null', cmp('manager', 'eq', null)],
      ['active ne tRuE', cmp('active', 'ne', true)],
      // bare (unquoted) strings, as sent by Microsoft Entra ID and others
      ['userName eq john.doe@example.com', cmp('userName', 'eq', 'john.doe@example.com')],
      ['externalId eq 12ab-34', cmp('externalId', 'eq', '12ab-34')],
      ['externalId eq 0123', cmp('externalId', 'eq', '0123')],
      ['externalId eq 1.', cmp('externalId', 'eq', '1.')],
      ['externalId eq .5', cmp('externalId', 'eq', '.5')],
      ['externalId eq +1', cmp('externalId', 'eq', '+1')],
      ['externalId eq 1e', cmp('externalId', 'eq', '1e')],
      ['externalId eq 0x1F', cmp('externalId', 'eq', '0x1F')],
      ['externalId eq Infinity', cmp('externalId', 'eq', 'Infinity')],
      ['externalId eq NaN', cmp('externalId', 'eq', 'NaN')],
      ['a eq truthy', cmp('a', 'eq', 'truthy')],
      ['a eq nullable', cmp('a', 'eq', 'nullable')],
      ['meta.lastModified gt 2011-05-13T04:42:34Z', cmp('meta.lastModified', 'gt', '2011-05-13T04:42:34Z')],
      ['id eq 2819c223-7f76-453a-919d-413861904646', cmp('id', 'eq', '2819c223-7f76-453a-919d-413861904646')],
      [`schemas eq ${ENT}`, cmp('schemas', 'eq', ENT)],
      ['a eq bjensen and b pr', and(cmp('a', 'eq', 'bjensen'), pr('b'))],
      ['(a eq bjensen)', cmp('a', 'eq', 'bjensen')],
      ['emails[value eq a@b.c]', vp('emails', cmp('value', 'eq', 'a@b.c'))],
      ['a eq and', cmp('a', 'eq', 'and')],
      ['a eq x\'y', cmp('a', 'eq', "x'y")],
      ['a eq über', cmp('a', 'eq', 'über')],
    ]);
  });

  describe('whitespace', () => {
    runValid([
      ['  userName eq "x"  ', cmp('userName', 'eq', 'x')],
      ['userName    eq     "x"', cmp('userName', 'eq', 'x')],
      ['userName\teq\t"x"', cmp('userName', 'eq', 'x')],
      ['\t a pr \t and \t b pr \t', and(pr('a'), pr('b'))],
      ['( a pr )', pr('a')],
      ['(a pr)and(b pr)', and(pr('a'), pr('b'))],
      ['not   (a pr)', not(pr('a'))],
      ['emails[ type eq "work" ]', vp('emails', cmp('type', 'eq', 'work'))],
      ['emails [type eq "work"]', vp('emails', cmp('type', 'eq', 'work'))],
      ['userName eq"x"', cmp('userName', 'eq', 'x')],
      ['userName eq "x"and b pr', and(cmp('userName', 'eq', 'x'), pr('b'))],
      ['a pr\r\nand b pr', and(pr('a'), pr('b'))],
    ]);
  });

  describe('value paths', () => {
    runValid([
      ['emails[type eq "work"]', vp('emails', cmp('type', 'eq', 'work'))],
      ['emails[primary eq true]', vp('emails', cmp('primary', 'eq', true))],
      ['emails[value pr]', vp('emails', pr('value'))],
      ['emails[not (type eq "work")]', vp('emails', not(cmp('type', 'eq', 'work')))],
      ['emails[(type eq "work")]', vp('emails', cmp('type', 'eq', 'work'))],
      ['members[value eq "2819c223"]', vp('members', cmp('value', 'eq', '2819c223'))],
      ['members[$ref pr]', vp('members', pr('$ref'))],
      [
        'emails[type eq "work" and (value ew "@example.com" or value sw "x")]',
        vp('emails', and(cmp('type', 'eq', 'work'), or(cmp('value', 'ew', '@example.com'), cmp('value', 'sw', 'x')))),
      ],
      [
        'emails[type eq "work" or type eq "home" and primary eq true]',
        vp('emails', or(cmp('type', 'eq', 'work'), and(cmp('type', 'eq', 'home'), cmp('primary', 'eq', true)))),
      ],
      [
        '(emails[type eq "work"] and userName sw "b") or not (addresses[country eq "US"])',
        or(
          and(vp('emails', cmp('type', 'eq', 'work')), cmp('userName', 'sw', 'b')),
          not(vp('addresses', cmp('country', 'eq', 'US'))),
        ),
      ],
      [
        'emails[type eq "work"] and phoneNumbers[type eq "mobile"] and active eq true',
        and(and(vp('emails', cmp('type', 'eq', 'work')), vp('phoneNumbers', cmp('type', 'eq', 'mobile'))), cmp('active', 'eq', true)),
      ],
      ['((emails[value co "]"]))', vp('emails', cmp('value', 'co', ']'))],
      ['emails[value eq "[x]"]', vp('emails', cmp('value', 'eq', '[x]'))],
    ]);
  });

  describe('errors', () => {
    // [input, message fragment, position]
    const cases: Array<[string, RegExp, number]> = [
      ['', /empty filter/i, 0],
      ['   \t ', /empty filter/i, 0],
      ['userName', /expected an operator .*end of filter/i, 8],
      ['userName eq', /expected a value .*after "eq".*end of filter/i, 11],
      ['userName eq )', /expected a value/i, 12],
      ['(userName eq)', /expected a value .*found "\)"/i, 12],
      ['userName foo "x"', /unknown operator "foo".*expected one of eq, ne/i, 9],
      ['userName equals "x"', /unknown operator "equals"/i, 9],
      ['userName = "x"', /unknown operator "="/i, 9],
      ['userName "x"', /expected an operator .*found string "x"/i, 9],
      ['title pr "x"', /"pr" takes no value/, 9],
      ['title pr x', /"pr" takes no value/, 9],
      ['title pr 1', /"pr" takes no value/, 9],
      ['(a pr', /expected "and", "or" or "\)" to close the "\(" at position 0/i, 5],
      ['((a pr)', /close the "\(" at position 0/i, 7],
      ['(a pr and (b pr)', /close the "\(" at position 0/i, 16],
      ['a pr)', /unexpected "\)".*no matching "\("/i, 4],
      ['(a pr))', /unexpected "\)"/i, 6],
      ['()', /expected an attribute path.*found "\)"/i, 1],
      ['a pr and', /expected an attribute path.*end of filter/i, 8],
      ['a pr or', /expected an attribute path/i, 7],
      ['and', /expected an operator/i, 3],
      ['a pr b pr', /unexpected "b".*"pr" takes no value; expected "and", "or"/i, 5],
      ['a eq "x" "y"', /expected "and", "or" or end of filter/i, 9],
      ['a eq "x" garbage', /expected "and", "or" or end of filter/i, 9],
      ['a pr and and b pr', /unknown operator "b"/i, 13],
      ['a eq 1 b pr', /expected "and", "or" or end of filter.*found "b"/i, 7],
      ['a pr xor b pr', /unexpected "xor"/i, 5],
      ['a eq 1 xor b pr', /expected "and", "or" or end of filter.*"xor"/i, 7],
      ['not a pr', /expected "\(" after "not"/i, 4],
      ['not', /expected "\(" after "not".*end of filter/i, 3],
      ['not ()', /expected an attribute path/i, 5],
      ['not (a pr', /close the "\("/i, 9],
      ['a eq "unterminated', /unterminated string starting at position 5/i, 5],
      ['a eq "ends with backslash\\', /unterminated string/i, 5],
      ['a eq "\\x"', /invalid escape '\\x'/i, 6],
      ['a eq "\\u12"', /4 hex digits/i, 6],
      ['a eq "\\u12G4"', /4 hex digits/i, 6],
      ['a eq "x" and b eq "', /unterminated string/i, 18],
      ['"userName" eq "x"', /expected an attribute path.*found string/i, 0],
      ['1abc eq 1', /invalid attribute name "1abc"/i, 0],
      ['user@name eq 1', /invalid attribute name/i, 0],
      ['name. eq 1', /expected a sub-attribute name after "\."/i, 5],
      ['name.given.x eq 1', /invalid sub-attribute name "given\.x"/i, 5],
      ['.name eq 1', /expected an attribute name/i, 0],
      ['urn:foo: eq 1', /expected an attribute name/i, 8],
      [':userName eq 1', /invalid schema uri/i, 0],
      ['1urn:x:userName pr', /invalid schema uri/i, 0],
      [`${CORE}:1bad pr`, /invalid attribute name "1bad"/i, CORE.length + 1],
      ['a eq 1e400', /out of range/i, 5],
      ['a eq -1e999', /out of range/i, 5],
      // brackets
      ['emails[type eq "work"', /expected "and", "or" or "\]" to close the "\[" at position 6/i, 21],
      ['emails[type eq "work")', /close the "\["/i, 21],
      ['(emails[type eq "work")]', /close the "\["/i, 22],
      ['emails]', /expected an operator.*found "\]"/i, 6],
      ['a pr]', /unexpected "\]".*no matching "\["/i, 4],
      ['emails[]', /expected an attribute path.*found "\]"/i, 7],
      ['emails[type eq "work"] eq "x"', /expected "and", "or" or end of filter/i, 23],
      ['emails[type eq "work"].value eq "x"', /only allowed in PATCH paths/i, 22],
      ['emails[type eq "work"] pr', /expected "and", "or" or end of filter/i, 23],
      ['emails[types[value eq "x"]]', /cannot be nested/i, 12],
      ['emails[type eq "a" and x[y pr]]', /cannot be nested/i, 24],
      ['emails[(x[y pr])]', /cannot be nested/i, 9],
      ['emails[type.value eq "x"]', /cannot have sub-attributes/i, 11],
      [`emails[${CORE}:emails.type eq "x"]`, /unexpected schema uri/i, 7],
      ['name.givenName[value pr]', /unexpected sub-attribute at position 4/i, 4],
      ['[type eq "x"]', /expected an attribute path.*found "\["/i, 0],
    ];
    for (const [input, message, position] of cases) {
      it(`rejects ${JSON.stringify(input)}`, () => {
        const err = syntaxError(() => parseFilter(input));
        expect(err.message).to.match(message);
        expect(err.position, err.message).to.equal(position);
        expect(err.message).to.include(`position ${position}`);
        expect(err.name).to.equal('FilterSyntaxError');
      });
    }

    it('is an Error subclass', () => {
      const err = syntaxError(() => parseFilter('a'));
      expect(err).to.be.instanceOf(Error);
      expect(err.stack).to.be.a('string');
    });

    it('rejects non-string input with FilterSyntaxError', () => {
      for (const bad of [undefined, null, 42, ['a pr', 'b pr'], { a: 1 }]) {
        const err = syntaxError(() => parseFilter(bad as unknown as string));
        expect(err.position).to.equal(0);
      }
    });
  });

  describe('limits', () => {
    const nestParens = (n: number): string => `${'('.repeat(n)}a pr${')'.repeat(n)}`;
    const nestNot = (n: number): string => `${'not ('.repeat(n)}a pr${')'.repeat(n)}`;

    it(`accepts ${MAX_FILTER_DEPTH} levels of parentheses`, () => {
      expect(parseFilter(nestParens(MAX_FILTER_DEPTH))).to.deep.equal(pr('a'));
    });

    it(`rejects ${MAX_FILTER_DEPTH + 1} levels of parentheses`, () => {
      const err = syntaxError(() => parseFilter(nestParens(MAX_FILTER_DEPTH + 1)));
      expect(err.message).to.match(/nests deeper than 64 levels/);
      expect(err.position).to.equal(MAX_FILTER_DEPTH);
    });

    it(`accepts ${MAX_FILTER_DEPTH} levels of not`, () => {
      let expected = pr('a');
      for (let i = 0; i < MAX_FILTER_DEPTH; i++) expected = not(expected);
      expect(parseFilter(nestNot(MAX_FILTER_DEPTH))).to.deep.equal(expected);
    });

    it(`rejects ${MAX_FILTER_DEPTH + 1} levels of not`, () => {
      const err = syntaxError(() => parseFilter(nestNot(MAX_FILTER_DEPTH + 1)));
      expect(err.message).to.match(/nests deeper/);
    });

    it('counts a value path as a level', () => {
      const inner = `${'('.repeat(MAX_FILTER_DEPTH - 1)}emails[${'('.repeat(1)}a pr)]${')'.repeat(MAX_FILTER_DEPTH - 1)}`;
      const err = syntaxError(() => parseFilter(inner));
      expect(err.message).to.match(/nests deeper/);
      const ok = `${'('.repeat(MAX_FILTER_DEPTH - 1)}emails[a pr]${')'.repeat(MAX_FILTER_DEPTH - 1)}`;
      expect(parseFilter(ok)).to.deep.equal(vp('emails', pr('a')));
    });

    it('rejects 100,000 opening parentheses without overflowing the stack', () => {
      const err = syntaxError(() => parseFilter('('.repeat(100_000)));
      expect(err.message).to.match(/longer than the maximum/);
    });

    it('rejects deep nesting within the length limit without overflowing the stack', () => {
      const err = syntaxError(() => parseFilter('('.repeat(MAX_FILTER_LENGTH)));
      expect(err.message).to.match(/nests deeper/);
    });

    it(`accepts exactly ${MAX_FILTER_LENGTH} characters and rejects one more`, () => {
      const base = 'a eq "';
      const text = `${base}${'x'.repeat(MAX_FILTER_LENGTH - base.length - 1)}"`;
      expect(text).to.have.length(MAX_FILTER_LENGTH);
      expect(parseFilter(text)).to.deep.equal(cmp('a', 'eq', 'x'.repeat(MAX_FILTER_LENGTH - base.length - 1)));
      const err = syntaxError(() => parseFilter(`${text} `));
      expect(err.position).to.equal(MAX_FILTER_LENGTH);
    });

    it('handles a long flat and/or chain iteratively', () => {
      const terms = Array.from({ length: 600 }, (_, i) => `a${i} pr`);
      const node = parseFilter(terms.join(' or '));
      let depth = 0;
      let n: FilterNode = node;
      while (n.kind === 'or') {
        depth++;
        n = n.left;
      }
      expect(depth).to.equal(599);
      expect(n).to.deep.equal(pr('a0'));
    });
  });

  describe('fuzzing', () => {

    function expectAstOrSyntaxError(input: string): void {
      try {
        const node = parseFilter(input);
        expect(node).to.be.an('object');
      } catch (err) {
        if (!(err instanceof FilterSyntaxError)) {
          throw new Error(`non-FilterSyntaxError for ${JSON.stringify(input)}: ${String(err)}`);
        }
        expect(err.position).to.be.within(0, Math.max(input.length, 0));
      }
    }

    const pieces = [
      ' ', ' ', ' ', '\t', '(', ')', '[', ']', '"', '\\', '\\u', '.', ':', '$ref', 'not', 'and', 'or', 'pr', 'eq', 'co', 'GT',
      'userName', 'emails', 'value', 'name.familyName', `${ENT}:manager.value`, 'urn:', '"x"', '"a b"', '1', '-2.5e3', '1e999',
      'true', 'NULL', 'x@y.z', '0x', '\u00e9', '\ud83d', '\n', ',', '=', '\'', '\u0000',
    ];

    it('random token soups yield an AST or FilterSyntaxError', () => {
      const rand = prng(1234);
      for (let i = 0; i < 5000; i++) {
        const len = Math.floor(rand() * 20);
        let s = '';
        for (let j = 0; j < len; j++) s += pieces[Math.floor(rand() * pieces.length)];
        expectAstOrSyntaxError(s);
      }
    });

    it('random character strings yield an AST or FilterSyntaxError', () => {
      const rand = prng(99);
      for (let i = 0; i < 5000; i++) {
        const len = Math.floor(rand() * 40);
        let s = '';
        for (let j = 0; j < len; j++) s += String.fromCharCode(Math.floor(rand() * (rand() < 0.8 ? 128 : 0x10000)));
        expectAstOrSyntaxError(s);
      }
    });

    it('mutated valid filters yield an AST or FilterSyntaxError', () => {
      const seeds = [
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
        'emails[type eq "work" and (value ew "@example.com" or value sw "x")] or title pr',
        `${ENT}:manager.value eq "26118915" and active eq true and x gt -1.5e3`,
      ];
      const rand = prng(7);
      for (let i = 0; i < 5000; i++) {
        let s = seeds[i % seeds.length] ?? '';
        const edits = 1 + Math.floor(rand() * 4);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(rand() * (s.length + 1));
          const r = rand();
          if (r < 0.4) s = s.slice(0, at) + s.slice(at + 1);
          else if (r < 0.8) s = s.slice(0, at) + (pieces[Math.floor(rand() * pieces.length)] ?? '') + s.slice(at);
          else s = s.slice(0, at) + s.slice(at, at + 5).split('').reverse().join('') + s.slice(at + 5);
        }
        expectAstOrSyntaxError(s);
      }
    });
  });
});

// --- PATCH paths --------------------------------------------------------------

describe('parsePatchPath', () => {
  type PathResult = ReturnType<typeof parsePatchPath>;
  const valid: Array<[string, PathResult]> = [
    ['userName', { path: p('userName') }],
    ['name.familyName', { path: p('name.familyName') }],
    ['members', { path: p('members') }],
    ['  active  ', { path: p('active') }],
    [`${ENT}:manager`, { path: sp(ENT, 'manager') }],
    [`${ENT}:manager.value`, { path: sp(ENT, 'manager', 'value') }],
    [`${ENT}:employeeNumber`, { path: sp(ENT, 'employeeNumber') }],
    [`${CORE}:name.givenName`, { path: sp(CORE, 'name', 'givenName') }],
    ['members[value eq "2819c223"]', { path: p('members'), filter: cmp('value', 'eq', '2819c223') }],
    ['members[value eq 2819c223-7f76-453a-919d-413861904646]', { path: p('members'), filter: cmp('value', 'eq', '2819c223-7f76-453a-919d-413861904646') }],
    ['emails[type eq "work"].value', { path: p('emails'), filter: cmp('type', 'eq', 'work'), subAttr: 'value' }],
    ['emails[type eq "work"].$ref', { path: p('emails'), filter: cmp('type', 'eq', 'work'), subAttr: '$ref' }],
    [
      'addresses[type eq "work" and primary eq true].streetAddress',
      { path: p('addresses'), filter: and(cmp('type', 'eq', 'work'), cmp('primary', 'eq', true)), subAttr: 'streetAddress' },
    ],
    [
      'emails[not (type eq "work") or (value co "x" and primary pr)]',
      { path: p('emails'), filter: or(not(cmp('type', 'eq', 'work')), and(cmp('value', 'co', 'x'), pr('primary'))) },
    ],
    [
      `${CORE}:emails[type eq "work"].display`,
      { path: sp(CORE, 'emails'), filter: cmp('type', 'eq', 'work'), subAttr: 'display' },
    ],
    ['EMAILS[TYPE EQ "Work"].Value', { path: p('EMAILS'), filter: cmp('TYPE', 'eq', 'Work'), subAttr: 'Value' }],
  ];
  for (const [input, expected] of valid) {
    it(`parses ${JSON.stringify(input)}`, () => {
      expect(parsePatchPath(input)).to.deep.equal(expected);
    });
  }

  const invalid: Array<[string, RegExp, number]> = [
    ['', /empty path/i, 0],
    ['   ', /empty path/i, 0],
    ['userName eq "x"', /expected "\[" or end of path/i, 9],
    ['title pr', /expected "\[" or end of path/i, 6],
    ['1bad', /invalid attribute name/i, 0],
    ['name.', /expected a sub-attribute name/i, 5],
    ['a.b.c', /invalid sub-attribute name "b\.c"/i, 2],
    ['(userName)', /expected an attribute path.*found "\("/i, 0],
    ['emails[type eq "work"', /close the "\[" at position 6.*end of path/i, 21],
    ['emails[]', /expected an attribute path/i, 7],
    ['emails[type eq "work"].', /invalid sub-attribute name ""/i, 23],
    ['emails[type eq "work"].value.display', /invalid sub-attribute name "value\.display"/i, 23],
    ['emails[type eq "work"].1x', /invalid sub-attribute name "1x"/i, 23],
    ['emails[type eq "work"]value', /expected "\.subAttribute" or end of path/i, 22],
    ['emails[type eq "work"].value extra', /expected end of path/i, 29],
    ['emails[type eq "work"][value pr]', /expected "\.subAttribute" or end of path/i, 22],
    ['emails[x[y pr]]', /cannot be nested/i, 8],
    ['name.givenName[value pr]', /unexpected sub-attribute/i, 4],
    ['emails[type.x eq 1]', /cannot have sub-attributes/i, 11],
    ['emails[type eq "work\\q"]', /invalid escape/i, 20],
  ];
  for (const [input, message, position] of invalid) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      const err = syntaxError(() => parsePatchPath(input));
      expect(err.message).to.match(message);
      expect(err.message).to.match(/^Invalid path: /);
      expect(err.position, err.message).to.equal(position);
    });
  }

  it('applies the length and depth limits', () => {
    expect(syntaxError(() => parsePatchPath(`a${'b'.repeat(MAX_FILTER_LENGTH)}`)).message).to.match(/longer than the maximum/);
    const deep = `emails[${'('.repeat(MAX_FILTER_DEPTH)}a pr${')'.repeat(MAX_FILTER_DEPTH)}]`;
    expect(syntaxError(() => parsePatchPath(deep)).message).to.match(/nests deeper/);
  });

  it('rejects non-string input with FilterSyntaxError', () => {
    expect(syntaxError(() => parsePatchPath(undefined as unknown as string)).position).to.equal(0);
  });
});
