/**
 * The memory flavor: memfs. All `mem://` paths of a process share one volume, so two stores (or a
 * store and `fileio`) on the same `mem://` path see the same files; `createMemoryFs()` makes a
 * private volume (what `mountMemory` in `artifact-vfs/testing` uses). A store's fs is confined to
 * its root through symlinks (`confineToRoot`), as on local disk: the volume is shared, so a link in
 * one store could otherwise reach another.
 */
import { Volume, createFsFromVolume } from 'memfs';
import { parseLocation } from '../../src/core/uri.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { confineToRoot, type LinkReader } from '../../src/fs/confine.js';
import { defineFlavor } from '../../src/store/flavor.js';
import { fixMemfs, type MemfsBase } from './memfs-fixes.js';

export interface MemoryFs {
  fs: FsAdapter;
  volume: InstanceType<typeof Volume>;
}

/** A fresh, private in-memory filesystem. */
export function createMemoryFs(): MemoryFs {
  const volume = new Volume();
  return { fs: fixMemfs(createFsFromVolume(volume) as unknown as MemfsBase), volume };
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
    const root = '/' + loc.segments.join('/');
    const { fs, volume } = sharedMemoryFs();
    // Links are read from the volume itself (the fixed fs has no readlink).
    const links = volume as unknown as LinkReader;
    return { adapter: confineToRoot(fs, root, { links, shownRoot: path }), root, ensureRoot: true };
  },
});
