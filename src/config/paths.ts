import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installation directory: the one holding package.json, config/ and policies/. */
export const INSTALL_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** A path from the configuration: relative paths are read from the installation directory, so the server finds its files from any working directory. */
export function installPath(file: string): string {
  return isAbsolute(file) ? file : resolve(INSTALL_DIR, file);
}
