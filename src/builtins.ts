/**
 * The composition root: the built-in flavors and the default mount table. It is the only module
 * under src/ that imports adapters/ (lint enforces it: .dependency-cruiser.cjs); adapters import
 * the contracts below them and nothing above. Importing it registers the built-in flavors in the
 * process-wide registry (`defaultRegistry`) and mounts `file:///` and `mem://` on the default
 * mount table; every public entry point (`artifact-vfs`, `artifact-vfs/testing`, the CLI) does.
 *
 * Cloud flavors load their SDK (an optional peer dependency) only when a store is created.
 */
import { azureFlavor } from '../adapters/azure/index.js';
import { gcsFlavor } from '../adapters/gcs/index.js';
import { localFlavor, localFs } from '../adapters/local/index.js';
import { createMemoryFs, memoryFlavor, sharedMemoryFs } from '../adapters/memory/index.js';
import { s3Flavor } from '../adapters/s3/index.js';
import { createParentsOnWrite } from './fs/auto-parents.js';
import { defaultRegistry } from './store/defaults.js';
import type { Flavor } from './store/flavor.js';
import { MountTable } from './vfs/mount-table.js';

for (const flavor of [localFlavor, memoryFlavor, s3Flavor, gcsFlavor, azureFlavor]) {
  if (!defaultRegistry.has(flavor.name)) defaultRegistry.register(flavor as unknown as Flavor);
}

/**
 * The process-wide mount table behind `fs` and `fileio`: plain paths and `file://` go to node:fs,
 * `mem://` to the shared memory volume (each `mem://NAME` a directory created on first write).
 * Mount more with `vfs.mount(prefix, adapter)`.
 */
export const vfs = new MountTable();
vfs.mount('file:///', localFs);
// A volume (`mem://scratch`), like a bucket, exists once named: writing into it needs no mkdir.
vfs.mount('mem://', createParentsOnWrite(sharedMemoryFs().fs, 1));

/** A drop-in `node:fs` replacement that routes by scheme. */
export const fs = vfs.fs;

export { createMemoryFs, localFlavor, localFs, memoryFlavor, sharedMemoryFs };
export {
  s3Flavor,
  createS3Backend,
  S3Backend,
  mapS3Error,
  type S3BackendOptions,
} from '../adapters/s3/index.js';
export {
  gcsFlavor,
  createGcsBackend,
  GcsBackend,
  mapGcsError,
  type GcsBackendOptions,
} from '../adapters/gcs/index.js';
export {
  azureFlavor,
  createAzureBackend,
  AzureBackend,
  mapAzureError,
  type AzureBackendOptions,
} from '../adapters/azure/index.js';
