#!/usr/bin/env -S node --max-old-space-size=1536
// The CLI runs the TypeScript sources directly through tsx's loader: no build step to forget.
//
// Node runs with a heap ceiling under 2 GB: below that, V8 lets garbage grow to under twice what
// is live before collecting it, where with its default ceiling on a large machine it waits for
// four times. A 100,000-person HR import then peaks near 400 MB instead of 700-900 MB. To give
// a larger company more, run `node --max-old-space-size=N bin/iam.js ...` (see the README).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
