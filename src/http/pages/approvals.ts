/*
 * The approvals page: the access requests waiting for the recipient's decision (as approver,
 * deputy or escalation), each with what an approver needs to judge it, and approve / deny forms.
 */
import { z } from 'zod';
import type { AccessRequestView } from '../../governance/requests/service.js';
import { html, type Html } from './html.js';
import { redirectBack, renderPage, sendPage } from './layout.js';
import { doneNotice, field, PageRefusal, when, type LinkPage, type PageHandler } from './link-page.js';

const decisionForm = z.object({
  request: z.string().min(1).max(64),
  decision: z.enum(['approve', 'deny']),
  comment: z.string().max(2000, 'a comment has at most 2000 characters').optional(),
});

const DONE: Record<string, string> = {
  approved: 'Approved. The request moves on to its next approver, or the access is granted.',
  denied: 'Denied. The requester is told.',
};

function stageText(r: AccessRequestView): Html {
  const stage = r.stages[r.stage];
  if (!stage) return html`${r.stage + 1} of ${r.stages.length}`;
  const names = stage.group ?? stage.rule;
  return html`${r.stage + 1} of ${r.stages.length}: ${stage.approver.replace('-', ' ')}${names !== undefined && ` ${names}`}${stage.approvers.length > 0 && html` (${stage.approvers.join(', ')})`}`;
}

function earlier(r: AccessRequestView): Html[] {
  return r.stages.slice(0, r.stage).filter((s) => s.decidedBy !== undefined).map((s) =>
    html`<li>${s.status} by ${s.decidedBy}${s.onBehalfOf !== undefined && ` for ${s.onBehalfOf}`}${s.comment && html`: “${s.comment}”`}</li>`);
}

function requestCard(page: LinkPage, r: AccessRequestView): Html {
  const decided = earlier(r);
  return html`<section class="card">
<h2>${r.item} for ${r.beneficiary.userName}</h2>
<dl>
<dt>Requested by</dt><dd>${r.requester.userName}, ${when(r.created)}</dd>
<dt>Justification</dt><dd>${r.justification}</dd>
<dt>Duration</dt><dd>${r.durationDays === null ? 'until withdrawn' : `${r.durationDays} day${r.durationDays === 1 ? '' : 's'}`}</dd>
<dt>Approval stage</dt><dd>${stageText(r)}</dd>
${decided.length > 0 && html`<dt>Decided so far</dt><dd><ul>${decided}</ul></dd>`}
${r.sodConflicts.length > 0 && html`<dt>Separation of duties</dt><dd class="sod">${r.sodConflicts.map((c) => html`<div>breaks rule ${c.rule}: ${c.items.join(', ')}</div>`)}</dd>`}
<dt>Expires if undecided</dt><dd>${when(r.expiresAt)}</dd>
</dl>
<form method="post" action="${page.token}">
<input type="hidden" name="form" value="${page.proof}">
<input type="hidden" name="request" value="${r.id}">
<label for="comment-${r.id}">Comment (optional; the requester sees it)</label>
<textarea id="comment-${r.id}" name="comment" maxlength="2000"></textarea>
<button type="submit" name="decision" value="approve" class="approve">Approve</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button>
</form>
</section>`;
}

/** The approvals page. */
export const approvalsPage: PageHandler = {
  async show(page, notice, status = 200) {
    const waiting = await page.services.requests.awaiting(page.recipient.id);
    const shown = notice ?? doneNotice(page, DONE);
    const body = waiting.length === 0
      ? html`<section class="card"><p>No access request waits for your decision.</p></section>`
      : html`<p>${waiting.length === 1 ? 'One access request waits' : `${waiting.length} access requests wait`} for your decision.</p>${waiting.map((r) => requestCard(page, r))}`;
    sendPage(page.ctx, status, renderPage({ title: 'Access requests awaiting your decision', recipient: page.recipient.name, notice: shown, body }));
  },

  async decide(page, form) {
    const parsed = decisionForm.safeParse({ request: field(form, 'request'), decision: field(form, 'decision'), comment: field(form, 'comment') });
    if (!parsed.success) throw new PageRefusal(422, parsed.error.issues.map((i) => i.message).join('; '));
    const { request, decision, comment } = parsed.data;
    // Bound to the link's recipient before the service checks it again: a request that is not
    // waiting for this person is refused here, whatever the service would allow.
    const waiting = await page.services.requests.awaiting(page.recipient.id);
    if (!waiting.some((r) => r.id === request)) {
      throw new PageRefusal(409, 'this request no longer waits for your decision: it was decided, cancelled or expired, or it is not yours to decide');
    }
    await page.services.requests.decide(request, { decision, ...(comment !== undefined && { comment }) }, page.actor);
    // The decision queued mail (the next approver, the requester): out now, not at the next scheduled run.
    page.services.mailer.sendSoon();
    redirectBack(page.ctx, page.token, { done: decision === 'approve' ? 'approved' : 'denied' });
  },
};
