#!/usr/bin/env node
// The issue-3 ratios of `npm run bench:s3` results, per round and as medians: avfs upload ÷ the
// raw PUT, avfs upload ÷ OpenDAL (its calibrated setting, same round), avfs download
// (FileHandle.read) ÷ a plain node:http GET and ÷ the bare-socket GET, and the same for the
// createReadStream download (avfs-stream). Given several result files, it also pools every
// round of them: the median per size and the share of rounds below the target.
//
//   node benchmarks/s3/ratios.mjs benchmarks/results/s3-<timestamp>.json [more.json …]
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node benchmarks/s3/ratios.mjs benchmarks/results/s3-<timestamp>.json [more.json …]');
  process.exit(2);
}
const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
/** [label, target, baseline, direction, the target ratio or undefined] */
const RATIOS = [
  ['upload ÷ raw PUT', 'avfs', 'raw', 'up', 0.7],
  ['upload ÷ OpenDAL', 'avfs', 'opendal', 'up', 1.3],
  ['download ÷ node:http GET', 'avfs', 'node-http', 'down', 0.8],
  ['download ÷ bare-socket GET', 'avfs', 'raw', 'down', undefined],
  ['stream download ÷ node:http', 'avfs-stream', 'node-http', 'down', undefined],
];
const show = (label, values, extra = '') =>
  console.log(
    `  ${label.padEnd(28)} ${values.map((v) => v.toFixed(2)).join(' ')}  median ${median(values).toFixed(2)}x${extra}`,
  );

/** size → label → per-round ratios of every file */
const pooled = new Map();
for (const file of files) {
  const result = JSON.parse(readFileSync(file, 'utf8'));
  const runs = result.measurements.filter((m) => m.phase !== 'calibration' && m.ok !== false);
  const pick = (target, direction, round, size) =>
    runs.find(
      (m) => m.target === target && m.direction === direction && m.round === round && m.size === size,
    );
  if (files.length > 1) console.log(file);
  for (const size of [...new Set(runs.map((m) => m.size))]) {
    const rounds = [...new Set(runs.filter((m) => m.size === size).map((m) => m.round))].sort(
      (a, b) => a - b,
    );
    console.log(`${size / 2 ** 30} GiB, ${rounds.length} round(s):`);
    for (const [label, a, b, direction] of RATIOS) {
      const values = rounds.flatMap((round) => {
        const x = pick(a, direction, round, size);
        const y = pick(b, direction, round, size);
        return x && y ? [x.mibPerSec / y.mibPerSec] : [];
      });
      if (values.length === 0) continue;
      show(label, values);
      if (!pooled.has(size)) pooled.set(size, new Map());
      const bySize = pooled.get(size);
      bySize.set(label, [...(bySize.get(label) ?? []), ...values]);
    }
  }
}
if (files.length > 1) {
  console.log(`\npooled over ${files.length} files:`);
  for (const [size, byLabel] of pooled) {
    console.log(`${size / 2 ** 30} GiB:`);
    for (const [label, , , , target] of RATIOS) {
      const values = byLabel.get(label);
      if (!values) continue;
      const below =
        target === undefined
          ? ''
          : `, ${values.filter((v) => v < target).length}/${values.length} rounds below ${target}x`;
      console.log(
        `  ${label.padEnd(28)} median ${median(values).toFixed(2)}x over ${values.length} rounds${below}`,
      );
    }
  }
}
