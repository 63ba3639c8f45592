/**
 * The memory flavor (memfs) through a mount table, addressed by `mem://` URIs.
 */
import { createMemoryFs } from '../../adapters/memory/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { runConformance } from '../../src/testing/conformance/index.js';

runConformance({
  name: 'memory',
  capabilities: {
    sync: true,
    emptyDirectories: true,
    utimes: true,
    permissions: false,
    randomAccessWrites: true,
    atomicDirectoryRename: true,
  },
  setup: async () => {
    const table = new MountTable();
    table.mount('mem://conformance', createMemoryFs().fs);
    return { fs: table.fs, base: 'mem://conformance/suite' };
  },
});
