/*
 * Pieces every connector's settings use: secrets that stay out of config files, and one way to
 * check a target's settings so a bad one stops the start with the target and setting named.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * A secret setting: the value itself, `{ "env": "NAME" }` (read from the environment) or
 * `{ "file": "/path" }` (read from a file, trailing newline dropped). Config files can then hold
 * the name of a secret rather than the secret.
 */
export const secretSetting = z.union([
  z.string().min(1),
  z.object({ env: z.string().min(1) }).strict(),
  z.object({ file: z.string().min(1) }).strict(),
]);
export type SecretSetting = z.infer<typeof secretSetting>;

/** The secret's value; a missing variable or file is named in the error, the value never is. */
export function resolveSecret(setting: SecretSetting, what: string): string {
  if (typeof setting === 'string') return setting;
  if ('env' in setting) {
    const value = process.env[setting.env];
    if (!value) throw new Error(`${what}: environment variable ${setting.env} is not set`);
    return value;
  }
  try {
    return readFileSync(setting.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`${what}: cannot read ${setting.file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * Parses a target's settings with a connector's schema; a bad setting stops the start with the
 * target and the setting named.
 */
export function parseSettings<T extends z.ZodType>(schema: T, target: string, settings: unknown): z.output<T> {
  const parsed = schema.safeParse(settings);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`).join('; ');
  throw new Error(`target ${target}: ${problems}`);
}
