import type { Context } from 'koa';

/** Why a request body was refused; the edge renders it in its own error format. */
export class BodyError extends Error {
  constructor(readonly status: 400 | 413 | 415, message: string) {
    super(message);
    this.name = 'BodyError';
  }
}

const JSON_TYPES = ['application/scim+json', 'application/json'];

/** The media type of a Content-Type header, lowercased and without parameters ('' when there is none). */
function mediaTypeOf(header: string): string {
  // Most clients send one of the types as is: no need to split it apart.
  if (JSON_TYPES.includes(header)) return header;
  return header.split(';')[0]!.trim().toLowerCase();
}

/**
 * Reads a JSON body of at most `limit` bytes. SCIM and plain JSON media types are accepted, and a
 * body with no content type is read as JSON; reading stops as soon as the limit is passed.
 */
export async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
  const type = mediaTypeOf(ctx.get('content-type'));
  if (type && !JSON_TYPES.includes(type)) {
    throw new BodyError(415, `content type ${type} is not accepted; send application/scim+json or application/json`);
  }
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > limit) throw new BodyError(413, `the body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks = await readChunks(ctx.req, limit);
  let text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (err) {
    if (text.trim() === '') throw new BodyError(400, 'the request needs a JSON body');
    throw new BodyError(400, `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads a body of one of the media types `types` as bytes, at most `limit` of them: an uploaded
 * file, which its route parses itself. Like readJsonBody, reading stops as soon as the limit is passed.
 */
export async function readRawBody(ctx: Context, types: readonly string[], limit: number): Promise<{ mediaType: string; content: Buffer }> {
  const type = mediaTypeOf(ctx.get('content-type'));
  if (!types.includes(type)) {
    throw new BodyError(415, `${type ? `content type ${type} is not accepted` : 'the request has no content type'}; send ${types.join(' or ')}`);
  }
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > limit) throw new BodyError(413, `the body is ${declared} bytes; at most ${limit} are accepted`);
  const chunks = await readChunks(ctx.req, limit);
  return { mediaType: type, content: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
}

/**
 * Collects the request body, refusing it as soon as it passes `limit` bytes (the rest is drained
 * so the connection stays usable). Plain stream events: an async iterator per request costs more
 * than the small bodies it reads.
 */
function readChunks(req: Context['req'], limit: number): Promise<Buffer[]> {
  // A small body usually arrives with its headers, and by the time a handler asks for it the HTTP
  // parser has buffered all of it: take it at once rather than over several turns of the event loop.
  if (req.complete && req.readableFlowing === null && req.readableLength <= limit) {
    const all = req.read() as Buffer | null;
    return Promise.resolve(all === null ? [] : [all]);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // The request object ends with the request, so its listeners need no removal once it settled.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyError(413, `the body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(chunks));
    req.once('error', reject);
    // A client that hangs up mid-body: without this the read would wait forever.
    req.once('close', () => {
      if (!req.complete) reject(new BodyError(400, 'the request body was cut off before its end'));
    });
  });
}
