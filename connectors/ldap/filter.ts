/*
 * Search filters as strings (RFC 4515). A person's name or a DN goes into a filter as a value,
 * and a value holding `*`, `(`, `)` or `\` would otherwise change the filter's meaning (a `*` turns
 * an equality test into a substring match). Non-ASCII characters stay as they are: ldapts reads a
 * `\xx` escape as one character, not one byte, so escaping UTF-8 bytes would corrupt the value.
 */

const ESCAPES: Readonly<Record<string, string>> = { '*': '\\2a', '(': '\\28', ')': '\\29', '\\': '\\5c', '\0': '\\00' };

/** A value escaped for use in a filter (RFC 4515 section 3). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => ESCAPES[c]!);
}

/** `(attribute=value)` with the value escaped. */
export function equals(attribute: string, value: string): string {
  return `(${attribute}=${escapeFilterValue(value)})`;
}

/** All of the filters; one filter is returned as is. */
export function allOf(...filters: string[]): string {
  return filters.length === 1 ? filters[0]! : `(&${filters.join('')})`;
}
