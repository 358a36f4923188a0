/*
 * Every route of /api/v1, in the order the OpenAPI document lists them. A new route file is
 * added here; the router, the document and the authorization matrix test all read this list.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ApiPolicy } from '../authorize.js';
import type { ApiDeps } from '../deps.js';
import { openApiDocument } from '../openapi.js';
import { API_PREFIX, defineRoute, type ApiRoute } from '../route.js';
import { responseSchema } from '../schemas.js';
import { accessRequestRoutes } from './access-requests.js';
import { auditRoutes } from './audit.js';
import { authzRoutes } from './authz.js';
import { catalogueRoutes } from './catalog.js';
import { grantRoutes } from './grants.js';
import { hrFeedRoutes } from './hr-feeds.js';
import { identityRoutes } from './identities.js';
import { jobRoutes } from './jobs.js';
import { policyRoutes } from './policy.js';
import { reconciliationRoutes } from './reconciliations.js';
import { reportRoutes } from './reports.js';
import { reviewRoutes } from './reviews.js';
import { sodRoutes } from './sod.js';

const { version } = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string };

const OpenApiSchema = responseSchema('OpenApiDocument', z.record(z.string(), z.unknown()).describe('an OpenAPI 3.1 document'));

/** The declared routes for one set of services; `policy` fills in each operation's allowed scopes. */
export function apiRoutes(deps: ApiDeps, policy: ApiPolicy): ApiRoute[] {
  let document: Record<string, unknown> | undefined;
  const routes: ApiRoute[] = [
    defineRoute({
      method: 'GET', path: '/openapi.json', operationId: 'getOpenApiDocument', tag: 'Meta', public: true,
      summary: 'This document',
      responses: { 200: { description: 'the OpenAPI 3.1 document of /api/v1', schema: OpenApiSchema } },
      async handle() {
        // Built on first use and kept: routes and policy are fixed for the server's lifetime.
        document ??= openApiDocument(routes, policy, { prefix: API_PREFIX, version });
        return { status: 200, body: document };
      },
    }),
    ...catalogueRoutes(deps),
    ...grantRoutes(deps),
    ...sodRoutes(deps),
    ...identityRoutes(deps),
    ...authzRoutes(deps),
    ...policyRoutes(deps),
    ...auditRoutes(deps),
    ...hrFeedRoutes(deps),
    ...reconciliationRoutes(deps),
    ...accessRequestRoutes(deps),
    ...reviewRoutes(deps),
    ...reportRoutes(deps),
    ...jobRoutes(deps),
  ];
  return routes;
}
