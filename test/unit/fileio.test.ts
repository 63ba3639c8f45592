/**
 * `fileio` (src/fileio.ts): ZenML's functions over the default mount table, on `mem://` URIs (the
 * shared memory volume) and on plain paths (a temp dir on local disk), including cross-mount
 * rename, which falls back to copy + delete.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileio, fs, type WalkEntry } from '../../src/index.js';
import { type Err, rejection, sha256 } from './helpers.js';

async function put(p: string, data: string | Uint8Array): Promise<void> {
  const f = await fileio.open(p, 'wb');
  await f.write(data);
  await f.close();
}

async function get(p: string): Promise<Buffer> {
  return (await (await fileio.open(p, 'rb')).read()) as Buffer;
}

async function collect(gen: AsyncGenerator<WalkEntry>): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-fileio-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Each test gets a fresh mem:// volume and a fresh local dir. */
let mem: string;
let local: string;
beforeEach(async () => {
  mem = `mem://fio-${randomUUID().slice(0, 8)}`;
  await fileio.makedirs(mem);
  local = await mkdtemp(path.join(tmp, 'l-'));
});

describe.each([
  ['mem://', () => mem],
  ['a local temp dir', () => local],
])('fileio on %s', (_label, rootOf) => {
  let root: string;
  beforeEach(() => {
    root = rootOf();
  });

  it('open: w, r, rb, a, x', async () => {
    const p = `${root}/f.txt`;
    const w = await fileio.open(p, 'w');
    await w.write('hello ');
    // Nothing is visible before close, and the temp sibling never shows in a listing.
    expect(await fileio.exists(p)).toBe(false);
    expect(await fileio.listdir(root)).toEqual([]);
    await w.close();
    expect(await (await fileio.open(p)).read()).toBe('hello ');
    const a = await fileio.open(p, 'a');
    await a.write('world');
    await a.close();
    expect(await (await fileio.open(p, 'r')).read()).toBe('hello world');
    const rb = await (await fileio.open(p, 'rb')).read();
    expect(Buffer.isBuffer(rb)).toBe(true);
    expect(rb.toString()).toBe('hello world');
    const x = await rejection(fileio.open(p, 'x'));
    expect(x.code).toBe('EEXIST');
    expect(x.path).toBe(p);
    const fresh = await fileio.open(`${root}/new.txt`, 'x');
    await fresh.write('new');
    await fresh.close();
    expect((await get(`${root}/new.txt`)).toString()).toBe('new');
    expect(await fileio.listdir(root)).toEqual(['f.txt', 'new.txt']);
  });

  it('open: errors name the path', async () => {
    const missing = await rejection(fileio.open(`${root}/missing.txt`));
    expect(missing.code).toBe('ENOENT');
    expect(missing.path).toBe(`${root}/missing.txt`);
    await fileio.mkdir(`${root}/d`);
    const dir = await rejection(fileio.open(`${root}/d`, 'r'));
    expect(dir.code).toBe('EISDIR');
    expect(dir.path).toBe(`${root}/d`);
    const mode = await rejection(fileio.open(`${root}/f`, 'rw' as 'r'));
    expect(mode.code).toBe('EINVAL');
    const noParent = await rejection(put(`${root}/no/such/f`, 'x'));
    expect(noParent.code).toBe('ENOENT');
  });

  it('open: an aborted write leaves nothing behind', async () => {
    const p = `${root}/aborted.bin`;
    await put(p, 'before');
    const w = await fileio.open(p, 'wb');
    await w.write('partial');
    await w.abort();
    expect((await get(p)).toString()).toBe('before');
    expect(await fileio.listdir(root)).toEqual(['aborted.bin']);
    expect(fs.readdirSync(root)).toEqual(['aborted.bin']);
  });

  it('copy and copyfile: EEXIST unless overwrite, bytes kept', async () => {
    const data = randomBytes(200_000);
    await put(`${root}/src.bin`, data);
    await fileio.copyfile(`${root}/src.bin`, `${root}/dst.bin`);
    expect(sha256(await get(`${root}/dst.bin`))).toBe(sha256(data));
    await put(`${root}/other.bin`, 'other');
    const err = await rejection(fileio.copy(`${root}/src.bin`, `${root}/other.bin`));
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe(`${root}/src.bin`);
    expect(err.dest).toBe(`${root}/other.bin`);
    expect((await get(`${root}/other.bin`)).toString()).toBe('other');
    await fileio.copy(`${root}/src.bin`, `${root}/other.bin`, true);
    expect(sha256(await get(`${root}/other.bin`))).toBe(sha256(data));
    const missing = await rejection(fileio.copy(`${root}/nope`, `${root}/x`));
    expect(missing.code).toBe('ENOENT');
    expect(missing.path).toBe(`${root}/nope`);
    expect(await fileio.listdir(root)).toEqual(['dst.bin', 'other.bin', 'src.bin']);
  });

  it('exists, isdir, stat, size', async () => {
    await fileio.makedirs(`${root}/a/b`);
    await put(`${root}/a/f.txt`, '12345');
    await put(`${root}/a/b/g.txt`, '123');
    expect(await fileio.exists(`${root}/a`)).toBe(true);
    expect(await fileio.exists(`${root}/a/f.txt`)).toBe(true);
    expect(await fileio.exists(`${root}/nope`)).toBe(false);
    expect(await fileio.exists(`${root}/a/f.txt/under-a-file`)).toBe(false);
    expect(await fileio.isdir(`${root}/a`)).toBe(true);
    expect(await fileio.isdir(`${root}/a/f.txt`)).toBe(false);
    expect(await fileio.isdir(`${root}/nope`)).toBe(false);
    const st = await fileio.stat(`${root}/a/f.txt`);
    expect(st.isFile()).toBe(true);
    expect(st.size).toBe(5);
    expect((await fileio.stat(`${root}/a`)).isDirectory()).toBe(true);
    expect((await rejection(fileio.stat(`${root}/nope`))).code).toBe('ENOENT');
    expect(await fileio.size(`${root}/a/f.txt`)).toBe(5);
    expect(await fileio.size(`${root}/a`)).toBe(8);
  });

  it('listdir, makedirs, mkdir', async () => {
    await fileio.makedirs(`${root}/x/y/z`);
    await fileio.makedirs(`${root}/x/y/z`);
    await fileio.mkdir(`${root}/m`);
    await put(`${root}/b.txt`, 'b');
    await put(`${root}/a.txt`, 'a');
    expect(await fileio.listdir(root)).toEqual(['a.txt', 'b.txt', 'm', 'x']);
    expect(await fileio.listdir(`${root}/x/y`)).toEqual(['z']);
    expect((await rejection(fileio.mkdir(`${root}/m`))).code).toBe('EEXIST');
    expect((await rejection(fileio.mkdir(`${root}/p/q`))).code).toBe('ENOENT');
    expect((await rejection(fileio.makedirs(`${root}/a.txt/sub`))).code).toBe('ENOTDIR');
    expect((await rejection(fileio.listdir(`${root}/nope`))).code).toBe('ENOENT');
    expect((await rejection(fileio.listdir(`${root}/a.txt`))).code).toBe('ENOTDIR');
  });

  it('remove and rmtree', async () => {
    await fileio.makedirs(`${root}/t/u`);
    await put(`${root}/t/u/f`, 'f');
    await put(`${root}/t/g`, 'g');
    await fileio.remove(`${root}/t/g`);
    expect(await fileio.exists(`${root}/t/g`)).toBe(false);
    expect((await rejection(fileio.remove(`${root}/t/g`))).code).toBe('ENOENT');
    expect((await rejection(fileio.remove(`${root}/t`))).code).toMatch(/^(EISDIR|EPERM)$/);
    expect((await rejection(fileio.rmtree(`${root}/t/u/f`))).code).toBe('ENOTDIR');
    await fileio.rmtree(`${root}/t`);
    expect(await fileio.exists(`${root}/t`)).toBe(false);
    expect((await rejection(fileio.rmtree(`${root}/t`))).code).toBe('ENOENT');
    expect(await fileio.listdir(root)).toEqual([]);
  });

  it('rename within one mount: file and directory, EEXIST unless overwrite', async () => {
    await put(`${root}/a.txt`, 'a');
    await put(`${root}/b.txt`, 'b');
    const err = await rejection(fileio.rename(`${root}/a.txt`, `${root}/b.txt`));
    expect(err.code).toBe('EEXIST');
    expect(err.path).toBe(`${root}/a.txt`);
    expect(err.dest).toBe(`${root}/b.txt`);
    expect((await get(`${root}/b.txt`)).toString()).toBe('b');
    await fileio.rename(`${root}/a.txt`, `${root}/b.txt`, true);
    expect((await get(`${root}/b.txt`)).toString()).toBe('a');
    expect(await fileio.exists(`${root}/a.txt`)).toBe(false);
    await fileio.makedirs(`${root}/d/e`);
    await put(`${root}/d/e/f`, 'f');
    await fileio.rename(`${root}/d`, `${root}/moved`);
    expect((await get(`${root}/moved/e/f`)).toString()).toBe('f');
    expect(await fileio.exists(`${root}/d`)).toBe(false);
  });

  it('glob', async () => {
    await fileio.makedirs(`${root}/runs/1/sub`);
    await fileio.makedirs(`${root}/runs/2`);
    await put(`${root}/runs/1/metrics.json`, '{}');
    await put(`${root}/runs/1/sub/metrics.json`, '{}');
    await put(`${root}/runs/2/metrics.json`, '{}');
    await put(`${root}/runs/2/model.bin`, 'm');
    await put(`${root}/runs/2/.hidden.json`, '{}');
    expect(await fileio.glob(`${root}/runs/*/metrics.json`)).toEqual([
      `${root}/runs/1/metrics.json`,
      `${root}/runs/2/metrics.json`,
    ]);
    expect(await fileio.glob(`${root}/runs/**/*.json`)).toEqual([
      `${root}/runs/1/metrics.json`,
      `${root}/runs/1/sub/metrics.json`,
      `${root}/runs/2/metrics.json`,
    ]);
    expect(await fileio.glob(`${root}/runs/2/*`)).toEqual([
      `${root}/runs/2/metrics.json`,
      `${root}/runs/2/model.bin`,
    ]);
    expect(await fileio.glob(`${root}/runs/2/m{odel,etrics}.*`)).toEqual([
      `${root}/runs/2/metrics.json`,
      `${root}/runs/2/model.bin`,
    ]);
    expect(await fileio.glob(`${root}/runs/[12]`)).toEqual([`${root}/runs/1`, `${root}/runs/2`]);
    expect(await fileio.glob(`${root}/runs/2/model.bin`)).toEqual([`${root}/runs/2/model.bin`]);
    expect(await fileio.glob(`${root}/runs/3/*`)).toEqual([]);
    expect(await fileio.glob(`${root}/nothing`)).toEqual([]);
  });

  it('walk: top-down, bottom-up, pruning', async () => {
    await fileio.makedirs(`${root}/w/b/c`);
    await fileio.makedirs(`${root}/w/a`);
    await put(`${root}/w/top.txt`, 't');
    await put(`${root}/w/b/mid.txt`, 'm');
    await put(`${root}/w/b/c/leaf.txt`, 'l');
    expect(await collect(fileio.walk(`${root}/w`))).toEqual([
      [`${root}/w`, ['a', 'b'], ['top.txt']],
      [`${root}/w/a`, [], []],
      [`${root}/w/b`, ['c'], ['mid.txt']],
      [`${root}/w/b/c`, [], ['leaf.txt']],
    ]);
    expect((await collect(fileio.walk(`${root}/w`, { topdown: false }))).map((e) => e[0])).toEqual([
      `${root}/w/a`,
      `${root}/w/b/c`,
      `${root}/w/b`,
      `${root}/w`,
    ]);
    const pruned: string[] = [];
    for await (const [dir, dirs] of fileio.walk(`${root}/w`)) {
      pruned.push(dir);
      dirs.splice(dirs.indexOf('b'), dirs.includes('b') ? 1 : 0);
    }
    expect(pruned).toEqual([`${root}/w`, `${root}/w/a`]);
    const errors: Error[] = [];
    expect(await collect(fileio.walk(`${root}/absent`, { onerror: (e) => errors.push(e) }))).toEqual([]);
    expect(errors.map((e) => (e as Err).code)).toEqual(['ENOENT']);
  });
});

describe('across mounts', () => {
  it('copy mem:// → local and back keeps the SHA-256', async () => {
    const data = randomBytes(1024 * 1024 + 7);
    await put(`${mem}/m.bin`, data);
    await fileio.copy(`${mem}/m.bin`, `${local}/m.bin`);
    expect(sha256(await readFile(`${local}/m.bin`))).toBe(sha256(data));
    await fileio.copy(`${local}/m.bin`, `${mem}/back.bin`);
    expect(sha256(await get(`${mem}/back.bin`))).toBe(sha256(data));
    expect((await rejection(fileio.copy(`${mem}/m.bin`, `${local}/m.bin`))).code).toBe('EEXIST');
  });

  it('rename of a file mem:// → local falls back to copy + delete', async () => {
    const data = randomBytes(300_000);
    await put(`${mem}/file.bin`, data);
    // The fs itself refuses: rename across mounts is EXDEV.
    expect((await rejection(fs.promises.rename(`${mem}/file.bin`, `${local}/file.bin`))).code).toBe('EXDEV');
    await fileio.rename(`${mem}/file.bin`, `${local}/file.bin`);
    expect(sha256(await readFile(`${local}/file.bin`))).toBe(sha256(data));
    expect(await fileio.exists(`${mem}/file.bin`)).toBe(false);
    expect(await fileio.listdir(mem)).toEqual([]);
    expect(nodeFs.readdirSync(local)).toEqual(['file.bin']);
  });

  it('rename of a directory tree mem:// → local copies every file, then deletes the source', async () => {
    const files: Record<string, Buffer> = {
      'tree/a.bin': randomBytes(50_000),
      'tree/sub/b.bin': randomBytes(70_000),
      'tree/sub/deeper/c.txt': Buffer.from('c'),
    };
    await fileio.makedirs(`${mem}/tree/sub/deeper`);
    await fileio.makedirs(`${mem}/tree/empty`);
    for (const [rel, data] of Object.entries(files)) await put(`${mem}/${rel}`, data);
    await fileio.rename(`${mem}/tree`, `${local}/tree`);
    for (const [rel, data] of Object.entries(files))
      expect(sha256(await readFile(path.join(local, rel))), rel).toBe(sha256(data));
    expect(nodeFs.statSync(path.join(local, 'tree/empty')).isDirectory()).toBe(true);
    expect(nodeFs.readdirSync(path.join(local, 'tree')).sort()).toEqual(['a.bin', 'empty', 'sub']);
    expect(await fileio.exists(`${mem}/tree`)).toBe(false);
    expect(await fileio.listdir(mem)).toEqual([]);
  });

  it('rename across mounts refuses an existing destination unless overwrite', async () => {
    await put(`${mem}/x.txt`, 'from mem');
    nodeFs.writeFileSync(`${local}/x.txt`, 'on disk');
    const err = await rejection(fileio.rename(`${mem}/x.txt`, `${local}/x.txt`));
    expect(err.code).toBe('EEXIST');
    expect(nodeFs.readFileSync(`${local}/x.txt`, 'utf8')).toBe('on disk');
    expect(await fileio.exists(`${mem}/x.txt`)).toBe(true);
    await fileio.rename(`${mem}/x.txt`, `${local}/x.txt`, true);
    expect(nodeFs.readFileSync(`${local}/x.txt`, 'utf8')).toBe('from mem');
    expect(await fileio.exists(`${mem}/x.txt`)).toBe(false);
  });

  it('rename of a directory across mounts into a missing parent is ENOENT, as within one mount', async () => {
    await fileio.makedirs(`${mem}/d`);
    await put(`${mem}/d/f.txt`, 'f');
    const err = await rejection(fileio.rename(`${mem}/d`, `${local}/no/such/parent/d`));
    expect(err.code).toBe('ENOENT');
    expect(nodeFs.readdirSync(local)).toEqual([]);
    expect(await fileio.exists(`${mem}/d/f.txt`)).toBe(true);
  });

  it('rename of a missing source across mounts is ENOENT and creates nothing', async () => {
    const err = await rejection(fileio.rename(`${mem}/none`, `${local}/none`));
    expect(err.code).toBe('ENOENT');
    expect(nodeFs.readdirSync(local)).toEqual([]);
  });

  it('an unmounted scheme is ENODEV', async () => {
    const err = await rejection(fileio.exists('gs://nowhere/k'));
    expect(err.code).toBe('ENODEV');
    expect(err.path).toBe('gs://nowhere/k');
  });
});
