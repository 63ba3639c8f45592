/**
 * The ArtifactStore facade (ZenML's 13 operations plus `size`) over the target's fs, rooted at the
 * run root: the same facade code every flavor uses, so what holds here holds for each of them.
 */
import { expect, it } from 'vitest';
import { createStoreFromFs, type ArtifactStore } from '../../store/artifact-store.js';
import type { WalkEntry } from '../../store/file-ops.js';
import { expectFsError, makeTree, payload, sha256, sorted } from './helpers.js';
import type { Topic } from './types.js';
import type { ConformanceTarget, SuiteContext } from './types.js';

async function storeFor(ctx: SuiteContext): Promise<{ t: ConformanceTarget; store: ArtifactStore }> {
  const t = ctx.target();
  const store = await createStoreFromFs({
    fs: t.fs,
    path: t.root,
    atomicWrites: ctx.caps.atomicWrites ?? false,
  });
  return { t, store };
}

async function collect(it: AsyncIterable<WalkEntry>): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Every name under a directory of the target fs, hidden ones included (leftover check). */
async function rawNames(t: ConformanceTarget, dir = t.root): Promise<string[]> {
  return sorted((await t.fs.promises.readdir(dir)) as string[]);
}

export const topic: Topic = {
  name: 'artifact-store',
  declare(ctx) {
    it('open w then r round-trips text; rb returns a Buffer', async () => {
      const { store } = await storeFor(ctx);
      const w = await store.open('a.txt', 'w');
      await w.write('héllo ');
      await w.write(Buffer.from('wörld'));
      await w.close();
      const r = await store.open('a.txt', 'r');
      expect(await r.read()).toBe('héllo wörld');
      const rb = await store.open('a.txt', 'rb');
      expect(await rb.read()).toEqual(Buffer.from('héllo wörld'));
    });

    it('a 2 MiB binary artifact streams in and out with the same SHA-256', async () => {
      const { store } = await storeFor(ctx);
      const data = payload(2 * 1024 * 1024 + 3, 11);
      const w = await store.open('models/m.bin', 'wb').catch(async () => {
        await store.makedirs('models');
        return store.open('models/m.bin', 'wb');
      });
      for (let i = 0; i < data.length; i += 100_000) await w.write(data.subarray(i, i + 100_000));
      await w.close();
      const chunks: Buffer[] = [];
      for await (const c of await store.open('models/m.bin', 'rb')) chunks.push(c);
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(data));
      expect(await store.size('models/m.bin')).toBe(data.length);
    });

    it('a write in progress is invisible until close', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'other.txt': 'o' });
      const w = await store.open('pending.bin', 'wb');
      await w.write(payload(1000, 2));
      expect(await store.exists('pending.bin')).toBe(false);
      expect(await store.listdir('')).toEqual(['other.txt']);
      expect(await store.glob('*')).toEqual([t.join('other.txt')]);
      await w.close();
      expect(await store.exists('pending.bin')).toBe(true);
      expect(await rawNames(t)).toEqual(['other.txt', 'pending.bin']);
    });

    it('an aborted overwrite leaves the previous content and no leftovers', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'keep.bin': 'previous' });
      const w = await store.open('keep.bin', 'wb');
      await w.write('half of the new cont');
      await w.abort(new Error('simulated failure'));
      expect(await t.fs.promises.readFile(t.join('keep.bin'), 'utf8')).toBe('previous');
      expect(await rawNames(t)).toEqual(['keep.bin']);
    });

    it("mode 'x' creates, then refuses an existing file with EEXIST", async () => {
      const { store } = await storeFor(ctx);
      const w = await store.open('x.txt', 'x');
      await w.write('first');
      await w.close();
      await expectFsError(
        store.open('x.txt', 'x').then((f) => f.close()),
        { code: 'EEXIST' },
      );
      expect(await (await store.open('x.txt')).read()).toBe('first');
    });

    it("mode 'a' appends", async () => {
      const { store } = await storeFor(ctx);
      for (const part of ['one,', 'two,', 'three']) {
        const f = await store.open('log.txt', 'a');
        await f.write(part);
        await f.close();
      }
      expect(await (await store.open('log.txt')).read()).toBe('one,two,three');
    });

    it('open of a missing file rejects with ENOENT; of a directory with EISDIR; a bad mode with EINVAL', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'd/f': 'f' });
      await expectFsError(store.open('nope.txt'), { code: 'ENOENT' });
      await expectFsError(store.open('d'), { code: 'EISDIR' });
      await expectFsError(store.open('f', 'rw' as never), { code: 'EINVAL' });
    });

    it('copyfile copies bytes; refuses an existing destination unless overwrite', async () => {
      const { t, store } = await storeFor(ctx);
      const data = payload(70_000, 3);
      await makeTree(t, { 'src.bin': data, 'dst.bin': 'old' });
      await expectFsError(store.copyfile('src.bin', 'dst.bin'), { code: 'EEXIST' });
      expect(await t.fs.promises.readFile(t.join('dst.bin'), 'utf8')).toBe('old');
      await store.copyfile('src.bin', 'dst.bin', true);
      expect(sha256(await t.fs.promises.readFile(t.join('dst.bin')))).toBe(sha256(data));
      await store.copyfile('src.bin', 'new.bin');
      expect(sha256(await t.fs.promises.readFile(t.join('new.bin')))).toBe(sha256(data));
      expect(await rawNames(t)).toEqual(['dst.bin', 'new.bin', 'src.bin']);
    });

    it('exists and isdir tell files, directories and missing paths apart', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'd/f.txt': 'f' });
      expect(await store.exists('d')).toBe(true);
      expect(await store.exists('d/f.txt')).toBe(true);
      expect(await store.exists('d/nope')).toBe(false);
      expect(await store.exists('d/f.txt/below')).toBe(false);
      expect(await store.isdir('d')).toBe(true);
      expect(await store.isdir('d/f.txt')).toBe(false);
      expect(await store.isdir('nope')).toBe(false);
    });

    it('listdir returns sorted names; ENOENT for a missing directory', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'b.txt': 'b', 'a.txt': 'a', 'sub/c.txt': 'c' });
      expect(await store.listdir('')).toEqual(['a.txt', 'b.txt', 'sub']);
      expect(await store.listdir('sub')).toEqual(['c.txt']);
      await expectFsError(store.listdir('missing'), { code: 'ENOENT' });
    });

    it('makedirs creates a chain and accepts an existing one; mkdir creates one level', async () => {
      const { store } = await storeFor(ctx);
      await store.makedirs('p/q/r');
      await store.makedirs('p/q/r');
      await store.mkdir('p/s');
      const f = await store.open('p/q/r/f.txt', 'w');
      await f.write('x');
      await f.close();
      const g = await store.open('p/s/g.txt', 'w');
      await g.write('y');
      await g.close();
      expect(await store.listdir('p')).toEqual(['q', 's']);
      await expectFsError(store.mkdir('p/s'), { code: 'EEXIST' });
    });

    it('remove deletes a file; EISDIR for a directory; ENOENT for a missing path', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'f.txt': 'f', 'd/g.txt': 'g' });
      await store.remove('f.txt');
      expect(await store.exists('f.txt')).toBe(false);
      await expectFsError(store.remove('d'), { code: 'EISDIR' });
      await expectFsError(store.remove('f.txt'), { code: 'ENOENT' });
    });

    it('rename moves files and directories; refuses an existing destination unless overwrite', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'a.txt': 'a', 'b.txt': 'b', 'dir/x.txt': 'x', 'dir/sub/y.txt': 'y' });
      await expectFsError(store.rename('a.txt', 'b.txt'), { code: 'EEXIST' });
      await store.rename('a.txt', 'b.txt', true);
      expect(await t.fs.promises.readFile(t.join('b.txt'), 'utf8')).toBe('a');
      expect(await store.exists('a.txt')).toBe(false);
      await store.rename('dir', 'moved');
      expect(await store.exists('dir')).toBe(false);
      expect(await t.fs.promises.readFile(t.join('moved', 'sub', 'y.txt'), 'utf8')).toBe('y');
    });

    it('rmtree removes a tree; ENOENT when missing, ENOTDIR for a file', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, {
        'tree/a/b/c.txt': 'c',
        'tree/d.txt': 'd',
        'tree-sibling/e.txt': 'e',
        'f.txt': 'f',
      });
      await store.rmtree('tree');
      expect(await rawNames(t)).toEqual(['f.txt', 'tree-sibling']);
      await expectFsError(store.rmtree('tree'), { code: 'ENOENT' });
      await expectFsError(store.rmtree('f.txt'), { code: 'ENOTDIR' });
    });

    it('stat and size report bytes; size of a directory is the sum of its files', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'd/a.bin': payload(1000, 1), 'd/e/b.bin': payload(234, 2) });
      const st = await store.stat('d/a.bin');
      expect(st.isFile()).toBe(true);
      expect(st.size).toBe(1000);
      expect((await store.stat('d')).isDirectory()).toBe(true);
      expect(await store.size('d/e/b.bin')).toBe(234);
      expect(await store.size('d')).toBe(1234);
      await expectFsError(store.stat('missing'), { code: 'ENOENT' });
    });

    it('walk is top-down by default, with sorted names', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'r/b.txt': 'b', 'r/a.txt': 'a', 'r/x/c.txt': 'c', 'r/w/d.txt': 'd' });
      const top = t.join('r');
      expect(await collect(store.walk('r'))).toEqual([
        [top, ['w', 'x'], ['a.txt', 'b.txt']],
        [`${top}/w`, [], ['d.txt']],
        [`${top}/x`, [], ['c.txt']],
      ]);
    });

    it('walk bottom-up yields children before parents', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'r/a/b/f.txt': 'f', 'r/g.txt': 'g' });
      const dirs = (await collect(store.walk('r', { topdown: false }))).map(([d]) => d);
      expect(dirs).toEqual([t.join('r', 'a', 'b'), t.join('r', 'a'), t.join('r')]);
    });

    it('walk top-down lets the caller prune dirnames', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'r/skip/deep/f.txt': 'f', 'r/keep/g.txt': 'g' });
      const seen: string[] = [];
      for await (const [dir, dirnames] of store.walk('r')) {
        seen.push(dir);
        const i = dirnames.indexOf('skip');
        if (i >= 0) dirnames.splice(i, 1);
      }
      expect(seen).toEqual([t.join('r'), t.join('r', 'keep')]);
    });

    it('walk of a missing directory yields nothing and reports to onerror', async () => {
      const { store } = await storeFor(ctx);
      const errors: string[] = [];
      const out = await collect(
        store.walk('missing', { onerror: (e) => errors.push((e as { code?: string }).code ?? '?') }),
      );
      expect(out).toEqual([]);
      expect(errors).toEqual(['ENOENT']);
    });

    it('glob matches one level with * and ? and braces', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, {
        'a.txt': 'a',
        'b.txt': 'b',
        'c.csv': 'c',
        'ab.txt': 'ab',
        '.hidden.txt': 'h',
        'd/e.txt': 'e',
      });
      expect(await store.glob('*.txt')).toEqual([t.join('a.txt'), t.join('ab.txt'), t.join('b.txt')]);
      expect(await store.glob('?.txt')).toEqual([t.join('a.txt'), t.join('b.txt')]);
      expect(await store.glob('{a,c}.*')).toEqual([t.join('a.txt'), t.join('c.csv')]);
      expect(await store.glob('nothing-*')).toEqual([]);
    });

    it('glob with ** matches at any depth, under the literal prefix only', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, {
        'runs/1/metrics.json': '{}',
        'runs/1/deep/er/metrics.json': '{}',
        'runs/2/model.bin': 'm',
        'other/metrics.json': '{}',
      });
      expect(await store.glob('runs/**/metrics.json')).toEqual([
        t.join('runs', '1', 'deep', 'er', 'metrics.json'),
        t.join('runs', '1', 'metrics.json'),
      ]);
      expect(await store.glob('runs/*/model.bin')).toEqual([t.join('runs', '2', 'model.bin')]);
    });

    it('absolute paths inside the root are accepted', async () => {
      const { t, store } = await storeFor(ctx);
      await makeTree(t, { 'in.txt': 'in' });
      expect(await store.exists(t.join('in.txt'))).toBe(true);
      expect(await (await store.open(t.join('in.txt'))).read()).toBe('in');
    });

    const OUTSIDE: [string, (t: ConformanceTarget) => string][] = [
      ['../x', () => '../x'],
      ['a/../../x', () => 'a/../../x'],
      ['%2e%2e/x', () => '%2e%2e/x'],
      ['..%2fx', () => '..%2fx'],
      ['%252e%252e%252fx', () => '%252e%252e%252fx'],
      ['fullwidth ．．／x', () => '．．／x'],
      ['..\\x', () => '..\\x'],
      ['an absolute path elsewhere', () => '/etc/artifact-vfs-outside'],
      ['a sibling prefix (root-x)', (t) => `${t.root}-x/evil.txt`],
      ['the parent itself', (t) => t.root.slice(0, t.root.lastIndexOf('/'))],
    ];
    for (const [name, path] of OUTSIDE) {
      it(`a path outside the root (${name}) is refused with ERR_PATH_OUTSIDE_ROOT and touches nothing`, async () => {
        const { t, store } = await storeFor(ctx);
        await makeTree(t, { 'inside.txt': 'i' });
        const parent = t.root.slice(0, t.root.lastIndexOf('/'));
        const before = await rawNames(t, parent);
        const p = path(t);
        await expectFsError(store.open(p, 'w'), { code: 'ERR_PATH_OUTSIDE_ROOT' });
        await expectFsError(store.makedirs(p), { code: 'ERR_PATH_OUTSIDE_ROOT' });
        await expectFsError(store.copyfile('inside.txt', p), { code: 'ERR_PATH_OUTSIDE_ROOT' });
        await expectFsError(store.rmtree(p), { code: 'ERR_PATH_OUTSIDE_ROOT' });
        expect(await rawNames(t, parent)).toEqual(before);
        expect(await rawNames(t)).toEqual(['inside.txt']);
      });
    }
  },
};
