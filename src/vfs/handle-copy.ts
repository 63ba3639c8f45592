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
import { fsError } from '../core/errors.js';
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

/**
 * Copies `from` (in `src`) to `to` (in `dst`, created with `flags`, default `wx`). `onBlock` sees
 * every block in order, before it is written (hashing, progress); it must not keep the block.
 */
export async function copyByHandles(
  src: FsAdapter,
  from: string,
  dst: FsAdapter,
  to: string,
  flags = 'wx',
  onBlock?: (block: Buffer) => void,
): Promise<void> {
  await withSource(src, from, async (input) => {
    const output = (await dst.promises.open(to, flags)) as unknown as Handle;
    let failed = true;
    try {
      await pump(input, (buf, n) => writeFull(output, buf, n), onBlock);
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
  copy: (input: Handle) => Promise<void>,
): Promise<void> {
  const input = (await src.promises.open(from, 'r')) as unknown as Handle;
  try {
    // A directory opens for reading on local disk; its handle's stat says what it is (no extra
    // request on an object store, whose handle knows its metadata from open).
    if ((await input.stat()).isDirectory()) throw fsError('EISDIR', { syscall: 'copyfile', path: from });
    await copy(input);
  } finally {
    await input.close().catch(() => undefined);
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
  flags = 'wx',
  onBlock?: (block: Buffer) => void,
): Promise<void> {
  await withSource(src, from, async (input) => {
    const out = dst.createWriteStream(to, { flags }) as Writable;
    // Every error also reaches `opened`, a write's callback or `finished`; this keeps it from
    // being uncaught.
    out.on('error', () => undefined);
    try {
      // The destination's own refusal (EEXIST, ENOENT, EISDIR…) comes first, before any byte is
      // read or shown to `onBlock`; a later write to the destroyed stream would only say so.
      await opened(out);
      await pump(
        input,
        (buf, n) =>
          new Promise<void>((resolve, reject) => {
            out.write(buf.subarray(0, n), (err) => (err ? reject(out.errored ?? err) : resolve()));
          }),
        onBlock,
      );
      out.end();
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
  onBlock?: (block: Buffer) => void,
): Promise<void> {
  let ready = Buffer.allocUnsafe(BLOCK);
  let spare = Buffer.allocUnsafe(BLOCK);
  let n = await readFull(input, ready);
  // Bounded: each pass consumes n > 0 bytes of the source, which ends (bytesRead 0).
  while (n > 0) {
    onBlock?.(ready.subarray(0, n));
    const reading = readFull(input, spare);
    // A failed write (ENOSPC…) is reported at once, not after the read in flight; that read is
    // abandoned (its handle is closed next), so its own failure is not reported too.
    reading.catch(() => undefined);
    await write(ready, n);
    n = await reading;
    [ready, spare] = [spare, ready];
  }
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
