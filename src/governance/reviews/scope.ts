/*
 * A campaign's scope turned into what the start filters on: which identities (active, maybe one
 * department), which items (a role, or everything that reaches a target) and which grant
 * sources (all but birthright unless the definition says otherwise: birthright access follows
 * its rule, and a reviewer cannot revoke it).
 */
import type { Catalog } from '../../policy/catalog.js';
import { GRANT_SOURCES, parseItem, roleItem } from '../../policy/model.js';
import type { ReviewScope } from '../definitions.js';
import { GovernanceError } from '../errors.js';

/** The default grant sources of a campaign. */
export const DEFAULT_SOURCES = GRANT_SOURCES.filter((s) => s !== 'birthright');

/** What a scope selects. */
export interface ResolvedScope {
  /** the department as the identities table stores it (lowercased), or undefined for all */
  department?: string;
  /** the items reviewed, or undefined for every item */
  items?: ReadonlySet<string>;
  sources: ReadonlySet<string>;
  target?: string;
}

/** Resolves a scope against the catalogue; unknown roles and targets are refused (invalid). */
export function resolveScope(catalog: Catalog, scope: ReviewScope): ResolvedScope {
  const out: ResolvedScope = { sources: new Set(scope.sources ?? DEFAULT_SOURCES) };
  if (scope.department !== undefined) out.department = scope.department.toLowerCase();
  let items: Set<string> | undefined;
  if (scope.role !== undefined) {
    const item = scope.role.startsWith('role:') ? scope.role : roleItem(scope.role);
    if (!catalog.has(item)) throw new GovernanceError('invalid', `the campaign's scope names ${item}, which is not in the policy`);
    items = new Set([item]);
  }
  if (scope.target !== undefined) {
    if (!catalog.targets.has(scope.target)) throw new GovernanceError('invalid', `the campaign's scope names target ${scope.target}, which is not in the policy`);
    const reaching = targetItems(catalog, scope.target);
    items = items === undefined ? reaching : new Set([...items].filter((i) => reaching.has(i)));
    out.target = scope.target;
  }
  if (items !== undefined) out.items = items;
  return out;
}

/** The target's entitlements and every role that gives one of them. */
export function targetItems(catalog: Catalog, target: string): Set<string> {
  const out = new Set<string>();
  for (const item of catalog.entitlements.keys()) {
    const ref = parseItem(item);
    if (ref?.kind === 'entitlement' && ref.target === target) out.add(item);
  }
  for (const role of catalog.roles.keys()) {
    const item = roleItem(role);
    if (catalog.closure(item).some((r) => out.has(r.item))) out.add(item);
  }
  return out;
}
