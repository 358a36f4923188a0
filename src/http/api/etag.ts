/*
 * Optimistic concurrency on catalogue entries: the ETag of an entry is its version, quoted; a
 * PUT or DELETE with `If-Match: "<version>"` applies only while the entry is still at that
 * version, and `If-Match: *` only while it exists.
 */
import type { InputIssue } from './errors.js';
import type { IfMatch } from './route.js';

/** The ETag header value of a version. */
export function etagOf(version: number): string {
  return `"${version}"`;
}

/** The If-Match header as a condition, or undefined when there is none; a malformed header adds an issue to `issues`. */
export function parseIfMatch(header: string | undefined, issues: InputIssue[]): IfMatch | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const value = header.trim();
  if (value === '*') return { any: true };
  const m = /^"([1-9][0-9]{0,14})"$/.exec(value);
  if (!m) {
    issues.push({
      in: 'header', path: 'If-Match', code: 'invalid_format',
      message: 'If-Match must be * or one ETag as this API sends it, a quoted version such as "3"',
    });
    return undefined;
  }
  return { any: false, version: Number(m[1]) };
}
