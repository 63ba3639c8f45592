/**
 * Read buffers that a consumer can hand back for reuse.
 *
 * Why: every fresh `Buffer` over 4 KiB is an ArrayBuffer whose memory V8 counts as "external".
 * V8 adds the external memory allocated since its last full GC to the old generation's size when
 * it decides whether to start one (`Heap::OldGenerationSpaceAvailable`). A download that hands on
 * a fresh buffer per socket read allocates about 32 MiB of external memory between two
 * young-generation GCs. In a process whose old generation is over 8 MiB (V8's activation
 * threshold for incremental marking; any process that has loaded the AWS SDK is over it), that
 * swing alone keeps starting full GCs (`npm run bench:s3-gc`: a plain node:http GET in such a
 * process, 20–40 per GiB; our createReadStream, 2–10; FileHandle.read with lent buffers, 1), each taking a core for
 * several milliseconds on a machine that has two.
 *
 * The protocol has two sides:
 * - A consumer that copies the bytes out of every chunk and then drops it (`FileHandle.read`,
 *   `readFile`) calls {@link requestLending} on the stream before it reads, and {@link giveBack}
 *   for each chunk once it is done with it.
 * - A producer whose stream was asked to lend (see {@link LENDING}) fills buffers from a
 *   {@link LendingPool}; a buffer is reused once the producer has sealed it and every view lent
 *   from it has been given back.
 *
 * Streams nobody asked to lend are untouched: a stream consumer keeps its chunks as long as it
 * likes, and their memory is never reused. A lending read that is abandoned halfway (its chunks
 * dropped, not given back) costs nothing but the reuse: the pool tracks lent buffers weakly, so
 * the GC takes them like any other.
 */

/** A stream method (no arguments) by which a consumer asks a stream to lend its chunks. */
export const LENDING: unique symbol = Symbol.for('artifact-vfs.lending');

/** Asks `stream` (and the streams it reads from) to lend its chunks, if it can. */
export function requestLending(stream: unknown): void {
  const fn = (stream as { [LENDING]?: unknown } | undefined)?.[LENDING];
  if (typeof fn === 'function') (fn as () => void).call(stream);
}

interface Slot {
  readonly pool: LendingPool;
  readonly buffer: Buffer;
  /** Views lent and not given back (a handful: one per chunk handed on from this buffer). */
  readonly views: Uint8Array[];
  /** The producer is done writing into the buffer. */
  sealed: boolean;
}

/** Buffers lent and not back yet, by their memory (a view's `.buffer`); weak, see above. */
const tracked = new WeakMap<ArrayBufferLike, Slot>();

export class LendingPool {
  readonly #free: Buffer[] = [];
  #lastTake = 0;
  #trimTimer: NodeJS.Timeout | undefined;
  /** Takes served by a given-back buffer (for tests and benchmarks). */
  reused = 0;

  /**
   * @param size bytes per buffer
   * @param maxFree buffers kept for reuse at most
   * @param idleMs after this long without a `take`, the free buffers are released
   */
  constructor(
    readonly size: number,
    readonly maxFree: number,
    readonly idleMs = 2000,
  ) {}

  /** Free buffers kept for reuse. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer to fill: a given-back one if there is one, else a fresh one. */
  take(): Buffer {
    this.#lastTake = performance.now();
    let buffer = this.#free.pop();
    if (buffer) this.reused++;
    // Its own memory, never a slice of Node's shared pool: the memory is what identifies it.
    else buffer = Buffer.allocUnsafeSlow(this.size);
    tracked.set(buffer.buffer, { pool: this, buffer, views: [], sealed: false });
    return buffer;
  }

  /**
   * Registers `view`, a view of a buffer from {@link take}, as handed to a consumer; returns it.
   * A view of any other buffer is returned as it is.
   */
  lend(buffer: Buffer, view: Buffer): Buffer {
    const slot = tracked.get(buffer.buffer);
    if (
      slot?.pool === this &&
      slot.buffer === buffer &&
      !slot.sealed &&
      view.buffer === buffer.buffer &&
      view.byteOffset >= buffer.byteOffset &&
      view.byteOffset + view.byteLength <= buffer.byteOffset + buffer.byteLength
    )
      slot.views.push(view);
    return view;
  }

  /** The producer will not write into `buffer` again: it is reused once every view is back. */
  seal(buffer: Buffer): void {
    const slot = tracked.get(buffer.buffer);
    if (slot?.pool !== this || slot.buffer !== buffer || slot.sealed) return;
    slot.sealed = true;
    if (slot.views.length === 0) this.#return(slot);
  }

  /** A sealed slot whose views are all back. */
  #return(slot: Slot): void {
    tracked.delete(slot.buffer.buffer);
    if (this.#free.length >= this.maxFree) return;
    this.#free.push(slot.buffer);
    this.#scheduleTrim();
  }

  /** Releases the free buffers once the pool has been idle for `idleMs`. */
  #scheduleTrim(): void {
    if (this.#trimTimer) return;
    const check = (): void => {
      const idle = performance.now() - this.#lastTake;
      if (idle < this.idleMs) {
        this.#trimTimer = setTimeout(check, this.idleMs - idle).unref();
        return;
      }
      this.#trimTimer = undefined;
      this.#free.length = 0;
    };
    this.#trimTimer = setTimeout(check, this.idleMs).unref();
  }

  /** Internal: see {@link giveBack}. */
  static giveBack(view: Uint8Array): void {
    const slot = tracked.get(view.buffer);
    if (!slot) return;
    const i = slot.views.indexOf(view);
    if (i === -1) return;
    slot.views.splice(i, 1);
    if (slot.views.length === 0 && slot.sealed) slot.pool.#return(slot);
  }
}

/**
 * The caller has finished with `chunk`, a chunk it read from a stream it asked to lend: it keeps
 * no reference to the chunk or its memory (it copied the bytes out). A chunk that was not lent,
 * or was given back already, is ignored.
 */
export function giveBack(chunk: Uint8Array): void {
  LendingPool.giveBack(chunk);
}
