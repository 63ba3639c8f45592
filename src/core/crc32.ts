/**
 * CRC32 (IEEE) and CRC32C with the fastest native code available: `@node-rs/crc32` (SIMD, ~15 GB/s
 * for CRC32 and ~7.5 GB/s for CRC32C on this class of machine) when its binary loads, otherwise
 * zlib's `crc32` (Node ≥ 20.15, ~6.5 GB/s) and no CRC32C. `crc32Combine` derives the CRC
 * of `A‖B` from `crc(A)`, `crc(B)` and `len(B)` (zlib's GF(2) matrix method, as in its
 * `crc32_combine`), so a multipart writer checksums each byte once, per part, and still knows the
 * whole object's CRC.
 */
import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';

type Crc = (data: Uint8Array, initial?: number) => number;

interface NodeRsCrc32 {
  crc32(input: Uint8Array, initialState?: number | null): number;
  crc32c(input: Uint8Array, initialState?: number | null): number;
}

function loadNative(): NodeRsCrc32 | undefined {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as NodeRsCrc32;
    // A prebuilt binary for another platform or libc fails here, not at first use.
    return mod.crc32(new Uint8Array([0x31]), 0) >>> 0 === 0x83dcefb7 ? mod : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** CRC32 (IEEE 802.3, as zlib and S3 compute it) of `data`, continuing from `initial`. */
// (@node-rs/crc32 returns 0 for an empty input whatever the starting value; the CRC of nothing
// appended is the starting value.)
export const crc32: Crc = native
  ? (data, initial = 0) => (data.length === 0 ? initial >>> 0 : native.crc32(data, initial) >>> 0)
  : (data, initial = 0) => zlibCrc32(data, initial) >>> 0;

/** CRC32C (Castagnoli, as GCS computes it), or `undefined` when no native implementation loads. */
export const crc32c: Crc | undefined = native
  ? (data, initial = 0) => (data.length === 0 ? initial >>> 0 : native.crc32c(data, initial) >>> 0)
  : undefined;

/** Which implementation `crc32` uses (benchmarks and diagnostics report it). */
export const crc32Implementation: 'node-rs' | 'zlib' = native ? 'node-rs' : 'zlib';

const POLY = 0xedb88320;

function times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  let v = vec >>> 0;
  for (let i = 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function square(out: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) out[n] = times(mat, mat[n]!);
}

/** CRC32 of the concatenation of two byte strings, from their CRCs and the second one's length. */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = POLY;
  for (let n = 1, row = 1; n < 32; n++, row = (row << 1) >>> 0) odd[n] = row;
  square(even, odd); // 2 zero bits
  square(odd, even); // 4 zero bits
  let c = crc1 >>> 0;
  let len = len2;
  for (;;) {
    square(even, odd);
    if (len % 2 === 1) c = times(even, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
    square(odd, even);
    if (len % 2 === 1) c = times(odd, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
  }
  return (c ^ crc2) >>> 0;
}

/** A CRC as the clouds write it in headers: 4 bytes big-endian, base64. */
export function crcToBase64(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
}

/**
 * A whole-object CRC from its base64 header form; undefined for anything else (a composite
 * multipart checksum `…-N` is not a whole-object CRC).
 */
export function crcFromBase64(s: string | undefined): number | undefined {
  if (!s || s.includes('-')) return undefined;
  const b = Buffer.from(s, 'base64');
  return b.length === 4 ? b.readUInt32BE(0) : undefined;
}
