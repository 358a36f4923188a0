/*
 * The frame every page shares, and the headers every page is sent with. The pages hold a
 * credential in their URL and forms that decide access, so:
 * - no script runs at all and forms post only back here (Content-Security-Policy);
 * - the URL is never sent on to another site as a Referer (Referrer-Policy);
 * - nothing is kept in a cache or history store (Cache-Control: no-store);
 * - no other site can frame them to trick a click (X-Frame-Options, frame-ancestors).
 */
import type { Context } from 'koa';
import { Html, html } from './html.js';

const HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
};

/** A message shown above a page's content: what a decision did, or why it was refused. */
export interface Notice {
  kind: 'done' | 'refused';
  text: string;
}

/** What a page puts in the shared frame. */
export interface PageParts {
  title: string;
  /** who the page is for, shown in the header */
  recipient?: string;
  notice?: Notice;
  body?: Html;
}

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9;line-height:1.45}
header{background:#24364b;color:#fff;padding:.8rem 1.5rem}header h1{font-size:1.2rem;margin:0}header p{margin:.2rem 0 0;opacity:.85}
main{max-width:60rem;margin:1.5rem auto;padding:0 1rem}
section.card{background:#fff;border:1px solid #d5d9df;border-radius:6px;padding:1rem 1.2rem;margin:0 0 1rem;overflow-x:auto}
h2{font-size:1.1rem;margin:0 0 .5rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}dt{color:#57606a}dd{margin:0}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid #d5d9df;padding:.45rem .5rem;text-align:left;vertical-align:top}td{overflow-wrap:anywhere}td.time{white-space:nowrap}
th{background:#eef1f4;font-weight:600}td.pick{width:2rem}
textarea{width:100%;box-sizing:border-box;min-height:3.5rem;font:inherit}label{display:block;margin:.5rem 0 .2rem}
button{font:inherit;padding:.4rem 1rem;margin:.5rem .5rem 0 0;border-radius:4px;border:1px solid #8c959f;background:#fff;cursor:pointer}
button.approve,button.keep{background:#1f7a3f;color:#fff;border-color:#1f7a3f}button.deny,button.revoke{background:#b42318;color:#fff;border-color:#b42318}
.notice{padding:.7rem 1rem;border-radius:6px;margin:0 0 1rem}.notice.done{background:#e6f4ea;border:1px solid #8fcf9f}.notice.refused{background:#fdecea;border:1px solid #f1a9a0}
.sod{color:#b42318}.muted{color:#57606a}
`;

// A constant of this file, and style text is not HTML (entities are not decoded in it): inserted as it is.
const STYLE_MARKUP = new Html(STYLE);

/** A whole page: the frame around its parts. */
export function renderPage(parts: PageParts): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${parts.title}</title>
<style>${STYLE_MARKUP}</style>
</head>
<body>
<header><h1>${parts.title}</h1>${parts.recipient !== undefined && html`<p>for ${parts.recipient}</p>`}</header>
<main>
${parts.notice && html`<p class="notice ${parts.notice.kind}" role="status">${parts.notice.text}</p>`}
${parts.body}
</main>
</body>
</html>
`;
}

/** Answers with a page and the headers every page carries. */
export function sendPage(ctx: Context, status: number, page: Html): void {
  ctx.set(HEADERS);
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = page.text;
}

/** Answers a decision with a redirect back to the page (POST, redirect, GET), with what was done in the query. */
export function redirectBack(ctx: Context, token: string, query: Record<string, string>): void {
  ctx.set(HEADERS);
  ctx.status = 303;
  // Relative to /m/<token>: the last path segment resolves to the token, so the redirect holds
  // behind a proxy that serves the pages under another prefix.
  ctx.set('Location', `${token}?${new URLSearchParams(query).toString()}`);
  ctx.body = '';
}
