/*
 * The manifest of a signed audit export: what files it holds (name, SHA-256, size), where the
 * audit chain stood, the time range, and the public key of the server that signed it.
 * manifest.sig is the raw 64-byte Ed25519 signature over the exact bytes of manifest.json, so it
 * can be checked without this tool too:
 *   openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in manifest.json -sigfile manifest.sig
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/** The manifest's file name. */
export const MANIFEST_FILE = 'manifest.json';
/** The signature's file name. */
export const SIGNATURE_FILE = 'manifest.sig';
/** The audit events file of an export, by format. */
export const EVENTS_FILES = { csv: 'audit-events.csv', jsonl: 'audit-events.jsonl' } as const;
/** The access report's file name. */
export const ACCESS_REPORT_FILE = 'access-report.csv';
/** The SoD violations report's file name. */
export const SOD_REPORT_FILE = 'sod-violations.csv';

// A plain file name: a manifest never points outside its folder.
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a plain file name');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);

/** manifest.json as written and as the verifier accepts it. */
export const exportManifest = z.strictObject({
  created: z.string(),
  server: z.literal('iam'),
  files: z.array(z.strictObject({ name: fileName, sha256: hex64, bytes: z.int().min(0) })),
  auditChainHead: z.strictObject({
    /** the last event in the events file (null when it holds none) */
    lastId: z.int().min(1).nullable(),
    /** that event's hash */
    hash: hex64.nullable(),
    /** audit_head.last_hash when the export began: the hash of the newest event then */
    headHash: hex64,
  }),
  range: z.strictObject({ since: z.string().nullable(), until: z.string().nullable() }),
  publicKey: z.string(),
});
export type ExportManifest = z.infer<typeof exportManifest>;

/** A manifest's bytes as written: pretty JSON with a final newline. */
export function manifestBytes(manifest: ExportManifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
}

/** The Ed25519 signature of the manifest's bytes with a PEM private key. */
export function signManifest(bytes: Buffer, privateKeyPem: string): Buffer {
  return sign(null, bytes, privateKeyPem);
}

/** A PEM public key, or undefined when the text is not one. */
export function publicKeyOf(pem: string): KeyObject | undefined {
  try {
    const key = createPublicKey(pem);
    return key.asymmetricKeyType === 'ed25519' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `signature` is the key's Ed25519 signature over `bytes`. */
export function signatureValid(bytes: Buffer, signature: Buffer, key: KeyObject): boolean {
  try {
    return verify(null, bytes, key, signature);
  } catch {
    return false;
  }
}
