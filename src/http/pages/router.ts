/*
 * The small server-rendered pages mail links open (under PAGES_PREFIX): what waits for the
 * recipient, and forms to decide. They work without JavaScript; GET only shows, POST decides.
 */
import type { Middleware } from 'koa';
import type { AppServices } from '../app.js';

/** The pages' middleware; requests outside PAGES_PREFIX pass through. */
export function pagesMiddleware(_services: AppServices): Middleware {
  return (_ctx, next) => next();
}
