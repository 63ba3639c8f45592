/**
 * The benchmark payload: ONE pseudo-random 1 MiB block, generated once per process and reused for
 * every chunk sent or served. Object bytes are defined as `block[offset % BLOCK_SIZE]`, so the
 * discard server can serve exactly the bytes a client uploaded (and the checksums the client sent
 * for them stay valid) without storing anything.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const BLOCK_SIZE = MiB;

let cached: Buffer | undefined;

/** The shared block (xorshift32 from a fixed seed: incompressible, identical in every process). */
export function payloadBlock(): Buffer {
  if (cached) return cached;
  const words = new Uint32Array(BLOCK_SIZE / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  cached = Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  return cached;
}

/**
 * A Readable of `size` payload bytes: the shared block pushed `size / BLOCK_SIZE` times, then one
 * view of its first `size % BLOCK_SIZE` bytes. Nothing is allocated per chunk.
 */
export function payloadSource(size: number): Readable {
  const block = payloadBlock();
  let left = size;
  return new Readable({
    highWaterMark: BLOCK_SIZE,
    read() {
      // Bounded: every iteration consumes at least one byte of `left` (or ends the stream).
      while (left > 0) {
        const n = Math.min(left, BLOCK_SIZE);
        left -= n;
        if (!this.push(n === BLOCK_SIZE ? block : block.subarray(0, n))) return;
      }
      this.push(null);
    },
  });
}

/** Reads a stream to its end, discarding the bytes; returns how many there were. */
export async function drain(stream: AsyncIterable<Uint8Array | string>): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream)
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  return bytes;
}

/** `64MiB`, `1GiB`, `1.5GiB`, `512KiB`, `4G`, `1048576` → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(text);
  if (!m) throw new Error(`bad size '${text}' (use e.g. 64MiB, 1GiB, 4GiB)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const mult = unit === 'k' ? KiB : unit === 'm' ? MiB : unit === 'g' ? GiB : unit === 't' ? 1024 * GiB : 1;
  const bytes = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`bad size '${text}'`);
  return bytes;
}

/** 1073741824 → `1GiB`, 67108864 → `64MiB`. */
export function formatSize(bytes: number): string {
  if (bytes >= GiB && bytes % (GiB / 4) === 0) return `${bytes / GiB}GiB`;
  if (bytes >= MiB && bytes % (MiB / 4) === 0) return `${bytes / MiB}MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB}KiB`;
  return `${bytes}B`;
}

/**
 * This process's peak resident set in MiB: Linux's `VmHWM` (the high-water mark of this process's
 * own memory). `process.resourceUsage().maxRSS` is not used: on Linux it carries the parent's peak
 * across fork and exec, so a client spawned by a process holding a large object would report the
 * parent's memory as its own. Elsewhere it falls back to `maxRSS`.
 */
export function peakRssMiB(): number {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
