import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import type { ConformanceTarget } from './types.js';
import { escapeRegExp, expectFsError, expectThrows, fromCallback, itIf, makeTree } from './helpers.js';

/**
 * Every row runs against the same fixture:
 *   file.txt        a file
 *   dir/child.txt   a non-empty directory
 */
const FIXTURE = { 'file.txt': 'file', 'dir/child.txt': 'child' };

interface Row {
  name: string;
  call: (t: ConformanceTarget) => Promise<unknown>;
  code: string;
  syscall?: string;
  /** The path the error must carry (exactly what was passed); omitted where Node sets none. */
  path?: (t: ConformanceTarget) => string;
  dest?: (t: ConformanceTarget) => string;
  /** Only where directories exist on their own (a missing parent is observable). */
  needsStrictDirs?: boolean;
}

const missing = (t: ConformanceTarget) => t.join('missing');
const file = (t: ConformanceTarget) => t.join('file.txt');
const dir = (t: ConformanceTarget) => t.join('dir');
const underMissing = (t: ConformanceTarget) => t.join('nodir', 'x');
const underFile = (t: ConformanceTarget) => t.join('file.txt', 'x');

const PROMISE_ROWS: Row[] = [
  {
    name: 'stat of a missing path',
    call: (t) => t.fs.promises.stat(missing(t)),
    code: 'ENOENT',
    syscall: 'stat',
    path: missing,
  },
  {
    name: 'lstat of a missing path',
    call: (t) => t.fs.promises.lstat(missing(t)),
    code: 'ENOENT',
    syscall: 'lstat',
    path: missing,
  },
  {
    name: 'access of a missing path',
    call: (t) => t.fs.promises.access(missing(t)),
    code: 'ENOENT',
    syscall: 'access',
    path: missing,
  },
  {
    name: 'readFile of a missing path',
    call: (t) => t.fs.promises.readFile(missing(t)),
    code: 'ENOENT',
    syscall: 'open',
    path: missing,
  },
  { name: 'readFile of a directory', call: (t) => t.fs.promises.readFile(dir(t)), code: 'EISDIR' },
  {
    name: 'readdir of a file',
    call: (t) => t.fs.promises.readdir(file(t)),
    code: 'ENOTDIR',
    syscall: 'scandir',
    path: file,
  },
  {
    name: 'readdir of a missing path',
    call: (t) => t.fs.promises.readdir(missing(t)),
    code: 'ENOENT',
    syscall: 'scandir',
    path: missing,
  },
  {
    name: 'rmdir of a non-empty directory',
    call: (t) => t.fs.promises.rmdir(dir(t)),
    code: 'ENOTEMPTY',
    syscall: 'rmdir',
    path: dir,
  },
  {
    name: 'rmdir of a file',
    call: (t) => t.fs.promises.rmdir(file(t)),
    code: 'ENOTDIR',
    syscall: 'rmdir',
    path: file,
  },
  {
    name: 'mkdir of an existing directory',
    call: (t) => t.fs.promises.mkdir(dir(t)),
    code: 'EEXIST',
    syscall: 'mkdir',
    path: dir,
  },
  {
    name: 'mkdir of an existing file',
    call: (t) => t.fs.promises.mkdir(file(t)),
    code: 'EEXIST',
    syscall: 'mkdir',
    path: file,
  },
  {
    name: 'writeFile under a missing parent',
    call: (t) => t.fs.promises.writeFile(underMissing(t), 'x'),
    needsStrictDirs: true,
    code: 'ENOENT',
    syscall: 'open',
    path: underMissing,
  },
  {
    name: 'writeFile below a file',
    call: (t) => t.fs.promises.writeFile(underFile(t), 'x'),
    code: 'ENOTDIR',
    syscall: 'open',
    path: underFile,
  },
  {
    name: 'appendFile onto a directory',
    call: (t) => t.fs.promises.appendFile(dir(t), 'x'),
    code: 'EISDIR',
    syscall: 'open',
    path: dir,
  },
  {
    name: 'unlink of a missing path',
    call: (t) => t.fs.promises.unlink(missing(t)),
    code: 'ENOENT',
    syscall: 'unlink',
    path: missing,
  },
  {
    name: 'unlink of a directory',
    call: (t) => t.fs.promises.unlink(dir(t)),
    code: 'EISDIR',
    syscall: 'unlink',
    path: dir,
  },
  {
    name: 'rm of a directory without recursive',
    call: (t) => t.fs.promises.rm(dir(t)),
    code: 'ERR_FS_EISDIR',
    syscall: 'rm',
    path: dir,
  },
  {
    name: "open 'wx' of an existing file",
    call: (t) => t.fs.promises.open(file(t), 'wx'),
    code: 'EEXIST',
    syscall: 'open',
    path: file,
  },
  {
    name: 'rename of a missing source',
    call: (t) => t.fs.promises.rename(missing(t), t.join('to')),
    code: 'ENOENT',
    syscall: 'rename',
    path: missing,
    dest: (t) => t.join('to'),
  },
  {
    name: 'copyFile of a missing source',
    call: (t) => t.fs.promises.copyFile(missing(t), t.join('to')),
    code: 'ENOENT',
    syscall: 'copyfile',
    path: missing,
    dest: (t) => t.join('to'),
  },
  {
    name: 'realpath of a missing path',
    call: (t) => t.fs.promises.realpath(missing(t)),
    code: 'ENOENT',
    syscall: 'realpath',
    path: missing,
  },
];

type Callback = (err: NodeJS.ErrnoException | null, value?: unknown) => void;

interface CallbackRow {
  name: string;
  call: (t: ConformanceTarget, cb: Callback) => void;
  code: string;
  syscall: string;
  path: (t: ConformanceTarget) => string;
  dest?: (t: ConformanceTarget) => string;
  needsStrictDirs?: boolean;
}

const CALLBACK_ROWS: CallbackRow[] = [
  {
    name: 'stat',
    call: (t, cb) => t.fs.stat(missing(t), cb),
    code: 'ENOENT',
    syscall: 'stat',
    path: missing,
  },
  {
    name: 'lstat',
    call: (t, cb) => t.fs.lstat(missing(t), cb),
    code: 'ENOENT',
    syscall: 'lstat',
    path: missing,
  },
  {
    name: 'access',
    call: (t, cb) => t.fs.access(missing(t), cb),
    code: 'ENOENT',
    syscall: 'access',
    path: missing,
  },
  {
    name: 'readFile',
    call: (t, cb) => t.fs.readFile(missing(t), cb),
    code: 'ENOENT',
    syscall: 'open',
    path: missing,
  },
  {
    name: 'readdir',
    call: (t, cb) => t.fs.readdir(file(t), cb),
    code: 'ENOTDIR',
    syscall: 'scandir',
    path: file,
  },
  { name: 'mkdir', call: (t, cb) => t.fs.mkdir(dir(t), cb), code: 'EEXIST', syscall: 'mkdir', path: dir },
  { name: 'rmdir', call: (t, cb) => t.fs.rmdir(dir(t), cb), code: 'ENOTEMPTY', syscall: 'rmdir', path: dir },
  { name: 'unlink', call: (t, cb) => t.fs.unlink(dir(t), cb), code: 'EISDIR', syscall: 'unlink', path: dir },
  { name: 'rm', call: (t, cb) => t.fs.rm(dir(t), cb), code: 'ERR_FS_EISDIR', syscall: 'rm', path: dir },
  {
    name: 'writeFile',
    call: (t, cb) => t.fs.writeFile(underMissing(t), 'x', cb),
    needsStrictDirs: true,
    code: 'ENOENT',
    syscall: 'open',
    path: underMissing,
  },
  {
    name: 'rename',
    call: (t, cb) => t.fs.rename(missing(t), t.join('to'), cb),
    code: 'ENOENT',
    syscall: 'rename',
    path: missing,
    dest: (t) => t.join('to'),
  },
  {
    name: 'copyFile',
    call: (t, cb) => t.fs.copyFile(missing(t), t.join('to'), cb),
    code: 'ENOENT',
    syscall: 'copyfile',
    path: missing,
    dest: (t) => t.join('to'),
  },
];

interface MessageRow {
  name: string;
  code: string;
  call: (t: ConformanceTarget) => Promise<unknown>;
  /** The expected message, built from the paths actually passed. */
  pattern: (t: ConformanceTarget) => RegExp;
}

const quoted = (p: string) => `'${escapeRegExp(p)}'`;

const MESSAGE_ROWS: MessageRow[] = [
  {
    name: 'stat ENOENT',
    code: 'ENOENT',
    call: (t) => t.fs.promises.stat(missing(t)),
    pattern: (t) => new RegExp(`^ENOENT: .*, stat ${quoted(missing(t))}$`),
  },
  {
    name: 'readFile ENOENT',
    code: 'ENOENT',
    call: (t) => t.fs.promises.readFile(missing(t)),
    pattern: (t) => new RegExp(`^ENOENT: .*, open ${quoted(missing(t))}$`),
  },
  {
    name: 'mkdir EEXIST',
    code: 'EEXIST',
    call: (t) => t.fs.promises.mkdir(dir(t)),
    pattern: (t) => new RegExp(`^EEXIST: .*, mkdir ${quoted(dir(t))}$`),
  },
  {
    name: 'readdir ENOTDIR',
    code: 'ENOTDIR',
    call: (t) => t.fs.promises.readdir(file(t)),
    pattern: (t) => new RegExp(`^ENOTDIR: .*, scandir ${quoted(file(t))}$`),
  },
  {
    name: 'rmdir ENOTEMPTY',
    code: 'ENOTEMPTY',
    call: (t) => t.fs.promises.rmdir(dir(t)),
    pattern: (t) => new RegExp(`^ENOTEMPTY: .*, rmdir ${quoted(dir(t))}$`),
  },
  {
    name: 'rename ENOENT (two paths)',
    code: 'ENOENT',
    call: (t) => t.fs.promises.rename(missing(t), t.join('to')),
    pattern: (t) => new RegExp(`^ENOENT: .*, rename ${quoted(missing(t))} -> ${quoted(t.join('to'))}$`),
  },
];

const withNul = (t: ConformanceTarget) => t.join('bad\u0000name');

const NUL_ROWS: { name: string; call: (t: ConformanceTarget) => Promise<unknown> }[] = [
  { name: 'readFile', call: (t) => t.fs.promises.readFile(withNul(t)) },
  { name: 'stat', call: (t) => t.fs.promises.stat(withNul(t)) },
  { name: 'writeFile', call: (t) => t.fs.promises.writeFile(withNul(t), 'x') },
];

interface SyncRow {
  name: string;
  call: (t: ConformanceTarget) => unknown;
  code: string;
  syscall: string;
  path: (t: ConformanceTarget) => string;
}

const SYNC_ROWS: SyncRow[] = [
  {
    name: 'statSync of a missing path',
    call: (t) => t.fs.statSync(missing(t)),
    code: 'ENOENT',
    syscall: 'stat',
    path: missing,
  },
  {
    name: 'readdirSync of a file',
    call: (t) => t.fs.readdirSync(file(t)),
    code: 'ENOTDIR',
    syscall: 'scandir',
    path: file,
  },
  {
    name: 'mkdirSync of an existing directory',
    call: (t) => t.fs.mkdirSync(dir(t)),
    code: 'EEXIST',
    syscall: 'mkdir',
    path: dir,
  },
  {
    name: 'rmdirSync of a non-empty directory',
    call: (t) => t.fs.rmdirSync(dir(t)),
    code: 'ENOTEMPTY',
    syscall: 'rmdir',
    path: dir,
  },
];

/** Sync methods not already covered by a topic, with the async alternative their ENOTSUP must name. */
const NO_SYNC_ROWS: { method: string; alternative: string; call: (t: ConformanceTarget) => unknown }[] = [
  { method: 'lstatSync', alternative: 'promises.lstat', call: (t) => t.fs.lstatSync(file(t)) },
  { method: 'accessSync', alternative: 'promises.access', call: (t) => t.fs.accessSync(file(t)) },
  { method: 'unlinkSync', alternative: 'promises.unlink', call: (t) => t.fs.unlinkSync(file(t)) },
  { method: 'rmdirSync', alternative: 'promises.rmdir', call: (t) => t.fs.rmdirSync(dir(t)) },
  {
    method: 'copyFileSync',
    alternative: 'promises.copyFile',
    call: (t) => t.fs.copyFileSync(file(t), t.join('c')),
  },
  {
    method: 'appendFileSync',
    alternative: 'promises.appendFile',
    call: (t) => t.fs.appendFileSync(file(t), 'x'),
  },
];

export const topic: Topic = {
  name: 'errors',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');

    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    const itFor = (row: { needsStrictDirs?: boolean }) => (row.needsStrictDirs ? itStrictDirs : it);

    for (const row of PROMISE_ROWS) {
      itFor(row)(`promise: ${row.name} rejects with ${row.code}`, async () => {
        const t = ctx.target();
        await makeTree(t, FIXTURE);
        await expectFsError(row.call(t), {
          code: row.code,
          ...(row.syscall ? { syscall: row.syscall } : {}),
          ...(row.path ? { path: row.path(t) } : {}),
          ...(row.dest ? { dest: row.dest(t) } : {}),
        });
      });
    }

    for (const row of CALLBACK_ROWS) {
      itFor(row)(`callback: ${row.name} passes ${row.code} to the callback, asynchronously`, async () => {
        const t = ctx.target();
        await makeTree(t, FIXTURE);
        let returned = false;
        let calledSynchronously = false;
        const result = fromCallback<unknown>((cb) => {
          row.call(t, (err, value) => {
            if (!returned) calledSynchronously = true;
            cb(err, value);
          });
          returned = true;
        });
        await expectFsError(result, {
          code: row.code,
          syscall: row.syscall,
          path: row.path(t),
          ...(row.dest ? { dest: row.dest(t) } : {}),
        });
        expect(calledSynchronously).toBe(false);
      });
    }

    for (const row of MESSAGE_ROWS) {
      it(`message: ${row.name} reads "CODE: description, syscall 'path'"`, async () => {
        const t = ctx.target();
        await makeTree(t, FIXTURE);
        const err = await expectFsError(row.call(t), { code: row.code });
        expect(err.message).toMatch(row.pattern(t));
      });
    }

    it('rm of a directory without recursive reports ERR_FS_EISDIR as a SystemError naming the path', async () => {
      const t = ctx.target();
      await makeTree(t, FIXTURE);
      const err = await expectFsError(t.fs.promises.rm(dir(t)), {
        code: 'ERR_FS_EISDIR',
        syscall: 'rm',
        path: dir(t),
      });
      expect(err.name).toBe('SystemError');
      expect(err.message).toBe(`Path is a directory: rm returned EISDIR (is a directory) ${dir(t)}`);
    });

    it('filesystem errors are Error instances with a string code', async () => {
      const t = ctx.target();
      const err = await expectFsError(t.fs.promises.stat(missing(t)), { code: 'ENOENT' });
      expect(err).toBeInstanceOf(Error);
      expect(typeof err.code).toBe('string');
      expect(typeof err.message).toBe('string');
    });

    for (const row of NUL_ROWS) {
      it(`a NUL byte in the path makes promises.${row.name} reject (not throw) with ERR_INVALID_ARG_VALUE`, async () => {
        const t = ctx.target();
        let promise: Promise<unknown> | undefined;
        expect(() => {
          promise = row.call(t);
        }).not.toThrow();
        const err = await expectFsError(promise as Promise<unknown>, { code: 'ERR_INVALID_ARG_VALUE' });
        expect(err).toBeInstanceOf(TypeError);
      });
    }

    it('a NUL byte in the path makes callback readFile throw ERR_INVALID_ARG_VALUE synchronously', () => {
      const t = ctx.target();
      let called = false;
      const err = expectThrows(
        () =>
          t.fs.readFile(withNul(t), () => {
            called = true;
          }),
        { code: 'ERR_INVALID_ARG_VALUE' },
      );
      expect(err).toBeInstanceOf(TypeError);
      expect(called).toBe(false);
    });

    it('a NUL byte in the path creates nothing', async () => {
      const t = ctx.target();
      await makeTree(t, { 'keep.txt': 'k' });
      await expectFsError(t.fs.promises.writeFile(withNul(t), 'x'), { code: 'ERR_INVALID_ARG_VALUE' });
      expect(await t.fs.promises.readdir(t.root)).toEqual(['keep.txt']);
    });

    for (const row of SYNC_ROWS) {
      itSync(`sync: ${row.name} throws ${row.code}`, () => {
        const t = ctx.target();
        t.fs.writeFileSync(t.join('file.txt'), 'file');
        t.fs.mkdirSync(t.join('dir'));
        t.fs.writeFileSync(t.join('dir', 'child.txt'), 'child');
        expectThrows(() => row.call(t), { code: row.code, syscall: row.syscall, path: row.path(t) });
      });
    }

    for (const row of NO_SYNC_ROWS) {
      itNoSync(`${row.method} throws ENOTSUP naming ${row.alternative}`, async () => {
        const t = ctx.target();
        await makeTree(t, FIXTURE);
        const err = expectThrows(() => row.call(t), { code: 'ENOTSUP' });
        expect(err.message).toContain(row.alternative);
      });
    }
  },
};
