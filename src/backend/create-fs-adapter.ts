/**
 * Derives a Node-fs-compatible adapter from any {@link Backend}, once, for every object store.
 *
 * Directory model on a flat key space:
 * - A directory exists when a marker object `dir/` exists or any key starts with `dir/`.
 * - mkdir writes markers for every level it creates, so removing a child never makes an explicitly
 *   created parent vanish; removing the last entry of a marker-less directory writes a marker for it
 *   (node:fs keeps the parent), where the backend stores markers.
 * - Files are only created inside existing directories (ENOENT otherwise), as in node:fs.
 * - If a key is both an object and a prefix (written by another tool), the object wins for
 *   stat/readdir entries; readdir of the name still lists the children.
 * Error codes follow node:fs on Linux (ENOENT, ENOTDIR, EISDIR, ENOTEMPTY, EEXIST, EINVAL).
 */
import { randomBytes } from 'node:crypto';
import { constants, type ReadStream, type WriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import type { FsError } from '../core/errors.js';
import { fsError, invalidPathError, rmDirectoryError, toFsError } from '../core/errors.js';
import { pathToString } from '../core/uri.js';
import { giveBack, requestLending } from '../core/lending-pool.js';
import { VfsDirent, VfsStats } from '../core/stats.js';
import { assembleFs, type AnyFn } from '../fs/assemble.js';
import type { FsAdapter } from '../fs/types.js';
import { compareKeys } from './memory-backend.js';
import type { Backend, ByteRange, ObjectMeta, ObjectWriter, WriteChunkOptions } from './types.js';

/** Chunks handed over to the writer (see {@link WriteChunkOptions.owned}). */
const OWNED: WriteChunkOptions = { owned: true };

export interface CreateFsAdapterOptions {
  /** Concurrency for multi-object operations (directory rename, tree copy). Default 8. */
  concurrency?: number;
  /**
   * A directory that always exists, as the bucket itself does: a store's root prefix
   * (`/ml` for a store at `s3://bucket/ml`). A fresh store is usable at once: its root is never
   * missing (`stat`, `readdir`, a write directly below it), needs no marker, and `rmdir`/`rename`
   * of it are EBUSY, as for a mount point.
   */
  root?: string;
}

/** A normalised adapter path: `key` has no leading or trailing `/`; `''` is the root. */
interface Target {
  key: string;
  display: string;
  slash: boolean;
}

type Kind =
  { kind: 'file'; meta: ObjectMeta } | { kind: 'directory'; meta?: ObjectMeta | undefined } | undefined;

/** Turns a Backend into an FsAdapter (promises, callbacks, streams, FileHandle; sync throws ENOTSUP). */
export function createFsAdapter(backend: Backend, options: CreateFsAdapterOptions = {}): FsAdapter {
  const concurrency = options.concurrency ?? 8;
  const caps = backend.capabilities;

  function target(p: unknown, syscall: string): Target {
    const display = pathToString(p, syscall);
    if (display.includes('\0')) throw invalidPathError(display, syscall);
    const segments: string[] = [];
    for (const seg of display.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (segments.length === 0)
          throw fsError('EINVAL', { detail: 'path escapes the root', syscall, path: display });
        segments.pop();
      } else segments.push(seg);
    }
    const key = segments.join('/');
    return { key, display, slash: display.endsWith('/') && key !== '' };
  }

  const rootKey = options.root === undefined ? '' : target(options.root, 'mount').key;
  /** The bucket root and the store's root: directories that exist without a marker. */
  const pinned = (key: string): boolean => key === '' || key === rootKey;
  const dirPrefix = (key: string): string => (key === '' ? '' : key + '/');
  const parentKey = (key: string): string => key.slice(0, Math.max(0, key.lastIndexOf('/')));
  const toDisplay = (key: string): string => '/' + key;

  async function firstUnder(prefix: string): Promise<ObjectMeta | undefined> {
    for await (const page of backend.list(prefix, { limit: 1, pageSize: 1 })) {
      if (page.objects[0]) return page.objects[0];
      if (page.prefixes[0]) return { key: page.prefixes[0], size: 0, mtime: new Date(0) };
    }
    return undefined;
  }

  async function kindOf(key: string): Promise<Kind> {
    if (pinned(key)) return { kind: 'directory' };
    const [meta, child] = await Promise.all([backend.stat(key), firstUnder(key + '/')]);
    if (meta) return { kind: 'file', meta };
    if (child) return { kind: 'directory', meta: child };
    return undefined;
  }

  async function isDir(key: string): Promise<boolean> {
    return pinned(key) || (await firstUnder(key + '/')) !== undefined;
  }

  /** The code node:fs gives for a missing path: ENOTDIR when an ancestor is a file, else ENOENT. */
  async function missing(key: string, syscall: string, display: string, dest?: string): Promise<FsError> {
    let k = parentKey(key);
    while (!pinned(k)) {
      if (await backend.stat(k)) return fsError('ENOTDIR', { syscall, path: display, dest });
      if (await isDir(k)) break;
      k = parentKey(k);
    }
    return fsError('ENOENT', { syscall, path: display, dest });
  }

  async function requireParent(key: string, syscall: string, display: string, dest?: string): Promise<void> {
    const parent = parentKey(key);
    if (pinned(parent)) return;
    if (!caps.directoryMarkers) {
      // Directories are implicit here: a write creates its parents, but never below a file.
      let k = parent;
      while (!pinned(k)) {
        if (await backend.stat(k)) throw fsError('ENOTDIR', { syscall, path: display, dest });
        k = parentKey(k);
      }
      return;
    }
    const k = await kindOf(parent);
    if (k?.kind === 'directory') return;
    if (k?.kind === 'file') throw fsError('ENOTDIR', { syscall, path: display, dest });
    throw await missing(parent, syscall, display, dest);
  }

  /** Keeps a directory in existence after its last entry is removed (node:fs semantics). */
  async function keepDir(key: string): Promise<void> {
    if (pinned(key) || !caps.directoryMarkers) return;
    if (!(await isDir(key))) await putMarker(key);
  }

  /** Writes `key/`; with `createOnly`, EEXIST if it exists (enforced where the server can). */
  async function putMarker(key: string, createOnly = false): Promise<void> {
    const w = await backend.write(key + '/', { sizeHint: 0, ifNoneMatch: createOnly });
    await w.close();
  }

  /** The objects under a prefix, one listing page at a time. */
  async function* objectsUnder(prefix: string): AsyncGenerator<ObjectMeta> {
    for await (const page of backend.list(prefix)) yield* page.objects;
  }

  /**
   * Deletes each object under `target` whose name relative to it is also under `reference`, with
   * the same size: "what a tree copy from one to the other produced". Both listings come sorted, so
   * they are merged a page at a time; nothing is collected beyond one delete batch. An object whose
   * counterpart is missing or differs (written meanwhile) is kept. With `keepRoot`, the `target`
   * marker itself stays.
   */
  async function deleteCounterparts(reference: string, target: string, keepRoot: boolean): Promise<void> {
    const ref = objectsUnder(reference);
    const tgt = objectsUnder(target);
    let batch: string[] = [];
    try {
      let r = await ref.next();
      let t = await tgt.next();
      while (!r.done && !t.done) {
        const order = compareKeys(r.value.key.slice(reference.length), t.value.key.slice(target.length));
        if (order < 0) r = await ref.next();
        else if (order > 0) t = await tgt.next();
        else {
          if (r.value.size === t.value.size && !(keepRoot && t.value.key === target)) {
            batch.push(t.value.key);
            if (batch.length >= caps.maxDeleteBatch) {
              await backend.delete(batch);
              batch = [];
            }
          }
          [r, t] = [await ref.next(), await tgt.next()];
        }
      }
      if (batch.length > 0) await backend.delete(batch);
    } finally {
      await Promise.all([ref.return(undefined), tgt.return(undefined)]);
    }
  }

  // ---- shared read/write paths ---------------------------------------------------------------

  /** Opens a ranged reader, with node:fs error codes for directories and missing paths. */
  async function openReader(t: Target, range: ByteRange | undefined, syscall: string): Promise<Readable> {
    if (pinned(t.key)) throw fsError('EISDIR', { syscall: 'read', path: t.display });
    try {
      // A read from byte 0 to the end is a whole-object read: backends verify those end to end.
      const whole = range && range.start === 0 && range.end === undefined;
      const stream = await backend.read(t.key, whole ? undefined : range);
      if (t.slash) {
        stream.destroy();
        throw fsError('ENOTDIR', { syscall, path: t.display });
      }
      return stream;
    } catch (err) {
      if ((err as FsError).code !== 'ENOENT') throw err;
      if (await isDir(t.key)) throw fsError('EISDIR', { syscall: 'read', path: t.display });
      throw await missing(t.key, syscall, t.display);
    }
  }

  interface WriterFlags {
    exclusive: boolean;
    append: boolean;
  }

  function parseWriteFlags(flags: unknown, syscall: string, display: string): WriterFlags {
    const f = typeof flags === 'number' ? numericFlags(flags) : String(flags ?? 'w');
    if (f.includes('+') || f.startsWith('r')) {
      throw fsError('ENOTSUP', {
        syscall,
        path: display,
        detail: `flag '${f}' needs in-place updates, which object stores do not have; write a new object with 'w' instead`,
      });
    }
    return { exclusive: f.includes('x'), append: f.startsWith('a') };
  }

  /** Every write (writeFile, appendFile, open 'w'/'a'/'wx', createWriteStream) starts here. */
  async function openWriter(
    t: Target,
    flags: WriterFlags,
    syscall: string,
    sizeHint?: number,
  ): Promise<ObjectWriter> {
    if (pinned(t.key) || t.slash) throw fsError('EISDIR', { syscall, path: t.display });
    const [existing, dir] = await Promise.all([
      backend.stat(t.key),
      isDir(t.key),
      requireParent(t.key, syscall, t.display),
    ]);
    if (dir && !existing) throw fsError('EISDIR', { syscall, path: t.display });
    if (flags.exclusive && existing) throw fsError('EEXIST', { syscall, path: t.display });
    const writer = await backend.write(t.key, {
      ifNoneMatch: flags.exclusive,
      sizeHint: flags.append ? undefined : sizeHint,
    });
    if (flags.append && existing) {
      try {
        for await (const chunk of await backend.read(t.key)) await writer.write(chunk as Uint8Array, OWNED);
      } catch (err) {
        await writer.abort(err);
        throw err;
      }
    }
    return writer;
  }

  /** Writes every chunk and commits; `owned`: the chunks are handed over (see WriteChunkOptions). */
  async function writeAll(
    writer: ObjectWriter,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    owned: boolean,
  ): Promise<ObjectMeta> {
    const opts = owned ? OWNED : undefined;
    try {
      for await (const chunk of chunks) if (chunk.length > 0) await writer.write(chunk, opts);
      return await writer.close();
    } catch (err) {
      await writer.abort(err).catch(() => undefined);
      throw err;
    }
  }

  // ---- the promise API -----------------------------------------------------------------------

  /** Runs an operation and rewrites any error to name the caller's path(s) (backends report keys). */
  function op<A extends unknown[], R>(
    syscall: string,
    fn: (...args: A) => Promise<R>,
    twoPaths = false,
  ): (...args: A) => Promise<R> {
    return async (...args: A) => {
      try {
        return await fn(...args);
      } catch (err) {
        if ((err as FsError).code?.startsWith?.('ERR_')) throw err;
        const path = safeString(args[0]);
        const dest = twoPaths ? safeString(args[1]) : undefined;
        throw toFsError(err, { path, dest, syscall: (err as FsError).syscall ?? syscall });
      }
    };
  }

  async function stat(p: unknown, _opts?: unknown, syscall = 'stat'): Promise<VfsStats> {
    const t = target(p, syscall);
    const k = await kindOf(t.key);
    if (!k) throw await missing(t.key, syscall, t.display);
    if (k.kind === 'file') {
      if (t.slash) throw fsError('ENOTDIR', { syscall, path: t.display });
      return new VfsStats({ kind: 'file', size: k.meta.size, mtime: k.meta.mtime, meta: metaOf(k.meta) });
    }
    return new VfsStats({ kind: 'directory', mtime: k.meta?.mtime ?? new Date(0) });
  }

  async function access(p: unknown): Promise<void> {
    const t = target(p, 'access');
    const k = await kindOf(t.key);
    if (!k) throw await missing(t.key, 'access', t.display);
    if (k.kind === 'file' && t.slash) throw fsError('ENOTDIR', { syscall: 'access', path: t.display });
  }

  async function readFile(p: unknown, opts?: unknown): Promise<Buffer | string> {
    if (isHandle(p)) return p.readFile(opts as never);
    const t = target(p, 'open');
    const stream = await openReader(t, undefined, 'open');
    requestLending(stream);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    for (const c of chunks) giveBack(c); // copied into buf
    const encoding = encodingOf(opts);
    return encoding && encoding !== 'buffer' ? buf.toString(encoding) : buf;
  }

  async function writeFile(p: unknown, data: unknown, opts?: unknown): Promise<void> {
    if (isHandle(p)) return p.writeFile(data as never, opts as never);
    const t = target(p, 'open');
    const o = typeof opts === 'object' && opts !== null ? (opts as { flag?: unknown }) : {};
    const flags = parseWriteFlags(o.flag ?? 'w', 'open', t.display);
    const { chunks, size, owned } = toChunks(data, encodingOf(opts) ?? 'utf8');
    const writer = await openWriter(t, flags, 'open', size);
    await writeAll(writer, chunks, owned);
  }

  async function appendFile(p: unknown, data: unknown, opts?: unknown): Promise<void> {
    const o = typeof opts === 'string' ? { encoding: opts } : ((opts ?? {}) as Record<string, unknown>);
    return writeFile(p, data, { ...o, flag: o.flag ?? 'a' });
  }

  async function mkdir(p: unknown, opts?: unknown): Promise<string | undefined> {
    const t = target(p, 'mkdir');
    const recursive =
      typeof opts === 'object' && opts !== null && (opts as { recursive?: boolean }).recursive === true;
    if (!recursive) {
      const k = await kindOf(t.key);
      if (k) throw fsError('EEXIST', { syscall: 'mkdir', path: t.display });
      await requireParent(t.key, 'mkdir', t.display);
      if (caps.directoryMarkers) {
        // Create-only where the server enforces it: a racing mkdir of the same name is EEXIST.
        try {
          await putMarker(t.key, caps.conditionalCreate);
        } catch (err) {
          if ((err as FsError).code === 'EEXIST')
            throw fsError('EEXIST', { syscall: 'mkdir', path: t.display });
          throw err;
        }
      }
      return undefined;
    }
    const full = await kindOf(t.key);
    if (full?.kind === 'directory') return undefined;
    if (full?.kind === 'file') throw fsError('EEXIST', { syscall: 'mkdir', path: t.display });
    const segs = t.key.split('/');
    let i = 1;
    for (; i < segs.length; i++) {
      const k = await kindOf(segs.slice(0, i).join('/'));
      if (k?.kind === 'file') throw fsError('ENOTDIR', { syscall: 'mkdir', path: t.display });
      if (!k) break;
    }
    if (caps.directoryMarkers) {
      const levels: string[] = [];
      for (let j = i; j <= segs.length; j++) levels.push(segs.slice(0, j).join('/'));
      await Promise.all(levels.map((k) => putMarker(k)));
    }
    return toDisplay(segs.slice(0, i).join('/'));
  }

  async function mkdtemp(prefix: unknown): Promise<string> {
    const p = pathToString(prefix, 'mkdtemp');
    for (let attempt = 0; attempt < 8; attempt++) {
      const candidate = p + randomName(6);
      try {
        await mkdir(candidate);
        return candidate;
      } catch (err) {
        if ((err as FsError).code !== 'EEXIST') {
          throw toFsError(err, { syscall: 'mkdtemp', path: p + 'XXXXXX' });
        }
      }
    }
    throw fsError('EEXIST', { syscall: 'mkdtemp', path: p + 'XXXXXX' });
  }

  async function readdir(p: unknown, opts?: unknown): Promise<(string | Buffer | VfsDirent)[]> {
    const t = target(p, 'scandir');
    const o = typeof opts === 'object' && opts !== null ? (opts as Record<string, unknown>) : {};
    const encoding = encodingOf(opts);
    const withTypes = o.withFileTypes === true;
    const recursive = o.recursive === true;
    const prefix = dirPrefix(t.key);
    const parentDisplay =
      t.display.endsWith('/') && t.display.length > 1 ? t.display.slice(0, -1) : t.display;

    const entries = new Map<string, 'file' | 'directory'>();
    let sawMarker = false;
    let sawAny = false;
    if (!recursive) {
      for await (const page of backend.list(prefix, { delimiter: '/' })) {
        for (const obj of page.objects) {
          sawAny = true;
          if (obj.key === prefix) sawMarker = true;
          else entries.set(obj.key.slice(prefix.length), 'file');
        }
        for (const pre of page.prefixes) {
          sawAny = true;
          const name = pre.slice(prefix.length, -1);
          if (name !== '' && !entries.has(name)) entries.set(name, 'directory');
        }
      }
    } else {
      for await (const page of backend.list(prefix)) {
        for (const obj of page.objects) {
          sawAny = true;
          if (obj.key === prefix) {
            sawMarker = true;
            continue;
          }
          const rel = obj.key.slice(prefix.length);
          const parts = rel.split('/').filter((s) => s !== '');
          const isMarker = rel.endsWith('/');
          for (let i = 1; i < parts.length; i++) {
            const d = parts.slice(0, i).join('/');
            if (!entries.has(d)) entries.set(d, 'directory');
          }
          const leaf = parts.join('/');
          if (leaf !== '' && (!entries.has(leaf) || !isMarker))
            entries.set(leaf, isMarker ? 'directory' : 'file');
        }
      }
    }
    if (!sawAny && !pinned(t.key)) {
      const meta = await backend.stat(t.key);
      if (meta) throw fsError('ENOTDIR', { syscall: 'scandir', path: t.display });
      throw await missing(t.key, 'scandir', t.display);
    }
    if (entries.size === 0 && !sawMarker && !pinned(t.key) && (await backend.stat(t.key))) {
      throw fsError('ENOTDIR', { syscall: 'scandir', path: t.display });
    }
    const names = [...entries.keys()];
    if (withTypes) {
      return names.map((rel) => {
        const cut = rel.lastIndexOf('/');
        const parent = cut < 0 ? parentDisplay : `${parentDisplay}/${rel.slice(0, cut)}`;
        return new VfsDirent(rel.slice(cut + 1), entries.get(rel)!, parent);
      });
    }
    return encoding === 'buffer' ? names.map((n) => Buffer.from(n)) : names;
  }

  async function rmdir(p: unknown, opts?: unknown): Promise<void> {
    if (typeof opts === 'object' && opts !== null && (opts as { recursive?: boolean }).recursive) {
      return rm(p, { recursive: true });
    }
    const t = target(p, 'rmdir');
    const k = await kindOf(t.key);
    if (!k) throw await missing(t.key, 'rmdir', t.display);
    if (k.kind === 'file') throw fsError('ENOTDIR', { syscall: 'rmdir', path: t.display });
    if (pinned(t.key)) throw fsError('EBUSY', { syscall: 'rmdir', path: t.display });
    const prefix = dirPrefix(t.key);
    for await (const page of backend.list(prefix, { limit: 2, pageSize: 2 })) {
      if (page.prefixes.length > 0 || page.objects.some((o) => o.key !== prefix)) {
        throw fsError('ENOTEMPTY', { syscall: 'rmdir', path: t.display });
      }
    }
    await backend.delete([prefix]);
    await keepDir(parentKey(t.key));
  }

  async function unlink(p: unknown): Promise<void> {
    const t = target(p, 'unlink');
    const meta = pinned(t.key) ? undefined : await backend.stat(t.key);
    if (!meta) {
      if (await isDir(t.key)) throw fsError('EISDIR', { syscall: 'unlink', path: t.display });
      throw await missing(t.key, 'unlink', t.display);
    }
    if (t.slash) throw fsError('ENOTDIR', { syscall: 'unlink', path: t.display });
    await backend.delete([t.key]);
    await keepDir(parentKey(t.key));
  }

  async function rm(p: unknown, opts?: unknown): Promise<void> {
    const t = target(p, 'rm');
    const o = (typeof opts === 'object' && opts !== null ? opts : {}) as {
      recursive?: boolean;
      force?: boolean;
    };
    const k = await kindOf(t.key);
    if (!k) {
      if (o.force) return;
      throw await missing(t.key, 'lstat', t.display);
    }
    if (k.kind === 'file') {
      if (t.slash) throw fsError('ENOTDIR', { syscall: 'rm', path: t.display });
      await backend.delete([t.key]);
    } else {
      if (!o.recursive) {
        throw rmDirectoryError(t.display);
      }
      // Deleted a batch at a time as the listing pages in: memory holds one batch, whatever the
      // number of keys (token-paged listings are not disturbed by deleting what they returned).
      let batch: string[] = [];
      for await (const m of objectsUnder(dirPrefix(t.key))) {
        batch.push(m.key);
        if (batch.length >= caps.maxDeleteBatch) {
          await backend.delete(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await backend.delete(batch);
    }
    await keepDir(parentKey(t.key));
  }

  /**
   * Copies one object. `createOnly` (where the server enforces conditional writes) is a
   * create-only server-side copy where the backend has one, else a create-only streamed write.
   */
  async function copyObject(from: string, to: string, createOnly = false): Promise<void> {
    if (caps.serverSideCopy && !createOnly) return backend.copy(from, to);
    if (caps.serverSideCopy && caps.conditionalCopy) return backend.copy(from, to, { ifNoneMatch: true });
    const meta = await backend.stat(from);
    const writer = await backend.write(to, { sizeHint: meta?.size, ifNoneMatch: createOnly });
    await writeAll(writer, (await backend.read(from)) as AsyncIterable<Uint8Array>, true);
  }

  async function rename(a: unknown, b: unknown): Promise<void> {
    const from = target(a, 'rename');
    const to = target(b, 'rename');
    const src = await kindOf(from.key);
    if (!src) throw await missing(from.key, 'rename', from.display, to.display);
    if (from.key === to.key) return;
    if (pinned(from.key)) throw fsError('EBUSY', { syscall: 'rename', path: from.display, dest: to.display });
    await requireParent(to.key, 'rename', from.display, to.display);
    const dst = await kindOf(to.key);
    if (src.kind === 'file') {
      if (dst?.kind === 'directory')
        throw fsError('EISDIR', { syscall: 'rename', path: from.display, dest: to.display });
      if (backend.rename && caps.atomicRename) await backend.rename(from.key, to.key);
      else {
        await copyObject(from.key, to.key);
        await backend.delete([from.key]);
      }
      await keepDir(parentKey(from.key));
      return;
    }
    if (pinned(to.key) || to.key.startsWith(from.key + '/')) {
      throw fsError('EINVAL', { syscall: 'rename', path: from.display, dest: to.display });
    }
    if (dst?.kind === 'file')
      throw fsError('ENOTDIR', { syscall: 'rename', path: from.display, dest: to.display });
    const srcPrefix = dirPrefix(from.key);
    const dstPrefix = dirPrefix(to.key);
    if (dst?.kind === 'directory') {
      for await (const page of backend.list(dstPrefix, { limit: 2, pageSize: 2 })) {
        if (page.objects.some((m) => m.key !== dstPrefix)) {
          throw fsError('ENOTEMPTY', { syscall: 'rename', path: from.display, dest: to.display });
        }
      }
    }
    // Copy page by page; the first failure stops new copies and leaves the source as it was (the
    // copies made so far are removed, best effort).
    let sawMarker = false;
    try {
      await mapLimit(objectsUnder(srcPrefix), concurrency, (m) => {
        if (m.key === srcPrefix) sawMarker = true;
        return copyObject(m.key, dstPrefix + m.key.slice(srcPrefix.length));
      });
    } catch (err) {
      await deleteCounterparts(srcPrefix, dstPrefix, dst !== undefined).catch(() => undefined);
      throw err;
    }
    if (caps.directoryMarkers && !sawMarker) await putMarker(to.key);
    // Delete from the source exactly what now exists at the destination: an object added to the
    // source during the copy is kept, not lost.
    await deleteCounterparts(dstPrefix, srcPrefix, false);
    await keepDir(parentKey(from.key));
  }

  async function copyFile(a: unknown, b: unknown, mode?: unknown): Promise<void> {
    const from = target(a, 'copyfile');
    const to = target(b, 'copyfile');
    const src = await kindOf(from.key);
    if (!src) throw await missing(from.key, 'copyfile', from.display, to.display);
    if (src.kind === 'directory')
      throw fsError('EISDIR', { syscall: 'copyfile', path: from.display, dest: to.display });
    const dst = await kindOf(to.key);
    if (dst?.kind === 'directory')
      throw fsError('EISDIR', { syscall: 'copyfile', path: from.display, dest: to.display });
    const exclusive = typeof mode === 'number' && (mode & constants.COPYFILE_EXCL) !== 0;
    const exists = (): FsError =>
      fsError('EEXIST', { syscall: 'copyfile', path: from.display, dest: to.display });
    if (exclusive && dst) throw exists();
    await requireParent(to.key, 'copyfile', from.display, to.display);
    if (from.key === to.key) return;
    // Create-only where the server enforces it: a writer racing in after the check above is not
    // silently overwritten. Elsewhere the check above is all there is.
    try {
      await copyObject(from.key, to.key, exclusive && caps.conditionalCreate);
    } catch (err) {
      if (exclusive && (err as FsError).code === 'EEXIST') throw exists();
      throw err;
    }
  }

  async function realpath(p: unknown): Promise<string> {
    const t = target(p, 'realpath');
    const k = await kindOf(t.key);
    if (!k) throw await missing(t.key, 'realpath', t.display);
    return toDisplay(t.key);
  }

  async function utimes(p: unknown): Promise<void> {
    const t = target(p, 'utime');
    throw fsError('ENOTSUP', {
      syscall: 'utime',
      path: t.display,
      detail: 'object stores set modification times themselves; utimes is not supported',
    });
  }

  async function open(p: unknown, flags?: unknown): Promise<FileHandle> {
    const t = target(p, 'open');
    const f = typeof flags === 'number' ? numericFlags(flags) : String(flags ?? 'r');
    if (f === 'r' || f === 'rs' || f === 'sr') {
      const meta = pinned(t.key) ? undefined : await backend.stat(t.key);
      if (!meta) {
        if (await isDir(t.key)) throw fsError('EISDIR', { syscall: 'open', path: t.display });
        throw await missing(t.key, 'open', t.display);
      }
      if (t.slash) throw fsError('ENOTDIR', { syscall: 'open', path: t.display });
      return new ObjectFileHandle(t, meta, undefined) as unknown as FileHandle;
    }
    const writer = await openWriter(t, parseWriteFlags(f, 'open', t.display), 'open');
    return new ObjectFileHandle(t, undefined, writer) as unknown as FileHandle;
  }

  // ---- FileHandle ----------------------------------------------------------------------------

  class ObjectFileHandle {
    /** Not an OS descriptor: object-store handles have none. */
    readonly fd = -1;
    #pos = 0;
    #reader: ChunkReader | undefined;
    #closed = false;
    readonly #t: Target;
    readonly #meta: ObjectMeta | undefined;
    readonly #writer: ObjectWriter | undefined;
    #written = 0;

    constructor(t: Target, meta: ObjectMeta | undefined, writer: ObjectWriter | undefined) {
      this.#t = t;
      this.#meta = meta;
      this.#writer = writer;
      if (typeof Symbol.asyncDispose === 'symbol') {
        Object.defineProperty(this, Symbol.asyncDispose, { value: () => this.close() });
      }
    }

    #check(syscall: string, wantWriter: boolean): void {
      if (this.#closed) throw fsError('EBADF', { syscall, path: this.#t.display });
      if (wantWriter && !this.#writer) throw fsError('EBADF', { syscall, path: this.#t.display });
      if (!wantWriter && !this.#meta) throw fsError('EBADF', { syscall, path: this.#t.display });
    }

    async read(...args: unknown[]): Promise<{ bytesRead: number; buffer: Uint8Array }> {
      this.#check('read', false);
      let buffer: Uint8Array;
      let offset = 0;
      let length: number;
      let position: number | null | undefined;
      if (args[0] instanceof Uint8Array) {
        buffer = args[0];
        if (typeof args[1] === 'object' && args[1] !== null) {
          const o = args[1] as { offset?: number; length?: number; position?: number | null };
          offset = o.offset ?? 0;
          length = o.length ?? buffer.byteLength - offset;
          position = o.position;
        } else {
          offset = (args[1] as number | undefined) ?? 0;
          length = (args[2] as number | undefined) ?? buffer.byteLength - offset;
          position = args[3] as number | null | undefined;
        }
      } else {
        const o = (args[0] ?? {}) as {
          buffer?: Uint8Array;
          offset?: number;
          length?: number;
          position?: number | null;
        };
        buffer = o.buffer ?? Buffer.alloc(16384);
        offset = o.offset ?? 0;
        length = o.length ?? buffer.byteLength - offset;
        position = o.position;
      }
      const usePos = typeof position === 'number' && position >= 0;
      const start = usePos ? (position as number) : this.#pos;
      const n = await this.#readAt(start, buffer, offset, length);
      if (!usePos) this.#pos += n;
      return { bytesRead: n, buffer };
    }

    async #readAt(start: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
      const size = this.#meta!.size;
      if (length <= 0 || start >= size) return 0;
      if (!this.#reader || this.#reader.position !== start) {
        this.#reader?.destroy();
        this.#reader = new ChunkReader(await openReader(this.#t, { start }, 'read'), start);
      }
      try {
        const n = await this.#reader.readInto(buffer, offset, Math.min(length, size - start));
        // At the size seen at open the object must end too: a longer one was replaced since, and
        // its first bytes are not the file this handle opened.
        if (start + n === size && !(await this.#reader.atEnd()))
          throw fsError('EIO', {
            syscall: 'read',
            path: this.#t.display,
            detail: `the object changed since it was opened (it is now longer than ${size} bytes)`,
          });
        return n;
      } catch (err) {
        // A broken reader must not be reused: its finished iterator would look like end of file.
        this.#reader.destroy();
        this.#reader = undefined;
        throw err;
      }
    }

    async readFile(opts?: unknown): Promise<Buffer | string> {
      this.#check('read', false);
      const size = this.#meta!.size;
      const buf = Buffer.alloc(Math.max(0, size - this.#pos));
      let got = 0;
      while (got < buf.length) {
        const n = await this.#readAt(this.#pos, buf, got, buf.length - got);
        if (n === 0) break;
        got += n;
        this.#pos += n;
      }
      const encoding = encodingOf(opts);
      const out = buf.subarray(0, got);
      return encoding && encoding !== 'buffer' ? out.toString(encoding) : out;
    }

    async write(data: unknown, ...args: unknown[]): Promise<{ bytesWritten: number; buffer: unknown }> {
      this.#check('write', true);
      let bytes: Uint8Array;
      let position: unknown;
      if (typeof data === 'string') {
        position = args[0];
        bytes = Buffer.from(data, (args[1] as BufferEncoding | undefined) ?? 'utf8');
      } else if (ArrayBuffer.isView(data)) {
        const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        let offset = 0;
        let length = view.byteLength;
        if (typeof args[0] === 'object' && args[0] !== null) {
          const o = args[0] as { offset?: number; length?: number; position?: number | null };
          offset = o.offset ?? 0;
          length = o.length ?? view.byteLength - offset;
          position = o.position;
        } else {
          offset = (args[0] as number | undefined) ?? 0;
          length = (args[1] as number | undefined) ?? view.byteLength - offset;
          position = args[2];
        }
        bytes = view.subarray(offset, offset + length);
      } else {
        throw fsError('ERR_INVALID_ARG_TYPE', {
          message: 'The "buffer" argument must be a string, Buffer, TypedArray or DataView',
        });
      }
      if (typeof position === 'number' && position !== this.#written) {
        throw fsError('ENOTSUP', {
          syscall: 'write',
          path: this.#t.display,
          detail: `object stores take writes in order; a write at ${position} after ${this.#written} bytes is not possible`,
        });
      }
      if (bytes.length > 0) await this.#guard(() => this.#writer!.write(bytes));
      this.#written += bytes.length;
      return { bytesWritten: bytes.length, buffer: data };
    }

    async #guard<T>(fn: () => Promise<T>): Promise<T> {
      try {
        return await fn();
      } catch (err) {
        this.#closed = true;
        await this.#writer?.abort(err).catch(() => undefined);
        throw toFsError(err, { path: this.#t.display, syscall: 'write' });
      }
    }

    async writeFile(data: unknown, opts?: unknown): Promise<void> {
      this.#check('write', true);
      const { chunks } = toChunks(data, encodingOf(opts) ?? 'utf8');
      for await (const c of chunks) await this.write(c);
    }

    appendFile(data: unknown, opts?: unknown): Promise<void> {
      return this.writeFile(data, opts);
    }

    async stat(): Promise<VfsStats> {
      if (this.#closed) throw fsError('EBADF', { syscall: 'fstat', path: this.#t.display });
      if (this.#meta) return new VfsStats({ kind: 'file', size: this.#meta.size, mtime: this.#meta.mtime });
      return new VfsStats({ kind: 'file', size: this.#written, mtime: new Date() });
    }

    createReadStream(opts: { start?: number; end?: number; highWaterMark?: number } = {}): ReadStream {
      this.#check('read', false);
      return createReadStream(this.#t.display, { start: this.#pos, ...opts });
    }

    async sync(): Promise<void> {}
    async datasync(): Promise<void> {}

    async close(): Promise<void> {
      if (this.#closed) return;
      this.#closed = true;
      this.#reader?.destroy();
      if (this.#writer) {
        try {
          await this.#writer.close();
        } catch (err) {
          await this.#writer.abort(err).catch(() => undefined);
          throw toFsError(err, { path: this.#t.display, syscall: 'close' });
        }
      }
    }
  }

  // ---- streams -------------------------------------------------------------------------------

  function createReadStream(p: unknown, opts?: unknown): ReadStream {
    const o = (typeof opts === 'string' ? { encoding: opts } : (opts ?? {})) as {
      start?: number;
      end?: number;
      highWaterMark?: number;
      encoding?: BufferEncoding;
    };
    const display = pathToString(p, 'open');
    const hwm = o.highWaterMark ?? 64 * 1024;
    let source: AsyncIterator<Buffer> | undefined;
    let sourceStream: Readable | undefined;
    let pending: Buffer | undefined;
    const stream = new Readable({
      highWaterMark: hwm,
      encoding: o.encoding,
      construct(cb) {
        (async () => {
          const t = target(display, 'open');
          if (o.end !== undefined && o.start !== undefined && o.end < o.start) {
            throw fsError('ERR_OUT_OF_RANGE', {
              message: `The value of "start" is out of range. It must be <= "end" (here: ${o.end}). Received ${o.start}`,
            });
          }
          const range =
            o.start !== undefined || o.end !== undefined ? { start: o.start ?? 0, end: o.end } : undefined;
          sourceStream = await openReader(t, range, 'open');
          source = (sourceStream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
        })().then(
          () => {
            (stream as unknown as { pending: boolean }).pending = false;
            cb();
            stream.emit('ready');
          },
          (err) => cb(toFsError(err, { path: display, syscall: (err as FsError).syscall ?? 'open' })),
        );
      },
      read() {
        // One highWaterMark-sized piece per _read, as node:fs streams deliver them.
        if (pending && pending.length > 0) {
          const piece = pending.subarray(0, hwm);
          pending = pending.subarray(piece.length);
          (this as unknown as { bytesRead: number }).bytesRead += piece.length;
          // Deferred, so a consumer reading as fast as we push still gets one piece per read.
          queueMicrotask(() => this.push(piece));
          return;
        }
        source!.next().then(
          ({ value, done }) => {
            if (done) return void this.push(null);
            const piece = value.length > hwm ? value.subarray(0, hwm) : value;
            pending = value.length > hwm ? value.subarray(hwm) : undefined;
            (this as unknown as { bytesRead: number }).bytesRead += piece.length;
            this.push(piece);
          },
          (err) => this.destroy(toFsError(err, { path: display, syscall: 'read' })),
        );
      },
      destroy(err, cb) {
        sourceStream?.destroy();
        cb(err);
      },
    });
    Object.assign(stream, { path: display, bytesRead: 0, pending: true });
    return stream as unknown as ReadStream;
  }

  function createWriteStream(p: unknown, opts?: unknown): WriteStream {
    const o = (typeof opts === 'string' ? { encoding: opts } : (opts ?? {})) as {
      flags?: string;
      encoding?: BufferEncoding;
      highWaterMark?: number;
      start?: number;
    };
    const display = pathToString(p, 'open');
    let writer: ObjectWriter | undefined;
    let finished = false;
    // Chunks a Readable pipes in are handed over (Readable semantics: a pushed chunk is never
    // modified again; node:fs's write stream relies on the same), so the upload may keep them
    // without a copy. Each piped chunk is marked as its source emits it (our 'data' listener runs
    // before pipe's); anything else, such as a direct write() whose caller may reuse the buffer
    // once the callback ran, is copied.
    const piped = new WeakSet<object>();
    const mark = (chunk: unknown): void => {
      if (typeof chunk === 'object' && chunk !== null) piped.add(chunk);
    };
    const stream = new Writable({
      highWaterMark: o.highWaterMark ?? 16 * 1024,
      defaultEncoding: o.encoding ?? 'utf8',
      construct(cb) {
        (async () => {
          const t = target(display, 'open');
          if (o.start !== undefined && o.start !== 0) {
            throw fsError('ENOTSUP', {
              syscall: 'open',
              path: display,
              detail: 'object stores cannot write from an offset',
            });
          }
          writer = await openWriter(t, parseWriteFlags(o.flags ?? 'w', 'open', display), 'open');
        })().then(
          () => {
            (stream as unknown as { pending: boolean }).pending = false;
            cb();
            stream.emit('open', -1);
            stream.emit('ready');
          },
          (err) => cb(toFsError(err, { path: display, syscall: (err as FsError).syscall ?? 'open' })),
        );
      },
      write(chunk: Buffer, _enc, cb) {
        const opts = piped.has(chunk) ? OWNED : undefined;
        if (writer!.tryWrite?.(chunk, opts)) {
          (stream as unknown as { bytesWritten: number }).bytesWritten += chunk.length;
          cb();
          return;
        }
        writer!.write(chunk, opts).then(
          () => {
            (stream as unknown as { bytesWritten: number }).bytesWritten += chunk.length;
            cb();
          },
          (err) => cb(toFsError(err, { path: display, syscall: 'write' })),
        );
      },
      final(cb) {
        writer!.close().then(
          () => {
            finished = true;
            cb();
          },
          (err) => cb(toFsError(err, { path: display, syscall: 'write' })),
        );
      },
      destroy(err, cb) {
        if (writer && !finished) {
          writer.abort(err ?? new Error('stream destroyed')).then(
            () => cb(err),
            () => cb(err),
          );
        } else cb(err);
      },
    });
    stream.on('pipe', (src: Readable) => src.prependListener('data', mark));
    stream.on('unpipe', (src: Readable) => src.removeListener('data', mark));
    Object.assign(stream, { path: display, bytesWritten: 0, pending: true });
    return stream as unknown as WriteStream;
  }

  const promises = {
    access: op('access', access),
    appendFile: op('open', appendFile),
    copyFile: op('copyfile', copyFile, true),
    lstat: op('lstat', (p: unknown, o?: unknown) => stat(p, o, 'lstat')),
    mkdir: op('mkdir', mkdir),
    mkdtemp,
    open: op('open', open),
    readdir: op('scandir', readdir),
    readFile: op('open', readFile),
    realpath: op('realpath', realpath),
    rename: op('rename', rename, true),
    rm: op('rm', rm),
    rmdir: op('rmdir', rmdir),
    stat: op('stat', stat),
    unlink: op('unlink', unlink),
    utimes: op('utime', utimes),
    writeFile: op('open', writeFile),
  } satisfies Record<string, AnyFn>;

  return assembleFs({
    promises,
    streams: { createReadStream, createWriteStream },
    extra: { backend },
  });
}

// ---- helpers -------------------------------------------------------------------------------

/**
 * Pulls bytes from a stream into caller buffers, keeping the unread tail of the last chunk. A
 * chunk copied out whole is given back (see src/core/lending-pool.ts): nothing here keeps it.
 */
class ChunkReader {
  position: number;
  readonly #it: AsyncIterator<Buffer>;
  readonly #stream: Readable;
  #chunk: Buffer | undefined;
  #tail: Buffer = Buffer.alloc(0);

  constructor(stream: Readable, position: number) {
    requestLending(stream);
    this.#stream = stream;
    this.#it = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    this.position = position;
  }

  async readInto(buffer: Uint8Array, offset: number, length: number): Promise<number> {
    let n = 0;
    while (n < length) {
      if (this.#tail.length === 0) {
        const { value, done } = await this.#it.next();
        if (done) break;
        this.#chunk = value;
        this.#tail = value;
      }
      const take = Math.min(length - n, this.#tail.length);
      buffer.set(this.#tail.subarray(0, take), offset + n);
      this.#tail = this.#tail.subarray(take);
      n += take;
      if (this.#tail.length === 0 && this.#chunk) {
        giveBack(this.#chunk);
        this.#chunk = undefined;
      }
    }
    this.position += n;
    return n;
  }

  /** Whether the stream has no bytes left (pulls one more chunk if needed, and keeps it). */
  async atEnd(): Promise<boolean> {
    if (this.#tail.length > 0) return false;
    const { value, done } = await this.#it.next();
    if (done) return true;
    this.#chunk = value;
    this.#tail = value;
    return value.length === 0 ? this.atEnd() : false;
  }

  destroy(): void {
    this.#stream.destroy();
  }
}

const NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Letters and digits, as node's mkdtemp uses. */
function randomName(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (const b of bytes) out += NAME_CHARS[b % NAME_CHARS.length];
  return out;
}

function isHandle(p: unknown): p is { readFile: AnyFn; writeFile: AnyFn } {
  return (
    typeof p === 'object' && p !== null && !(p instanceof URL) && !ArrayBuffer.isView(p) && 'readFile' in p
  );
}

function safeString(p: unknown): string | undefined {
  try {
    return pathToString(p);
  } catch {
    return undefined;
  }
}

function metaOf(m: ObjectMeta): Record<string, unknown> {
  return { etag: m.etag, ...m.meta };
}

export function encodingOf(opts: unknown): BufferEncoding | 'buffer' | undefined {
  if (typeof opts === 'string') return opts as BufferEncoding;
  if (typeof opts === 'object' && opts !== null) {
    const e = (opts as { encoding?: unknown }).encoding;
    if (typeof e === 'string') return e as BufferEncoding;
  }
  return undefined;
}

function numericFlags(n: number): string {
  const acc = n & 3;
  const creat = n & constants.O_CREAT;
  const excl = n & constants.O_EXCL;
  const append = n & constants.O_APPEND;
  if (acc === constants.O_RDONLY) return 'r';
  if (acc === constants.O_RDWR) return append ? 'a+' : creat ? 'w+' : 'r+';
  if (append) return excl ? 'ax' : 'a';
  if (!creat) return 'r+';
  return excl ? 'wx' : 'w';
}

/** Node's accepted writeFile data, as chunks; `size` when known up front. */
export function toChunks(
  data: unknown,
  encoding: BufferEncoding | 'buffer',
): { chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>; size?: number; owned: boolean } {
  const enc = encoding === 'buffer' ? 'utf8' : encoding;
  // `owned`: the bytes stay untouched until the write settles (writeFile's own data, a Readable's
  // chunks), so a writer may keep them instead of copying. A plain iterable may reuse its buffer.
  if (typeof data === 'string') {
    const b = Buffer.from(data, enc);
    return { chunks: [b], size: b.length, owned: true };
  }
  if (ArrayBuffer.isView(data)) {
    const u = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { chunks: [u], size: u.length, owned: true };
  }
  if (
    data !== null &&
    typeof data === 'object' &&
    (Symbol.asyncIterator in data || Symbol.iterator in data)
  ) {
    const src = data as AsyncIterable<unknown> | Iterable<unknown>;
    return {
      owned: data instanceof Readable,
      chunks: (async function* () {
        for await (const c of src) {
          if (typeof c === 'string') yield Buffer.from(c, enc);
          else if (ArrayBuffer.isView(c)) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
          else
            throw fsError('ERR_INVALID_ARG_TYPE', {
              message: 'writeFile data chunks must be strings or Uint8Arrays',
            });
        }
      })(),
    };
  }
  throw fsError('ERR_INVALID_ARG_TYPE', {
    message: `The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received ${typeof data}`,
  });
}

/**
 * Runs `fn` over `items` with at most `limit` in flight, pulling items only as slots free up (an
 * async iterable, such as a paged listing, is read as it goes). The first error (from `fn` or from
 * the iterable) stops new calls; once the calls in flight have settled, it rejects with that error.
 */
export async function mapLimit<T>(
  items: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  const it: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in items
      ? (items as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (items as Iterable<T>)[Symbol.iterator]();
  let failed = false;
  let first: unknown;
  const worker = async (): Promise<void> => {
    while (!failed) {
      try {
        const next = await it.next();
        if (next.done || failed) return;
        await fn(next.value);
      } catch (err) {
        if (!failed) {
          failed = true;
          first = err;
        }
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failed) {
    await Promise.resolve(it.return?.()).catch(() => undefined);
    throw first;
  }
}
