#!/usr/bin/env node
// `npm run bench` / `npm run bench:s3`: compiles the benchmarks (and the library code they import)
// with benchmarks/tsconfig.json into dist/bench/, then runs each bench's entry point in its own
// Node process, passing the remaining arguments through.
//
//   node benchmarks/bench.mjs all [args…]   every bench
//   node benchmarks/bench.mjs s3 [args…]    benchmarks/s3/run.ts
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}dist/bench`;
const benches = {
  s3: `${out}/benchmarks/s3/run.js`,
  's3-gc': `${out}/benchmarks/s3/gc-check.js`,
  gcs: `${out}/benchmarks/gcs/run.js`,
  azure: `${out}/benchmarks/azure/run.js`,
};

const [which = 'all', ...args] = process.argv.slice(2);

// Benchmark-only peers that are not devDependencies. OpenDAL's Node binding 0.49.2 publishes its
// native package for linux-x64 only, so listing it in package.json would break `npm ci` on every
// other platform (the lock file cannot name the missing platform packages): install it on demand.
const BENCH_PEERS = ['opendal@0.49.2'];
for (const spec of BENCH_PEERS) {
  const name = spec.slice(0, spec.lastIndexOf('@'));
  if (!existsSync(`${root}node_modules/${name}/package.json`)) {
    console.log(`bench: installing ${spec} (benchmark peer, not saved to package.json)`);
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', spec], {
      stdio: 'inherit',
      cwd: root,
    });
    if (r.status !== 0)
      console.log(`bench: could not install ${spec}; its target will be reported as skipped`);
  }
}
const selected = which === 'all' ? Object.keys(benches) : [which];
for (const name of selected) {
  if (!(name in benches)) {
    console.error(`bench: unknown bench '${name}' (one of: all, ${Object.keys(benches).join(', ')})`);
    process.exit(2);
  }
}

// A clean build each time, so a deleted source (e.g. an adapter) never runs from a stale .js.
rmSync(out, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}benchmarks/tsconfig.json`],
  { stdio: 'inherit', cwd: root },
);
if (tsc.status !== 0) {
  // tsc still emits on type errors. Code under active development elsewhere in the repo must not
  // block measuring the other targets, so run what was emitted, loudly.
  const missing = selected.filter((name) => !existsSync(benches[name]));
  if (missing.length > 0) {
    console.error(`bench: the TypeScript build failed and emitted no ${missing.join(', ')} entry point`);
    process.exit(tsc.status ?? 1);
  }
  console.error('bench: WARNING: type errors above; running the JavaScript tsc emitted anyway');
}

let status = 0;
for (const name of selected) {
  const run = spawnSync(process.execPath, [benches[name], ...args], { stdio: 'inherit', cwd: root });
  if (run.status !== 0) status = run.status ?? 1;
}
process.exit(status);
