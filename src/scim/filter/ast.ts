/**
 * AST for SCIM 2.0 filters (RFC 7644 §3.4.2.2) and PATCH paths (RFC 7644 §3.5.2).
 * Produced by ./parse.ts; purely syntactic — attribute names are not resolved against any schema.
 */

/** Comparison operators of RFC 7644 §3.4.2.2. */
export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/** A literal compared against: JSON string, number, boolean or null. */
export type FilterValue = string | number | boolean | null;

/** An attribute path as written: optional schema URN, attribute, optional sub-attribute. Names keep the client's case. */
export interface AttrPath { schema?: string; attr: string; sub?: string }

/** A parsed filter expression. */
export type FilterNode =
  | { kind: 'compare'; path: AttrPath; op: CompareOp; value: FilterValue }
  | { kind: 'present'; path: AttrPath }
  | { kind: 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; expr: FilterNode }
  /** attr[filter] — the inner filter's paths are relative to attr (their attr is the sub-attribute name). A value path may be followed by ".sub" only in PATCH paths, not in filters. */
  | { kind: 'valuePath'; path: AttrPath; filter: FilterNode };
