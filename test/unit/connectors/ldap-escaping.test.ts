import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { AndFilter, EqualityFilter, FilterParser } from 'ldapts';
import {
  childDn, dnKey, DnSyntaxError, escapeDnValue, isBelow, isChildOf, normalizeDn, parentDn, parseDn,
} from '../../../connectors/ldap/dn.js';
import { allOf, equals, escapeFilterValue } from '../../../connectors/ldap/filter.js';

/*
 * Names that break naive LDAP code: the HR generator's own (non-ASCII letters, apostrophes,
 * spaces, padded cells) in the shapes a directory sees ("Last, First" display names), and
 * hand-made ones for every character RFC 4514 (DNs) and RFC 4515 (filters) treat specially.
 */

const HRGEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'support', 'hrgen.mjs');

/** Values with every character DN and filter syntax treat specially. */
const HAND_MADE_NASTY = [
  'Smith, John', 'a+b', '"quoted"', 'back\\slash', 'ends with backslash\\', ' leading space', 'trailing space ', '#hash',
  'mid#dle', '  two spaces  ', 'semi;colon', '<angle>', 'equals=sign', 'star*', '(parens)', 'nul\0byte', 'Zoë Müller-Łukasz',
  '東京 太郎', 'emoji 🎉', "O'Brien, Seán", '\\2c not an escape', ',leading comma', 'x\\,y',
];

/** Distinct names from an HR feed of `count` people, in the forms a directory holds them. */
function hrgenNames(count = 2000, seed = 11): string[] {
  const rows = JSON.parse(execFileSync(process.execPath, [HRGEN, '--count', String(count), '--seed', String(seed), '--format', 'json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Array<{ first_name: string; last_name: string }>;
  const names = new Set<string>();
  for (const r of rows) {
    names.add(r.first_name);
    names.add(r.last_name);
    names.add(`${r.last_name.trim()}, ${r.first_name.trim()}`);
    names.add(`${r.first_name} ${r.last_name}`);
  }
  return [...names];
}

const NAMES = [...hrgenNames(), ...HAND_MADE_NASTY];
const PEOPLE = 'ou=people,dc=example,dc=com';

describe('LDAP DNs (RFC 4514)', () => {
  describe('escapeDnValue', () => {
    const cases: Array<[string, string]> = [
      ['Smith, John', 'Smith\\2c John'],
      ['a+b', 'a\\2bb'],
      ['"quoted"', '\\22quoted\\22'],
      ['back\\slash', 'back\\5cslash'],
      [' leading', '\\20leading'],
      ['trailing ', 'trailing\\20'],
      [' ', '\\20'],
      ['  ', '\\20\\20'],
      ['in side', 'in side'],
      ['#hash', '\\23hash'],
      ['mid#dle', 'mid#dle'],
      ['nul\0byte', 'nul\\00byte'],
      ['<a>;b=c', '\\3ca\\3e\\3bb\\3dc'],
      ['Zoë Müller', 'Zoë Müller'],
      ["O'Brien", "O'Brien"],
      ['東京', '東京'],
      ['', ''],
    ];
    for (const [value, escaped] of cases) {
      it(`escapes ${JSON.stringify(value)} as ${escaped}`, () => {
        expect(escapeDnValue(value)).to.equal(escaped);
      });
    }
  });

  describe('parseDn', () => {
    it('reads hex escapes in either case, as slapd writes them', () => {
      expect(parseDn('uid=smith\\2C john,ou=people,dc=example,dc=com')[0]).to.deep.equal([{ type: 'uid', value: 'smith, john' }]);
      expect(parseDn('uid=smith\\2c john')[0]![0]!.value).to.equal('smith, john');
    });

    it('reads character escapes, as people type them', () => {
      expect(parseDn('cn=Smith\\, John\\+1\\"x\\"\\\\,dc=x')[0]![0]!.value).to.equal('Smith, John+1"x"\\');
      expect(parseDn('cn=\\ lead\\,dc=x')[0]![0]!.value).to.equal(' lead,dc=x');
      expect(parseDn('cn=\\#hash,dc=x')[0]![0]!.value).to.equal('#hash');
    });

    it('reads UTF-8 as hex pairs and as characters', () => {
      expect(parseDn('cn=Zo\\C3\\AB')[0]![0]!.value).to.equal('Zoë');
      expect(parseDn('cn=Zoë')[0]![0]!.value).to.equal('Zoë');
      expect(parseDn('cn=\\e6\\9d\\b1\\e4\\ba\\ac')[0]![0]!.value).to.equal('東京');
    });

    it('keeps escaped trailing spaces and drops unescaped ones around separators', () => {
      expect(parseDn('cn=a\\ , dc=example , dc=com')).to.deep.equal([[{ type: 'cn', value: 'a ' }], [{ type: 'dc', value: 'example' }], [{ type: 'dc', value: 'com' }]]);
      expect(parseDn('cn = a b ,dc=x')[0]![0]!.value).to.equal('a b');
    });

    it('reads multi-valued RDNs and numeric OIDs', () => {
      expect(parseDn('cn=a+uid=b,dc=x')[0]).to.deep.equal([{ type: 'cn', value: 'a' }, { type: 'uid', value: 'b' }]);
      expect(parseDn('2.5.4.3=a')[0]).to.deep.equal([{ type: '2.5.4.3', value: 'a' }]);
    });

    it('keeps #hex (BER) values verbatim', () => {
      expect(parseDn('cn=#04024869,dc=x')[0]).to.deep.equal([{ type: 'cn', value: '#04024869', ber: true }]);
      expect(normalizeDn('CN=#04024869,dc=x')).to.equal('cn=#04024869,dc=x');
    });

    it('reads the empty DN as no RDNs', () => {
      expect(parseDn('')).to.deep.equal([]);
    });

    for (const bad of ['uid', '=a', 'uid=a\\zz', 'cn=\\c3', 'cn=a,', 'cn=a,,dc=x', '1cn=a']) {
      it(`rejects ${JSON.stringify(bad)}`, () => {
        expect(() => parseDn(bad)).to.throw(DnSyntaxError);
      });
    }
  });

  describe('canonical form and comparison', () => {
    it('lowercases attribute types, removes spaces and re-escapes with hex pairs, keeping value case', () => {
      expect(normalizeDn('UID=Smith\\, John, OU=People, DC=Example, DC=com')).to.equal('uid=Smith\\2c John,ou=People,dc=Example,dc=com');
    });

    it('is idempotent', () => {
      for (const v of HAND_MADE_NASTY) {
        const dn = childDn('uid', v, PEOPLE);
        expect(normalizeDn(dn)).to.equal(dn);
        expect(normalizeDn(normalizeDn(dn))).to.equal(dn);
      }
    });

    it('compares DNs case-insensitively, as naming attributes match', () => {
      expect(dnKey('uid=JDoe,ou=People,dc=Example,dc=com')).to.equal(dnKey('uid=jdoe,ou=people,dc=example,dc=com'));
      expect(dnKey('uid=a\\2cb,dc=x')).to.equal(dnKey('UID=a\\,b, dc=x'));
      expect(dnKey('uid=a,dc=x')).to.not.equal(dnKey('uid=b,dc=x'));
      expect(dnKey('cn=a+uid=b,dc=x')).to.equal(dnKey('uid=B+cn=A,dc=x'));
    });

    it('tells where an entry is', () => {
      expect(isBelow('uid=a,ou=people,dc=example,dc=com', 'dc=Example,dc=com')).to.equal(true);
      expect(isBelow('dc=example,dc=com', 'dc=example,dc=com')).to.equal(false);
      expect(isChildOf('uid=a,ou=people,dc=example,dc=com', 'OU=People,dc=example,dc=com')).to.equal(true);
      expect(isChildOf('uid=a,ou=x,ou=people,dc=example,dc=com', PEOPLE)).to.equal(false);
      // A comma inside a value is not a level.
      expect(isChildOf('uid=x\\2cou=people,dc=example,dc=com', PEOPLE)).to.equal(false);
      expect(parentDn('uid=a\\2cb,ou=people,dc=example,dc=com')).to.equal(PEOPLE);
    });
  });

  it('keys plain DNs without parsing them, exactly as the parse would', () => {
    const plain = [
      'uid=Person1,ou=People,dc=example,dc=com', ' UID = person1 , OU=people, dc=Example,dc=com ', 'cn=John  Smith,ou=x', 'mail=a.b-c_d@example.com,o=org',
      ...NAMES.map((name) => childDn('uid', name, 'ou=people,dc=example,dc=com')),
    ];
    for (const dn of plain) expect(dnKey(dn), dn).to.equal(dnKey(parseDn(dn)));
  });

  describe('names from the HR generator and hand-made nasty ones', () => {
    const names = NAMES;

    it('has the names worth testing', () => {
      expect(names.some((n) => n.startsWith(' '))).to.equal(true);
      expect(names.some((n) => n.includes(','))).to.equal(true);
      expect(names.some((n) => /[^\x00-\x7f]/.test(n))).to.equal(true);
      expect(names.some((n) => n.includes("'"))).to.equal(true);
    });

    it('round-trips every name through a DN', () => {
      for (const name of names) {
        const dn = childDn('uid', name, PEOPLE);
        const rdns = parseDn(dn);
        expect(rdns, dn).to.have.length(4);
        expect(rdns[0], dn).to.deep.equal([{ type: 'uid', value: name }]);
        expect(parentDn(dn)).to.equal(PEOPLE);
      }
    });

    it('leaves no unescaped special character in a value', () => {
      for (const name of names) {
        const escaped = escapeDnValue(name);
        // Every backslash starts a hex pair; no separator or quote is left bare.
        expect(escaped.replace(/\\[0-9a-f]{2}/g, ''), escaped).to.not.match(/[\\,+"<>;=\0]/);
        expect(escaped, escaped).to.not.match(/^[ #]| $/);
      }
    });

    it('splits where ldapts modifyDN splits a new DN: at the end of the RDN', () => {
      // ldapts takes everything before the first comma not preceded by a backslash as the new RDN.
      for (const name of names) {
        const dn = childDn('uid', name, PEOPLE);
        const at = dn.search(/[^\\],/);
        expect(dn.slice(0, at + 1), dn).to.equal(`uid=${escapeDnValue(name)}`);
        expect(dn.slice(at + 2)).to.equal(PEOPLE);
      }
    });
  });
});

describe('LDAP filters (RFC 4515)', () => {
  const cases: Array<[string, string]> = [
    ['star*', 'star\\2a'],
    ['(parens)', '\\28parens\\29'],
    ['back\\slash', 'back\\5cslash'],
    ['nul\0byte', 'nul\\00byte'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['Smith, John', 'Smith, John'],
    ['"quoted" + #', '"quoted" + #'],
    ['Zoë Müller', 'Zoë Müller'],
  ];
  for (const [value, escaped] of cases) {
    it(`escapes ${JSON.stringify(value)} as ${escaped}`, () => {
      expect(escapeFilterValue(value)).to.equal(escaped);
    });
  }

  it('builds equality tests and conjunctions', () => {
    expect(equals('uid', 'a*b')).to.equal('(uid=a\\2ab)');
    expect(allOf('(a=1)')).to.equal('(a=1)');
    expect(allOf('(a=1)', '(b=2)')).to.equal('(&(a=1)(b=2))');
  });

  it('gives ldapts an equality test for exactly the value, for every nasty and HR-generated name', () => {
    for (const value of NAMES) {
      const parsed = FilterParser.parseString(equals('uid', value));
      expect(parsed, value).to.be.instanceOf(EqualityFilter);
      expect((parsed as EqualityFilter).value, value).to.equal(value);
    }
  });

  it('puts a DN with escapes into a member test unchanged', () => {
    const dn = childDn('uid', 'Smith, John \\ *', 'ou=people,dc=example,dc=com');
    const parsed = FilterParser.parseString(allOf(equals('objectClass', 'groupOfNames'), equals('member', dn)));
    expect(parsed).to.be.instanceOf(AndFilter);
    expect(((parsed as AndFilter).filters[1] as EqualityFilter).value).to.equal(dn);
  });
});
