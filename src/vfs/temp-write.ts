/**
 * Replacing a file without tearing it, on stores that write in place (local disk, memfs): the bytes
 * go to a hidden sibling (`.name.avfs-<hex>.partial`), which is renamed over the destination only
 * once it is complete. Shared by the mount table (cross-mount copies) and the store facade (`open`
 * for writing, `copyfile`). Object stores need none of this: nothing is visible there until commit.
 */
import { randomBytes } from 'node:crypto';
import { errorCode, fsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';

/** Hidden siblings that hold a write until it commits; listings never show them. */
const TEMP_RE = /^\..+\.avfs-[0-9a-f]{8}\.partial$/;

export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** A fresh hidden sibling name for `path` (same directory, so the final rename stays on one device). */
export function tempSibling(path: string): string {
  const cut = path.lastIndexOf('/');
  const name = path.slice(cut + 1);
  return `${path.slice(0, cut + 1)}.${name}.avfs-${randomBytes(4).toString('hex')}.partial`;
}

/** Only "missing" means absent: a failed stat (EACCES, a dropped connection) is not a "no". */
export async function pathExists(fs: FsAdapter, path: string): Promise<boolean> {
  try {
    await fs.promises.stat(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Fills a hidden sibling of `dest` with `fill(temp)`, then renames it over `dest`.
 * - A failure anywhere (the fill, the rename) removes the sibling; `dest` stays absent or as it was.
 * - With `exclusive`, an existing `dest` is EEXIST, checked before the fill and again just before the
 *   rename (a writer racing in between those two checks and the rename can still be replaced: local
 *   file systems have no create-only rename in the fs API).
 * - Errors are the underlying ones (they may name the sibling): callers relabel them.
 */
export async function writeThroughTemp(
  fs: FsAdapter,
  dest: string,
  fill: (temp: string) => Promise<void>,
  options: { exclusive?: boolean; syscall?: string } = {},
): Promise<void> {
  const exists = (): Error => fsError('EEXIST', { syscall: options.syscall ?? 'open', path: dest });
  if (options.exclusive && (await pathExists(fs, dest))) throw exists();
  const temp = tempSibling(dest);
  try {
    await fill(temp);
    if (options.exclusive && (await pathExists(fs, dest))) throw exists();
    await fs.promises.rename(temp, dest);
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}
