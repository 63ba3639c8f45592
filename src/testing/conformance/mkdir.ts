import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import {
  escapeRegExp,
  expectFsError,
  expectThrows,
  fromCallback,
  itIf,
  makeTree,
  sorted,
} from './helpers.js';

export const topic: Topic = {
  name: 'mkdir',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');
    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );

    it('mkdir resolves to undefined and the directory can hold files', async () => {
      const t = ctx.target();
      await expect(t.fs.promises.mkdir(t.join('d'))).resolves.toBeUndefined();
      await t.fs.promises.writeFile(t.join('d', 'f.txt'), 'f');
      expect((await t.fs.promises.stat(t.join('d'))).isDirectory()).toBe(true);
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['f.txt']);
    });

    itEmptyDirs('a new empty directory is visible to stat and to readdir of its parent', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('fresh'));
      expect((await t.fs.promises.stat(t.join('fresh'))).isDirectory()).toBe(true);
      expect(await t.fs.promises.readdir(t.root)).toEqual(['fresh']);
    });

    it('mkdir of an existing directory rejects with EEXIST', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.mkdir(p), { code: 'EEXIST', syscall: 'mkdir', path: p });
    });

    it('mkdir over an existing file rejects with EEXIST and leaves the file alone', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'keep' });
      const p = t.join('f');
      await expectFsError(t.fs.promises.mkdir(p), { code: 'EEXIST', syscall: 'mkdir', path: p });
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('keep');
    });

    itStrictDirs('mkdir with a missing parent rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('no', 'child');
      await expectFsError(t.fs.promises.mkdir(p), { code: 'ENOENT', syscall: 'mkdir', path: p });
      await expectFsError(t.fs.promises.stat(t.join('no')), { code: 'ENOENT' });
    });

    it('mkdir whose parent is a file rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'file' });
      const p = t.join('f', 'child');
      await expectFsError(t.fs.promises.mkdir(p), { code: 'ENOTDIR', syscall: 'mkdir', path: p });
    });

    itStrictDirs('recursive mkdir creates the chain and returns the first directory created', async () => {
      const t = ctx.target();
      await expect(t.fs.promises.mkdir(t.join('a', 'b', 'c'), { recursive: true })).resolves.toBe(
        t.join('a'),
      );
      await t.fs.promises.writeFile(t.join('a', 'b', 'c', 'leaf.txt'), 'leaf');
      for (const p of [t.join('a'), t.join('a', 'b'), t.join('a', 'b', 'c')]) {
        expect((await t.fs.promises.stat(p)).isDirectory()).toBe(true);
      }
      expect(await t.fs.promises.readFile(t.join('a', 'b', 'c', 'leaf.txt'), 'utf8')).toBe('leaf');
    });

    itStrictDirs('recursive mkdir below an existing directory returns the first new component', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a/b/x': 'x' });
      await expect(t.fs.promises.mkdir(t.join('a', 'b', 'c', 'd'), { recursive: true })).resolves.toBe(
        t.join('a', 'b', 'c'),
      );
      await t.fs.promises.writeFile(t.join('a', 'b', 'c', 'd', 'y'), 'y');
      expect(sorted(await t.fs.promises.readdir(t.join('a', 'b')))).toEqual(['c', 'x']);
    });

    it('recursive mkdir of an existing directory resolves to undefined', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a/b/x': 'x' });
      await expect(t.fs.promises.mkdir(t.join('a', 'b'), { recursive: true })).resolves.toBeUndefined();
      await expect(t.fs.promises.mkdir(t.join('a'), { recursive: true })).resolves.toBeUndefined();
      expect(await t.fs.promises.readFile(t.join('a', 'b', 'x'), 'utf8')).toBe('x');
    });

    itStrictDirs('recursive mkdir of the run root resolves to undefined', async () => {
      const t = ctx.target();
      await expect(t.fs.promises.mkdir(t.root, { recursive: true })).resolves.toBeUndefined();
    });

    it('recursive mkdir through a file component rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'file' });
      const p = t.join('f', 'a', 'b');
      await expectFsError(t.fs.promises.mkdir(p, { recursive: true }), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
        path: p,
      });
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('file');
    });

    it('recursive mkdir whose leaf is an existing file rejects with EEXIST', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/f': 'file' });
      const p = t.join('d', 'f');
      await expectFsError(t.fs.promises.mkdir(p, { recursive: true }), {
        code: 'EEXIST',
        syscall: 'mkdir',
        path: p,
      });
    });

    itStrictDirs('recursive mkdir with a trailing slash creates the directory', async () => {
      const t = ctx.target();
      await expect(t.fs.promises.mkdir(t.join('slash', 'x') + '/', { recursive: true })).resolves.toBe(
        t.join('slash'),
      );
      await t.fs.promises.writeFile(t.join('slash', 'x', 'f'), 'f');
      expect((await t.fs.promises.stat(t.join('slash', 'x'))).isDirectory()).toBe(true);
    });

    it('recursive mkdir of a unicode, space and symbol laden path', async () => {
      const t = ctx.target();
      const parts = ['ünï cödé ✓', 'a+b', '50%', '#tag'];
      await t.fs.promises.mkdir(t.join(...parts), { recursive: true });
      await t.fs.promises.writeFile(t.join(...parts, 'f.txt'), 'ok');
      expect(await t.fs.promises.readdir(t.join(...parts.slice(0, 3)))).toEqual(['#tag']);
      expect(await t.fs.promises.readFile(t.join(...parts, 'f.txt'), 'utf8')).toBe('ok');
    });

    itStrictDirs('callback mkdir with recursive passes the first created path', async () => {
      const t = ctx.target();
      const first = await fromCallback<string | undefined>((cb) =>
        t.fs.mkdir(t.join('cb', 'x'), { recursive: true }, cb),
      );
      expect(first).toBe(t.join('cb'));
    });

    it('callback mkdir of an existing path passes EEXIST', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const p = t.join('d');
      await expectFsError(
        fromCallback((cb) => t.fs.mkdir(p, cb)),
        { code: 'EEXIST', syscall: 'mkdir', path: p },
      );
    });

    it('mkdtemp appends six random characters to the prefix and creates the directory', async () => {
      const t = ctx.target();
      const prefix = t.join('tmp-');
      const made = await t.fs.promises.mkdtemp(prefix);
      expect(made).toMatch(new RegExp(`^${escapeRegExp(prefix)}[A-Za-z0-9]{6}$`));
      await t.fs.promises.writeFile(made + '/f', 'f');
      expect((await t.fs.promises.stat(made)).isDirectory()).toBe(true);
    });

    it('mkdtemp returns distinct directories for the same prefix', async () => {
      const t = ctx.target();
      const prefix = t.join('same-');
      const made: string[] = [];
      for (let i = 0; i < 5; i++) made.push(await t.fs.promises.mkdtemp(prefix));
      expect(new Set(made).size).toBe(5);
      for (const m of made) expect(m.startsWith(prefix)).toBe(true);
    });

    itStrictDirs('mkdtemp under a missing parent rejects with ENOENT', async () => {
      const t = ctx.target();
      const prefix = t.join('missing', 'p-');
      const err = await expectFsError(t.fs.promises.mkdtemp(prefix), { code: 'ENOENT', syscall: 'mkdtemp' });
      expect(String(err.path).startsWith(prefix)).toBe(true);
    });

    it('callback mkdtemp passes the created path', async () => {
      const t = ctx.target();
      const prefix = t.join('cb-');
      const made = await fromCallback<string>((cb) => t.fs.mkdtemp(prefix, cb));
      expect(made.startsWith(prefix)).toBe(true);
      expect(made.length).toBe(prefix.length + 6);
    });

    itSync('mkdirSync creates directories (recursive returns the first created path)', () => {
      const t = ctx.target();
      expect(t.fs.mkdirSync(t.join('s1'))).toBeUndefined();
      expect(t.fs.mkdirSync(t.join('s2', 'a', 'b'), { recursive: true })).toBe(t.join('s2'));
      t.fs.writeFileSync(t.join('s2', 'a', 'b', 'f'), 'f');
      expect(t.fs.statSync(t.join('s2', 'a')).isDirectory()).toBe(true);
      expectThrows(() => t.fs.mkdirSync(t.join('s2')), {
        code: 'EEXIST',
        syscall: 'mkdir',
        path: t.join('s2'),
      });
    });

    itNoSync('mkdirSync throws ENOTSUP naming promises.mkdir', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.mkdirSync(t.join('x')), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.mkdir');
    });
  },
};
