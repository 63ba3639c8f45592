import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { expectFsError, expectRecentTime, expectThrows, fromCallback, itIf, makeTree } from './helpers.js';

export const topic: Topic = {
  name: 'stat',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');
    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    const itUtimes = itIf(caps.utimes, 'utimes unsupported by this target');

    it('stat of a file reports a regular file and its byte size', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a.txt': 'hello' });
      const s = await t.fs.promises.stat(t.join('a.txt'));
      expect(s.isFile()).toBe(true);
      expect(s.isDirectory()).toBe(false);
      expect(s.isSymbolicLink()).toBe(false);
      expect(s.size).toBe(5);
    });

    it('stat of a directory reports a directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x.txt': 'x' });
      const s = await t.fs.promises.stat(t.join('d'));
      expect(s.isDirectory()).toBe(true);
      expect(s.isFile()).toBe(false);
      expect(s.isSymbolicLink()).toBe(false);
    });

    itStrictDirs('stat of the run root is a directory', async () => {
      const t = ctx.target();
      const s = await t.fs.promises.stat(t.root);
      expect(s.isDirectory()).toBe(true);
      expect(s.isFile()).toBe(false);
    });

    it('stat of a directory with a trailing slash is a directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x.txt': 'x' });
      const s = await t.fs.promises.stat(t.join('d') + '/');
      expect(s.isDirectory()).toBe(true);
    });

    itEmptyDirs('stat of an empty directory made by mkdir is a directory', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('empty'));
      const s = await t.fs.promises.stat(t.join('empty'));
      expect(s.isDirectory()).toBe(true);
    });

    it('stat of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing.txt');
      await expectFsError(t.fs.promises.stat(p), { code: 'ENOENT', syscall: 'stat', path: p });
    });

    it('stat of a missing path inside a missing directory rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('no', 'such', 'file.txt');
      await expectFsError(t.fs.promises.stat(p), { code: 'ENOENT', syscall: 'stat', path: p });
    });

    it('stat through a file used as a parent rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'data' });
      const p = t.join('f', 'x');
      await expectFsError(t.fs.promises.stat(p), { code: 'ENOTDIR', syscall: 'stat', path: p });
    });

    it('stat of a file with a trailing slash rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'data' });
      const p = t.join('f') + '/';
      await expectFsError(t.fs.promises.stat(p), { code: 'ENOTDIR', syscall: 'stat', path: p });
    });

    it('size follows overwrites (grow, then shrink)', async () => {
      const t = ctx.target();
      const p = t.join('s.bin');
      await t.fs.promises.writeFile(p, Buffer.alloc(10, 1));
      expect((await t.fs.promises.stat(p)).size).toBe(10);
      await t.fs.promises.writeFile(p, Buffer.alloc(1000, 2));
      expect((await t.fs.promises.stat(p)).size).toBe(1000);
      await t.fs.promises.writeFile(p, 'abc');
      expect((await t.fs.promises.stat(p)).size).toBe(3);
    });

    it('an empty file has size 0', async () => {
      const t = ctx.target();
      await makeTree(t, { empty: '' });
      const s = await t.fs.promises.stat(t.join('empty'));
      expect(s.isFile()).toBe(true);
      expect(s.size).toBe(0);
    });

    it('size counts bytes, not characters', async () => {
      const t = ctx.target();
      await makeTree(t, { 'u.txt': 'ü✓' });
      expect((await t.fs.promises.stat(t.join('u.txt'))).size).toBe(5);
    });

    it('mtimeMs is a number and mtime a Date, both close to now', async () => {
      const t = ctx.target();
      await makeTree(t, { 'm.txt': 'm' });
      const s = await t.fs.promises.stat(t.join('m.txt'));
      expectRecentTime(s.mtimeMs, s.mtime);
    });

    it('lstat of a file and a directory agrees with stat', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'four' });
      const f = await t.fs.promises.lstat(t.join('d', 'f.txt'));
      expect(f.isFile()).toBe(true);
      expect(f.isSymbolicLink()).toBe(false);
      expect(f.size).toBe(4);
      const d = await t.fs.promises.lstat(t.join('d'));
      expect(d.isDirectory()).toBe(true);
    });

    it('lstat of a missing path rejects with ENOENT (syscall lstat)', async () => {
      const t = ctx.target();
      const p = t.join('nope');
      await expectFsError(t.fs.promises.lstat(p), { code: 'ENOENT', syscall: 'lstat', path: p });
    });

    it('access resolves to undefined for an existing file and directory (default, F_OK, R_OK)', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f.txt': 'x' });
      const { F_OK, R_OK } = t.fs.constants;
      await expect(t.fs.promises.access(t.join('d', 'f.txt'))).resolves.toBeUndefined();
      await expect(t.fs.promises.access(t.join('d', 'f.txt'), F_OK)).resolves.toBeUndefined();
      await expect(t.fs.promises.access(t.join('d', 'f.txt'), R_OK)).resolves.toBeUndefined();
      await expect(t.fs.promises.access(t.join('d'), F_OK)).resolves.toBeUndefined();
    });

    it('access of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.access(p), { code: 'ENOENT', syscall: 'access', path: p });
      await expectFsError(t.fs.promises.access(p, t.fs.constants.F_OK), {
        code: 'ENOENT',
        syscall: 'access',
        path: p,
      });
    });

    it('realpath of an existing file returns the same path', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/r.txt': 'r' });
      await expect(t.fs.promises.realpath(t.join('d', 'r.txt'))).resolves.toBe(t.join('d', 'r.txt'));
    });

    it('realpath of a missing path rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.realpath(p), { code: 'ENOENT', syscall: 'realpath', path: p });
    });

    it('callback stat passes Stats to the callback', async () => {
      const t = ctx.target();
      await makeTree(t, { 'c.txt': 'callback' });
      const s = await fromCallback<{ isFile(): boolean; size: number }>((cb) =>
        t.fs.stat(t.join('c.txt'), cb),
      );
      expect(s.isFile()).toBe(true);
      expect(s.size).toBe(8);
    });

    it('callback stat of a missing path passes ENOENT to the callback', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(
        fromCallback((cb) => t.fs.stat(p, cb)),
        { code: 'ENOENT', syscall: 'stat', path: p },
      );
    });

    itSync('statSync and existsSync see files and directories', () => {
      const t = ctx.target();
      t.fs.mkdirSync(t.join('d'));
      t.fs.writeFileSync(t.join('d', 'f.txt'), 'sync');
      expect(t.fs.statSync(t.join('d', 'f.txt')).size).toBe(4);
      expect(t.fs.statSync(t.join('d')).isDirectory()).toBe(true);
      expect(t.fs.existsSync(t.join('d', 'f.txt'))).toBe(true);
      expect(t.fs.existsSync(t.join('d'))).toBe(true);
      expect(t.fs.existsSync(t.join('d', 'missing'))).toBe(false);
    });

    itSync('statSync of a missing path throws ENOENT', () => {
      const t = ctx.target();
      const p = t.join('missing');
      expectThrows(() => t.fs.statSync(p), { code: 'ENOENT', syscall: 'stat', path: p });
    });

    itNoSync('statSync throws ENOTSUP naming promises.stat', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.statSync(t.join('x')), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.stat');
    });

    itUtimes('utimes sets mtime (seconds and Date forms)', async () => {
      const t = ctx.target();
      await makeTree(t, { 'u.txt': 'u' });
      const p = t.join('u.txt');
      await t.fs.promises.utimes(p, 1000, 2000);
      expect((await t.fs.promises.stat(p)).mtimeMs).toBe(2_000_000);
      const when = new Date('2021-03-04T05:06:07.000Z');
      await t.fs.promises.utimes(p, when, when);
      const s = await t.fs.promises.stat(p);
      expect(s.mtime.getTime()).toBe(when.getTime());
    });

    itUtimes('utimes of a missing path rejects with ENOENT (syscall utime)', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.utimes(p, 1, 1), { code: 'ENOENT', syscall: 'utime', path: p });
    });
  },
};
