/*
 * The small server-rendered pages mail links open (under PAGES_PREFIX): what waits for the
 * recipient, and forms to decide. They work without JavaScript; GET (and HEAD) only shows, for
 * mail scanners open links; a POST from the page decides.
 *
 * Each page is `${PAGES_PREFIX}/<token>`: the token is the credential (signed, bound to one
 * person and one purpose, expiring), so no login is asked. A decision also needs the page's form
 * proof (link-page.ts), and is made as the link's recipient, bound to what waits for them.
 */
import type { Context, Middleware } from 'koa';
import type { AppServices } from '../app.js';
import type { RequestState } from '../middleware/request-context.js';
import { formProof, LinkError, PAGES_PREFIX, verifyLink, type LinkPurpose } from '../../notify/links.js';
import { mailLinkKey } from '../../auth/server-keys.js';
import { approvalsPage } from './approvals.js';
import { renderPage, sendPage } from './layout.js';
import { deciding, readDecisionForm, type LinkPage, type PageHandler } from './link-page.js';
import { myAccessPage } from './my-access.js';
import { reviewPage } from './review.js';

const HANDLERS: Record<LinkPurpose, PageHandler> = { approvals: approvalsPage, review: reviewPage, 'my-access': myAccessPage };

// base64url claims, a dot, base64url signature; anything else is not a token (and not looked at further).
const TOKEN = /^[A-Za-z0-9_-]{1,2000}\.[A-Za-z0-9_-]{43}$/;

function plainPage(ctx: Context, status: number, title: string, text: string): void {
  sendPage(ctx, status, renderPage({ title, notice: { kind: 'refused', text } }));
}

/** The pages' middleware; requests outside PAGES_PREFIX pass through. */
export function pagesMiddleware(services: AppServices): Middleware {
  // The key never changes once stored: read once, again only after a failed read.
  let key: Promise<Buffer> | undefined;
  const linkKey = () => (key ??= mailLinkKey(services.db).catch((err: unknown) => {
    key = undefined;
    throw err;
  }));

  return async (ctx, next) => {
    const prefix = `${PAGES_PREFIX}/`;
    if (ctx.path.slice(0, prefix.length).toLowerCase() !== prefix && ctx.path.toLowerCase() !== PAGES_PREFIX) return next();
    const state = ctx.state as RequestState;
    try {
      await answer(ctx, services, await linkKey(), ctx.path.slice(prefix.length), state.requestId);
    } catch (err) {
      state.log.error({ err }, 'unexpected error on a mail-link page');
      plainPage(ctx, 500, 'Something went wrong', `The page could not be shown. Try again later; if it keeps failing, quote request id ${state.requestId} to the administrator.`);
    }
  };
}

async function answer(ctx: Context, services: AppServices, key: Buffer, token: string, requestId: string): Promise<void> {
  if (!TOKEN.test(token)) {
    plainPage(ctx, 404, 'Page not found', 'There is no page here. Open the link from your mail as it was sent.');
    return;
  }
  const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
  if (method !== 'GET' && method !== 'POST') {
    ctx.set('Allow', 'GET, HEAD, POST');
    plainPage(ctx, 405, 'Not allowed', 'This page can only be shown, or its forms sent.');
    return;
  }
  let claims;
  try {
    claims = verifyLink(key, token, services.clock());
  } catch (err) {
    if (!(err instanceof LinkError)) throw err;
    if (err.reason === 'expired') plainPage(ctx, 410, 'This link has expired', 'This link has expired. Open the newest mail about it, or ask for a new one.');
    else plainPage(ctx, 403, 'This link is not valid', 'This link is not valid. Open the link from your mail as it was sent, without changing it.');
    return;
  }
  const [person] = await services.db.query<{ user_name: string; display_label: string | null; active: number | string | boolean }>(
    'SELECT user_name, display_label, active FROM identities WHERE id = ?', [claims.recipientId]);
  if (!person || !Number(person.active)) {
    plainPage(ctx, 403, 'This link is not valid any more', 'The person this link was sent to can no longer decide here.');
    return;
  }
  const page: LinkPage = {
    ctx, services, token, key, claims,
    recipient: { id: claims.recipientId, userName: person.user_name, name: person.display_label || person.user_name },
    actor: { identityId: claims.recipientId, actor: `link:${person.user_name}`, requestId },
    proof: formProof(key, token),
  };
  const handler = HANDLERS[claims.purpose];
  if (method === 'GET') return handler.show(page);
  const decide = handler.decide;
  if (!decide) {
    ctx.set('Allow', 'GET, HEAD');
    plainPage(ctx, 405, 'Not allowed', 'This page only shows; nothing is decided on it.');
    return;
  }
  await deciding(page, handler, async () => decide(page, await readDecisionForm(page)));
}
