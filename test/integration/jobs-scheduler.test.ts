import { expect } from 'chai';
import { Registry } from 'prom-client';
import { Database } from '../../src/db/database.js';
import { JobRunCoordinator, type JobRunRow } from '../../src/jobs/run-coordinator.js';
import { JobScheduler, type JobContext } from '../../src/jobs/scheduler.js';
import { createLogger } from '../../src/log/logger.js';
import { onEachDatabase } from '../support/databases.js';

const silent = createLogger('silent');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

onEachDatabase('job scheduler', (database, kind) => {
  /**
   * Where the second instance talks to the database. On MariaDB, a second connection pool:
   * another server instance, as far as the database can tell. SQLite serves one process, and two
   * connections in one process cannot share it (better-sqlite3 waits for a lock synchronously,
   * so the holder can never commit): there the second scheduler shares the connection.
   */
  let other: Database;
  let jobCounter = 0;
  /** A job name no other test of the suite uses. */
  const jobName = (what: string) => `${what}-${++jobCounter}`;
  const rows = (job: string) => database().db.query<JobRunRow>('SELECT job, slot, instance, claimed, finished, outcome FROM job_runs WHERE job = ? ORDER BY slot', [job]);

  /**
   * Runs `job` every second on both schedulers for 3.5 s, then stops them; checks that slots ran
   * and that none ran twice, and returns the slots in the order they ran.
   */
  async function runOnBoth(schedulers: JobScheduler[], job: string, run: (context: JobContext, scheduler: JobScheduler) => Promise<unknown>): Promise<string[]> {
    const slots: string[] = [];
    for (const scheduler of schedulers) {
      scheduler.register({ name: job, schedule: '* * * * * *', run: (context) => { slots.push(context.slot); return run(context, scheduler); } });
      scheduler.start();
    }
    await sleep(3_500);
    await Promise.all(schedulers.map((s) => s.stop()));
    expect(slots.length, 'slots run in 3.5 s').to.be.at.least(2);
    expect(new Set(slots).size, `a slot ran twice: ${slots.join(', ')}`).to.equal(slots.length);
    return slots;
  }

  before(async () => {
    other = kind === 'mariadb' ? await Database.connect(database().url) : database().db;
  });
  after(async () => {
    if (kind === 'mariadb') await other?.close();
  });

  it('lets exactly one of many concurrent claims of a slot win, across two instances', async () => {
    const a = new JobRunCoordinator(database().db, 'instance-a');
    const b = new JobRunCoordinator(other, 'instance-b');
    const job = jobName('claim');
    const slot = '2026-01-05T10:05:00.000Z';
    const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).claim(job, slot)));
    expect(claims.filter(Boolean)).to.have.length(1);
    const [row, ...rest] = await rows(job);
    expect(rest).to.deep.equal([]);
    expect(row!.instance).to.equal(claims.indexOf(true) % 2 === 0 ? 'instance-a' : 'instance-b');
    expect(row!.finished).to.equal(null);
    // A slot stays claimed: the same instance asking again is refused too.
    expect(await a.claim(job, slot)).to.equal(false);
    expect(await b.claim(job, slot)).to.equal(false);
    expect(await a.claim(job, '2026-01-05T10:10:00.000Z')).to.equal(true);
  });

  it('runs each slot once when two schedulers on one database share a job, and records who ran it and how', async function () {
    this.timeout(15_000);
    const job = jobName('every-second');
    const ran: Array<{ slot: string; instance: string }> = [];
    const schedulers = [new JobScheduler(database().db, silent, { instance: 'first' }), new JobScheduler(other, silent, { instance: 'second' })];
    const slots = await runOnBoth(schedulers, job, async (context, scheduler) => {
      ran.push({ slot: context.slot, instance: scheduler.instance });
      expect(context.reason).to.equal('scheduled');
      expect(context.scheduledAt.toISOString()).to.equal(context.slot);
      return { by: scheduler.instance };
    });
    for (const slot of slots) expect(new Date(slot).getUTCMilliseconds(), 'slots are whole seconds').to.equal(0);

    const stored = await rows(job);
    expect(stored.map((r) => r.slot)).to.deep.equal([...slots].sort());
    // Stopped schedulers claim nothing more.
    await sleep(1_200);
    expect(await rows(job)).to.have.length(stored.length);
    for (const row of stored) {
      const run = ran.find((r) => r.slot === row.slot)!;
      expect(row.instance, row.slot).to.equal(run.instance);
      expect(row.finished, row.slot).to.be.a('string');
      expect(row.finished! >= row.claimed, 'finished after claimed').to.equal(true);
      const outcome = JSON.parse(row.outcome!) as { ok: boolean; result: { by: string }; durationMs: number };
      expect(outcome.ok).to.equal(true);
      expect(outcome.result).to.deep.equal({ by: run.instance });
      expect(outcome.durationMs).to.be.a('number');
    }
  });

  it('records a scheduled run that fails with its error, and keeps running later slots', async function () {
    this.timeout(10_000);
    const job = jobName('failing');
    let calls = 0;
    const scheduler = new JobScheduler(database().db, silent);
    scheduler.register({ name: job, schedule: '* * * * * *', run: async () => { calls++; throw new Error(`broken feed folder #${calls}`); } });
    scheduler.start();
    await sleep(2_600);
    await scheduler.stop();
    expect(calls).to.be.at.least(2);
    const stored = await rows(job);
    expect(stored).to.have.length(calls);
    const errors = stored.map((r) => JSON.parse(r.outcome!) as { ok: boolean; error: string });
    expect(errors.every((o) => o.ok === false)).to.equal(true);
    expect(errors.map((o) => o.error).sort()).to.deep.equal(Array.from({ length: calls }, (_, i) => `broken feed folder #${i + 1}`).sort());
  });

  it('audits and counts a failed run once, on whichever instance ran it, and runs the next slot normally', async function () {
    this.timeout(15_000);
    const job = jobName('fails-once');
    const ran: Array<{ slot: string; instance: string; ok: boolean }> = [];
    const registries = [new Registry(), new Registry()];
    const schedulers = [
      new JobScheduler(database().db, silent, { instance: 'first', registry: registries[0] }),
      new JobScheduler(other, silent, { instance: 'second', registry: registries[1] }),
    ];
    await runOnBoth(schedulers, job, async (context, scheduler) => {
      // The first slot either instance runs fails; every later one succeeds.
      const ok = ran.length > 0;
      ran.push({ slot: context.slot, instance: scheduler.instance, ok });
      if (!ok) throw new Error('the HR share is offline');
      return { ok };
    });
    const [failed, ...later] = ran;
    expect(later.every((r) => r.ok), 'the slots after the failure ran normally').to.equal(true);
    const stored = await rows(job);
    expect(stored.map((r) => JSON.parse(r.outcome!).ok)).to.deep.equal(ran.map((r) => r.ok));

    // Audited once, by the job, naming the slot and the error.
    const audited = await database().db.query<{ actor: string; target_type: string; target_id: string; details: string }>(
      "SELECT actor, target_type, target_id, details FROM audit_events WHERE action = 'job.fail' AND target_id = ?", [job]);
    expect(audited.map((a) => ({ ...a, details: JSON.parse(a.details) }))).to.deep.equal([
      { actor: `system:${job}`, target_type: 'job', target_id: job, details: { slot: failed!.slot, error: 'the HR share is offline' } },
    ]);

    // Counted in /metrics on the instance that ran each slot.
    const counts = { ok: 0, failed: 0 };
    for (const [i, registry] of registries.entries()) {
      const instance = schedulers[i]!.instance;
      const runs = await registry.getSingleMetric('iam_job_runs_total')!.get();
      const mine = ran.filter((r) => r.instance === instance);
      for (const outcome of ['ok', 'failed'] as const) {
        const value = runs.values.find((v) => v.labels.job === job && v.labels.outcome === outcome)?.value ?? 0;
        expect(value, `${instance} ${outcome}`).to.equal(mine.filter((r) => r.ok === (outcome === 'ok')).length);
        counts[outcome] += value;
      }
      const lastSuccess = (await registry.getSingleMetric('iam_job_last_success_timestamp_seconds')!.get()).values.find((v) => v.labels.job === job);
      if (mine.some((r) => r.ok)) expect(lastSuccess!.value).to.be.closeTo(Date.now() / 1000, 10);
      else expect(lastSuccess).to.equal(undefined);
    }
    expect(counts).to.deep.equal({ ok: ran.length - 1, failed: 1 });
    expect(await registries[0]!.metrics()).to.include('# TYPE iam_job_runs_total counter');
  });

  it('keeps a failed run\'s outcome when the failure hook itself fails', async () => {
    const job = jobName('unaudited');
    const hooked: string[] = [];
    const scheduler = new JobScheduler(database().db, silent, {
      onFailure: async (failure) => {
        hooked.push(failure.error);
        throw new Error('audit trail unavailable');
      },
    });
    scheduler.register({ name: job, schedule: '0 0 1 1 *', run: async () => { throw new Error('disk full'); } });
    const result = await scheduler.runNow(job);
    await scheduler.stop();
    expect(result).to.include({ ok: false, error: 'disk full' });
    expect(hooked).to.deep.equal(['disk full']);
    expect(JSON.parse((await rows(job))[0]!.outcome!)).to.include({ ok: false, error: 'disk full' });
  });

  it('runNow runs at once under a now: slot, returns and records the outcome, and reports a failure without throwing', async () => {
    const clock = () => new Date('2026-03-01T08:00:00.000Z');
    const scheduler = new JobScheduler(database().db, silent, { clock, instance: 'runner' });
    const job = jobName('catch-up');
    let fail = false;
    scheduler.register({
      name: job,
      // Far in the future: only runNow runs it in this test.
      schedule: '0 0 1 1 *',
      run: async (context) => {
        expect(context.reason).to.equal('now');
        if (fail) throw new Error('cannot reach the folder');
        return { applied: 3 };
      },
    });
    const first = await scheduler.runNow(job);
    expect(first).to.include({ job, slot: 'now:2026-03-01T08:00:00.000Z', ok: true });
    expect(first.result).to.deep.equal({ applied: 3 });
    // The same millisecond again (a fixed clock): the next free millisecond names the slot.
    fail = true;
    const second = await scheduler.runNow(job);
    expect(second).to.include({ slot: 'now:2026-03-01T08:00:00.001Z', ok: false, error: 'cannot reach the folder' });

    const stored = await rows(job);
    expect(stored.map((r) => [r.slot, r.instance, r.claimed, r.finished])).to.deep.equal([
      ['now:2026-03-01T08:00:00.000Z', 'runner', '2026-03-01T08:00:00.000Z', '2026-03-01T08:00:00.000Z'],
      ['now:2026-03-01T08:00:00.001Z', 'runner', '2026-03-01T08:00:00.000Z', '2026-03-01T08:00:00.000Z'],
    ]);
    expect(JSON.parse(stored[0]!.outcome!)).to.deep.include({ ok: true, result: { applied: 3 } });
    expect(JSON.parse(stored[1]!.outcome!)).to.deep.include({ ok: false, error: 'cannot reach the folder' });
    expect((await scheduler.recentRuns(job)).map((r) => r.slot)).to.deep.equal(['now:2026-03-01T08:00:00.001Z', 'now:2026-03-01T08:00:00.000Z']);
    await scheduler.stop();
  });

  it('never overlaps two runs of one job in one process, and stop() waits for the run in flight', async () => {
    const scheduler = new JobScheduler(database().db, silent);
    const job = jobName('slow');
    let running = 0;
    let most = 0;
    let finished = 0;
    scheduler.register({
      name: job,
      schedule: '0 0 1 1 *',
      run: async () => {
        running++;
        most = Math.max(most, running);
        await sleep(150);
        running--;
        finished++;
      },
    });
    const runs = [scheduler.runNow(job), scheduler.runNow(job), scheduler.runNow(job)];
    await sleep(20);
    await scheduler.stop();
    // stop() returned: every run that had started or was queued is over and recorded.
    expect(finished).to.equal(3);
    expect(most).to.equal(1);
    const results = await Promise.all(runs);
    expect(new Set(results.map((r) => r.slot)).size).to.equal(3);
    const stored = await rows(job);
    expect(stored).to.have.length(3);
    expect(stored.every((r) => r.finished !== null)).to.equal(true);
    let error: Error | undefined;
    try {
      await scheduler.runNow(job);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.equal('the scheduler was stopped');
  });

  it('deletes a job\'s rows older than the retention after a successful run, and leaves other jobs alone', async () => {
    const { db } = database();
    const job = jobName('pruned');
    const neighbour = jobName('neighbour');
    for (const [name, slot, claimed] of [
      [job, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
      [job, '2026-02-20T00:00:00.000Z', '2026-02-20T00:00:00.000Z'],
      [neighbour, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'],
    ]) await db.execute('INSERT INTO job_runs (job, slot, instance, claimed) VALUES (?, ?, ?, ?)', [name, slot, 'old', claimed]);
    const scheduler = new JobScheduler(db, silent, { clock: () => new Date('2026-03-01T00:00:00.000Z'), retentionDays: 30 });
    scheduler.register({ name: job, schedule: '0 0 1 1 *', run: async () => undefined });
    await scheduler.runNow(job);
    await scheduler.stop();
    expect((await rows(job)).map((r) => r.slot)).to.deep.equal(['2026-02-20T00:00:00.000Z', 'now:2026-03-01T00:00:00.000Z']);
    expect(await rows(neighbour)).to.have.length(1);
  });

  it('refuses a bad job name, a second job of one name, a schedule that is not cron, and an unknown job', async () => {
    const scheduler = new JobScheduler(database().db, silent);
    const run = async () => undefined;
    expect(() => scheduler.register({ name: 'Drop Folder', schedule: '* * * * *', run })).to.throw('job name "Drop Folder" must be lowercase');
    scheduler.register({ name: 'drop-folder', schedule: '*/5 * * * *', run });
    // Review campaign names may hold dots and underscores; a colon would split the coordination key.
    scheduler.register({ name: 'review-q1.access_review', schedule: '0 6 1 */3 *', run });
    expect(() => scheduler.register({ name: 'review:x', schedule: '* * * * *', run })).to.throw('job name "review:x" must be lowercase');
    expect(() => scheduler.register({ name: 'drop-folder', schedule: '* * * * *', run })).to.throw('job "drop-folder" is registered twice');
    expect(() => scheduler.register({ name: 'bad-schedule', schedule: 'every five minutes', run })).to.throw('job "bad-schedule": the schedule "every five minutes" is not a cron expression');
    let error: Error | undefined;
    try {
      await scheduler.runNow('nope');
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.equal('no job named "nope"; registered: drop-folder, review-q1.access_review');
    await scheduler.stop();
  });
});
