import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { expectFsError, expectThrows, fromCallback, itIf, makeTree, sorted } from './helpers.js';

const ODD_NAMES = [
  'ünï cödé ✓.txt',
  'with space.txt',
  'plus+sign.txt',
  'per%25cent.txt',
  'hash#tag.txt',
  '日本語.md',
];

export const topic: Topic = {
  name: 'readdir',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');

    it('lists the names of files in a directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a.txt': 'a', 'd/b.txt': 'b', 'd/c.bin': 'c' });
      expect(sorted(await t.fs.promises.readdir(t.join('d')))).toEqual(['a.txt', 'b.txt', 'c.bin']);
    });

    it('lists files and subdirectories together', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f', 'd/sub/g.txt': 'g' });
      expect(sorted(await t.fs.promises.readdir(t.join('d')))).toEqual(['f.txt', 'sub']);
    });

    it('lists a nested directory once, however many descendants it has', async () => {
      const t = ctx.target();
      await makeTree(t, {
        'a/b/1.txt': '1',
        'a/b/2.txt': '2',
        'a/b/deep/3.txt': '3',
        'a/c.txt': 'c',
      });
      expect(sorted(await t.fs.promises.readdir(t.join('a')))).toEqual(['b', 'c.txt']);
    });

    it('lists the run root', async () => {
      const t = ctx.target();
      await makeTree(t, { 'top.txt': 't', 'dir/x': 'x' });
      expect(sorted(await t.fs.promises.readdir(t.root))).toEqual(['dir', 'top.txt']);
    });

    it("never lists '.' or '..'", async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const names = await t.fs.promises.readdir(t.join('d'));
      expect(names).not.toContain('.');
      expect(names).not.toContain('..');
    });

    it('withFileTypes returns Dirents with name, type and parentPath', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f', 'd/sub/g.txt': 'g' });
      const dir = t.join('d');
      const ents = await t.fs.promises.readdir(dir, { withFileTypes: true });
      const byName = new Map(ents.map((e) => [e.name, e]));
      expect(sorted([...byName.keys()])).toEqual(['f.txt', 'sub']);
      const f = byName.get('f.txt');
      const sub = byName.get('sub');
      expect(f?.isFile()).toBe(true);
      expect(f?.isDirectory()).toBe(false);
      expect(f?.isSymbolicLink()).toBe(false);
      expect(sub?.isDirectory()).toBe(true);
      expect(sub?.isFile()).toBe(false);
      for (const e of ents) expect(e.parentPath).toBe(dir);
    });

    it('withFileTypes on the run root reports parentPath equal to the root', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'r' });
      const ents = await t.fs.promises.readdir(t.root, { withFileTypes: true });
      expect(ents.map((e) => [e.name, e.parentPath, e.isFile()])).toEqual([['r.txt', t.root, true]]);
    });

    it("an { encoding: 'utf8' } options object returns strings", async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/ü.txt': 'u' });
      expect(await t.fs.promises.readdir(t.join('d'), { encoding: 'utf8' })).toEqual(['ü.txt']);
    });

    itEmptyDirs('an empty directory lists as []', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('empty'));
      expect(await t.fs.promises.readdir(t.join('empty'))).toEqual([]);
    });

    itEmptyDirs('an empty subdirectory is listed as a directory Dirent', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f' });
      await t.fs.promises.mkdir(t.join('d', 'empty'));
      const ents = await t.fs.promises.readdir(t.join('d'), { withFileTypes: true });
      const empty = ents.find((e) => e.name === 'empty');
      expect(empty?.isDirectory()).toBe(true);
      expect(sorted(ents.map((e) => e.name))).toEqual(['empty', 'f.txt']);
    });

    it('readdir of a missing directory rejects with ENOENT (syscall scandir)', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.readdir(p), { code: 'ENOENT', syscall: 'scandir', path: p });
    });

    it('readdir of a file rejects with ENOTDIR (syscall scandir)', async () => {
      const t = ctx.target();
      await makeTree(t, { 'f.txt': 'f' });
      const p = t.join('f.txt');
      await expectFsError(t.fs.promises.readdir(p), { code: 'ENOTDIR', syscall: 'scandir', path: p });
    });

    it('returns unicode names and names with spaces, +, % and # verbatim', async () => {
      const t = ctx.target();
      await makeTree(t, Object.fromEntries(ODD_NAMES.map((n) => [`d/${n}`, n])));
      expect(sorted(await t.fs.promises.readdir(t.join('d')))).toEqual(sorted(ODD_NAMES));
    });

    it('does not leak entries of siblings sharing a name prefix', async () => {
      const t = ctx.target();
      await makeTree(t, {
        'data/inner.txt': 'i',
        'data.json': '{}',
        'data-old/x.txt': 'x',
        'database/y.txt': 'y',
      });
      expect(await t.fs.promises.readdir(t.join('data'))).toEqual(['inner.txt']);
      expect(sorted(await t.fs.promises.readdir(t.root))).toEqual([
        'data',
        'data-old',
        'data.json',
        'database',
      ]);
    });

    it('lists 300 entries', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('many'));
      const names = Array.from({ length: 300 }, (_, i) => `file-${String(i).padStart(3, '0')}.txt`);
      await Promise.all(names.map((n) => t.fs.promises.writeFile(t.join('many', n), n)));
      const listed = sorted(await t.fs.promises.readdir(t.join('many')));
      expect(listed).toHaveLength(300);
      expect(listed).toEqual(names);
      // 300 writes at once: a real server on two loaded cores (radosgw) needs more than 30 s.
    }, 120_000);

    it('reflects unlink and rename of entries', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a': 'a', 'd/b': 'b', 'd/c': 'c' });
      await t.fs.promises.unlink(t.join('d', 'a'));
      await t.fs.promises.rename(t.join('d', 'b'), t.join('d', 'z'));
      expect(sorted(await t.fs.promises.readdir(t.join('d')))).toEqual(['c', 'z']);
    });

    it('callback readdir passes the names to the callback', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/one': '1', 'd/two': '2' });
      const names = await fromCallback<string[]>((cb) => t.fs.readdir(t.join('d'), cb));
      expect(sorted(names)).toEqual(['one', 'two']);
    });

    it('callback readdir with withFileTypes passes Dirents', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/one': '1', 'd/sub/x': 'x' });
      const dir = t.join('d');
      const ents = await fromCallback<{ name: string; parentPath: string; isDirectory(): boolean }[]>((cb) =>
        t.fs.readdir(dir, { withFileTypes: true }, cb),
      );
      expect(
        ents
          .map((e) => [e.name, e.isDirectory(), e.parentPath])
          .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      ).toEqual([
        ['one', false, dir],
        ['sub', true, dir],
      ]);
    });

    it('callback readdir of a missing directory passes ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(
        fromCallback((cb) => t.fs.readdir(p, cb)),
        { code: 'ENOENT', syscall: 'scandir', path: p },
      );
    });

    itSync('readdirSync lists names and Dirents', () => {
      const t = ctx.target();
      t.fs.mkdirSync(t.join('d'));
      t.fs.writeFileSync(t.join('d', 'a'), 'a');
      t.fs.mkdirSync(t.join('d', 'sub'));
      t.fs.writeFileSync(t.join('d', 'sub', 'b'), 'b');
      expect(sorted(t.fs.readdirSync(t.join('d')))).toEqual(['a', 'sub']);
      const ents = t.fs.readdirSync(t.join('d'), { withFileTypes: true });
      expect(ents.find((e) => e.name === 'sub')?.isDirectory()).toBe(true);
      expect(ents.find((e) => e.name === 'a')?.isFile()).toBe(true);
    });

    itNoSync('readdirSync throws ENOTSUP naming promises.readdir', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.readdirSync(t.root), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.readdir');
    });
  },
};
