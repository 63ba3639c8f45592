#!/usr/bin/env node
// The issue-3 ratios of one `npm run bench:s3` result, per round and as medians: avfs upload ÷ the
// raw PUT, avfs upload ÷ OpenDAL (its calibrated setting, same round), avfs download
// (FileHandle.read) ÷ a plain node:http GET and ÷ the bare-socket GET, and the same for the
// createReadStream download (avfs-stream).
//
//   node benchmarks/s3/ratios.mjs benchmarks/results/s3-<timestamp>.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node benchmarks/s3/ratios.mjs benchmarks/results/s3-<timestamp>.json');
  process.exit(2);
}
const result = JSON.parse(readFileSync(file, 'utf8'));
const runs = result.measurements.filter((m) => m.phase !== 'calibration' && m.ok !== false);
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const pick = (target, direction, round, size) =>
  runs.find((m) => m.target === target && m.direction === direction && m.round === round && m.size === size);
const ratios = (a, b, direction, size, rounds) =>
  rounds.flatMap((round) => {
    const x = pick(a, direction, round, size);
    const y = pick(b, direction, round, size);
    return x && y ? [x.mibPerSec / y.mibPerSec] : [];
  });
const show = (label, values) =>
  console.log(
    `  ${label.padEnd(26)} ${values.map((v) => v.toFixed(2)).join(' ')}  median ${median(values).toFixed(2)}x`,
  );

for (const size of [...new Set(runs.map((m) => m.size))]) {
  const rounds = [...new Set(runs.filter((m) => m.size === size).map((m) => m.round))].sort((a, b) => a - b);
  console.log(`${size / 2 ** 30} GiB, ${rounds.length} round(s):`);
  show('upload ÷ raw PUT', ratios('avfs', 'raw', 'up', size, rounds));
  show('upload ÷ OpenDAL', ratios('avfs', 'opendal', 'up', size, rounds));
  show('download ÷ node:http GET', ratios('avfs', 'node-http', 'down', size, rounds));
  show('download ÷ bare-socket GET', ratios('avfs', 'raw', 'down', size, rounds));
  show('stream download ÷ node:http', ratios('avfs-stream', 'node-http', 'down', size, rounds));
}
