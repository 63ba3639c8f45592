/**
 * The reliability table: each category's test file tries its cases and records one row here
 * (category, cases tried, passed, bytes lost, and what failed). Rows go to one JSON file per
 * category under `.reliability/` at the repo root, so `npm test` and `npm run reliability` print
 * the whole table after vitest ends (scripts/reliability-table.mjs), whichever process ran which file.
 *
 * `npm test` runs every category bounded (a few seconds each); `npm run reliability` sets
 * AVFS_RELIABILITY=full for the full case counts the issue asks for.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS_DIR = path.join(ROOT, '.reliability');

/** True under `npm run reliability`: the full case counts. */
export const FULL = process.env.AVFS_RELIABILITY === 'full';

/** A case count: `bounded` inside `npm test`, `full` under `npm run reliability`. */
export function budget(bounded: number, full: number): number {
  return FULL ? full : bounded;
}

export interface Row {
  category: string;
  tried: number;
  passed: number;
  /** Bytes of committed data lost or torn (a destination that is neither absent, as it was, nor whole). */
  bytesLost: number;
  /** One line per failed case: what was tried and what went wrong. */
  failures: string[];
}

/** Collects the cases of one category; `record()` writes its row. */
export class Category {
  readonly row: Row;
  constructor(category: string) {
    this.row = { category, tried: 0, passed: 0, bytesLost: 0, failures: [] };
  }

  /** Counts one case: passed when `failure` is undefined, else the failure line is kept. */
  check(failure: string | undefined, bytesLost = 0): void {
    this.row.tried++;
    this.row.bytesLost += bytesLost;
    if (failure === undefined) this.row.passed++;
    else this.row.failures.push(failure);
  }

  /** Runs one case: a throw or a returned string is a failure (the string says why). */
  async case(name: string, fn: () => Promise<string | undefined | void>): Promise<void> {
    try {
      const why = await fn();
      this.check(typeof why === 'string' ? `${name}: ${why}` : undefined);
    } catch (err) {
      this.check(
        `${name}: threw ${err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)}`,
      );
    }
  }

  record(): Row {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `${this.row.category.replace(/[^A-Za-z0-9_-]+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(this.row, null, 2));
    return this.row;
  }
}
