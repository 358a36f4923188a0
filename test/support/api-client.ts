import { API_PREFIX, type ApiRoute } from '../../src/http/api/route.js';
import { jsonClient, type JsonClient, type JsonResponse } from './json-client.js';

export type { JsonResponse as ApiResponse, JsonClient as ApiClient } from './json-client.js';

/** A client for `apiUrl` (…/api/v1) sending `token` as a bearer token; a string body is sent as is. */
export function apiClient(apiUrl: string, token?: string): JsonClient {
  return jsonClient(apiUrl, 'application/json', token);
}

/** A request for one declared route: its concrete path (with query) and body. */
export interface RouteSample {
  path: string;
  body?: unknown;
}

/**
 * One well-formed request per declared route, keyed `METHOD /path/{template}`. Every body passes
 * its route's schema, so a test that adds one fault to it knows that fault is the only one. The
 * names refer to nothing in particular: the handlers may answer 404 or 422, never 400.
 */
export const ROUTE_SAMPLES: Record<string, RouteSample> = {
  'GET /openapi.json': { path: '/openapi.json' },
  'GET /targets': { path: '/targets' },
  'GET /targets/{name}': { path: '/targets/sample-target' },
  'PUT /targets/{name}': { path: '/targets/sample-target', body: { type: 'other', displayName: 'Sample' } },
  'DELETE /targets/{name}': { path: '/targets/no-such-target' },
  'GET /entitlements': { path: '/entitlements?target=sample-target' },
  'GET /targets/{target}/entitlements/{key}': { path: '/targets/sample-target/entitlements/sample' },
  'PUT /targets/{target}/entitlements/{key}': { path: '/targets/sample-target/entitlements/sample', body: { kind: 'group' } },
  'DELETE /targets/{target}/entitlements/{key}': { path: '/targets/sample-target/entitlements/no-such-key' },
  'GET /roles': { path: '/roles' },
  'GET /roles/{name}': { path: '/roles/sample-role' },
  'PUT /roles/{name}': { path: '/roles/sample-role', body: { description: 'a sample', entitlements: ['sample-target/sample'] } },
  'DELETE /roles/{name}': { path: '/roles/no-such-role' },
  'GET /birthright-rules': { path: '/birthright-rules' },
  'GET /birthright-rules/{name}': { path: '/birthright-rules/sample-rule' },
  'PUT /birthright-rules/{name}': { path: '/birthright-rules/sample-rule', body: { expression: "r.sub.department == 'Nowhere'", item: 'role:sample-role' } },
  'DELETE /birthright-rules/{name}': { path: '/birthright-rules/no-such-rule' },
  'GET /sod-rules': { path: '/sod-rules' },
  'GET /sod-rules/{name}': { path: '/sod-rules/sample-rule' },
  'PUT /sod-rules/{name}': { path: '/sod-rules/sample-rule', body: { left: { items: ['role:sample-role'] }, right: { items: ['ent:sample-target/sample'] }, enabled: false } },
  'DELETE /sod-rules/{name}': { path: '/sod-rules/no-such-rule' },
  'GET /grants': { path: '/grants?limit=10' },
  'POST /grants': { path: '/grants', body: { identity: 'nobody@example.com', item: 'role:sample-role' } },
  'GET /grants/{id}': { path: '/grants/no-such-grant' },
  'DELETE /grants/{id}': { path: '/grants/no-such-grant' },
  'GET /sod/violations': { path: '/sod/violations' },
  'GET /sod-exceptions': { path: '/sod-exceptions' },
  'POST /sod-exceptions': { path: '/sod-exceptions', body: { rule: 'sample-rule', identity: 'nobody@example.com', reason: 'a sample', approvedBy: 'ciso@example.com' } },
  'GET /sod-exceptions/{id}': { path: '/sod-exceptions/no-such-exception' },
  'DELETE /sod-exceptions/{id}': { path: '/sod-exceptions/no-such-exception' },
  'GET /identities/{id}/access': { path: '/identities/nobody@example.com/access' },
  'POST /authz/check': { path: '/authz/check', body: { subject: 'nobody@example.com', object: '/repos/api', action: 'read' } },
  'GET /policy': { path: '/policy' },
  'POST /policy/simulate': { path: '/policy/simulate', body: { changes: [{ op: 'put', kind: 'target', value: { name: 'simulated', type: 'other' } }] } },
  'GET /audit/events': { path: '/audit/events?limit=10' },
  'GET /audit/export': { path: '/audit/export?format=jsonl' },
  'GET /reports/access': { path: '/reports/access' },
  'GET /reports/sod-violations': { path: '/reports/sod-violations' },
  'GET /jobs': { path: '/jobs' },
  'GET /review-definitions': { path: '/review-definitions' },
  'GET /review-definitions/{name}': { path: '/review-definitions/sample-review' },
  'PUT /review-definitions/{name}': { path: '/review-definitions/sample-review', body: { stages: [{ reviewer: 'manager', durationDays: 7 }] } },
  'DELETE /review-definitions/{name}': { path: '/review-definitions/no-such-review' },
  'GET /review-campaigns': { path: '/review-campaigns?limit=10' },
  'POST /review-campaigns': { path: '/review-campaigns', body: { definition: 'no-such-review' } },
  'GET /review-campaigns/{id}': { path: '/review-campaigns/no-such-campaign' },
  'POST /review-campaigns/{id}/close': { path: '/review-campaigns/no-such-campaign/close' },
  'GET /review-campaigns/{id}/report': { path: '/review-campaigns/no-such-campaign/report?format=csv' },
  'GET /review-items': { path: '/review-items?undecided=true&limit=10' },
  'POST /review-items/decisions': { path: '/review-items/decisions', body: { items: [999999999], decision: 'keep' } },
  'GET /audit/verify': { path: '/audit/verify' },
  'POST /access-requests': { path: '/access-requests', body: { beneficiary: 'nobody@example.com', role: 'sample-role', justification: 'a sample' } },
  'GET /access-requests': { path: '/access-requests?limit=10' },
  'GET /access-requests/{id}': { path: '/access-requests/no-such-request' },
  'POST /access-requests/{id}/decision': { path: '/access-requests/no-such-request/decision', body: { decision: 'approve', comment: 'a sample' } },
  'POST /access-requests/{id}/cancel': { path: '/access-requests/no-such-request/cancel' },
  'GET /approvals': { path: '/approvals' },
  'GET /delegations': { path: '/delegations' },
  'POST /delegations': { path: '/delegations', body: { deputy: 'nobody@example.com', until: '2099-01-01T00:00:00Z' } },
  'DELETE /delegations/{id}': { path: '/delegations/no-such-delegation' },
  'POST /hr/feeds': { path: '/hr/feeds?kind=delta&dryRun=true&fileName=sample.json', body: [] },
  'GET /hr/feeds': { path: '/hr/feeds?limit=10' },
  'GET /hr/feeds/{id}': { path: '/hr/feeds/no-such-feed' },
  'POST /hr/feeds/{id}/approve': { path: '/hr/feeds/no-such-feed/approve' },
  'POST /hr/feeds/{id}/reject': { path: '/hr/feeds/no-such-feed/reject' },
  'POST /reconciliations': { path: '/reconciliations', body: { target: 'no-such-target', fix: false } },
  'GET /reconciliations': { path: '/reconciliations?limit=10' },
  'GET /reconciliations/{id}': { path: '/reconciliations/no-such-run' },
  'GET /reconciliations/{id}/findings': { path: '/reconciliations/no-such-run/findings?format=csv' },
};

/** The declared route a request went to, by method and path (without the /api/v1 prefix or query). */
export function routeFor(routes: readonly ApiRoute[], method: string, path: string): ApiRoute {
  const bare = path.split('?')[0]!.replace(new RegExp(`^${API_PREFIX}`), '');
  const route = routes.find((r) => r.method === method && new RegExp(`^${r.path.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare));
  if (!route) throw new Error(`no declared route for ${method} ${path}`);
  return route;
}

/**
 * Throws unless a response is one its route declares: a declared status, and a JSON body that
 * parses with the declared response schema (an empty body where none is declared).
 */
export function checkContract(routes: readonly ApiRoute[], method: string, path: string, res: JsonResponse): void {
  const route = routeFor(routes, method, path);
  const spec = route.responses[res.status as 200 | 201 | 204];
  if (!spec) throw new Error(`${method} ${path} answered ${res.status}, which its route does not declare: ${res.text.slice(0, 300)}`);
  if (!spec.schema) {
    if (res.text !== '' && !spec.mediaTypes) throw new Error(`${method} ${path} answered ${res.status} with a body where none is declared`);
    return;
  }
  // A route that also answers in another format (CSV) is checked against its schema only when it answered JSON.
  if (spec.mediaTypes && !/json/.test(res.headers.get('content-type') ?? '')) return;
  const parsed = spec.schema.safeParse(res.body);
  if (!parsed.success) throw new Error(`${method} ${path} ${res.status} does not match its declared schema: ${parsed.error.message}`);
}

/** apiClient() whose every 2xx answer is checked against its route's declared contract. */
export function contractClient(apiUrl: string, token: string, routes: readonly ApiRoute[]): JsonClient {
  return jsonClient(apiUrl, 'application/json', token, (method, path, res) => {
    if (res.status < 300) checkContract(routes, method, path, res);
  });
}
