import { expect } from 'chai';
import { cellValue, csvLine, CsvReader, safeCsvCell, unguardCell } from '../../../src/audit/csv.js';

/** Reads CSV text fed in pieces of `size` characters. */
function read(text: string, size: number): Array<Array<string | null>> {
  const reader = new CsvReader();
  const records = [];
  for (let i = 0; i < text.length; i += size) records.push(...reader.push(text.slice(i, i + size)));
  records.push(...reader.end());
  return records.map((cells) => cells.map(cellValue));
}

const AWKWARD: Array<string | null> = [
  'plain', null, '', '=HYPERLINK("http://evil","x")', '+1', '-2', '@SUM(A1)', '\tTab', '\rCR', "'quoted", "''twice", "'=both",
  'comma, inside', 'quote " inside', 'line\nbreak', 'crlf\r\nbreak', '{"json":"value","n":[1,2]}', 'Zoë Ñoño 😀', ' padded ', 'a=b', "O'Brien",
];

describe('audit CSV', () => {
  it('guards cells a spreadsheet would run as formulas with a leading quote, and only those', () => {
    expect(safeCsvCell('=1+2')).to.equal("'=1+2");
    expect(safeCsvCell('+1')).to.equal("'+1");
    expect(safeCsvCell('-1')).to.equal("'-1");
    expect(safeCsvCell('@x')).to.equal("'@x");
    expect(safeCsvCell('\tx')).to.equal("'\tx");
    expect(safeCsvCell('=a,b')).to.equal(`"'=a,b"`);
    expect(safeCsvCell("'x")).to.equal("''x");
    expect(safeCsvCell('a=b')).to.equal('a=b');
    expect(safeCsvCell("O'Brien")).to.equal("O'Brien");
    expect(safeCsvCell(42)).to.equal('42');
    expect(safeCsvCell(-42)).to.equal("'-42");
  });

  it('tells null (empty cell) from the empty string (quoted empty cell)', () => {
    expect(csvLine([null, '', 'x'])).to.equal(',"",x\n');
    expect(read(',"",x\n', 100)).to.deep.equal([[null, '', 'x']]);
  });

  it('reads back exactly what it wrote, however the text is cut into chunks', () => {
    const rows = [AWKWARD, [...AWKWARD].reverse(), ['only']];
    const text = rows.map(csvLine).join('');
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      expect(read(text, size), `chunks of ${size}`).to.deep.equal(rows);
    }
  });

  it('undoes the guard only where it added one', () => {
    for (const value of AWKWARD) if (value !== null) expect(unguardCell(safeCsvCell(value).replace(/^"|"$/g, '').replace(/""/g, '"'))).to.equal(value);
    expect(unguardCell("'plain")).to.equal("'plain");
  });

  it('reads a last record without a final line break, and refuses an unclosed quote', () => {
    expect(read('a,b\nc,d', 3)).to.deep.equal([['a', 'b'], ['c', 'd']]);
    const reader = new CsvReader();
    reader.push('a,"unclosed');
    expect(() => reader.end()).to.throw('ends inside a quoted cell');
  });
});
