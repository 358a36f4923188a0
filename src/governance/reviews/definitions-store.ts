/*
 * Campaign definitions: those in the config file (`reviews.campaigns`, read-only here) and those
 * made through the API (table review_definitions). A name the config uses cannot be defined
 * through the API, so a name always means one definition.
 */
import { recordAudit } from '../../audit/recorder.js';
import type { Config } from '../../config/index.js';
import { forUpdate, uniqueViolation, type Database, type Sql } from '../../db/database.js';
import type { ChangeContext } from '../../identity/resources.js';
import { describeIssues } from '../../policy/model.js';
import { campaignDefinition, campaignName, type CampaignDefinition } from '../definitions.js';
import { GovernanceError } from '../errors.js';

/** A definition with where it comes from. */
export interface DefinitionView {
  name: string;
  source: 'config' | 'api';
  definition: CampaignDefinition;
  createdBy: string | null;
  created: string | null;
  updated: string | null;
}

interface DefinitionRow {
  name: string;
  definition: string;
  created_by: string;
  created: string;
  updated: string;
}

const COLUMNS = 'name, definition, created_by, created, updated';

/** The stored definition of this name; with `lock`, its row stays locked until the transaction ends. */
async function storedRow(sql: Sql, name: string, lock = false): Promise<DefinitionRow | undefined> {
  const [row] = await sql.query<DefinitionRow>(`SELECT ${COLUMNS} FROM review_definitions WHERE name = ?${lock ? forUpdate(sql.dialect) : ''}`, [name]);
  return row;
}

function fromRow(row: DefinitionRow): DefinitionView {
  return {
    name: row.name, source: 'api', definition: campaignDefinition.parse(JSON.parse(row.definition)),
    createdBy: row.created_by, created: row.created, updated: row.updated,
  };
}

/** Reads and writes campaign definitions. */
export class ReviewDefinitions {
  constructor(private readonly db: Database, private readonly config: Config, private readonly clock: () => Date) {}

  private fromConfig(name: string): DefinitionView | undefined {
    const definition = Object.hasOwn(this.config.reviews.campaigns, name) ? this.config.reviews.campaigns[name] : undefined;
    return definition && { name, source: 'config', definition, createdBy: null, created: null, updated: null };
  }

  /** Every definition: the config's first, then the stored ones, each by name. */
  async list(): Promise<DefinitionView[]> {
    const configured = Object.keys(this.config.reviews.campaigns).sort().map((name) => this.fromConfig(name)!);
    const rows = await this.db.query<DefinitionRow>(`SELECT ${COLUMNS} FROM review_definitions ORDER BY name`);
    return [...configured, ...rows.map(fromRow)];
  }

  /** One definition by name, or undefined. */
  async find(name: string): Promise<DefinitionView | undefined> {
    const configured = this.fromConfig(name);
    if (configured) return configured;
    const row = await storedRow(this.db, name);
    return row && fromRow(row);
  }

  /** One definition by name; notFound when there is none. */
  async get(name: string): Promise<DefinitionView> {
    const found = await this.find(name);
    if (!found) throw new GovernanceError('notFound', `review definition ${name} does not exist`);
    return found;
  }

  /** Creates or replaces a stored definition; refused (conflict) for a name the config file uses. */
  async put(name: string, input: unknown, ctx: ChangeContext): Promise<{ created: boolean; definition: DefinitionView }> {
    if (!campaignName.safeParse(name).success) throw new GovernanceError('invalid', `${name} is not a campaign name: 1-64 lowercase letters, digits, ".", "_" or "-"`);
    if (this.fromConfig(name)) throw new GovernanceError('conflict', `review definition ${name} comes from the config file; change it there, or use another name`);
    const parsed = campaignDefinition.safeParse(input);
    if (!parsed.success) throw new GovernanceError('invalid', `the review definition is not valid: ${describeIssues(parsed.error)}`);
    const now = this.clock().toISOString();
    const text = JSON.stringify(parsed.data);
    const write = () => this.db.transaction(async (tx) => {
      const existing = await storedRow(tx, name, true);
      if (existing) {
        await tx.execute('UPDATE review_definitions SET definition = ?, updated = ? WHERE name = ?', [text, now, name]);
      } else {
        await tx.execute('INSERT INTO review_definitions (name, definition, created_by, created, updated) VALUES (?, ?, ?, ?, ?)', [name, text, ctx.actor, now, now]);
      }
      await recordAudit(tx, {
        actor: ctx.actor, action: existing ? 'review.definition.update' : 'review.definition.create', targetType: 'review_definition', targetId: name,
        requestId: ctx.requestId, details: { ...(existing && { before: JSON.parse(existing.definition) as unknown }), after: parsed.data },
      });
      return {
        created: !existing,
        definition: { name, source: 'api' as const, definition: parsed.data, createdBy: existing?.created_by ?? ctx.actor, created: existing?.created ?? now, updated: now },
      };
    });
    try {
      return await write();
    } catch (err) {
      // Two first PUTs of one name at once: the loser finds the winner's row and updates it.
      if (uniqueViolation(err) !== undefined) return write();
      throw err;
    }
  }

  /** Deletes a stored definition; campaigns already started from it keep their copy. */
  async delete(name: string, ctx: ChangeContext): Promise<void> {
    if (this.fromConfig(name)) throw new GovernanceError('conflict', `review definition ${name} comes from the config file and cannot be deleted through the API`);
    await this.db.transaction(async (tx) => {
      const existing = await storedRow(tx, name, true);
      if (!existing) throw new GovernanceError('notFound', `review definition ${name} does not exist`);
      await tx.execute('DELETE FROM review_definitions WHERE name = ?', [name]);
      await recordAudit(tx, {
        actor: ctx.actor, action: 'review.definition.delete', targetType: 'review_definition', targetId: name, requestId: ctx.requestId,
        details: { before: JSON.parse(existing.definition) as unknown },
      });
    });
  }

  /** The definitions that start by themselves: name and cron schedule. */
  async scheduled(): Promise<{ name: string; schedule: string }[]> {
    return (await this.list()).filter((d) => d.definition.schedule !== undefined).map((d) => ({ name: d.name, schedule: d.definition.schedule! }));
  }

  /** The config file's scheduled definitions, without reading the database. */
  configScheduled(): { name: string; schedule: string }[] {
    return Object.entries(this.config.reviews.campaigns).filter(([, d]) => d.schedule !== undefined).map(([name, d]) => ({ name, schedule: d.schedule! }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}
