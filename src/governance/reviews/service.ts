/*
 * Review campaigns (access certification): a definition's scope and reviewers turn into one item
 * per (identity, grant); reviewers keep or revoke; stages follow one another; at close, undecided
 * items get the definition's outcome and revocations are provisioned through the outbox.
 * This class is the one door: the routes, the CLI, the governance job and the lifecycle call it;
 * the work lives in the modules beside it (start, decide, progress, close, report).
 */
import type { Config } from '../../config/index.js';
import type { Database, Transaction } from '../../db/database.js';
import type { ChangeContext } from '../../identity/resources.js';
import type { GrantService } from '../../policy/grants.js';
import { GovernanceError } from '../errors.js';
import { campaignCounts, campaignsIn, campaignView, getCampaign, listCampaigns } from './campaigns.js';
import { closeCampaign, type Progress } from './close.js';
import { decideItems, type DecideResult } from './decide.js';
import { ReviewDefinitions } from './definitions-store.js';
import { itemsFor } from './items.js';
import { advanceCampaign, escalate, reassignLeavers, remind, TICK_ACTOR } from './progress.js';
import { decisionsCsv, reportJson } from './report.js';
import { failStart, startCampaign, type StartResult } from './start.js';
import { LIVE_STATUSES, type Actor, type CampaignView, type Decision, type ReviewDeps, type ReviewItemView } from './types.js';

export type { Actor, CampaignView, ReviewItemView } from './types.js';

/** A 'starting', 'advancing' or 'closing' campaign untouched this long is taken to have lost its process. */
const STALE_MS = 60 * 60_000;
const RESUME_MS = 10 * 60_000;

/** Defines, starts, decides, advances and closes review campaigns. */
export class ReviewService {
  /** campaign definitions: config and API */
  readonly definitions: ReviewDefinitions;
  private storedScheduled: { name: string; schedule: string }[] = [];
  private readonly deps: ReviewDeps;

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    grants: GrantService,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.definitions = new ReviewDefinitions(db, config, clock);
    this.deps = { db, config, grants, clock };
  }

  /**
   * Starts a campaign of the named definition: one item per (active identity, grant in force) in
   * scope, assigned to the first stage's reviewer, and a mail to each reviewer. Refused while a
   * campaign of the same definition is still under way (conflict).
   */
  async start(name: string, by: Actor): Promise<CampaignView> {
    return this.get((await this.startWithCounts(name, by)).id);
  }

  /** start() with the counts of what it made, for the CLI and the benchmark. */
  async startWithCounts(name: string, by: Actor, options: { onProgress?: (done: number, total: number) => void } = {}): Promise<StartResult> {
    return startCampaign(this.deps, await this.definitions.get(name), by, options.onProgress);
  }

  /** A scheduled start (actor system:review-schedule): skipped, returning null, while the last campaign of the definition is still under way. */
  async startScheduled(name: string): Promise<CampaignView | null> {
    try {
      return await this.start(name, { identityId: null, actor: 'system:review-schedule' });
    } catch (err) {
      if (err instanceof GovernanceError && err.kind === 'conflict') return null;
      throw err;
    }
  }

  /** One campaign with its counts. */
  async get(id: string): Promise<CampaignView> {
    const record = await getCampaign(this.db, id);
    return campaignView(record, await campaignCounts(this.db, id));
  }

  /** Campaigns newest first, without counts. */
  async list(filter: { name?: string; status?: string }, page: { limit: number; after?: string }): Promise<{ campaigns: CampaignView[]; next?: string }> {
    const { campaigns, next } = await listCampaigns(this.db, filter, page);
    return { campaigns: campaigns.map((c) => campaignView(c)), ...(next !== undefined && { next }) };
  }

  /** The items a reviewer may see (see items.ts), keyset-paged by id. */
  async itemsFor(reviewerId: string, filter: { campaignId?: string; undecidedOnly?: boolean }, page: { limit: number; after?: number }): Promise<{ items: ReviewItemView[]; next?: number }> {
    return itemsFor(this.db, reviewerId, filter, page);
  }

  /** Keep or revoke items, all or none (see decide.ts for who may, and when). */
  async decide(itemIds: number[], decision: { decision: Decision; comment?: string }, by: Actor): Promise<DecideResult> {
    return decideItems(this.db, this.deps.grants, this.clock, itemIds, decision, by);
  }

  /** Closes a running campaign now: undecided items get the definition's outcome, revocations are carried out. */
  async close(campaignId: string, by: Actor): Promise<CampaignView> {
    await closeCampaign(this.deps, campaignId, by);
    return this.get(campaignId);
  }

  /** The report as CSV (one row per item) or JSON (counts, completion per reviewer, revocations, decisions), streamed. */
  async report(campaignId: string, format: 'csv' | 'json'): Promise<AsyncGenerator<string>> {
    const campaign = await getCampaign(this.db, campaignId);
    return format === 'csv' ? decisionsCsv(this.db, campaignId) : reportJson(this.db, campaign);
  }

  /**
   * What time does: stages that are over advance (or the campaign closes after its last),
   * undecided items escalate, reviewers are reminded; campaigns whose start, advance or close
   * stopped half way are cleaned up or finished. Run by the governance job.
   */
  async tick(): Promise<{ reminded: number; escalated: number; advanced: number; closed: number }> {
    const now = this.clock();
    const system: Actor = { identityId: null, actor: TICK_ACTOR };
    const out = { reminded: 0, escalated: 0, advanced: 0, closed: 0 };
    for (const campaign of await campaignsIn(this.db, LIVE_STATUSES)) {
      const since = Date.parse(((campaign.summary ?? {}) as Progress).since ?? campaign.started);
      if (campaign.status === 'starting') {
        if (now.getTime() - Date.parse(campaign.started) > STALE_MS) await failStart(this.db, campaign.id, 'the start did not finish (the process ended?)', TICK_ACTOR);
        continue;
      }
      if (campaign.status === 'closing') {
        if (now.getTime() - since > RESUME_MS) {
          await closeCampaign(this.deps, campaign.id, system, true);
          out.closed++;
        }
        continue;
      }
      if (campaign.status === 'advancing') {
        if (now.getTime() - since > RESUME_MS) await this.advanceOrClose(campaign.id, system, true, out);
        continue;
      }
      if (campaign.stageEnds <= now.toISOString()) {
        if (campaign.stage + 1 >= campaign.stages) {
          await this.closeQuietly(campaign.id, system, out);
        } else {
          await this.advanceOrClose(campaign.id, system, false, out);
        }
        continue;
      }
      out.escalated += await escalate(this.deps, campaign);
      out.reminded += await remind(this.deps, campaign);
    }
    return out;
  }

  private async advanceOrClose(id: string, by: Actor, resume: boolean, out: { advanced: number; closed: number }): Promise<void> {
    const carried = await advanceCampaign(this.deps, id, resume);
    if (carried === undefined) return;
    out.advanced++;
    // Nothing was kept: no one has anything to review in the next stage.
    if (carried === 0) await this.closeQuietly(id, by, out);
  }

  private async closeQuietly(id: string, by: Actor, out: { closed: number }): Promise<void> {
    try {
      await closeCampaign(this.deps, id, by);
      out.closed++;
    } catch (err) {
      // Closed by hand meanwhile.
      if (!(err instanceof GovernanceError && err.kind === 'conflict')) throw err;
    }
  }

  /**
   * Definitions with a schedule, for the scheduler: the config file's, and the stored ones as
   * last read by refreshScheduled() (called once at start-up; PUT and DELETE keep it current
   * in this process).
   */
  scheduledDefinitions(): { name: string; schedule: string }[] {
    return [...this.definitions.configScheduled(), ...this.storedScheduled];
  }

  /** Reads the stored definitions' schedules again; returns scheduledDefinitions(). */
  async refreshScheduled(): Promise<{ name: string; schedule: string }[]> {
    const configured = new Set(this.definitions.configScheduled().map((c) => c.name));
    this.storedScheduled = (await this.definitions.scheduled()).filter((s) => !configured.has(s.name));
    return this.scheduledDefinitions();
  }

  /** Creates or replaces a stored definition (see ReviewDefinitions.put). */
  async putDefinition(name: string, input: unknown, ctx: ChangeContext): Promise<Awaited<ReturnType<ReviewDefinitions['put']>>> {
    const result = await this.definitions.put(name, input, ctx);
    await this.refreshScheduled();
    return result;
  }

  /** Deletes a stored definition. */
  async deleteDefinition(name: string, ctx: ChangeContext): Promise<void> {
    await this.definitions.delete(name, ctx);
    await this.refreshScheduled();
  }

  /** Reassigns the undecided items of these leavers (in their transaction); the lifecycle calls it for leavers. */
  async leaversLeft(tx: Transaction, identityIds: readonly string[], ctx: ChangeContext): Promise<void> {
    await reassignLeavers(tx, this.config, identityIds, ctx, this.clock());
  }
}
