/**
 * Read buffers that a consumer can hand back for reuse.
 *
 * Why: every fresh `Buffer` over 4 KiB is an ArrayBuffer whose memory V8 counts as "external".
 * V8 adds the external memory allocated since its last full GC to the old generation's size when
 * it decides whether to start one (`Heap::OldGenerationSpaceAvailable`). A download that hands on
 * a fresh buffer per socket read allocates about 32 MiB of external memory between two
 * young-generation GCs. In a process whose old generation is over 8 MiB (V8's activation
 * threshold for incremental marking; any process that has loaded the AWS SDK is over it), that
 * swing alone keeps starting full GCs: 8–26 of them per GiB downloaded, each taking a core for
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
 * dropped, not given back) costs nothing but the reuse: its buffers are forgotten after
 * `maxTracked` newer ones, or when the pool idles, and the GC takes them.
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

/** Buffers lent and not back yet, by their memory (a view's `.buffer`). */
const tracked = new Map<ArrayBufferLike, Slot>();

export class LendingPool {
  readonly #free: Buffer[] = [];
  readonly #mine = new Set<ArrayBufferLike>();
  #lastTake = 0;
  #trimTimer: NodeJS.Timeout | undefined;
  /** Takes served by a given-back buffer (for tests and benchmarks). */
  reused = 0;

  /**
   * @param size bytes per buffer
   * @param maxFree buffers kept for reuse at most
   * @param maxTracked buffers lent and not back that are remembered at most (older ones are
   *   forgotten: never reused)
   * @param idleMs after this long without a `take`, free and lent buffers are forgotten
   */
  constructor(
    readonly size: number,
    readonly maxFree: number,
    readonly maxTracked = maxFree,
    readonly idleMs = 2000,
  ) {}

  /** Free buffers kept for reuse. */
  get free(): number {
    return this.#free.length;
  }

  /** Buffers lent and not back yet. */
  get lent(): number {
    return this.#mine.size;
  }

  /** A buffer to fill: a given-back one if there is one, else a fresh one. */
  take(): Buffer {
    this.#lastTake = performance.now();
    let buffer = this.#free.pop();
    if (buffer) this.reused++;
    else buffer = Buffer.allocUnsafe(this.size);
    if (this.#mine.size >= this.maxTracked) this.#forget(this.#mine.values().next().value!);
    tracked.set(buffer.buffer, { pool: this, buffer, views: [], sealed: false });
    this.#mine.add(buffer.buffer);
    this.#scheduleTrim();
    return buffer;
  }

  /**
   * Registers `view`, a view of a buffer from {@link take}, as handed to a consumer; returns it.
   * A view of any other buffer is returned as it is.
   */
  lend(buffer: Buffer, view: Buffer): Buffer {
    const slot = tracked.get(buffer.buffer);
    if (slot?.pool === this && !slot.sealed && view.buffer === buffer.buffer) slot.views.push(view);
    return view;
  }

  /** The producer will not write into `buffer` again: it is reused once every view is back. */
  seal(buffer: Buffer): void {
    const slot = tracked.get(buffer.buffer);
    if (slot?.pool !== this || slot.sealed) return;
    slot.sealed = true;
    if (slot.views.length === 0) this.#return(slot);
  }

  #forget(memory: ArrayBufferLike): void {
    this.#mine.delete(memory);
    tracked.delete(memory);
  }

  /** A sealed slot whose views are all back. */
  #return(slot: Slot): void {
    this.#forget(slot.buffer.buffer);
    if (this.#free.length < this.maxFree) this.#free.push(slot.buffer);
  }

  /** Forgets every buffer once the pool has been idle for `idleMs`. */
  #scheduleTrim(): void {
    if (this.#trimTimer) return;
    this.#trimTimer = setTimeout(() => {
      this.#trimTimer = undefined;
      if (performance.now() - this.#lastTake < this.idleMs) {
        this.#scheduleTrim();
        return;
      }
      this.#free.length = 0;
      for (const memory of this.#mine) tracked.delete(memory);
      this.#mine.clear();
    }, this.idleMs);
    this.#trimTimer.unref();
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
