/*
 * The HTTP ceiling for the benchmarks: a bare Koa endpoint in its own process that reads a JSON
 * body and answers 201 with it, as a SCIM POST does, with no validation, database or audit.
 * Prints its URL on stdout.
 */
import Koa from 'koa';
import type { AddressInfo } from 'node:net';

const app = new Koa();
app.use(async (ctx) => {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
  ctx.status = 201;
  ctx.type = 'application/scim+json';
  ctx.body = { ...body, id: crypto.randomUUID() };
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port} \n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
