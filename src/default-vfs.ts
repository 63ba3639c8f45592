/**
 * The process-wide mount table behind `fs` and `fileio`: plain paths and `file://` go to node:fs,
 * `mem://` to the shared memory volume. Mount more with `vfs.mount(prefix, adapter)`.
 */
import { localFs } from '../adapters/local/index.js';
import { sharedMemoryFs } from '../adapters/memory/index.js';
import { MountTable } from './vfs/mount-table.js';

export const vfs = new MountTable();
vfs.mount('file:///', localFs);
vfs.mount('mem://', sharedMemoryFs().fs);

/** A drop-in `node:fs` replacement that routes by scheme. */
export const fs = vfs.fs;
