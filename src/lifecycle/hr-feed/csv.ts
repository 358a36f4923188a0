/*
 * An RFC 4180 CSV reader for HR exports: UTF-8 (a byte order mark is tolerated), CRLF or LF line
 * ends, quoted fields holding commas, quotes ("" inside quotes) and line breaks.
 *
 * It streams: text is parsed as it arrives and only the row being read is held, so a feed of any
 * length takes memory for one row. A malformed row is reported with the line it starts on and the
 * reader carries on with the next one, so one bad cell costs one row, not the feed.
 */

/** A parsed row: its fields, and the 1-based line it starts on (rows with quoted line breaks span several). */
export interface CsvRow {
  kind: 'row';
  line: number;
  fields: string[];
}

/** A row that could not be parsed, starting on `line`; `fields` holds what could be read of it (the first cells, for the report). */
export interface CsvRowError {
  kind: 'error';
  line: number;
  message: string;
  fields: string[];
}

export type CsvItem = CsvRow | CsvRowError;

/** What a CSV feed may be read from: whole text, whole bytes, or a stream of either (a Node Readable is one). */
export type CsvSource = string | Uint8Array | AsyncIterable<string | Uint8Array>;

/** Raised when the bytes are not UTF-8: nothing in such a feed can be trusted to read as HR wrote it. */
export class CsvEncodingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CsvEncodingError';
  }
}

export interface CsvOptions {
  /**
   * The longest row, in characters. A quote that is never closed would otherwise swallow the rest
   * of the feed into one field; past this length the row is reported as unterminated and reading
   * resumes on the line after the one it started on.
   */
  maxRowChars?: number;
}

/** Far beyond any real HR row (a few hundred characters), small enough to bound memory. */
export const DEFAULT_MAX_ROW_CHARS = 1_048_576;

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

type Scan =
  | { done: false }
  | { done: true; item: CsvItem; next: number; lines: number };

/** Counts line feeds in text[from, to). */
function countLines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Reads one row starting at `start`. With `final` false, a row that may continue past the end of
 * `text` is left unread ({ done: false }) for the caller to retry with more text.
 */
function scanRow(text: string, start: number, line: number, final: boolean): Scan {
  const end = text.length;
  const fields: string[] = [];
  let problem: string | undefined;
  let recoverFromFirstLine = false;
  let i = start;
  for (;;) {
    const fieldNumber = fields.length + 1;
    let value: string;
    if (text.charCodeAt(i) === QUOTE) {
      const open = i;
      let j = i + 1;
      value = '';
      let closed = false;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) break;
        value += text.slice(j, q);
        if (text.charCodeAt(q + 1) === QUOTE) {
          value += '"';
          j = q + 2;
          continue;
        }
        // A quote at the very end of unfinished text may be half of a "" escape; the row then
        // ends at the end of the text, so it is left for more text like any unfinished row.
        closed = true;
        i = q + 1;
        break;
      }
      if (!closed) {
        if (!final) return { done: false };
        // The rest of the feed would be one field: report the row and resume on its next line.
        const message = `quoted field ${fieldNumber} is never closed (unterminated quote)`;
        return unreadable(text, start, line, message, fields);
      }
      const c = text.charCodeAt(i);
      if (i < end && c !== COMMA && c !== LF && !(c === CR && (i + 1 >= end || text.charCodeAt(i + 1) === LF))) {
        // Text after a closing quote. If the quoted part crossed lines, the likelier fault is an
        // opening quote that was never closed, which ran on into later rows: resume after its first line.
        const firstBreak = text.indexOf('\n', open);
        const spansLines = firstBreak !== -1 && firstBreak < i;
        problem ??= spansLines
          ? `quoted field ${fieldNumber} runs on to line ${line + countLines(text, open, i)} and has text after its closing quote (an unbalanced quote?)`
          : `field ${fieldNumber} has text after its closing quote (quote the whole field and double the quotes inside it)`;
        if (spansLines) recoverFromFirstLine = true;
        // Read on to the end of the field so the row's remaining cells still line up.
        const from = i;
        while (i < end) {
          const k = text.charCodeAt(i);
          if (k === COMMA || k === LF || (k === CR && text.charCodeAt(i + 1) === LF)) break;
          i++;
        }
        value += text.slice(from, i);
      }
    } else {
      const from = i;
      while (i < end) {
        const c = text.charCodeAt(i);
        if (c === COMMA || c === LF) break;
        if (c === CR) {
          if (i + 1 >= end) break;
          if (text.charCodeAt(i + 1) === LF) break;
        } else if (c === QUOTE) {
          problem ??= `field ${fieldNumber} has a stray quote (a field holding quotes must be quoted whole, its quotes doubled)`;
        }
        i++;
      }
      value = text.slice(from, i);
    }
    fields.push(value);
    if (i >= end) {
      if (!final) return { done: false };
      break;
    }
    const c = text.charCodeAt(i);
    if (c === COMMA) {
      i++;
      if (i >= end && !final) return { done: false };
      if (i >= end) {
        fields.push('');
        break;
      }
      continue;
    }
    if (c === CR) {
      // CR at the end of the text so far: its LF may be in the next chunk.
      if (i + 1 >= end && !final) return { done: false };
      i++;
    }
    if (text.charCodeAt(i) === LF) i++;
    break;
  }
  if (problem !== undefined) {
    if (recoverFromFirstLine) return unreadable(text, start, line, problem, fields);
    return { done: true, item: { kind: 'error', line, message: problem, fields }, next: i, lines: countLines(text, start, i) };
  }
  return { done: true, item: { kind: 'row', line, fields }, next: i, lines: countLines(text, start, i) };
}

/** Reports the row starting at `start` as unreadable and resumes at the line after its first. */
function unreadable(text: string, start: number, line: number, message: string, fields: string[]): Scan {
  const lf = text.indexOf('\n', start);
  const next = lf === -1 ? text.length : lf + 1;
  return { done: true, item: { kind: 'error', line, message, fields }, next, lines: lf === -1 ? 0 : 1 };
}

/**
 * The incremental parser: text goes in with `push`, complete rows come out. Only the unfinished
 * row is kept between pushes.
 */
export class CsvParser {
  private text = '';
  private pos = 0;
  private line = 1;
  private started = false;
  /** after an overlong row: the rest of its first line is skipped */
  private skippingLine = false;
  private readonly maxRowChars: number;

  constructor(options: CsvOptions = {}) {
    this.maxRowChars = options.maxRowChars ?? DEFAULT_MAX_ROW_CHARS;
  }

  /** Adds text and returns the rows it completes. */
  push(chunk: string): CsvItem[] {
    if (!this.started) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    this.text = this.pos === 0 ? this.text + chunk : this.text.slice(this.pos) + chunk;
    this.pos = 0;
    return this.drain(false);
  }

  /** Ends the input and returns the rows left, including a last row without a line break. */
  end(): CsvItem[] {
    const items = this.drain(true);
    this.text = '';
    this.pos = 0;
    return items;
  }

  private drain(final: boolean): CsvItem[] {
    const items: CsvItem[] = [];
    const text = this.text;
    while (this.pos < text.length) {
      if (this.skippingLine) {
        const lf = text.indexOf('\n', this.pos);
        if (lf === -1) {
          this.pos = text.length;
          break;
        }
        this.pos = lf + 1;
        this.line++;
        this.skippingLine = false;
        continue;
      }
      // A blank line is no row (most often the line break at the end of the file).
      const c = text.charCodeAt(this.pos);
      if (c === LF) {
        this.pos++;
        this.line++;
        continue;
      }
      if (c === CR) {
        const last = this.pos + 1 >= text.length;
        if (last && !final) break;
        if (last || text.charCodeAt(this.pos + 1) === LF) {
          this.pos += last ? 1 : 2;
          this.line++;
          continue;
        }
      }
      const scan = scanRow(text, this.pos, this.line, final);
      const length = (scan.done ? scan.next : text.length) - this.pos;
      if (length > this.maxRowChars) {
        items.push(this.overlong());
        continue;
      }
      if (!scan.done) break;
      items.push(scan.item);
      this.pos = scan.next;
      this.line += scan.lines;
    }
    return items;
  }

  /**
   * A row longer than the limit is, in practice, a quote never closed: it is reported, and reading
   * resumes on the line after the one it started on, wherever that line's end turns up.
   */
  private overlong(): CsvItem {
    const line = this.line;
    this.skippingLine = true;
    return {
      kind: 'error', line, fields: [],
      message: `row is longer than ${this.maxRowChars} characters (an unterminated quote?)`,
    };
  }
}

/** Decodes UTF-8 chunk by chunk; a character split across chunks is joined, an invalid byte refuses the feed. */
function utf8Decoder(): { decode(bytes: Uint8Array, last: boolean): string } {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  return {
    decode(bytes, last) {
      try {
        return decoder.decode(bytes, { stream: !last });
      } catch {
        throw new CsvEncodingError('the feed is not valid UTF-8; export it as UTF-8 (with or without a byte order mark)');
      }
    },
  };
}

/**
 * How much of a whole text or buffer is handed to the parser at a time: parsing a large feed in
 * one piece would build every row at once, and each kept value would hold the whole text alive.
 */
const PIECE = 65_536;

/** A whole text or buffer as the pieces a stream would have delivered. */
function* pieces<T extends string | Uint8Array>(whole: T): Generator<T> {
  for (let at = 0; at < whole.length; at += PIECE) {
    yield (typeof whole === 'string' ? whole.slice(at, at + PIECE) : whole.subarray(at, at + PIECE)) as T;
  }
}

/** Parses CSV from text, bytes or a stream, yielding each row (or row error) as soon as it is complete. */
export async function* parseCsv(source: CsvSource, options: CsvOptions = {}): AsyncGenerator<CsvItem> {
  const parser = new CsvParser(options);
  if (typeof source === 'string') {
    for (const piece of pieces(source)) yield* parser.push(piece);
  } else {
    const decoder = utf8Decoder();
    for await (const chunk of source instanceof Uint8Array ? pieces(source) : source) {
      const text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, false);
      if (text.length > 0) yield* parser.push(text);
    }
    const rest = decoder.decode(new Uint8Array(0), true);
    if (rest.length > 0) yield* parser.push(rest);
  }
  yield* parser.end();
}

/** Parses a whole CSV text at once: the same rows as parseCsv, for callers that already hold the text. */
export function parseCsvText(text: string, options: CsvOptions = {}): CsvItem[] {
  const parser = new CsvParser(options);
  return [...parser.push(text), ...parser.end()];
}
