import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The `iam` launcher. */
export const IAM_BIN = fileURLToPath(new URL('../../bin/iam.js', import.meta.url));

/**
 * The Node flags the launcher runs with (its `#!/usr/bin/env -S node ...` line), so that tests
 * and benchmarks spawning Node run it as `iam` and `npm start` do.
 */
export function launcherNodeFlags(): string[] {
  const shebang = readFileSync(IAM_BIN, 'utf8').split('\n', 1)[0]!;
  const match = /^#!\/usr\/bin\/env -S node(?<flags>(?: --[\w-]+(?:=\S+)?)*)$/.exec(shebang);
  if (!match) throw new Error(`${IAM_BIN} does not start with "#!/usr/bin/env -S node [--flag...]": ${shebang}`);
  return match.groups!.flags!.trim().split(' ').filter((f) => f !== '');
}
