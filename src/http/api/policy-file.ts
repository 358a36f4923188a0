/*
 * Reads the Casbin policy that authorizes this server's own API (policies/api_policy.csv) and its
 * model (policies/api_model.conf). Relative paths are resolved against the project root, not the
 * working directory, so the server finds its policy however it is started.
 */
import { readFile } from 'node:fs/promises';
import type { AccessPolicy } from '../../policy/access-index.js';
import { installPath } from '../../config/paths.js';

/** The model the API policy is written for; it must be the AccessIndex's ACCESS_MODEL. */
export const API_MODEL_FILE = installPath('policies/api_model.conf');

/**
 * Parses Casbin policy CSV: `p, sub, obj, act` and `g, member, role` lines, `#` comment lines and
 * blank lines. Anything else (quoted fields, other sections, missing or extra fields) is refused
 * with its line number rather than guessed at, so what the server enforces is exactly what the
 * file says.
 */
export function parsePolicyCsv(text: string, source: string): AccessPolicy {
  const policy: AccessPolicy = { roleLinks: [], permissions: [] };
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source}:${i + 1}`;
    if (line.includes('"')) {
      problems.push(`${where}: quoted fields are not supported`);
      return;
    }
    const [kind, ...fields] = line.split(',').map((f) => f.trim());
    if (fields.some((f) => f === '')) {
      problems.push(`${where}: a field is empty`);
      return;
    }
    if (kind === 'p' && fields.length === 3) policy.permissions.push([fields[0]!, fields[1]!, fields[2]!]);
    else if (kind === 'g' && fields.length === 2) policy.roleLinks.push([fields[0]!, fields[1]!]);
    else problems.push(`${where}: expected "p, role, path, method" or "g, role, inherited role", got "${line}"`);
  });
  if (problems.length > 0) throw new Error(`the API policy is not valid:\n  ${problems.join('\n  ')}`);
  return policy;
}

/** Reads the policy file and the model file; errors name the file. */
export async function readPolicyFiles(policyFile: string, modelFile = API_MODEL_FILE): Promise<{ policy: AccessPolicy; model: string; source: string }> {
  const source = installPath(policyFile);
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const [csv, model] = await Promise.all([read(source, 'API policy'), read(modelFile, 'API policy model')]);
  return { policy: parsePolicyCsv(csv, source), model, source };
}
