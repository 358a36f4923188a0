import type { ApiDeps } from '../deps.js';
import type { ApiRoute } from '../route.js';

/** The reviews routes. */
export function reviewRoutes(_deps: ApiDeps): ApiRoute[] {
  return [];
}
