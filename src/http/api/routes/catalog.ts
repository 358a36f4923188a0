/*
 * The catalogue collections: targets, entitlements, roles (with hierarchy), birthright rules and
 * SoD rules. Each is stored by PolicyStore, which validates the whole catalogue on every write,
 * bumps the policy version and audits the change.
 */
import { z } from 'zod';
import { birthrightRuleInput, entitlementInput, roleInput, sodRuleInput, targetInput } from '../../../policy/model.js';
import type { ApiDeps } from '../deps.js';
import type { ApiRoute } from '../route.js';
import { collectionRoutes } from './catalog-resource.js';

const targets = collectionRoutes({
  tag: 'Catalogue', component: 'Target', plural: 'Targets', noun: 'target',
  listPath: '/targets', itemPath: '/targets/{name}', keys: ['name'], input: targetInput,
  list: (deps) => deps.policyStore.listTargets(),
  get: (deps, k) => deps.policyStore.getTarget(k.name!),
  put: (deps, input, change, ifVersion) => deps.policyStore.putTarget(input, change, ifVersion),
  remove: (deps, k, change, ifVersion) => deps.policyStore.deleteTarget(k.name!, change, ifVersion),
});

const entitlements = collectionRoutes({
  tag: 'Catalogue', component: 'Entitlement', plural: 'Entitlements', noun: 'entitlement',
  listPath: '/entitlements', itemPath: '/targets/{target}/entitlements/{key}', keys: ['target', 'key'], input: entitlementInput,
  listQuery: z.strictObject({ target: z.string().min(1).max(64).optional().describe('only the entitlements of this target') }),
  list: (deps, query) => deps.policyStore.listEntitlements(query.target === undefined ? {} : { target: query.target }),
  get: (deps, k) => deps.policyStore.getEntitlement(k.target!, k.key!),
  put: (deps, input, change, ifVersion) => deps.policyStore.putEntitlement(input, change, ifVersion),
  remove: (deps, k, change, ifVersion) => deps.policyStore.deleteEntitlement(k.target!, k.key!, change, ifVersion),
});

const roles = collectionRoutes({
  tag: 'Catalogue', component: 'Role', plural: 'Roles', noun: 'role',
  listPath: '/roles', itemPath: '/roles/{name}', keys: ['name'], input: roleInput,
  list: (deps) => deps.policyStore.listRoles(),
  get: (deps, k) => deps.policyStore.getRole(k.name!),
  put: (deps, input, change, ifVersion) => deps.policyStore.putRole(input, change, ifVersion),
  remove: (deps, k, change, ifVersion) => deps.policyStore.deleteRole(k.name!, change, ifVersion),
});

const birthrightRules = collectionRoutes({
  tag: 'Rules', component: 'BirthrightRule', plural: 'BirthrightRules', noun: 'birthright rule',
  listPath: '/birthright-rules', itemPath: '/birthright-rules/{name}', keys: ['name'], input: birthrightRuleInput,
  list: (deps) => deps.policyStore.listBirthrightRules(),
  get: (deps, k) => deps.policyStore.getBirthrightRule(k.name!),
  put: (deps, input, change, ifVersion) => deps.policyStore.putBirthrightRule(input, change, ifVersion),
  remove: (deps, k, change, ifVersion) => deps.policyStore.deleteBirthrightRule(k.name!, change, ifVersion),
});

const sodRules = collectionRoutes({
  tag: 'Rules', component: 'SodRule', plural: 'SodRules', noun: 'SoD rule',
  listPath: '/sod-rules', itemPath: '/sod-rules/{name}', keys: ['name'], input: sodRuleInput,
  list: (deps) => deps.policyStore.listSodRules(),
  get: (deps, k) => deps.policyStore.getSodRule(k.name!),
  put: (deps, input, change, ifVersion) => deps.policyStore.putSodRule(input, change, ifVersion),
  remove: (deps, k, change, ifVersion) => deps.policyStore.deleteSodRule(k.name!, change, ifVersion),
});

/** Every catalogue route. */
export function catalogueRoutes(deps: ApiDeps): ApiRoute[] {
  return [targets, entitlements, roles, birthrightRules, sodRules].flatMap((routes) => routes(deps));
}
