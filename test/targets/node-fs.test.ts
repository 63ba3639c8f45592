/**
 * The oracle run: the conformance suite against native `node:fs` in a temp directory. A case that
 * fails here is a wrong test, not a wrong implementation.
 */
import * as nodeFs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FsAdapter } from '../../src/fs/types.js';
import { runConformance } from '../../src/testing/conformance/index.js';

runConformance({
  name: 'node:fs',
  capabilities: {
    sync: true,
    emptyDirectories: true,
    utimes: true,
    // Tests run as root, where chmod-based EACCES never happens: keep permission cases out.
    permissions: false,
    randomAccessWrites: true,
    atomicDirectoryRename: true,
  },
  setup: async () => {
    // realpath: os.tmpdir() may sit behind a symlink (macOS), and realpath cases compare paths.
    const base = await nodeFs.promises.realpath(
      await nodeFs.promises.mkdtemp(path.join(os.tmpdir(), 'artifact-vfs-conformance-')),
    );
    return {
      fs: nodeFs as FsAdapter,
      base,
      teardown: () => nodeFs.promises.rm(base, { recursive: true, force: true }),
    };
  },
});
