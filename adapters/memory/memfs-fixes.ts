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
 * - `createReadStream` of a directory emits EISDIR (memfs ends the stream without data);
 * - symlinks: `rm` of a link removes the link (memfs removed what it points to, a whole directory
 *   with `recursive`), `rename` of a link moves the link (memfs moved its target), `unlink` of a
 *   link to a directory removes the link, and `mkdir`, `mkdtemp` and `rename` follow a link in a
 *   parent directory (memfs: ENOTDIR).
 */
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { fsError, toFsError } from '../../src/core/errors.js';
import { pathToString } from '../../src/core/uri.js';
import { assembleFs, type AnyFn } from '../../src/fs/assemble.js';
import { PROMISE_METHODS, SYNC_METHODS, type FsAdapter, type NodeFs } from '../../src/fs/types.js';

type Kind = 'file' | 'directory' | 'link' | undefined;

/** memfs's own fs: an FsAdapter with the link calls these fixes use. */
export type MemfsBase = FsAdapter & Pick<NodeFs, 'readlinkSync' | 'symlinkSync'>;

export function fixMemfs(base: MemfsBase): FsAdapter {
  /** What `p` is, links followed (`lstat`: the link itself, as `rm`, `unlink` and `rename` see it). */
  const kind = (p: string, lstat = false): Kind => {
    try {
      const st = lstat ? base.lstatSync(p) : base.statSync(p);
      return st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'directory' : 'file';
    } catch {
      return undefined;
    }
  };

  /** `p` with its parent directory's links resolved: memfs's mkdir and rename follow none there. */
  const viaParent = (p: unknown): unknown => {
    if (typeof p !== 'string') return p;
    const abs = posix.resolve(p);
    try {
      return (
        posix.join(base.realpathSync(posix.dirname(abs)), posix.basename(abs)) + (p.endsWith('/') ? '/' : '')
      );
    } catch {
      return p; // a missing parent: the call reports it
    }
  };

  /** node's `rm` of a link (without a trailing slash, which follows it) unlinks the link. */
  const rmLink = (p: unknown): boolean => {
    if (typeof p !== 'string' || p.endsWith('/') || kind(p, true) !== 'link') return false;
    base.unlinkSync(p);
    return true;
  };

  /** node's `rename` of a link moves the link: done here as symlink + unlink (memfs is synchronous). */
  const renameLink = (a: unknown, b: unknown): boolean => {
    if (typeof a !== 'string' || typeof b !== 'string' || kind(a, true) !== 'link') return false;
    if (posix.resolve(a) === posix.resolve(b)) return true;
    const dst = kind(b, true);
    if (dst === 'directory') throw fsError('EISDIR', { syscall: 'rename', path: a, dest: b });
    const target = base.readlinkSync(a);
    try {
      if (dst !== undefined) base.unlinkSync(b); // its parent exists, so the symlink cannot fail
      base.symlinkSync(target, b);
    } catch (err) {
      throw toFsError(err, { syscall: 'rename', path: a, dest: b });
    }
    base.unlinkSync(a);
    return true;
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
    const src = kind(from, true);
    if (!src || from === to) return;
    const dst = kind(to, true);
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
    if (kind(posix.resolve(pathToString(p)), true) === 'directory')
      throw fsError('EISDIR', { syscall: 'unlink', path: pathToString(p) });
  };

  /** One call with the fixes around it; `invoke` is memfs's promise or sync method (both are fixed alike). */
  const fixed = (op: string, args: unknown[], invoke: AnyFn): unknown => {
    if (op !== 'exists') trailingSlash(args[0], op === 'readdir' ? 'scandir' : op.toLowerCase());
    // Errors of a call made on rewritten paths name the caller's.
    const named = (err: unknown): never => {
      throw toFsError(err, {
        path: pathToString(args[0]),
        dest: op === 'rename' ? pathToString(args[1]) : undefined,
      });
    };
    switch (op) {
      case 'mkdir': {
        const call = [viaParent(args[0]), ...args.slice(1)];
        if (!isRecursive(args[1]))
          return settle(
            () => invoke(...call),
            () => undefined,
            named,
          );
        const { first } = mkdirRecursive(pathToString(args[0]));
        if (first === undefined) return undefined;
        return settle(
          () => invoke(...call),
          () => first,
          named,
        );
      }
      case 'unlink':
        unlinkCheck(args[0]);
        break;
      case 'rm':
        if (rmLink(args[0])) return undefined;
        break;
      case 'rename': {
        const [from, to] = [viaParent(args[0]), viaParent(args[1])];
        try {
          renameCheck(from, to);
          if (renameLink(from, to)) return undefined;
        } catch (err) {
          named(err);
        }
        return settle(
          () => invoke(from, to),
          (v) => v,
          named,
        );
      }
      case 'mkdtemp': {
        const prefix = pathToString(args[0]);
        const real = viaParent(prefix) as string;
        return settle(
          () => invoke(real, ...args.slice(1)),
          // The created directory under the caller's spelling of its parent.
          (made) => (typeof made === 'string' ? prefix + made.slice(real.length) : made),
          (err) => {
            const ep = (err as { path?: unknown }).path;
            // node names the attempted path (prefix + six characters); memfs names something else.
            const path =
              typeof ep === 'string' && ep.startsWith(real)
                ? prefix + ep.slice(real.length)
                : prefix + 'XXXXXX';
            throw toFsError(err, { syscall: 'mkdtemp', path });
          },
        );
      }
    }
    return invoke(...args);
  };

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    const impl = (base.promises[name] as AnyFn).bind(base.promises);
    promises[name] = async (...args: unknown[]) => fixed(name, args, impl);
  }
  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const impl = (base[name] as AnyFn).bind(base);
    sync[name] = (...args: unknown[]) => fixed(name.slice(0, -4), args, impl);
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

/** `ok(result)` of a call that returns a value or a promise of one; `fail` sees what it throws. */
function settle(run: () => unknown, ok: (v: unknown) => unknown, fail: (err: unknown) => never): unknown {
  let v: unknown;
  try {
    v = run();
  } catch (err) {
    return fail(err);
  }
  return v instanceof Promise ? v.then(ok, fail) : ok(v);
}
