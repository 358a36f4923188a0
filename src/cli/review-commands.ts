/*
 * `iam review …`: start, list, show, close and report on access review campaigns, and decide
 * items as a named person (`--as`), through the same ReviewService the API uses. Refusals
 * (unknown campaign, not the reviewer, campaign closed) are GovernanceErrors, which the binary
 * prints in one line with exit code 2.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import type { CampaignView } from '../governance/reviews/types.js';
import { reviewerCompletion, revocationTotals } from '../governance/reviews/report.js';
import { Progress } from './progress.js';
import { actingPerson, CliError, type WithServices } from './with.js';
import { formatTable } from './table.js';

const write = (text: string) => process.stdout.write(text);

function describe(c: CampaignView): void {
  write(`campaign ${c.id} (${c.name}): ${c.status}, stage ${c.stage + 1} of ${c.stages}, started ${c.started} by ${c.startedBy}\n`);
  if (c.status === 'running') write(`stage ends ${c.stageEnds}\n`);
  if (c.counts) write(`items ${c.counts.items}: kept ${c.counts.kept}, revoked ${c.counts.revoked}, undecided ${c.counts.undecided}\n`);
  if (c.summary) {
    const s = c.summary;
    write(`closed ${c.closed}: ${s.reviewed} reviewed, ${s.kept} kept, ${s.revoked} revoked, ${s.open} open, ${s.dropped} dropped; undecided -> ${s.undecidedOutcome} (${s.decidedAtClose} items)\n`);
    write(`revocations carried out ${s.revocations.applied}, not carried out ${s.revocations.failed}${s.revocations.firstError ? ` (${s.revocations.firstError})` : ''}\n`);
  }
  if (c.error) write(`failed: ${c.error}\n`);
}

/** Adds `iam review …`. */
export function registerReviewCommands(program: Command, withServices: WithServices, actor: () => string): void {
  const review = program.command('review').description('access review campaigns: start, list, decide, close, report');

  review.command('start')
    .description('start a campaign of a definition (config reviews.campaigns.NAME, or one made through the API)')
    .argument('<name>', 'the definition')
    .option('--as <userName>', 'the person starting it (items nobody else can review go to them)')
    .option('--json', 'print the campaign as JSON')
    .action(async (name: string, opts: { as?: string; json?: boolean }) => {
      await withServices(async ({ reviews, db }) => {
        const by = await actingPerson(db, actor(), opts.as);
        let progress: Progress | undefined;
        let last = 0;
        const result = await reviews.startWithCounts(name, by, {
          onProgress: (done, total) => {
            progress ??= new Progress(`starting ${name}: identities`, total);
            progress.update(done);
            last = done;
          },
        });
        progress?.finish(last);
        const campaign = await reviews.get(result.id);
        if (opts.json) {
          write(`${JSON.stringify(campaign, null, 2)}\n`);
          return;
        }
        write(`started campaign ${campaign.id} of ${name}: ${result.items} items of ${result.identities} identities for ${result.reviewers} reviewers`
          + `${result.unassigned > 0 ? ` (${result.unassigned} items unassigned)` : ''}; stage 1 of ${campaign.stages} ends ${campaign.stageEnds}\n`);
      });
    });

  review.command('list')
    .description('list campaigns, newest first')
    .option('--status <status>', 'only campaigns in this status: running, closed, failed, …')
    .option('--definition <name>', 'only campaigns of this definition')
    .option('--json', 'print JSON')
    .action(async (opts: { status?: string; definition?: string; json?: boolean }) => {
      await withServices(async ({ reviews }) => {
        const { campaigns } = await reviews.list({ ...(opts.status !== undefined && { status: opts.status }), ...(opts.definition !== undefined && { name: opts.definition }) }, { limit: 1000 });
        if (opts.json) {
          write(`${JSON.stringify(campaigns, null, 2)}\n`);
          return;
        }
        if (campaigns.length === 0) {
          write('no campaigns\n');
          return;
        }
        write(formatTable([['ID', 'DEFINITION', 'STATUS', 'STAGE', 'STARTED', 'STAGE ENDS'],
          ...campaigns.map((c) => [c.id, c.name, c.status, `${c.stage + 1}/${c.stages}`, c.started, c.status === 'closed' ? '-' : c.stageEnds])]));
      });
    });

  review.command('show')
    .description('show one campaign with its counts')
    .argument('<id>', 'the campaign id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async ({ reviews }) => {
        const campaign = await reviews.get(id);
        if (opts.json) write(`${JSON.stringify(campaign, null, 2)}\n`);
        else describe(campaign);
      });
    });

  review.command('items')
    .description('list a person\'s review items (what they can still decide, unless --all)')
    .requiredOption('--as <userName>', 'the reviewer')
    .option('--campaign <id>', 'only this campaign')
    .option('--all', 'include decided items and those of stages that are over')
    .option('--json', 'print JSON')
    .action(async (opts: { as: string; campaign?: string; all?: boolean; json?: boolean }) => {
      await withServices(async ({ reviews, db }) => {
        const by = await actingPerson(db, actor(), opts.as);
        const items = [];
        let after: number | undefined;
        do {
          const page = await reviews.itemsFor(by.identityId!, { ...(opts.campaign !== undefined && { campaignId: opts.campaign }), undecidedOnly: !opts.all }, { limit: 1000, ...(after !== undefined && { after }) });
          items.push(...page.items);
          after = page.next;
        } while (after !== undefined);
        if (opts.json) {
          write(`${JSON.stringify(items, null, 2)}\n`);
          return;
        }
        if (items.length === 0) {
          write('no items\n');
          return;
        }
        write(formatTable([['ITEM', 'CAMPAIGN', 'STAGE', 'PERSON', 'ACCESS', 'SOURCE', 'SINCE', 'DECISION', 'SOD'],
          ...items.map((i) => [String(i.id), i.campaignId.slice(0, 8), String(i.stage + 1), i.identity.userName, i.item, i.context.source, i.context.since.slice(0, 10),
            i.decision ?? '-', i.context.sodConflicts.map((c) => c.rule).join(',') || '-'])]));
      });
    });

  review.command('decide')
    .description('keep or revoke review items as their reviewer')
    .argument('<items...>', 'review item ids')
    .requiredOption('--as <userName>', 'the reviewer deciding (only they, or a named person of the stage, may)')
    .addOption(new Option('--keep', 'keep the access').conflicts('revoke'))
    .addOption(new Option('--revoke', 'revoke the access (the grant is removed and deprovisioned)').conflicts('keep'))
    .option('--comment <text>', 'why')
    .addHelpText('after', '\nExactly one of --keep and --revoke. All the items are decided or none.')
    .action(async (items: string[], opts: { as: string; keep?: boolean; revoke?: boolean; comment?: string }) => {
      if (!opts.keep && !opts.revoke) throw new CliError('give --keep or --revoke');
      const ids = items.map((text) => {
        const id = Number(text);
        if (!Number.isInteger(id) || id < 1) throw new CliError(`${text} is not a review item id`);
        return id;
      });
      await withServices(async ({ reviews, db }) => {
        const by = await actingPerson(db, actor(), opts.as);
        const result = await reviews.decide(ids, { decision: opts.keep ? 'keep' : 'revoke', ...(opts.comment !== undefined && { comment: opts.comment }) }, by);
        write(`${opts.keep ? 'kept' : 'revoked'} ${result.decided} item${result.decided === 1 ? '' : 's'}`
          + `${opts.revoke ? `; ${result.revoked} grant${result.revoked === 1 ? '' : 's'} removed${result.failed > 0 ? `, ${result.failed} to retry at close` : ''}` : ''}\n`);
      });
    });

  review.command('close')
    .description('close a running campaign now: undecided items get the definition\'s outcome, revocations are carried out')
    .argument('<id>', 'the campaign id')
    .option('--as <userName>', 'the person closing it')
    .option('--json', 'print the closed campaign as JSON')
    .action(async (id: string, opts: { as?: string; json?: boolean }) => {
      await withServices(async ({ reviews, db }) => {
        const campaign = await reviews.close(id, await actingPerson(db, actor(), opts.as));
        if (opts.json) write(`${JSON.stringify(campaign, null, 2)}\n`);
        else describe(campaign);
      });
    });

  review.command('report')
    .description('completion per reviewer and revocations; --csv writes every decision, one row per item')
    .argument('<id>', 'the campaign id')
    .option('--csv <file>', 'write the decisions (one row per item) to this CSV file')
    .option('--json', 'print the whole report as JSON (campaign, reviewers, revocations, decisions)')
    .action(async (id: string, opts: { csv?: string; json?: boolean }) => {
      await withServices(async ({ reviews, db }) => {
        if (opts.csv) {
          // The report is asked for first: an unknown campaign leaves no empty file behind.
          const lines = await reviews.report(id, 'csv');
          const out = createWriteStream(opts.csv);
          for await (const line of lines) if (!out.write(line)) await once(out, 'drain');
          out.end();
          await once(out, 'finish');
        }
        if (opts.json) {
          for await (const line of await reviews.report(id, 'json')) write(line);
          return;
        }
        describe(await reviews.get(id));
        const reviewers = await reviewerCompletion(db, id);
        write(formatTable([['REVIEWER', 'ASSIGNED', 'DECIDED', 'KEPT', 'REVOKED'],
          ...reviewers.map((r) => [r.reviewer.userName, String(r.assigned), String(r.decided), String(r.kept), String(r.revoked)])]));
        const revocations = await revocationTotals(db, id);
        write(`revocations: ${revocations.decided} decided, ${revocations.applied} carried out, ${revocations.pending} pending\n`);
        if (opts.csv) write(`decisions written to ${opts.csv}\n`);
      });
    });
}
