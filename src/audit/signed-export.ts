/*
 * A signed audit export: a folder holding the audit events (CSV or JSON lines), the access
 * report, the SoD violations report, manifest.json (each file's SHA-256 and size, the audit
 * chain head, the range, the public key) and manifest.sig (Ed25519 over manifest.json's bytes,
 * with the server's export-signing key). verify-export.ts checks one.
 *
 * The events file stops at the chain head read when the export begins, so events written while
 * it runs do not move the end the manifest names; each file is hashed while it is written.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Database } from '../db/database.js';
import { exportSigningKeys } from '../auth/server-keys.js';
import { exportAuditEvents, rangeConditions, type ExportFormat, type ExportRange } from './export.js';
import {
  ACCESS_REPORT_FILE, EVENTS_FILES, MANIFEST_FILE, manifestBytes, signManifest, SIGNATURE_FILE, SOD_REPORT_FILE, type ExportManifest,
} from './manifest.js';
import { accessReportCsv, sodViolationsCsv } from './reports.js';

/** Where a signed export has got to. */
export interface SignedExportProgress {
  step: 'events' | 'access';
  done: number;
  /** events to export, or identities to read for the access report */
  total?: number;
}

/** How a signed export is written. */
export interface SignedExportOptions {
  /** the events file's format; default csv */
  format?: ExportFormat;
  /** the report's time: manifest.created, and the grants in force in the access report; default now */
  now?: Date;
  onProgress?: (progress: SignedExportProgress) => void;
}

/** What writeSignedExport wrote. */
export interface SignedExport {
  dir: string;
  manifest: ExportManifest;
  /** events in the events file */
  events: number;
}

/** Writes text chunks to a new file, hashing them on the way. */
async function writeHashed(path: string, source: AsyncIterable<string>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(async function* () {
    for await (const chunk of source) {
      const buffer = Buffer.from(chunk, 'utf8');
      hash.update(buffer);
      bytes += buffer.length;
      yield buffer;
    }
  }, createWriteStream(path, { flags: 'wx' }));
  return { sha256: hash.digest('hex'), bytes };
}

/** The chain head (audit_head and the newest event) as one consistent read. */
async function chainHead(db: Database): Promise<{ headHash: string; lastId: number }> {
  return db.transaction(async (tx) => {
    const [head] = await tx.query<{ last_hash: string }>('SELECT last_hash FROM audit_head WHERE id = 1');
    const [last] = await tx.query<{ id: number | string }>('SELECT id FROM audit_events ORDER BY id DESC LIMIT 1');
    if (!head) throw new Error('audit_head row is missing: the audit chain has no head to export');
    return { headHash: head.last_hash, lastId: last ? Number(last.id) : 0 };
  });
}

/** The events exportAuditEvents will write for a range bounded by throughId. */
async function countEvents(db: Database, range: ExportRange & { throughId: number }): Promise<number> {
  const { conditions, params } = rangeConditions(range);
  const [row] = await db.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM audit_events WHERE ${conditions.join(' AND ')}`, params);
  return Number(row?.n ?? 0);
}

/**
 * Writes a signed export into `dir` (created if needed; it must be empty): the events in `range`
 * (ISO times, since inclusive, until exclusive), the access and SoD reports, the manifest and its
 * signature.
 */
export async function writeSignedExport(db: Database, dir: string, range: { since?: string; until?: string } = {}, options: SignedExportOptions = {}): Promise<SignedExport> {
  const format = options.format ?? 'csv';
  const now = options.now ?? new Date();
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) throw new Error(`${dir} is not empty: a signed export is written into a folder of its own`);
  const keys = await exportSigningKeys(db);
  const { headHash, lastId: throughId } = await chainHead(db);
  const bounded = { ...range, throughId };
  const progress = options.onProgress;
  // The counts only size the progress display: not made when nobody watches (the scheduled report).
  const total = progress ? await countEvents(db, bounded) : 0;
  progress?.({ step: 'events', done: 0, total });

  const files: ExportManifest['files'] = [];
  let last: { id: number | null; hash: string | null; events: number } = { id: null, hash: null, events: 0 };
  const eventsFile = EVENTS_FILES[format];
  files.push({
    name: eventsFile,
    ...await writeHashed(join(dir, eventsFile), exportAuditEvents(db, format, bounded, (p) => {
      last = { id: p.lastId, hash: p.lastHash, events: p.events };
      progress?.({ step: 'events', done: p.events, total });
    })),
  });
  const identities = progress ? Number((await db.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM identities'))[0]?.n ?? 0) : 0;
  files.push({
    name: ACCESS_REPORT_FILE,
    ...await writeHashed(join(dir, ACCESS_REPORT_FILE), accessReportCsv(db, { now, onProgress: (done) => progress?.({ step: 'access', done, total: identities }) })),
  });
  files.push({ name: SOD_REPORT_FILE, ...await writeHashed(join(dir, SOD_REPORT_FILE), sodViolationsCsv(db)) });

  const manifest: ExportManifest = {
    created: now.toISOString(),
    server: 'iam',
    files,
    auditChainHead: { lastId: last.id, hash: last.hash, headHash },
    range: { since: range.since ?? null, until: range.until ?? null },
    publicKey: keys.publicKey,
  };
  const bytes = manifestBytes(manifest);
  await writeFile(join(dir, MANIFEST_FILE), bytes, { flag: 'wx' });
  await writeFile(join(dir, SIGNATURE_FILE), signManifest(bytes, keys.privateKey), { flag: 'wx' });
  return { dir, manifest, events: last.events };
}
