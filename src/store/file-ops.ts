/**
 * ZenML's filesystem operations (`open, copyfile, exists, glob, isdir, listdir, makedirs, mkdir,
 * remove, rename, rmtree, stat, walk`, plus `size`), written once over any FsAdapter. The
 * ArtifactStore facade binds them to a store root; `fileio` binds them to the default mount table.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import picomatch from 'picomatch';
import { abortError, errorCode, fsError, toFsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';
import { ArtifactFile, type OpenMode } from './artifact-file.js';
import { copyByHandles, copyIntoStream } from '../vfs/handle-copy.js';
import { isTempName, pathExists, sweepTemps, writeThroughTemp } from '../vfs/temp-write.js';

export { isTempName };
export { ArtifactFile, type OpenMode };

export interface WalkOptions {
  /** Yield a directory before its subdirectories (default true). Pruning `dirnames` works top-down. */
  topdown?: boolean;
  /** Called with errors from listing a directory; without it they are skipped, as os.walk does. */
  onerror?: (err: Error) => void;
}

/** A walk step: the directory, its subdirectory names, its file names (both sorted). */
export type WalkEntry = [dirpath: string, dirnames: string[], filenames: string[]];

/** A file copied, or a directory made, by a cross-mount tree move (relative to the tree's root). */
interface CopiedEntry {
  rel: string;
  dir: boolean;
}

/** A path that is not there (or not a directory): "no match" for glob, "absent" for exists. */
function isMissing(err: unknown): boolean {
  return errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR';
}

const GLOB_CHARS = /[*?[\]{}()!+@]/;

export function joinPath(base: string, name: string): string {
  if (base.endsWith('/')) return base + name;
  return `${base}/${name}`;
}

/**
 * The operations, over an fs and a resolver that turns a caller's path into a full path for that fs
 * (the facade's resolver refuses paths outside its root).
 */
export class FileOps {
  /** The fs these operations run on (for a store: one that routes only the store's root). */
  readonly fs: FsAdapter;
  protected readonly resolvePath: (p: string, syscall: string) => string;
  /**
   * Whether the fs commits writes atomically (object stores do). When it does not (local disk,
   * memfs), `open(…, 'w')` and `copyfile` write a hidden sibling and rename it into place.
   */
  protected readonly atomicWrites: boolean;

  constructor(
    fs: FsAdapter,
    resolvePath: (p: string, syscall: string) => string,
    options: { atomicWrites?: boolean } = {},
  ) {
    this.fs = fs;
    this.resolvePath = resolvePath;
    this.atomicWrites = options.atomicWrites ?? false;
  }

  /** Opens a file: `r`/`rb` read, `w`/`wb` write (replace), `a`/`ab` append, `x`/`xb` create-only. */
  async open(path: string, mode: OpenMode = 'r'): Promise<ArtifactFile> {
    if (!['r', 'rb', 'w', 'wb', 'a', 'ab', 'x', 'xb'].includes(mode)) {
      throw fsError('EINVAL', {
        syscall: 'open',
        path,
        detail: `unsupported mode '${String(mode)}' (use r, rb, w, wb, a, ab, x or xb)`,
      });
    }
    const full = this.resolvePath(path, 'open');
    if (mode.startsWith('r') && (await this.fs.promises.stat(full)).isDirectory()) {
      // node:fs would open a directory and fail on the first read; say so up front.
      throw fsError('EISDIR', { syscall: 'open', path });
    }
    return new ArtifactFile(this.fs, full, mode, this.atomicWrites)._open();
  }

  /** Copies a file; refuses to replace an existing destination unless `overwrite`. */
  /**
   * Copies a file inside this store (server-side on object stores), replacing `dst` only with
   * `overwrite`. An aborted `signal` stops it before it starts; on a store that writes in place, also
   * after the bytes are copied and before they replace `dst` (ECANCELED, `dst` as it was). An object
   * store's copy is one commit: once started it completes.
   */
  async copyfile(
    src: string,
    dst: string,
    overwrite = false,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const from = this.resolvePath(src, 'copyfile');
    const to = this.resolvePath(dst, 'copyfile');
    if (this.atomicWrites) {
      if (options.signal?.aborted)
        throw abortError(options.signal, { syscall: 'copyfile', path: src, dest: dst });
      return this.fs.promises.copyFile(from, to, overwrite ? 0 : constants.COPYFILE_EXCL);
    }
    // Copy beside the destination, then rename: a failed copy never leaves a torn file.
    try {
      await writeThroughTemp(
        this.fs,
        to,
        (temp) => this.fs.promises.copyFile(from, temp, constants.COPYFILE_EXCL),
        { exclusive: !overwrite, syscall: 'copyfile', signal: options.signal },
      );
    } catch (err) {
      throw toFsError(err, { syscall: 'copyfile', path: src, dest: dst });
    }
  }

  /**
   * Copies `src` of `source` (another store, or this one) to `dst` here, replacing it (refusing an
   * existing one with `exclusive`), and returns the bytes copied. `onBlock` sees every block in
   * order (hashing, progress) and must not keep it.
   * - Onto a store that writes in place: FileHandle reads and writes through two reused buffers
   *   (src/vfs/handle-copy.ts) into a hidden sibling renamed into place; an object-store source
   *   then refills its own read buffers instead of allocating (src/core/lending-pool.ts).
   * - Onto an object store: the same reads, each block written into the store's write stream,
   *   which commits when it finishes or aborts the upload when destroyed (a FileHandle has no
   *   abort; see copyIntoStream).
   * Either way a failure leaves `dst` absent or as it was; so does aborting `signal`, which rejects
   * at once with ECANCELED (name `AbortError`) once the partial write is cleaned up.
   */
  async copyFrom(
    source: FileOps,
    src: string,
    dst: string,
    options: { exclusive?: boolean; onBlock?: (block: Buffer) => void; signal?: AbortSignal } = {},
  ): Promise<number> {
    let bytes = 0;
    const onBlock = (b: Buffer): void => {
      bytes += b.length;
      options.onBlock?.(b);
    };
    if (!this.atomicWrites) {
      const from = source.resolvePath(src, 'copyfile');
      const to = this.resolvePath(dst, 'copyfile');
      try {
        // (A directory source is EISDIR in copyByHandles, from its handle: no extra request.)
        // A directory in the way is found before the bytes travel, not at the final rename.
        const there = await this.fs.promises.stat(to).catch((err: unknown) => {
          if (errorCode(err) === 'ENOENT') return undefined;
          throw err;
        });
        if (there?.isDirectory()) throw fsError('EISDIR', {});
        await writeThroughTemp(
          this.fs,
          to,
          (temp) => copyByHandles(source.fs, from, this.fs, temp, { onBlock, signal: options.signal }),
          { exclusive: options.exclusive ?? false, syscall: 'copyfile', signal: options.signal },
        );
      } catch (err) {
        // The caller's names, not the fs paths or the hidden sibling's.
        throw toFsError(err, { syscall: 'copyfile', path: src, dest: dst });
      }
      return bytes;
    }
    try {
      await copyIntoStream(
        source.fs,
        source.resolvePath(src, 'copyfile'),
        this.fs,
        this.resolvePath(dst, 'copyfile'),
        { flags: options.exclusive ? 'wx' : 'w', onBlock, signal: options.signal },
      );
    } catch (err) {
      throw toFsError(err, { syscall: 'copyfile', path: src, dest: dst });
    }
    return bytes;
  }

  /** ZenML's `fileio.copy` name for {@link copyfile}. */
  copy(src: string, dst: string, overwrite = false): Promise<void> {
    return this.copyfile(src, dst, overwrite);
  }

  async exists(path: string): Promise<boolean> {
    const full = this.resolvePath(path, 'access');
    try {
      await this.fs.promises.stat(full);
      return true;
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return false;
      throw err;
    }
  }

  async isdir(path: string): Promise<boolean> {
    const full = this.resolvePath(path, 'stat');
    try {
      return (await this.fs.promises.stat(full)).isDirectory();
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return false;
      throw err;
    }
  }

  /** Entry names in a directory, sorted. */
  async listdir(path: string): Promise<string[]> {
    const full = this.resolvePath(path, 'scandir');
    const names = await this.fs.promises.readdir(full);
    return names.filter((n) => !isTempName(n)).sort();
  }

  /** Creates a directory and any missing parents; an existing directory is fine. */
  async makedirs(path: string): Promise<void> {
    await this.fs.promises.mkdir(this.resolvePath(path, 'mkdir'), { recursive: true });
  }

  /** Creates one directory; the parent must exist and the path must not. */
  async mkdir(path: string): Promise<void> {
    await this.fs.promises.mkdir(this.resolvePath(path, 'mkdir'));
  }

  /** Removes a file (not a directory: use rmtree). */
  async remove(path: string): Promise<void> {
    await this.fs.promises.unlink(this.resolvePath(path, 'unlink'));
  }

  /**
   * Renames a file or directory; refuses to replace an existing destination unless `overwrite`.
   * Across mounts (EXDEV) it copies, then deletes the source.
   */
  async rename(src: string, dst: string, overwrite = false): Promise<void> {
    const from = this.resolvePath(src, 'rename');
    const to = this.resolvePath(dst, 'rename');
    if (!overwrite && (await this.#exists(to)))
      throw fsError('EEXIST', { syscall: 'rename', path: src, dest: dst });
    try {
      await this.fs.promises.rename(from, to);
    } catch (err) {
      if (errorCode(err) !== 'EXDEV') throw err;
      // Across mounts: copy, then delete the source. The mount table's cross-mount copyFile goes
      // through a hidden sibling where the destination writes in place, so no copy is ever torn.
      const st = await this.fs.promises.stat(from);
      if (st.isDirectory()) await this.#moveTree(from, to);
      else {
        await this.fs.promises.copyFile(from, to, overwrite ? 0 : constants.COPYFILE_EXCL);
        await this.fs.promises.unlink(from);
      }
    }
  }

  /** Only "missing" means absent: a failed stat (EACCES, a dropped connection) is not a "no". */
  async #exists(full: string): Promise<boolean> {
    return pathExists(this.fs, full);
  }

  /**
   * Moves a tree by copying it, then deleting from the source exactly what was copied: the files,
   * then the directories left empty. Entries added to the source meanwhile stay there (with their
   * directories) rather than being lost. A failed copy leaves the source untouched and removes
   * what it had copied (best effort).
   */
  async #moveTree(from: string, to: string): Promise<void> {
    const copied: CopiedEntry[] = [];
    try {
      await this.#copyTree(from, to, '', copied);
    } catch (err) {
      await this.#removeCopied(to, copied).catch(() => undefined);
      throw err;
    }
    await this.#removeCopied(from, copied);
  }

  /** Copies `from` to a new directory `to`, recording each directory made and file copied. */
  async #copyTree(from: string, to: string, rel: string, copied: CopiedEntry[]): Promise<void> {
    const at = (base: string): string => (rel === '' ? base : joinPath(base, rel));
    // Not recursive: like rename, a missing destination parent is ENOENT.
    await this.fs.promises.mkdir(at(to));
    copied.push({ rel, dir: true });
    for (const d of await this.fs.promises.readdir(at(from), { withFileTypes: true })) {
      // Another writer's uncommitted file is not part of the tree (it appears in the source later).
      if (isTempName(d.name)) continue;
      const child = rel === '' ? d.name : `${rel}/${d.name}`;
      if (d.isDirectory()) await this.#copyTree(from, to, child, copied);
      else {
        await this.fs.promises.copyFile(joinPath(from, child), joinPath(to, child), constants.COPYFILE_EXCL);
        copied.push({ rel: child, dir: false });
      }
    }
  }

  /** Removes the recorded files under `base`, then the recorded directories that are now empty. */
  async #removeCopied(base: string, copied: readonly CopiedEntry[]): Promise<void> {
    const at = (rel: string): string => (rel === '' ? base : joinPath(base, rel));
    for (const e of copied) {
      if (e.dir) continue;
      try {
        await this.fs.promises.unlink(at(e.rel));
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
    // Children were recorded after their parents: deepest first.
    for (let i = copied.length - 1; i >= 0; i--) {
      const e = copied[i]!;
      if (!e.dir) continue;
      try {
        await this.fs.promises.rmdir(at(e.rel));
      } catch (err) {
        const code = errorCode(err);
        // Not empty: something was added meanwhile, and it stays with its directory.
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw err;
      }
    }
  }

  /** Removes a directory and everything under it (ENOENT if it does not exist). */
  async rmtree(path: string): Promise<void> {
    const full = this.resolvePath(path, 'rm');
    const st = await this.fs.promises.stat(full);
    if (!st.isDirectory()) throw fsError('ENOTDIR', { syscall: 'rmtree', path });
    await this.fs.promises.rm(full, { recursive: true });
  }

  /**
   * Removes what writers killed outright left behind in `path` and every directory below it: the
   * hidden temp files of stores that write in place (src/vfs/temp-write.ts says which are abandoned:
   * a dead writer of this host at once, any other after `staleAfterMs`, default a day). Returns their
   * full paths; with `dryRun` it only lists them. Stores that commit atomically have none (an empty
   * list): an object store's unfinished multipart uploads are the store's to expire (S3's
   * AbortIncompleteMultipartUpload lifecycle rule).
   */
  async sweep(path: string, options: { dryRun?: boolean; staleAfterMs?: number } = {}): Promise<string[]> {
    if (this.atomicWrites) return [];
    const full = this.resolvePath(path, 'scandir');
    if (!(await this.fs.promises.stat(full)).isDirectory()) return [];
    const found: string[] = [];
    const fail = (err: Error): void => {
      throw err;
    };
    for await (const [dir] of this.#walk(full, true, fail))
      found.push(...(await sweepTemps(this.fs, dir, options)));
    return found;
  }

  async stat(path: string): Promise<Stats> {
    return this.fs.promises.stat(this.resolvePath(path, 'stat'));
  }

  /** A file's size in bytes; for a directory, the total size of the files under it. */
  async size(path: string): Promise<number> {
    const full = this.resolvePath(path, 'stat');
    const st = await this.fs.promises.stat(full);
    if (!st.isDirectory()) return st.size;
    let total = 0;
    for await (const [dir, , files] of this.#walk(full, true, undefined)) {
      for (const f of files) total += (await this.fs.promises.stat(joinPath(dir, f))).size;
    }
    return total;
  }

  /** Walks a tree like Python's os.walk: `[dirpath, dirnames, filenames]` for each directory. */
  walk(top: string, options: WalkOptions = {}): AsyncGenerator<WalkEntry> {
    return this.#walk(this.resolvePath(top, 'scandir'), options.topdown ?? true, options.onerror);
  }

  async *#walk(
    top: string,
    topdown: boolean,
    onerror: ((err: Error) => void) | undefined,
  ): AsyncGenerator<WalkEntry> {
    let entries;
    try {
      entries = await this.fs.promises.readdir(top, { withFileTypes: true });
    } catch (err) {
      onerror?.(toFsError(err, {}));
      return;
    }
    const dirs: string[] = [];
    const files: string[] = [];
    for (const e of entries) if (!isTempName(e.name)) (e.isDirectory() ? dirs : files).push(e.name);
    dirs.sort();
    files.sort();
    const entry: WalkEntry = [top, dirs, files];
    if (topdown) yield entry;
    for (const d of [...entry[1]]) yield* this.#walk(joinPath(top, d), topdown, onerror);
    if (!topdown) yield entry;
  }

  /**
   * Paths matching a glob pattern (picomatch syntax: `*`, `**`, `?`, `[…]`, `{a,b}`), sorted. Only the
   * pattern's literal prefix is listed; `*` does not match names starting with `.`, as in Python.
   */
  async glob(pattern: string): Promise<string[]> {
    const full = this.resolveGlob(pattern);
    const parts = full.split('/');
    let cut = parts.findIndex((p, i) => i > 0 && GLOB_CHARS.test(p) && picomatch.scan(p).isGlob);
    if (cut < 0) return (await this.#exists(full)) ? [full] : [];
    // keep `scheme://authority` together
    if (/^[a-z][a-z0-9+.-]*:$/i.test(parts[0]!) && cut < 3) cut = 3;
    const base = parts.slice(0, cut).join('/') || '/';
    const rest = parts.slice(cut);
    const out: string[] = [];
    if (rest.some((p) => p.includes('**'))) {
      const matcher = picomatch(rest.join('/'), { dot: false });
      let entries;
      try {
        entries = await this.fs.promises.readdir(base, { recursive: true });
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
      for (const rel of entries) if (matcher(rel)) out.push(joinPath(base, rel));
    } else {
      let level = [base];
      for (let i = 0; i < rest.length; i++) {
        const matcher = picomatch(rest[i]!, { dot: false });
        const last = i === rest.length - 1;
        const next: string[] = [];
        for (const dir of level) {
          let entries;
          try {
            entries = await this.fs.promises.readdir(dir, { withFileTypes: true });
          } catch (err) {
            if (isMissing(err)) continue;
            throw err;
          }
          for (const e of entries) {
            if (!matcher(e.name)) continue;
            if (last) out.push(joinPath(dir, e.name));
            else if (e.isDirectory()) next.push(joinPath(dir, e.name));
          }
        }
        level = next;
      }
    }
    return out.sort();
  }

  /** Hook for the facade: how a glob pattern becomes a full pattern. */
  protected resolveGlob(pattern: string): string {
    return this.resolvePath(pattern, 'glob');
  }
}
