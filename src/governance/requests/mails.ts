/*
 * The mail access requests send: a request awaiting someone's decision, a decision made, an
 * escalation, expiry, and access about to end. Composing is pure (facts in, a QueuedMail out);
 * the service queues what these return inside the transaction of the event, one mail per
 * recipient per event. Links are signed for their recipient and written after
 * BASE_URL_PLACEHOLDER, which the sender replaces with the server's URL.
 */
import type { QueuedMail } from '../../notify/mail-queue.js';
import type { Recipient } from '../../notify/recipients.js';


/** What mail says about a request. */
export interface MailRequest {
  id: string;
  item: string;
  beneficiary: string;
  requester: string;
  justification: string;
  durationDays: number | null;
}

const duration = (r: MailRequest) => (r.durationDays === null ? 'until withdrawn' : `for ${r.durationDays} day${r.durationDays === 1 ? '' : 's'}`);
const forWhom = (r: MailRequest) => (r.beneficiary === r.requester ? r.beneficiary : `${r.beneficiary} (asked by ${r.requester})`);

function describe(r: MailRequest): string {
  return [`  Request:       ${r.id}`, `  Access:        ${r.item}, ${duration(r)}`, `  For:           ${forWhom(r)}`, `  Justification: ${r.justification}`].join('\n');
}

function mail(to: Recipient & { address: string }, kind: QueuedMail['kind'], subject: string, lines: string[], dedupeKey?: string): QueuedMail {
  return { recipientId: to.id, address: to.address, kind, subject, text: `Hello ${to.name},\n\n${lines.join('\n')}\n`, ...(dedupeKey !== undefined && { dedupeKey }) };
}

/** A request waits for the recipient's decision (`as`: why it came to them when not directly). */
export function awaitingMail(to: Recipient & { address: string }, r: MailRequest, stage: { index: number; label: string }, link: string,
  as?: { reason: 'deputy' | 'escalation' | 'reassigned'; for: string }): QueuedMail {
  const why = as === undefined ? '' : as.reason === 'deputy' ? ` as deputy of ${as.for}`
    : as.reason === 'escalation' ? `, because ${as.for} has not decided it yet` : `, because ${as.for} has left`;
  return mail(to, 'request.awaiting', `Access request awaiting your decision: ${r.item} for ${r.beneficiary}`, [
    `an access request waits for your decision${why} (approval by ${stage.label}):`, '', describe(r), '',
    `Approve or deny it here: ${link}`,
    `or with the API: POST /api/v1/access-requests/${r.id}/decision {"decision": "approve" | "deny", "comment": "..."}`,
  ], `request.awaiting:${r.id}:${stage.index}:${to.id}`);
}

/** The request the recipient made or benefits from was decided. */
export function decidedMail(to: Recipient & { address: string }, r: MailRequest,
  outcome: { status: 'approved'; validUntil: string | null } | { status: 'denied'; by: string; comment?: string } | { status: 'failed'; reason: string },
  link: string): QueuedMail {
  const lines = outcome.status === 'approved'
    ? [`your access request was approved and the access granted${outcome.validUntil === null ? '' : ` until ${outcome.validUntil}`}:`, '', describe(r), '',
      'Accounts on the connected systems follow within minutes.']
    : outcome.status === 'denied'
      ? [`your access request was denied by ${outcome.by}${outcome.comment ? `: "${outcome.comment}"` : ''}.`, '', describe(r)]
      : ['your access request was approved, but the access could not be granted:', `  ${outcome.reason}`, '', describe(r), '',
        'Ask an administrator, or make a new request once the cause is resolved.'];
  const subject = { approved: 'Access granted', denied: 'Access request denied', failed: 'Access request could not be granted' }[outcome.status];
  return mail(to, 'request.decided', `${subject}: ${r.item} for ${r.beneficiary}`, [...lines, '', `Your requests and access: ${link}`], `request.decided:${r.id}:${to.id}`);
}

/** Requests the recipient's reports have not decided in time now wait for the recipient too. */
export function escalatedMail(to: Recipient & { address: string }, items: Array<{ request: MailRequest; approver: string }>, link: string): QueuedMail {
  const subject = items.length === 1
    ? `Escalated access request: ${items[0]!.request.item} for ${items[0]!.request.beneficiary}`
    : `${items.length} escalated access requests await your decision`;
  return mail(to, 'request.escalated', subject, [
    `${items.length === 1 ? 'an access request has' : `${items.length} access requests have`} waited too long for a decision and now wait for you as well:`,
    ...items.flatMap(({ request, approver }) => ['', `  Waiting for:   ${approver}`, describe(request)]), '',
    `Approve or deny here: ${link}`,
  ]);
}

/** Requests the recipient made expired undecided. */
export function expiredMail(to: Recipient & { address: string }, requests: MailRequest[], link: string): QueuedMail {
  const subject = requests.length === 1 ? `Access request expired: ${requests[0]!.item} for ${requests[0]!.beneficiary}` : `${requests.length} access requests expired`;
  return mail(to, 'request.expired', subject, [
    `${requests.length === 1 ? 'an access request you made was' : `${requests.length} access requests you made were`} not decided in time and expired:`,
    ...requests.flatMap((r) => ['', describe(r)]), '',
    'If the access is still needed, make a new request.', `Your requests and access: ${link}`,
  ]);
}

/** One of the recipient's grants ends soon; once per grant and end date. */
export function expiringMail(to: Recipient & { address: string }, grant: { id: string; item: string; validUntil: string }, link: string): QueuedMail {
  return mail(to, 'grant.expiring', `Your access ends soon: ${grant.item} on ${grant.validUntil.slice(0, 10)}`, [
    `your access to ${grant.item} ends at ${grant.validUntil}.`, '',
    'If you still need it, request it again (POST /api/v1/access-requests, or from your access page): an extension is a new request, approved like the first.',
    `Your access: ${link}`,
  ], `grant.expiring:${grant.id}:${grant.validUntil}`);
}

/** Recipients that have an address (people without one get no mail). */
export function reachable(recipient: Recipient | undefined): recipient is Recipient & { address: string } {
  return recipient !== undefined && recipient.address !== undefined && recipient.address !== '';
}
