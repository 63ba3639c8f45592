// The reliability table: one row per category recorded by test/reliability/*.test.ts (see
// test/reliability/table.ts). Printed by `npm test` and `npm run reliability` after vitest ends.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Prints the table from `dir`; returns the rows (empty when no category ran). */
export function printReliabilityTable(dir) {
  if (!existsSync(dir)) return [];
  const rows = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
  if (!rows.length) return rows;
  const width = Math.max(8, ...rows.map((r) => r.category.length));
  console.log('\nReliability (cases tried / passed / bytes lost):');
  console.log(
    `  ${'category'.padEnd(width)}  ${'tried'.padStart(6)}  ${'passed'.padStart(6)}  ${'lost B'.padStart(7)}`,
  );
  for (const r of rows) {
    console.log(
      `  ${r.category.padEnd(width)}  ${String(r.tried).padStart(6)}  ${String(r.passed).padStart(6)}  ${String(r.bytesLost).padStart(7)}`,
    );
    for (const f of r.failures.slice(0, 5)) console.log(`      ✗ ${f}`);
    if (r.failures.length > 5) console.log(`      … and ${r.failures.length - 5} more`);
  }
  return rows;
}
