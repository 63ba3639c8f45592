/**
 * Failure paths of the facade's file operations over an fs whose streams and stats can be made to
 * fail: a failed write surfaces (never hangs), a failed stat is not "absent", glob reports real errors.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fsError } from '../../src/core/errors.js';
import { createMemoryFs } from '../../adapters/memory/index.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { createStoreFromFs } from '../../src/store/artifact-store.js';
import { rejection } from './helpers.js';

/** A memory fs whose write streams fail on their second chunk, and whose stat/readdir can fail. */
function flakyFs(opts: { statFails?: boolean; readdirFails?: boolean } = {}): FsAdapter {
  const base = createMemoryFs().fs;
  base.mkdirSync('/root', { recursive: true });
  const failing = {
    ...base,
    promises: {
      ...base.promises,
      stat: opts.statFails
        ? async (p: unknown) => {
            if (String(p).includes('busy')) throw fsError('EACCES', { syscall: 'stat', path: String(p) });
            return base.promises.stat(p as string);
          }
        : base.promises.stat,
      readdir: opts.readdirFails
        ? async () => {
            throw fsError('ECONNRESET', { syscall: 'scandir', retryable: true });
          }
        : base.promises.readdir,
    },
    createWriteStream: () => {
      let n = 0;
      // A large buffer: write() returns at once, and the failure arrives later, while nobody waits.
      const w = new Writable({
        highWaterMark: 1 << 20,
        write(_chunk, _enc, cb) {
          n++;
          setTimeout(
            () => cb(n >= 1 ? fsError('ECONNRESET', { syscall: 'write', retryable: true }) : undefined),
            2,
          );
        },
      });
      setImmediate(() => w.emit('open', -1));
      return w;
    },
  };
  return failing as unknown as FsAdapter;
}

describe('file-ops failure paths', () => {
  it('a write after the stream failed rejects with the failure instead of hanging', async () => {
    const store = await createStoreFromFs({ fs: flakyFs(), path: '/root', atomicWrites: true });
    const f = await store.open('a.bin', 'wb');
    await f.write(Buffer.alloc(16, 1)); // accepted into the buffer; the failure comes after
    await new Promise((r) => setTimeout(r, 30));
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const err = await Promise.race([
        f.write(Buffer.alloc(16, i)).then(
          () => undefined,
          (e: Error & { code?: string }) => e.code ?? e.message,
        ),
        new Promise<string>((r) => setTimeout(() => r('HUNG'), 2000)),
      ]);
      if (err) results.push(err);
      if (err) break;
    }
    expect(results).toEqual(['ECONNRESET']);
  });

  it('rename without overwrite does not take a failed stat of the destination for "absent"', async () => {
    const store = await createStoreFromFs({
      fs: flakyFs({ statFails: true }),
      path: '/root',
      atomicWrites: true,
    });
    const err = await rejection(store.rename('a.txt', 'busy.txt'));
    expect(err.code).toBe('EACCES');
  });

  it('glob reports a listing failure instead of "no matches"', async () => {
    const store = await createStoreFromFs({
      fs: flakyFs({ readdirFails: true }),
      path: '/root',
      atomicWrites: true,
    });
    const err = await rejection(store.glob('**/*.json'));
    expect(err.code).toBe('ECONNRESET');
    expect((await rejection(store.glob('*.json'))).code).toBe('ECONNRESET');
  });
});
