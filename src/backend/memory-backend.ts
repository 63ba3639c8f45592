/**
 * An in-process object store with object-store semantics and no real directories: flat keys,
 * uploads invisible until committed, lexicographic paged listing, idempotent deletes. It exercises
 * the deriver without a network and is the model the cloud backends are compared against.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { fsError } from '../core/errors.js';
import type {
  Backend,
  ByteRange,
  Capabilities,
  CopyOptions,
  ListOptions,
  ListPage,
  ObjectMeta,
  ObjectWriter,
  WriteOptions,
} from './types.js';

interface StoredObject {
  data: Buffer;
  mtime: Date;
  etag: string;
}

export interface MemoryBackendOptions {
  /** Page size the listing uses at most (small values exercise paging). Default 1000. */
  pageSize?: number;
  /** Override capabilities, e.g. `{ directoryMarkers: false }` to model a prefix-only store. */
  capabilities?: Partial<Capabilities>;
}

/** Byte-order comparison, as S3 and GCS sort keys (UTF-8 bytes, not UTF-16 code units). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class MemoryBackend implements Backend {
  readonly name = 'memory-object';
  readonly capabilities: Capabilities;
  readonly #objects = new Map<string, StoredObject>();
  readonly #pageSize: number;
  #sorted: string[] | undefined;

  constructor(options: MemoryBackendOptions = {}) {
    this.#pageSize = options.pageSize ?? 1000;
    this.capabilities = {
      directoryMarkers: true,
      conditionalCreate: true,
      conditionalCopy: true,
      serverSideCopy: true,
      atomicRename: false,
      rangedReads: true,
      maxDeleteBatch: 1000,
      ...options.capabilities,
    };
  }

  /** Number of stored objects (for tests). */
  get size(): number {
    return this.#objects.size;
  }

  /** All keys, sorted (for tests and `toJSON`). */
  keys(): string[] {
    return [...this.#sortedKeys()];
  }

  clear(): void {
    this.#objects.clear();
    this.#sorted = undefined;
  }

  #sortedKeys(): string[] {
    this.#sorted ??= [...this.#objects.keys()].sort(compareKeys);
    return this.#sorted;
  }

  #put(key: string, data: Buffer): ObjectMeta {
    if (!this.capabilities.directoryMarkers && key.endsWith('/')) {
      throw fsError('ENOTSUP', { detail: 'this store has no directory markers', path: key });
    }
    const obj = { data, mtime: new Date(), etag: createHash('md5').update(data).digest('hex') };
    if (!this.#objects.has(key)) this.#sorted = undefined;
    this.#objects.set(key, obj);
    return toMeta(key, obj);
  }

  async stat(key: string): Promise<ObjectMeta | undefined> {
    const obj = this.#objects.get(key);
    return obj && toMeta(key, obj);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const obj = this.#objects.get(key);
    if (!obj) throw fsError('ENOENT', { syscall: 'open', path: key });
    const start = Math.min(range?.start ?? 0, obj.data.length);
    const end = Math.min(range?.end === undefined ? obj.data.length : range.end + 1, obj.data.length);
    const view = obj.data.subarray(start, Math.max(start, end));
    // Hand out bounded chunks, as a network body would.
    const chunk = 64 * 1024;
    let offset = 0;
    return new Readable({
      read() {
        if (offset >= view.length) return this.push(null);
        const next = view.subarray(offset, offset + chunk);
        offset += next.length;
        this.push(next);
      },
    });
  }

  async write(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    if (options.ifNoneMatch && this.#objects.has(key))
      throw fsError('EEXIST', { syscall: 'open', path: key });
    const chunks: Buffer[] = [];
    let state: 'open' | 'closed' | 'aborted' = 'open';
    return {
      write: async (chunk) => {
        if (state !== 'open')
          throw fsError('EBADF', { detail: `upload is ${state}`, syscall: 'write', path: key });
        chunks.push(Buffer.from(chunk)); // copy: the caller may reuse its buffer
      },
      close: async () => {
        if (state !== 'open')
          throw fsError('EBADF', { detail: `upload is ${state}`, syscall: 'close', path: key });
        state = 'closed';
        if (options.ifNoneMatch && this.#objects.has(key))
          throw fsError('EEXIST', { syscall: 'open', path: key });
        return this.#put(key, Buffer.concat(chunks));
      },
      abort: async () => {
        if (state === 'open') state = 'aborted';
        chunks.length = 0;
      },
    };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListPage> {
    const keys = this.#sortedKeys();
    const pageSize = Math.max(1, Math.min(options.pageSize ?? this.#pageSize, this.#pageSize));
    const limit = options.limit ?? Infinity;
    let i = lowerBound(keys, prefix);
    if (options.startAfter !== undefined && compareKeys(options.startAfter, prefix) >= 0) {
      i = Math.max(i, upperBound(keys, options.startAfter));
    }
    let emitted = 0;
    let page: ListPage = { objects: [], prefixes: [] };
    let lastPrefix: string | undefined;
    for (; i < keys.length && emitted < limit; i++) {
      const key = keys[i]!;
      if (!key.startsWith(prefix)) break;
      if (options.delimiter) {
        const cut = key.indexOf(options.delimiter, prefix.length);
        if (cut >= 0) {
          const common = key.slice(0, cut + 1);
          if (common !== lastPrefix) {
            lastPrefix = common;
            page.prefixes.push(common);
            emitted++;
          }
          if (page.objects.length + page.prefixes.length >= pageSize) {
            yield page;
            page = { objects: [], prefixes: [] };
          }
          continue;
        }
      }
      page.objects.push(toMeta(key, this.#objects.get(key)!));
      emitted++;
      if (page.objects.length + page.prefixes.length >= pageSize) {
        yield page;
        page = { objects: [], prefixes: [] };
      }
    }
    if (page.objects.length + page.prefixes.length > 0) yield page;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length > this.capabilities.maxDeleteBatch) {
      throw fsError('EINVAL', { detail: `at most ${this.capabilities.maxDeleteBatch} keys per delete` });
    }
    for (const key of keys) {
      if (this.#objects.delete(key)) this.#sorted = undefined;
    }
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const obj = this.#objects.get(from);
    if (!obj) throw fsError('ENOENT', { syscall: 'copyfile', path: from, dest: to });
    if (options.ifNoneMatch && this.#objects.has(to))
      throw fsError('EEXIST', { syscall: 'copyfile', path: from, dest: to });
    this.#put(to, obj.data);
  }
}

function toMeta(key: string, obj: StoredObject): ObjectMeta {
  return { key, size: obj.data.length, mtime: obj.mtime, etag: obj.etag };
}

function lowerBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(keys: readonly string[], target: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, target) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
