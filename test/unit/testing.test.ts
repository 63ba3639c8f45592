/**
 * `artifact-vfs/testing` (src/testing/index.ts): `mountMemory` puts a private memory fs on a prefix
 * of the default mount table (or a given one) so code under test runs without the cloud.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createStoreFromFs, fileio, fs, MountTable, vfs } from '../../src/index.js';
import { mountMemory, type MemoryMount } from '../../src/testing/index.js';
import { rejection, thrown } from './helpers.js';

const mounted: MemoryMount[] = [];
function mount(prefix: string, options?: { vfs?: MountTable }): MemoryMount {
  const m = mountMemory(prefix, options);
  mounted.push(m);
  return m;
}
afterEach(() => {
  for (const m of mounted.splice(0)) m.unmount();
});

describe('mountMemory', () => {
  it('serves the default fs on the prefix; toJSON shows the files by URI', async () => {
    const m = mount('s3://bucket');
    expect(m.prefix).toBe('s3://bucket');
    expect(vfs.isMounted('s3://bucket')).toBe(true);
    await fs.promises.mkdir('s3://bucket/a');
    await fs.promises.writeFile('s3://bucket/a/b.txt', 'hello');
    expect(await fs.promises.readFile('s3://bucket/a/b.txt', 'utf8')).toBe('hello');
    expect(m.toJSON()).toEqual({ 's3://bucket/a/b.txt': 'hello' });
    // The memory fs itself is addressed from the prefix.
    expect(m.fs.readFileSync('/a/b.txt', 'utf8')).toBe('hello');
    // fileio and sync calls reach it too.
    expect(await fileio.listdir('s3a://bucket/a')).toEqual(['b.txt']);
    expect(fs.existsSync('s3://bucket/a/b.txt')).toBe(true);
  });

  it('toJSON shows empty directories as null', async () => {
    const m = mount('gs://b/prefix/');
    expect(m.prefix).toBe('gs://b/prefix');
    await fs.promises.mkdir('gs://b/prefix/empty/deeper', { recursive: true });
    await fs.promises.writeFile('gs://b/prefix/top.txt', 't');
    expect(m.toJSON()).toEqual({ 'gs://b/prefix/empty/deeper': null, 'gs://b/prefix/top.txt': 't' });
  });

  it('toJSON on a scheme-level prefix and on a plain path', async () => {
    const scheme = mount('az://');
    await fs.promises.mkdir('az://container/k', { recursive: true });
    await fs.promises.writeFile('az://container/k/v', 'v');
    expect(scheme.toJSON()).toEqual({ 'az://container/k/v': 'v' });
    const plain = mount('/avfs-testing-data');
    await fs.promises.writeFile('/avfs-testing-data/f', 'f');
    expect(plain.toJSON()).toEqual({ '/avfs-testing-data/f': 'f' });
  });

  it('reset() empties the fs and keeps the mount', async () => {
    const m = mount('s3://bucket');
    await fs.promises.mkdir('s3://bucket/a');
    await fs.promises.writeFile('s3://bucket/a/b.txt', 'x');
    m.reset();
    expect(m.toJSON()).toEqual({});
    expect((await rejection(fs.promises.readFile('s3://bucket/a/b.txt'))).code).toBe('ENOENT');
    expect(vfs.isMounted('s3://bucket')).toBe(true);
    await fs.promises.writeFile('s3://bucket/again.txt', 'again');
    expect(m.toJSON()).toEqual({ 's3://bucket/again.txt': 'again' });
  });

  it('unmount() restores ENODEV for the prefix', async () => {
    const m = mountMemory('s3://gone');
    await fs.promises.writeFile('s3://gone/k', 'k');
    m.unmount();
    expect(vfs.isMounted('s3://gone')).toBe(false);
    const err = await rejection(fs.promises.readFile('s3://gone/k'));
    expect(err.code).toBe('ENODEV');
    expect(err.path).toBe('s3://gone/k');
    // Mounting again gives a fresh, empty fs.
    const again = mount('s3://gone');
    expect(again.toJSON()).toEqual({});
  });

  it('mounting a prefix twice is EEXIST, aliases included', () => {
    mount('s3://twice');
    const err = thrown(() => mountMemory('s3://twice'));
    expect(err.code).toBe('EEXIST');
    expect(thrown(() => mountMemory('s3a://twice/')).code).toBe('EEXIST');
    // The built-in mem:// mount is taken too.
    expect(thrown(() => mountMemory('mem://')).code).toBe('EEXIST');
  });

  it('two mounts stay apart', async () => {
    const one = mount('s3://one');
    const two = mount('s3://two');
    await fs.promises.writeFile('s3://one/k', '1');
    await fs.promises.writeFile('s3://two/k', '2');
    expect(one.toJSON()).toEqual({ 's3://one/k': '1' });
    expect(two.toJSON()).toEqual({ 's3://two/k': '2' });
  });

  it('mounts on a given table, not the default one', async () => {
    const table = new MountTable();
    const m = mount('s3://private', { vfs: table });
    expect(vfs.isMounted('s3://private')).toBe(false);
    expect(table.isMounted('s3://private')).toBe(true);
    await table.fs.promises.writeFile('s3://private/k', 'p');
    expect(m.toJSON()).toEqual({ 's3://private/k': 'p' });
    expect((await rejection(fs.promises.readFile('s3://private/k'))).code).toBe('ENODEV');
    m.unmount();
    expect(table.isMounted('s3://private')).toBe(false);
  });

  it('a store over the mounted prefix writes into the memory fs', async () => {
    const m = mount('s3://artifacts');
    await fs.promises.mkdir('s3://artifacts/root');
    const store = await createStoreFromFs({ fs, path: 's3://artifacts/root' });
    await store.makedirs('runs');
    const f = await store.open('runs/m.txt', 'w');
    await f.write('model');
    await f.close();
    expect(m.toJSON()).toEqual({ 's3://artifacts/root/runs/m.txt': 'model' });
  });
});
