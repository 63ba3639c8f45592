import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import {
  allBytes,
  expectFsError,
  expectThrows,
  fromCallback,
  itIf,
  makeTree,
  payload,
  sha256,
  sorted,
} from './helpers.js';

export const topic: Topic = {
  name: 'rename',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');
    const itEmptyDirs = itIf(caps.emptyDirectories, 'empty directories do not persist on this target');
    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    const itAtomic = itIf(caps.atomicDirectoryRename, 'directory rename is not atomic on this target');

    it('rename moves a file: source gone, destination has the bytes', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a.bin': allBytes() });
      await expect(t.fs.promises.rename(t.join('a.bin'), t.join('b.bin'))).resolves.toBeUndefined();
      await expectFsError(t.fs.promises.stat(t.join('a.bin')), { code: 'ENOENT' });
      expect(await t.fs.promises.readFile(t.join('b.bin'))).toEqual(allBytes());
    });

    it('rename over an existing file replaces it', async () => {
      const t = ctx.target();
      await makeTree(t, { src: 'new content', dst: 'old content that is longer' });
      await t.fs.promises.rename(t.join('src'), t.join('dst'));
      expect(await t.fs.promises.readFile(t.join('dst'), 'utf8')).toBe('new content');
      expect(await t.fs.promises.readdir(t.root)).toEqual(['dst']);
    });

    it('rename moves a file into another directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'from/f.txt': 'f', 'from/stay.txt': 's', 'to/other.txt': 'o' });
      await t.fs.promises.rename(t.join('from', 'f.txt'), t.join('to', 'f.txt'));
      expect(await t.fs.promises.readdir(t.join('from'))).toEqual(['stay.txt']);
      expect(sorted(await t.fs.promises.readdir(t.join('to')))).toEqual(['f.txt', 'other.txt']);
      expect(await t.fs.promises.readFile(t.join('to', 'f.txt'), 'utf8')).toBe('f');
    });

    it('rename with unicode and symbol names in both paths', async () => {
      const t = ctx.target();
      await makeTree(t, { 'ünï cödé ✓.txt': 'u' });
      await t.fs.promises.rename(t.join('ünï cödé ✓.txt'), t.join('a+b %20 #c.txt'));
      expect(await t.fs.promises.readdir(t.root)).toEqual(['a+b %20 #c.txt']);
      expect(await t.fs.promises.readFile(t.join('a+b %20 #c.txt'), 'utf8')).toBe('u');
    });

    it('rename of a missing source rejects with ENOENT (path and dest set)', async () => {
      const t = ctx.target();
      const src = t.join('missing');
      const dst = t.join('dst');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'ENOENT',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
    });

    itStrictDirs('rename into a missing directory rejects with ENOENT and keeps the source', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const src = t.join('f');
      const dst = t.join('nodir', 'f');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'ENOENT',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readFile(src, 'utf8')).toBe('f');
    });

    it('rename of a directory moves all of its contents', async () => {
      const t = ctx.target();
      const files: Record<string, Buffer> = {
        'src/a.bin': payload(1000, 1),
        'src/sub/b.bin': payload(2000, 2),
        'src/sub/deep/c.bin': payload(3000, 3),
        'src/ü #.bin': allBytes(),
      };
      await makeTree(t, files);
      await t.fs.promises.rename(t.join('src'), t.join('dst'));
      await expectFsError(t.fs.promises.stat(t.join('src')), { code: 'ENOENT' });
      for (const [rel, content] of Object.entries(files)) {
        const moved = t.join(...rel.replace(/^src\//, 'dst/').split('/'));
        expect(sha256(await t.fs.promises.readFile(moved))).toBe(sha256(content));
      }
      expect(sorted(await t.fs.promises.readdir(t.join('dst')))).toEqual(['a.bin', 'sub', 'ü #.bin']);
      expect(await t.fs.promises.readdir(t.root)).toEqual(['dst']);
    });

    it('rename of a directory into another directory', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x', 'parent/p': 'p' });
      await t.fs.promises.rename(t.join('d'), t.join('parent', 'd2'));
      expect(sorted(await t.fs.promises.readdir(t.join('parent')))).toEqual(['d2', 'p']);
      expect(await t.fs.promises.readFile(t.join('parent', 'd2', 'x'), 'utf8')).toBe('x');
    });

    it('rename leaves siblings sharing a name prefix untouched', async () => {
      const t = ctx.target();
      await makeTree(t, { 'data/a': 'a', 'data.json': 'j', 'data-2/b': 'b' });
      await t.fs.promises.rename(t.join('data'), t.join('moved'));
      expect(sorted(await t.fs.promises.readdir(t.root))).toEqual(['data-2', 'data.json', 'moved']);
      expect(await t.fs.promises.readFile(t.join('data-2', 'b'), 'utf8')).toBe('b');
    });

    it('rename of a file onto a directory rejects with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f', 'd/x': 'x' });
      const src = t.join('f');
      const dst = t.join('d');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'EISDIR',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readFile(src, 'utf8')).toBe('f');
    });

    it('rename of a directory onto a non-empty directory rejects with ENOTEMPTY', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a/x': 'x', 'b/y': 'y' });
      const src = t.join('a');
      const dst = t.join('b');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'ENOTEMPTY',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readdir(src)).toEqual(['x']);
      expect(await t.fs.promises.readdir(dst)).toEqual(['y']);
    });

    itEmptyDirs('rename of a directory onto an empty directory replaces it', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a/x': 'x' });
      await t.fs.promises.mkdir(t.join('empty'));
      await t.fs.promises.rename(t.join('a'), t.join('empty'));
      expect(await t.fs.promises.readdir(t.join('empty'))).toEqual(['x']);
      expect(await t.fs.promises.readdir(t.root)).toEqual(['empty']);
    });

    it('rename of a directory onto a file rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x', f: 'f' });
      const src = t.join('d');
      const dst = t.join('f');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'ENOTDIR',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readFile(dst, 'utf8')).toBe('f');
    });

    it('rename of a directory into its own subdirectory rejects with EINVAL', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/sub/x': 'x' });
      const src = t.join('d');
      const dst = t.join('d', 'sub', 'moved');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'EINVAL',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readFile(t.join('d', 'sub', 'x'), 'utf8')).toBe('x');
    });

    it('rename of a file below itself rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const src = t.join('f');
      const dst = t.join('f', 'x');
      await expectFsError(t.fs.promises.rename(src, dst), {
        code: 'ENOTDIR',
        syscall: 'rename',
        path: src,
        dest: dst,
      });
    });

    it('rename of a file or directory to itself is a no-op', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'same', 'd/x': 'x' });
      await expect(t.fs.promises.rename(t.join('f'), t.join('f'))).resolves.toBeUndefined();
      await expect(t.fs.promises.rename(t.join('d'), t.join('d'))).resolves.toBeUndefined();
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('same');
      expect(await t.fs.promises.readdir(t.join('d'))).toEqual(['x']);
    });

    it('callback rename moves a file and passes errors to the callback', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'a' });
      await fromCallback((cb) => t.fs.rename(t.join('a'), t.join('b'), cb));
      expect(await t.fs.promises.readFile(t.join('b'), 'utf8')).toBe('a');
      const src = t.join('a');
      const dst = t.join('c');
      await expectFsError(
        fromCallback((cb) => t.fs.rename(src, dst, cb)),
        { code: 'ENOENT', syscall: 'rename', path: src, dest: dst },
      );
    });

    itAtomic(
      'directory rename is atomic: concurrent readers see all files at source or at destination',
      async () => {
        const t = ctx.target();
        const files = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`src/f${i}`, String(i)]));
        await makeTree(t, files);
        const counts: number[] = [];
        let done = false;
        const renaming = t.fs.promises.rename(t.join('src'), t.join('dst')).finally(() => {
          done = true;
        });
        while (!done) {
          for (const dir of ['src', 'dst']) {
            try {
              counts.push((await t.fs.promises.readdir(t.join(dir))).length);
            } catch (err) {
              expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
            }
          }
        }
        await renaming;
        for (const c of counts) expect(c).toBe(40);
        expect(await t.fs.promises.readdir(t.join('dst'))).toHaveLength(40);
      },
    );

    it('copyFile copies bytes and leaves the source intact', async () => {
      const t = ctx.target();
      await makeTree(t, { 'src.bin': allBytes() });
      await expect(t.fs.promises.copyFile(t.join('src.bin'), t.join('copy.bin'))).resolves.toBeUndefined();
      expect(await t.fs.promises.readFile(t.join('copy.bin'))).toEqual(allBytes());
      expect(await t.fs.promises.readFile(t.join('src.bin'))).toEqual(allBytes());
    });

    it('copyFile produces an independent copy', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'original' });
      await t.fs.promises.copyFile(t.join('a'), t.join('b'));
      await t.fs.promises.writeFile(t.join('b'), 'changed');
      expect(await t.fs.promises.readFile(t.join('a'), 'utf8')).toBe('original');
    });

    it('copyFile overwrites an existing destination', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'short', b: 'a much longer old content' });
      await t.fs.promises.copyFile(t.join('a'), t.join('b'));
      expect(await t.fs.promises.readFile(t.join('b'), 'utf8')).toBe('short');
    });

    it('copyFile of a 1 MiB payload into another directory keeps its SHA-256', async () => {
      const t = ctx.target();
      const data = payload(1024 * 1024 + 3, 7);
      await makeTree(t, { 'x/big.bin': data, 'y/keep': 'k' });
      await t.fs.promises.copyFile(t.join('x', 'big.bin'), t.join('y', 'big.bin'));
      expect(sha256(await t.fs.promises.readFile(t.join('y', 'big.bin')))).toBe(sha256(data));
    });

    it('copyFile with COPYFILE_EXCL onto an existing file rejects with EEXIST', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'a', b: 'b' });
      const src = t.join('a');
      const dst = t.join('b');
      await expectFsError(t.fs.promises.copyFile(src, dst, t.fs.constants.COPYFILE_EXCL), {
        code: 'EEXIST',
        syscall: 'copyfile',
        path: src,
        dest: dst,
      });
      expect(await t.fs.promises.readFile(dst, 'utf8')).toBe('b');
    });

    it('copyFile with COPYFILE_EXCL onto a new name copies', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'a' });
      await t.fs.promises.copyFile(t.join('a'), t.join('c'), t.fs.constants.COPYFILE_EXCL);
      expect(await t.fs.promises.readFile(t.join('c'), 'utf8')).toBe('a');
    });

    it('copyFile of a missing source rejects with ENOENT', async () => {
      const t = ctx.target();
      const src = t.join('missing');
      const dst = t.join('c');
      await expectFsError(t.fs.promises.copyFile(src, dst), {
        code: 'ENOENT',
        syscall: 'copyfile',
        path: src,
        dest: dst,
      });
      await expectFsError(t.fs.promises.stat(dst), { code: 'ENOENT' });
    });

    it('copyFile of a directory rejects with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const src = t.join('d');
      const dst = t.join('copy');
      await expectFsError(t.fs.promises.copyFile(src, dst), {
        code: 'EISDIR',
        syscall: 'copyfile',
        path: src,
        dest: dst,
      });
    });

    it('copyFile onto a directory rejects with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f', 'd/x': 'x' });
      const src = t.join('f');
      const dst = t.join('d');
      await expectFsError(t.fs.promises.copyFile(src, dst), {
        code: 'EISDIR',
        syscall: 'copyfile',
        path: src,
        dest: dst,
      });
    });

    itStrictDirs('copyFile into a missing directory rejects with ENOENT', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const src = t.join('f');
      const dst = t.join('nodir', 'f');
      await expectFsError(t.fs.promises.copyFile(src, dst), {
        code: 'ENOENT',
        syscall: 'copyfile',
        path: src,
        dest: dst,
      });
    });

    it('callback copyFile copies', async () => {
      const t = ctx.target();
      await makeTree(t, { a: 'cb' });
      await fromCallback((cb) => t.fs.copyFile(t.join('a'), t.join('b'), cb));
      expect(await t.fs.promises.readFile(t.join('b'), 'utf8')).toBe('cb');
    });

    itSync('renameSync and copyFileSync', () => {
      const t = ctx.target();
      t.fs.writeFileSync(t.join('a'), 'sync');
      t.fs.copyFileSync(t.join('a'), t.join('b'));
      t.fs.renameSync(t.join('a'), t.join('c'));
      expect(sorted(t.fs.readdirSync(t.root))).toEqual(['b', 'c']);
      expect(t.fs.readFileSync(t.join('c'), 'utf8')).toBe('sync');
      expectThrows(() => t.fs.renameSync(t.join('a'), t.join('d')), {
        code: 'ENOENT',
        syscall: 'rename',
        path: t.join('a'),
        dest: t.join('d'),
      });
    });

    itNoSync('renameSync throws ENOTSUP naming promises.rename', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.renameSync(t.join('a'), t.join('b')), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.rename');
    });
  },
};
