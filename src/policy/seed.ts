/*
 * The policies/ files and the live policy: the database is seeded from policies/catalog.json at
 * first start, and afterwards holds the live policy; `iam policy export` writes it back in the
 * same format and `iam policy import` replaces it from a file.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import { readPolicyState } from './changes.js';
import type { Catalog } from './catalog.js';
import { PolicyError, type CatalogDocument } from './model.js';
import type { PolicyStore } from './store.js';

/** The directory holding package.json, policies/ and config/. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A policy file path as configured: relative paths are read from the project root, so the server finds them from any working directory. */
export function policyPath(file: string): string {
  return isAbsolute(file) ? file : resolve(PROJECT_ROOT, file);
}

/** Reads a JSON policy file; a missing file or bad JSON is a PolicyError naming the file. */
export async function readPolicyFile(file: string): Promise<unknown> {
  const path = policyPath(file);
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
  const document = await readPolicyFile(file);
  const result = await store.replaceAll(document, { actor: 'system:seed' });
  log.info({ file: policyPath(file), version: result.version }, 'seeded the policy from its file');
  return true;
}

/** The live policy in the policies/ file format, every default written out, in a stable order. */
export function exportDocument(catalog: Catalog): CatalogDocument {
  return catalog.document;
}
