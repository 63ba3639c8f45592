/**
 * Parents that exist when written into, as on an object store: wraps an fs so that a call that
 * creates an entry (a write, an append, `open` for writing, a copy's or rename's destination,
 * `mkdir`, `mkdtemp`, `createWriteStream`) first creates the missing directories above it, down to
 * `depth` segments below the fs root. Reads are untouched: a directory nobody wrote into is still
 * missing. Where an ancestor is a file, nothing is created and the call fails with node:fs's own
 * error.
 *
 * Used with depth 1 for the `mem://` volumes (a volume, like a bucket, exists once named), and
 * without a limit by `mountMemory` on object-store prefixes (code written for S3 never mkdirs).
 */
import { dirname } from 'node:path';
import { pathToString } from '../core/uri.js';
import { assembleFs, type AnyFn } from './assemble.js';
import { PROMISE_METHODS, SYNC_METHODS, type FsAdapter } from './types.js';

/** Methods that create their (first, or for two-path methods second) path argument. */
const CREATES = new Map<string, 0 | 1>([
  ['appendFile', 0],
  ['writeFile', 0],
  ['mkdir', 0],
  ['mkdtemp', 0],
  ['open', 0],
  ['copyFile', 1],
  ['rename', 1],
]);

/** `open` creates only with a writing flag. */
function writesFlag(flags: unknown): boolean {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === 'number') return (flags & 0o3) !== 0 || (flags & 0o100) !== 0;
  return /[wax+]/.test(String(flags));
}

export function createParentsOnWrite(fs: FsAdapter, depth = Infinity): FsAdapter {
  /** The directory to create for `p`, or undefined when there is none to create. */
  const parentOf = (input: unknown): string | undefined => {
    let p: string;
    try {
      p = pathToString(input);
    } catch {
      return undefined; // a bad argument: the call itself reports it
    }
    if (p.includes('\0') || !p.startsWith('/')) return undefined;
    const segments = dirname(p)
      .split('/')
      .filter((s) => s !== '');
    const keep = segments.slice(0, depth);
    return keep.length ? `/${keep.join('/')}` : undefined;
  };
  const wanted = (name: string, args: unknown[]): string | undefined => {
    const at = CREATES.get(name);
    if (at === undefined) return undefined;
    if (name === 'open' && !writesFlag(args[1])) return undefined;
    return parentOf(args[at]);
  };
  // An ancestor that is a file makes mkdir fail: the call then fails with node:fs's own error.
  const ensureAsync = async (dir: string | undefined): Promise<void> => {
    if (dir) await fs.promises.mkdir(dir, { recursive: true }).catch(() => undefined);
  };
  const ensureSync = (dir: string | undefined): void => {
    if (!dir) return;
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch {
      // as above
    }
  };

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    const impl = (fs.promises[name] as AnyFn).bind(fs.promises);
    promises[name] = async (...args: unknown[]) => {
      await ensureAsync(wanted(name, args));
      return impl(...args);
    };
  }
  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const impl = (fs[name] as AnyFn).bind(fs);
    const base = name.slice(0, -'Sync'.length);
    sync[name] = (...args: unknown[]) => {
      ensureSync(wanted(base, args));
      return impl(...args);
    };
  }
  const createWriteStream = fs.createWriteStream.bind(fs) as AnyFn;
  return assembleFs({
    promises: promises as Record<(typeof PROMISE_METHODS)[number], AnyFn>,
    streams: {
      createReadStream: fs.createReadStream.bind(fs) as AnyFn,
      createWriteStream: (p: unknown, ...rest: unknown[]) => {
        ensureSync(parentOf(p));
        return createWriteStream(p, ...rest);
      },
    },
    sync: sync as Record<(typeof SYNC_METHODS)[number], AnyFn>,
  });
}
