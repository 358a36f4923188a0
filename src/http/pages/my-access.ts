/*
 * The recipient's own page, read-only: the access requests they made or benefit from, and their
 * access that ends on a date. Keeping access past its end is a new request, not an edit here.
 */
import { daysAfter } from '../../lifecycle/dates.js';
import { inForceAt } from '../../policy/grants.js';
import { html } from './html.js';
import { renderPage, sendPage } from './layout.js';
import { day, when, type PageHandler } from './link-page.js';

const REQUESTS_SHOWN = 50;
const GRANTS_SHOWN = 200;

interface EndingRow {
  item: string;
  source: string;
  valid_until: string;
}

/** The my-access page. */
export const myAccessPage: PageHandler = {
  async show(page, notice, status = 200) {
    const { services, recipient } = page;
    const now = services.clock();
    const { requests, next } = await services.requests.list({ involving: recipient.id }, { limit: REQUESTS_SHOWN });
    const inForce = inForceAt(now);
    const ending = await services.db.query<EndingRow>(
      `SELECT item, source, valid_until FROM grants WHERE identity_id = ? AND valid_until IS NOT NULL AND ${inForce.sql}
        ORDER BY valid_until, item LIMIT ${GRANTS_SHOWN}`, [recipient.id, ...inForce.params]);
    const soon = daysAfter(now, services.config.governance.expiryNoticeDays).toISOString();
    const requestTable = requests.length === 0 ? html`<p>You have no access requests.</p>` : html`<table>
<thead><tr><th>Access</th><th>For</th><th>Asked by</th><th>Status</th><th>Asked</th><th>Decided</th></tr></thead>
<tbody>${requests.map((r) => html`<tr><td>${r.item}</td><td>${r.beneficiary.userName}</td><td>${r.requester.userName}</td><td>${r.status}</td><td class="time">${day(r.created)}</td><td class="time">${day(r.decidedAt)}</td></tr>`)}</tbody>
</table>${next !== undefined && html`<p class="muted">Showing the first ${REQUESTS_SHOWN}; the API lists them all.</p>`}`;
    const grantTable = ending.length === 0 ? html`<p>None of your access has an end date.</p>` : html`<table>
<thead><tr><th>Access</th><th>Ends</th><th>Granted through</th></tr></thead>
<tbody>${ending.map((g) => html`<tr><td>${g.item}</td><td class="time">${when(g.valid_until)}${g.valid_until <= soon && html` <strong>(soon)</strong>`}</td><td>${g.source}</td></tr>`)}</tbody>
</table>`;
    const body = html`<section class="card"><h2>Your access requests</h2>${requestTable}</section>
<section class="card"><h2>Access that ends on a date</h2>${grantTable}
<p>To keep access past its end date, request it again: an extension is a new request, approved like the first one.</p></section>`;
    sendPage(page.ctx, status, renderPage({ title: 'Your access', recipient: recipient.name, notice, body }));
  },
};
