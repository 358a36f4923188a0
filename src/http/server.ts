import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import { Database } from '../db/database.js';
import { redactDatabaseUrl } from '../db/data-source.js';
import { createLogger, type Logger } from '../log/logger.js';
import { seedPolicyIfEmpty } from '../policy/seed.js';
import { JobScheduler } from '../jobs/scheduler.js';
import { registerServerJobs } from '../jobs/server-jobs.js';
import { closeServices, createApp, createServices, type AppServices, type ServiceOptions } from './app.js';

/** A running server and how to stop it. */
export interface RunningServer {
  url: string;
  services: AppServices;
  close(graceMs?: number): Promise<void>;
}

/** Connects, migrates, seeds the policy on first start, and listens; resolves once the port is bound. */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel), options: ServiceOptions = {}): Promise<RunningServer> {
  await Database.ensureExists(config.databaseUrl);
  const db = await Database.connect(config.databaseUrl);
  const applied = await db.migrate();
  if (applied.length) log.info({ migrations: applied }, 'applied migrations');
  let services: AppServices;
  try {
    services = await createServices(config, db, log, options);
  } catch (err) {
    await db.close();
    throw err;
  }
  let server: Server;
  const scheduler = new JobScheduler(db, log, { registry: services.metrics.registry });
  try {
    await registerServerJobs(scheduler, services);
    await seedPolicyIfEmpty(db, services.policyStore, config.policy.seedFile, log);
    const app = await createApp(services);
    server = await new Promise((resolve, reject) => {
      const s = app.listen(config.port, config.host, () => resolve(s));
      s.once('error', reject);
    });
    scheduler.start();
    // Hires and terminations that came due while the server was down are applied now.
    void scheduler.runNow('effective-dates');
    if (config.outbox.runWorkers) services.outbox.start();
  } catch (err) {
    await scheduler.stop();
    await closeServices(services);
    await db.close();
    throw err;
  }
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  services.mailer.baseUrl = config.publicUrl ? config.publicUrl.replace(/\/$/, '') : url;
  log.info({ url, database: redactDatabaseUrl(config.databaseUrl) }, 'listening');
  return {
    url,
    services,
    /** Stops accepting connections, lets requests in flight finish (up to the grace period), stops the jobs, the outbox worker and the policy engine, then closes the database. */
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      await scheduler.stop();
      await closeServices(services);
      await db.close();
    },
  };
}
