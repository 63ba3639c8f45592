/**
 * The deriver (src/backend/create-fs-adapter.ts) over an in-process backend whose calls can be
 * observed and raced: directory renames (page by page, stop on the first failure, delete only what
 * was copied), create-only writes that a racing writer cannot slip under, appends that stream.
 */
import { Readable } from 'node:stream';
import { constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createFsAdapter, mapLimit } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend, type MemoryBackendOptions } from '../../src/backend/memory-backend.js';
import type { CopyOptions, WriteOptions } from '../../src/backend/types.js';
import { fsError } from '../../src/core/errors.js';
import { rejection } from './helpers.js';

async function put(backend: MemoryBackend, key: string, data: string | Buffer): Promise<void> {
  const w = await backend.write(key);
  await w.write(Buffer.from(data));
  await w.close();
}

/** Every key under `prefix`, sorted. */
const under = (backend: MemoryBackend, prefix: string): string[] =>
  backend.keys().filter((k) => k.startsWith(prefix));

/** `n` files `src/f000…` (and a marker for `src/`, and an empty `dst-parent/`). */
async function tree(backend: MemoryBackend, n: number): Promise<string[]> {
  await put(backend, 'src/', '');
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = `src/f${String(i).padStart(3, '0')}`;
    await put(backend, k, `content ${i}`);
    keys.push(k);
  }
  return keys;
}

describe('directory rename on an object store', () => {
  it('the first failed copy stops new copies; the source stays, the copies made are removed', async () => {
    const backend = new MemoryBackend({ pageSize: 10 });
    const keys = await tree(backend, 60);
    const copy = backend.copy.bind(backend);
    let started = 0;
    let late = 0;
    let failedAt = -1;
    backend.copy = async (from, to) => {
      const n = started++;
      if (failedAt >= 0) late++;
      await new Promise((r) => setTimeout(r, 2));
      if (from === 'src/f005') {
        failedAt = n;
        throw fsError('EACCES', { syscall: 'copyfile', path: from });
      }
      return copy(from, to);
    };
    const fs = createFsAdapter(backend, { concurrency: 3 });
    const err = await rejection(fs.promises.rename('/src', '/dst'));
    expect(err.code).toBe('EACCES');
    expect(err.path).toBe('/src');
    expect(err.dest).toBe('/dst');
    // Nothing new was launched after the failure: at most the copies already in flight ran on.
    await new Promise((r) => setTimeout(r, 50));
    expect(late).toBe(0);
    expect(started).toBeLessThanOrEqual(failedAt + 3);
    expect(under(backend, 'src/')).toEqual(['src/', ...keys]);
    expect(under(backend, 'dst')).toEqual([]);
  });

  it('reports the first error even when later copies fail too', async () => {
    const backend = new MemoryBackend();
    await tree(backend, 10);
    backend.copy = async (from) => {
      // f001 fails at once; the others fail later, each with its own error.
      await new Promise((r) => setTimeout(r, from === 'src/f001' ? 0 : 20));
      throw fsError(from === 'src/f001' ? 'EACCES' : 'EIO', { path: from });
    };
    const err = await rejection(createFsAdapter(backend, { concurrency: 4 }).promises.rename('/src', '/dst'));
    expect(err.code).toBe('EACCES');
    expect(under(backend, 'src/')).toHaveLength(11);
  });

  it('copies while it lists: the source listing is read a page at a time', async () => {
    const backend = new MemoryBackend({ pageSize: 10 });
    const keys = await tree(backend, 95);
    const events: string[] = [];
    const list = backend.list.bind(backend);
    backend.list = (prefix, options) =>
      (async function* () {
        for await (const page of list(prefix, options)) {
          if (prefix === 'src/' && options?.limit === undefined) events.push('page');
          yield page;
        }
      })();
    const copy = backend.copy.bind(backend);
    backend.copy = async (from, to) => {
      events.push('copy');
      return copy(from, to);
    };
    await createFsAdapter(backend, { concurrency: 2 }).promises.rename('/src', '/dst');
    // The first copy starts after one or two pages, not after the whole listing.
    expect(events.indexOf('copy')).toBeLessThanOrEqual(2);
    expect(events.filter((e) => e === 'copy')).toHaveLength(96);
    expect(under(backend, 'src')).toEqual([]);
    expect(under(backend, 'dst/')).toEqual(['dst/', ...keys.map((k) => 'dst/' + k.slice(4))]);
  });

  it('an object added to the source during the rename stays there', async () => {
    const backend = new MemoryBackend({ pageSize: 5 });
    await tree(backend, 20);
    const copy = backend.copy.bind(backend);
    let once = false;
    backend.copy = async (from, to) => {
      if (!once) {
        once = true;
        await put(backend, 'src/a-late', 'late'); // sorts before the pages still to come
        await put(backend, 'src/z-late', 'late');
      }
      return copy(from, to);
    };
    await createFsAdapter(backend).promises.rename('/src', '/dst');
    // The listing being copied was taken before they appeared: they were not copied, so not deleted.
    expect(under(backend, 'src/')).toEqual(['src/a-late', 'src/z-late']);
    expect(under(backend, 'dst/')).toHaveLength(21);
  });

  it('a rename onto an empty existing directory keeps it on failure and fills it on success', async () => {
    const backend = new MemoryBackend();
    await tree(backend, 3);
    await put(backend, 'dst/', '');
    const copy = backend.copy.bind(backend);
    let fail = true;
    backend.copy = async (from, to) => {
      if (fail && from === 'src/f002') throw fsError('EIO', { path: from });
      return copy(from, to);
    };
    const fs = createFsAdapter(backend);
    expect((await rejection(fs.promises.rename('/src', '/dst'))).code).toBe('EIO');
    expect(under(backend, 'dst')).toEqual(['dst/']);
    expect(under(backend, 'src/')).toHaveLength(4);
    fail = false;
    await fs.promises.rename('/src', '/dst');
    expect(under(backend, 'dst/')).toEqual(['dst/', 'dst/f000', 'dst/f001', 'dst/f002']);
    expect(under(backend, 'src')).toEqual([]);
  });
});

describe('mapLimit', () => {
  it('pulls items lazily and stops at the first error, after the calls in flight settle', async () => {
    let pulled = 0;
    let settled = 0;
    async function* items(): AsyncGenerator<number> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield i;
      }
    }
    const err = await rejection(
      mapLimit(items(), 4, async (i) => {
        await new Promise((r) => setTimeout(r, i === 6 ? 1 : 5));
        settled++;
        if (i === 6) throw fsError('EIO');
      }),
    );
    expect(err.code).toBe('EIO');
    expect(pulled).toBeLessThan(15);
    const atReject = settled;
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(atReject);
  });
});

/**
 * A backend where another writer commits `key` (with `racer` bytes) just before our first write or
 * copy to it: after every pre-check, before our commit.
 */
function racedBackend(key: string, options: MemoryBackendOptions = {}) {
  const backend = new MemoryBackend(options);
  const seen: { key: string; options: WriteOptions | undefined }[] = [];
  let raced = false;
  const race = async (k: string): Promise<void> => {
    if (raced || k !== key) return;
    raced = true;
    await put(backend, key, key.endsWith('/') ? '' : 'racer');
  };
  const write = backend.write.bind(backend);
  backend.write = async (k, o) => {
    seen.push({ key: k, options: o });
    await race(k);
    return write(k, o);
  };
  const copy = backend.copy.bind(backend);
  const copies: { to: string; options: CopyOptions | undefined }[] = [];
  backend.copy = async (from, to, o) => {
    copies.push({ to, options: o });
    await race(to);
    return copy(from, to, o);
  };
  return { backend, seen, copies, fs: createFsAdapter(backend) };
}

describe('create-only writes on an object store', () => {
  it.each([true, false])(
    'copyFile with COPYFILE_EXCL does not overwrite a racing writer (serverSideCopy: %s)',
    async (serverSideCopy) => {
      const { backend, fs, copies, seen } = racedBackend('dst', { capabilities: { serverSideCopy } });
      await put(backend, 'src', 'mine');
      const err = await rejection(fs.promises.copyFile('/src', '/dst', constants.COPYFILE_EXCL));
      // Server-side where the backend can copy create-only; otherwise a create-only streamed write.
      if (serverSideCopy) expect(copies).toEqual([{ to: 'dst', options: { ifNoneMatch: true } }]);
      else expect(seen.find((w) => w.key === 'dst')?.options?.ifNoneMatch).toBe(true);
      expect(err.code).toBe('EEXIST');
      expect(err.syscall).toBe('copyfile');
      expect(err.path).toBe('/src');
      expect(err.dest).toBe('/dst');
      expect((await fs.promises.readFile('/dst', 'utf8')) as string).toBe('racer');
    },
  );

  it('copyFile with COPYFILE_EXCL onto a free name copies the bytes', async () => {
    const backend = new MemoryBackend();
    await put(backend, 'src', Buffer.alloc(300_000, 7));
    const fs = createFsAdapter(backend);
    await fs.promises.copyFile('/src', '/dst', constants.COPYFILE_EXCL);
    expect((await fs.promises.readFile('/dst')).equals(Buffer.alloc(300_000, 7))).toBe(true);
  });

  it('mkdir (not recursive) is EEXIST when the directory appears meanwhile', async () => {
    const { fs, seen } = racedBackend('d/');
    const err = await rejection(fs.promises.mkdir('/d'));
    expect(err.code).toBe('EEXIST');
    expect(err.syscall).toBe('mkdir');
    expect(err.path).toBe('/d');
    expect(seen.find((s) => s.key === 'd/')?.options?.ifNoneMatch).toBe(true);
  });

  it('two concurrent mkdirs of one name: one succeeds, the other is EEXIST', async () => {
    const fs = createFsAdapter(new MemoryBackend());
    const results = await Promise.allSettled([fs.promises.mkdir('/d'), fs.promises.mkdir('/d')]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect((rejected.reason as { code: string }).code).toBe('EEXIST');
  });

  it('recursive mkdir and mkdir without conditional writes do not ask for create-only markers', async () => {
    const { fs, seen } = racedBackend('never', { capabilities: { conditionalCreate: false } });
    await fs.promises.mkdir('/a');
    await fs.promises.mkdir('/b/c/d', { recursive: true });
    expect(seen.map((s) => s.key).sort()).toEqual(['a/', 'b/', 'b/c/', 'b/c/d/']);
    expect(seen.every((s) => !s.options?.ifNoneMatch)).toBe(true);
  });

  it("writeFile with flag 'wx' and open(path, 'wx') are create-only", async () => {
    const { fs, seen } = racedBackend('f');
    const err = await rejection(fs.promises.writeFile('/f', 'mine', { flag: 'wx' }));
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe('/f');
    expect(await fs.promises.readFile('/f', 'utf8')).toBe('racer');
    expect(seen.find((s) => s.key === 'f')?.options?.ifNoneMatch).toBe(true);

    // open 'wx' asks for a create-only upload too: here the racer is there first, so open refuses.
    const other = racedBackend('g');
    const openErr = await rejection(other.fs.promises.open('/g', 'wx'));
    expect(openErr.code).toBe('EEXIST');
    expect(openErr.path).toBe('/g');
    expect(await other.fs.promises.readFile('/g', 'utf8')).toBe('racer');
    expect(other.seen.find((s) => s.key === 'g')?.options?.ifNoneMatch).toBe(true);
  });
});

describe('appendFile on an object store', () => {
  it('rewrites the object by streaming the old bytes through, never holding them whole', async () => {
    const backend = new MemoryBackend();
    const old = Buffer.alloc(5 * 1024 * 1024, 1);
    await put(backend, 'log', old);
    let delivered = 0;
    const read = backend.read.bind(backend);
    backend.read = async (key, range) => {
      const source = await read(key, range);
      return Readable.from(
        (async function* () {
          for await (const c of source) {
            delivered += (c as Buffer).length;
            yield c as Buffer;
          }
        })(),
      );
    };
    const chunks: number[] = [];
    let deliveredAtFirstWrite = -1;
    const write = backend.write.bind(backend);
    backend.write = async (key, options) => {
      const w = await write(key, options);
      return {
        ...w,
        write: async (c: Uint8Array) => {
          if (deliveredAtFirstWrite < 0) deliveredAtFirstWrite = delivered;
          chunks.push(c.length);
          return w.write(c);
        },
      };
    };
    const fs = createFsAdapter(backend);
    await fs.promises.appendFile('/log', 'tail');
    const after = await fs.promises.readFile('/log');
    expect(after.length).toBe(old.length + 4);
    expect(after.subarray(-4).toString()).toBe('tail');
    // Chunks as the read stream hands them over (a few 64 KiB pieces at most), not one 5 MiB buffer.
    expect(chunks.length).toBeGreaterThan(10);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1024 * 1024);
    expect(deliveredAtFirstWrite).toBeLessThan(old.length / 2);
  });
});

describe('rm -r on an object store', () => {
  it('deletes batch by batch while the listing pages in, never holding every key', async () => {
    const backend = new MemoryBackend({ pageSize: 20, capabilities: { maxDeleteBatch: 25 } });
    const fs = createFsAdapter(backend);
    await fs.promises.mkdir('/big/sub', { recursive: true });
    for (let i = 0; i < 230; i++) await put(backend, `big/sub/k${String(i).padStart(3, '0')}`, 'x');
    await put(backend, 'big-sibling', 'stay');
    const events: string[] = [];
    const list = backend.list.bind(backend);
    backend.list = (prefix, options) => {
      const pages = list(prefix, options);
      return (async function* () {
        for await (const page of pages) {
          events.push(`page:${page.objects.length}`);
          yield page;
        }
      })();
    };
    const del = backend.delete.bind(backend);
    backend.delete = async (keys) => {
      events.push(`delete:${keys.length}`);
      return del(keys);
    };
    await fs.promises.rm('/big', { recursive: true });
    const deletes = events.filter((e) => e.startsWith('delete:')).map((e) => Number(e.slice(7)));
    // Markers big/, big/sub/ and 230 keys: 232 objects in batches of at most 25.
    expect(deletes.reduce((a, b) => a + b, 0)).toBe(232);
    expect(Math.max(...deletes)).toBeLessThanOrEqual(25);
    // The first delete happened before the listing was done.
    const firstDelete = events.findIndex((e) => e.startsWith('delete:'));
    const lastPage = events.map((e) => e.startsWith('page:')).lastIndexOf(true);
    expect(firstDelete).toBeLessThan(lastPage);
    expect(await fs.promises.readdir('/')).toEqual(['big-sibling']);
  });
});

describe('FileHandle reads on an object store', () => {
  it('an object replaced by a longer one after open is EIO at the size seen at open, not a mix', async () => {
    const fs = createFsAdapter(new MemoryBackend());
    await fs.promises.writeFile('/f.bin', Buffer.from('old-bytes!'));
    const h = await fs.promises.open('/f.bin', 'r');
    try {
      await fs.promises.writeFile('/f.bin', Buffer.from('new bytes, twice as long'));
      const buf = Buffer.alloc(64);
      const err = await rejection(h.read(buf, 0, 64, null));
      expect(err.code).toBe('EIO');
      expect(err.message).toContain('changed since it was opened');
    } finally {
      await h.close();
    }
    // Unchanged objects read to their end as before, whatever the read sizes.
    await fs.promises.writeFile('/g.bin', Buffer.from('0123456789'));
    const g = await fs.promises.open('/g.bin', 'r');
    const out = Buffer.alloc(10);
    expect((await g.read(out, 0, 4, null)).bytesRead).toBe(4);
    expect((await g.read(out, 4, 6, null)).bytesRead).toBe(6);
    expect((await g.read(out, 0, 6, null)).bytesRead).toBe(0);
    expect(out.toString()).toBe('0123456789');
    await g.close();
  });
});
