import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { expectFsError, expectThrows, fromCallback, itIf, makeTree, sorted } from './helpers.js';

export const topic: Topic = {
  name: 'rm',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');

    it('rm removes a file', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f', 'd/g.txt': 'g' });
      await expect(t.fs.promises.rm(t.join('d', 'f.txt'))).resolves.toBeUndefined();
      await expectFsError(t.fs.promises.stat(t.join('d', 'f.txt')), { code: 'ENOENT' });
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['g.txt']);
    });

    it('rm of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.rm(p), { code: 'ENOENT', path: p });
    });

    it('rm with force ignores a missing path (also with recursive)', async () => {
      const t = ctx.target();
      await expect(t.fs.promises.rm(t.join('missing'), { force: true })).resolves.toBeUndefined();
      await expect(
        t.fs.promises.rm(t.join('no', 'deeper'), { force: true, recursive: true }),
      ).resolves.toBeUndefined();
    });

    it('rm of a directory without recursive rejects with ERR_FS_EISDIR and keeps it', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.rm(p), { code: 'ERR_FS_EISDIR', syscall: 'rm', path: p });
      expect(await t.fs.promises.readFile(t.join('d', 'f.txt'), 'utf8')).toBe('f');
    });

    it('rm with force still refuses a directory without recursive', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'f' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.rm(p, { force: true }), {
        code: 'ERR_FS_EISDIR',
        syscall: 'rm',
        path: p,
      });
    });

    it('rm recursive removes a whole tree and nothing else', async () => {
      const t = ctx.target();
      await makeTree(t, {
        'tree/a.txt': 'a',
        'tree/sub/b.txt': 'b',
        'tree/sub/deeper/c.txt': 'c',
        'keep/k.txt': 'k',
      });
      await expect(t.fs.promises.rm(t.join('tree'), { recursive: true })).resolves.toBeUndefined();
      await expectFsError(t.fs.promises.stat(t.join('tree')), { code: 'ENOENT' });
      await expectFsError(t.fs.promises.stat(t.join('tree', 'sub', 'deeper', 'c.txt')), { code: 'ENOENT' });
      expect(await t.fs.promises.readdir(t.root)).toEqual(['keep']);
      expect(await t.fs.promises.readFile(t.join('keep', 'k.txt'), 'utf8')).toBe('k');
    });

    it('rm recursive of a file removes just that file', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f': 'f', 'd/g': 'g' });
      await t.fs.promises.rm(t.join('d', 'f'), { recursive: true });
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['g']);
    });

    it('rm recursive leaves siblings that share a name prefix', async () => {
      const t = ctx.target();
      await makeTree(t, {
        'data/x.txt': 'x',
        'data.json': '{}',
        'data-old/y.txt': 'y',
        'database/z.txt': 'z',
      });
      await t.fs.promises.rm(t.join('data'), { recursive: true });
      expect(sorted(await t.fs.promises.readdir(t.root))).toEqual(['data-old', 'data.json', 'database']);
      expect(await t.fs.promises.readFile(t.join('data-old', 'y.txt'), 'utf8')).toBe('y');
      expect(await t.fs.promises.readFile(t.join('database', 'z.txt'), 'utf8')).toBe('z');
    });

    it('rm recursive removes unicode and symbol-named entries', async () => {
      const t = ctx.target();
      await makeTree(t, { 'u/ünï cödé ✓.txt': 'u', 'u/a+b%c#d.txt': 's', 'u/sp ace/x': 'x' });
      await t.fs.promises.rm(t.join('u'), { recursive: true });
      await expectFsError(t.fs.promises.stat(t.join('u')), { code: 'ENOENT' });
    });

    it('rmdir of a non-empty directory rejects with ENOTEMPTY', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f': 'f' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.rmdir(p), { code: 'ENOTEMPTY', syscall: 'rmdir', path: p });
      expect(await t.fs.promises.readdir(p)).toEqual(['f']);
    });

    it('rmdir of a file rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const p = t.join('f');
      await expectFsError(t.fs.promises.rmdir(p), { code: 'ENOTDIR', syscall: 'rmdir', path: p });
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('f');
    });

    it('rmdir of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.rmdir(p), { code: 'ENOENT', syscall: 'rmdir', path: p });
    });

    itEmptyDirs('rmdir removes an empty directory', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('e'));
      await expect(t.fs.promises.rmdir(t.join('e'))).resolves.toBeUndefined();
      await expectFsError(t.fs.promises.stat(t.join('e')), { code: 'ENOENT' });
    });

    it('rm recursive+force of a directory whose last file was unlinked leaves nothing behind', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/only': 'o' });
      await t.fs.promises.unlink(t.join('d', 'only'));
      await t.fs.promises.rm(t.join('d'), { recursive: true, force: true });
      await expectFsError(t.fs.promises.stat(t.join('d')), { code: 'ENOENT' });
    });

    it('unlink removes a file', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a': 'a', 'd/b': 'b' });
      await expect(t.fs.promises.unlink(t.join('d', 'a'))).resolves.toBeUndefined();
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['b']);
    });

    it('unlink of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.unlink(p), { code: 'ENOENT', syscall: 'unlink', path: p });
    });

    it('unlink of a directory rejects with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f': 'f' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.unlink(p), { code: 'EISDIR', syscall: 'unlink', path: p });
      expect(await t.fs.promises.readdir(p)).toEqual(['f']);
    });

    itEmptyDirs('a directory made with mkdir survives removal of its last child', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('p'));
      await t.fs.promises.writeFile(t.join('p', 'a'), 'a');
      await t.fs.promises.writeFile(t.join('p', 'b'), 'b');
      await t.fs.promises.unlink(t.join('p', 'a'));
      await t.fs.promises.rm(t.join('p', 'b'));
      expect((await t.fs.promises.stat(t.join('p'))).isDirectory()).toBe(true);
      expect(await t.fs.promises.readdir(t.join('p'))).toEqual([]);
    });

    itEmptyDirs('directories made with recursive mkdir survive removal of the last leaf file', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('x', 'y', 'z'), { recursive: true });
      await t.fs.promises.writeFile(t.join('x', 'y', 'z', 'leaf'), 'l');
      await t.fs.promises.unlink(t.join('x', 'y', 'z', 'leaf'));
      for (const p of [t.join('x'), t.join('x', 'y'), t.join('x', 'y', 'z')]) {
        expect((await t.fs.promises.stat(p)).isDirectory()).toBe(true);
      }
      expect(await t.fs.promises.readdir(t.join('x', 'y', 'z'))).toEqual([]);
    });

    itEmptyDirs('a parent survives rm recursive of its only subdirectory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'p/sub/f': 'f' });
      await t.fs.promises.rm(t.join('p', 'sub'), { recursive: true });
      expect((await t.fs.promises.stat(t.join('p'))).isDirectory()).toBe(true);
      expect(await t.fs.promises.readdir(t.join('p'))).toEqual([]);
    });

    it('callback rm and unlink remove files; callback rm reports ERR_FS_EISDIR for a directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/a': 'a', 'd/b': 'b', 'd/c': 'c' });
      await fromCallback((cb) => t.fs.rm(t.join('d', 'a'), cb));
      await fromCallback((cb) => t.fs.unlink(t.join('d', 'b'), cb));
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['c']);
      const p = t.join('d');
      await expectFsError(
        fromCallback((cb) => t.fs.rm(p, cb)),
        { code: 'ERR_FS_EISDIR', syscall: 'rm', path: p },
      );
    });

    it('callback rmdir of a non-empty directory passes ENOTEMPTY', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f': 'f' });
      const p = t.join('d');
      await expectFsError(
        fromCallback((cb) => t.fs.rmdir(p, cb)),
        { code: 'ENOTEMPTY', syscall: 'rmdir', path: p },
      );
    });

    itSync('rmSync, unlinkSync and rmdirSync remove entries', () => {
      const t = ctx.target();
      t.fs.mkdirSync(t.join('d', 'e'), { recursive: true });
      t.fs.writeFileSync(t.join('d', 'a'), 'a');
      t.fs.writeFileSync(t.join('d', 'b'), 'b');
      t.fs.rmSync(t.join('d', 'a'));
      t.fs.unlinkSync(t.join('d', 'b'));
      t.fs.rmdirSync(t.join('d', 'e'));
      expect(t.fs.readdirSync(t.join('d'))).toEqual([]);
      expectThrows(() => t.fs.rmSync(t.join('d')), {
        code: 'ERR_FS_EISDIR',
        syscall: 'rm',
        path: t.join('d'),
      });
      t.fs.rmSync(t.join('d'), { recursive: true });
      expect(t.fs.existsSync(t.join('d'))).toBe(false);
    });

    itNoSync('rmSync throws ENOTSUP naming promises.rm', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.rmSync(t.join('x'), { force: true }), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.rm');
    });
  },
};
