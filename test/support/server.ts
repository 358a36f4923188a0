import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { configWith, type Config } from '../../src/config/index.js';
import { closeServices, createApp, createServices, type AppServices, type ServiceOptions } from '../../src/http/app.js';
import { createLogger } from '../../src/log/logger.js';
import type { Database } from '../../src/db/database.js';
import { scimClient, type ScimClient } from './scim-client.js';

/** A server on an ephemeral port over a test database, with its captured log lines. */
export interface TestServer {
  url: string;
  scimUrl: string;
  /** base URL of the REST API, `${url}/api/v1` */
  apiUrl: string;
  services: AppServices;
  logLines: string[];
  /** Creates a token with the given scopes (belonging to `identity`, a userName or id, when given) and returns its text. */
  token(scopes?: string, name?: string, identity?: string): Promise<string>;
  close(): Promise<void>;
}

let tokenCounter = 0;

/** Starts the real Koa app on 127.0.0.1:0 against `db`. */
export async function startTestServer(db: Database, overrides: Parameters<typeof configWith>[0] = {}, options: ServiceOptions = {}): Promise<TestServer> {
  const config: Config = configWith({ port: 0, logLevel: 'info', ...overrides });
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const services = await createServices(config, db, createLogger('info', sink), options);
  const app = await createApp(services);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  services.mailer.baseUrl = url;
  return {
    url,
    scimUrl: `${url}/scim/v2`,
    apiUrl: `${url}/api/v1`,
    services,
    logLines,
    async token(scopes = 'scim:read,scim:write', name = `test-${process.pid}-${++tokenCounter}-${Date.now()}`, identity?: string) {
      return (await services.tokens.create(name, scopes, 'test:setup', identity)).token;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await closeServices(services);
    },
  };
}

/**
 * Starts a server over a suite's database before its tests, with a client holding a read-write
 * token, and closes it after; `ready` receives both once they exist.
 */
export function withScimServer(database: () => { db: Database }, ready: (server: TestServer, scim: ScimClient) => void): void {
  let server: TestServer | undefined;
  before(async () => {
    server = await startTestServer(database().db);
    ready(server, scimClient(server.scimUrl, await server.token()));
  });
  after(() => server?.close());
}
