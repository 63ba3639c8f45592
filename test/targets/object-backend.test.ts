/**
 * The in-process object store through the deriver (createFsAdapter), mounted on an `s3://` prefix:
 * the whole object-store path of the library without a network. A small list page size exercises
 * paging; a second run models a store without directory markers.
 */
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { OBJECT_STORE_CAPABILITIES, runConformance } from '../../src/testing/conformance/index.js';

runConformance({
  name: 'object (memory backend)',
  capabilities: OBJECT_STORE_CAPABILITIES,
  setup: async () => {
    const table = new MountTable();
    table.mount('s3://conformance', createFsAdapter(new MemoryBackend({ pageSize: 50 })));
    return { fs: table.fs, base: 's3://conformance/suite' };
  },
});

runConformance({
  name: 'object (no directory markers)',
  capabilities: { ...OBJECT_STORE_CAPABILITIES, emptyDirectories: false },
  setup: async () => {
    const table = new MountTable();
    const backend = new MemoryBackend({ pageSize: 50, capabilities: { directoryMarkers: false } });
    table.mount('gs://conformance', createFsAdapter(backend));
    return { fs: table.fs, base: 'gs://conformance/suite' };
  },
});
