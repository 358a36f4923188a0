import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import { IAM_BIN, launcherNodeFlags } from '../../support/launcher.js';

describe('the iam launcher', () => {
  it('runs Node with a heap ceiling under 2 GB, where V8 collects garbage before it reaches twice what is live', () => {
    const flags = launcherNodeFlags();
    expect(flags).to.have.length.greaterThan(0);
    // What the process really gets, launched through the shebang line as `npx iam` and `npm start` do.
    const limitMb = Number(execFileSync('/usr/bin/env', ['-S', `node ${flags.join(' ')}`, '-e',
      'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit / 2 ** 20))']).toString());
    expect(limitMb).to.be.within(512, 2047);
  });

  it('runs as an executable, through its first line', () => {
    const out = execFileSync(IAM_BIN, ['--help']).toString();
    expect(out).to.contain('Usage: iam');
  });
});
