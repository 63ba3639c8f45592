/**
 * Confines an fs to a root directory through symlinks: before every call, the deepest existing
 * ancestor of each path is resolved with `realpath` and must lie inside the root's real path
 * (compared by segments). A symlink inside a store that points outside it is refused with
 * ERR_PATH_OUTSIDE_ROOT, like a `../` path. Used by the local flavor, where symlinks exist.
 */
import { basename, dirname, join, sep } from 'node:path';
import { errorCode } from '../core/errors.js';
import { outsideRoot, pathToString } from '../core/uri.js';
import { assembleFs, type AnyFn } from './assemble.js';
import { PROMISE_METHODS, SYNC_METHODS, TWO_PATH_METHODS, type FsAdapter } from './types.js';

function within(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

export function confineToRoot(fs: FsAdapter, root: string): FsAdapter {
  /** The real path of `p`: its deepest existing ancestor resolved, the missing rest appended. */
  const realOf = (p: string): string => {
    let cur = p;
    let rest = '';
    for (;;) {
      try {
        const real = fs.realpathSync(cur);
        return rest ? join(real, rest) : real;
      } catch (err) {
        const code = errorCode(err);
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
        const up = dirname(cur);
        if (up === cur) return p;
        rest = rest ? join(basename(cur), rest) : basename(cur);
        cur = up;
      }
    }
  };
  const check = (input: unknown): void => {
    if (typeof input !== 'string' && !(input instanceof URL) && !(input instanceof Uint8Array)) return;
    const p = pathToString(input);
    if (p.includes('\0')) return; // the fs itself rejects it with Node's error
    if (!within(realOf(root), realOf(p))) throw outsideRoot(p, root);
  };
  const guard = (name: string, impl: AnyFn): AnyFn =>
    TWO_PATH_METHODS.has(name)
      ? (a: unknown, b: unknown, ...rest: unknown[]) => {
          check(a);
          check(b);
          return impl(a, b, ...rest);
        }
      : (a: unknown, ...rest: unknown[]) => {
          check(a);
          return impl(a, ...rest);
        };

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    const impl = (fs.promises[name] as AnyFn).bind(fs.promises);
    const guarded = guard(name, impl);
    promises[name] = async (...args: unknown[]) => guarded(...args);
  }
  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const impl = (fs[name] as AnyFn).bind(fs);
    sync[name] =
      name === 'existsSync'
        ? (p: unknown) => {
            try {
              check(p);
            } catch {
              return false;
            }
            return impl(p);
          }
        : guard(name.slice(0, -4), impl);
  }
  return assembleFs({
    promises: promises as Record<(typeof PROMISE_METHODS)[number], AnyFn>,
    streams: {
      createReadStream: guard('createReadStream', fs.createReadStream.bind(fs) as AnyFn),
      createWriteStream: guard('createWriteStream', fs.createWriteStream.bind(fs) as AnyFn),
    },
    sync: sync as Record<(typeof SYNC_METHODS)[number], AnyFn>,
  });
}
