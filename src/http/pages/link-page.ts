/*
 * What every page opened from a mail link works with: the verified link, the person it was sent
 * to, who they act as, and the form proof their forms carry; plus the pieces the pages share
 * (reading a posted form, showing times, turning a refusal into a status and a message).
 */
import type { Context } from 'koa';
import type { AppServices } from '../app.js';
import { readRawBody } from '../body.js';
import { toApiError } from '../api/errors.js';
import { checkFormProof, type LinkClaims } from '../../notify/links.js';
import type { Notice } from './layout.js';

/** A request to a page, its link verified and its recipient still active. */
export interface LinkPage {
  ctx: Context;
  services: AppServices;
  /** the token as it appears in the path */
  token: string;
  key: Buffer;
  claims: LinkClaims;
  recipient: { id: string; userName: string; name: string };
  /** who decisions are made as: the recipient, through their link */
  actor: { identityId: string; actor: string; requestId: string };
  /** the hidden `form` field of this page's forms (formProof) */
  proof: string;
}

/** One kind of page: what GET shows, and what a POST decides (pages without one answer 405). */
export interface PageHandler {
  show(page: LinkPage, notice?: Notice, status?: number): Promise<void>;
  decide?(page: LinkPage, form: URLSearchParams): Promise<void>;
}

const MAX_FORM_BYTES = 64 * 1024;

/** A refusal a page shows above its content, with the status it is answered with. */
export class PageRefusal extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'PageRefusal';
  }
}

/**
 * Reads a posted form and checks it came from this link's page: the form proof must match, and
 * a browser that says where the post came from must say this site. The token in the path is the
 * credential; these checks make a decision need the page itself, not just the link.
 */
export async function readDecisionForm(page: LinkPage): Promise<URLSearchParams> {
  const site = page.ctx.get('sec-fetch-site');
  if (site !== '' && site !== 'same-origin') throw new PageRefusal(403, 'decisions are only taken from the page itself; open the link from your mail and decide there');
  const { content } = await readRawBody(page.ctx, ['application/x-www-form-urlencoded'], MAX_FORM_BYTES);
  const form = new URLSearchParams(content.toString('utf8'));
  if (!checkFormProof(page.key, page.token, form.get('form') ?? '')) {
    throw new PageRefusal(403, 'this form did not come from the page of this link; open the link from your mail and decide there');
  }
  return form;
}

/**
 * The status and message of a refused decision: a page refusal, a governance or policy error
 * (403, 404, 409, 422, as the API answers them), or a body the page cannot read; undefined for
 * an unexpected fault.
 */
export function refusal(err: unknown): { status: number; message: string } | undefined {
  if (err instanceof PageRefusal) return { status: err.status, message: err.message };
  const known = toApiError(err);
  return known ? { status: known.status, message: known.message } : undefined;
}

/** An ISO time as a person reads it, in UTC to the minute. */
export function when(iso: string | null | undefined): string {
  if (!iso) return '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * The message for the `done` query a decision redirected with, from the page's own messages
 * (never the query's text); `{items}` in a message becomes the count of items it was about.
 */
export function doneNotice(page: LinkPage, messages: Readonly<Record<string, string>>, count?: number): Notice | undefined {
  const done = page.ctx.query.done;
  if (typeof done !== 'string' || !Object.hasOwn(messages, done)) return undefined;
  const items = count === undefined ? 'the items' : `${count} item${count === 1 ? '' : 's'}`;
  return { kind: 'done', text: messages[done]!.replace('{items}', items) };
}

/** An ISO time's day, for tables where the minute does not matter. */
export function day(iso: string | null | undefined): string {
  return iso ? iso.slice(0, 10) : '';
}

/** A form field's trimmed text, or undefined when empty or missing. */
export function field(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name)?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** Runs a decision, turning a refusal into the page shown again with its message. */
export async function deciding(page: LinkPage, handler: PageHandler, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    const refused = refusal(err);
    if (!refused) throw err;
    await handler.show(page, { kind: 'refused', text: refused.message }, refused.status);
  }
}
