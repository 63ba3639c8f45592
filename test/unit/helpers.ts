/** Helpers shared by the unit tests: capture errors with their Node fields, hash bytes. */
import { createHash } from 'node:crypto';

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
