/*
 * SCIM filters as Slack's reference describes them: `attribute operator "value"` expressions
 * joined by `and` / `or` and grouped with parentheses, attribute names and operators without
 * regard to case, string literals as JSON strings. Values compare without case too: the
 * reference gives `userName Eq "Carly"` and `username eq "carly"` as the same filter.
 *
 * Not the server's own parser (src/scim/filter): that one deliberately accepts the unquoted
 * values some SCIM clients send, while this fake must refuse them, so that a connector that
 * forgets to quote or escape a value fails its tests.
 */
import { forbidden, type ScimError } from './errors.js';

export type Filter = (values: (attribute: string) => string[]) => boolean;

type Token = { kind: 'word'; text: string } | { kind: 'string'; text: string } | { kind: 'open' } | { kind: 'close' };

const COMPARISONS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);

function invalid(detail: string, why: string): ScimError {
  return forbidden(detail, `filter: ${why}`);
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ') {
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'open' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'close' });
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw invalid('incomplete_filter', `unterminated string in ${text}`);
      try {
        tokens.push({ kind: 'string', text: JSON.parse(text.slice(i, j + 1)) as string });
      } catch {
        throw invalid('invalid_query', `${text.slice(i, j + 1)} is not a JSON string`);
      }
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !' ()"'.includes(text[j]!)) j++;
      tokens.push({ kind: 'word', text: text.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

/**
 * Parses a filter over the given attribute names (lower case). Each attribute may have several
 * values (a user's emails); a comparison holds when any value satisfies it.
 */
export function parseFilter(text: string, attributes: readonly string[]): Filter {
  if (text.trim() === '') throw invalid('no_filters', 'the filter parameter is empty');
  const tokens = tokenize(text);
  let at = 0;
  const word = (): string | undefined => {
    const t = tokens[at];
    return t?.kind === 'word' ? t.text.toLowerCase() : undefined;
  };

  function primary(): Filter {
    const t = tokens[at];
    if (t?.kind === 'open') {
      at++;
      const inner = disjunction();
      if (tokens[at]?.kind !== 'close') throw invalid('invalid_filter_group', `unbalanced parentheses in ${text}`);
      at++;
      return inner;
    }
    if (t?.kind !== 'word') throw invalid('incomplete_filter', `expected an attribute in ${text}`);
    const attribute = t.text.toLowerCase();
    if (!attributes.includes(attribute)) throw invalid('invalid_query', `${t.text} cannot be filtered on (only ${attributes.join(', ')})`);
    at++;
    const op = word();
    if (op === 'pr') {
      at++;
      return (values) => values(attribute).some((v) => v !== '');
    }
    if (op === undefined || !COMPARISONS.has(op)) throw invalid('invalid_query', `unknown operator in ${text}`);
    at++;
    const literal = tokens[at];
    if (literal?.kind !== 'string') {
      throw invalid(literal ? 'invalid_query' : 'incomplete_filter', `the value in ${text} must be a JSON string literal`);
    }
    at++;
    const wanted = literal.text.toLowerCase();
    const test = (v: string): boolean => {
      switch (op) {
        case 'eq': return v === wanted;
        case 'ne': return v !== wanted;
        case 'co': return v.includes(wanted);
        case 'sw': return v.startsWith(wanted);
        case 'ew': return v.endsWith(wanted);
        case 'gt': return v > wanted;
        case 'ge': return v >= wanted;
        case 'lt': return v < wanted;
        default: return v <= wanted;
      }
    };
    return (values) => values(attribute).some((v) => test(v.toLowerCase()));
  }

  function conjunction(): Filter {
    let left = primary();
    while (word() === 'and') {
      at++;
      const l = left;
      const r = primary();
      left = (values) => l(values) && r(values);
    }
    return left;
  }

  function disjunction(): Filter {
    let left = conjunction();
    while (word() === 'or') {
      at++;
      const l = left;
      const r = conjunction();
      left = (values) => l(values) || r(values);
    }
    return left;
  }

  const filter = disjunction();
  if (at !== tokens.length) throw invalid('incomplete_filter', `unexpected text after the filter in ${text}`);
  return filter;
}
