import { expect } from 'chai';
import { delegationPeriod, MAX_DELEGATION_DAYS } from '../../../src/governance/delegations.js';
import { GovernanceError } from '../../../src/governance/errors.js';
import { awaitingMail, decidedMail, escalatedMail, expiredMail, expiringMail, reachable, type MailRequest } from '../../../src/governance/requests/mails.js';
import { chainFor, checkDuration, requestedItem, stageLabel } from '../../../src/governance/requests/model.js';
import { mergeConflicts } from '../../../src/governance/requests/workflow.js';
import { linkMaker, verifyLink } from '../../../src/notify/links.js';

const DAY = 86_400_000;

function refusal(run: () => unknown): GovernanceError {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(GovernanceError);
    return err as GovernanceError;
  }
  throw new Error('expected a GovernanceError');
}

describe('access requests: what is asked for', () => {
  it('takes the item as item, role or entitlement, with or without the prefix', () => {
    const cases: Array<[Parameters<typeof requestedItem>[0], string]> = [
      [{ item: 'role:sre' }, 'role:sre'],
      [{ item: 'ent:github/platform' }, 'ent:github/platform'],
      [{ role: 'sre' }, 'role:sre'],
      [{ role: 'role:sre' }, 'role:sre'],
      [{ entitlement: 'ldap/Finance Team' }, 'ent:ldap/Finance Team'],
      [{ entitlement: 'ent:ldap/staff' }, 'ent:ldap/staff'],
    ];
    for (const [body, item] of cases) expect(requestedItem(body), JSON.stringify(body)).to.equal(item);
  });

  it('refuses none or several of item, role and entitlement, and names of the wrong kind', () => {
    for (const body of [{}, { role: 'a', item: 'role:a' }, { role: 'a', entitlement: 't/k' }, { role: 'ent:t/k' }, { entitlement: 'role:x' },
      { entitlement: 'no-slash' }, { item: 'sre' }, { role: 'Bad Name' }]) {
      expect(refusal(() => requestedItem(body)).kind, JSON.stringify(body)).to.equal('invalid');
    }
  });

  it('requires a duration within the role\'s maximum when it has one, and nothing otherwise', () => {
    expect(() => checkDuration('ent:t/k', undefined, undefined)).to.not.throw();
    expect(() => checkDuration('role:r', null, 9999)).to.not.throw();
    expect(() => checkDuration('role:r', 30, 30)).to.not.throw();
    expect(refusal(() => checkDuration('role:r', 30, 31)).details).to.deep.equal({ maxDurationDays: 30 });
    expect(refusal(() => checkDuration('role:r', 30, undefined)).message).to.match(/give durationDays/);
  });

  it('uses an item\'s own chain, else the default one', () => {
    const governance = { defaultChain: [{ approver: 'manager' as const }], chains: { 'role:x': [{ approver: 'people' as const, people: ['a'] }] } };
    expect(chainFor(governance, 'role:x')).to.deep.equal([{ approver: 'people', people: ['a'] }]);
    expect(chainFor(governance, 'role:y')).to.deep.equal([{ approver: 'manager' }]);
    // a copy: the stored chain is changed as the request moves on, the configuration never
    expect(chainFor(governance, 'role:y')).to.not.equal(governance.defaultChain);
  });

  it('names each kind of stage in words', () => {
    expect(stageLabel({ approver: 'manager' })).to.equal('the manager');
    expect(stageLabel({ approver: 'role-owner' })).to.equal('the role owner');
    expect(stageLabel({ approver: 'target-owner' })).to.equal('the target owner');
    expect(stageLabel({ approver: 'group', group: 'Finance' })).to.equal('a member of Finance');
    expect(stageLabel({ approver: 'people', people: ['a', 'b'] })).to.equal('a, b');
    expect(stageLabel({ approver: 'sod-owner', rule: 'r1' })).to.equal('the owner of SoD rule r1');
  });

  it('adds SoD conflicts not yet known, once', () => {
    const known = [{ rule: 'a', items: ['x', 'y'] }];
    expect(mergeConflicts(known, [{ rule: 'a', items: ['z'] }, { rule: 'b', items: ['p', 'q'] }])).to.deep.equal([
      { rule: 'a', items: ['x', 'y'] }, { rule: 'b', items: ['p', 'q'] },
    ]);
  });
});

describe('delegations: the period', () => {
  const now = new Date('2026-03-01T12:00:00.000Z');
  it('starts now unless told, and keeps times in stored form', () => {
    expect(delegationPeriod(undefined, '2026-03-08T12:00:00+02:00', now)).to.deep.equal({ from: now.toISOString(), until: '2026-03-08T10:00:00.000Z' });
  });
  it('refuses an empty, past or overlong period', () => {
    expect(refusal(() => delegationPeriod('2026-03-05T00:00:00Z', '2026-03-04T00:00:00Z', now)).message).to.match(/must be after/);
    expect(refusal(() => delegationPeriod('2026-02-01T00:00:00Z', '2026-02-10T00:00:00Z', now)).message).to.match(/already past/);
    expect(refusal(() => delegationPeriod(undefined, new Date(now.getTime() + (MAX_DELEGATION_DAYS + 1) * DAY).toISOString(), now)).details).to.deep.equal({ maxDays: MAX_DELEGATION_DAYS });
  });
});

describe('access requests: mail', () => {
  const key = Buffer.alloc(32, 7);
  const now = new Date('2026-03-01T12:00:00.000Z');
  const links = linkMaker(key, now, 24);
  const to = { id: 'id-1', userName: 'ann@example.com', name: 'Ann Example', address: 'ann@example.com', managerId: null };
  const r: MailRequest = { id: 'req-1', item: 'role:sre', beneficiary: 'Bo', requester: 'Cy', justification: 'on call', durationDays: 7 };

  it('signs links for their recipient and purpose, valid for linkTtlHours', () => {
    const link = links('id-1', 'approvals');
    expect(link).to.match(/^\{\{baseUrl\}\}\/m\//);
    const claims = verifyLink(key, link.slice('{{baseUrl}}/m/'.length), now);
    expect(claims).to.deep.equal({ recipientId: 'id-1', purpose: 'approvals', expires: now.getTime() / 1000 + 24 * 3600 });
  });

  it('tells an approver what waits, why it came to them, and how to decide; once per stage and person', () => {
    const mail = awaitingMail(to, r, { index: 1, label: 'the role owner' }, 'LINK', { reason: 'deputy', for: 'Dee' });
    expect(mail).to.deep.include({ recipientId: 'id-1', address: 'ann@example.com', kind: 'request.awaiting', dedupeKey: 'request.awaiting:req-1:1:id-1' });
    expect(mail.subject).to.equal('Access request awaiting your decision: role:sre for Bo');
    expect(mail.text).to.include('Hello Ann Example').and.include('as deputy of Dee').and.include('LINK').and.include('on call')
      .and.include('Bo (asked by Cy)').and.include('for 7 days');
    expect(awaitingMail(to, r, { index: 0, label: 'x' }, 'L', { reason: 'reassigned', for: 'Ed' }).text).to.include('because Ed has left');
    expect(awaitingMail(to, r, { index: 0, label: 'x' }, 'L', { reason: 'escalation', for: 'Ed' }).text).to.include('because Ed has not decided it yet');
  });

  it('tells requester and beneficiary the outcome, once per request and person', () => {
    const approved = decidedMail(to, { ...r, durationDays: null, requester: 'Bo' }, { status: 'approved', validUntil: null }, 'L');
    expect(approved).to.deep.include({ kind: 'request.decided', dedupeKey: 'request.decided:req-1:id-1' });
    expect(approved.subject).to.match(/^Access granted/);
    expect(approved.text).to.include('until withdrawn').and.not.include('asked by');
    expect(decidedMail(to, r, { status: 'denied', by: 'Max', comment: 'no' }, 'L').text).to.include('denied by Max: "no"');
    expect(decidedMail(to, r, { status: 'failed', reason: 'SoD' }, 'L').subject).to.match(/could not be granted/);
  });

  it('groups escalations and expiries of one recipient into one mail, and tells of access ending once per grant and date', () => {
    const two = escalatedMail(to, [{ request: r, approver: 'Max' }, { request: { ...r, id: 'req-2' }, approver: 'Max' }], 'L');
    expect(two.subject).to.equal('2 escalated access requests await your decision');
    expect(two.text).to.include('req-1').and.include('req-2').and.include('Waiting for:   Max');
    expect(expiredMail(to, [r], 'L').subject).to.equal('Access request expired: role:sre for Bo');
    const ending = expiringMail(to, { id: 'g1', item: 'role:sre', validUntil: '2026-03-05T00:00:00.000Z' }, 'L');
    expect(ending).to.deep.include({ kind: 'grant.expiring', dedupeKey: 'grant.expiring:g1:2026-03-05T00:00:00.000Z' });
    expect(ending.text).to.include('an extension is a new request');
  });

  it('mails only people with an address', () => {
    expect(reachable(to)).to.equal(true);
    expect(reachable({ ...to, address: undefined })).to.equal(false);
    expect(reachable(undefined)).to.equal(false);
  });
});
