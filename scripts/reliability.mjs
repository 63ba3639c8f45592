#!/usr/bin/env node
// `npm run reliability`: every category of test/reliability at its full case counts
// (AVFS_RELIABILITY=full), then the table. `npm test` runs the same files bounded.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = spawnSync(
  process.execPath,
  [`${root}/scripts/test.mjs`, 'test/reliability', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
    cwd: root,
    env: { ...process.env, AVFS_RELIABILITY: 'full' },
  },
);
process.exit(run.status ?? 1);
