/**
 * ZenML's filesystem operations (`open, copyfile, exists, glob, isdir, listdir, makedirs, mkdir,
 * remove, rename, rmtree, stat, walk`, plus `size`), written once over any FsAdapter. The
 * ArtifactStore facade binds them to a store root; `fileio` binds them to the default mount table.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import picomatch from 'picomatch';
import { errorCode, fsError, toFsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';
import { copyByHandles, copyIntoStream, opened } from '../vfs/handle-copy.js';
import { isTempName, pathExists, tempSibling, writeThroughTemp } from '../vfs/temp-write.js';

export { isTempName };

export type OpenMode = 'r' | 'rb' | 'w' | 'wb' | 'a' | 'ab' | 'x' | 'xb';

export interface WalkOptions {
  /** Yield a directory before its subdirectories (default true). Pruning `dirnames` works top-down. */
  topdown?: boolean;
  /** Called with errors from listing a directory; without it they are skipped, as os.walk does. */
  onerror?: (err: Error) => void;
}

/** A walk step: the directory, its subdirectory names, its file names (both sorted). */
export type WalkEntry = [dirpath: string, dirnames: string[], filenames: string[]];

/**
 * An open artifact file. Reading modes stream from the store; writing modes stream into it and
 * commit on `close()` (on object stores nothing is visible before then).
 */
/** Keeps a read stream's early error from being uncaught; `read`, iteration and `stream()` surface it. */
const ignoreUntilRead = (): void => undefined;

export class ArtifactFile {
  readonly path: string;
  readonly mode: OpenMode;
  readonly #fs: FsAdapter;
  /** Where bytes go before commit: a hidden sibling on stores that write in place, else the path. */
  readonly #target: string;
  #readable: Readable | undefined;
  #writable: Writable | undefined;
  #done: Promise<void> | undefined;
  #closed = false;

  constructor(fs: FsAdapter, path: string, mode: OpenMode, atomic: boolean) {
    this.#fs = fs;
    this.path = path;
    this.mode = mode;
    const replaces = mode.startsWith('w') || mode.startsWith('x');
    this.#target = replaces && !atomic ? tempSibling(path) : path;
  }

  get binary(): boolean {
    return this.mode.endsWith('b');
  }

  get writable(): boolean {
    return !this.mode.startsWith('r');
  }

  /** @internal Opens the underlying stream; rejects with the fs error (ENOENT, EISDIR, EEXIST…). */
  async _open(): Promise<this> {
    if (this.writable) {
      if (
        this.mode.startsWith('x') &&
        this.#target !== this.path &&
        (await pathExists(this.#fs, this.path))
      ) {
        throw fsError('EEXIST', { syscall: 'open', path: this.path });
      }
      const flags = this.mode.startsWith('a') ? 'a' : this.mode.startsWith('x') ? 'wx' : 'w';
      const w = this.#fs.createWriteStream(this.#target, { flags });
      this.#done = new Promise<void>((resolve, reject) => {
        w.once('close', resolve);
        w.once('error', reject);
      });
      this.#done.catch(() => undefined);
      await opened(w);
      this.#writable = w;
    } else {
      const r = this.#fs.createReadStream(this.path);
      // An error while nobody is reading (the stream may fill its buffer as soon as it is open)
      // must not be an uncaught 'error' event: the stream keeps it, and the next read throws it.
      r.on('error', ignoreUntilRead);
      await opened(r);
      this.#readable = r;
    }
    return this;
  }

  /**
   * The stream itself: a Readable for read modes, a Writable for write modes. The caller now
   * handles its errors; one that already happened is thrown here (a piped errored stream would
   * never end).
   */
  stream(): Readable | Writable {
    if (this.#readable) {
      this.#readable.off('error', ignoreUntilRead);
      if (this.#readable.errored) throw this.#readable.errored;
    }
    return (this.#readable ?? this.#writable)!;
  }

  /** Reads everything left: a string in text mode, a Buffer in binary mode. */
  async read(): Promise<string | Buffer> {
    if (!this.#readable)
      throw fsError('EBADF', {
        syscall: 'read',
        path: this.path,
        detail: `file opened with mode '${this.mode}'`,
      });
    const chunks: Buffer[] = [];
    for await (const c of this.#readable) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    return this.binary ? buf : buf.toString('utf8');
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (!this.#readable) throw fsError('EBADF', { syscall: 'read', path: this.path });
    for await (const c of this.#readable) yield c as Buffer;
  }

  /** Writes data, waiting for backpressure to clear. */
  async write(data: string | Uint8Array): Promise<void> {
    const w = this.#writable;
    if (!w || this.#closed)
      throw fsError('EBADF', {
        syscall: 'write',
        path: this.path,
        detail: `file opened with mode '${this.mode}'`,
      });
    // A failed stream neither drains nor errors again: report its error instead of waiting forever.
    const failed = (): Error | undefined =>
      w.errored ??
      (w.destroyed
        ? fsError('EBADF', { syscall: 'write', path: this.path, detail: 'the write stream was closed' })
        : undefined);
    const before = failed();
    if (before) throw before;
    const ok = w.write(typeof data === 'string' ? Buffer.from(data) : data);
    if (!ok) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          w.off('drain', onDrain);
          w.off('error', onError);
          w.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = (): void => done();
        const onError = (err: Error): void => done(err);
        const onClose = (): void => done(failed() ?? fsError('EBADF', { syscall: 'write', path: this.path }));
        w.on('drain', onDrain);
        w.on('error', onError);
        w.on('close', onClose);
      });
    }
    const after = failed();
    if (after) throw after;
  }

  /** Commits a write (or releases a read). A failed commit rejects and leaves nothing behind. */
  async close(): Promise<void> {
    if (this.#closed) return this.#done;
    this.#closed = true;
    if (!this.#writable) {
      this.#readable?.destroy();
      return;
    }
    this.#writable.end();
    try {
      await this.#done;
      if (this.#target !== this.path) {
        if (this.mode.startsWith('x') && (await pathExists(this.#fs, this.path))) {
          throw fsError('EEXIST', { syscall: 'open', path: this.path });
        }
        await this.#fs.promises.rename(this.#target, this.path);
      }
    } catch (err) {
      await this.#cleanup();
      throw err;
    }
  }

  /** Abandons a write: nothing is committed, the destination stays absent or as it was. */
  async abort(reason?: Error): Promise<void> {
    this.#closed = true;
    this.#writable?.destroy(reason ?? new Error('aborted'));
    await this.#done?.catch(() => undefined);
    await this.#cleanup();
  }

  async #cleanup(): Promise<void> {
    if (this.#target !== this.path)
      await this.#fs.promises.rm(this.#target, { force: true }).catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

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
  async copyfile(src: string, dst: string, overwrite = false): Promise<void> {
    const from = this.resolvePath(src, 'copyfile');
    const to = this.resolvePath(dst, 'copyfile');
    if (this.atomicWrites) {
      return this.fs.promises.copyFile(from, to, overwrite ? 0 : constants.COPYFILE_EXCL);
    }
    // Copy beside the destination, then rename: a failed copy never leaves a torn file.
    try {
      await writeThroughTemp(
        this.fs,
        to,
        (temp) => this.fs.promises.copyFile(from, temp, constants.COPYFILE_EXCL),
        { exclusive: !overwrite, syscall: 'copyfile' },
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
   * Either way a failure leaves `dst` absent or as it was.
   */
  async copyFrom(
    source: FileOps,
    src: string,
    dst: string,
    options: { exclusive?: boolean; onBlock?: (block: Buffer) => void } = {},
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
          (temp) => copyByHandles(source.fs, from, this.fs, temp, 'wx', onBlock),
          { exclusive: options.exclusive ?? false, syscall: 'copyfile' },
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
        options.exclusive ? 'wx' : 'w',
        onBlock,
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
