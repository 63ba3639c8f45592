/**
 * CRC32 helpers on top of zlib's native `crc32` (Node ≥ 20.15 / 22.2): `crc32Combine` derives the CRC
 * of `A‖B` from `crc(A)`, `crc(B)` and `len(B)` (zlib's GF(2) matrix method, as in its
 * `crc32_combine`), so a multipart writer checksums each byte once, per part, and still knows the
 * whole object's CRC.
 */
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
