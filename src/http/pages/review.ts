/*
 * The review page of one campaign (the link's ref): the recipient's undecided items in it, a page
 * at a time, each with where the access comes from, and a form to keep or revoke the ones ticked.
 */
import { z } from 'zod';
import { chunks, placeholders } from '../../db/batches.js';
import type { ReviewItemView } from '../../governance/reviews/service.js';
import { html, type Html } from './html.js';
import { redirectBack, renderPage, sendPage } from './layout.js';
import { day, doneNotice, field, PageRefusal, when, type LinkPage, type PageHandler } from './link-page.js';

const PAGE_SIZE = 50;
// More than a page holds, so a reviewer who ticks a whole page is never refused.
const MAX_ITEMS = 500;

const decisionForm = z.object({
  items: z.array(z.coerce.number().int().positive()).min(1, 'tick at least one item').max(MAX_ITEMS, `decide at most ${MAX_ITEMS} items at once`),
  decision: z.enum(['keep', 'revoke']),
  comment: z.string().max(2000, 'a comment has at most 2000 characters').optional(),
});

const DONE = { kept: 'Kept {items}.', revoked: 'Revoked {items}.' };

interface CampaignRow {
  name: string;
  status: string;
  stage: number | string;
  stages: number | string;
  stage_ends: string;
}

function itemRow(item: ReviewItemView): Html {
  const c = item.context;
  const gives = c.path.slice(1);
  return html`<tr>
<td class="pick"><input type="checkbox" name="item" value="${item.id}" id="item-${item.id}"></td>
<td><label for="item-${item.id}">${item.identity.displayName}</label><div class="muted">${item.identity.userName}</div></td>
<td>${item.item}${gives.length > 0 && html`<div class="muted">gives ${gives.join(', ')}</div>`}</td>
<td>${c.source}${c.sourceRef !== '' && html` <span class="muted">(${c.sourceRef})</span>`}<div class="muted">granted by ${c.grantedBy}</div></td>
<td class="time">${day(c.since)}${c.validUntil !== null && html`<div class="muted">until ${day(c.validUntil)}</div>`}</td>
<td class="sod">${c.sodConflicts.map((s) => html`<div>breaks ${s.rule}: ${s.items.join(', ')}</div>`)}</td>
</tr>`;
}

function afterParam(page: LinkPage): number | undefined {
  const after = page.ctx.query.after;
  if (typeof after !== 'string' || !/^\d{1,16}$/.test(after)) return undefined;
  const id = Number(after);
  return Number.isSafeInteger(id) ? id : undefined;
}

/** The review page. */
export const reviewPage: PageHandler = {
  async show(page, notice, status = 200) {
    const campaignId = page.claims.ref ?? '';
    const [campaign] = await page.services.db.query<CampaignRow>('SELECT name, status, stage, stages, stage_ends FROM review_campaigns WHERE id = ?', [campaignId]);
    const title = campaign ? `Access review: ${campaign.name}` : 'Access review';
    if (!campaign) {
      sendPage(page.ctx, 404, renderPage({ title, recipient: page.recipient.name, notice: { kind: 'refused', text: 'this review campaign does not exist any more' } }));
      return;
    }
    const count = Number(page.ctx.query.count);
    const shown = notice ?? doneNotice(page, DONE, Number.isSafeInteger(count) && count > 0 ? count : undefined);
    const header = html`<section class="card"><dl>
<dt>Stage</dt><dd>${Number(campaign.stage) + 1} of ${campaign.stages}</dd>
<dt>Stage ends</dt><dd>${when(campaign.stage_ends)}</dd>
</dl><p class="muted">For each person's access: keep it if they still need it, revoke it if not. Items you leave undecided get the campaign's default outcome when the stage ends.</p></section>`;
    if (campaign.status === 'closed' || campaign.status === 'failed') {
      sendPage(page.ctx, status, renderPage({ title, recipient: page.recipient.name, notice: shown ?? { kind: 'done', text: 'This campaign is over; nothing is left to decide.' } }));
      return;
    }
    const after = afterParam(page);
    const { items, next } = await page.services.reviews.itemsFor(page.recipient.id, { campaignId, undecidedOnly: true }, { limit: PAGE_SIZE, ...(after !== undefined && { after }) });
    const paging = html`<p>${after !== undefined && html`<a href="${page.token}">First page</a> `}${next !== undefined && html`<a href="${page.token}?after=${next}">Next page</a>`}</p>`;
    const body = items.length === 0
      ? html`${header}<section class="card"><p>${after === undefined ? 'Nothing in this campaign waits for your decision.' : 'No more items on this page.'}</p>${after !== undefined && paging}</section>`
      : html`${header}<form method="post" action="${page.token}">
<input type="hidden" name="form" value="${page.proof}">
<table>
<thead><tr><th></th><th>Person</th><th>Access</th><th>Source</th><th>Since</th><th>SoD</th></tr></thead>
<tbody>
${items.map(itemRow)}
</tbody>
</table>
${paging}
<label for="comment">Comment (optional; kept with each decision)</label>
<textarea id="comment" name="comment" maxlength="2000"></textarea>
<button type="submit" name="decision" value="keep" class="keep">Keep selected</button>
<button type="submit" name="decision" value="revoke" class="revoke">Revoke selected</button>
</form>`;
    sendPage(page.ctx, status, renderPage({ title, recipient: page.recipient.name, notice: shown, body }));
  },

  async decide(page, form) {
    const parsed = decisionForm.safeParse({ items: form.getAll('item'), decision: field(form, 'decision'), comment: field(form, 'comment') });
    if (!parsed.success) throw new PageRefusal(422, parsed.error.issues.map((i) => i.message).join('; '));
    const { items, decision, comment } = parsed.data;
    const ids = [...new Set(items)];
    // Bound to the link: only items of this campaign. Whether the recipient may decide each (its
    // reviewer, or a co-reviewer of a stage of named people) is the service's check.
    let inCampaign = 0;
    for (const chunk of chunks(ids)) {
      const rows = await page.services.db.query<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM review_items WHERE id IN (${placeholders(chunk.length)}) AND campaign_id = ?`, [...chunk, page.claims.ref ?? '']);
      inCampaign += Number(rows[0]?.n ?? 0);
    }
    if (inCampaign !== ids.length) throw new PageRefusal(403, 'some of the ticked items are not part of this campaign');
    const { decided } = await page.services.reviews.decide(ids, { decision, ...(comment !== undefined && { comment }) }, page.actor);
    page.services.mailer.sendSoon();
    redirectBack(page.ctx, page.token, { done: decision === 'keep' ? 'kept' : 'revoked', count: String(decided) });
  },
};
