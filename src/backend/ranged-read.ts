/**
 * Large sequential reads as parallel ranged GETs delivered in order, written once for every object
 * store. A service supplies `fetch(start, end)`; this reader keeps `concurrency` ranges in flight,
 * hands their bytes on in order, and never holds more than `concurrency` ranges.
 *
 * Behaviour:
 * - Memory is bounded by `concurrency × partSize`, whatever the object's size; a range is fetched
 *   only when a slot frees, so a slow consumer slows the fetching (backpressure).
 * - Chunks are passed on as the transport delivered them (no copy).
 * - A short range (the object changed or the connection was cut) is an EIO error, never silent
 *   truncation; a failed range fails the stream with its error.
 * - Destroying the stream aborts the ranges in flight.
 * - `verify` (optional) sees every byte in order and may fail the stream at the end (end-to-end
 *   checksums).
 */
import { Readable } from 'node:stream';
import { fsError } from '../core/errors.js';

export type RangeFetch = (
  start: number,
  end: number,
  signal: AbortSignal,
) => Promise<AsyncIterable<Uint8Array>>;

export interface OrderedRangeOptions {
  /** First byte to deliver. */
  from: number;
  /** Last byte to deliver (inclusive). */
  to: number;
  partSize: number;
  concurrency: number;
  fetch: RangeFetch;
  /** Bytes `[from, headEnd]` already being streamed (the request that discovered the size). */
  head?: { body: AsyncIterable<Uint8Array>; end: number } | undefined;
  /** Called for every chunk in order, then with `done` at the end; may throw to fail the stream. */
  verify?: ((chunk: Uint8Array | undefined) => void) | undefined;
  /** Shown in errors. */
  path?: string | undefined;
  highWaterMark?: number | undefined;
}

async function collect(
  body: AsyncIterable<Uint8Array>,
  expected: number,
  path: string | undefined,
): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  let got = 0;
  for await (const c of body) {
    chunks.push(c);
    got += c.length;
  }
  if (got !== expected) {
    throw fsError('EIO', {
      syscall: 'read',
      path,
      detail: `short read: expected ${expected} bytes of a range, got ${got}`,
      retryable: true,
    });
  }
  return chunks;
}

export function orderedRangeReader(opts: OrderedRangeOptions): Readable {
  const controller = new AbortController();
  const { partSize, to, path } = opts;
  const concurrency = Math.max(1, opts.concurrency);

  async function* generate(): AsyncGenerator<Uint8Array> {
    let next = opts.head ? opts.head.end + 1 : opts.from;
    const queue: Promise<Uint8Array[]>[] = [];
    const launch = (): void => {
      if (next > to) return;
      const start = next;
      const end = Math.min(to, start + partSize - 1);
      next = end + 1;
      const p = opts
        .fetch(start, end, controller.signal)
        .then((body) => collect(body, end - start + 1, path));
      p.catch(() => undefined); // observed when its turn comes
      queue.push(p);
    };
    // While the head streams, the next ranges are already on their way.
    for (let i = 0; i < concurrency; i++) launch();
    try {
      if (opts.head) {
        let got = 0;
        for await (const c of opts.head.body) {
          got += c.length;
          opts.verify?.(c);
          yield c;
        }
        const expected = opts.head.end - opts.from + 1;
        if (got !== expected) {
          throw fsError('EIO', {
            syscall: 'read',
            path,
            detail: `short read: expected ${expected} bytes, got ${got}`,
            retryable: true,
          });
        }
      }
      while (queue.length > 0) {
        const chunks = await queue.shift()!;
        launch();
        for (const c of chunks) {
          opts.verify?.(c);
          yield c;
        }
      }
      opts.verify?.(undefined);
    } finally {
      controller.abort();
    }
  }

  const stream = Readable.from(generate(), {
    objectMode: false,
    highWaterMark: opts.highWaterMark ?? 64 * 1024,
  });
  return stream;
}
