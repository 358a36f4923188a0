import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CsvEncodingError, parseCsv, parseCsvText, type CsvItem } from '../../../src/lifecycle/hr-feed/csv.js';
import { JsonFeedError, parseJsonFeed } from '../../../src/lifecycle/hr-feed/json.js';
import { HrMappingError, loadHrMapping, parseHrMapping, type HrMapping, type HrMappingInput } from '../../../src/lifecycle/hr-feed/mapping.js';
import { HrFeedError, isEmail, isIsoDate, normaliseText, readHrFeed, readHrFeedAll, type HrFeedSource } from '../../../src/lifecycle/hr-feed/read.js';
import type { HrRecord } from '../../../src/lifecycle/hr-record.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HRGEN = join(ROOT, 'test', 'support', 'hrgen.mjs');

type HrgenRow = Record<string, string>;

function hrgen(args: { count: number; seed: number; day: number; format?: 'csv' | 'json' }): string {
  return execFileSync(process.execPath, [HRGEN, '--count', String(args.count), '--seed', String(args.seed), '--day', String(args.day), '--format', args.format ?? 'csv'], { maxBuffer: 1 << 30 }).toString('utf8');
}

const HEADER = 'employee_id,first_name,last_name,preferred_name,work_email,department,title,manager_id,location,cost_center,employment_type,status,hire_date,termination_date,github_login';

/** One CSV line in the default columns; `over` replaces cells by column name (raw CSV text, quoting included). */
function line(id: string, over: Partial<Record<string, string>> = {}): string {
  const cells: Record<string, string> = {
    employee_id: id, first_name: 'Ada', last_name: 'Lovelace', preferred_name: '', work_email: `${id.toLowerCase()}@example.com`,
    department: 'Engineering', title: 'Engineer', manager_id: '', location: 'London', cost_center: 'CC-1000',
    employment_type: 'Employee', status: 'Active', hire_date: '2024-01-15', termination_date: '', github_login: '',
    ...over,
  };
  return HEADER.split(',').map((c) => cells[c]).join(',');
}

const csvFeed = (...lines: string[]) => [HEADER, ...lines].join('\n') + '\n';

let mapping: HrMapping;
before(() => {
  mapping = loadHrMapping();
});

const readCsv = (source: HrFeedSource, m: HrMapping = mapping) => readHrFeedAll(source, { format: 'csv', mapping: m });
const readJson = (source: HrFeedSource, m: HrMapping = mapping) => readHrFeedAll(source, { format: 'json', mapping: m });

async function refusal(fn: () => Promise<unknown>): Promise<HrFeedError> {
  try {
    await fn();
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(HrFeedError);
    return err as HrFeedError;
  }
  expect.fail('expected the feed to be refused');
}

/** Rows as plain tuples, for comparing parses. */
const summary = (items: CsvItem[]) => items.map((i) => (i.kind === 'row' ? [i.line, i.fields] : [i.line, 'error', i.message]));

async function collect(source: Parameters<typeof parseCsv>[0], maxRowChars?: number): Promise<CsvItem[]> {
  const items: CsvItem[] = [];
  for await (const item of parseCsv(source, maxRowChars === undefined ? {} : { maxRowChars })) items.push(item);
  return items;
}

describe('HR feeds', () => {
  describe('CSV parser (RFC 4180)', () => {
    const cases: Array<{ name: string; text: string; rows: Array<[number, string[]]> }> = [
      { name: 'LF line ends', text: 'a,b\nc,d\n', rows: [[1, ['a', 'b']], [2, ['c', 'd']]] },
      { name: 'CRLF line ends', text: 'a,b\r\nc,d\r\n', rows: [[1, ['a', 'b']], [2, ['c', 'd']]] },
      { name: 'no line break after the last row', text: 'a,b\nc,d', rows: [[1, ['a', 'b']], [2, ['c', 'd']]] },
      { name: 'a byte order mark', text: '\uFEFFa,b\nc,d\n', rows: [[1, ['a', 'b']], [2, ['c', 'd']]] },
      { name: 'a quoted comma', text: '"Smith, Jr.",x\n', rows: [[1, ['Smith, Jr.', 'x']]] },
      { name: 'doubled quotes inside quotes', text: '"say ""hi""",""""\n', rows: [[1, ['say "hi"', '"']]] },
      { name: 'a quoted line break (LF) moves the next row down', text: '"two\nlines",x\nnext,y\n', rows: [[1, ['two\nlines', 'x']], [3, ['next', 'y']]] },
      { name: 'a quoted line break (CRLF) is kept as written', text: '"two\r\nlines",x\r\nnext,y\r\n', rows: [[1, ['two\r\nlines', 'x']], [3, ['next', 'y']]] },
      { name: 'empty and empty-quoted fields', text: 'a,,"",d\n', rows: [[1, ['a', '', '', 'd']]] },
      { name: 'a trailing comma is a last empty field', text: 'a,b,\nc,d,', rows: [[1, ['a', 'b', '']], [2, ['c', 'd', '']]] },
      { name: 'blank lines are no rows but still count', text: 'a\n\n\r\nb\n\n', rows: [[1, ['a']], [4, ['b']]] },
      { name: 'spaces inside unquoted fields are data', text: ' a , b \n', rows: [[1, [' a ', ' b ']]] },
      { name: 'a quoted field with commas, quotes and breaks together', text: 'x,"a,""b""\nc",y\n', rows: [[1, ['x', 'a,"b"\nc', 'y']]] },
      { name: 'non-ASCII text', text: 'Zoë,Łukasz,Nguyễn\n', rows: [[1, ['Zoë', 'Łukasz', 'Nguyễn']]] },
      { name: 'a lone CR inside a field is data', text: 'a\rb,c\n', rows: [[1, ['a\rb', 'c']]] },
    ];

    for (const c of cases) {
      it(`reads ${c.name}`, async () => {
        expect(summary(parseCsvText(c.text))).to.deep.equal(c.rows);
        expect(summary(await collect(c.text))).to.deep.equal(c.rows);
      });
    }

    it('gives the same rows however the bytes are split into chunks (multi-byte characters and CRLF across chunks)', async () => {
      for (const c of cases) {
        const bytes = Buffer.from(c.text, 'utf8');
        expect(summary(await collect(Readable.from(bytes.length ? [...bytes].map((b) => Buffer.from([b])) : []))), `${c.name}, byte by byte`).to.deep.equal(c.rows);
        for (let cut = 0; cut <= bytes.length; cut++) {
          const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
          expect(summary(await collect(Readable.from(chunks))), `${c.name}, cut at ${cut}`).to.deep.equal(c.rows);
        }
      }
    });

    it('reports a stray quote in an unquoted field with its line, and reads on', () => {
      const items = parseCsvText('a,b\nx,ab"c\nd,e\n');
      expect(summary(items)).to.deep.equal([
        [1, ['a', 'b']],
        [2, 'error', 'field 2 has a stray quote (a field holding quotes must be quoted whole, its quotes doubled)'],
        [3, ['d', 'e']],
      ]);
      expect((items[1] as { fields: string[] }).fields).to.deep.equal(['x', 'ab"c']);
    });

    it('reports text after a closing quote with its line, and reads on', () => {
      expect(summary(parseCsvText('a\n"ab"c,d\ne\n'))).to.deep.equal([
        [1, ['a']],
        [2, 'error', 'field 1 has text after its closing quote (quote the whole field and double the quotes inside it)'],
        [3, ['e']],
      ]);
    });

    it('reports an unterminated quote on the line it opened, and reads the lines after it', () => {
      expect(summary(parseCsvText('a,b\nc,"never closed\nd,e\nf,g\n'))).to.deep.equal([
        [1, ['a', 'b']],
        [2, 'error', 'quoted field 2 is never closed (unterminated quote)'],
        [3, ['d', 'e']],
        [4, ['f', 'g']],
      ]);
    });

    it('recovers the rows an unbalanced quote ran into when a later quote happens to close it', () => {
      // The quote opened on line 2 is closed by the first quote of line 4, which text follows.
      expect(summary(parseCsvText('h1,h2\nE1,"Bob\nE2,Ann\nE3,"Smith, Jr."\nE4,Zed\n'))).to.deep.equal([
        [1, ['h1', 'h2']],
        [2, 'error', 'quoted field 2 runs on to line 4 and has text after its closing quote (an unbalanced quote?)'],
        [3, ['E2', 'Ann']],
        [4, ['E3', 'Smith, Jr.']],
        [5, ['E4', 'Zed']],
      ]);
    });

    it('reads a whole text or buffer far larger than one piece row for row, characters and line ends split between pieces', async () => {
      // Three-byte characters and CRLFs on every line, so piece boundaries fall inside both.
      const lines = Array.from({ length: 20_000 }, (_, i) => `E${i},Nguyễn ${i},"Smith, ""Jr."" ${i}"\r\n`);
      const text = lines.join('');
      const expected = lines.map((_, i) => [i + 1, [`E${i}`, `Nguyễn ${i}`, `Smith, "Jr." ${i}`]]);
      expect(summary(await collect(text))).to.deep.equal(expected);
      expect(summary(await collect(Buffer.from(text, 'utf8')))).to.deep.equal(expected);
    });

    it('cuts off a row longer than the limit, streamed or whole, and reads on from its next line', async () => {
      const text = `a,b\nc,"${'x'.repeat(50)}\nd,e\n`;
      const expected = [
        [1, ['a', 'b']],
        [2, 'error', 'row is longer than 20 characters (an unterminated quote?)'],
        [3, ['d', 'e']],
      ];
      expect(summary(await collect(Readable.from([...text]), 20))).to.deep.equal(expected);
      expect(summary(await collect(text, 20))).to.deep.equal(expected);
    });

    it('refuses bytes that are not UTF-8', async () => {
      const latin1 = Buffer.from('name\nJos\xe9\n', 'latin1');
      let error: unknown;
      try {
        await collect(Readable.from([latin1]));
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(CsvEncodingError);
      const refused = await refusal(() => readCsv(Readable.from([Buffer.from(`${HEADER}\n`), latin1])));
      expect(refused.message).to.contain('not valid UTF-8');
    });
  });

  describe('JSON feeds', () => {
    it('reads an array of objects, the array index + 1 as the row, non-text scalars as text', async () => {
      const table = await parseJsonFeed('\uFEFF[{"a":"x","b":1},{"b":true,"c":null},{"a":{"nested":1}},7]');
      expect(table.header).to.deep.equal(['a', 'b', 'c']);
      expect(table.rows).to.deep.equal([
        { kind: 'row', row: 1, fields: ['x', '1', ''] },
        { kind: 'row', row: 2, fields: ['', 'true', ''] },
        { kind: 'error', row: 3, fields: ['', '', ''], message: '"a" holds an object or array, not a single value' },
        { kind: 'error', row: 4, fields: ['', '', ''], message: 'array element 3 is a number, not an object' },
      ]);
    });

    it('refuses a feed larger than the cap, one that is not JSON, and one that is not an array', async () => {
      for (const [source, text] of [
        ['[{"a":"b"}]', 'larger than 5 bytes'],
      ] as const) {
        try {
          await parseJsonFeed(Readable.from([Buffer.from(source)]), 5);
          expect.fail('expected a refusal');
        } catch (err) {
          expect(err).to.be.instanceOf(JsonFeedError);
          expect((err as Error).message).to.contain(text);
        }
      }
      expect((await refusal(() => readJson('[{"employee_id": "E1",]'))).message).to.contain('not valid JSON');
      expect((await refusal(() => readJson('{"employee_id": "E1"}'))).message).to.contain('must be an array of objects');
      expect((await refusal(() => readHrFeedAll('[{}]'.padEnd(100, ' '), { format: 'json', mapping, maxJsonBytes: 50 }))).message).to.contain('larger than 50 bytes');
    });

    it('reads an empty array as a feed without rows, and rejects non-objects one by one even when no object gives columns', async () => {
      expect(await readJson('[]')).to.deep.equal({ records: [], rejected: [] });
      expect(await readJson('[{}, "E1", null]')).to.deep.equal({
        records: [],
        rejected: [
          { row: 2, employeeId: null, reason: 'array element 1 is a string, not an object' },
          { row: 3, employeeId: null, reason: 'array element 2 is null, not an object' },
        ],
      });
    });
  });

  describe('hrgen feeds', () => {
    /** What each generated row should read as, computed from the generator's JSON with plain string operations. */
    function expected(rows: HrgenRow[]): Array<Omit<HrRecord, 'row'>> {
      const orNull = (v: string) => (v.trim() === '' ? null : v.trim());
      const STATUS: Record<string, HrRecord['status']> = { Active: 'active', Pending: 'active', Terminated: 'terminated' };
      return rows.map((r) => ({
        employeeId: r.employee_id!, givenName: r.first_name!.trim(), familyName: r.last_name!, preferredName: orNull(r.preferred_name!),
        email: r.work_email!.toLowerCase(), department: orNull(r.department!), title: orNull(r.title!), managerEmployeeId: orNull(r.manager_id!),
        location: orNull(r.location!), costCenter: orNull(r.cost_center!), employmentType: orNull(r.employment_type!), status: STATUS[r.status!]!,
        hireDate: orNull(r.hire_date!), terminationDate: orNull(r.termination_date!), extra: (r.github_login ? { githubLogin: r.github_login } : {}) as Record<string, string>,
      }));
    }
    const withoutRow = (records: HrRecord[]) => records.map(({ row: _row, ...rest }) => rest);

    for (const day of [0, 1]) {
      it(`reads the day-${day} feed as CSV and as JSON without rejections, both as hrgen meant`, async () => {
        const args = { count: 1500, seed: 3, day };
        const raw = JSON.parse(hrgen({ ...args, format: 'json' })) as HrgenRow[];
        const csv = await readCsv(hrgen(args));
        const json = await readJson(hrgen({ ...args, format: 'json' }));
        expect(csv.rejected).to.deep.equal([]);
        expect(json.rejected).to.deep.equal([]);
        expect(csv.records).to.have.length(raw.length);
        expect(withoutRow(csv.records)).to.deep.equal(expected(raw));
        expect(withoutRow(json.records)).to.deep.equal(withoutRow(csv.records));
        // No generated cell holds a line break, so CSV row n is on line n + 1 (after the header).
        expect(csv.records.map((r) => r.row)).to.deep.equal(raw.map((_, i) => i + 2));
        expect(json.records.map((r) => r.row)).to.deep.equal(raw.map((_, i) => i + 1));
      });
    }

    it('reads the pending and terminated people of a later day (day 5) as active and terminated', async () => {
      const raw = JSON.parse(hrgen({ count: 3000, seed: 3, day: 5, format: 'json' })) as HrgenRow[];
      const { records, rejected } = await readCsv(hrgen({ count: 3000, seed: 3, day: 5 }));
      expect(rejected).to.deep.equal([]);
      const byId = new Map(records.map((r) => [r.employeeId, r]));
      const pending = raw.filter((r) => r.status === 'Pending');
      const terminated = raw.filter((r) => r.status === 'Terminated');
      expect(pending, 'hrgen should write pending hires by day 5').to.not.be.empty;
      expect(terminated, 'hrgen should write terminated people by day 5').to.not.be.empty;
      for (const r of pending) expect(byId.get(r.employee_id!)?.status).to.equal('active');
      for (const r of terminated) expect(byId.get(r.employee_id!)?.status).to.equal('terminated');
    });

    it('keeps non-ASCII and punctuated names exactly, and normalises padded cells and mixed-case emails', async () => {
      const raw = JSON.parse(hrgen({ count: 1500, seed: 3, day: 0, format: 'json' })) as HrgenRow[];
      const { records } = await readCsv(hrgen({ count: 1500, seed: 3, day: 0 }));
      const byId = new Map(records.map((r) => [r.employeeId, r]));
      const names = new Set(records.flatMap((r) => [r.givenName, r.familyName]));
      for (const name of ['Małgorzata', 'Nguyễn', 'Siobhán', "O'Brien", "D'Angelo", 'Smith-Jones', 'Van der Berg', 'Østergaard', 'Yılmaz']) {
        expect(names, name).to.include(name);
      }
      const padded = raw.filter((r) => r.first_name !== r.first_name!.trim());
      const mixedCase = raw.filter((r) => r.work_email !== r.work_email!.toLowerCase());
      expect(padded, 'hrgen should pad some cells').to.not.be.empty;
      expect(mixedCase, 'hrgen should write some mixed-case emails').to.not.be.empty;
      for (const r of padded) expect(byId.get(r.employee_id!)!.givenName).to.equal(r.first_name!.trim());
      for (const r of mixedCase) expect(byId.get(r.employee_id!)!.email).to.equal(r.work_email!.toLowerCase());
    });

    it('reads 100,000 rows from a stream', async () => {
      const text = hrgen({ count: 100_000, seed: 5, day: 0 });
      const bytes = Buffer.from(text, 'utf8');
      const chunks = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536));
      const { records, rejected } = await readCsv(Readable.from(chunks));
      expect(rejected).to.deep.equal([]);
      expect(records).to.have.length(100_000);
      expect(records.map((r) => r.employeeId)).to.deep.equal(Array.from({ length: 100_000 }, (_, i) => `E${100001 + i}`));
      expect(records[99_999]!.row).to.equal(100_001);
      expect(new Set(records.map((r) => r.email)).size).to.equal(100_000);
    });
  });

  describe('normalisation', () => {
    it('trims, collapses whitespace and composes Unicode in every text value', async () => {
      const decomposed = 'Chloe\u0301';
      const { records, rejected } = await readCsv(csvFeed(line('E1', {
        first_name: `"  ${decomposed}\t Marie \n"`, last_name: ' de  la Cruz ', title: '"Staff\u00a0 Engineer"', department: ' Engineering ',
        work_email: '  Chloe.DeLaCruz@Example.COM ', employment_type: 'Contractor ', status: ' terminated ',
      })));
      expect(rejected).to.deep.equal([]);
      const r = records[0]!;
      expect(r.givenName).to.equal('Chlo\u00e9 Marie');
      expect(r.familyName).to.equal('de la Cruz');
      expect(r.title).to.equal('Staff Engineer');
      expect(r.department).to.equal('Engineering');
      expect(r.email).to.equal('chloe.delacruz@example.com');
      expect(r.employmentType).to.equal('Contractor');
      expect(r.status).to.equal('terminated');
      expect(normaliseText('  a \u00a0 b\r\n')).to.equal('a b');
    });

    it('reads empty optional values as null and a person who is their own manager as having none', async () => {
      const { records } = await readCsv(csvFeed(line('E1', { manager_id: 'E1', location: '  ', hire_date: '', department: '' })));
      expect(records[0]).to.include({ managerEmployeeId: null, location: null, hireDate: null, department: null, preferredName: null });
    });

    it('checks dates against the calendar', () => {
      for (const ok of ['2026-02-28', '2028-02-29', '2000-02-29', '2026-12-31']) expect(isIsoDate(ok), ok).to.equal(true);
      for (const bad of ['2026-02-30', '2026-02-29', '1900-02-29', '2026-13-01', '2026-00-10', '2026-04-31', '2026-1-05', '05/01/2026', '2026-01-05T00:00:00Z', '']) {
        expect(isIsoDate(bad), bad).to.equal(false);
      }
    });

    it('tells addresses from other text', () => {
      for (const ok of ['a@example.com', 'anne-marie.o\'brien+hr@mail.example.co.uk', 'zoë@exämple.de']) expect(isEmail(ok), ok).to.equal(true);
      for (const bad of ['', 'a', 'a@b', '@example.com', 'a@@example.com', 'a b@example.com', 'a@example', '.a@example.com', 'a.@example.com', 'a..b@example.com', 'a@-x.com', 'a@example.c']) {
        expect(isEmail(bad), bad).to.equal(false);
      }
    });
  });

  describe('rejected rows', () => {
    it('rejects each faulty row with its row number and reason, and reads the rest', async () => {
      const feed = csvFeed(
        line('E1'), //                                                     line 2
        line('E2', { hire_date: '2026-02-30' }), //                        line 3
        line('E3', { first_name: '' }), //                                 line 4
        line('E1', { work_email: 'other@example.com' }), //                line 5
        line('E5', { work_email: 'E1@Example.com' }), //                   line 6
        line('E6', { last_name: 'O"Brien' }), //                           line 7
        line('E7', { work_email: 'not an address' }), //                   line 8
        line('E8', { status: 'Retired' }), //                              line 9
        `${line('E9')},surplus`, //                                        line 10
        line('E10', { termination_date: '31/12/2026', title: 'x'.repeat(256) }), // line 11
        line('E11', { first_name: '"Multi\nline"' }), //                  lines 12-13
        line('E12', { employee_id: ' ' }), //                              line 14
        line('E13'), //                                                    line 15
      );
      const { records, rejected } = await readCsv(feed);
      expect(records.map((r) => [r.row, r.employeeId])).to.deep.equal([[2, 'E1'], [12, 'E11'], [15, 'E13']]);
      expect(records[1]!.givenName).to.equal('Multi line');
      expect(rejected).to.deep.equal([
        { row: 3, employeeId: 'E2', reason: 'hire_date "2026-02-30" is not a real date written YYYY-MM-DD' },
        { row: 4, employeeId: 'E3', reason: 'first_name is empty' },
        { row: 5, employeeId: 'E1', reason: 'duplicate employee id E1: first on row 2' },
        { row: 6, employeeId: 'E5', reason: 'duplicate email e1@example.com: first on row 2' },
        { row: 7, employeeId: 'E6', reason: 'field 3 has a stray quote (a field holding quotes must be quoted whole, its quotes doubled)' },
        { row: 8, employeeId: 'E7', reason: 'work_email "not an address" is not an email address' },
        { row: 9, employeeId: 'E8', reason: 'status "Retired" is none of the mapping\'s status values ("active", "pending", "leave", "on leave", "terminated")' },
        { row: 10, employeeId: 'E9', reason: 'has 16 fields where the header has 15' },
        { row: 11, employeeId: 'E10', reason: 'title is longer than 255 characters; termination_date "31/12/2026" is not a real date written YYYY-MM-DD' },
        { row: 14, employeeId: null, reason: 'employee_id is empty' },
      ]);
    });

    it('names the first row of a duplicate even when that row was itself rejected', async () => {
      const { rejected } = await readCsv(csvFeed(line('E1', { hire_date: 'soon' }), line('E1', { work_email: 'a@example.com' }), line('E1', { work_email: 'b@example.com' }), line('E4', { work_email: 'A@example.com' })));
      expect(rejected.map((r) => [r.row, r.reason])).to.deep.equal([
        [2, 'hire_date "soon" is not a real date written YYYY-MM-DD'],
        [3, 'duplicate employee id E1: first on row 2'],
        [4, 'duplicate employee id E1: first on row 2'],
        [5, 'duplicate email a@example.com: first on row 3'],
      ]);
    });

    it('reports a malformed quote on the line the row starts, with the rows around it read', async () => {
      const { records, rejected } = await readCsv(csvFeed(line('E1'), line('E2', { title: '"Engineer' }), line('E3')));
      expect(rejected).to.deep.equal([{ row: 3, employeeId: 'E2', reason: 'quoted field 7 is never closed (unterminated quote)' }]);
      expect(records.map((r) => r.employeeId)).to.deep.equal(['E1', 'E3']);
    });

    it('skips rows of empty cells, as spreadsheets write at the end', async () => {
      const { records, rejected } = await readCsv(csvFeed(line('E1'), ',,,,,,,,,,,,,,', ' , ,,,,,,,,,,,,,'));
      expect(records).to.have.length(1);
      expect(rejected).to.deep.equal([]);
    });

    it('rejects JSON rows the same way, numbered from 1 by array index', async () => {
      const base = { employee_id: 'E1', first_name: 'Ada', last_name: 'Lovelace', work_email: 'ada@example.com', status: 'active' };
      const feed = JSON.stringify([base, { ...base, employee_id: 'E2', hire_date: '2026-02-30', work_email: 'b@example.com' }, { ...base, employee_id: 'E3', first_name: ['x'] }, { ...base, employee_id: 'E4' }]);
      const { records, rejected } = await readJson(feed);
      expect(records.map((r) => [r.row, r.employeeId])).to.deep.equal([[1, 'E1']]);
      expect(rejected).to.deep.equal([
        { row: 2, employeeId: 'E2', reason: 'hire_date "2026-02-30" is not a real date written YYYY-MM-DD' },
        { row: 3, employeeId: 'E3', reason: '"first_name" holds an object or array, not a single value' },
        { row: 4, employeeId: 'E4', reason: 'duplicate email ada@example.com: first on row 1' },
      ]);
    });
  });

  describe('refused feeds', () => {
    it('refuses a CSV feed whose header lacks a mapped column, naming every one', async () => {
      const header = HEADER.replace('work_email,', '').replace(',github_login', '');
      const refused = await refusal(() => readCsv(`${header}\nE1,Ada,Lovelace,,Engineering,Engineer,,London,CC-1,Employee,Active,2024-01-01,\n`));
      expect(refused.message).to.contain('the feed has no column "work_email" (mapped to email)');
      expect(refused.message).to.contain('the feed has no column "github_login" (mapped to extra.githubLogin)');
    });

    it('refuses a JSON feed without a required key, and reads one without an optional key as null', async () => {
      const person = { employee_id: 'E1', first_name: 'Ada', last_name: 'Lovelace', work_email: 'ada@example.com', status: 'Active' };
      const { last_name: _, ...noFamilyName } = person;
      expect((await refusal(() => readJson(JSON.stringify([noFamilyName])))).message).to.contain('the feed has no column "last_name" (mapped to familyName)');
      const { records, rejected } = await readJson(JSON.stringify([person]));
      expect(rejected).to.deep.equal([]);
      expect(records[0]).to.include({ department: null, hireDate: null, managerEmployeeId: null });
      expect(records[0]!.extra).to.deep.equal({});
    });

    it('matches header names trimmed and in any case, and refuses a header naming a mapped column twice', async () => {
      const shouting = HEADER.split(',').map((c) => ` ${c.toUpperCase()} `).join(',');
      const { records } = await readCsv(`${shouting}\n${line('E1')}\n`);
      expect(records.map((r) => r.employeeId)).to.deep.equal(['E1']);
      const refused = await refusal(() => readCsv(`${HEADER},Work_Email\n${line('E1')},x@example.com\n`));
      expect(refused.message).to.contain('the feed has 2 columns named "work_email" (positions 5, 16)');
    });

    it('refuses an empty feed and a header it cannot read; a header alone is a feed without rows', async () => {
      expect((await refusal(() => readCsv(''))).message).to.contain('the feed is empty');
      expect((await refusal(() => readCsv('employee_id,"first_name\n'))).message).to.contain('the header (line 1) cannot be read');
      expect(await readCsv(`${HEADER}\r\n`)).to.deep.equal({ records: [], rejected: [] });
    });

    it('refuses before handing out any row', async () => {
      const items = readHrFeed(`${HEADER.replace('status', 'state')}\n${line('E1')}\n`, { format: 'csv', mapping });
      let error: unknown;
      try {
        await items.next();
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(HrFeedError);
      expect((error as Error).message).to.contain('the feed has no column "status" (mapped to status)');
    });
  });

  describe('column mappings', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'hr-mapping-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    const custom: HrMappingInput = {
      columns: {
        employeeId: 'Person Number', givenName: 'Given Name', familyName: 'Surname', email: 'Email', status: 'Assignment Status',
        department: 'Org Unit', managerEmployeeId: 'Line Manager', hireDate: 'Start',
      },
      extra: { slackHandle: 'Slack' },
      statusValues: { A: 'active', T: 'terminated', LOA: 'leave' },
      unknownColumns: 'extra',
    };

    it('reads a feed through a custom mapping file, keeping unknown columns in extra', async () => {
      const file = join(dir, 'custom.json');
      writeFileSync(file, JSON.stringify(custom));
      const m = loadHrMapping(file);
      const feed = [
        'Person Number,Given Name,Surname,Email,Assignment Status,Org Unit,Line Manager,Start,Slack,Badge,Notes',
        'P-7,Grace,Hopper,Grace.Hopper@Example.com,a,Navy,,1943-12-01,@grace,1234,',
        'P-8,Alan,Turing,alan@example.com,loa,Math,P-7,1938-09-01,,,quiet',
        'P-9,Ada,Byron,ada@example.com,Active,,,,,,',
      ].join('\r\n');
      const { records, rejected } = await readCsv(feed, m);
      expect(records.map(({ row, employeeId, email, status, department, managerEmployeeId, hireDate, title, extra }) => ({ row, employeeId, email, status, department, managerEmployeeId, hireDate, title, extra }))).to.deep.equal([
        { row: 2, employeeId: 'P-7', email: 'grace.hopper@example.com', status: 'active', department: 'Navy', managerEmployeeId: null, hireDate: '1943-12-01', title: null, extra: { slackHandle: '@grace', Badge: '1234' } },
        { row: 3, employeeId: 'P-8', email: 'alan@example.com', status: 'leave', department: 'Math', managerEmployeeId: 'P-7', hireDate: '1938-09-01', title: null, extra: { Notes: 'quiet' } },
      ]);
      expect(rejected).to.deep.equal([{ row: 4, employeeId: 'P-9', reason: 'Assignment Status "Active" is none of the mapping\'s status values ("a", "t", "loa")' }]);
    });

    it('ignores unknown columns by default', async () => {
      const { records } = await readCsv(`${HEADER},badge\n${line('E1')},42\n`);
      expect(records[0]!.extra).to.deep.equal({});
    });

    function problems(document: unknown): string[] {
      try {
        parseHrMapping(document, 'test.json');
      } catch (err) {
        expect(err).to.be.instanceOf(HrMappingError);
        return (err as HrMappingError).problems;
      }
      expect.fail('expected the mapping to be refused');
    }

    it('refuses a mapping with every problem listed', () => {
      const { email: _, ...noEmail } = custom.columns;
      expect(problems({ ...custom, columns: noEmail })).to.deep.equal(['columns.email: is required: every record needs its email']);
      expect(problems({ ...custom, columns: { ...custom.columns, emial: 'x' } })).to.deep.equal([
        'columns: "emial" is no attribute a column can fill (employeeId, givenName, familyName, preferredName, email, department, title, managerEmployeeId, location, costCenter, employmentType, status, hireDate, terminationDate)',
      ]);
      expect(problems({ ...custom, colums: {} })).to.deep.equal(['(root): "colums" is no mapping setting ($comment, columns, extra, statusValues, unknownColumns)']);
      expect(problems({ ...custom, statusValues: { A: 'gone' } })).to.deep.equal(['statusValues.A: must be "active", "terminated" or "leave"']);
      expect(problems({ ...custom, statusValues: { A: 'active', ' a ': 'leave' } })).to.deep.equal(['statusValues.a: differs from "A" only in case or spacing']);
      expect(problems({ ...custom, statusValues: {} })).to.deep.equal(['statusValues: must list at least one status word']);
      expect(problems({ ...custom, columns: { ...custom.columns, title: 'given name' } })).to.deep.equal(['columns.title: column "given name" is already mapped to givenName']);
      expect(problems({ ...custom, extra: { 'github-login': 'gh' } })).to.deep.equal(['extra.github-login: an extra attribute name is 1-64 letters, digits or "_", starting with a letter']);
      expect(problems({ ...custom, unknownColumns: 'keep' })).to.deep.equal(['unknownColumns: must be "ignore" or "extra"']);
      expect(problems({ ...custom, columns: { ...custom.columns, givenName: '  ' } })).to.deep.equal(['columns.givenName: a column name must not be empty']);
      expect(problems([])).to.deep.equal(['(root): Invalid input: expected object, received array']);
      const several = problems({ columns: {}, statusValues: {} });
      expect(several).to.include.members(['columns.employeeId: is required: every record needs its employeeId', 'statusValues: must list at least one status word']);
    });

    it('refuses a mapping file that cannot be read or is not JSON, naming the file', () => {
      const broken = join(dir, 'broken.json');
      writeFileSync(broken, '{ "columns": ');
      for (const [file, text] of [[broken, 'not valid JSON'], [join(dir, 'missing.json'), 'cannot read the file']] as const) {
        try {
          loadHrMapping(file);
          expect.fail('expected a refusal');
        } catch (err) {
          expect(err).to.be.instanceOf(HrMappingError);
          expect((err as Error).message).to.contain(file).and.contain(text);
        }
      }
    });
  });
});
