/**
 * The memory flavor: memfs. All `mem://` paths of a process share one volume, so two stores (or a
 * store and `fileio`) on the same `mem://` path see the same files; `createMemoryFs()` makes a
 * private volume (what `mountMemory` in `artifact-vfs/testing` uses).
 */
import { Volume, createFsFromVolume } from 'memfs';
import { parseLocation } from '../../src/core/uri.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { defineFlavor } from '../../src/store/flavor.js';
import { fixMemfs } from './memfs-fixes.js';

export interface MemoryFs {
  fs: FsAdapter;
  volume: InstanceType<typeof Volume>;
}

/** A fresh, private in-memory filesystem. */
export function createMemoryFs(): MemoryFs {
  const volume = new Volume();
  return { fs: fixMemfs(createFsFromVolume(volume) as unknown as FsAdapter), volume };
}

let shared: MemoryFs | undefined;

/** The process-wide volume behind `mem://` (authority = top-level directory). */
export function sharedMemoryFs(): MemoryFs {
  shared ??= createMemoryFs();
  return shared;
}

export const memoryFlavor = defineFlavor({
  name: 'memory',
  type: 'artifact_store',
  schemes: ['mem', 'memory'],
  description: 'In-process memory (memfs); contents vanish with the process. For tests and scratch work.',
  config: {},
  async create({ path }) {
    const loc = parseLocation(path);
    return { adapter: sharedMemoryFs().fs, root: '/' + loc.segments.join('/'), ensureRoot: true };
  },
});
