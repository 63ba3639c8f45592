/**
 * End-to-end checks for whole-object reads, shared by the cloud flavors: a running checksum of the
 * bytes as they are handed to the reader, compared with what the store recorded when the reader
 * reaches the end. A mismatch fails the stream with EIO (the consumer has seen the bytes, but the
 * stream never ends cleanly). The function is `orderedRangeReader`'s `verify` hook: called with
 * every chunk in order, then with `undefined` at the end.
 */
import { createHash } from 'node:crypto';
import { fsError } from '../core/errors.js';

export type Verify = (chunk: Uint8Array | undefined) => void;

function mismatch(what: string, path: string, got: string, want: string): Error {
  return fsError('EIO', {
    syscall: 'read',
    path,
    detail: `${what} mismatch: the bytes read differ from what the store recorded (${got} != ${want})`,
  });
}

/**
 * A CRC check: `update(data, running)` continues a CRC (CRC32 or CRC32C); `expected` is the
 * stored whole-object value.
 */
export function crcVerifier(
  what: 'CRC32' | 'CRC32C',
  update: (data: Uint8Array, running: number) => number,
  expected: number,
  path: string,
): Verify {
  let running = 0;
  return (c) => {
    if (c) running = update(c, running);
    else if (running >>> 0 !== expected >>> 0) {
      throw mismatch(what, path, (running >>> 0).toString(16), (expected >>> 0).toString(16));
    }
  };
}

/** An MD5 check against the stored base64 digest. */
export function md5Verifier(expectedBase64: string, path: string): Verify {
  const md5 = createHash('md5');
  return (c) => {
    if (c) md5.update(c);
    else {
      const got = md5.digest('base64');
      if (got !== expectedBase64) throw mismatch('MD5', path, got, expectedBase64);
    }
  };
}
