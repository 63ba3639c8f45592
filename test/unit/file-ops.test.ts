/**
 * Failure paths of the facade's file operations over an fs whose streams and stats can be made to
 * fail: a failed write surfaces (never hangs), a failed stat is not "absent", glob reports real errors.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fsError } from '../../src/core/errors.js';
import { createMemoryFs } from '../../adapters/memory/index.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import { createStoreFromFs } from '../../src/store/artifact-store.js';
import { FileOps } from '../../src/store/file-ops.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { failingHandleReads, rejection } from './helpers.js';

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

describe('rename across mounts (copy, then delete what was copied)', () => {
  /** Two memory volumes on one table, under `fileio`-style operations (paths are URIs). */
  function twoMounts(hook?: (src: FsAdapter) => FsAdapter) {
    const a = createMemoryFs().fs;
    const b = createMemoryFs().fs;
    a.mkdirSync('/src/sub', { recursive: true });
    a.writeFileSync('/src/x.txt', 'x');
    a.writeFileSync('/src/sub/y.txt', 'y');
    const table = new MountTable();
    table.mount('mem://a', hook ? hook(a) : a);
    table.mount('mem://b', b);
    return { a, b, ops: new FileOps(table.fs, (p) => p) };
  }

  /**
   * `base`, calling `onRead(n)` as the n-th file (0-based) is opened for reading: a read stream,
   * or a FileHandle opened with a read flag (cross-mount copies onto in-place mounts use those).
   */
  function onReads(base: FsAdapter, onRead: (n: number) => void): FsAdapter {
    let n = 0;
    return {
      ...base,
      createReadStream: ((...args: Parameters<typeof base.createReadStream>) => {
        onRead(n++);
        return base.createReadStream(...args);
      }) as typeof base.createReadStream,
      promises: {
        ...base.promises,
        open: (async (...args: Parameters<typeof base.promises.open>) => {
          if (String(args[1] ?? 'r').startsWith('r')) onRead(n++);
          return base.promises.open(...args);
        }) as typeof base.promises.open,
      },
    };
  }

  it('moves a tree to another mount', async () => {
    const { a, b, ops } = twoMounts();
    await ops.rename('mem://a/src', 'mem://b/dst');
    expect(a.existsSync('/src')).toBe(false);
    expect(b.readFileSync('/dst/x.txt', 'utf8')).toBe('x');
    expect(b.readFileSync('/dst/sub/y.txt', 'utf8')).toBe('y');
    expect(b.readdirSync('/dst').sort()).toEqual(['sub', 'x.txt']);
  });

  it('files added to the source during the move stay in the source', async () => {
    let a!: FsAdapter;
    const setup = twoMounts((src) => {
      a = src;
      return onReads(src, (n) => {
        if (n !== 0) return;
        // Written after their directories were listed: not part of this move.
        a.writeFileSync('/src/late.txt', 'late');
        a.writeFileSync('/src/sub/late2.txt', 'late2');
      });
    });
    await setup.ops.rename('mem://a/src', 'mem://b/dst');
    expect(setup.b.readFileSync('/dst/x.txt', 'utf8')).toBe('x');
    expect(setup.b.readFileSync('/dst/sub/y.txt', 'utf8')).toBe('y');
    // Copied files are gone from the source; the late ones (and their directories) remain.
    expect(a.readdirSync('/src').sort()).toEqual(['late.txt', 'sub']);
    expect(a.readdirSync('/src/sub')).toEqual(['late2.txt']);
    expect(a.readFileSync('/src/late.txt', 'utf8')).toBe('late');
  });

  it('a copy failing midway leaves the source intact and removes what it had copied', async () => {
    const setup = twoMounts((src) =>
      onReads(src, (n) => {
        if (n === 1) throw fsError('ECONNRESET', { syscall: 'open', retryable: true });
      }),
    );
    const err = await rejection(setup.ops.rename('mem://a/src', 'mem://b/dst'));
    expect(err.code).toBe('ECONNRESET');
    expect(setup.a.readFileSync('/src/x.txt', 'utf8')).toBe('x');
    expect(setup.a.readFileSync('/src/sub/y.txt', 'utf8')).toBe('y');
    expect(setup.b.existsSync('/dst')).toBe(false);
  });
});

describe('copyFrom (between stores)', () => {
  const MiB = 1024 * 1024;
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

  /** Two memory volumes and an object store on one mount table, each under a store. */
  async function stores(sourceFs?: (a: FsAdapter) => FsAdapter) {
    const a = createMemoryFs().fs;
    const b = createMemoryFs().fs;
    a.mkdirSync('/src');
    b.mkdirSync('/dst');
    const table = new MountTable();
    table.mount('mem://a', sourceFs ? sourceFs(a) : a);
    table.mount('mem://b', b);
    table.mount('s3://bucket', createFsAdapter(new MemoryBackend()));
    const source = await createStoreFromFs({ fs: table.fs, path: 'mem://a/src' });
    const inPlace = await createStoreFromFs({ fs: table.fs, path: 'mem://b/dst' });
    const atomic = await createStoreFromFs({ fs: table.fs, path: 's3://bucket', atomicWrites: true });
    return { a, b, source, inPlace, atomic };
  }

  it('copies exact bytes onto an in-place store and an object store; onBlock sees them all, in order', async () => {
    const { a, source, inPlace, atomic } = await stores();
    for (const size of [0, 5, 4 * MiB + 1, 9 * MiB + 7]) {
      const data = randomBytes(size);
      a.writeFileSync('/src/f.bin', data);
      for (const dest of [inPlace, atomic]) {
        const seen = createHash('sha256');
        const n = await dest.copyFrom(source, 'f.bin', 'g.bin', { onBlock: (block) => seen.update(block) });
        expect(n).toBe(size);
        expect(seen.digest('hex')).toBe(sha(data));
        expect(sha((await dest.open('g.bin', 'rb').then((f) => f.read())) as Buffer)).toBe(sha(data));
      }
    }
  });

  it('a source failing midway leaves each destination as it was, with no temp file', async () => {
    const failing = (a: FsAdapter): FsAdapter => ({
      ...a,
      createReadStream: ((...args: Parameters<typeof a.createReadStream>) => {
        const s = a.createReadStream(...args);
        s.once('data', () => s.destroy(fsError('ECONNRESET', { syscall: 'read' })));
        return s;
      }) as typeof a.createReadStream,
      // Each copy opens one handle: its second read fails.
      promises: failingHandleReads(a, (_bytes, reads) => reads > 0).promises,
    });
    const { a, b, source, inPlace, atomic } = await stores(failing);
    a.writeFileSync('/src/f.bin', randomBytes(9 * MiB));
    await inPlace.open('keep.bin', 'wb').then(async (f) => {
      await f.write('original');
      await f.close();
    });
    for (const dest of [inPlace, atomic]) {
      expect((await rejection(dest.copyFrom(source, 'f.bin', 'keep.bin'))).code).toBe('ECONNRESET');
    }
    expect(b.readFileSync('/dst/keep.bin', 'utf8')).toBe('original');
    expect(b.readdirSync('/dst')).toEqual(['keep.bin']);
    expect(await atomic.exists('keep.bin')).toBe(false);
  });

  it('errors name the caller’s paths, and a directory in the way is found before any byte moves', async () => {
    const { a, b, source, inPlace } = await stores();
    a.writeFileSync('/src/f.bin', randomBytes(1000));
    b.mkdirSync('/dst/taken');
    let blocks = 0;
    const dir = await rejection(inPlace.copyFrom(source, 'f.bin', 'taken', { onBlock: () => blocks++ }));
    expect(dir.code).toBe('EISDIR');
    expect(blocks).toBe(0);
    const noParent = await rejection(inPlace.copyFrom(source, 'f.bin', 'no/such/f.bin'));
    expect(noParent.code).toBe('ENOENT');
    expect(noParent.message).not.toContain('.partial');
    expect(noParent.dest).toBe('no/such/f.bin');
    expect(b.readdirSync('/dst')).toEqual(['taken']);
  });

  it('exclusive refuses an existing destination; a directory source is EISDIR', async () => {
    const { a, source, inPlace, atomic } = await stores();
    a.writeFileSync('/src/f.bin', 'x');
    a.mkdirSync('/src/dir');
    for (const dest of [inPlace, atomic]) {
      await dest.copyFrom(source, 'f.bin', 'once.bin');
      expect((await rejection(dest.copyFrom(source, 'f.bin', 'once.bin', { exclusive: true }))).code).toBe(
        'EEXIST',
      );
      expect((await rejection(dest.copyFrom(source, 'dir', 'd.bin'))).code).toBe('EISDIR');
    }
    // An object-store directory (a prefix) as the source too.
    await atomic.makedirs('prefix');
    await atomic.open('prefix/inside.bin', 'wb').then(async (f) => {
      await f.write('x');
      await f.close();
    });
    expect((await rejection(inPlace.copyFrom(atomic, 'prefix', 'p.bin'))).code).toBe('EISDIR');
  });
});
