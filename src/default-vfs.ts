/**
 * The process-wide mount table behind `fs` and `fileio`: plain paths and `file://` go to node:fs,
 * `mem://` to the shared memory volume (each `mem://NAME` a directory created on first write). Mount more with `vfs.mount(prefix, adapter)`.
 */
import { localFs } from '../adapters/local/index.js';
import { sharedMemoryFs } from '../adapters/memory/index.js';
import { createParentsOnWrite } from './fs/auto-parents.js';
import { MountTable } from './vfs/mount-table.js';

export const vfs = new MountTable();
vfs.mount('file:///', localFs);
// A volume (`mem://scratch`), like a bucket, exists once named: writing into it needs no mkdir.
vfs.mount('mem://', createParentsOnWrite(sharedMemoryFs().fs, 1));

/** A drop-in `node:fs` replacement that routes by scheme. */
export const fs = vfs.fs;
