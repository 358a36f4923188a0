/*
 * A JSON HR feed: one array of flat objects, one object per person, keys as column names. JSON
 * cannot be read row by row without a streaming parser, so the whole feed is read into memory;
 * the size cap keeps that bounded (a 100,000-person hrgen feed is about 45 MB). Larger feeds
 * belong in CSV, which streams.
 */

/** A JSON feed read into columns: the header is every key any object uses, in first-seen order. */
export interface JsonTable {
  header: string[];
  rows: JsonItem[];
}

/** One object as fields in header order (absent keys read as ''); `row` is the array index + 1. */
export interface JsonRow {
  kind: 'row';
  row: number;
  fields: string[];
}

/** An array element that is not a flat object of text values, with what could be read of it. */
export interface JsonRowError {
  kind: 'error';
  row: number;
  message: string;
  fields: string[];
}

export type JsonItem = JsonRow | JsonRowError;

export type JsonSource = string | Uint8Array | AsyncIterable<string | Uint8Array>;

/** The largest JSON feed read by default, in bytes (text sources: UTF-16 code units). */
export const DEFAULT_MAX_JSON_BYTES = 256 * 1024 * 1024;

/** Raised when a JSON feed cannot be read at all: too large, not UTF-8, not JSON, or not an array. */
export class JsonFeedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonFeedError';
  }
}

async function readAll(source: JsonSource, maxBytes: number): Promise<string> {
  const tooLarge = () => new JsonFeedError(`the JSON feed is larger than ${maxBytes} bytes, the most read into memory; send a CSV feed, which streams`);
  if (typeof source === 'string') {
    if (source.length > maxBytes) throw tooLarge();
    return source;
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  const add = (part: Uint8Array) => {
    size += part.byteLength;
    if (size > maxBytes) throw tooLarge();
    parts.push(part);
  };
  if (source instanceof Uint8Array) add(source);
  else for await (const chunk of source) add(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    throw new JsonFeedError('the feed is not valid UTF-8; export it as UTF-8');
  }
}

/** A cell as text: strings as they are, numbers and booleans as written, null as empty; undefined when it is not a single value. */
function cellText(value: unknown): string | undefined {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a JSON array feed (at most `maxBytes`); refuses the whole feed only when it is not an array of anything. */
export async function parseJsonFeed(source: JsonSource, maxBytes = DEFAULT_MAX_JSON_BYTES): Promise<JsonTable> {
  const text = await readAll(source, maxBytes);
  let document: unknown;
  try {
    // A byte order mark is tolerated, as in CSV feeds.
    document = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    throw new JsonFeedError(`the feed is not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(document)) throw new JsonFeedError('the JSON feed must be an array of objects, one per person');

  const index = new Map<string, number>();
  const header: string[] = [];
  for (const element of document) {
    if (!isPlainObject(element)) continue;
    for (const key of Object.keys(element)) {
      if (!index.has(key)) {
        index.set(key, header.length);
        header.push(key);
      }
    }
  }

  const rows = document.map((element: unknown, i): JsonItem => {
    const row = i + 1;
    const fields: string[] = new Array<string>(header.length).fill('');
    if (!isPlainObject(element)) {
      return { kind: 'error', row, fields, message: `array element ${i} is ${element === null ? 'null' : Array.isArray(element) ? 'an array' : `a ${typeof element}`}, not an object` };
    }
    const nested: string[] = [];
    for (const [key, value] of Object.entries(element)) {
      const text = cellText(value);
      if (text === undefined) nested.push(key);
      else fields[index.get(key)!] = text;
    }
    if (nested.length > 0) {
      return { kind: 'error', row, fields, message: `${nested.map((k) => `"${k}"`).join(', ')} ${nested.length === 1 ? 'holds' : 'hold'} an object or array, not a single value` };
    }
    return { kind: 'row', row, fields };
  });
  return { header, rows };
}
