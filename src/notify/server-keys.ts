/*
 * The server's own keys, kept in the database so every instance uses the same ones: the key that
 * signs links in mail, and the key pair that signs audit exports. Each is made on first use; the
 * first instance to insert it wins and every other reads the winner's.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { insertIgnore, type Sql } from '../db/database.js';

/** The names of the keys in server_keys. */
export type ServerKeyName = 'mail-link' | 'export-signing';

async function keyValue(db: Sql, name: ServerKeyName, make: () => string): Promise<string> {
  const read = async () => (await db.query<{ value: string }>('SELECT value FROM server_keys WHERE name = ?', [name]))[0]?.value;
  const existing = await read();
  if (existing !== undefined) return existing;
  await db.execute(`${insertIgnore(db.dialect)} INTO server_keys (name, value, created) VALUES (?, ?, ?)`, [name, make(), new Date().toISOString()]);
  const stored = await read();
  if (stored === undefined) throw new Error(`server key ${name} could not be stored`);
  return stored;
}

/** The 32-byte HMAC key that signs mail links; inside a transaction, pass the transaction (on SQLite the database waits for it). */
export async function mailLinkKey(db: Sql): Promise<Buffer> {
  return Buffer.from(await keyValue(db, 'mail-link', () => randomBytes(32).toString('base64')), 'base64');
}

/** The Ed25519 key pair that signs export manifests, as PEM text. */
export async function exportSigningKeys(db: Sql): Promise<{ privateKey: string; publicKey: string }> {
  const value = await keyValue(db, 'export-signing', () => {
    const pair = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    return JSON.stringify(pair);
  });
  return JSON.parse(value) as { privateKey: string; publicKey: string };
}
