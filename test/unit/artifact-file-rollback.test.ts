/**
 * ArtifactFile on stores that write in place (a memory volume, local disk), over an fs whose disk
 * fills up: a write stream stores what still fits of a chunk, then fails with ENOSPC, as a full
 * disk does. A failed or aborted write must leave the destination absent or as it was (an append
 * truncated back to its size at open), with no hidden sibling left, by the time the failed
 * `write()` rejects, even if the caller never calls `close()` or `abort()` afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryFs } from '../../adapters/memory/index.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { createStoreFromFs, type ArtifactStore } from '../../src/store/artifact-store.js';
import type { ArtifactFile } from '../../src/store/file-ops.js';
import { opened } from '../../src/vfs/handle-copy.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { rejection, type Err } from './helpers.js';

const KiB = 1024;

/** Free bytes on the pretend disk, shared by every write stream of one fs, and its ENOSPCs so far. */
interface Space {
  free: number;
  failures: number;
}

/** Node's error for a full disk (a write error carries no path). */
function enospc(): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
  });
}

/** `base` with write streams that store what fits of a chunk in `space`, then fail with ENOSPC. */
function fullDisk(base: FsAdapter, space: Space): FsAdapter {
  const createWriteStream = ((p: string, opts?: object) => {
    const inner = base.createWriteStream(p, opts as never);
    // Listened for at once: memfs may open before the wrapper's construct() runs.
    let innerOpened = false;
    const innerOpen = opened(inner).then(() => {
      innerOpened = true;
    });
    const out = new Writable({
      construct(cb) {
        innerOpen.then(() => {
          cb();
          out.emit('open', -1);
        }, cb);
      },
      write(chunk: Buffer, _enc, cb) {
        if (chunk.length <= space.free) {
          space.free -= chunk.length;
          inner.write(chunk, (err) => cb(err));
          return;
        }
        const part = chunk.subarray(0, space.free);
        space.free = 0;
        inner.write(part, () => {
          space.failures++;
          cb(enospc());
        });
      },
      final(cb) {
        inner.end(() => cb());
      },
      destroy(err, cb) {
        // memfs emits no 'close' for a stream that never opened.
        if (inner.closed || !innerOpened) return cb(err);
        inner.once('close', () => cb(err));
        inner.destroy();
      },
    });
    inner.on('error', (err) => out.destroy(err));
    return out;
  }) as FsAdapter['createWriteStream'];
  return { ...base, createWriteStream };
}

interface Disk {
  store: ArtifactStore;
  space: Space;
  /** A file's bytes straight from the disk; undefined when absent. */
  read(name: string): Buffer | undefined;
  /** Every entry of the store's directory, hidden ones included. */
  list(): string[];
  put(name: string, data: Buffer): void;
}

const scratch: string[] = [];
afterAll(async () => {
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

const disks: Array<[string, () => Promise<Disk>]> = [
  [
    'memory',
    async () => {
      const mem = createMemoryFs().fs;
      mem.mkdirSync('/s');
      const space = { free: Infinity, failures: 0 };
      const table = new MountTable();
      table.mount('mem://v', fullDisk(mem, space));
      return {
        store: await createStoreFromFs({ fs: table.fs, path: 'mem://v/s' }),
        space,
        read: (name) => (mem.existsSync(`/s/${name}`) ? mem.readFileSync(`/s/${name}`) : undefined),
        list: () => mem.readdirSync('/s').map(String).sort(),
        put: (name, data) => mem.writeFileSync(`/s/${name}`, data),
      };
    },
  ],
  [
    'local disk',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'avfs-rollback-'));
      scratch.push(dir);
      const space = { free: Infinity, failures: 0 };
      const table = new MountTable();
      table.mount(dir, fullDisk(nodeFs as unknown as FsAdapter, space), { root: dir });
      const at = (name: string): string => path.join(dir, name);
      return {
        store: await createStoreFromFs({ fs: table.fs, path: dir }),
        space,
        read: (name) => (nodeFs.existsSync(at(name)) ? nodeFs.readFileSync(at(name)) : undefined),
        list: () => nodeFs.readdirSync(dir).sort(),
        put: (name, data) => nodeFs.writeFileSync(at(name), data),
      };
    },
  ],
];

/** Writes 64 KiB chunks (above the streams' buffer, so each write waits) until one rejects. */
async function writeUntilFull(f: ArtifactFile): Promise<Err> {
  for (let i = 0; i < 64; i++) {
    const err = await f.write(Buffer.alloc(64 * KiB, i + 1)).then(
      () => undefined,
      (e: unknown) => e as Err,
    );
    if (err) return err;
  }
  throw new Error('the disk never filled up');
}

/** The error a failed write must be: ENOSPC naming the file, not its hidden sibling; cause kept. */
function expectEnospc(err: Err, f: ArtifactFile): void {
  expect(err.code).toBe('ENOSPC');
  expect(err.path).toBe(f.path);
  expect(err.message).toContain(f.path);
  expect(err.message).not.toMatch(/\.partial|avfs-[0-9a-f]{8}/);
  expect((err.cause as Err | undefined)?.code).toBe('ENOSPC');
}

/** Polls until `check` passes (a rollback nobody waits for), failing after two seconds. */
async function eventually(check: () => void): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe.each(disks)('ArtifactFile rollback on a full disk (%s)', (_name, makeDisk) => {
  const original = Buffer.from('committed bytes that must survive\n'.repeat(30));

  it("'ab' onto an existing file: a failed write truncates it back before write() rejects", async () => {
    const d = await makeDisk();
    d.put('log.bin', original);
    d.space.free = 100 * KiB;
    const f = await d.store.open('log.bin', 'ab');
    const err = await writeUntilFull(f);
    expectEnospc(err, f);
    // Nothing called after the rejection: the file is already as it was.
    expect(d.read('log.bin')).toEqual(original);
    expect(d.list()).toEqual(['log.bin']);
    // close() reports the same failure, abort() then resolves; neither fails twice or undoes more.
    expect(await rejection(f.close())).toBe(err);
    await expect(f.abort()).resolves.toBeUndefined();
    expect(await rejection(f.close())).toBe(err);
    expect(d.read('log.bin')).toEqual(original);
  });

  it("'a' onto no file: a failed write removes the file the append created", async () => {
    const d = await makeDisk();
    d.space.free = 100 * KiB;
    const f = await d.store.open('new.txt', 'a');
    expectEnospc(await writeUntilFull(f), f);
    expect(d.read('new.txt')).toBeUndefined();
    expect(d.list()).toEqual([]);
    await expect(f.abort()).resolves.toBeUndefined();
  });

  it('abort() undoes an append; a successful close() keeps it, and a later abort() does nothing', async () => {
    const d = await makeDisk();
    d.put('log.bin', original);
    const aborted = await d.store.open('log.bin', 'ab');
    await aborted.write(Buffer.alloc(200 * KiB, 7));
    await aborted.abort();
    expect(d.read('log.bin')).toEqual(original);
    // close() after abort() has nothing to commit and is no error.
    await expect(aborted.close()).resolves.toBeUndefined();

    const created = await d.store.open('fresh.bin', 'ab');
    await created.write('new');
    await created.abort(new Error('caller gave up'));
    expect(d.read('fresh.bin')).toBeUndefined();

    const kept = await d.store.open('log.bin', 'ab');
    await kept.write('appended');
    await kept.close();
    await kept.abort();
    expect(d.read('log.bin')).toEqual(Buffer.concat([original, Buffer.from('appended')]));
    expect(d.list()).toEqual(['log.bin']);
  });

  it.each(['wb', 'w', 'xb'] as const)(
    "'%s': a failed write removes the hidden sibling before write() rejects",
    async (mode) => {
      const d = await makeDisk();
      const replaces = !mode.startsWith('x');
      if (replaces) d.put('model.bin', original);
      const before = d.list();
      d.space.free = 100 * KiB;
      const f = await d.store.open('model.bin', mode);
      const err = await writeUntilFull(f);
      expect(d.list()).toEqual(before);
      expect(d.read('model.bin')).toEqual(replaces ? original : undefined);
      expectEnospc(err, f);
      expect(await rejection(f.close())).toBe(err);
      await expect(f.abort()).resolves.toBeUndefined();
      expect(d.list()).toEqual(before);
    },
  );

  it.each(['wb', 'xb', 'ab'] as const)(
    "'%s' where the parent is missing: the error names the path",
    async (mode) => {
      const d = await makeDisk();
      const err = await rejection(d.store.open('no/such/model.bin', mode));
      expect(err.code).toBe('ENOENT');
      expect(err.path).toBe(`${d.store.path}/no/such/model.bin`);
      expect(err.message).not.toMatch(/\.partial|avfs-[0-9a-f]{8}/);
      expect(d.list()).toEqual([]);
    },
  );

  it.each(['wb', 'ab'] as const)(
    "'%s': a failure while nobody writes is rolled back with no further call",
    async (mode) => {
      const d = await makeDisk();
      d.put('model.bin', original);
      d.space.free = 512;
      const f = await d.store.open('model.bin', mode);
      // Taken into the stream's buffer: write() resolves; half of it lands, then the disk fails.
      await f.write(Buffer.alloc(KiB, 1));
      // The caller drops the file here. Once the disk has failed, the rollback must follow.
      await eventually(() => expect(d.space.failures).toBe(1));
      await eventually(() => {
        expect(d.list()).toEqual(['model.bin']);
        expect(d.read('model.bin')).toEqual(original);
      });
      // What a later write or close() reports is the disk's error, on the caller's path.
      const err = await rejection(f.close());
      expectEnospc(err, f);
    },
  );
});

describe('ArtifactFile over memfs itself', () => {
  it.each(['wb', 'xb', 'ab'] as const)(
    "'%s' where the parent is missing rejects (memfs never closes a stream it could not open)",
    async (mode) => {
      const mem = createMemoryFs().fs;
      mem.mkdirSync('/s');
      const table = new MountTable();
      table.mount('mem://v', mem);
      const store = await createStoreFromFs({ fs: table.fs, path: 'mem://v/s' });
      const err = await rejection(store.open('no/such/model.bin', mode));
      expect(err.code).toBe('ENOENT');
      expect(err.path).toBe('mem://v/s/no/such/model.bin');
      expect(mem.readdirSync('/s')).toEqual([]);
    },
  );
});

/** The review's cases: a rollback undoes this append's bytes only, and never contradicts a commit. */
describe.each(disks)('ArtifactFile rollback touches only its own bytes (%s)', (_name, makeDisk) => {
  it('an append that wrote nothing leaves another appender’s bytes when aborted', async () => {
    const d = await makeDisk();
    d.put('log', Buffer.from('header\n'));
    const a = await d.store.open('log', 'ab');
    const b = await d.store.open('log', 'ab');
    await b.write('record of b\n');
    await b.close();
    await a.abort();
    expect(d.read('log')?.toString()).toBe('header\nrecord of b\n');
  });

  it('a file renamed over the appended path is not ours: abort leaves it whole', async () => {
    const d = await makeDisk();
    d.put('log', Buffer.from('abc'));
    const a = await d.store.open('log', 'ab');
    await a.write(' C');
    // Another writer replaces the file (temp file renamed into place).
    const w = await d.store.open('log', 'wb');
    await w.write('someone else’s whole new file');
    await w.close();
    await a.abort();
    expect(d.read('log')?.toString()).toBe('someone else’s whole new file');
    const fresh = await d.store.open('new-log', 'ab');
    await fresh.write('x');
    const other = await d.store.open('new-log', 'wb');
    await other.write('committed by another writer');
    await other.close();
    await fresh.abort();
    expect(d.read('new-log')?.toString()).toBe('committed by another writer');
  });

  it('another writer appending after this append: abort rejects with EIO and removes nothing', async () => {
    const d = await makeDisk();
    d.put('log', Buffer.from('header\n'));
    const a = await d.store.open('log', 'ab');
    await a.write('mine\n');
    const b = await d.store.open('log', 'ab');
    await b.write('theirs\n');
    await b.close();
    // (A's stream may still hold its bytes: give them time to reach the file.)
    await eventually(() => expect(d.read('log')?.length).toBe('header\nmine\ntheirs\n'.length));
    const err = await rejection(a.abort());
    expect(err.code).toBe('EIO');
    expect(err.path).toBe(a.path);
    expect(err.message).toMatch(/another writer appended/);
    expect(d.read('log')?.toString()).toContain('theirs\n');
  });

  it('abort() during a close() that commits waits for it: both agree the write happened', async () => {
    const d = await makeDisk();
    d.put('a.txt', Buffer.from('OLD'));
    const f = await d.store.open('a.txt', 'wb');
    await f.write('NEW CONTENT');
    const closing = f.close();
    await f.abort();
    await closing;
    expect(d.read('a.txt')?.toString()).toBe('NEW CONTENT');
    expect(d.list()).toEqual(['a.txt']);
  });
});

it('a failed rename on close names the caller’s path, not the hidden sibling', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'avfs-rollback-'));
  scratch.push(dir);
  const store = await createStoreFromFs({ fs: nodeFs as unknown as FsAdapter, path: dir });
  const f = await store.open(path.join(dir, 'adir'), 'wb');
  await f.write('x');
  nodeFs.mkdirSync(path.join(dir, 'adir'));
  nodeFs.writeFileSync(path.join(dir, 'adir', 'inside'), 'keep');
  const err = await rejection(f.close());
  expect(err.path).toBe(path.join(dir, 'adir'));
  expect(err.message).not.toMatch(/\.partial/);
  expect(nodeFs.readdirSync(dir)).toEqual(['adir']);
});
