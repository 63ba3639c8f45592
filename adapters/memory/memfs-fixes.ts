/**
 * memfs 4.x differs from node:fs in a few error cases and return values; the conformance suite
 * (with node:fs as the oracle) finds them. This layer corrects them with pre-checks against memfs's
 * own synchronous stat — memfs is synchronous underneath, so a check and the call it guards cannot
 * interleave with another operation — and delegates everything else untouched.
 *
 * Corrected (node:fs on Linux is the reference):
 * - a trailing slash on a file path is ENOTDIR (memfs ignores the slash);
 * - `mkdir(…, { recursive: true })` returns the first directory created (memfs returns the leaf),
 *   is EEXIST when the leaf is a file and ENOTDIR (syscall `mkdir`) through a file;
 * - `unlink` of a directory is EISDIR (memfs: EPERM);
 * - `rename` of a file onto a directory is EISDIR, of a directory onto a file ENOTDIR, onto a
 *   non-empty directory ENOTEMPTY, into itself EINVAL (memfs allows or mis-codes these);
 * - `mkdtemp` errors carry syscall `mkdtemp`;
 * - `createReadStream` of a directory emits EISDIR (memfs ends the stream without data).
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { fsError, toFsError } from '../../src/core/errors.js';
import { pathToString } from '../../src/core/uri.js';
import { assembleFs, type AnyFn } from '../../src/fs/assemble.js';
import { PROMISE_METHODS, SYNC_METHODS, type FsAdapter } from '../../src/fs/types.js';

type Kind = 'file' | 'directory' | undefined;

export function fixMemfs(base: FsAdapter): FsAdapter {
  const kind = (p: string): Kind => {
    try {
      const st = base.statSync(p);
      return st.isDirectory() ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  };

  /** node:fs refuses `file/` with ENOTDIR wherever a path is resolved. */
  const trailingSlash = (p: unknown, syscall: string): void => {
    if (typeof p !== 'string' || !p.endsWith('/') || p === '/') return;
    if (kind(p.slice(0, -1)) === 'file') throw fsError('ENOTDIR', { syscall, path: p });
  };

  /** Returns what node's recursive mkdir returns, or throws its error; `undefined` = call through. */
  const mkdirRecursive = (p: string): { first: string | undefined } => {
    const abs = posix.resolve(p);
    const leaf = kind(abs);
    if (leaf === 'directory') return { first: undefined };
    if (leaf === 'file') throw fsError('EEXIST', { syscall: 'mkdir', path: p });
    const parts = abs.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const sub = '/' + parts.slice(0, i).join('/');
      const k = kind(sub);
      if (k === 'file') throw fsError('ENOTDIR', { syscall: 'mkdir', path: p });
      if (k === undefined) return { first: sub };
    }
    return { first: undefined };
  };

  const renameCheck = (a: unknown, b: unknown): void => {
    const from = posix.resolve(pathToString(a));
    const to = posix.resolve(pathToString(b));
    const src = kind(from);
    if (!src || from === to) return;
    const dst = kind(to);
    const err = (code: string) =>
      fsError(code, { syscall: 'rename', path: pathToString(a), dest: pathToString(b) });
    if (src === 'file' && dst === 'directory') throw err('EISDIR');
    if (src === 'directory') {
      if (to.startsWith(from + '/')) throw err('EINVAL');
      if (dst === 'file') throw err('ENOTDIR');
      if (dst === 'directory' && base.readdirSync(to).length > 0) throw err('ENOTEMPTY');
    }
  };

  const unlinkCheck = (p: unknown): void => {
    if (kind(posix.resolve(pathToString(p))) === 'directory')
      throw fsError('EISDIR', { syscall: 'unlink', path: pathToString(p) });
  };

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    const impl = (base.promises[name] as AnyFn).bind(base.promises);
    promises[name] = async (...args: unknown[]) => {
      trailingSlash(args[0], name === 'readdir' ? 'scandir' : name.toLowerCase());
      switch (name) {
        case 'mkdir':
          if (isRecursive(args[1])) {
            const { first } = mkdirRecursive(pathToString(args[0]));
            if (first === undefined) return undefined;
            await impl(...args);
            return first;
          }
          break;
        case 'unlink':
          unlinkCheck(args[0]);
          break;
        case 'rename':
          renameCheck(args[0], args[1]);
          break;
        case 'mkdtemp':
          try {
            return await impl(...args);
          } catch (err) {
            const prefix = pathToString(args[0]);
            const ep = (err as { path?: unknown }).path;
            // node names the attempted path (prefix + six characters); memfs names something else.
            const path = typeof ep === 'string' && ep.startsWith(prefix) ? ep : prefix + 'XXXXXX';
            throw toFsError(err, { syscall: 'mkdtemp', path });
          }
      }
      return impl(...args);
    };
  }

  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const impl = (base[name] as AnyFn).bind(base);
    const op = name.slice(0, -4);
    sync[name] = (...args: unknown[]) => {
      if (name !== 'existsSync') trailingSlash(args[0], op === 'readdir' ? 'scandir' : op.toLowerCase());
      switch (name) {
        case 'mkdirSync':
          if (isRecursive(args[1])) {
            const { first } = mkdirRecursive(pathToString(args[0]));
            if (first === undefined) return undefined;
            impl(...args);
            return first;
          }
          break;
        case 'unlinkSync':
          unlinkCheck(args[0]);
          break;
        case 'renameSync':
          renameCheck(args[0], args[1]);
          break;
      }
      return impl(...args);
    };
  }

  const streams = {
    createReadStream(p: unknown, opts?: unknown) {
      const path = typeof p === 'string' ? p : undefined;
      if (path !== undefined && kind(posix.resolve(path)) === 'directory') {
        const r = new Readable({ read() {} });
        Object.assign(r, { path, bytesRead: 0, pending: true });
        process.nextTick(() => r.destroy(fsError('EISDIR', { syscall: 'read' })));
        return r;
      }
      return base.createReadStream(p as string, opts as never);
    },
    createWriteStream(p: unknown, opts?: unknown) {
      return base.createWriteStream(p as string, opts as never);
    },
  };

  return assembleFs({
    promises: promises as Record<(typeof PROMISE_METHODS)[number], AnyFn>,
    streams,
    sync: sync as Record<(typeof SYNC_METHODS)[number], AnyFn>,
  });
}

function isRecursive(opts: unknown): boolean {
  return typeof opts === 'object' && opts !== null && (opts as { recursive?: unknown }).recursive === true;
}
