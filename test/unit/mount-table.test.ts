/**
 * The mount table (src/vfs/mount-table.ts): routing by segments, aliases, errors in the caller's
 * namespace, returned paths mapped back, cross-mount copy/rename, sync on object mounts, streams.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryFs } from '../../adapters/memory/index.js';
import { localFs } from '../../adapters/local/index.js';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import { fsError } from '../../src/core/errors.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { type Err, failingHandleReads, rejection, sha256, thrown } from './helpers.js';

/** A memory adapter whose root holds a file named after the mount, so routing is observable. */
function tagged(tag: string): FsAdapter {
  const { fs } = createMemoryFs();
  fs.writeFileSync('/tag', tag);
  fs.mkdirSync('/models-x', { recursive: true });
  fs.writeFileSync('/models-x/tag', tag);
  return fs;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-mount-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('routing', () => {
  it('routes to the longest matching prefix, compared by segments', async () => {
    const t = new MountTable();
    t.mount('s3://b', tagged('bucket'));
    t.mount('s3://b/models', tagged('models'));
    expect(await t.fs.promises.readFile('s3://b/tag', 'utf8')).toBe('bucket');
    expect(await t.fs.promises.readFile('s3://b/models/tag', 'utf8')).toBe('models');
    // `models-x` shares a string prefix with `models` but is a different segment.
    expect(await t.fs.promises.readFile('s3://b/models-x/tag', 'utf8')).toBe('bucket');
    expect(t.resolve('s3://b/models-x/k').mount.prefix.segments).toEqual(['b']);
    expect(t.resolve('s3://b/models/k').adapterPath).toBe('/k');
    expect(t.resolve('s3://b/models-x/k').adapterPath).toBe('/models-x/k');
  });

  it('the longer mount wins whatever the mounting order', async () => {
    const t = new MountTable();
    t.mount('s3://b/models', tagged('models'));
    t.mount('s3://b', tagged('bucket'));
    expect(await t.fs.promises.readFile('s3://b/models/tag', 'utf8')).toBe('models');
    expect(await t.fs.promises.readFile('s3://b/tag', 'utf8')).toBe('bucket');
  });

  it('a scheme-level mount serves every authority', async () => {
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount('mem://', fs);
    await t.fs.promises.mkdir('mem://vol1/d', { recursive: true });
    await t.fs.promises.mkdir('mem://vol2', { recursive: true });
    await t.fs.promises.writeFile('mem://vol1/d/f', 'one');
    await t.fs.promises.writeFile('mem://vol2/f', 'two');
    expect(fs.readFileSync('/vol1/d/f', 'utf8')).toBe('one');
    expect(fs.readFileSync('/vol2/f', 'utf8')).toBe('two');
    expect(t.resolve('mem://vol2/f').adapterPath).toBe('/vol2/f');
  });

  it('mounting the same prefix twice is EEXIST; unmount, isMounted and list agree', () => {
    const t = new MountTable();
    const a = tagged('a');
    t.mount('s3://b/p', a);
    const err = thrown(() => t.mount('s3://b/p/', tagged('other')));
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe('s3://b/p/');
    // An alias of the scheme is the same prefix.
    expect(thrown(() => t.mount('s3a://b/p', tagged('other'))).code).toBe('EEXIST');
    t.mount('mem://', tagged('m'), { root: '/vols' });
    t.mount('/mnt/models', 's3://b/p');
    expect(t.isMounted('s3://b/p')).toBe(true);
    expect(t.isMounted('s3a://b/p')).toBe(true);
    expect(t.isMounted('s3://b')).toBe(false);
    expect(t.isMounted('/mnt/models')).toBe(true);
    expect(t.list()).toEqual(
      expect.arrayContaining([
        { prefix: 's3://b/p', target: '/', adapter: a },
        { prefix: 'mem://', target: '/vols', adapter: expect.anything() },
        { prefix: '/mnt/models', target: 's3://b/p', adapter: undefined },
      ]),
    );
    expect(t.list()).toHaveLength(3);
    expect(t.unmount('s3://b/p')).toBe(true);
    expect(t.unmount('s3://b/p')).toBe(false);
    expect(t.unmount('gs://never')).toBe(false);
    expect(t.isMounted('s3://b/p')).toBe(false);
    expect(
      t
        .list()
        .map((m) => m.prefix)
        .sort(),
    ).toEqual(['/mnt/models', 'mem://']);
    // Once unmounted, the prefix can be mounted again.
    t.mount('s3://b/p', a);
    expect(t.isMounted('s3://b/p')).toBe(true);
  });

  it.each([
    ['s3://b', 's3a://b/k'],
    ['s3a://b', 's3://b/k'],
    ['gcs://b', 'gs://b/k'],
    ['gs://b', 'gcs://b/k'],
    ['memory://', 'mem://v/k'],
    ['mem://', 'memory://v/k'],
  ])('an alias routes like its canonical scheme (mounted %s, accessed %s)', async (prefix, access) => {
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount(prefix, fs);
    const dir = access.slice(0, access.lastIndexOf('/'));
    await t.fs.promises.mkdir(dir, { recursive: true });
    await t.fs.promises.writeFile(access, 'aliased');
    const expectedPath = prefix.endsWith('://') ? '/v/k' : '/k';
    expect(fs.readFileSync(expectedPath, 'utf8')).toBe('aliased');
  });

  it('two mounts of one scheme (two buckets, two backends) stay apart', async () => {
    const t = new MountTable();
    const one = new MemoryBackend();
    const two = new MemoryBackend();
    t.mount('s3://one', createFsAdapter(one));
    t.mount('s3://two', createFsAdapter(two));
    await t.fs.promises.writeFile('s3://one/k', 'first');
    await t.fs.promises.writeFile('s3://two/k', 'second');
    expect(await t.fs.promises.readFile('s3://one/k', 'utf8')).toBe('first');
    expect(await t.fs.promises.readFile('s3://two/k', 'utf8')).toBe('second');
    expect(one.size).toBe(1);
    expect(two.size).toBe(1);
    await t.fs.promises.unlink('s3://one/k');
    expect(await t.fs.promises.readFile('s3://two/k', 'utf8')).toBe('second');
    expect((await rejection(t.fs.promises.readFile('s3://one/k'))).code).toBe('ENOENT');
  });

  it('a plain-path mount point aliases a URI', async () => {
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount('s3://bucket', fs);
    t.mount('/mnt/models', 's3://bucket/models');
    await t.fs.promises.mkdir('/mnt/models/v1', { recursive: true });
    await t.fs.promises.writeFile('/mnt/models/v1/w.bin', 'weights');
    expect(fs.readFileSync('/models/v1/w.bin', 'utf8')).toBe('weights');
    expect(await t.fs.promises.readFile('s3://bucket/models/v1/w.bin', 'utf8')).toBe('weights');
    expect(await t.fs.promises.readdir('/mnt/models')).toEqual(['v1']);
    // Paths beside the mount point are not served by it.
    expect(thrown(() => t.resolve('/mnt/models-x/k')).code).toBe('ENODEV');
  });

  it('path.join and path.resolve manglings of a URI route to the URI mount', async () => {
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount('s3://b', fs);
    const joined = path.join('s3://b', 'k');
    const resolved = path.resolve('s3://b/k');
    expect(joined).toBe('s3:/b/k');
    expect(resolved).toBe(path.join(process.cwd(), 's3:/b/k'));
    await t.fs.promises.writeFile(joined, 'joined');
    expect(fs.readFileSync('/k', 'utf8')).toBe('joined');
    expect(await t.fs.promises.readFile(resolved, 'utf8')).toBe('joined');
    expect(await t.fs.promises.readFile('s3://b/k', 'utf8')).toBe('joined');
  });

  it('an unmounted scheme is ENODEV naming the caller path and the scheme', async () => {
    const t = new MountTable();
    t.mount('s3://b', tagged('b'));
    const err = await rejection(t.fs.promises.readFile('gs://bucket/key.txt'));
    expect(err.code).toBe('ENODEV');
    expect(err.path).toBe('gs://bucket/key.txt');
    expect(err.message).toContain('gs://');
    expect(err.message).toContain("'gs://bucket/key.txt'");
    // Another bucket of a mounted scheme is not served either.
    const other = await rejection(t.fs.promises.stat('s3://other/k'));
    expect(other.code).toBe('ENODEV');
    expect(other.path).toBe('s3://other/k');
    const sync = thrown(() => t.fs.statSync('gs://bucket/key.txt'));
    expect(sync.code).toBe('ENODEV');
    expect(sync.path).toBe('gs://bucket/key.txt');
    const cb = await new Promise<Err>((resolve) =>
      t.fs.stat('gs://bucket/key.txt', (e) => resolve(e as unknown as Err)),
    );
    expect(cb.code).toBe('ENODEV');
    expect(cb.path).toBe('gs://bucket/key.txt');
  });
});

describe('errors and returned paths in the caller namespace', () => {
  let t: MountTable;
  let mem: FsAdapter;
  let local: string;
  beforeEach(async () => {
    t = new MountTable();
    mem = createMemoryFs().fs;
    mem.mkdirSync('/data', { recursive: true });
    t.mount('s3://bucket', mem, { root: '/data' });
    t.mount('/mnt/models', 's3://bucket/models');
    local = await mkdtemp(path.join(tmp, 'local-'));
    t.mount(local, localFs, { root: local });
  });

  it.each([
    ['a URI', 's3://bucket/missing.txt'],
    ['an alias-scheme URI', 's3a://bucket/missing.txt'],
    ['a path.join-mangled URI', 's3:/bucket/missing.txt'],
    ['an aliased plain path', '/mnt/models/missing.txt'],
  ])('ENOENT names %s exactly as passed', async (_what, p) => {
    const err = await rejection(t.fs.promises.readFile(p));
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe(p);
    expect(err.message).toContain(`'${p}'`);
    expect(err.message).not.toContain('/data');
    const sync = thrown(() => t.fs.readFileSync(p));
    expect(sync.code).toBe('ENOENT');
    expect(sync.path).toBe(p);
  });

  it('ENOENT on a local mount names the local path', async () => {
    const p = path.join(local, 'nope');
    const err = await rejection(t.fs.promises.stat(p));
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe(p);
  });

  it('rename and copyFile errors carry path and dest', async () => {
    const rn = await rejection(t.fs.promises.rename('s3://bucket/nope', 's3://bucket/dst'));
    expect(rn.code).toBe('ENOENT');
    expect(rn.path).toBe('s3://bucket/nope');
    expect(rn.dest).toBe('s3://bucket/dst');
    expect(rn.message).toContain("'s3://bucket/nope' -> 's3://bucket/dst'");
    const cp = await rejection(t.fs.promises.copyFile('s3:/bucket/nope', '/mnt/models/dst'));
    expect(cp.code).toBe('ENOENT');
    expect(cp.path).toBe('s3:/bucket/nope');
    expect(cp.dest).toBe('/mnt/models/dst');
    const across = await rejection(t.fs.promises.copyFile('s3://bucket/nope', path.join(local, 'x')));
    expect(across.code).toBe('ENOENT');
    expect(across.path).toBe('s3://bucket/nope');
    expect(across.dest).toBe(path.join(local, 'x'));
  });

  it('mkdir recursive returns the first created directory in the caller namespace', async () => {
    expect(await t.fs.promises.mkdir('s3://bucket/a/b/c', { recursive: true })).toBe('s3://bucket/a');
    expect(await t.fs.promises.mkdir('s3://bucket/a/b/c', { recursive: true })).toBeUndefined();
    expect(await t.fs.promises.mkdir('s3a://bucket/a/x/y', { recursive: true })).toBe('s3://bucket/a/x');
    expect(t.fs.mkdirSync('s3://bucket/s/t', { recursive: true })).toBe('s3://bucket/s');
    expect(mem.statSync('/data/a/b/c').isDirectory()).toBe(true);
  });

  it('mkdir recursive through a plain-path alias returns a plain path', async () => {
    mem.mkdirSync('/data/models');
    expect(await t.fs.promises.mkdir('/mnt/models/v1/w', { recursive: true })).toBe('/mnt/models/v1');
    expect(mem.statSync('/data/models/v1/w').isDirectory()).toBe(true);
  });

  it('returned paths map back through a chain of aliases', async () => {
    const chain = new MountTable();
    const { fs } = createMemoryFs();
    chain.mount('gs://c', fs, { root: '/r' });
    chain.mount('s3://b/models', 'gs://c');
    chain.mount('/x', 's3://b');
    fs.mkdirSync('/r', { recursive: true });
    expect(await chain.fs.promises.mkdir('/x/models/k/l', { recursive: true })).toBe('/x/models/k');
    expect(fs.statSync('/r/k/l').isDirectory()).toBe(true);
    expect(await chain.fs.promises.realpath('/x/models/k/l')).toBe('/x/models/k/l');
    expect(await chain.fs.promises.realpath('s3://b/models/k')).toBe('s3://b/models/k');
    expect(await chain.fs.promises.mkdtemp('/x/models/k/t-')).toMatch(/^\/x\/models\/k\/t-[A-Za-z0-9]{6}$/);
    const err = await rejection(chain.fs.promises.readFile('/x/models/k/none'));
    expect(err.code).toBe('ENOENT');
    expect(err.path).toBe('/x/models/k/none');
  });

  it('an alias loop is ELOOP, not a hang', () => {
    const loop = new MountTable();
    loop.mount('/a', '/b');
    loop.mount('/b', '/a');
    const err = thrown(() => loop.fs.statSync('/a/x'));
    expect(err.code).toBe('ELOOP');
    expect(err.path).toBe('/a/x');
  });

  it('Node ERR_* errors (rm of a directory) name the caller path', async () => {
    mem.mkdirSync('/data/dir');
    const err = await rejection(t.fs.promises.rm('s3://bucket/dir'));
    expect(err.code).toBe('ERR_FS_EISDIR');
    expect(err.path).toBe('s3://bucket/dir');
    expect(err.message).toMatch(/ s3:\/\/bucket\/dir$/);
    expect(err.message).not.toContain('/data/dir');
  });

  it('mkdir recursive on a local mount returns the local path', async () => {
    const p = path.join(local, 'm', 'n');
    expect(await t.fs.promises.mkdir(p, { recursive: true })).toBe(path.join(local, 'm'));
  });

  it('realpath maps back into the caller namespace', async () => {
    mem.mkdirSync('/data/models/v1', { recursive: true });
    mem.writeFileSync('/data/models/v1/w', 'w');
    expect(await t.fs.promises.realpath('s3://bucket/models/v1/w')).toBe('s3://bucket/models/v1/w');
    expect(await t.fs.promises.realpath('/mnt/models/v1/w')).toBe('/mnt/models/v1/w');
    expect(t.fs.realpathSync('/mnt/models/v1/w')).toBe('/mnt/models/v1/w');
    expect(await t.fs.promises.realpath('s3://bucket')).toBe('s3://bucket');
  });

  it('mkdtemp returns a path in the caller namespace that exists', async () => {
    const made = await t.fs.promises.mkdtemp('s3://bucket/tmp-');
    expect(made).toMatch(/^s3:\/\/bucket\/tmp-[A-Za-z0-9]{6}$/);
    expect((await t.fs.promises.stat(made)).isDirectory()).toBe(true);
    expect(mem.statSync('/data/' + made.slice('s3://bucket/'.length)).isDirectory()).toBe(true);
    mem.mkdirSync('/data/models');
    const aliased = await t.fs.promises.mkdtemp('/mnt/models/run-');
    expect(aliased).toMatch(/^\/mnt\/models\/run-[A-Za-z0-9]{6}$/);
    const syncMade = t.fs.mkdtempSync('s3://bucket/s-');
    expect(syncMade).toMatch(/^s3:\/\/bucket\/s-[A-Za-z0-9]{6}$/);
  });

  it('readdir withFileTypes: parentPath is the caller path', async () => {
    mem.mkdirSync('/data/d/sub', { recursive: true });
    mem.writeFileSync('/data/d/f', 'f');
    mem.writeFileSync('/data/d/sub/g', 'g');
    const top = await t.fs.promises.readdir('s3://bucket/d', { withFileTypes: true });
    expect(top.map((d) => [d.name, d.parentPath]).sort()).toEqual([
      ['f', 's3://bucket/d'],
      ['sub', 's3://bucket/d'],
    ]);
    const rec = await t.fs.promises.readdir('s3://bucket/d', { withFileTypes: true, recursive: true });
    expect(rec.map((d) => `${d.parentPath}|${d.name}`).sort()).toEqual([
      's3://bucket/d/sub|g',
      's3://bucket/d|f',
      's3://bucket/d|sub',
    ]);
    const sync = t.fs.readdirSync('s3://bucket/d/', { withFileTypes: true });
    expect(sync.map((d) => d.parentPath)).toEqual(['s3://bucket/d', 's3://bucket/d']);
  });

  it('readdir withFileTypes on a local mount, and the deprecated Dirent.path alias', async () => {
    nodeFs.mkdirSync(path.join(local, 'd', 'sub'), { recursive: true });
    nodeFs.writeFileSync(path.join(local, 'd', 'sub', 'g'), 'g');
    const rec = await t.fs.promises.readdir(path.join(local, 'd'), { withFileTypes: true, recursive: true });
    expect(rec.map((d) => `${d.parentPath}|${d.name}`).sort()).toEqual(
      [`${path.join(local, 'd')}|sub`, `${path.join(local, 'd', 'sub')}|g`].sort(),
    );
    mem.mkdirSync('/data/p/q', { recursive: true });
    const entries = await t.fs.promises.readdir('s3://bucket/p', { withFileTypes: true, recursive: true });
    for (const d of entries) {
      const legacy = (d as unknown as { path?: string }).path;
      if (legacy !== undefined) expect(legacy).toBe(d.parentPath);
    }
    expect(entries.map((d) => d.parentPath)).toEqual(['s3://bucket/p']);
  });

  it('readdir withFileTypes through an alias and on an object mount', async () => {
    mem.mkdirSync('/data/models/v1', { recursive: true });
    mem.writeFileSync('/data/models/v1/w', 'w');
    const rec = await t.fs.promises.readdir('/mnt/models', { withFileTypes: true, recursive: true });
    expect(rec.map((d) => `${d.parentPath}|${d.name}`).sort()).toEqual([
      '/mnt/models/v1|w',
      '/mnt/models|v1',
    ]);
    t.mount('gs://obj', createFsAdapter(new MemoryBackend()));
    await t.fs.promises.mkdir('gs://obj/p/q', { recursive: true });
    await t.fs.promises.writeFile('gs://obj/p/q/r', 'r');
    const obj = await t.fs.promises.readdir('gs://obj/p', { withFileTypes: true, recursive: true });
    expect(obj.map((d) => `${d.parentPath}|${d.name}`).sort()).toEqual(['gs://obj/p/q|r', 'gs://obj/p|q']);
  });
});

describe('across mounts', () => {
  const payload = randomBytes(5 * 1024 * 1024 - 123);
  const digest = sha256(payload);
  let t: MountTable;
  let mem: FsAdapter;
  let backend: MemoryBackend;
  let local: string;
  beforeEach(async () => {
    t = new MountTable();
    mem = createMemoryFs().fs;
    backend = new MemoryBackend();
    t.mount('mem://', mem);
    t.mount('s3://bucket', createFsAdapter(backend));
    local = await mkdtemp(path.join(tmp, 'x-'));
    t.mount(local, localFs, { root: local });
    mem.mkdirSync('/v');
    mem.writeFileSync('/v/big.bin', payload);
  });

  it('copyFile memory → object store → local keeps the bytes', async () => {
    await t.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/big.bin');
    expect(sha256(await t.fs.promises.readFile('s3://bucket/big.bin'))).toBe(digest);
    expect(backend.size).toBe(1);
    const dest = path.join(local, 'big.bin');
    await t.fs.promises.copyFile('s3://bucket/big.bin', dest);
    expect(sha256(await readFile(dest))).toBe(digest);
    // callback form goes the same way
    const back = 'mem://v/back.bin';
    await new Promise<void>((resolve, reject) =>
      t.fs.copyFile(dest, back, (e) => (e ? reject(e) : resolve())),
    );
    expect(sha256(mem.readFileSync('/v/back.bin') as Buffer)).toBe(digest);
  });

  it('copyFile onto an in-place mount is exact for every size around its 4 MiB blocks, both ways', async () => {
    const MiB = 1024 * 1024;
    for (const size of [0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 3]) {
      const data = randomBytes(size);
      mem.writeFileSync('/v/sized.bin', data);
      const dest = path.join(local, `sized-${size}`);
      await t.fs.promises.copyFile('mem://v/sized.bin', dest);
      expect(sha256(await readFile(dest))).toBe(sha256(data));
      await t.fs.promises.writeFile('s3://bucket/sized.bin', data);
      await t.fs.promises.copyFile('s3://bucket/sized.bin', 'mem://v/back.bin');
      expect(sha256(mem.readFileSync('/v/back.bin') as Buffer)).toBe(sha256(data));
    }
    expect(nodeFs.readdirSync(local).filter((n) => n.startsWith('.'))).toEqual([]); // no temp left
  });

  it('copyFile across mounts streams: the source is never read whole', async () => {
    let whole = 0;
    const spy: FsAdapter = {
      ...mem,
      promises: {
        ...mem.promises,
        readFile: (async (...a: Parameters<typeof mem.promises.readFile>) => {
          whole++;
          return mem.promises.readFile(...a);
        }) as typeof mem.promises.readFile,
      },
      readFileSync: ((...a: Parameters<typeof mem.readFileSync>) => {
        whole++;
        return mem.readFileSync(...a);
      }) as typeof mem.readFileSync,
    };
    const t2 = new MountTable();
    t2.mount('mem://', spy);
    t2.mount('s3://bucket', createFsAdapter(backend));
    await t2.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/streamed.bin');
    expect(whole).toBe(0);
    expect(sha256(await t2.fs.promises.readFile('s3://bucket/streamed.bin'))).toBe(digest);
  });

  it('COPYFILE_EXCL across mounts: EEXIST, destination unchanged', async () => {
    await t.fs.promises.writeFile('s3://bucket/keep', 'original');
    const dest = path.join(local, 'keep');
    await writeFile(dest, 'local original');
    const { COPYFILE_EXCL } = nodeFs.constants;
    const e1 = await rejection(t.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/keep', COPYFILE_EXCL));
    expect(e1.code).toBe('EEXIST');
    expect(e1.path).toBe('mem://v/big.bin');
    expect(e1.dest).toBe('s3://bucket/keep');
    expect(await t.fs.promises.readFile('s3://bucket/keep', 'utf8')).toBe('original');
    const e2 = await rejection(t.fs.promises.copyFile('mem://v/big.bin', dest, COPYFILE_EXCL));
    expect(e2.code).toBe('EEXIST');
    expect(e2.dest).toBe(dest);
    expect(await readFile(dest, 'utf8')).toBe('local original');
    // Without the flag the destination is replaced.
    await t.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/keep');
    expect(sha256(await t.fs.promises.readFile('s3://bucket/keep'))).toBe(digest);
  });

  it('from local disk onto an object store: the destination refusing (COPYFILE_EXCL) is EEXIST with the caller paths, nothing read first', async () => {
    // node:fs reads finish later than memfs's: the destination's open fails first, and that is the
    // error to report (not a write to the stream it destroyed).
    const src = path.join(local, 'excl-src.bin');
    await writeFile(src, payload);
    await t.fs.promises.writeFile('s3://bucket/excl', 'original');
    const blocks: number[] = [];
    const err = await rejection(
      t.fs.promises.copyFile(src, 's3://bucket/excl', nodeFs.constants.COPYFILE_EXCL),
    );
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe(src);
    expect(err.dest).toBe('s3://bucket/excl');
    expect(await t.fs.promises.readFile('s3://bucket/excl', 'utf8')).toBe('original');
    // The same through a store's copyFrom (avfs cp): EEXIST, and no block was seen.
    const { FileOps } = await import('../../src/store/file-ops.js');
    const here = new FileOps(t.fs, (p) => `s3://bucket/${p}`, { atomicWrites: true });
    const there = new FileOps(t.fs, (p) => path.join(local, p));
    const e2 = await rejection(
      here.copyFrom(there, 'excl-src.bin', 'excl', {
        exclusive: true,
        onBlock: (b) => blocks.push(b.length),
      }),
    );
    expect(e2.code).toBe('EEXIST');
    expect(blocks).toEqual([]);
    // The source is checked by opening it (no stat first): missing is ENOENT, a directory EISDIR.
    const missing = await rejection(t.fs.promises.copyFile(path.join(local, 'nope'), 's3://bucket/n'));
    expect(missing.code).toBe('ENOENT');
    expect(missing.path).toBe(path.join(local, 'nope'));
    expect(missing.dest).toBe('s3://bucket/n');
    const dir = await rejection(t.fs.promises.copyFile(local, 's3://bucket/d'));
    expect(dir.code).toBe('EISDIR');
    expect(dir.dest).toBe('s3://bucket/d');
    expect(backend.keys()).toEqual(['excl']);
    // Without the flag the copy goes through.
    await t.fs.promises.copyFile(src, 's3://bucket/excl');
    expect(sha256(await t.fs.promises.readFile('s3://bucket/excl'))).toBe(digest);
  });

  it('copyFile of a directory across mounts is EISDIR', async () => {
    const err = await rejection(t.fs.promises.copyFile('mem://v', 's3://bucket/v'));
    expect(err.code).toBe('EISDIR');
    expect(err.path).toBe('mem://v');
    expect(backend.size).toBe(0);
  });

  it('rename across mounts is EXDEV and leaves both sides untouched', async () => {
    await t.fs.promises.writeFile('s3://bucket/there', 'there');
    const err = await rejection(t.fs.promises.rename('mem://v/big.bin', 's3://bucket/there'));
    expect(err.code).toBe('EXDEV');
    expect(err.path).toBe('mem://v/big.bin');
    expect(err.dest).toBe('s3://bucket/there');
    expect(sha256(mem.readFileSync('/v/big.bin') as Buffer)).toBe(digest);
    expect(await t.fs.promises.readFile('s3://bucket/there', 'utf8')).toBe('there');
    const sync = thrown(() => t.fs.renameSync('mem://v/big.bin', path.join(local, 'y')));
    expect(sync.code).toBe('EXDEV');
    expect(sync.dest).toBe(path.join(local, 'y'));
    expect(nodeFs.existsSync(path.join(local, 'y'))).toBe(false);
    expect(mem.existsSync('/v/big.bin')).toBe(true);
  });

  it('rename within one mount works', async () => {
    await t.fs.promises.rename('mem://v/big.bin', 'memory://v/moved.bin');
    expect(mem.existsSync('/v/big.bin')).toBe(false);
    expect(sha256(mem.readFileSync('/v/moved.bin') as Buffer)).toBe(digest);
  });

  /**
   * `base`, except that reads fail with ECONNRESET once `after` bytes have been delivered: read
   * streams (copies onto object stores) and FileHandle reads (copies onto in-place mounts).
   */
  function failingReads(base: FsAdapter, after: number): FsAdapter {
    const handles = failingHandleReads(base, (bytes) => bytes >= after);
    return {
      ...base,
      promises: handles.promises,
      createReadStream: ((p: string) => {
        const source = base.createReadStream(p);
        return Readable.from(
          (async function* () {
            let seen = 0;
            for await (const c of source) {
              if (seen >= after) {
                source.destroy();
                throw fsError('ECONNRESET', { syscall: 'read', retryable: true });
              }
              seen += (c as Buffer).length;
              yield c as Buffer;
            }
          })(),
        );
      }) as unknown as typeof base.createReadStream,
    };
  }

  it('a source failing midway leaves an in-place destination as it was, with no temp file', async () => {
    const other = createMemoryFs().fs;
    other.mkdirSync('/d');
    other.writeFileSync('/d/keep', 'memory original');
    const t2 = new MountTable();
    t2.mount('mem://', failingReads(mem, 1024 * 1024));
    t2.mount('mem://other', other);
    t2.mount(local, localFs, { root: local });
    const localDest = path.join(local, 'keep');
    await writeFile(localDest, 'local original');
    for (const [dest, read, list] of [
      ['mem://other/d/keep', () => other.readFileSync('/d/keep', 'utf8'), () => other.readdirSync('/d')],
      [localDest, () => nodeFs.readFileSync(localDest, 'utf8'), () => nodeFs.readdirSync(local)],
    ] as const) {
      const before = read();
      const err = await rejection(t2.fs.promises.copyFile('mem://v/big.bin', dest));
      expect(err.code).toBe('ECONNRESET');
      expect(err.path).toBe('mem://v/big.bin');
      expect(err.dest).toBe(dest);
      // Not torn: the old bytes, and nothing left beside them.
      expect(read()).toBe(before);
      expect(list()).toEqual(['keep']);
    }
    // A destination that did not exist stays absent.
    const absent = path.join(local, 'new.bin');
    expect((await rejection(t2.fs.promises.copyFile('mem://v/big.bin', absent))).code).toBe('ECONNRESET');
    expect(nodeFs.readdirSync(local)).toEqual(['keep']);
    // A successful copy replaces the destination in one step and leaves no temp file either.
    await t.fs.promises.copyFile('mem://v/big.bin', localDest);
    expect(sha256(await readFile(localDest))).toBe(digest);
    expect(nodeFs.readdirSync(local)).toEqual(['keep']);
  });

  it('COPYFILE_EXCL onto an in-place mount still refuses an existing file and a directory', async () => {
    const { COPYFILE_EXCL } = nodeFs.constants;
    await writeFile(path.join(local, 'f'), 'f');
    nodeFs.mkdirSync(path.join(local, 'dir'));
    const exists = await rejection(
      t.fs.promises.copyFile('mem://v/big.bin', path.join(local, 'f'), COPYFILE_EXCL),
    );
    expect(exists.code).toBe('EEXIST');
    const dir = await rejection(t.fs.promises.copyFile('mem://v/big.bin', path.join(local, 'dir')));
    expect(dir.code).toBe('EISDIR');
    expect(dir.dest).toBe(path.join(local, 'dir'));
    const noParent = await rejection(t.fs.promises.copyFile('mem://v/big.bin', path.join(local, 'no', 'f')));
    expect(noParent.code).toBe('ENOENT');
    expect(noParent.dest).toBe(path.join(local, 'no', 'f'));
    expect(nodeFs.readdirSync(local).sort()).toEqual(['dir', 'f']);
  });

  it('onto an object-store mount the copy is written straight to the key (commit on close, no temp)', async () => {
    const written: string[] = [];
    const write = backend.write.bind(backend);
    backend.write = (key, options) => {
      written.push(key);
      return write(key, options);
    };
    await t.fs.promises.writeFile('s3://bucket/keep', 'original');
    written.length = 0;
    const t2 = new MountTable();
    t2.mount('mem://', failingReads(mem, 1024 * 1024));
    t2.mount('s3://bucket', t.resolve('s3://bucket/x').mount.adapter);
    expect((await rejection(t2.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/keep'))).code).toBe(
      'ECONNRESET',
    );
    expect(await t.fs.promises.readFile('s3://bucket/keep', 'utf8')).toBe('original');
    await t.fs.promises.copyFile('mem://v/big.bin', 's3://bucket/keep');
    expect(written).toEqual(['keep', 'keep']);
    expect(backend.keys()).toEqual(['keep']);
    expect(sha256(await t.fs.promises.readFile('s3://bucket/keep'))).toBe(digest);
  });
});

describe('node:fs mounted under a URI prefix', () => {
  it('streams open the adapter path, then report the caller path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'avfs-mt-'));
    try {
      await writeFile(path.join(dir, 'a.txt'), 'hello');
      const table = new MountTable();
      table.mount('mirror://b/x', nodeFs as unknown as FsAdapter, { root: dir });
      const r = table.fs.createReadStream('mirror://b/x/a.txt');
      const chunks: Buffer[] = [];
      for await (const c of r) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toBe('hello');
      expect(r.path).toBe('mirror://b/x/a.txt');
      const w = table.fs.createWriteStream('mirror://b/x/b.txt');
      await pipeline(Readable.from([Buffer.from('world')]), w);
      expect(await readFile(path.join(dir, 'b.txt'), 'utf8')).toBe('world');
      expect(w.path).toBe('mirror://b/x/b.txt');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sync methods', () => {
  let t: MountTable;
  let local: string;
  beforeEach(async () => {
    t = new MountTable();
    t.mount('mem://', createMemoryFs().fs);
    t.mount('s3://bucket', createFsAdapter(new MemoryBackend()));
    local = await mkdtemp(path.join(tmp, 'sync-'));
    t.mount(local, localFs, { root: local });
  });

  it('route to memory and local mounts', () => {
    t.fs.mkdirSync('mem://v/d', { recursive: true });
    t.fs.writeFileSync('mem://v/d/f', 'sync');
    expect(t.fs.readFileSync('mem://v/d/f', 'utf8')).toBe('sync');
    expect(t.fs.readdirSync('mem://v/d')).toEqual(['f']);
    expect(t.fs.statSync('mem://v/d/f').size).toBe(4);
    t.fs.copyFileSync('mem://v/d/f', 'mem://v/d/g');
    t.fs.renameSync('mem://v/d/g', 'mem://v/d/h');
    expect(t.fs.readdirSync('mem://v/d').sort()).toEqual(['f', 'h']);
    const lf = path.join(local, 'f.txt');
    t.fs.writeFileSync(lf, 'on disk');
    expect(nodeFs.readFileSync(lf, 'utf8')).toBe('on disk');
    t.fs.appendFileSync(lf, '!');
    expect(t.fs.readFileSync(lf, 'utf8')).toBe('on disk!');
    t.fs.unlinkSync(lf);
    expect(nodeFs.existsSync(lf)).toBe(false);
  });

  it.each([
    ['readFileSync', 'readFile', 's3://bucket/k', (fs: FsAdapter) => fs.readFileSync('s3://bucket/k')],
    [
      'writeFileSync',
      'writeFile',
      's3://bucket/k',
      (fs: FsAdapter) => fs.writeFileSync('s3://bucket/k', 'x'),
    ],
    ['statSync', 'stat', 's3a://bucket/k', (fs: FsAdapter) => fs.statSync('s3a://bucket/k')],
    ['readdirSync', 'readdir', 's3://bucket', (fs: FsAdapter) => fs.readdirSync('s3://bucket')],
    ['mkdirSync', 'mkdir', 's3:/bucket/d', (fs: FsAdapter) => fs.mkdirSync('s3:/bucket/d')],
    ['unlinkSync', 'unlink', 's3://bucket/k', (fs: FsAdapter) => fs.unlinkSync('s3://bucket/k')],
    ['rmSync', 'rm', 's3://bucket/k', (fs: FsAdapter) => fs.rmSync('s3://bucket/k')],
    [
      'renameSync',
      'rename',
      's3://bucket/k',
      (fs: FsAdapter) => fs.renameSync('s3://bucket/k', 's3://bucket/j'),
    ],
    [
      'copyFileSync',
      'copyFile',
      's3://bucket/k',
      (fs: FsAdapter) => fs.copyFileSync('s3://bucket/k', 's3://bucket/j'),
    ],
  ])('%s on an object mount throws ENOTSUP naming promises.%s', (_sync, base, shown, call) => {
    const err = thrown(() => call(t.fs));
    expect(err.code).toBe('ENOTSUP');
    expect(err.message).toContain(`promises.${base}`);
    expect(err.path).toBe(shown);
    expect(err.message).not.toContain("'/k'");
  });

  it('copyFileSync across mounts is ENOTSUP naming promises.copyFile', () => {
    t.fs.mkdirSync('mem://v', { recursive: true });
    t.fs.writeFileSync('mem://v/f', 'x');
    const err = thrown(() => t.fs.copyFileSync('mem://v/f', path.join(local, 'f')));
    expect(err.code).toBe('ENOTSUP');
    expect(err.message).toContain('promises.copyFile');
    expect(err.path).toBe('mem://v/f');
    expect(err.dest).toBe(path.join(local, 'f'));
  });

  it('existsSync never throws, except ENOTSUP where the adapter has no sync API', async () => {
    t.fs.mkdirSync('mem://v', { recursive: true });
    t.fs.writeFileSync('mem://v/f', 'x');
    expect(t.fs.existsSync('mem://v/f')).toBe(true);
    expect(t.fs.existsSync('mem://v/nope')).toBe(false);
    expect(t.fs.existsSync(local)).toBe(true);
    expect(t.fs.existsSync('gs://unmounted/k')).toBe(false);
    expect(t.fs.existsSync('')).toBe(false);
    expect(t.fs.existsSync('mem://v/a\0b')).toBe(false);
    expect(t.fs.existsSync(42 as unknown as string)).toBe(false);
    expect(t.fs.existsSync('s3://%2e%2e/x')).toBe(false);
    await t.fs.promises.writeFile('s3://bucket/k', 'x');
    // An object store cannot answer synchronously: a clear ENOTSUP beats a silent `false`.
    expect(() => t.fs.existsSync('s3://bucket/k')).toThrow(
      expect.objectContaining({ code: 'ENOTSUP', path: 's3://bucket/k' }),
    );
  });
});

describe('the routing fs object', () => {
  it('has enumerable own methods and a promises object; a spread copy works', async () => {
    const t = new MountTable();
    t.mount('mem://', createMemoryFs().fs);
    const keys = Object.keys(t.fs);
    for (const k of ['readFile', 'promises', 'createReadStream', 'createWriteStream', 'statSync', 'stat'])
      expect(keys).toContain(k);
    expect(Object.keys(t.fs.promises)).toContain('readFile');
    const copy = { ...t.fs } as FsAdapter;
    await copy.promises.mkdir('mem://v', { recursive: true });
    await copy.promises.writeFile('mem://v/f', 'spread');
    expect(copy.readFileSync('mem://v/f', 'utf8')).toBe('spread');
    const viaCb = await new Promise<string>((resolve, reject) =>
      copy.readFile('mem://v/f', 'utf8', (e, d) => (e ? reject(e) : resolve(d))),
    );
    expect(viaCb).toBe('spread');
    // Methods do not depend on `this`.
    const { readFile: detached } = t.fs.promises;
    expect(await detached('mem://v/f', 'utf8')).toBe('spread');
  });
});

describe('streams through the table', () => {
  let t: MountTable;
  beforeEach(() => {
    t = new MountTable();
    t.mount('mem://', createMemoryFs().fs);
    t.mount('s3://bucket', createFsAdapter(new MemoryBackend()));
    t.fs.mkdirSync('mem://v', { recursive: true });
  });

  it.each(['mem://v/s.txt', 's3://bucket/s.txt'])('write then read a stream on %s', async (p) => {
    const body = randomBytes(300_000);
    await pipeline(Readable.from([body.subarray(0, 1000), body.subarray(1000)]), t.fs.createWriteStream(p));
    const chunks: Buffer[] = [];
    for await (const c of t.fs.createReadStream(p)) chunks.push(c as Buffer);
    expect(sha256(Buffer.concat(chunks))).toBe(sha256(body));
    const part: Buffer[] = [];
    for await (const c of t.fs.createReadStream(p, { start: 2, end: 4 })) part.push(c as Buffer);
    expect(Buffer.concat(part).equals(body.subarray(2, 5))).toBe(true);
  });

  it.each(['mem://v/missing.txt', 'memory://v/missing.txt', 's3://bucket/missing.txt', 's3:/bucket/missing'])(
    'a read stream error names the caller path (%s)',
    async (p) => {
      const stream = t.fs.createReadStream(p);
      const err = await new Promise<Err>((resolve) => stream.on('error', (e) => resolve(e as Err)));
      expect(err.code).toBe('ENOENT');
      expect(err.path).toBe(p);
      expect(err.message).toContain(`'${p}'`);
    },
  );

  it('a write stream error names the caller path', async () => {
    for (const p of ['mem://v/no/such/dir/f', 's3://bucket/no/such/f']) {
      const stream = t.fs.createWriteStream(p);
      const err = await new Promise<Err>((resolve) => stream.on('error', (e) => resolve(e as Err)));
      expect(err.code).toBe('ENOENT');
      expect(err.path).toBe(p);
    }
  });

  it('a stream carries the caller path in .path', () => {
    t.fs.writeFileSync('mem://v/p.txt', 'p');
    const r = t.fs.createReadStream('memory://v/p.txt');
    expect(r.path).toBe('memory://v/p.txt');
    r.destroy();
  });

  it('a stream on an unmounted scheme throws ENODEV synchronously', () => {
    const err = thrown(() => t.fs.createReadStream('gs://x/y'));
    expect(err.code).toBe('ENODEV');
    expect(err.path).toBe('gs://x/y');
  });
});
