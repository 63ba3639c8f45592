/**
 * Copies between any two stores with bounded memory (`FileOps.copyFrom`): onto local and memory
 * stores through FileHandles and two reused buffers into a temp file that is renamed into place,
 * onto object stores as a stream into a write that commits on completion. A failure leaves the
 * destination absent or as it was. Inside one store it is the store's own copy (a server-side copy
 * on object stores).
 */
import { createHash, type Hash } from 'node:crypto';
import { fsError } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { joinPath } from '../store/file-ops.js';
import type { Transfer } from './progress.js';

export interface CopyResult {
  bytes: number;
  /** SHA-256 of the bytes, when they were hashed (`verify`). */
  sha256?: string;
}

/** The parent of a full path (a URI or an absolute local path). */
export function parentOf(full: string): string {
  const cut = full.replace(/\/+$/, '').lastIndexOf('/');
  return cut <= 0 ? full.slice(0, cut + 1) || '/' : full.slice(0, cut);
}

/** Creates the destination's parent directories when they are inside its store and missing. */
export async function ensureParent(store: ArtifactStore, full: string): Promise<void> {
  const parent = parentOf(full);
  if (parent !== full && store.contains(parent) && parent.length >= store.path.length)
    await store.makedirs(parent);
}

export async function copyFileBetween(
  from: { store: ArtifactStore; full: string },
  to: { store: ArtifactStore; full: string },
  options: { size: number; verify: boolean; progress: Transfer; signal?: AbortSignal; regular?: boolean },
): Promise<CopyResult> {
  await ensureParent(to.store, to.full);
  // (node:fs's copyFile copies a FIFO's size, 0 bytes: anything but a regular file is streamed.)
  if (from.store === to.store && !options.verify && options.regular !== false) {
    // One call that commits whole or not at all (a server-side copy, or a temp file renamed).
    await from.store.copyfile(from.full, to.full, true, { signal: options.signal });
    options.progress.done(options.size);
    return { bytes: options.size };
  }
  const hash = options.verify ? createHash('sha256') : undefined;
  let seen = 0;
  let bytes: number;
  try {
    bytes = await to.store.copyFrom(from.store, from.full, to.full, {
      signal: options.signal,
      onBlock: (block) => {
        hash?.update(block);
        seen += block.length;
        options.progress.update(seen);
      },
    });
  } catch (err) {
    options.progress.stop();
    throw err;
  }
  options.progress.done(bytes);
  if (!hash) return { bytes };
  const sent = hash.digest('hex');
  const landed = await hashFile(to.store, to.full);
  if (landed !== sent) {
    throw fsError('EIO', {
      message: `EIO: verification failed: '${to.full}' does not hold the bytes sent (sha256 ${landed} != ${sent})`,
    });
  }
  return { bytes, sha256: sent };
}

/** SHA-256 of a file, streamed. */
export async function hashFile(store: ArtifactStore, full: string): Promise<string> {
  const hash: Hash = createHash('sha256');
  const f = await store.open(full, 'rb');
  for await (const chunk of f) hash.update(chunk);
  await f.close();
  return hash.digest('hex');
}

/** Every file under a directory, with its path relative to it, and every directory (for empty ones). */
export async function listTree(
  store: ArtifactStore,
  dir: string,
): Promise<{ files: string[]; dirs: string[] }> {
  const files: string[] = [];
  const dirs: string[] = [];
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for await (const [d, , names] of store.walk(dir, {
    onerror: (err) => {
      throw err;
    },
  })) {
    const rel = d === dir ? '' : d.slice(prefix.length);
    dirs.push(rel);
    for (const n of names) files.push(rel ? joinPath(rel, n) : n);
  }
  return { files, dirs };
}
