import type { Context } from 'koa';

/** Why a request body was refused; the edge renders it in its own error format. */
export class BodyError extends Error {
  constructor(readonly status: 400 | 413 | 415, message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

const JSON_TYPES = ['application/scim+json', 'application/json'];

/**
 * Reads a JSON body of at most `limit` bytes. SCIM and plain JSON media types are accepted, and a
 * body with no content type is read as JSON; reading stops as soon as the limit is passed.
 */
export async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
  const type = (ctx.get('content-type') || '').split(';')[0]!.trim().toLowerCase();
  if (type && !JSON_TYPES.includes(type)) {
    throw new BodyError(415, `content type ${type} is not accepted; send application/scim+json or application/json`);
  }
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > limit) throw new BodyError(413, `the body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.unpipe?.();
      ctx.req.resume();
      throw new BodyError(413, `the body is larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') throw new BodyError(400, 'the request needs a JSON body');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BodyError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
}
