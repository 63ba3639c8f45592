/**
 * Confines an fs to a root directory through symlinks. Before every call each path is resolved the
 * way the kernel would resolve it — component by component with `lstat`, following `readlink`
 * chains (relative targets from the link's own directory, absolute ones from `/`, at most 40 hops as
 * on Linux, ELOOP beyond) — and the result must lie inside the root's resolved path, compared by
 * segments (`/tmp/root-evil` is not inside `/tmp/root`). A missing component ends the resolution:
 * the rest is appended as written, so a *dangling* link is judged by the path it would create.
 *
 * Which links are followed is node:fs's rule: every component but the last always; the last only
 * for calls that follow it (open, readFile, writeFile, stat, readdir, copyFile, …), not for calls
 * that act on a link itself (lstat, unlink, rm, rmdir, rename, mkdir, mkdtemp) — so `rm` of a link
 * to outside removes the link, as node:fs does. A trailing slash follows the last link too (POSIX).
 *
 * The limit (time of check to time of use): the check and the call are two steps, and Node has no
 * `openat2(RESOLVE_BENEATH)`. Someone who can write inside the root concurrently can swap a
 * directory for a link between them. With `noFollow`, calls that open a file whose last component
 * was not a link at check time add O_NOFOLLOW, so swapping *that* component is ELOOP instead of an
 * escape; a swapped parent directory is not caught. Used by the local and memory flavors.
 */
import { constants } from 'node:fs';
import { isAbsolute, parse, sep } from 'node:path';
import { errorCode, fsError } from '../core/errors.js';
import { outsideRoot, pathToString } from '../core/uri.js';
import { assembleFs, type AnyFn } from './assemble.js';
import { PROMISE_METHODS, SYNC_METHODS, TWO_PATH_METHODS, type FsAdapter, type NodeFs } from './types.js';

/** What resolving links reads: node:fs has both, and so does a memfs Volume. */
export type LinkReader = Pick<NodeFs, 'lstatSync' | 'readlinkSync'>;

export interface ConfineOptions {
  /** Where links are read (default: `fs` itself, which must then have `readlinkSync`). */
  links?: LinkReader;
  /** Add O_NOFOLLOW where a file is opened (node:fs; see the limit above). Default false. */
  noFollow?: boolean;
  /** The root as the store's users name it (`mem://vol`), for error messages. Default `root`. */
  shownRoot?: string;
}

/** Linux's MAXSYMLINKS: more links than this in one resolution is ELOOP. */
const MAX_LINKS = 40;

/** Calls that act on the last component itself, never on what a link there points to. */
const ON_LINK = new Set(['lstat', 'unlink', 'rm', 'rmdir', 'rename', 'mkdir', 'mkdtemp']);

/** Where the flags of the calls that open a file stand: argument index, option key, default. */
const OPENS: Record<string, { at: number; key: 'flag' | 'flags'; flags: string }> = {
  open: { at: 1, key: 'flag', flags: 'r' },
  readFile: { at: 1, key: 'flag', flags: 'r' },
  writeFile: { at: 2, key: 'flag', flags: 'w' },
  appendFile: { at: 2, key: 'flag', flags: 'a' },
  createReadStream: { at: 1, key: 'flags', flags: 'r' },
  createWriteStream: { at: 1, key: 'flags', flags: 'w' },
};

/** node's string flags as numbers (its own table is internal), so that O_NOFOLLOW can be added. */
function flagBits(flags: string): number | undefined {
  const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_EXCL, O_SYNC } = constants;
  const m = /^(?:(r)|(w)|(a))(s?)(x?)(\+?)$/.exec(flags.replace(/^([sx])([rwa])/, '$2$1'));
  if (!m || (m[1] && m[5]) || (m[2] && m[4])) return undefined;
  const access = m[6] ? O_RDWR : m[1] ? O_RDONLY : O_WRONLY;
  const create = m[2] ? O_CREAT | O_TRUNC : m[3] ? O_CREAT | O_APPEND : 0;
  return access | create | (m[4] ? O_SYNC : 0) | (m[5] ? O_EXCL : 0);
}

/** `args` with O_NOFOLLOW added to the flags of an opening call; unchanged when they are unknown. */
function addNoFollow(name: string, args: unknown[]): unknown[] {
  const where = OPENS[name];
  if (!where) return args;
  const given = args[where.at];
  const options =
    typeof given === 'object' && given !== null ? (given as Record<string, unknown>) : undefined;
  const current = name === 'open' ? (given ?? where.flags) : (options?.[where.key] ?? where.flags);
  const bits =
    typeof current === 'number' ? current : typeof current === 'string' ? flagBits(current) : undefined;
  if (bits === undefined) return args; // node refuses it with its own error
  const flags = bits | constants.O_NOFOLLOW;
  const out = [...args];
  if (name === 'open') out[where.at] = flags;
  else if (typeof given === 'string') out[where.at] = { encoding: given, [where.key]: flags };
  else out[where.at] = { ...options, [where.key]: flags };
  return out;
}

/** A path's segments as written (`.` kept: `link/.` and `link/` follow `link`, as in POSIX). */
function splitPath(p: string): string[] {
  const parts = p.split(sep === '\\' ? /[\\/]/ : '/');
  if (parts.at(-1) === '') parts.push('.'); // a trailing slash
  return parts.filter((s) => s !== '');
}

/** The lexical segments: what containment compares. */
function segmentsOf(p: string): string[] {
  return splitPath(p).filter((s) => s !== '.');
}

/** What a resolution found. */
interface Resolution {
  /** The resolved path's segments (no links left among the components that exist). */
  segments: string[];
  /** The caller's last component was a link (and was followed). */
  lastIsLink: boolean;
}

/**
 * Resolves `p` as the kernel would, reading links through `links`. `followLast`: whether a link in
 * the last place is followed. A missing component (or one below a file) stops the walk: the rest is
 * appended as written, `..` applied to it lexically (the call itself will then fail or create it).
 */
export function resolveLinks(
  links: LinkReader,
  p: string,
  followLast: boolean,
  syscall?: string,
): Resolution {
  const abs = isAbsolute(p) ? p : process.cwd() + sep + p;
  const top = parse(abs).root;
  const done: string[] = [];
  const todo = splitPath(abs.slice(top.length)).reverse(); // a stack: the next segment last
  let hops = 0;
  let missing = false;
  let lastIsLink = false;
  let ours = true; // still walking toward the caller's own last component, not a link's target
  while (todo.length > 0) {
    const seg = todo.pop()!;
    if (seg === '.') continue;
    if (seg === '..') {
      done.pop();
      continue;
    }
    const last = todo.length === 0;
    if (missing || (last && !followLast)) {
      done.push(seg);
      continue;
    }
    const here = top + [...done, seg].join(sep);
    let target: string | undefined;
    try {
      if (links.lstatSync(here).isSymbolicLink()) target = String(links.readlinkSync(here));
    } catch (err) {
      const code = errorCode(err);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      missing = true;
    }
    if (target === undefined) {
      done.push(seg);
      continue;
    }
    if (last && ours) lastIsLink = true;
    if (last) ours = false;
    if (++hops > MAX_LINKS) throw fsError('ELOOP', { syscall, path: p });
    if (isAbsolute(target)) done.length = 0;
    todo.push(...splitPath(target.slice(parse(target).root.length)).reverse());
  }
  return { segments: [top, ...done], lastIsLink };
}

function inside(root: string[], p: string[]): boolean {
  return p.length >= root.length && root.every((s, i) => p[i] === s);
}

export function confineToRoot(fs: FsAdapter, root: string, options: ConfineOptions = {}): FsAdapter {
  const links = (options.links ?? fs) as Partial<LinkReader>;
  if (typeof links.readlinkSync !== 'function' || typeof links.lstatSync !== 'function')
    throw new TypeError('confineToRoot needs lstatSync and readlinkSync (options.links)');
  const reader = links as LinkReader;
  const shownRoot = options.shownRoot ?? root;
  const rootSegments = segmentsOf(root);
  /** The caller's name for an adapter path: the store's root in place of the adapter's. */
  const shown = (p: string): string => {
    const segs = segmentsOf(p);
    if (shownRoot === root || !isAbsolute(p) || !inside(rootSegments, segs)) return p;
    return [shownRoot, ...segs.slice(rootSegments.length)].join('/');
  };
  const show = (input: unknown): string | undefined =>
    typeof input === 'string' || input instanceof URL || input instanceof Uint8Array
      ? shown(pathToString(input))
      : undefined;
  /** `/a/b` of resolved segments. */
  const joined = (segs: string[]): string => segs[0] + segs.slice(1).join(sep);

  /**
   * Throws ERR_PATH_OUTSIDE_ROOT unless `input` resolves inside the root; returns whether an
   * O_NOFOLLOW open is safe (the last component is no link). Non-paths (fds, handles) pass.
   */
  const check = (input: unknown, name: string): boolean => {
    if (typeof input !== 'string' && !(input instanceof URL) && !(input instanceof Uint8Array)) return false;
    const p = pathToString(input);
    if (p.includes('\0')) return false; // the fs itself rejects it with Node's error
    const followLast = !ON_LINK.has(name);
    // The root is resolved on every call: it may itself sit behind links that change.
    const real = resolveLinks(reader, root, true, name).segments;
    const got = resolveLinks(reader, p, followLast, name);
    if (!inside(real, got.segments)) {
      const err = outsideRoot(shown(p), shownRoot);
      // A path that names a place inside the root got out through a link: say where it led.
      if (isAbsolute(p) && inside(rootSegments, segmentsOf(p)))
        err.message += ` (a symbolic link leads to '${joined(got.segments)}')`;
      throw err;
    }
    return !got.lastIsLink;
  };

  const guard = (name: string, impl: AnyFn): AnyFn => {
    const twoPaths = TWO_PATH_METHODS.has(name);
    const op = name.endsWith('Sync') ? name.slice(0, -4) : name;
    return (...args: unknown[]) => {
      const plain = check(args[0], op);
      if (twoPaths) {
        try {
          check(args[1], op);
        } catch (err) {
          // The message names the destination; `path` stays the source, as in node's two-path errors.
          throw Object.assign(err as Error, { path: show(args[0]), dest: show(args[1]) });
        }
      }
      return impl(...(plain && options.noFollow && constants.O_NOFOLLOW ? addNoFollow(op, args) : args));
    };
  };

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    const guarded = guard(name, (fs.promises[name] as AnyFn).bind(fs.promises));
    promises[name] = async (...args: unknown[]) => guarded(...args);
  }
  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const impl = (fs[name] as AnyFn).bind(fs);
    sync[name] =
      name === 'existsSync'
        ? (p: unknown) => {
            try {
              check(p, 'stat');
            } catch {
              return false;
            }
            return impl(p);
          }
        : guard(name, impl);
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
