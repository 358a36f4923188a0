/*
 * The HR drop folder: HR (or a file transfer) writes feed files into config.hr.dropFolder, and a
 * scheduled job imports each one through FeedService, then moves it to processed/ (or to failed/
 * when it could not be imported) with its report beside it as `<name>.report.json`.
 *
 * When a file is complete. A file is imported once either
 *   - its marker `<name>.done` exists beside it (`people.csv.done`, any content): the writer's
 *     word that it has finished; the marker is deleted when the file is taken; or
 *   - its size and modification time are the same as at this process's previous look, one poll
 *     earlier: nothing has written to it for a whole schedule interval.
 * The marker is the safe way for a writer that can stall for longer than the interval; the second
 * rule serves writers that cannot write one, at the cost of one interval's delay.
 *
 * Several server instances may poll one shared folder. Each file is taken by renaming it into
 * processing/ under `<claim time ms>--<name>`: a rename is atomic, so exactly one instance gets
 * it. A file left in processing/ longer than `staleAfterMs` is from a run that died (kill -9, a
 * crash); it is put back in the folder to be imported again, which is safe: importing a feed a
 * second time changes nothing that was already applied.
 *
 * Files are taken oldest first (modification time, then name): feeds must apply in the order HR
 * wrote them.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Config } from '../config/index.js';
import { installPath } from '../config/paths.js';
import type { JobDefinition } from '../jobs/scheduler.js';
import type { Logger } from '../log/logger.js';
import type { FeedReport, FeedService, FeedStatus } from './feed-service.js';
import { HrMappingError } from './hr-feed/mapping.js';
import { HrFeedError } from './hr-feed/read.js';

/** The job's name in the scheduler and in job_runs. */
export const DROP_FOLDER_JOB = 'hr-drop-folder';
/** Who drop-folder imports are audited as. */
export const DROP_FOLDER_ACTOR = `system:${DROP_FOLDER_JOB}`;

const FEED_FILE = /\.(csv|json)$/i;
const MARKER = '.done';
const CLAIMED = /^(\d{13})--(.+)$/;
const DEFAULT_STALE_AFTER_MS = 60 * 60 * 1000;

/** Where the folder is, what imports its files, and (for tests) the clock. */
export interface DropFolderOptions {
  /** the folder polled; relative paths are read from the installation directory */
  folder: string;
  feeds: Pick<FeedService, 'import'>;
  log: Logger;
  /** the time claims are stamped with and staleness is judged by; default the system clock */
  clock?: () => Date;
  /** how long a file may sit in processing/ before it counts as left by a run that died; default one hour */
  staleAfterMs?: number;
}

/** What one poll did, file by file: the job's outcome. */
export interface DropFolderSummary {
  imported: Array<{ file: string; feedId: string; status: FeedStatus; movedTo: string }>;
  failed: Array<{ file: string; error: string; movedTo: string }>;
  /** feed files not taken yet: still being written, or seen for the first time without a marker */
  waiting: string[];
  /** files of interrupted runs put back into the folder */
  requeued: string[];
}

/** The report written beside a file that could not be imported. */
export interface DropFolderFailure {
  file: string;
  /** unreadable: the file itself (its header, encoding, the mapping) is at fault and must be fixed; failed: importing it failed and it may be dropped again as it is */
  status: 'unreadable' | 'failed';
  error: string;
  at: string;
}

interface Look {
  size: number;
  mtimeMs: number;
}

const exists = async (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
const isMissing = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** One drop folder, polled by `poll()`; it remembers what it saw last time to tell when a file stopped growing. */
export class DropFolder {
  readonly path: string;
  private readonly clock: () => Date;
  private readonly staleAfterMs: number;
  /** each waiting file's size and time at the previous look */
  private looks = new Map<string, Look>();

  constructor(private readonly options: DropFolderOptions) {
    this.path = installPath(options.folder);
    this.clock = options.clock ?? (() => new Date());
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  }

  /** Imports every complete feed file, oldest first; `requestId` goes into each feed's audit event. */
  async poll(requestId?: string): Promise<DropFolderSummary> {
    const summary: DropFolderSummary = { imported: [], failed: [], waiting: [], requeued: [] };
    // A folder that is not there is a mistake in the configuration (or an unmounted share), not
    // something to create: nobody would be writing into it.
    const folder = await stat(this.path).catch((err: Error) => {
      throw new Error(`the HR drop folder ${this.path} cannot be read: ${err.message}`);
    });
    if (!folder.isDirectory()) throw new Error(`the HR drop folder ${this.path} is not a directory`);
    for (const dir of ['processing', 'processed', 'failed']) await mkdir(join(this.path, dir), { recursive: true });
    summary.requeued = await this.requeueStale();
    // A file put back was complete when it was first taken: it need not wait for a second look.
    const complete = new Set(summary.requeued);

    const entries = await readdir(this.path, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    const candidates: Array<{ name: string; look: Look; marked: boolean }> = [];
    for (const entry of entries) {
      if (!entry.isFile() || entry.name.startsWith('.') || !FEED_FILE.test(entry.name)) continue;
      let info;
      try {
        info = await stat(join(this.path, entry.name));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      candidates.push({ name: entry.name, look: { size: info.size, mtimeMs: info.mtimeMs }, marked: names.has(`${entry.name}${MARKER}`) });
    }
    candidates.sort((a, b) => a.look.mtimeMs - b.look.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

    const looks = new Map<string, Look>();
    for (const { name, look, marked } of candidates) {
      const previous = this.looks.get(name);
      const settled = previous !== undefined && previous.size === look.size && previous.mtimeMs === look.mtimeMs;
      if (!marked && !settled && !complete.has(name)) {
        looks.set(name, look);
        summary.waiting.push(name);
        continue;
      }
      await this.take(name, requestId, summary);
    }
    // Files that went away (taken by another instance, deleted) are forgotten.
    this.looks = looks;
    return summary;
  }

  /** Claims one file, imports it and files it with its report. */
  private async take(name: string, requestId: string | undefined, summary: DropFolderSummary): Promise<void> {
    const claimed = join(this.path, 'processing', `${this.clock().getTime()}--${name}`);
    try {
      await rename(join(this.path, name), claimed);
    } catch (err) {
      // Another instance took it first.
      if (isMissing(err)) return;
      throw err;
    }
    await unlink(join(this.path, `${name}${MARKER}`)).catch((err: unknown) => {
      if (!isMissing(err)) throw err;
    });

    const log = this.options.log.child({ file: name });
    let report: FeedReport;
    try {
      report = await this.options.feeds.import({
        content: createReadStream(claimed),
        fileName: name,
        source: 'drop-folder',
        actor: DROP_FOLDER_ACTOR,
        ...(requestId !== undefined && { requestId }),
      });
    } catch (err) {
      const unreadable = err instanceof HrFeedError || err instanceof HrMappingError;
      const failure: DropFolderFailure = { file: name, status: unreadable ? 'unreadable' : 'failed', error: (err as Error).message, at: this.clock().toISOString() };
      const movedTo = await this.file(claimed, name, 'failed', failure);
      log[unreadable ? 'warn' : 'error']({ err, movedTo }, unreadable ? 'HR feed file could not be read' : 'HR feed file import failed');
      summary.failed.push({ file: name, error: failure.error, movedTo });
      return;
    }
    const movedTo = await this.file(claimed, name, 'processed', report);
    log.info({ feedId: report.feedId, status: report.status, counts: report.counts, movedTo }, 'HR feed file imported');
    summary.imported.push({ file: name, feedId: report.feedId, status: report.status, movedTo });
  }

  /**
   * Moves a claimed file into `dir` with its report beside it, the report first, so a file found
   * in processed/ or failed/ always has one. The file keeps its name unless that is taken (the
   * same export name every day): then the time goes before the extension.
   */
  private async file(claimed: string, name: string, dir: 'processed' | 'failed', report: unknown): Promise<string> {
    let target = join(this.path, dir, name);
    if ((await exists(target)) || (await exists(`${target}.report.json`))) {
      const ext = extname(name);
      const stamp = this.clock().toISOString().replace(/:/g, '-');
      target = join(this.path, dir, `${name.slice(0, name.length - ext.length)}.${stamp}${ext}`);
    }
    await writeFile(`${target}.report.json`, `${JSON.stringify(report, null, 2)}\n`);
    await rename(claimed, target);
    return target;
  }

  /** Puts files claimed longer ago than staleAfterMs back into the folder. */
  private async requeueStale(): Promise<string[]> {
    const requeued: string[] = [];
    const now = this.clock().getTime();
    for (const claim of await readdir(join(this.path, 'processing'))) {
      const match = CLAIMED.exec(claim);
      if (!match || now - Number(match[1]) < this.staleAfterMs) continue;
      const name = match[2]!;
      if (await exists(join(this.path, name))) {
        this.options.log.warn({ file: name, claim }, 'an interrupted HR feed import cannot be put back: a file of the same name is waiting in the drop folder');
        continue;
      }
      try {
        await rename(join(this.path, 'processing', claim), join(this.path, name));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      this.options.log.warn({ file: name, claimedAt: new Date(Number(match[1])).toISOString() }, 'HR feed file of an interrupted import put back into the drop folder');
      requeued.push(name);
    }
    return requeued;
  }
}

/**
 * The scheduled job polling config.hr.dropFolder every config.hr.dropSchedule; undefined when no
 * folder is configured (the poll is off).
 */
export function dropFolderJob(config: Config, feeds: Pick<FeedService, 'import'>, log: Logger, options: Pick<DropFolderOptions, 'clock' | 'staleAfterMs'> = {}): JobDefinition | undefined {
  if (config.hr.dropFolder.trim() === '') return undefined;
  const folder = new DropFolder({ folder: config.hr.dropFolder, feeds, log, ...options });
  return {
    name: DROP_FOLDER_JOB,
    schedule: config.hr.dropSchedule,
    run: ({ job, slot }) => folder.poll(`${job}:${slot}`),
  };
}
