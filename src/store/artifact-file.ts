/**
 * An open file of a store (`FileOps.open`): reads stream from the store; writes stream into it and
 * commit on `close()`, all or nothing (see {@link ArtifactFile}).
 */
import type { Readable, Writable } from 'node:stream';
import { errorCode, fsError, toFsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';
import { opened } from '../vfs/handle-copy.js';
import { pathExists, reclaimOnce, tempSibling } from '../vfs/temp-write.js';

export type OpenMode = 'r' | 'rb' | 'w' | 'wb' | 'a' | 'ab' | 'x' | 'xb';

/** Keeps a read stream's early error from being uncaught; `read`, iteration and `stream()` surface it. */
const ignoreUntilRead = (): void => undefined;

/**
 * An open artifact file. Reading modes stream from the store; writing modes stream into it and
 * commit on `close()` (on object stores nothing is visible before then).
 *
 * A write is all or nothing when it fails or is aborted:
 * - `w`/`x` on a store that writes in place fill a hidden sibling, renamed over the path on close;
 *   a failure removes it. A writer killed outright leaves it: the next write into that directory
 *   (the first in a process) removes those of dead writers (src/vfs/temp-write.ts).
 * - `a` on a store that writes in place appends to the file itself: the size it had at open is
 *   kept, and a failure or `abort()` truncates it back to that size (or removes the file when the
 *   append created it). The rollback is done by this process, so a crash or SIGKILL mid-append
 *   leaves what was appended so far; and another writer appending meanwhile is cut off with it.
 * - The rollback starts as soon as the stream fails, even while nobody writes, and is done before
 *   the failed `write()` rejects: a caller that drops the file then leaves nothing behind.
 *   `close()` rejects with that same error, and `abort()` resolves.
 */
export class ArtifactFile {
  readonly path: string;
  readonly mode: OpenMode;
  readonly #fs: FsAdapter;
  /** Where bytes go before commit: a hidden sibling on stores that write in place, else the path. */
  readonly #target: string;
  /** An append on a store that writes in place: only its own rollback can undo it. */
  readonly #appendsInPlace: boolean;
  /** The file's size when the append opened; null when there was no file. */
  #sizeBefore: number | null = null;
  /** The appended file as opened (device, inode): a rollback touches that file only. */
  #appendedFile: { dev: number; ino: number } | undefined;
  /** Bytes handed to the stream: an append rolls back at most these. */
  #attempted = 0;
  #readable: Readable | undefined;
  /** The write stream once it is open (`#stream` from its creation, for the rollback). */
  #writable: Writable | undefined;
  #stream: Writable | undefined;
  /** Settles on the write stream's 'close': its descriptor is shut and no write can land after. */
  #streamClosed: Promise<void> | undefined;
  /** The write's first failure, naming `path` (never the hidden sibling). */
  #failure: Error | undefined;
  #undoing: Promise<void> | undefined;
  /** A rollback that did not complete (`abort()` reports it). */
  #undoFailure: unknown;
  #closing: Promise<void> | undefined;
  #closed = false;
  #committed = false;
  #aborted: Error | undefined;

  constructor(fs: FsAdapter, path: string, mode: OpenMode, atomic: boolean) {
    this.#fs = fs;
    this.path = path;
    this.mode = mode;
    const replaces = mode.startsWith('w') || mode.startsWith('x');
    this.#target = replaces && !atomic ? tempSibling(path) : path;
    this.#appendsInPlace = mode.startsWith('a') && !atomic;
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
      if (this.#appendsInPlace) this.#sizeBefore = await this.#size();
      // The first write into a directory in this process removes siblings that killed writers left.
      else if (this.#target !== this.path) await reclaimOnce(this.#fs, this.path);
      const flags = this.mode.startsWith('a') ? 'a' : this.mode.startsWith('x') ? 'wx' : 'w';
      const w = this.#fs.createWriteStream(this.#target, { flags });
      this.#stream = w;
      this.#streamClosed = new Promise<void>((resolve) => w.once('close', () => resolve()));
      // Kept for the stream's life: a failure while nobody writes is undone at once, not uncaught.
      w.on('error', (err: Error) => this.#fail(err));
      try {
        await opened(w);
        // (No file yet: a store that commits on close, where there is nothing to roll back.)
        const st = this.#appendsInPlace
          ? await this.#fs.promises.stat(this.path).catch((err: unknown) => {
              if (errorCode(err) === 'ENOENT') return undefined;
              throw err;
            })
          : undefined;
        if (st) this.#appendedFile = { dev: st.dev, ino: st.ino };
      } catch (err) {
        this.#fail(err);
        await this.#undo();
        throw this.#failure ?? err;
      }
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
   * never end). A failure of the Writable is still rolled back as described above.
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

  /**
   * Writes data, waiting for backpressure to clear. A failure (ENOSPC, a dropped connection…)
   * rejects once the write has been rolled back.
   */
  async write(data: string | Uint8Array): Promise<void> {
    const w = this.#writable;
    if (!w || this.#closed)
      throw fsError('EBADF', {
        syscall: 'write',
        path: this.path,
        detail: `file opened with mode '${this.mode}'`,
      });
    const before = this.#streamFailure(w);
    if (before) {
      await this.#undo();
      throw before;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    this.#attempted += bytes.length;
    const ok = w.write(bytes);
    // A failed stream neither drains nor errors again: 'close' ends the wait too.
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          w.off('drain', done);
          w.off('error', done);
          w.off('close', done);
          resolve();
        };
        w.on('drain', done);
        w.on('error', done);
        w.on('close', done);
      });
    }
    const after = this.#streamFailure(w);
    if (after) {
      await this.#undo();
      throw after;
    }
  }

  /** Commits a write (or releases a read). A failed commit rejects and leaves nothing behind. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    const w = this.#writable;
    if (!w) {
      this.#readable?.destroy();
      return;
    }
    // After abort() there is nothing to commit; only a failure before it is reported.
    if (this.#aborted) {
      await this.#undo();
      if (this.#failure) throw this.#failure;
      return;
    }
    if (!this.#failure) {
      w.end();
      await this.#streamClosed;
      // Destroyed through stream() before it finished: what it holds is torn, never to be committed.
      if (!w.writableFinished)
        this.#fail(
          fsError('EBADF', {
            syscall: 'write',
            path: this.path,
            detail: 'the write stream was closed before it finished',
          }),
        );
    }
    const failure = this.#failure ?? this.#aborted;
    if (failure) {
      await this.#undo();
      throw failure;
    }
    try {
      if (this.#target !== this.path) {
        if (this.mode.startsWith('x') && (await pathExists(this.#fs, this.path))) {
          throw fsError('EEXIST', { syscall: 'open', path: this.path });
        }
        await this.#fs.promises.rename(this.#target, this.path).catch((err: unknown) => {
          // The hidden sibling is no name the caller knows.
          throw toFsError(err, { syscall: 'rename', path: this.path });
        });
      }
      if (this.#aborted) throw this.#aborted;
      this.#committed = true;
    } catch (err) {
      await this.#undo();
      throw err;
    }
  }

  /**
   * Abandons a write: nothing is committed, the destination stays absent or as it was (an append
   * is truncated back). After a successful `close()` it does nothing. It rejects only when the
   * rollback itself failed (the file could not be truncated or removed).
   */
  async abort(reason?: Error): Promise<void> {
    if (this.#committed) return;
    // close() already decides: once its commit is under way it cannot be recalled, and a failed
    // close has rolled back. Either way abort reports nothing new, and never a false "not written".
    if (this.#closing) {
      await this.#closing.catch(() => undefined);
      return;
    }
    this.#closed = true;
    const w = this.#writable;
    if (!w) {
      this.#readable?.destroy();
      return;
    }
    this.#aborted ??= reason ?? fsError('ECANCELED', { syscall: 'write', path: this.path });
    // The reason reaches an object store's upload, which aborts with it.
    if (!w.destroyed) w.destroy(this.#aborted);
    await this.#undo();
    if (this.#undoFailure !== undefined) throw this.#undoFailure;
  }

  /** The stream's failure, if it has failed (its 'error' event may not have been emitted yet). */
  #streamFailure(w: Writable): Error | undefined {
    if (!this.#failure && w.errored) this.#fail(w.errored);
    if (!this.#failure && w.destroyed)
      this.#fail(
        fsError('EBADF', { syscall: 'write', path: this.path, detail: 'the write stream was closed' }),
      );
    return this.#failure;
  }

  /** Keeps the first failure and starts the rollback. Errors of an abort() are its own. */
  #fail(err: unknown): void {
    if (this.#committed || this.#aborted) return;
    if (!this.#failure) {
      // The hidden sibling is no name the caller knows: errors name the path it opened.
      this.#failure =
        this.#target !== this.path || !(err instanceof Error)
          ? toFsError(err, { syscall: (err as { syscall?: string } | undefined)?.syscall, path: this.path })
          : err;
    }
    void this.#undo();
  }

  /** Rolls the write back, once: after the stream has closed, so no buffered write lands later. */
  #undo(): Promise<void> {
    this.#undoing ??= (async () => {
      const w = this.#stream;
      if (!w) return;
      if (!w.destroyed) w.destroy();
      // A stream that never opened wrote nothing, and may never emit 'close' (memfs does not).
      if (this.#writable) await this.#streamClosed;
      try {
        if (this.#target !== this.path) await this.#fs.promises.rm(this.#target, { force: true });
        else if (this.#appendsInPlace) await this.#restoreSize();
      } catch (err) {
        this.#undoFailure = err;
      }
    })();
    return this.#undoing;
  }

  /**
   * Truncates an append back to the size at open, or removes the file it created, touching only
   * this append's bytes: nothing when the path now holds another file (one renamed over it), and
   * an EIO (the append stays) when the file holds more than it and this append's bytes (another
   * writer appended meanwhile). A check and a truncate are two steps: a writer appending between
   * them is cut off.
   */
  async #restoreSize(): Promise<void> {
    const before = this.#sizeBefore;
    const ours = this.#attempted;
    let now: { size: number; dev: number; ino: number };
    try {
      now = await this.#fs.promises.stat(this.path);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    }
    const mine = this.#appendedFile;
    if (!mine || now.dev !== mine.dev || now.ino !== mine.ino) return;
    if (now.size > (before ?? 0) + ours) {
      if (ours === 0) return;
      throw fsError('EIO', {
        syscall: 'write',
        path: this.path,
        detail: `another writer appended meanwhile: the ${ours} bytes of this append could not be rolled back`,
      });
    }
    if (before === null) {
      await this.#fs.promises.rm(this.path, { force: true });
      return;
    }
    if (now.size <= before) return;
    const h = await this.#fs.promises.open(this.path, 'r+');
    try {
      await h.truncate(before);
    } finally {
      await h.close();
    }
  }

  /** The file's size; null when it does not exist. */
  async #size(): Promise<number | null> {
    try {
      return (await this.#fs.promises.stat(this.path)).size;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return null;
      throw err;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
