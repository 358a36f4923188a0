/*
 * The server's own keys, kept in the database so every instance uses the same ones: the key that
 * signs links in mail, and the key pair that signs audit exports. Each is made on first use; the
 * first instance to insert it wins and every other reads the winner's.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { insertIgnore, type Sql } from '../db/database.js';

/** The names of the keys in server_keys. */
export type ServerKeyName = 'mail-link' | 'export-signing';

interface ExportSigningKeys {
  privateKey: string;
  publicKey: string;
}

async function storedValue(db: Sql, name: ServerKeyName): Promise<string | undefined> {
  return (await db.query<{ value: string }>('SELECT value FROM server_keys WHERE name = ?', [name]))[0]?.value;
}

async function keyValue(db: Sql, name: ServerKeyName, make: () => string): Promise<string> {
  const existing = await storedValue(db, name);
  if (existing !== undefined) return existing;
  await db.execute(`${insertIgnore(db.dialect)} INTO server_keys (name, value, created) VALUES (?, ?, ?)`, [name, make(), new Date().toISOString()]);
  const stored = await storedValue(db, name);
  if (stored === undefined) throw new Error(`server key ${name} could not be stored`);
  return stored;
}

/** The 32-byte HMAC key that signs mail links; inside a transaction, pass the transaction (on SQLite the database waits for it). */
export async function mailLinkKey(db: Sql): Promise<Buffer> {
  return Buffer.from(await keyValue(db, 'mail-link', () => randomBytes(32).toString('base64')), 'base64');
}

/** The Ed25519 key pair that signs export manifests, as PEM text. */
export async function exportSigningKeys(db: Sql): Promise<ExportSigningKeys> {
  const value = await keyValue(db, 'export-signing', () => {
    const pair = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    return JSON.stringify(pair);
  });
  return JSON.parse(value) as ExportSigningKeys;
}

/** The public key exports are signed with, if the database has one yet; never makes one (a verifier must not). */
export async function storedExportPublicKey(db: Sql): Promise<string | undefined> {
  const value = await storedValue(db, 'export-signing');
  return value === undefined ? undefined : (JSON.parse(value) as ExportSigningKeys).publicKey;
}
