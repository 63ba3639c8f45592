/**
 * Copies a file from one fs to another: the source is read through a FileHandle into one of two
 * reused buffers while the other is written. `copyByHandles` writes through a FileHandle (a
 * destination that writes in place: local disk, memfs); `copyIntoStream` writes into the
 * destination's write stream (an object store, which commits when the stream finishes and aborts
 * the upload when it is destroyed, so a failed copy commits nothing).
 *
 * Why not `pipeline(createReadStream, createWriteStream)`: a stream consumer may keep its chunks,
 * so a read stream hands out fresh memory per chunk, and in a process over V8's 8 MiB marking
 * threshold that allocation keeps starting full GCs (see src/core/lending-pool.ts); node:fs read
 * and write streams also move 64 KiB at a time. `FileHandle.read` copies into our buffer, so the
 * object-store adapters refill their own (lent) socket buffers, and each write is 4 MiB.
 * Measured with `npm run bench:s3-gc -- --rounds 5` (modes `copy` and `copy-stream`): S3 (discard
 * server) to a tmpfs file, 1 GiB, through a mount table's `copyFile`: 1348 MiB/s median with 1 full
 * GC by handles, 574 MiB/s with 35 through a stream pipeline. The other way (modes `upload-copy`
 * and `upload-copy-stream`, `benchmarks/results/s3-gc-2026-11-30T10-57-37Z.json`), a 1 GiB tmpfs
 * file onto S3: 1947 MiB/s median with 1 full GC into the write stream, 522 with 42 through a
 * stream pipeline.
 */
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { abortError, fsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';

/** Bytes per read and per write. */
const BLOCK = 4 * 1024 * 1024;

interface Handle {
  stat(): Promise<{ isDirectory(): boolean }>;
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number | null,
  ): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

/** How a copy runs. */
export interface CopyOptions {
  /** How the destination is opened (default `wx`: it must not exist). */
  flags?: string;
  /** Sees every block in order, before it is written (hashing, progress); must not keep it. */
  onBlock?: ((block: Buffer) => void) | undefined;
  /**
   * Abandons the copy: it rejects at once with ECANCELED (name `AbortError`, the signal's reason as
   * cause) and cleans up as any failure does (the upload aborted, nothing committed).
   */
  signal?: AbortSignal | undefined;
}

/** Copies `from` (in `src`) to `to` (in `dst`) through two FileHandles. */
export async function copyByHandles(
  src: FsAdapter,
  from: string,
  dst: FsAdapter,
  to: string,
  options: CopyOptions = {},
): Promise<void> {
  await withSource(src, from, options.signal, async (input) => {
    const output = (await dst.promises.open(to, options.flags ?? 'wx')) as unknown as Handle;
    let failed = true;
    try {
      await pump(input, (buf, n) => writeFull(output, buf, n), options);
      failed = false;
    } finally {
      // A failed copy's error is the one that matters, not a close error after it.
      await output.close().catch((err: unknown) => {
        if (!failed) throw err;
      });
    }
  });
}

/** Opens `from` for reading, refuses a directory, runs `copy` with the handle, and closes it. */
async function withSource(
  src: FsAdapter,
  from: string,
  signal: AbortSignal | undefined,
  copy: (input: Handle) => Promise<void>,
): Promise<void> {
  if (signal?.aborted) throw abortError(signal);
  const input = (await src.promises.open(from, 'r')) as unknown as Handle;
  try {
    // A directory opens for reading on local disk; its handle's stat says what it is (no extra
    // request on an object store, whose handle knows its metadata from open).
    if ((await input.stat()).isDirectory()) throw fsError('EISDIR', { syscall: 'copyfile', path: from });
    await copy(input);
  } finally {
    const closing = input.close().catch(() => undefined);
    // Aborted: a read may still be pending (a silent FIFO, a hung mount), and a FileHandle's close
    // waits for it. The copy's cleanup must not: the handle closes when that read returns.
    if (!signal?.aborted) await closing;
  }
}

/**
 * Copies `from` (in `src`) into `dst.createWriteStream(to, { flags })`: each block is written once
 * the stream has taken the previous one (an object store's stream copies it into its part buffers
 * before calling back). The copy commits when the stream finishes; on any failure the stream is
 * destroyed, which aborts the upload, and the destination stays as it was.
 */
export async function copyIntoStream(
  src: FsAdapter,
  from: string,
  dst: FsAdapter,
  to: string,
  options: CopyOptions = {},
): Promise<void> {
  await withSource(src, from, options.signal, async (input) => {
    const out = dst.createWriteStream(to, { flags: options.flags ?? 'wx' }) as Writable;
    // Every error also reaches `opened`, a write's callback or `finished`; this keeps it from
    // being uncaught.
    out.on('error', () => undefined);
    try {
      // The destination's own refusal (EEXIST, ENOENT, EISDIR…) comes first, before any byte is
      // read or shown to `onBlock`; a later write to the destroyed stream would only say so.
      await abortable(opened(out), options.signal);
      await pump(
        input,
        (buf, n) =>
          new Promise<void>((resolve, reject) => {
            out.write(buf.subarray(0, n), (err) => (err ? reject(out.errored ?? err) : resolve()));
          }),
        options,
      );
      out.end();
      // The commit is under way and cannot be recalled: its outcome, not the abort, is the answer.
      await finished(out);
    } catch (err) {
      const cause = out.errored ?? err;
      out.destroy(cause as Error);
      await finished(out).catch(() => undefined);
      throw cause;
    }
  });
}

/** Resolves once a stream has opened its target ('ready' in node:fs, 'open' in memfs), or rejects. */
export function opened(stream: Readable | Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.off('ready', done);
      stream.off('open', done);
      stream.off('error', fail);
      resolve();
    };
    const fail = (err: Error): void => {
      stream.off('ready', done);
      stream.off('open', done);
      reject(err);
    };
    stream.once('ready', done);
    stream.once('open', done);
    stream.once('error', fail);
  });
}

async function pump(
  input: Handle,
  write: (buf: Buffer, n: number) => Promise<void>,
  { onBlock, signal }: CopyOptions,
): Promise<void> {
  let ready = Buffer.allocUnsafe(BLOCK);
  let spare = Buffer.allocUnsafe(BLOCK);
  let n = await abortable(readFull(input, ready), signal);
  // Bounded: each pass consumes n > 0 bytes of the source, which ends (bytesRead 0).
  while (n > 0) {
    onBlock?.(ready.subarray(0, n));
    const reading = readFull(input, spare);
    // A failed write (ENOSPC…) is reported at once, not after the read in flight; that read is
    // abandoned (its handle is closed next), so its own failure is not reported too.
    reading.catch(() => undefined);
    await abortable(write(ready, n), signal);
    n = await abortable(reading, signal);
    [ready, spare] = [spare, ready];
  }
}

/**
 * `work`, or ECANCELED as soon as `signal` aborts: a stalled read or write does not hold an
 * interrupted copy. The abandoned operation settles later on its own (its error is dropped).
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      work.catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Fills `buf` from the handle's position (fewer bytes only at the end). */
async function readFull(h: Handle, buf: Buffer): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await h.read(buf, got, buf.length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function writeFull(h: Handle, buf: Buffer, n: number): Promise<void> {
  let done = 0;
  while (done < n) {
    const { bytesWritten } = await h.write(buf, done, n - done);
    if (bytesWritten <= 0) throw fsError('EIO', { syscall: 'write', detail: `no progress at byte ${done}` });
    done += bytesWritten;
  }
}
