#!/usr/bin/env node
// `npm test`: runs vitest, then summarises what ran from its JSON report. It prints the
// conformance cases per target (acceptance: at least 150 passing on each required target), every
// skip reason with its count (skips are never passes), and a closing `N passed, N failed, N skipped`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { printReliabilityTable } from './reliability-table.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const report = `${root}/test-results.json`;
rmSync(report, { force: true });
const reliabilityDir = `${root}/.reliability`;
rmSync(reliabilityDir, { recursive: true, force: true });

const vitest = spawnSync(
  process.execPath,
  [`${root}/node_modules/vitest/vitest.mjs`, 'run', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
    cwd: root,
  },
);
if (!existsSync(report)) {
  console.error('test: vitest wrote no report (it crashed before running tests)');
  process.exit(vitest.status || 1);
}

const data = JSON.parse(readFileSync(report, 'utf8'));
const targets = new Map();
const skipReasons = new Map();
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of data.testResults) {
  for (const t of file.assertionResults) {
    const status = t.status === 'passed' ? 'passed' : t.status === 'failed' ? 'failed' : 'skipped';
    if (status === 'passed') passed++;
    else if (status === 'failed') failed++;
    else skipped++;
    if (status === 'skipped') {
      const reason = / — skipped: (.*)$/.exec(t.title)?.[1] ?? 'no reason given';
      skipReasons.set(reason, (skipReasons.get(reason) ?? 0) + 1);
    }
    const m = /^conformance \[(.*)\]$/.exec(t.ancestorTitles[0] ?? '');
    if (!m) continue;
    const row = targets.get(m[1]) ?? { passed: 0, failed: 0, skipped: 0 };
    row[status]++;
    targets.set(m[1], row);
  }
}

console.log('\nConformance cases per target:');
for (const [name, r] of targets) {
  console.log(
    `  ${name.padEnd(34)} ${String(r.passed).padStart(4)} passed  ${String(r.failed).padStart(3)} failed  ${String(r.skipped).padStart(3)} skipped`,
  );
}
if (skipReasons.size) {
  console.log('Skipped, by reason (not counted as passes):');
  for (const [reason, n] of skipReasons) console.log(`  ${String(n).padStart(4)} × ${reason}`);
}

// A full run must exercise the four required targets; a filtered run (`npm test -- file`) need not.
const REQUIRED = ['node:fs', 'local', 'memory', 'object (memory backend)'];
const MIN_CASES = 150;
let short = false;
if (process.argv.length <= 2) {
  for (const name of REQUIRED) {
    const n = targets.get(name)?.passed ?? 0;
    if (n < MIN_CASES) {
      console.error(
        `test: conformance target '${name}' passed ${n} cases; at least ${MIN_CASES} are required`,
      );
      short = true;
    }
  }
}

printReliabilityTable(reliabilityDir);

console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || short || vitest.status !== 0 || !data.success ? 1 : 0);
