/**
 * `fileio`: ZenML's `zenml.io.fileio` functions, routed by scheme over the default mount table.
 * `fileio.open('s3://…')`, `fileio.glob('mem://x/**\/*.json')`, `fileio.copy(a, b, true)`…
 */
import { vfs } from './builtins.js';
import { FileOps } from './store/file-ops.js';

export const fileio = new FileOps(vfs.fs, (p) => p);
