/*
 * Reads an HR feed (CSV or JSON) into HrRecords and RejectedRows: the columns are found through
 * the mapping, every value is normalised (so whitespace, case and Unicode-form noise never looks
 * like a change), each row is validated on its own, and duplicates within the file are refused.
 *
 * What needs the stored identities (unknown managers, movers, leavers) is classification's job: a
 * delta feed's manager may well be stored already.
 */
import type { HrRecord, HrStatus, RejectedRow } from '../hr-record.js';
import { SharedStrings } from '../shared-strings.js';
import { CsvEncodingError, parseCsv, type CsvSource } from './csv.js';
import { JsonFeedError, parseJsonFeed, type JsonSource } from './json.js';
import { columnKey, REQUIRED_ATTRIBUTES, type HrMapping, type MappedAttribute } from './mapping.js';

export type HrFeedFormat = 'csv' | 'json';

/** Text, bytes, or a stream of either (a Node Readable is one). */
export type HrFeedSource = string | Uint8Array | AsyncIterable<string | Uint8Array>;

export interface ReadHrFeedOptions {
  format: HrFeedFormat;
  mapping: HrMapping;
  /** cap on a JSON feed's size (see json.ts) */
  maxJsonBytes?: number;
  /** cap on one CSV row's length (see csv.ts) */
  maxCsvRowChars?: number;
}

/** One row of the feed, read: a record to apply, or a rejection for the report. */
export type HrFeedItem =
  | { kind: 'record'; record: HrRecord }
  | { kind: 'rejected'; rejected: RejectedRow };

/** Raised when the feed as a whole cannot be read (its header, encoding or structure); nothing in it is applied. */
export class HrFeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HrFeedError';
  }
}

/** The longest text value; the identity store's filter columns hold 255 characters. */
const MAX_TEXT = 255;
/** Names are shorter so that "given family" (name.formatted, displayName) still fits MAX_TEXT. */
const MAX_NAME = 127;

/** Whether text is printable ASCII with single spaces only between words: already normal, as most cells are. */
function isPlainAscii(value: string): boolean {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c > 126) return false;
    if (c === 32 && (i === 0 || i === last || value.charCodeAt(i - 1) === 32)) return false;
  }
  return true;
}

/**
 * The text as a string of its own. V8 makes a substring of 13 characters or more a view into the
 * text it was cut from (shorter ones are copied), so a value kept from a parsed row would keep
 * that whole piece of the feed alive; joining and cutting again makes a copy.
 */
function own(value: string): string {
  return value.length < 13 ? value : (' ' + value).slice(1);
}

/** Trims, collapses every run of whitespace to one space and puts the text in Unicode NFC. */
export function normaliseText(value: string): string {
  if (isPlainAscii(value)) return value;
  return value.normalize('NFC').replace(/\s+/g, ' ').trim();
}

/** An email as stored and compared: normalised text, lowercased. */
export function normaliseEmail(value: string): string {
  return normaliseText(value).toLowerCase();
}

// A pragmatic check of a work address, not RFC 5321 in full: one @, a local part without spaces,
// quotes or brackets, and a domain of at least two dot-separated labels. Internationalised
// addresses are allowed; the ASCII form is tried first because it is several times faster.
const LOCAL_PART = String.raw`(?!\.)(?!.*\.\.)[^\s@"(),:;<>[\]\\]{1,64}(?<!\.)@(?=.{1,253}$)`;
const ASCII_EMAIL = new RegExp(`^${LOCAL_PART}(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\\.)+[A-Za-z]{2,}$`);
const UNICODE_EMAIL = new RegExp(`^${LOCAL_PART}(?:[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]*[\\p{L}\\p{N}])?\\.)+\\p{L}{2,}$`, 'u');

/** Whether a normalised email reads as an address. */
export function isEmail(value: string): boolean {
  return ASCII_EMAIL.test(value) || UNICODE_EMAIL.test(value);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether text is a real calendar date written YYYY-MM-DD (2026-02-30 is not; 2028-02-29 is). */
export function isIsoDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!);
}

/** Column positions for one feed's header. */
interface ColumnPlan {
  width: number;
  /** header position of each mapped attribute; absent when the mapping or (JSON) the feed leaves it out */
  attributes: Partial<Record<MappedAttribute, number>>;
  /** [extra attribute name, header position] */
  extras: Array<[string, number]>;
  /** column label per attribute, for messages: the column as the feed names it */
  labels: Partial<Record<MappedAttribute, string>>;
}

/**
 * Finds the mapped columns in a header. A CSV header lists every column its export has, so a
 * mapped column missing from it is a wrong mapping or a changed export, and reading on would
 * blank that attribute for everyone: the feed is refused. JSON writers often leave out empty
 * keys, so there only the required attributes must appear somewhere in the feed.
 */
function planColumns(header: string[], mapping: HrMapping, format: HrFeedFormat): ColumnPlan {
  const positions = new Map<string, number[]>();
  header.forEach((name, i) => {
    const key = columnKey(name);
    if (key === '') return;
    positions.set(key, [...(positions.get(key) ?? []), i]);
  });
  const problems: string[] = [];
  const mustHave = new Set<string>(format === 'csv' ? Object.keys(mapping.columns) : REQUIRED_ATTRIBUTES);
  const find = (column: string, what: string, required: boolean): number | undefined => {
    const at = positions.get(columnKey(column));
    if (!at) {
      if (required) problems.push(`the feed has no column "${column}" (mapped to ${what})`);
      return undefined;
    }
    if (at.length > 1) problems.push(`the feed has ${at.length} columns named "${column}" (positions ${at.map((i) => i + 1).join(', ')}); which one holds ${what} is ambiguous`);
    return at[0];
  };

  const plan: ColumnPlan = { width: header.length, attributes: {}, extras: [], labels: {} };
  const used = new Set<number>();
  for (const [attribute, column] of Object.entries(mapping.columns) as Array<[MappedAttribute, string]>) {
    const at = find(column, attribute, mustHave.has(attribute));
    if (at === undefined) continue;
    plan.attributes[attribute] = at;
    plan.labels[attribute] = header[at]!.trim();
    used.add(at);
  }
  for (const [name, column] of Object.entries(mapping.extra)) {
    const at = find(column, `extra.${name}`, format === 'csv');
    if (at === undefined) continue;
    plan.extras.push([name, at]);
    used.add(at);
  }
  if (mapping.unknownColumns === 'extra') {
    const names = new Set(plan.extras.map(([name]) => name));
    for (const at of positions.values()) {
      if (used.has(at[0]!)) continue;
      const name = header[at[0]!]!.trim();
      if (at.length > 1) problems.push(`the feed has ${at.length} columns named "${name}"; the mapping keeps unknown columns in extra, and which one to keep is ambiguous`);
      else if (names.has(name)) problems.push(`the feed's column "${name}" would be kept in extra under the same name as a mapped extra attribute`);
      else plan.extras.push([name, at[0]!]);
    }
  }
  if (problems.length > 0) throw new HrFeedError(`the feed's header cannot be used with this mapping:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return plan;
}

/** Rows as both formats deliver them: fields in header order, or what could be read of a malformed row. */
type RawRow =
  | { kind: 'row'; row: number; fields: string[] }
  | { kind: 'error'; row: number; fields: string[]; message: string };

/** Remembers which row first used each employee id and email, so later rows can say where it was. */
class FirstSeen {
  private readonly ids = new Map<string, number>();
  private readonly emails = new Map<string, number>();

  /** Adds a problem for each of the row's id and email seen on an earlier row; remembers the ones not seen yet. */
  check(row: number, employeeId: string | null, email: string | null, problems: string[]): void {
    if (employeeId !== null) {
      const first = this.ids.get(employeeId);
      if (first === undefined) this.ids.set(employeeId, row);
      else problems.push(`duplicate employee id ${employeeId}: first on row ${first}`);
    }
    if (email !== null) {
      const first = this.emails.get(email);
      if (first === undefined) this.emails.set(email, row);
      else problems.push(`duplicate email ${email}: first on row ${first}`);
    }
  }
}

/** Turns one row's fields into a record, or the list of everything wrong with it. */
class RowReader {
  private readonly statusWords: string;
  private readonly shared = new SharedStrings();

  constructor(private readonly plan: ColumnPlan, private readonly mapping: HrMapping, private readonly seen: FirstSeen) {
    this.statusWords = [...mapping.statusValues.keys()].map((w) => `"${w}"`).join(', ');
  }

  /** The row's employee id, normalised, when its column is there: rejections name it. */
  private employeeId(fields: string[]): string | null {
    const at = this.plan.attributes.employeeId;
    const id = at === undefined || fields[at] === undefined ? '' : normaliseText(fields[at]!);
    return id === '' ? null : id;
  }

  read(raw: RawRow): HrFeedItem {
    if (raw.kind === 'error') return this.reject(raw, raw.message);
    if (raw.fields.length !== this.plan.width) return this.reject(raw, `has ${raw.fields.length} fields where the header has ${this.plan.width}`);

    const problems: string[] = [];
    const fields = raw.fields;
    const employeeId = this.text(fields, 'employeeId', MAX_TEXT, true, problems);
    const givenName = this.text(fields, 'givenName', MAX_NAME, true, problems);
    const familyName = this.text(fields, 'familyName', MAX_NAME, true, problems);
    const preferredName = this.text(fields, 'preferredName', MAX_NAME, false, problems);
    const email = this.email(fields, problems);
    const department = this.shared.of(this.text(fields, 'department', MAX_TEXT, false, problems));
    const title = this.shared.of(this.text(fields, 'title', MAX_TEXT, false, problems));
    const managerEmployeeId = this.shared.of(this.text(fields, 'managerEmployeeId', MAX_TEXT, false, problems));
    const location = this.shared.of(this.text(fields, 'location', MAX_TEXT, false, problems));
    const costCenter = this.shared.of(this.text(fields, 'costCenter', MAX_TEXT, false, problems));
    const employmentType = this.shared.of(this.text(fields, 'employmentType', MAX_TEXT, false, problems));
    const status = this.status(this.text(fields, 'status', MAX_TEXT, true, problems), problems);
    const hireDate = this.shared.of(this.date(fields, 'hireDate', problems));
    const terminationDate = this.shared.of(this.date(fields, 'terminationDate', problems));
    const extra = this.extra(fields, problems);
    this.seen.check(raw.row, employeeId, email, problems);

    if (problems.length > 0) return this.reject(raw, problems.join('; '));
    return {
      kind: 'record',
      record: {
        row: raw.row,
        employeeId: employeeId!,
        givenName: givenName!,
        familyName: familyName!,
        preferredName,
        email: email!,
        department,
        title,
        // Some HR systems record the head of the company as their own manager; that is no manager.
        managerEmployeeId: managerEmployeeId === employeeId ? null : managerEmployeeId,
        location,
        costCenter,
        employmentType,
        status: status!,
        hireDate,
        terminationDate,
        extra,
      },
    };
  }

  private reject(raw: RawRow, reason: string): HrFeedItem {
    return { kind: 'rejected', rejected: { row: raw.row, employeeId: this.employeeId(raw.fields), reason } };
  }

  /** A mapped text value, normalised; null when empty (a problem when required) or not mapped. */
  private text(fields: string[], attribute: MappedAttribute, max: number, required: boolean, problems: string[]): string | null {
    const at = this.plan.attributes[attribute];
    const value = at === undefined ? '' : normaliseText(fields[at]!);
    if (value === '') {
      if (required) problems.push(`${this.label(attribute)} is empty`);
      return null;
    }
    if (value.length > max) problems.push(`${this.label(attribute)} is longer than ${max} characters`);
    return own(value);
  }

  /** The email, normalised; null (with a problem) when empty or not an address. */
  private email(fields: string[], problems: string[]): string | null {
    const at = this.plan.attributes.email;
    const value = at === undefined ? '' : normaliseEmail(fields[at]!);
    if (value === '') {
      problems.push(`${this.label('email')} is empty`);
      return null;
    }
    if (!isEmail(value)) {
      problems.push(`${this.label('email')} "${value}" is not an email address`);
      return null;
    }
    return own(value);
  }

  private date(fields: string[], attribute: MappedAttribute, problems: string[]): string | null {
    const value = this.text(fields, attribute, MAX_TEXT, false, problems);
    if (value !== null && !isIsoDate(value)) problems.push(`${this.label(attribute)} "${value}" is not a real date written YYYY-MM-DD`);
    return value;
  }

  private status(word: string | null, problems: string[]): HrStatus | null {
    if (word === null) return null;
    const status = this.mapping.statusValues.get(word.toLowerCase());
    if (status === undefined) problems.push(`${this.label('status')} "${word}" is none of the mapping's status values (${this.statusWords})`);
    return status ?? null;
  }

  private extra(fields: string[], problems: string[]): Record<string, string> {
    const extra: Record<string, string> = {};
    for (const [name, at] of this.plan.extras) {
      const value = normaliseText(fields[at]!);
      if (value === '') continue;
      if (value.length > MAX_TEXT) problems.push(`${name} is longer than ${MAX_TEXT} characters`);
      extra[name] = own(value);
    }
    return extra;
  }

  private label(attribute: MappedAttribute): string {
    return this.plan.labels[attribute] ?? this.mapping.columns[attribute] ?? attribute;
  }
}

/** Whether every cell is blank: spreadsheet exports end with such rows, and they describe nobody. */
function isBlank(fields: string[]): boolean {
  return fields.every((f) => f.trim() === '');
}

/** The header and rows of a CSV feed, the header read before any row is handed out. */
async function csvRows(source: CsvSource, maxRowChars: number | undefined): Promise<{ header: string[]; rows: AsyncIterable<RawRow> }> {
  const items = parseCsv(source, maxRowChars === undefined ? {} : { maxRowChars })[Symbol.asyncIterator]();
  const first = await nextCsvItem(items);
  if (first.done) throw new HrFeedError('the feed is empty: there is no header line');
  if (first.value.kind === 'error') throw new HrFeedError(`the header (line ${first.value.line}) cannot be read: ${first.value.message}`);
  const header = first.value.fields;
  async function* rest(): AsyncGenerator<RawRow> {
    for (;;) {
      const item = await nextCsvItem(items);
      if (item.done) return;
      const v = item.value;
      yield v.kind === 'row' ? { kind: 'row', row: v.line, fields: v.fields } : { kind: 'error', row: v.line, fields: v.fields, message: v.message };
    }
  }
  return { header, rows: rest() };
}

async function nextCsvItem<T>(items: AsyncIterator<T>): Promise<IteratorResult<T>> {
  try {
    return await items.next();
  } catch (err) {
    if (err instanceof CsvEncodingError) throw new HrFeedError(err.message);
    throw err;
  }
}

async function jsonRows(source: JsonSource, maxBytes: number | undefined): Promise<{ header: string[]; rows: Iterable<RawRow> }> {
  try {
    return await parseJsonFeed(source, maxBytes);
  } catch (err) {
    if (err instanceof JsonFeedError) throw new HrFeedError(err.message);
    throw err;
  }
}

/**
 * Reads a feed row by row: each row becomes a record or a rejection, in file order. Throws
 * HrFeedError (on the first `next()`, before any row) when the feed cannot be read at all: no
 * header, a mapped column missing from it, not UTF-8, not JSON. A CSV feed streams; a JSON feed
 * is read whole first.
 */
export async function* readHrFeed(source: HrFeedSource, options: ReadHrFeedOptions): AsyncGenerator<HrFeedItem> {
  const { header, rows } = options.format === 'csv'
    ? await csvRows(source, options.maxCsvRowChars)
    : await jsonRows(source, options.maxJsonBytes);
  // A JSON array without a single key (empty, or holding no objects) has no columns to check:
  // an empty array is a valid, empty delta, and its non-objects are rejected one by one.
  const reader = options.format === 'json' && header.length === 0
    ? undefined
    : new RowReader(planColumns(header, options.mapping, options.format), options.mapping, new FirstSeen());
  for await (const raw of rows) {
    if (raw.kind === 'row' && isBlank(raw.fields)) continue;
    yield reader ? reader.read(raw) : { kind: 'rejected', rejected: { row: raw.row, employeeId: null, reason: raw.kind === 'error' ? raw.message : 'has no fields' } };
  }
}

/** Reads a whole feed into records and rejections (see readHrFeed). */
export async function readHrFeedAll(source: HrFeedSource, options: ReadHrFeedOptions): Promise<{ records: HrRecord[]; rejected: RejectedRow[] }> {
  const records: HrRecord[] = [];
  const rejected: RejectedRow[] = [];
  for await (const item of readHrFeed(source, options)) {
    if (item.kind === 'record') records.push(item.record);
    else rejected.push(item.rejected);
  }
  return { records, rejected };
}
