/**
 * The scheme-routed mount table. Mount points are normalised URI prefixes (`s3://bucket/prefix`,
 * `mem://`, `file:///`) or plain path prefixes (`/mnt/models`); every call goes to the mount with
 * the longest matching prefix, compared by segments. The table is itself an FsAdapter (`table.fs`),
 * so it can stand in for `node:fs` in scripts and libraries.
 *
 * Behaviour:
 * - Mounting the same prefix twice throws EEXIST; two mounts of one scheme (different buckets,
 *   prefixes or credentials) coexist.
 * - Errors name the path exactly as the caller passed it (URI, plain path, or a `path.join`ed URI).
 * - Paths the fs returns (mkdir's first created dir, realpath, mkdtemp, Dirent.parentPath) are in the
 *   caller's namespace, never the adapter's.
 * - copyFile across mounts streams with bounded memory; onto a mount that writes in place it goes
 *   through a hidden sibling renamed into place, so a failed copy never tears the destination.
 *   rename across mounts is EXDEV.
 * - A path no mount serves is ENODEV, with a hint naming the scheme.
 */
import type { Readable, Writable } from 'node:stream';
import { constants, ReadStream, WriteStream } from 'node:fs';
import type { FsError } from '../core/errors.js';
import { errorCode, fsError, toFsError } from '../core/errors.js';
import { formatLocation, parseLocation, pathToString, type Location } from '../core/uri.js';
import { assembleFs, type AnyFn } from '../fs/assemble.js';
import { CALLBACK_METHODS, PROMISE_METHODS, SYNC_METHODS, type FsAdapter } from '../fs/types.js';
import { copyByHandles, copyIntoStream } from './handle-copy.js';
import { writeThroughTemp } from './temp-write.js';

export interface MountOptions {
  /**
   * The path inside the adapter that the mount point maps to (default `/`). E.g. mounting node:fs
   * at `file:///data` with root `/srv/data`, or a shared memory volume at `mem://x` with root `/x`.
   */
  root?: string;
}

export interface MountInfo {
  /** The normalised mount point, e.g. `s3://bucket/prefix` or `/mnt/models`. */
  prefix: string;
  /** Where it points: the adapter root, or the aliased URI. */
  target: string;
  adapter?: FsAdapter | undefined;
}

interface Mount {
  prefix: Location;
  text: string;
  adapter?: FsAdapter | undefined;
  root: string[];
  alias?: Location | undefined;
}

export interface Resolved {
  mount: Mount & { adapter: FsAdapter };
  /** The path to hand the adapter. */
  adapterPath: string;
  /** The caller's input as a string (for error messages). */
  display: string;
  /** The first mount's prefix in the caller's namespace (for mapping returned paths back). */
  userPrefix: Location;
  /**
   * Returned paths map back through these: an adapter path under `adapterAnchor` (segments) is
   * `userAnchor` plus the segments below it. The anchors are the caller's path and the adapter path
   * minus the trailing segments that every mount and alias hop passed through unchanged.
   */
  adapterAnchor: string[];
  userAnchor: Location;
}

const MAX_ALIAS_DEPTH = 8;

export class MountTable {
  readonly #mounts = new Map<string, Mount[]>();
  /** The routing fs: a drop-in `node:fs` replacement over this table. */
  readonly fs: FsAdapter;

  constructor() {
    this.fs = createRoutingFs(this);
  }

  /** Mounts an adapter (or aliases another URI) at a prefix. Throws EEXIST if already mounted. */
  mount(prefix: string, target: FsAdapter | string, options: MountOptions = {}): void {
    const loc = parseLocation(prefix, { syscall: 'mount', schemeOnly: true });
    const text = formatLocation(loc, { trailingSlash: false });
    const list = this.#mounts.get(loc.scheme) ?? [];
    if (list.some((m) => sameSegments(m.prefix, loc)))
      throw fsError('EEXIST', { syscall: 'mount', path: prefix });
    const mount: Mount =
      typeof target === 'string'
        ? {
            prefix: loc,
            text,
            root: [],
            alias: parseLocation(target, { syscall: 'mount', schemeOnly: true }),
          }
        : { prefix: loc, text, adapter: target, root: splitRoot(options.root ?? '/') };
    list.push(mount);
    list.sort((a, b) => b.prefix.segments.length - a.prefix.segments.length);
    this.#mounts.set(loc.scheme, list);
  }

  /** Removes a mount; returns false when nothing was mounted there. */
  unmount(prefix: string): boolean {
    const loc = parseLocation(prefix, { syscall: 'umount', schemeOnly: true });
    const list = this.#mounts.get(loc.scheme);
    const i = list?.findIndex((m) => sameSegments(m.prefix, loc)) ?? -1;
    if (!list || i < 0) return false;
    list.splice(i, 1);
    return true;
  }

  isMounted(prefix: string): boolean {
    const loc = parseLocation(prefix, { schemeOnly: true });
    return this.#mounts.get(loc.scheme)?.some((m) => sameSegments(m.prefix, loc)) ?? false;
  }

  list(): MountInfo[] {
    return [...this.#mounts.values()].flat().map((m) => ({
      prefix: m.text,
      target: m.alias ? formatLocation(m.alias) : '/' + m.root.join('/'),
      adapter: m.adapter,
    }));
  }

  /** Finds the adapter and adapter path for a path or URI. */
  resolve(input: unknown, syscall?: string): Resolved {
    const display = pathToString(input, syscall);
    const given = parseLocation(display, { syscall });
    let loc = given;
    let userPrefix: Location | undefined;
    // Trailing segments of the caller's path that reach the adapter unchanged.
    let keep = given.segments.length;
    for (let depth = 0; depth < MAX_ALIAS_DEPTH; depth++) {
      const mount = this.#find(loc);
      if (!mount) {
        throw fsError('ENODEV', {
          syscall,
          path: display,
          detail: `nothing is mounted for ${loc.scheme}:// paths (mount a flavor or a memory fs for it)`,
        });
      }
      userPrefix ??= mount.prefix;
      const rest = loc.segments.slice(mount.prefix.segments.length);
      keep = Math.min(keep, rest.length);
      if (mount.alias) {
        loc = {
          scheme: mount.alias.scheme,
          segments: [...mount.alias.segments, ...rest],
          trailingSlash: loc.trailingSlash,
        };
        continue;
      }
      const segs = [...mount.root, ...rest];
      const adapterPath = '/' + segs.join('/') + (loc.trailingSlash && segs.length > 0 ? '/' : '');
      return {
        mount: mount as Mount & { adapter: FsAdapter },
        adapterPath,
        display,
        userPrefix,
        adapterAnchor: segs.slice(0, segs.length - keep),
        userAnchor: {
          scheme: given.scheme,
          segments: given.segments.slice(0, given.segments.length - keep),
          trailingSlash: false,
        },
      };
    }
    throw fsError('ELOOP', { syscall, path: display, detail: 'too many levels of mount aliases' });
  }

  #find(loc: Location): Mount | undefined {
    const list = this.#mounts.get(loc.scheme);
    return list?.find((m) => m.prefix.segments.every((s, i) => loc.segments[i] === s));
  }
}

function splitRoot(root: string): string[] {
  return root.split('/').filter((s) => s !== '' && s !== '.');
}

function sameSegments(a: Location, b: Location): boolean {
  return (
    a.scheme === b.scheme &&
    a.segments.length === b.segments.length &&
    a.segments.every((s, i) => b.segments[i] === s)
  );
}

/** Maps a path the adapter returned back into the caller's namespace. */
function toUserPath(r: Resolved, adapterPath: string): string {
  const segs = splitRoot(adapterPath);
  const anchor = r.adapterAnchor;
  if (segs.length >= anchor.length && anchor.every((s, i) => segs[i] === s)) {
    // Through aliases the first mount's prefix is not the adapter root's image: map via the anchors.
    return formatLocation({
      scheme: r.userAnchor.scheme,
      segments: [...r.userAnchor.segments, ...segs.slice(anchor.length)],
      trailingSlash: false,
    });
  }
  const root = r.mount.root;
  const rest = root.every((s, i) => segs[i] === s) ? segs.slice(root.length) : segs;
  return formatLocation({
    scheme: r.userPrefix.scheme,
    segments: [...r.userPrefix.segments, ...rest],
    trailingSlash: false,
  });
}

function stripSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** Re-labels a Dirent's parentPath from the adapter's namespace to the caller's. */
function relabelDirent(d: unknown, r: Resolved): void {
  if (typeof d !== 'object' || d === null || !('parentPath' in d)) return;
  const entry = d as { parentPath: string; path?: string };
  const base = stripSlash(r.adapterPath);
  let parent = stripSlash(r.display);
  if (entry.parentPath !== base && entry.parentPath.startsWith(base === '/' ? '/' : base + '/')) {
    parent += '/' + entry.parentPath.slice(base === '/' ? 1 : base.length + 1);
  }
  try {
    entry.parentPath = parent;
    if ('path' in entry) entry.path = parent;
  } catch {
    // a frozen Dirent keeps its adapter path
  }
}

/**
 * Whether writes to this adapter become visible only when they complete: adapters derived from a
 * Backend (`createFsAdapter`, which exposes its `backend`) commit on close. Any other adapter is
 * assumed to write in place.
 */
function commitsOnClose(fs: FsAdapter): boolean {
  const backend = (fs as { backend?: unknown }).backend;
  return typeof backend === 'object' && backend !== null;
}

function isHandle(p: unknown): p is Record<string, AnyFn> {
  return (
    typeof p === 'object' && p !== null && !(p instanceof URL) && !ArrayBuffer.isView(p) && 'readFile' in p
  );
}

/** Makes stream errors name the caller's path (patched at the source: every listener sees it). */
function relabelStream<S extends Readable | Writable>(stream: S, display: string): S {
  const emit = stream.emit.bind(stream) as (event: string | symbol, ...args: unknown[]) => boolean;
  (stream as unknown as { emit: AnyFn }).emit = (event: string | symbol, ...args: unknown[]) => {
    if (event === 'error' && args[0] && !(args[0] as FsError).code?.startsWith?.('ERR_STREAM')) {
      args[0] = toFsError(args[0], { path: display, syscall: (args[0] as FsError).syscall });
    }
    return emit(event, ...args);
  };
  const relabel = (): void => {
    try {
      (stream as unknown as { path: string }).path = display;
    } catch {
      // read-only path property: leave it
    }
  };
  // node:fs streams open `this.path` on the next tick: relabel those once the file is open, or the
  // adapter would be asked to open the caller's name (`mirror://b/x/…`) instead of its own path.
  // Derived adapters' streams never read `path` back, so they carry the caller's name at once.
  const nodeFsStream = stream instanceof ReadStream || stream instanceof WriteStream;
  if (nodeFsStream && (stream as unknown as { pending?: boolean }).pending === true)
    (stream as Readable | Writable).once('open', relabel);
  else relabel();
  return stream;
}

function createRoutingFs(table: MountTable): FsAdapter {
  const rewrite = (err: unknown, syscall: string, path?: string, dest?: string): FsError =>
    toFsError(err, { syscall: (err as FsError)?.syscall ?? syscall, path, dest });

  const promises: Record<string, AnyFn> = {};
  for (const name of PROMISE_METHODS) {
    if (name === 'rename' || name === 'copyFile') continue;
    promises[name] = async (p: unknown, ...rest: unknown[]) => {
      if (isHandle(p) && (name === 'readFile' || name === 'writeFile' || name === 'appendFile')) {
        return p[name]!(...rest);
      }
      const r = table.resolve(p, name);
      const impl = r.mount.adapter.promises[name] as AnyFn;
      let out: unknown;
      try {
        out = await impl(r.adapterPath, ...rest);
      } catch (err) {
        if (name === 'mkdtemp') {
          // The error names the generated path (prefix + suffix): map it into the caller's namespace.
          const ep = (err as FsError)?.path;
          const base = stripSlash(r.adapterPath);
          const mapped =
            typeof ep === 'string' && ep.startsWith(base) ? r.display + ep.slice(base.length) : undefined;
          throw rewrite(err, name, mapped);
        }
        throw rewrite(err, name, r.display);
      }
      switch (name) {
        case 'mkdir':
          return typeof out === 'string' ? toUserPath(r, out) : out;
        case 'realpath':
        case 'mkdtemp':
          return typeof out === 'string' ? toUserPath(r, out) : out;
        case 'readdir':
          if (Array.isArray(out)) for (const d of out) relabelDirent(d, r);
          return out;
        default:
          return out;
      }
    };
  }

  promises.rename = async (a: unknown, b: unknown) => {
    const from = table.resolve(a, 'rename');
    const to = table.resolve(b, 'rename');
    if (from.mount.adapter !== to.mount.adapter) {
      throw fsError('EXDEV', { syscall: 'rename', path: from.display, dest: to.display });
    }
    try {
      await from.mount.adapter.promises.rename(from.adapterPath, to.adapterPath);
    } catch (err) {
      throw rewrite(err, 'rename', from.display, to.display);
    }
  };

  promises.copyFile = async (a: unknown, b: unknown, mode?: number) => {
    const from = table.resolve(a, 'copyfile');
    const to = table.resolve(b, 'copyfile');
    try {
      if (from.mount.adapter === to.mount.adapter) {
        return await from.mount.adapter.promises.copyFile(from.adapterPath, to.adapterPath, mode);
      }
      await copyAcross(from, to, typeof mode === 'number' && (mode & constants.COPYFILE_EXCL) !== 0);
    } catch (err) {
      throw rewrite(err, 'copyfile', from.display, to.display);
    }
  };

  /**
   * Streams a file from one mount into another. On a mount that writes in place (local disk, memfs)
   * the bytes go to a hidden sibling that is renamed over the destination once complete, so a source
   * failing midway never leaves a torn destination. Object-store mounts commit on close already.
   */
  async function copyAcross(from: Resolved, to: Resolved, exclusive: boolean): Promise<void> {
    const dst = to.mount.adapter;
    // Into an object store: its write stream, which commits when it finishes (see handle-copy.ts).
    // A missing or directory source is found by opening it there (no extra request per copy).
    if (commitsOnClose(dst))
      return copyIntoStream(from.mount.adapter, from.adapterPath, dst, to.adapterPath, {
        flags: exclusive ? 'wx' : 'w',
      });
    const st = await from.mount.adapter.promises.stat(from.adapterPath);
    if (st.isDirectory()) throw fsError('EISDIR', { syscall: 'copyfile' });
    const existing = await dst.promises.stat(to.adapterPath).catch((err: unknown) => {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
      throw err;
    });
    if (existing && exclusive) throw fsError('EEXIST', { syscall: 'copyfile' });
    if (existing?.isDirectory()) throw fsError('EISDIR', { syscall: 'copyfile' });
    // In place: FileHandle reads and writes through two reused buffers (see handle-copy.ts).
    await writeThroughTemp(
      dst,
      to.adapterPath,
      (temp) => copyByHandles(from.mount.adapter, from.adapterPath, dst, temp),
      {
        exclusive,
        syscall: 'copyfile',
      },
    );
  }

  const sync: Record<string, AnyFn> = {};
  for (const name of SYNC_METHODS) {
    const base = name.slice(0, -4);
    sync[name] = (p: unknown, ...rest: unknown[]) => {
      if (name === 'existsSync') {
        let r: Resolved;
        try {
          r = table.resolve(p, 'access');
        } catch {
          return false;
        }
        try {
          return typeof r.mount.adapter.existsSync === 'function'
            ? r.mount.adapter.existsSync(r.adapterPath)
            : false;
        } catch (err) {
          // An adapter that cannot answer synchronously (object stores) says so rather than lying.
          if ((err as FsError).code === 'ENOTSUP') throw rewrite(err, 'existsSync', r.display);
          return false;
        }
      }
      const r = table.resolve(p, base);
      const impl = (r.mount.adapter as unknown as Record<string, AnyFn | undefined>)[name];
      if (name === 'renameSync' || name === 'copyFileSync') {
        const to = table.resolve(rest[0], base);
        if (to.mount.adapter !== r.mount.adapter) {
          if (name === 'renameSync')
            throw fsError('EXDEV', { syscall: 'rename', path: r.display, dest: to.display });
          throw fsError('ENOTSUP', {
            syscall: 'copyfile',
            path: r.display,
            dest: to.display,
            detail: 'copyFileSync across mounts is not supported; use fs.promises.copyFile',
          });
        }
        try {
          return impl!(r.adapterPath, to.adapterPath, ...rest.slice(1));
        } catch (err) {
          throw rewrite(err, base.toLowerCase(), r.display, to.display);
        }
      }
      if (typeof impl !== 'function') {
        throw fsError('ENOTSUP', {
          syscall: name,
          path: r.display,
          detail: `${name} is not supported here; use fs.promises.${base}`,
        });
      }
      try {
        const out = impl(r.adapterPath, ...rest);
        if (
          (name === 'mkdirSync' || name === 'realpathSync' || name === 'mkdtempSync') &&
          typeof out === 'string'
        ) {
          return toUserPath(r, out);
        }
        if (name === 'readdirSync' && Array.isArray(out)) for (const d of out) relabelDirent(d, r);
        return out;
      } catch (err) {
        throw rewrite(err, base, name === 'mkdtempSync' ? undefined : r.display);
      }
    };
  }

  const streams = {
    createReadStream(p: unknown, opts?: unknown) {
      const r = table.resolve(p, 'open');
      return relabelStream(r.mount.adapter.createReadStream(r.adapterPath, opts as never), r.display);
    },
    createWriteStream(p: unknown, opts?: unknown) {
      const r = table.resolve(p, 'open');
      return relabelStream(r.mount.adapter.createWriteStream(r.adapterPath, opts as never), r.display);
    },
  };

  // Callback twins come from assembleFs; make sure every promise method exists for them.
  for (const name of CALLBACK_METHODS) if (!promises[name]) throw new Error(`routing fs lacks ${name}`);

  return assembleFs({
    promises: promises as Record<(typeof PROMISE_METHODS)[number], AnyFn>,
    streams,
    sync: sync as Record<(typeof SYNC_METHODS)[number], AnyFn>,
  });
}
