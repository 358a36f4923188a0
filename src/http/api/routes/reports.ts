import type { ApiDeps } from '../deps.js';
import type { ApiRoute } from '../route.js';

/** The reports routes. */
export function reportRoutes(_deps: ApiDeps): ApiRoute[] {
  return [];
}
