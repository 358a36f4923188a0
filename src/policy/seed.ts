/*
 * The policies/ files and the live policy: the database is seeded from policies/catalog.json at
 * first start, and afterwards holds the live policy; `iam policy export` writes it back in the
 * same format (a Catalog's document) and `iam policy import` replaces it from a file.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { installPath } from '../config/paths.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { readPolicyState } from './changes.js';
import { PolicyError } from './model.js';
import type { PolicyStore } from './store.js';


/** Reads a JSON policy file (a relative path from the working directory); a missing file or bad JSON is a PolicyError naming the file. */
export async function readPolicyFile(file: string): Promise<unknown> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError('invalid', `cannot read policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw new PolicyError('invalid', `policy file ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Seeds the live policy from `file` when the database has never held one (policy version 0).
 * Returns whether it did. An empty `file` setting turns seeding off.
 */
export async function seedPolicyIfEmpty(db: Database, store: PolicyStore, file: string, log: Logger): Promise<boolean> {
  if (!file) return false;
  if ((await readPolicyState(db)).version !== 0) return false;
  const document = await readPolicyFile(installPath(file));
  const result = await store.replaceAll(document, { actor: 'system:seed' });
  log.info({ file: installPath(file), version: result.version }, 'seeded the policy from its file');
  return true;
}
