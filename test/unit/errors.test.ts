import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCode,
  FsError,
  fsError,
  invalidPathError,
  isFsError,
  rmDirectoryError,
  toFsError,
} from '../../src/core/errors.js';
import { REDACTED, registerSecret } from '../../src/core/secrets.js';

const require = createRequire(import.meta.url);
const errnoOf = (code: string): number =>
  -(require('node:os') as typeof os).constants.errno[code as keyof typeof os.constants.errno];

type NodeErr = Error & { code: string; errno: number; syscall: string; path: string; dest?: string };

function thrown(fn: () => unknown): NodeErr {
  try {
    fn();
  } catch (err) {
    return err as NodeErr;
  }
  throw new Error('expected a throw');
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-errors-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('fsError', () => {
  it("formats the message like Node: `CODE: description, syscall 'path'`", () => {
    const err = fsError('ENOENT', { syscall: 'stat', path: '/x' });
    expect(err.message).toBe("ENOENT: no such file or directory, stat '/x'");
    expect(String(err)).toBe("Error: ENOENT: no such file or directory, stat '/x'");
    expect(err).toBeInstanceOf(FsError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('Error');
  });

  it('gives the same message, errno and String() as a real node:fs error', () => {
    const missing = path.join(tmp, 'missing');
    const real = thrown(() => fs.statSync(missing));
    const ours = fsError('ENOENT', { syscall: 'stat', path: missing });
    expect(ours.message).toBe(real.message);
    expect(String(ours)).toBe(String(real));
    expect(ours.errno).toBe(real.errno);
    expect([ours.code, ours.syscall, ours.path]).toEqual([real.code, real.syscall, real.path]);
  });

  it("adds the destination as `-> 'dest'`, as Node's rename does", () => {
    const err = fsError('ENOENT', { syscall: 'rename', path: '/a', dest: '/b' });
    expect(err.message).toBe("ENOENT: no such file or directory, rename '/a' -> '/b'");
    expect(err.dest).toBe('/b');
    const [a, b] = [path.join(tmp, 'nope-a'), path.join(tmp, 'nope-b')];
    const real = thrown(() => fs.renameSync(a, b));
    expect(fsError('ENOENT', { syscall: 'rename', path: a, dest: b }).message).toBe(real.message);
    expect(real.dest).toBe(b);
  });

  it('uses a detail in place of the description, and a whole message for ERR_* codes', () => {
    const err = fsError('ENOTSUP', {
      detail: 'symlinks are not supported by s3',
      syscall: 'symlink',
      path: 'k',
    });
    expect(err.message).toBe("ENOTSUP: symlinks are not supported by s3, symlink 'k'");
    expect(err.detail).toBe('symlinks are not supported by s3');
    expect(fsError('ENOTSUP').message).toBe('ENOTSUP: operation not supported');
    expect(fsError('EIO').message).toBe('EIO: i/o error');
    expect(fsError('ERR_SOMETHING', { message: 'whole message', path: '/p' }).message).toBe('whole message');
    expect(fsError('EWHATEVER').message).toBe('EWHATEVER: error');
  });

  it.each([
    'ENOENT',
    'EEXIST',
    'EISDIR',
    'ENOTDIR',
    'ENOTEMPTY',
    'EACCES',
    'EPERM',
    'EXDEV',
    'EINVAL',
    'EAGAIN',
    'EBADF',
    'EIO',
    'ENODEV',
    'ETIMEDOUT',
    'ECONNRESET',
    'ENAMETOOLONG',
    'EFBIG',
    'ENOSPC',
    'ECANCELED',
    'EBUSY',
    'ELOOP',
    'EMFILE',
    'EPIPE',
    'ECONNREFUSED',
    'EROFS',
  ])('%s carries libuv’s description and the negative errno', (code) => {
    const description = [...util.getSystemErrorMap().values()].find(([name]) => name === code)![1];
    const err = fsError(code, { syscall: 'open', path: '/p' });
    expect(err.message).toBe(`${code}: ${description}, open '/p'`);
    expect(err.errno).toBe(errnoOf(code));
    expect(err.errno).toBeLessThan(0);
  });

  it('has an undefined errno for non-errno codes, and takes an explicit one', () => {
    expect(fsError('ERR_X', { message: 'm' }).errno).toBeUndefined();
    expect(fsError('ENOENT', { errno: 99 }).errno).toBe(99);
    expect(fsError('ENOENT').errno).toBe(errnoOf('ENOENT'));
    expect(fsError('ENOENT').errno).toBe(-2);
  });

  it('keeps undefined fields off the enumerable surface', () => {
    expect(Object.keys(fsError('EIO'))).toEqual(['code', 'errno', 'retryable']);
    expect(Object.keys(fsError('ERR_X', { message: 'm' }))).toEqual(['code', 'retryable']);
    expect(
      Object.keys(fsError('EXDEV', { syscall: 'rename', path: '/a', dest: '/b', retryable: true })),
    ).toEqual(['code', 'errno', 'syscall', 'path', 'dest', 'retryable']);
    const err = fsError('ENOTSUP', { detail: 'd', cause: new Error('c') });
    expect(Object.keys(err)).toEqual(['code', 'errno', 'retryable']);
    expect(Object.getOwnPropertyDescriptor(err, 'path')).toMatchObject({
      value: undefined,
      enumerable: false,
    });
    expect(Object.getOwnPropertyDescriptor(err, 'detail')).toMatchObject({ value: 'd', enumerable: false });
    expect(Object.getOwnPropertyDescriptor(err, 'cause')).toMatchObject({ enumerable: false });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'ENOTSUP',
      errno: errnoOf('ENOTSUP'),
      retryable: false,
    });
  });

  it.each(['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE'])(
    '%s is a TypeError that isFsError still recognises',
    (code) => {
      const err = fsError(code, { message: 'bad argument' });
      expect(err).toBeInstanceOf(TypeError);
      expect(err).not.toBeInstanceOf(FsError);
      expect(err.name).toBe('TypeError');
      expect(err.message).toBe('bad argument');
      expect(err.code).toBe(code);
      expect(isFsError(err)).toBe(true);
      expect(isFsError(err, code)).toBe(true);
      expect(isFsError(err, 'EIO')).toBe(false);
    },
  );

  it('isFsError is false for anything we did not make', () => {
    expect(isFsError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isFsError(thrown(() => fs.statSync(path.join(tmp, 'missing'))))).toBe(false);
    expect(isFsError({ code: 'ENOENT' })).toBe(false);
    expect(isFsError(null)).toBe(false);
    expect(isFsError(fsError('EIO'), 'ENOENT')).toBe(false);
  });

  it('invalidPathError matches the error node:fs gives for a NUL byte', () => {
    for (const p of ['/a\0b', "/it's\0", '/' + 'y'.repeat(300) + '\0']) {
      const real = thrown(() => fs.openSync(p, 'r'));
      const ours = invalidPathError(p, 'open');
      expect(ours).toBeInstanceOf(TypeError);
      expect(ours.code).toBe(real.code);
      expect(ours.message).toBe(real.message);
    }
  });

  it("rmDirectoryError matches Node's ERR_FS_EISDIR", () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'dir-'));
    const real = thrown(() => fs.rmSync(dir));
    const ours = rmDirectoryError(dir);
    expect(ours.message).toBe(`Path is a directory: rm returned EISDIR (is a directory) ${dir}`);
    expect(ours.message).toBe(real.message);
    expect(ours.name).toBe('SystemError');
    expect(ours.name).toBe(real.name);
    expect(ours.errno).toBe(21);
    expect([ours.code, ours.errno, ours.syscall, ours.path]).toEqual([
      real.code,
      real.errno,
      real.syscall,
      real.path,
    ]);
    expect(isFsError(ours, 'ERR_FS_EISDIR')).toBe(true);
  });

  it('errorCode reads string codes only', () => {
    expect(errorCode(thrown(() => fs.statSync(path.join(tmp, 'missing'))))).toBe('ENOENT');
    expect(errorCode({ code: 'NoSuchKey' })).toBe('NoSuchKey');
    expect(errorCode({ code: 404 })).toBeUndefined();
    expect(errorCode(new Error('x'))).toBeUndefined();
    expect(errorCode(null)).toBeUndefined();
    expect(errorCode('ENOENT')).toBeUndefined();
  });
});

describe('toFsError', () => {
  it("keeps a Node error's code and errno, names the caller's path and keeps the original as cause", async () => {
    const missing = path.join(tmp, 'missing-async');
    const real = (await fs.promises.stat(missing).catch((e: unknown) => e)) as NodeErr;
    expect(real.code).toBe('ENOENT');
    const err = toFsError(real, { path: 's3://b/k' });
    expect(err).toBeInstanceOf(FsError);
    expect(err.message).toBe("ENOENT: no such file or directory, stat 's3://b/k'");
    expect([err.code, err.errno, err.syscall, err.path]).toEqual(['ENOENT', real.errno, 'stat', 's3://b/k']);
    expect(err.dest).toBeUndefined();
    expect(err.cause).toBe(real);
    expect(err.retryable).toBe(false);
    expect(Object.keys(err)).toEqual(['code', 'errno', 'syscall', 'path', 'retryable']);
  });

  it("rewrites dest and syscall to the caller's", () => {
    const real = thrown(() => fs.renameSync(path.join(tmp, 'ra'), path.join(tmp, 'rb')));
    const err = toFsError(real, { path: 'mem://v/a', dest: 'mem://v/b' });
    expect(err.message).toBe("ENOENT: no such file or directory, rename 'mem://v/a' -> 'mem://v/b'");
    const moved = toFsError(real, { syscall: 'copyfile', path: '/x', dest: '/y' });
    expect(moved.message).toBe("ENOENT: no such file or directory, copyfile '/x' -> '/y'");
    const kept = toFsError(real, {});
    expect([kept.path, kept.dest]).toEqual([real.path, real.dest]);
    expect(kept.message).toBe(real.message);
  });

  it('keeps the description of codes outside our table (a real ELOOP)', () => {
    const [a, b] = [path.join(tmp, 'loop-a'), path.join(tmp, 'loop-b')];
    fs.symlinkSync(a, b);
    fs.symlinkSync(b, a);
    const real = thrown(() => fs.statSync(a));
    expect(real.code).toBe('ELOOP');
    const err = toFsError(real, { path: 'mem://v/a' });
    expect(err.message).toBe(real.message.replace(a, 'mem://v/a'));
    expect(err.message).toBe("ELOOP: too many symbolic links encountered, stat 'mem://v/a'");
  });

  it('re-targets our own FsError, keeping its detail and its cause', () => {
    const provider = new Error('provider says no');
    const inner = fsError('ENOTSUP', {
      detail: 'no symlinks here',
      syscall: 'symlink',
      path: 'k',
      cause: provider,
    });
    const err = toFsError(inner, { path: 's3://b/k' });
    expect(err.message).toBe("ENOTSUP: no symlinks here, symlink 's3://b/k'");
    expect(err.cause).toBe(provider);
    expect(err.detail).toBe('no symlinks here');
  });

  it('turns unknown errors into EIO with the original as cause', () => {
    const boom = new Error('boom');
    const err = toFsError(boom, { syscall: 'open', path: '/p' });
    expect(err.message).toBe("EIO: i/o error, open '/p'");
    expect([err.code, err.errno, err.retryable]).toEqual(['EIO', errnoOf('EIO'), false]);
    expect(err.cause).toBe(boom);
    const odd = toFsError('just a string', {});
    expect(odd.message).toBe('EIO: i/o error');
    expect(odd.cause).toBe('just a string');
    expect(toFsError(null, { syscall: 'read' }).message).toBe('EIO: i/o error, read');
  });

  it.each([
    ['ECONNRESET', true],
    ['ETIMEDOUT', true],
    ['EAGAIN', true],
    ['EPIPE', true],
    ['ENOENT', false],
    ['EACCES', false],
  ])('marks %s retryable: %s', (code, retryable) => {
    const err = toFsError(Object.assign(new Error('socket trouble'), { code }), {
      syscall: 'read',
      path: 's3://b/k',
    });
    expect(err.code).toBe(code);
    expect(err.retryable).toBe(retryable);
    expect(err.errno).toBe(errnoOf(code));
  });

  it("lets the source's own retryable flag win", () => {
    expect(toFsError({ code: 'ECONNRESET', retryable: false }, {}).retryable).toBe(false);
    expect(toFsError({ code: 'EIO', retryable: true }, {}).retryable).toBe(true);
    expect(toFsError(fsError('EACCES', { retryable: true }), {}).retryable).toBe(true);
  });

  it("keeps ERR_* errors' message, name and errno, pointing the message at the caller's path", () => {
    const err = toFsError(rmDirectoryError('mem://vol/dir'), { path: '/mnt/dir' });
    expect(err.message).toBe('Path is a directory: rm returned EISDIR (is a directory) /mnt/dir');
    expect([err.code, err.name, err.errno, err.syscall, err.path]).toEqual([
      'ERR_FS_EISDIR',
      'SystemError',
      21,
      'rm',
      '/mnt/dir',
    ]);
    const dir = fs.mkdtempSync(path.join(tmp, 'rm-'));
    const fromNode = toFsError(
      thrown(() => fs.rmSync(dir)),
      { path: 's3://b/d' },
    );
    expect(fromNode.message).toBe('Path is a directory: rm returned EISDIR (is a directory) s3://b/d');
    expect(fromNode.name).toBe('SystemError');
  });

  it('replaces a short path only where it stands, not inside the words of the message', () => {
    const err = toFsError(rmDirectoryError('s'), { path: '/x/s' });
    expect(err.message).toBe('Path is a directory: rm returned EISDIR (is a directory) /x/s');
    const empty = toFsError(fsError('ERR_ODD', { message: 'odd thing', path: '' }), { path: '/p' });
    expect(empty.message).toBe('odd thing');
    const quoted = toFsError(fsError('ERR_Q', { message: "cannot use 'a' with 'a'", path: 'a' }), {
      path: '/b',
    });
    expect(quoted.message).toBe("cannot use '/b' with '/b'");
  });

  it('keeps argument TypeErrors TypeErrors', () => {
    const err = toFsError(invalidPathError('/a\0', 'open'), { path: '/elsewhere' });
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(err.message).toBe(
      "The argument 'path' must be a string, Uint8Array, or URL without null bytes. Received '/a\\x00'",
    );
    expect(err.path).toBeUndefined();
  });
});

describe('secrets never show in errors', () => {
  const SECRET = 'sk-test-SECRET-1234';
  // A secret with characters that URL-encoding changes: its encoded form is masked too.
  const SPECIAL = 'p@ss/w0rd+SECRET=';
  const ENCODED = encodeURIComponent(SPECIAL);

  beforeAll(() => {
    registerSecret(SECRET);
    registerSecret(SPECIAL);
  });

  const shows = (err: Error): string[] => [
    err.message,
    String(err),
    util.inspect(err),
    util.inspect(err, { depth: 5, showHidden: true }),
    String(err.stack),
  ];

  it.each([
    ['the secret', SECRET],
    ['its URL-encoded form', encodeURIComponent(SECRET)],
    ['a URL-encoded special secret', ENCODED],
    ['a special secret', SPECIAL],
  ])('masks %s in path, dest and message', (_, secret) => {
    const err = fsError('EACCES', {
      syscall: 'rename',
      path: `s3://b/${secret}/k`,
      dest: `s3://b/k?sig=${secret}`,
    });
    expect(err.path).toBe(`s3://b/${REDACTED}/k`);
    expect(err.dest).toBe(`s3://b/k?sig=${REDACTED}`);
    expect(err.message).toBe(
      `EACCES: permission denied, rename 's3://b/${REDACTED}/k' -> 's3://b/k?sig=${REDACTED}'`,
    );
    expect(REDACTED).toBe('**********');
    for (const text of shows(err)) {
      expect(text).not.toContain('SECRET');
      expect(text).toContain(REDACTED);
    }
  });

  it('masks the secret in a detail and a whole message', () => {
    const err = fsError('EACCES', { detail: `token ${SECRET} expired`, syscall: 'open', path: 'gs://b/k' });
    expect(err.message).toBe(`EACCES: token ${REDACTED} expired, open 'gs://b/k'`);
    expect(err.detail).toBe(`token ${REDACTED} expired`);
    const whole = fsError('ERR_AUTH', { message: `bad key ${ENCODED}` });
    expect(whole.message).toBe(`bad key ${REDACTED}`);
    for (const text of [...shows(err), ...shows(whole)]) expect(text).not.toContain('SECRET');
  });

  it("masks the secret in the cause's message, stack and fields", () => {
    const provider = Object.assign(
      new Error(`GET https://acct.blob.core.windows.net/c/k?sig=${ENCODED} failed`),
      {
        url: `https://acct.blob.core.windows.net/c/k?sig=${ENCODED}`,
        token: SECRET,
      },
    );
    const err = fsError('EIO', { syscall: 'read', path: 'az://c/k', cause: provider });
    expect(err.cause).toBe(provider);
    expect(provider.message).toBe(`GET https://acct.blob.core.windows.net/c/k?sig=${REDACTED} failed`);
    expect(provider.url).toBe(`https://acct.blob.core.windows.net/c/k?sig=${REDACTED}`);
    expect(provider.token).toBe(REDACTED);
    for (const text of shows(err)) expect(text).not.toMatch(/SECRET|p%40ss/);
  });

  it('masks the secret in a real node:fs error wrapped by toFsError', () => {
    const secretDir = path.join(tmp, SECRET);
    const real = thrown(() => fs.statSync(path.join(secretDir, 'x')));
    const err = toFsError(real, { path: `mem://v/${SECRET}/x` });
    expect(err.message).toBe(`ENOENT: no such file or directory, stat 'mem://v/${REDACTED}/x'`);
    expect(err.path).toBe(`mem://v/${REDACTED}/x`);
    const cause = err.cause as NodeErr;
    expect(cause).toBe(real);
    expect(cause.message).toBe(`ENOENT: no such file or directory, stat '${path.join(tmp, REDACTED, 'x')}'`);
    expect(cause.path).toBe(path.join(tmp, REDACTED, 'x'));
    for (const text of shows(err)) {
      expect(text).not.toContain('SECRET');
      expect(text).toContain(REDACTED);
    }
  });

  it('masks the secret in nested and non-Error causes', () => {
    const nested = new Error('outer', { cause: new Error(`inner ${SECRET}`) });
    const err = fsError('EIO', { cause: nested });
    expect((nested.cause as Error).message).toBe(`inner ${REDACTED}`);
    for (const text of shows(err)) expect(text).not.toContain('SECRET');
    const stringCause = fsError('EIO', { cause: `raw ${SECRET}` });
    expect(stringCause.cause).toBe(`raw ${REDACTED}`);
    expect(util.inspect(stringCause)).not.toContain('SECRET');
  });

  it('keeps a clean frozen cause; one that holds a secret is replaced by a clean copy, without throwing', () => {
    const clean = Object.freeze(new Error('frozen, nothing secret'));
    expect(fsError('EIO', { cause: clean }).cause).toBe(clean);
    const frozen = Object.freeze(new Error(`frozen ${SECRET}`));
    const err = fsError('EIO', { syscall: 'read', path: `s3://b/${SECRET}`, cause: frozen });
    expect(err.cause).not.toBe(frozen);
    expect((err.cause as Error).message).toBe(`frozen ${REDACTED}`);
    expect(err.message).toBe(`EIO: i/o error, read 's3://b/${REDACTED}'`);
    for (const text of shows(err)) expect(text).not.toContain('SECRET');
  });
});
