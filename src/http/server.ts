import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import { Database } from '../db/database.js';
import { redactDatabaseUrl } from '../db/data-source.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createApp, createServices, type AppServices } from './app.js';

/** A running server and how to stop it. */
export interface RunningServer {
  url: string;
  services: AppServices;
  close(graceMs?: number): Promise<void>;
}

/** Connects, migrates, and listens; resolves once the port is bound. */
export async function startServer(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  await Database.ensureExists(config.databaseUrl);
  const db = await Database.connect(config.databaseUrl);
  const applied = await db.migrate();
  if (applied.length) log.info({ migrations: applied }, 'applied migrations');
  const services = createServices(config, db, log);
  const app = await createApp(services);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  // Keep-alive longer than typical load balancers' idle timeout, so they close first.
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log.info({ url, database: redactDatabaseUrl(config.databaseUrl) }, 'listening');
  return {
    url,
    services,
    /** Stops accepting connections, lets requests in flight finish (up to the grace period), then closes the database. */
    async close(graceMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(force);
      await db.close();
    },
  };
}
