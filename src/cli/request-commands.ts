/*
 * `iam request list|show|approve|deny`: access requests from the server's own machine. Deciding
 * is done as a person (--as USERNAME), with every rule the API applies: only an approver of the
 * open stage or their deputy decides, never the beneficiary or the requester. The audit trail
 * names the operating-system user (cli:<user>) as the actor and the person as the decider.
 */
import type { Command } from 'commander';
import type { AccessRequestView } from '../governance/requests/model.js';
import { REQUEST_STATUSES } from '../governance/requests/model.js';
import { actingPerson, CliError, type WithServices } from './with.js';
import { formatTable } from './table.js';

const write = (text: string) => process.stdout.write(text);

function stageSummary(r: AccessRequestView): string {
  const stage = r.stages[r.stage];
  if (r.status !== 'pending' || !stage) return '-';
  return `${r.stage + 1}/${r.stages.length} ${stage.approver}`;
}

/** A request in a few lines: what, for whom, where it stands, each stage. */
function describe(r: AccessRequestView): string {
  const lines = [
    `request ${r.id}: ${r.status}`,
    `  item:          ${r.item}${r.durationDays === null ? '' : ` for ${r.durationDays} days`}`,
    `  beneficiary:   ${r.beneficiary.userName}`,
    `  requester:     ${r.requester.userName}`,
    `  justification: ${r.justification}`,
    `  created:       ${r.created}${r.status === 'pending' ? `, expires ${r.expiresAt}` : ''}${r.decidedAt ? `, decided ${r.decidedAt}` : ''}`,
  ];
  if (r.grantId) lines.push(`  grant:         ${r.grantId}`);
  if (r.outcome) lines.push(`  outcome:       ${r.outcome}`);
  for (const c of r.sodConflicts) lines.push(`  SoD conflict:  ${c.rule} (${c.items.join(', ')})`);
  r.stages.forEach((s, i) => {
    const who = s.approvers.length > 0 ? ` [${s.approvers.join(', ')}]` : '';
    const by = s.decidedBy ? ` by ${s.decidedBy}${s.onBehalfOf ? ` for ${s.onBehalfOf}` : ''}${s.comment ? `: "${s.comment}"` : ''}` : '';
    lines.push(`  stage ${i + 1}: ${s.approver}${s.group ? ` ${s.group}` : ''}${s.rule ? ` ${s.rule}` : ''} ${s.status}${by}${who}`);
  });
  return `${lines.join('\n')}\n`;
}

/** Adds `iam request list|show|approve|deny`. */
export function registerRequestCommands(program: Command, withServices: WithServices, actor: () => string): void {
  const request = program.command('request').description('access requests: list them, show one, approve or deny as an approver');

  request.command('list')
    .description('list access requests, newest first: all, or those of one person')
    .option('--status <status>', `only requests in this state: ${REQUEST_STATUSES.join(', ')}`)
    .option('--as <userName>', 'only requests this person made, benefits from, or must decide')
    .option('--awaiting', 'with --as: only the requests waiting for their decision')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { status?: string; as?: string; awaiting?: boolean; limit: string; json?: boolean }) => {
      if (opts.status !== undefined && !(REQUEST_STATUSES as readonly string[]).includes(opts.status)) {
        throw new CliError(`--status must be one of ${REQUEST_STATUSES.join(', ')}`);
      }
      if (opts.awaiting && opts.as === undefined) throw new CliError('--awaiting needs --as USERNAME: whose decisions?');
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new CliError('--limit must be a whole number from 1 to 500');
      await withServices(async (services) => {
        let list: AccessRequestView[];
        if (opts.as !== undefined) {
          const who = await actingPerson(services.db, actor(), opts.as);
          const awaiting = await services.requests.awaiting(who.identityId!);
          const involving = opts.awaiting ? [] : (await services.requests.list({ involving: who.identityId!, ...(opts.status !== undefined && { status: opts.status }) }, { limit })).requests;
          // Disjoint lists: nobody is asked to decide a request they made or benefit from.
          list = [...awaiting.filter((r) => opts.status === undefined || r.status === opts.status), ...involving]
            .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0))
            .slice(0, limit);
        } else {
          list = (await services.requests.list(opts.status !== undefined ? { status: opts.status } : {}, { limit })).requests;
        }
        if (opts.json) {
          write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        if (list.length === 0) {
          write('no access requests\n');
          return;
        }
        write(formatTable([
          ['ID', 'STATUS', 'STAGE', 'ITEM', 'FOR', 'BY', 'CREATED'],
          ...list.map((r) => [r.id, r.status, stageSummary(r), r.item, r.beneficiary.userName, r.requester.userName, r.created]),
        ]));
      });
    });

  request.command('show')
    .description('show one access request: its stages, approvers, decisions and outcome')
    .argument('<id>', 'the request id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withServices(async (services) => {
        const r = await services.requests.get(id);
        write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : describe(r));
      });
    });

  for (const verb of ['approve', 'deny'] as const) {
    request.command(verb)
      .description(verb === 'approve'
        ? 'approve the open stage of a request, as one of its approvers (or their deputy); the last approval grants the access'
        : 'deny a request, as one of the approvers of its open stage (or their deputy); the request ends')
      .argument('<id>', 'the request id')
      .requiredOption('--as <userName>', 'the approver deciding (userName or identity id)')
      .option('--comment <text>', 'why; the requester reads it')
      .addHelpText('after', '\nExit status: 0 when decided, 2 when refused (not an approver of the open stage, already decided, unknown request).')
      .action(async (id: string, opts: { as: string; comment?: string }) => {
        await withServices(async (services) => {
          const by = await actingPerson(services.db, actor(), opts.as);
          const r = await services.requests.decide(id, { decision: verb, ...(opts.comment !== undefined && { comment: opts.comment }) }, by);
          const next = r.status === 'pending' ? `; now waiting for stage ${r.stage + 1} (${r.stages[r.stage]!.approver}: ${r.stages[r.stage]!.approvers.join(', ')})` : '';
          const grant = r.grantId ? `; grant ${r.grantId}` : '';
          const outcome = r.status === 'failed' && r.outcome ? `: ${r.outcome}` : '';
          write(`${verb === 'approve' ? 'approved' : 'denied'} request ${r.id} (${r.item} for ${r.beneficiary.userName}): ${r.status}${next}${grant}${outcome}\n`);
        });
      });
  }
}
