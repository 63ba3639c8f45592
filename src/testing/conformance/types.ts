import type { FsAdapter } from '../../fs/types.js';

/**
 * What a target declares it can do. A test that needs a capability the target lacks is skipped
 * with the reason in its title; it is never counted as a pass.
 */
export interface ConformanceCapabilities {
  /** The `*Sync` methods work (local, memory). Object stores throw ENOTSUP instead. */
  sync: boolean;
  /** An empty directory persists after mkdir (object stores need directory markers for this). */
  emptyDirectories: boolean;
  /** `utimes` sets timestamps. */
  utimes: boolean;
  /** Mode bits / chmod-based EACCES are meaningful (native node:fs only). */
  permissions: boolean;
  /** FileHandle writes may seek (positional writes anywhere); otherwise only sequential writes. */
  randomAccessWrites: boolean;
  /** Directory rename is atomic (local fs); object stores copy then delete. */
  atomicDirectoryRename: boolean;
  /**
   * A write becomes visible only when it completes (object stores). Where false, the Artifact
   * Store facade writes a hidden temp file and renames it into place.
   */
  atomicWrites?: boolean;
}

/** One run's target: an fs and a fresh, empty, existing directory to work under. */
export interface ConformanceTarget {
  readonly fs: FsAdapter;
  /** Unique per test: a plain path or a URI such as `mem://conf/3f2a…` or `s3://bucket/run-…`. */
  readonly root: string;
  /** Joins the root and relative parts with `/` (string joining: the root may be a URI). */
  join(...parts: string[]): string;
}

export interface ConformanceOptions {
  /** Shown in test titles, e.g. `node:fs`, `memory`, `s3 (fauxqs)`. */
  name: string;
  capabilities: ConformanceCapabilities;
  /** Creates the fs once per suite. */
  setup(): Promise<{ fs: FsAdapter; base: string; teardown?(): Promise<void> }>;
}

/** Passed to every topic file. `target()` is valid inside tests and hooks. */
export interface SuiteContext {
  readonly name: string;
  readonly caps: ConformanceCapabilities;
  target(): ConformanceTarget;
}

/** One conformance topic: a file that declares its `it` cases. */
export interface Topic {
  /** Shown as the `describe` title and usable in `runConformance(options, only)`. */
  name: string;
  /** Declares the topic's `it` cases; called once per target at collection time. */
  declare(ctx: SuiteContext): void;
}
