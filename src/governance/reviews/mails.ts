/*
 * What reviewers are told, one mail per reviewer per event with the number of items, never one
 * per item: a campaign (or a stage) needs their review, a reminder before the stage ends, items
 * escalated to them, items reassigned to them because a reviewer left. Each carries a signed
 * link to their items in the campaign; people without an email get none.
 */
import type { Sql } from '../../db/database.js';
import { mailLinkKey } from '../../auth/server-keys.js';
import { queueMail, type MailKind, type QueuedMail } from '../../notify/mail-queue.js';
import { recipients } from '../../notify/recipients.js';
import { linkMaker } from '../../notify/links.js';

/** The events reviewers are mailed about. */
export type ReviewEvent = 'started' | 'reminder' | 'escalated' | 'reassigned';

const KIND: Record<ReviewEvent, MailKind> = {
  started: 'review.started', reminder: 'review.reminder', escalated: 'review.escalated', reassigned: 'review.reassigned',
};

/** The campaign a mail is about. */
export interface MailCampaign {
  id: string;
  name: string;
  /** 0-based */
  stage: number;
  stages: number;
  stageEnds: string;
}

/** One reviewer to tell, with how many items. */
export interface Notice {
  reviewerId: string;
  count: number;
  /** reminder: days left; reassigned: who left */
  days?: number;
  leaver?: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const day = (iso: string) => iso.slice(0, 10);

function compose(event: ReviewEvent, campaign: MailCampaign, notice: Notice, name: string, link: string): { subject: string; text: string } {
  const items = plural(notice.count, 'item');
  const stage = campaign.stages > 1 ? ` (stage ${campaign.stage + 1} of ${campaign.stages})` : '';
  const by = day(campaign.stageEnds);
  const open = `Review them here: ${link}`;
  switch (event) {
    case 'started':
      return {
        subject: `Access review "${campaign.name}": ${items} to review by ${by}`,
        text: `Hello ${name},\n\nThe access review "${campaign.name}"${stage} asks you to keep or revoke ${items} of access by ${by}.\n\n${open}\n`,
      };
    case 'reminder':
      return {
        subject: `Reminder: ${items} in "${campaign.name}" still need your decision`,
        text: `Hello ${name},\n\n${items} in the access review "${campaign.name}"${stage} still need your decision. The stage ends on ${by}, in ${plural(notice.days ?? 0, 'day')}; what is undecided then gets the campaign's default outcome.\n\n${open}\n`,
      };
    case 'escalated':
      return {
        subject: `Access review "${campaign.name}": ${items} escalated to you`,
        text: `Hello ${name},\n\n${items} in the access review "${campaign.name}"${stage} were not decided in time by the reviewers who report to you, and are now yours to keep or revoke by ${by}.\n\n${open}\n`,
      };
    case 'reassigned':
      return {
        subject: `Access review "${campaign.name}": ${items} reassigned to you`,
        text: `Hello ${name},\n\n${items} in the access review "${campaign.name}"${stage} were assigned to ${notice.leaver ?? 'someone'}, who has left; they are now yours to keep or revoke by ${by}.\n\n${open}\n`,
      };
  }
}

/**
 * Queues one mail per notice inside the caller's transaction; `dedupe` makes each key once-only
 * (a reminder for day N, an escalation). Returns how many mails were newly queued.
 */
export async function mailReviewers(
  tx: Sql, event: ReviewEvent, campaign: MailCampaign, notices: readonly Notice[],
  options: { now: Date; linkTtlHours: number; dedupe: (notice: Notice) => string },
): Promise<number> {
  if (notices.length === 0) return 0;
  const people = await recipients(tx, notices.map((n) => n.reviewerId));
  const key = await mailLinkKey(tx);
  const link = linkMaker(key, options.now, options.linkTtlHours);
  const mails: QueuedMail[] = [];
  for (const notice of notices) {
    const person = people.get(notice.reviewerId);
    if (!person?.address) continue;
    const { subject, text } = compose(event, campaign, notice, person.name, link(person.id, 'review', campaign.id));
    mails.push({ recipientId: person.id, address: person.address, kind: KIND[event], subject, text, dedupeKey: options.dedupe(notice) });
  }
  return queueMail(tx, mails, options.now);
}

/** The dedupe key of a review mail: one per campaign, stage, event, reviewer and (reminders) day. */
export function reviewMailKey(campaignId: string, stage: number, event: ReviewEvent, reviewerId: string, extra = ''): string {
  return `review:${campaignId}:${stage}:${event}${extra === '' ? '' : `:${extra}`}:${reviewerId}`;
}
