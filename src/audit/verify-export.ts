/*
 * Checks a signed audit export (signed-export.ts) without the database: the manifest's signature
 * with a trusted public key, every file's SHA-256 and size, that no file is missing or added, and
 * that the audit events link (each prev_hash the hash before it, each hash recomputed from the
 * event) and end at the chain head the manifest names.
 *
 * The public key inside the manifest proves nothing alone: whoever changed the files can sign a
 * new manifest with a key of their own and put that key in it. So a trusted key is required (the
 * server's, given by the caller), unless the caller explicitly accepts the embedded one.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cellValue, CsvReader, type ParsedCell } from './csv.js';
import { AUDIT_COLUMNS } from './export.js';
import { eventHash, GENESIS_HASH, type HashedFields } from './hash.js';
import {
  EVENTS_FILES, exportManifest, MANIFEST_FILE, publicKeyOf, signatureValid, SIGNATURE_FILE, type ExportManifest,
} from './manifest.js';

/** One thing wrong with an export: the file and why. */
export interface ExportProblem {
  file: string;
  reason: string;
}

/** What verifyExport found. */
export interface ExportVerification {
  ok: boolean;
  problems: ExportProblem[];
  /** which key the signature was checked with */
  keySource: 'given' | 'embedded';
  /** events read from the events file */
  events: number;
  manifest?: ExportManifest;
}

/** Refused: no trusted key to check the signature with. */
export class UntrustedKeyError extends Error {}

/** How an export is checked. */
export interface VerifyExportOptions {
  /** the trusted public key (PEM) */
  publicKey?: string;
  /** accept the key inside the manifest when no key is given: proves integrity since signing, not who signed */
  trustEmbeddedKey?: boolean;
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** An event read back from the events file. */
interface FileEvent extends HashedFields {
  id: number;
  prevHash: string;
  hash: string;
}

/** The events of a CSV events file, one at a time; throws naming the record that cannot be read. */
async function* csvEvents(path: string): AsyncGenerator<FileEvent> {
  const reader = new CsvReader();
  let record = 0;
  const toEvent = (cells: ParsedCell[]): FileEvent | undefined => {
    record++;
    if (record === 1) {
      if (cells.map((c) => c.text).join(',') !== AUDIT_COLUMNS.join(',')) throw new Error('its header is not the audit export header');
      return undefined;
    }
    if (cells.length !== AUDIT_COLUMNS.length) throw new Error(`record ${record} has ${cells.length} cells, not ${AUDIT_COLUMNS.length}`);
    const v = cells.map(cellValue);
    const text = (i: number) => v[i] ?? '';
    return {
      id: Number(text(0)), occurredAt: text(1), actor: text(2), action: text(3), targetType: text(4),
      targetId: v[5] ?? null, requestId: v[6] ?? null, details: text(7), prevHash: text(8), hash: text(9),
    };
  };
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    for (const cells of reader.push(chunk as string)) {
      const event = toEvent(cells);
      if (event) yield event;
    }
  }
  for (const cells of reader.end()) {
    const event = toEvent(cells);
    if (event) yield event;
  }
  if (record === 0) throw new Error('it is empty: even an export of no events has a header line');
}

/** The events of a JSON-lines events file, one at a time. */
async function* jsonlEvents(path: string): AsyncGenerator<FileEvent> {
  let rest = '';
  let line = 0;
  const parse = (text: string): FileEvent => {
    line++;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`line ${line} is not JSON`);
    }
    const str = (k: string) => (typeof e[k] === 'string' ? e[k] : '');
    const opt = (k: string) => (typeof e[k] === 'string' ? e[k] : null);
    // details were stored as JSON.stringify's output, which parsing and stringifying again reproduces.
    return {
      id: Number(e.id), occurredAt: str('occurred_at'), actor: str('actor'), action: str('action'), targetType: str('target_type'),
      targetId: opt('target_id'), requestId: opt('request_id'), details: JSON.stringify(e.details), prevHash: str('prev_hash'), hash: str('hash'),
    };
  };
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop()!;
    for (const text of lines) if (text !== '') yield parse(text);
  }
  if (rest !== '') yield parse(rest);
}

/** Checks the events file's chain; returns the number of events and the problems found. */
async function checkEvents(path: string, name: string, manifest: ExportManifest): Promise<{ events: number; problems: ExportProblem[] }> {
  const events = name.endsWith('.jsonl') ? jsonlEvents(path) : csvEvents(path);
  let count = 0;
  let previous: FileEvent | undefined;
  const problem = (reason: string) => ({ events: count, problems: [{ file: name, reason }] });
  try {
    for await (const event of events) {
      count++;
      const where = `event ${event.id} (number ${count} in the file)`;
      if (!Number.isSafeInteger(event.id) || event.id < 1) return problem(`${where}: its id is not a positive integer`);
      if (previous === undefined) {
        if (manifest.range.since === null && event.prevHash !== GENESIS_HASH) {
          return problem(`${where}: the export has no start time, yet its first event does not start the chain (events before it are missing)`);
        }
      } else {
        if (event.id <= previous.id) return problem(`${where}: ids are not in increasing order (after ${previous.id})`);
        if (event.prevHash !== previous.hash) return problem(`${where}: does not link to the event before it (an event was removed, inserted or reordered)`);
      }
      if (eventHash(event.prevHash, event) !== event.hash) return problem(`${where}: its content does not match its hash (the event was edited)`);
      previous = event;
    }
  } catch (err) {
    return problem((err as Error).message);
  }
  const head = manifest.auditChainHead;
  const endId = previous?.id ?? null;
  const endHash = previous?.hash ?? null;
  if (endId !== head.lastId || endHash !== head.hash) {
    const found = endId === null ? 'holds no events' : `ends at event ${endId}`;
    const expected = head.lastId === null ? 'no events' : `event ${head.lastId}`;
    return problem(`${found}, but the manifest's chain head is ${expected} (events were removed from or added to the end)`);
  }
  return { events: count, problems: [] };
}

/**
 * Checks a signed export folder; problems name the file and why. Throws UntrustedKeyError when
 * neither a public key nor trustEmbeddedKey is given.
 */
export async function verifyExport(dir: string, options: VerifyExportOptions = {}): Promise<ExportVerification> {
  if (options.publicKey === undefined && !options.trustEmbeddedKey) {
    throw new UntrustedKeyError('no trusted public key to check the signature with: the key inside the manifest alone proves nothing (whoever changed the files could have signed with their own); give the server\'s public key, or accept the embedded key explicitly');
  }
  const keySource = options.publicKey !== undefined ? 'given' : 'embedded';
  const problems: ExportProblem[] = [];
  const result = (manifest?: ExportManifest, events = 0): ExportVerification => ({
    ok: problems.length === 0, problems, keySource, events, ...(manifest !== undefined && { manifest }),
  });

  const bytes = await readOptional(join(dir, MANIFEST_FILE));
  if (bytes === undefined) {
    problems.push({ file: MANIFEST_FILE, reason: 'missing' });
    return result();
  }
  let manifest: ExportManifest;
  try {
    const parsed = exportManifest.safeParse(JSON.parse(bytes.toString('utf8')));
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
    manifest = parsed.data;
  } catch (err) {
    problems.push({ file: MANIFEST_FILE, reason: `not a valid export manifest: ${(err as Error).message}` });
    return result();
  }

  // The signature.
  const signature = await readOptional(join(dir, SIGNATURE_FILE));
  const embedded = publicKeyOf(manifest.publicKey);
  const trusted = options.publicKey !== undefined ? publicKeyOf(options.publicKey) : embedded;
  if (options.publicKey !== undefined && trusted === undefined) throw new UntrustedKeyError('the public key given is not an Ed25519 public key in PEM form');
  if (signature === undefined) {
    problems.push({ file: SIGNATURE_FILE, reason: 'missing: the manifest is not signed' });
  } else if (trusted === undefined) {
    problems.push({ file: MANIFEST_FILE, reason: 'its publicKey is not an Ed25519 public key in PEM form' });
  } else if (!signatureValid(bytes, signature, trusted)) {
    const otherKey = options.publicKey !== undefined && embedded !== undefined && !embedded.equals(trusted);
    const signedByEmbedded = otherKey && signatureValid(bytes, signature, embedded);
    problems.push({
      file: SIGNATURE_FILE,
      reason: signedByEmbedded
        ? 'the manifest is signed by another key than the trusted one (the key inside it): it was not written by this server'
        : 'the signature does not match manifest.json (the manifest was changed after signing, or signed with another key)',
    });
  } else if (options.publicKey !== undefined && embedded !== undefined && !embedded.equals(trusted)) {
    problems.push({ file: MANIFEST_FILE, reason: 'its publicKey is not the trusted key that signed it' });
  }

  // Every file listed, and nothing else.
  const listed = new Map(manifest.files.map((f) => [f.name, f]));
  const present = new Set((await readdir(dir)).filter((n) => n !== MANIFEST_FILE && n !== SIGNATURE_FILE));
  for (const name of [...present].sort()) {
    if (!listed.has(name)) problems.push({ file: name, reason: 'not listed in the manifest (added after signing)' });
  }
  for (const file of manifest.files) {
    if (!present.has(file.name)) {
      problems.push({ file: file.name, reason: 'missing (listed in the manifest)' });
      continue;
    }
    const path = join(dir, file.name);
    const info = await stat(path);
    if (!info.isFile()) {
      problems.push({ file: file.name, reason: 'not a file' });
      continue;
    }
    if (info.size !== file.bytes) {
      problems.push({ file: file.name, reason: `${info.size} bytes, the manifest says ${file.bytes} (the file was changed)` });
    } else if ((await sha256Of(path)) !== file.sha256) {
      problems.push({ file: file.name, reason: 'its SHA-256 does not match the manifest (the file was changed)' });
    }
  }

  // The audit chain inside the events file.
  const eventsFile = manifest.files.find((f) => f.name === EVENTS_FILES.csv || f.name === EVENTS_FILES.jsonl);
  let events = 0;
  if (eventsFile === undefined) {
    problems.push({ file: MANIFEST_FILE, reason: 'lists no audit events file' });
  } else if (present.has(eventsFile.name)) {
    const checked = await checkEvents(join(dir, eventsFile.name), eventsFile.name, manifest);
    events = checked.events;
    problems.push(...checked.problems);
  }
  return result(manifest, events);
}
