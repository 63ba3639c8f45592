/** Helpers shared by the unit tests: capture errors with their Node fields, hash bytes. */
import { createHash } from 'node:crypto';
import { fsError } from '../../src/core/errors.js';
import type { FsAdapter } from '../../src/fs/types.js';

export type Err = Error & { code?: string; path?: string; dest?: string; syscall?: string; errno?: number };

export const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<Err> {
  try {
    await p;
  } catch (err) {
    return err as Err;
  }
  throw new Error('expected a rejection');
}

/** The error a function throws synchronously; fails the test if it returns. */
export function thrown(fn: () => unknown): Err {
  try {
    fn();
  } catch (err) {
    return err as Err;
  }
  throw new Error('expected a throw');
}

/**
 * `base`, except that the FileHandles it opens fail a `read` with ECONNRESET once
 * `fails(bytesReadSoFar, readsSoFar)` says so (counted per handle): a source that breaks midway.
 */
export function failingHandleReads(
  base: FsAdapter,
  fails: (bytes: number, reads: number) => boolean,
): FsAdapter {
  return {
    ...base,
    promises: {
      ...base.promises,
      open: (async (...args: Parameters<typeof base.promises.open>) => {
        const h = await base.promises.open(...args);
        let bytes = 0;
        let reads = 0;
        return Object.assign(Object.create(Object.getPrototypeOf(h) as object) as object, h, {
          read: async (...r: Parameters<typeof h.read>) => {
            if (fails(bytes, reads++)) throw fsError('ECONNRESET', { syscall: 'read', retryable: true });
            const out = await h.read(...r);
            bytes += out.bytesRead;
            return out;
          },
          close: () => h.close(),
        });
      }) as typeof base.promises.open,
    },
  };
}
