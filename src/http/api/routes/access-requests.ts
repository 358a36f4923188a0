import type { ApiDeps } from '../deps.js';
import type { ApiRoute } from '../route.js';

/** The access-requests routes. */
export function accessRequestRoutes(_deps: ApiDeps): ApiRoute[] {
  return [];
}
