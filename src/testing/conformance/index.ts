/**
 * The conformance suite: one capability-gated set of Node-fs behaviour tests that every target
 * runs (native node:fs as the oracle, the local and memory flavors, object-store backends through
 * the deriver, and third-party flavors through `artifact-vfs/testing`).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import type { FsAdapter } from '../../fs/types.js';
import type {
  ConformanceCapabilities,
  ConformanceOptions,
  ConformanceTarget,
  SuiteContext,
} from './types.js';
import { TOPICS } from './topics.js';

export type {
  ConformanceCapabilities,
  ConformanceOptions,
  ConformanceTarget,
  SuiteContext,
} from './types.js';

/**
 * What an object store built on `createFsAdapter` declares: no sync methods or utimes, sequential
 * FileHandle writes, copy-then-delete directory renames, atomic (commit-on-close) writes, and empty
 * directories through markers. Spread and override (e.g. `emptyDirectories: false` without markers).
 */
export const OBJECT_STORE_CAPABILITIES = {
  sync: false,
  emptyDirectories: true,
  utimes: false,
  permissions: false,
  randomAccessWrites: false,
  atomicDirectoryRename: false,
  atomicWrites: true,
} as const satisfies ConformanceCapabilities;

export function joinPath(root: string, ...parts: string[]): string {
  let out = root.endsWith('/') ? root.slice(0, -1) : root;
  for (const p of parts) out += '/' + p.replace(/^\/+/, '');
  return out;
}

/** Declares the whole suite (or the named topics) for one target. Call it at a test file's top level. */
export function runConformance(options: ConformanceOptions, only?: readonly string[]): void {
  describe(`conformance [${options.name}]`, () => {
    let fs: FsAdapter | undefined;
    let base = '';
    let teardown: (() => Promise<void>) | undefined;
    let current: ConformanceTarget | undefined;

    beforeAll(async () => {
      const made = await options.setup();
      fs = made.fs;
      base = made.base;
      teardown = made.teardown;
    });
    afterAll(async () => {
      await teardown?.();
    });
    beforeEach(async () => {
      if (!fs) throw new Error('conformance setup did not run');
      const root = joinPath(base, `run-${randomUUID()}`);
      await fs.promises.mkdir(root, { recursive: true });
      const target = fs;
      current = { fs: target, root, join: (...parts) => joinPath(root, ...parts) };
    });
    afterEach(async () => {
      if (fs && current) await fs.promises.rm(current.root, { recursive: true, force: true });
      current = undefined;
    });

    const ctx: SuiteContext = {
      name: options.name,
      caps: options.capabilities,
      target() {
        if (!current) throw new Error('target() is only valid inside a test or hook');
        return current;
      },
    };
    for (const topic of TOPICS) {
      if (only && !only.includes(topic.name)) continue;
      describe(topic.name, () => topic.declare(ctx));
    }
  });
}
