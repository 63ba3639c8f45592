/**
 * `artifact-vfs/testing`: memory mounts for tests, and the conformance suite for flavor authors.
 */
import { createMemoryFs, vfs as defaultVfs } from '../builtins.js';
import { formatLocation, parseLocation } from '../core/uri.js';
import { createParentsOnWrite } from '../fs/auto-parents.js';
import type { FsAdapter } from '../fs/types.js';
import type { MountTable } from '../vfs/mount-table.js';

export { runConformance, joinPath, OBJECT_STORE_CAPABILITIES } from './conformance/index.js';
export type {
  ConformanceCapabilities,
  ConformanceOptions,
  ConformanceTarget,
  SuiteContext,
} from './conformance/index.js';

export interface MemoryMount {
  /** The normalised prefix, e.g. `s3://bucket`. */
  readonly prefix: string;
  /** The memory fs itself (paths are relative to the prefix, starting at `/`). */
  readonly fs: FsAdapter;
  /** Every file under the prefix as `{ uri: utf8 content }`, empty directories as `null`. */
  toJSON(): Record<string, string | null>;
  /** Empties the memory fs (the mount stays). */
  reset(): void;
  /** Removes the mount; the prefix routes as before. */
  unmount(): void;
}

export interface MountMemoryOptions {
  /** The mount table to mount on (default: the one behind `fs` and `fileio`). */
  vfs?: MountTable;
  /**
   * `'implicit'`: a write creates the directories above it, as on an object store, so code written
   * for S3 (which never calls mkdir) runs unchanged. `'explicit'`: node:fs's rules (ENOENT without
   * the parent). Default: implicit on object-store schemes (`s3://`, `gs://`, `az://`, custom
   * ones), explicit on plain paths, `file://` and `mem://`.
   */
  directories?: 'implicit' | 'explicit';
}

/**
 * Mounts a fresh in-memory fs on any prefix (`s3://bucket`, `gs://b/p`, `/data`) of the default
 * mount table (or the one given), so code under test that uses `fs`/`fileio`/a store on that
 * prefix runs without the cloud. Throws EEXIST if the prefix is already mounted.
 */
export function mountMemory(prefix: string, options: MountMemoryOptions = {}): MemoryMount {
  const table = options.vfs ?? defaultVfs;
  // A whole scheme (`gs://`) is a valid mount point, as in MountTable.mount.
  const loc = parseLocation(prefix, { syscall: 'mount', schemeOnly: true });
  const normal = formatLocation(loc, { trailingSlash: false });
  const { fs, volume } = createMemoryFs();
  const implicit =
    (options.directories ?? (loc.scheme === 'file' || loc.scheme === 'mem' ? 'explicit' : 'implicit')) ===
    'implicit';
  table.mount(normal, implicit ? createParentsOnWrite(fs) : fs);
  return {
    prefix: normal,
    fs,
    toJSON() {
      const out: Record<string, string | null> = {};
      for (const [p, content] of Object.entries(volume.toJSON())) {
        // Joined by segments: `gs://` + `/b/k` is `gs://b/k`, `/` + `/k` is `/k`.
        const segments = [...loc.segments, ...p.split('/').filter((s) => s !== '')];
        out[formatLocation({ scheme: loc.scheme, segments, trailingSlash: false })] = content ?? null;
      }
      return out;
    },
    reset() {
      volume.reset();
    },
    unmount() {
      table.unmount(normal);
    },
  };
}
