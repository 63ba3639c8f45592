import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { expectFsError, expectThrows, fromCallback, itIf, makeTree, sorted } from './helpers.js';

export const topic: Topic = {
  name: 'recursive-readdir',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');

    it("recursive returns '/'-separated paths relative to the directory, directories included", async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a.txt': 'a', 'd/b/c.txt': 'c', 'd/b/e/f.txt': 'f' });
      expect(sorted(await t.fs.promises.readdir(t.join('d'), { recursive: true }))).toEqual([
        'a.txt',
        'b',
        'b/c.txt',
        'b/e',
        'b/e/f.txt',
      ]);
    });

    it('recursive on the run root lists everything once', async () => {
      const t = ctx.target();
      await makeTree(t, { 'x.txt': 'x', 'y/z.txt': 'z', 'y/w/v.txt': 'v' });
      const all = await t.fs.promises.readdir(t.root, { recursive: true });
      expect(sorted(all)).toEqual(['x.txt', 'y', 'y/w', 'y/w/v.txt', 'y/z.txt']);
      expect(new Set(all).size).toBe(all.length);
    });

    it('a deep tree (8 levels) is fully listed', async () => {
      const t = ctx.target();
      const levels = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8'];
      await makeTree(t, { [`deep/${levels.join('/')}/leaf.txt`]: 'leaf' });
      const expected = levels.map((_, i) => levels.slice(0, i + 1).join('/'));
      expected.push(`${levels.join('/')}/leaf.txt`);
      expect(sorted(await t.fs.promises.readdir(t.join('deep'), { recursive: true }))).toEqual(
        sorted(expected),
      );
    });

    it('withFileTypes gives names, types and the containing directory as parentPath', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a.txt': 'a', 'd/b/c.txt': 'c', 'd/b/e/f.txt': 'f' });
      const dir = t.join('d');
      const ents = await t.fs.promises.readdir(dir, { recursive: true, withFileTypes: true });
      const rows = ents.map(
        (e) => `${e.parentPath}|${e.name}|${e.isDirectory() ? 'dir' : e.isFile() ? 'file' : '?'}`,
      );
      expect(sorted(rows)).toEqual(
        sorted([
          `${dir}|a.txt|file`,
          `${dir}|b|dir`,
          `${t.join('d', 'b')}|c.txt|file`,
          `${t.join('d', 'b')}|e|dir`,
          `${t.join('d', 'b', 'e')}|f.txt|file`,
        ]),
      );
    });

    itEmptyDirs('empty subdirectories are listed', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f' });
      await t.fs.promises.mkdir(t.join('d', 'empty', 'deeper'), { recursive: true });
      expect(sorted(await t.fs.promises.readdir(t.join('d'), { recursive: true }))).toEqual([
        'empty',
        'empty/deeper',
        'f.txt',
      ]);
    });

    itEmptyDirs('recursive on an empty directory returns []', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('e'));
      expect(await t.fs.promises.readdir(t.join('e'), { recursive: true })).toEqual([]);
    });

    it('recursive on a file rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const p = t.join('f');
      await expectFsError(t.fs.promises.readdir(p, { recursive: true }), {
        code: 'ENOTDIR',
        syscall: 'scandir',
        path: p,
      });
    });

    it('recursive on a missing directory rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.readdir(p, { recursive: true }), {
        code: 'ENOENT',
        syscall: 'scandir',
        path: p,
      });
    });

    it('unicode and symbol names appear verbatim in nested paths', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/ünï cödé ✓/a+b %20#.txt': 'x', 'd/日本/語.md': 'y' });
      expect(sorted(await t.fs.promises.readdir(t.join('d'), { recursive: true }))).toEqual(
        sorted(['ünï cödé ✓', 'ünï cödé ✓/a+b %20#.txt', '日本', '日本/語.md']),
      );
    });

    it('siblings sharing a name prefix are not mixed into the listing', async () => {
      const t = ctx.target();
      await makeTree(t, { 'data/a/x': 'x', 'data.json': 'j', 'data-2/y': 'y', 'database/z': 'z' });
      expect(sorted(await t.fs.promises.readdir(t.join('data'), { recursive: true }))).toEqual(['a', 'a/x']);
    });

    it('lists 10 directories of 20 files each (210 entries)', async () => {
      const t = ctx.target();
      const files: Record<string, string> = {};
      for (let d = 0; d < 10; d++) for (let f = 0; f < 20; f++) files[`many/d${d}/f${f}.txt`] = `${d}-${f}`;
      await makeTree(t, files);
      const listed = await t.fs.promises.readdir(t.join('many'), { recursive: true });
      expect(listed).toHaveLength(210);
      expect(listed.filter((n) => n.endsWith('.txt'))).toHaveLength(200);
    });

    it('reflects a removed subtree', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/keep/a': 'a', 'd/gone/b': 'b', 'd/gone/c/d': 'd' });
      await t.fs.promises.rm(t.join('d', 'gone'), { recursive: true });
      expect(sorted(await t.fs.promises.readdir(t.join('d'), { recursive: true }))).toEqual([
        'keep',
        'keep/a',
      ]);
    });

    it('recursive: false lists only direct children', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a': 'a', 'd/b/c': 'c' });
      expect(sorted(await t.fs.promises.readdir(t.join('d'), { recursive: false }))).toEqual(['a', 'b']);
    });

    it('callback readdir with recursive', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a': 'a', 'd/b/c': 'c' });
      const names = await fromCallback<string[]>((cb) =>
        t.fs.readdir(t.join('d'), { encoding: 'utf8', recursive: true }, cb),
      );
      expect(sorted(names)).toEqual(['a', 'b', 'b/c']);
    });

    itSync('readdirSync with recursive (names and Dirents)', () => {
      const t = ctx.target();
      t.fs.mkdirSync(t.join('d', 'b'), { recursive: true });
      t.fs.writeFileSync(t.join('d', 'a'), 'a');
      t.fs.writeFileSync(t.join('d', 'b', 'c'), 'c');
      expect(sorted(t.fs.readdirSync(t.join('d'), { encoding: 'utf8', recursive: true }))).toEqual([
        'a',
        'b',
        'b/c',
      ]);
      const ents = t.fs.readdirSync(t.join('d'), { recursive: true, withFileTypes: true });
      expect(ents.find((e) => e.name === 'c')?.parentPath).toBe(t.join('d', 'b'));
      expectThrows(() => t.fs.readdirSync(t.join('d', 'a'), { recursive: true }), {
        code: 'ENOTDIR',
        syscall: 'scandir',
        path: t.join('d', 'a'),
      });
    });
  },
};
