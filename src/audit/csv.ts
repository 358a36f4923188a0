/*
 * CSV as the server writes it (audit exports and reports, review reports, reconciliation findings;
 * RFC 4180), and read back by the export verifier.
 *
 * Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula, so
 * a userName such as `=HYPERLINK(…)` would act when an auditor opens the file. Such a cell is
 * written with a single quote in front. A cell that already starts with a quote gets one more, so
 * the escape can be undone exactly (`unguardCell`): the verifier recomputes hashes from the cells.
 *
 * Null and the empty string differ in the audit chain's hashes, so they differ here too: null is
 * an empty cell, the empty string a quoted empty cell (`""`).
 */

const NEEDS_QUOTES = /[",\r\n]/;
const QUOTES = /"/g;
const QUOTE = 34;
const COMMA = 44;
const LF = 10;
const CR = 13;

/** True when a spreadsheet would read a cell starting with this character code as a formula (or it is our escape). */
function guarded(code: number): boolean {
  // = + - @ tab CR, and the quote that marks an escaped cell
  return code === 61 || code === 43 || code === 45 || code === 64 || code === 9 || code === 13 || code === 39;
}

/** One CSV cell safe to open in a spreadsheet: formula-like text prefixed with `'`, null empty, '' as `""`. */
export function safeCsvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : String(value);
  if (text === '') return '""';
  if (guarded(text.charCodeAt(0))) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(QUOTES, '""')}"` : text;
}

/** A CSV line of safe cells, ending in a newline. */
export function csvLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) line += (i === 0 ? '' : ',') + safeCsvCell(values[i]);
  return `${line}\n`;
}

/** Undoes safeCsvCell's formula guard on a cell's text. */
export function unguardCell(text: string): string {
  return text.length > 1 && text.charCodeAt(0) === 39 && guarded(text.charCodeAt(1)) ? text.slice(1) : text;
}

/** One parsed cell: its text and whether it was quoted (`""` is the empty string, an empty unquoted cell null). */
export interface ParsedCell {
  text: string;
  quoted: boolean;
}

/**
 * Reads CSV records from text chunks as they arrive, quoted line breaks included: constant memory
 * whatever the file's size, one record at a time.
 */
export class CsvReader {
  private cell = '';
  private quoted = false;
  /** inside quotes */
  private inQuotes = false;
  /** just saw a quote inside quotes: either the closing one or the first of a doubled pair */
  private quotePending = false;
  private record: ParsedCell[] = [];
  private atRecordStart = true;

  /** Feeds a chunk; returns the records it completed. */
  push(chunk: string): ParsedCell[][] {
    const out: ParsedCell[][] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.inQuotes) {
        if (this.quotePending) {
          this.quotePending = false;
          if (chunk.charCodeAt(i) === QUOTE) {
            this.cell += '"';
            i++;
          } else {
            // That was the closing quote; the character after it is read outside quotes.
            this.inQuotes = false;
          }
          continue;
        }
        const q = chunk.indexOf('"', i);
        if (q === -1) {
          this.cell += chunk.slice(i);
          break;
        }
        this.cell += chunk.slice(i, q);
        this.quotePending = true;
        i = q + 1;
        continue;
      }
      const code = chunk.charCodeAt(i);
      if (code === CR) {
        i++;
        continue;
      }
      this.atRecordStart = false;
      if (code === QUOTE && this.cell === '' && !this.quoted) {
        this.inQuotes = true;
        this.quoted = true;
        i++;
      } else if (code === COMMA) {
        this.endCell();
        i++;
      } else if (code === LF) {
        this.endCell();
        out.push(this.record);
        this.record = [];
        this.atRecordStart = true;
        i++;
      } else {
        // A run of plain text, taken in one slice.
        let j = i + 1;
        while (j < n) {
          const c = chunk.charCodeAt(j);
          if (c === COMMA || c === LF || c === CR) break;
          j++;
        }
        this.cell += chunk.slice(i, j);
        i = j;
      }
    }
    return out;
  }

  /** Ends the input: the last record if the text did not end with a line break; throws on an unclosed quote. */
  end(): ParsedCell[][] {
    if (this.inQuotes && !this.quotePending) throw new Error('the file ends inside a quoted cell');
    if (this.quotePending) {
      this.quotePending = false;
      this.inQuotes = false;
    }
    if (this.atRecordStart) return [];
    this.endCell();
    const last = this.record;
    this.record = [];
    this.atRecordStart = true;
    return [last];
  }

  private endCell(): void {
    this.record.push({ text: this.cell, quoted: this.quoted });
    this.cell = '';
    this.quoted = false;
  }
}

/** A parsed cell's value as safeCsvCell wrote it: null for an empty unquoted cell, else the unguarded text. */
export function cellValue(cell: ParsedCell): string | null {
  if (cell.text === '' && !cell.quoted) return null;
  return unguardCell(cell.text);
}
