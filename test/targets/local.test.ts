/**
 * The local flavor through a mount table: plain paths routed to node:fs under a temp root.
 */
import * as nodeFs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { localFlavor } from '../../adapters/local/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { runConformance } from '../../src/testing/conformance/index.js';

runConformance({
  name: 'local',
  capabilities: {
    sync: true,
    emptyDirectories: true,
    utimes: true,
    permissions: false,
    randomAccessWrites: true,
    atomicDirectoryRename: true,
  },
  setup: async () => {
    const base = await nodeFs.promises.realpath(
      await nodeFs.promises.mkdtemp(path.join(os.tmpdir(), 'artifact-vfs-local-')),
    );
    const instance = await localFlavor.create({ path: base });
    const table = new MountTable();
    table.mount(base, instance.adapter, { root: instance.root ?? '/' });
    return { fs: table.fs, base, teardown: () => nodeFs.promises.rm(base, { recursive: true, force: true }) };
  },
});
