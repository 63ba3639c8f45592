/**
 * Large sequential reads as parallel ranged GETs delivered in order, written once for every object
 * store. A service supplies `fetch(start, end)`; this reader keeps `concurrency` ranges in flight,
 * hands their bytes on in order, and never holds more than `concurrency` ranges (plus the head).
 *
 * Behaviour:
 * - Memory is bounded by `(concurrency + 1) × partSize` (the head's range and those in flight),
 *   whatever the object's size; a range is fetched only when a slot frees, so a slow consumer slows
 *   the fetching (backpressure).
 * - Bodies are read with 'data' events (no promise per chunk) as they arrive, and their chunks are
 *   delivered as the transport delivered them (no copy); the range at the front streams to the
 *   consumer as its bytes come in, not once it is complete.
 * - A short range (the object changed or the connection was cut) is an EIO error, never silent
 *   truncation; so is a long one, as soon as its first extra byte arrives (a server that ignores
 *   `Range` cannot make the reader buffer a whole object). A failed range fails the stream.
 * - Destroying the stream aborts the ranges in flight.
 * - `verify` (optional) sees every byte in order and may fail the stream at the end (end-to-end
 *   checksums). The end is checked before the last chunk is handed on, so a consumer that stops
 *   reading once it has the expected size (FileHandle.readFile) still gets the error, whatever the
 *   chunk sizes of the transport.
 */
import { Readable } from 'node:stream';
import { fsError } from '../core/errors.js';
import { LENDING, requestLending } from '../core/lending-pool.js';

/**
 * The default single-stream rate above which a read stays one stream (`adaptive`): loopback and
 * LAN servers deliver more; a cloud store's single connection usually less, and goes parallel.
 */
export const DEFAULT_PARALLEL_BELOW = 256 * 1024 * 1024;

/** The object's total size from a `Content-Range: bytes S-E/TOTAL` header, if it has one. */
export function totalFromContentRange(v: string | undefined): number | undefined {
  const m = v ? /\/(\d+)$/.exec(v) : null;
  return m ? Number(m[1]) : undefined;
}

/** How a backend starts a read, from its options: see {@link planRead}. */
export interface ReadPlan {
  from: number;
  partSize: number;
  /** The first request's last byte; undefined: open-ended (adaptive reads). */
  headEnd: number | undefined;
  /** Pass on as `orderedRangeReader`'s `adaptive`. */
  adaptive: OrderedRangeOptions['adaptive'];
  /** The head's end once the last byte of the read is known. */
  headEndFor(last: number): number;
}

/**
 * The first request of a read: open-ended when reads are adaptive (`readParallelBelow` > 0, the
 * default), else the first part. One piece of code for every HTTP flavor.
 */
export function planRead(
  range: { start: number; end?: number | undefined } | undefined,
  options: { readPartSize?: number | undefined; readParallelBelow?: number | undefined },
  defaultPartSize: number,
): ReadPlan {
  const partSize = options.readPartSize ?? defaultPartSize;
  const from = range?.start ?? 0;
  const minRate = options.readParallelBelow ?? DEFAULT_PARALLEL_BELOW;
  const adaptive = minRate > 0 ? { minBytesPerSecond: minRate } : undefined;
  const headEnd = adaptive ? range?.end : Math.min(range?.end ?? Infinity, from + partSize - 1);
  return {
    from,
    partSize,
    headEnd,
    adaptive,
    headEndFor: (last) => (headEnd === undefined ? last : Math.min(headEnd, last)),
  };
}

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
  /**
   * One stream first, parallel ranges only if it is slow. With this the head must cover the whole
   * read (`head.end === to`, an open-ended request). Once the head has delivered `probeBytes`
   * (default min(partSize, 8 MiB)), its rate decides: at `minBytesPerSecond` or faster it carries
   * the whole read alone, with backpressure (on a fast link parallel ranges only add requests and
   * buffering); slower, it is cut one part further on and ranges from there run in parallel.
   */
  adaptive?: { minBytesPerSecond: number; probeBytes?: number | undefined } | undefined;
  /** Called for every chunk in order, then with `done` at the end; may throw to fail the stream. */
  verify?: ((chunk: Uint8Array | undefined) => void) | undefined;
  /** Shown in errors. */
  path?: string | undefined;
}

interface Range {
  /** Chunks received and not yet delivered (from `next` on). */
  chunks: Uint8Array[];
  next: number;
  got: number;
  expected: number;
  done: boolean;
  error: unknown;
  /** The body, once the fetch answered (destroyed when the stream is). */
  body?: AsyncIterable<Uint8Array> | undefined;
  /** Short-read message: the head's differs from a fetched range's. */
  what: string;
  /** Its body is being read. */
  flowing?: boolean;
  /** An open-ended head cut at a split point: bytes past `expected` are dropped, not an error. */
  cut?: boolean;
  /** Bytes received and not yet delivered; the body is paused above a part (open-ended head). */
  buffered: number;
  paused?: boolean;
  pausable?: boolean;
}

type Flowing = Readable & AsyncIterable<Uint8Array>;

function isReadable(body: unknown): body is Flowing {
  return body instanceof Readable;
}

export function orderedRangeReader(opts: OrderedRangeOptions): Readable {
  const controller = new AbortController();
  const { partSize, to, path } = opts;
  const concurrency = Math.max(1, opts.concurrency);
  let next = opts.head ? opts.head.end + 1 : opts.from;
  const adaptive =
    opts.adaptive && opts.head && opts.head.end >= to
      ? {
          minRate: opts.adaptive.minBytesPerSecond,
          probe: Math.max(1, opts.adaptive.probeBytes ?? Math.min(partSize, 8 * 1024 * 1024)),
          decided: false,
          firstByteAt: 0,
        }
      : undefined;
  const queue: Range[] = [];
  /** `read` found the front range empty and waits for its next chunk. */
  let waiting = false;
  /** Bytes handed on; `verify` gets its end with the last of them (see pump). */
  let delivered = 0;
  const total = to - opts.from + 1;
  let verified = false;
  let finished = false;

  const wake = (): void => {
    if (waiting) {
      waiting = false;
      pump();
    }
  };

  /**
   * Reads a body into its range as it arrives (ranges ahead download in parallel, which is what
   * lifts throughput over links where one connection is slow): 'data' events for a Readable, no
   * promise per chunk.
   */
  const consume = (range: Range): void => {
    const body = range.body;
    if (!body || range.flowing) return;
    range.flowing = true;
    const end = (err?: unknown): void => {
      if (range.done) return;
      range.done = true;
      if (err !== undefined) range.error = err;
      if (range === queue[0]) wake();
    };
    if (isReadable(body)) {
      body.on('data', (c: Uint8Array) => {
        if (!take(range, c)) body.destroy();
      });
      body.once('end', () => end());
      body.on('error', (err) => end(err));
      // Closed without 'end' or 'error' (connection cut): the byte count decides (a short read is
      // an EIO error).
      body.once('close', () => end());
      return;
    }
    void (async () => {
      try {
        for await (const c of body) {
          if (!take(range, c)) break; // leaving the loop ends the body
        }
        end();
      } catch (err) {
        end(err);
      }
    })();
  };

  /**
   * A body longer than its range (a server ignoring `Range`, or the object replaced) fails at once,
   * before it can fill memory: the rest is never read.
   */
  const overrun = (range: Range, c: Uint8Array): boolean => {
    if (range.got + c.length <= range.expected) return false;
    range.done = true;
    range.error = fsError('EIO', {
      syscall: 'read',
      path,
      detail: `the server sent more than the ${range.expected} bytes asked for${range.what}`,
    });
    if (range === queue[0]) wake();
    return true;
  };

  /**
   * Takes a chunk from a body; false when the body must stop (an overrun, or a cut head that
   * reached its cut).
   */
  const take = (range: Range, c: Uint8Array): boolean => {
    let chunk = c;
    if (range.got + c.length > range.expected) {
      if (!range.cut) {
        overrun(range, c);
        return false;
      }
      chunk = c.subarray(0, range.expected - range.got);
    }
    if (chunk.length > 0) {
      range.chunks.push(chunk);
      range.got += chunk.length;
      range.buffered += chunk.length;
    }
    if (range.cut && range.got === range.expected) {
      range.done = true;
      if (range === queue[0]) wake();
      return false;
    }
    if (adaptive && !adaptive.decided && range === headRange) decide(range);
    if (range.pausable && !range.paused && range.buffered > partSize && isReadable(range.body)) {
      range.paused = true;
      range.body.pause();
    }
    if (range === queue[0]) wake();
    return true;
  };

  /** The adaptive head's probe: keep one stream if it is fast, else cut it and go parallel. */
  const decide = (range: Range): void => {
    const now = performance.now();
    if (adaptive!.firstByteAt === 0) adaptive!.firstByteAt = now;
    if (range.got < adaptive!.probe && range.got < range.expected) return;
    adaptive!.decided = true;
    const seconds = Math.max(1e-6, (now - adaptive!.firstByteAt) / 1000);
    if (range.got / seconds >= adaptive!.minRate) return;
    const cutAt = opts.from + range.got + partSize - 1;
    if (cutAt >= to) return;
    range.expected = cutAt - opts.from + 1;
    range.cut = true;
    next = cutAt + 1;
    for (let i = 0; i < concurrency; i++) launch();
  };

  /** The consumer gives its chunks back: so may every body (chunks pass through unchanged). */
  let lending = false;

  const arrived = (range: Range, body: AsyncIterable<Uint8Array>): void => {
    range.body = body;
    if (lending) requestLending(body);
    consume(range);
  };

  const newRange = (expected: number, what: string): Range => {
    const range: Range = {
      chunks: [],
      next: 0,
      got: 0,
      expected,
      done: false,
      error: undefined,
      what,
      buffered: 0,
    };
    queue.push(range);
    return range;
  };

  const launch = (): void => {
    if (next > to) return;
    const start = next;
    const end = Math.min(to, start + partSize - 1);
    next = end + 1;
    const range = newRange(end - start + 1, ' of a range');
    opts.fetch(start, end, controller.signal).then(
      (body) => {
        if (finished) destroyBody(body);
        else arrived(range, body);
      },
      (err: unknown) => {
        range.done = true;
        range.error = err;
        if (range === queue[0]) wake();
      },
    );
  };

  const destroyBody = (body: AsyncIterable<Uint8Array> | undefined): void => {
    if (isReadable(body)) body.destroy();
  };

  /** Delivers in order while the consumer wants more; launches a range whenever one is finished. */
  function pump(): void {
    try {
      for (;;) {
        const range = queue[0];
        if (!range) {
          if (!verified) opts.verify?.(undefined);
          verified = true;
          finished = true;
          stream.push(null);
          return;
        }
        if (range.next < range.chunks.length) {
          const c = range.chunks[range.next]!;
          range.chunks[range.next++] = EMPTY; // let it be collected once delivered
          range.buffered -= c.length;
          if (range.paused && range.buffered <= partSize / 2 && isReadable(range.body)) {
            range.paused = false;
            range.body.resume();
          }
          if (range.next === range.chunks.length) {
            range.chunks.length = 0;
            range.next = 0;
          }
          opts.verify?.(c);
          delivered += c.length;
          // The end is checked before the last byte is handed on: a consumer that stops once it
          // has the size it expects (FileHandle.readFile) never pulls the stream's end.
          if (delivered === total && !verified) {
            verified = true;
            opts.verify?.(undefined);
          }
          if (!stream.push(c)) return;
          continue;
        }
        if (!range.done) {
          waiting = true;
          return;
        }
        if (range.error !== undefined) throw range.error;
        if (range.got !== range.expected) {
          throw fsError('EIO', {
            syscall: 'read',
            path,
            detail: `short read: expected ${range.expected} bytes${range.what}, got ${range.got}`,
            retryable: true,
          });
        }
        queue.shift();
        launch();
      }
    } catch (err) {
      stream.destroy(err as Error);
    }
  }

  const stream = new Readable({
    // One chunk per read, as it arrived: a byte-mode stream would join buffered chunks into a new
    // buffer, and a consumer giving chunks back (see src/core/lending-pool.ts) could not.
    objectMode: true,
    highWaterMark: 1,
    read() {
      pump();
    },
    destroy(err, cb) {
      finished = true;
      controller.abort();
      for (const r of queue) destroyBody(r.body);
      queue.length = 0;
      cb(err);
    },
  });

  Object.assign(stream, {
    [LENDING]: () => {
      lending = true;
      for (const r of queue) requestLending(r.body);
    },
  });

  let headRange: Range | undefined;
  if (opts.head) {
    headRange = newRange(opts.head.end - opts.from + 1, '');
    headRange.pausable = adaptive !== undefined;
    arrived(headRange, opts.head.body);
  }
  // While the head streams, the next ranges are already on their way.
  for (let i = 0; i < concurrency; i++) launch();
  return stream;
}

const EMPTY = new Uint8Array(0);
