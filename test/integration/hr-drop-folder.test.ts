import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configWith } from '../../src/config/index.js';
import { closeServices, createServices, type AppServices } from '../../src/http/app.js';
import { JobScheduler } from '../../src/jobs/scheduler.js';
import { DROP_FOLDER_ACTOR, DROP_FOLDER_JOB, DropFolder, dropFolderJob, type DropFolderFailure } from '../../src/lifecycle/drop-folder.js';
import type { FeedReport } from '../../src/lifecycle/feed-service.js';
import { createLogger } from '../../src/log/logger.js';
import { onEachDatabase } from '../support/databases.js';
import { company, employeeId, terminated, toCsv } from '../support/hr-people.js';

const silent = createLogger('silent');
const NOW = new Date('2026-03-02T09:15:00.000Z');
const clock = () => NOW;

/** The files of a folder, sorted; subfolders end with "/". */
function listing(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name)).sort();
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

onEachDatabase('HR drop folder', (database) => {
  let services: AppServices;
  let n = 0;
  /** A fresh, empty drop folder. */
  const freshFolder = () => mkdtempSync(join(tmpdir(), `iam-drop-${++n}-`));
  const people = company(40, 'drop');
  const storedFeed = async (id: string) => (await database().db.query<{ status: string; source: string; created_by: string; file_name: string; report: string }>(
    'SELECT status, source, created_by, file_name, report FROM hr_feeds WHERE id = ?', [id]))[0]!;
  const lifecycleStatus = async (id: string) => (await database().db.query<{ status: string }>('SELECT status FROM identity_lifecycle WHERE employee_id = ?', [id]))[0]?.status;

  before(async () => {
    services = await createServices(configWith({ logLevel: 'silent' }), database().db, silent);
  });
  after(() => closeServices(services));

  const folderAt = (path: string, options: { staleAfterMs?: number } = {}) => new DropFolder({ folder: path, feeds: services.feeds, log: silent, clock, ...options });

  it('imports a file with a .done marker at once, files it in processed/ with its report, and removes the marker', async () => {
    const dir = freshFolder();
    const csv = toCsv(people);
    writeFileSync(join(dir, 'day0.csv'), csv);
    writeFileSync(join(dir, 'day0.csv.done'), '');
    const summary = await folderAt(dir).poll('test:marker');

    expect(summary.waiting).to.deep.equal([]);
    expect(summary.failed).to.deep.equal([]);
    expect(summary.imported).to.have.length(1);
    const [imported] = summary.imported;
    expect(imported).to.include({ file: 'day0.csv', status: 'applied', movedTo: join(dir, 'processed', 'day0.csv') });
    expect(listing(dir)).to.deep.equal(['failed/', 'processed/', 'processing/']);
    expect(listing(join(dir, 'processed'))).to.deep.equal(['day0.csv', 'day0.csv.report.json']);
    expect(listing(join(dir, 'processing'))).to.deep.equal([]);
    expect(readFileSync(join(dir, 'processed', 'day0.csv'), 'utf8')).to.equal(csv);

    const report = readJson<FeedReport>(join(dir, 'processed', 'day0.csv.report.json'));
    const row = await storedFeed(imported!.feedId);
    expect(report).to.deep.equal(JSON.parse(row.report));
    expect(row).to.include({ status: 'applied', source: 'drop-folder', created_by: DROP_FOLDER_ACTOR, file_name: 'day0.csv' });
    expect(report.counts).to.include({ joiner: 40 });
    const [audit] = await database().db.query<{ actor: string; request_id: string }>('SELECT actor, request_id FROM audit_events WHERE action = ? AND target_id = ?', ['hr.feed.import', imported!.feedId]);
    expect(audit).to.deep.equal({ actor: DROP_FOLDER_ACTOR, request_id: 'test:marker' });
    expect(await lifecycleStatus(employeeId(40))).to.equal('active');
  });

  it('takes a file without a marker only once it is unchanged since the previous look', async () => {
    const dir = freshFolder();
    const folder = folderAt(dir);
    const lines = toCsv(people).split('\n');
    const path = join(dir, 'growing.csv');
    // Half written: the writer has not finished.
    writeFileSync(path, `${lines.slice(0, 20).join('\n')}\n`);
    expect(await folder.poll()).to.deep.include({ imported: [], waiting: ['growing.csv'] });
    appendFileSync(path, `${lines.slice(20).join('\n')}`);
    expect(await folder.poll(), 'it grew since the first look').to.deep.include({ imported: [], waiting: ['growing.csv'] });
    expect(existsSync(path)).to.equal(true);
    const summary = await folder.poll();
    expect(summary.waiting).to.deep.equal([]);
    expect(summary.imported.map((i) => i.file)).to.deep.equal(['growing.csv']);
    const report = readJson<FeedReport>(join(dir, 'processed', 'growing.csv.report.json'));
    // The whole file was read: every row is the stored person again, none missing or cut off.
    expect(report.counts).to.include({ unchanged: 40, rejected: 0 });
  });

  it('files a feed it cannot read in failed/ with a report saying why, and records no feed', async () => {
    const dir = freshFolder();
    const [{ n: before }] = await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM hr_feeds');
    writeFileSync(join(dir, 'broken.csv'), toCsv(people, ['employee_id', 'first_name']));
    writeFileSync(join(dir, 'broken.csv.done'), '');
    writeFileSync(join(dir, 'empty.json'), '');
    writeFileSync(join(dir, 'empty.json.done'), '');
    const summary = await folderAt(dir).poll();
    expect(summary.imported).to.deep.equal([]);
    expect(summary.failed.map((f) => f.file).sort()).to.deep.equal(['broken.csv', 'empty.json']);
    expect(listing(join(dir, 'failed'))).to.deep.equal(['broken.csv', 'broken.csv.report.json', 'empty.json', 'empty.json.report.json']);
    const failure = readJson<DropFolderFailure>(join(dir, 'failed', 'broken.csv.report.json'));
    expect(failure).to.include({ file: 'broken.csv', status: 'unreadable', at: NOW.toISOString() });
    expect(failure.error).to.match(/^the feed's header cannot be used with this mapping/);
    expect(readJson<DropFolderFailure>(join(dir, 'failed', 'empty.json.report.json')).error).to.match(/JSON/);
    const [{ n: after }] = await database().db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM hr_feeds');
    expect(Number(after)).to.equal(Number(before));
  });

  it('files a held feed in processed/ with its held report; nothing is applied until approved', async () => {
    const dir = freshFolder();
    writeFileSync(join(dir, 'truncated.csv'), toCsv(terminated(people, [31, 32, 33, 34, 35, 36, 37, 38, 39, 40])));
    writeFileSync(join(dir, 'truncated.csv.done'), 'x');
    const summary = await folderAt(dir).poll();
    expect(summary.imported).to.have.length(1);
    expect(summary.imported[0]).to.include({ file: 'truncated.csv', status: 'held' });
    const report = readJson<FeedReport>(join(dir, 'processed', 'truncated.csv.report.json'));
    expect(report.status).to.equal('held');
    expect(report.breaker.held).to.equal(true);
    expect(await lifecycleStatus(employeeId(40))).to.equal('active');
    await services.feeds.reject(report.feedId, 'test:reviewer');
  });

  it('takes files oldest first, and gives a name already in processed/ the time of processing', async () => {
    const dir = freshFolder();
    const folder = folderAt(dir);
    const older = toCsv(people.map((p, k) => (k === 9 ? { ...p, title: 'Staff Engineer' } : p)));
    const newer = toCsv(people.map((p, k) => (k === 9 ? { ...p, title: 'Principal Engineer' } : p)));
    writeFileSync(join(dir, 'b-monday.csv'), older);
    writeFileSync(join(dir, 'a-tuesday.csv'), newer);
    utimesSync(join(dir, 'b-monday.csv'), new Date('2026-03-01T08:00:00Z'), new Date('2026-03-01T08:00:00Z'));
    utimesSync(join(dir, 'a-tuesday.csv'), new Date('2026-03-02T08:00:00Z'), new Date('2026-03-02T08:00:00Z'));
    for (const name of ['a-tuesday.csv', 'b-monday.csv']) writeFileSync(join(dir, `${name}.done`), '');
    const summary = await folder.poll();
    expect(summary.imported.map((i) => i.file)).to.deep.equal(['b-monday.csv', 'a-tuesday.csv']);
    // Applied in that order: the newer title is the one that stays.
    const [identity] = await database().db.query<{ doc: string }>('SELECT doc FROM identities WHERE user_name = ?', ['drop10@example.com']);
    expect(identity!.doc).to.include('Principal Engineer');

    // The same export name again, as HR writes it every day.
    writeFileSync(join(dir, 'a-tuesday.csv'), newer);
    writeFileSync(join(dir, 'a-tuesday.csv.done'), '');
    const again = await folder.poll();
    expect(again.imported[0]!.movedTo).to.equal(join(dir, 'processed', 'a-tuesday.2026-03-02T09-15-00.000Z.csv'));
    expect(listing(join(dir, 'processed'))).to.deep.equal([
      'a-tuesday.2026-03-02T09-15-00.000Z.csv', 'a-tuesday.2026-03-02T09-15-00.000Z.csv.report.json',
      'a-tuesday.csv', 'a-tuesday.csv.report.json', 'b-monday.csv', 'b-monday.csv.report.json',
    ]);
    expect(readJson<FeedReport>(join(dir, 'processed', 'a-tuesday.2026-03-02T09-15-00.000Z.csv.report.json')).counts).to.include({ unchanged: 40 });
  });

  it('imports each file once when two instances poll one folder at the same time', async () => {
    const dir = freshFolder();
    for (let i = 1; i <= 6; i++) {
      writeFileSync(join(dir, `feed-${i}.csv`), toCsv(people.map((p, k) => (k === i ? { ...p, location: `Office ${i}` } : p))));
      writeFileSync(join(dir, `feed-${i}.csv.done`), '');
    }
    const [first, second] = await Promise.all([folderAt(dir).poll(), folderAt(dir).poll()]);
    const taken = [...first!.imported, ...second!.imported].map((i) => i.file).sort();
    expect(taken).to.deep.equal(['feed-1.csv', 'feed-2.csv', 'feed-3.csv', 'feed-4.csv', 'feed-5.csv', 'feed-6.csv']);
    const ids = [...first!.imported, ...second!.imported].map((i) => i.feedId);
    const rows = await database().db.query<{ file_name: string }>(`SELECT file_name FROM hr_feeds WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
    expect(rows).to.have.length(6);
    expect(listing(join(dir, 'processed'))).to.have.length(12);
  });

  it('puts back and imports a file a dead run left in processing/, and leaves a recent claim alone', async () => {
    const dir = freshFolder();
    mkdirSync(join(dir, 'processing'));
    const hourAndMore = NOW.getTime() - 61 * 60_000;
    const minuteAgo = NOW.getTime() - 60_000;
    writeFileSync(join(dir, 'processing', `${hourAndMore}--interrupted.csv`), toCsv(people));
    writeFileSync(join(dir, 'processing', `${minuteAgo}--in-flight.csv`), toCsv(people));
    const summary = await folderAt(dir).poll();
    expect(summary.requeued).to.deep.equal(['interrupted.csv']);
    expect(summary.imported.map((i) => [i.file, i.status])).to.deep.equal([['interrupted.csv', 'applied']]);
    expect(listing(join(dir, 'processing'))).to.deep.equal([`${minuteAgo}--in-flight.csv`]);
    expect(listing(join(dir, 'processed'))).to.deep.equal(['interrupted.csv', 'interrupted.csv.report.json']);
  });

  it('ignores what is not a feed file: other extensions, hidden files, folders and lone markers', async () => {
    const dir = freshFolder();
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, '.partial.csv'), toCsv(people));
    writeFileSync(join(dir, '.partial.csv.done'), '');
    writeFileSync(join(dir, 'gone.csv.done'), '');
    mkdirSync(join(dir, 'archive.csv'));
    const folder = folderAt(dir);
    for (let i = 0; i < 2; i++) expect(await folder.poll()).to.deep.equal({ imported: [], failed: [], waiting: [], requeued: [] });
    expect(listing(dir)).to.deep.equal(['.partial.csv', '.partial.csv.done', 'archive.csv/', 'failed/', 'gone.csv.done', 'notes.txt', 'processed/', 'processing/']);
  });

  it('fails clearly when the folder does not exist, without creating it', async () => {
    const missing = join(freshFolder(), 'not-mounted');
    let error: Error | undefined;
    try {
      await folderAt(missing).poll();
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.match(new RegExp(`^the HR drop folder ${missing} cannot be read: ENOENT`));
    expect(existsSync(missing)).to.equal(false);
  });

  it('runs as the hr-drop-folder job on hr.dropSchedule, its summary stored as the run\'s outcome; no job without a folder', async () => {
    expect(dropFolderJob(configWith({ hr: { dropFolder: '' } }), services.feeds, silent)).to.equal(undefined);
    const dir = freshFolder();
    const config = configWith({ hr: { dropFolder: dir, dropSchedule: '*/10 * * * *' } });
    const job = dropFolderJob(config, services.feeds, silent, { clock })!;
    expect(job).to.include({ name: DROP_FOLDER_JOB, schedule: '*/10 * * * *' });
    writeFileSync(join(dir, 'scheduled.csv'), toCsv(people));
    writeFileSync(join(dir, 'scheduled.csv.done'), '');
    const scheduler = new JobScheduler(database().db, silent, { clock });
    scheduler.register(job);
    const result = await scheduler.runNow(DROP_FOLDER_JOB);
    await scheduler.stop();
    expect(result.ok, result.error).to.equal(true);
    const outcome = result.result as { imported: Array<{ file: string; feedId: string }> };
    expect(outcome.imported.map((i) => i.file)).to.deep.equal(['scheduled.csv']);
    const [run] = await scheduler.recentRuns(DROP_FOLDER_JOB, 1);
    expect(JSON.parse(run!.outcome!).result).to.deep.equal(JSON.parse(JSON.stringify(outcome)));
    const [audit] = await database().db.query<{ request_id: string }>('SELECT request_id FROM audit_events WHERE action = ? AND target_id = ?', ['hr.feed.import', outcome.imported[0]!.feedId]);
    expect(audit!.request_id).to.equal(`${DROP_FOLDER_JOB}:${result.slot}`);
  });
});
