/**
 * The Backend contract: what an object-store flavor implements. `createFsAdapter(backend)` derives
 * the whole Node-fs surface from it (directories, error rules, streams, FileHandle), so a cloud
 * flavor writes only these methods and a capability record.
 *
 * Keys are strings without a leading `/`; `''` is the root. A key ending in `/` is a directory
 * marker (a zero-byte object) when the backend supports them.
 */
import type { Readable } from 'node:stream';

export interface ObjectMeta {
  /** The full key. */
  key: string;
  size: number;
  mtime: Date;
  etag?: string | undefined;
  /** Provider details (generation, version id, content type…), surfaced as `Stats.meta`. */
  meta?: Record<string, unknown> | undefined;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive (Node's `createReadStream` convention). Omitted: to the end. */
  end?: number | undefined;
}

export interface WriteOptions {
  /** Create-only: fail with EEXIST if the key exists when the write commits. */
  ifNoneMatch?: boolean | undefined;
  contentType?: string | undefined;
  /**
   * User metadata stored with the object (S3 `x-amz-meta-*`). A backend that keeps none ignores it;
   * keys the backend reserves for itself (`avfs-*`) are its own.
   */
  metadata?: Readonly<Record<string, string>> | undefined;
  /** The total size when known up front: lets a backend choose a single PUT or a part size. */
  sizeHint?: number | undefined;
}

/**
 * A streaming upload. Nothing is visible under the key until `close()` resolves.
 */
/** Options for one {@link ObjectWriter.write}. */
export interface WriteChunkOptions {
  /**
   * The caller hands the chunk over: it will not modify the chunk until the upload settles
   * (`close` or `abort` has settled). A writer may then keep a reference instead of copying it.
   * True for a piped Readable's chunks and for `writeFile`'s data; never for `FileHandle.write`.
   */
  owned?: boolean | undefined;
}

export interface ObjectWriter {
  /**
   * Accepts the next chunk.
   * - Resolves when the writer can take more (backpressure): buffered bytes stay bounded.
   * - The chunk's memory may be reused by the caller after the promise resolves, unless it was
   *   written with `owned: true` (then: after the upload settles).
   * - Rejects with the upload's error once the upload has failed.
   */
  write(chunk: Uint8Array, options?: WriteChunkOptions): Promise<void>;
  /**
   * Optional fast path: takes the chunk synchronously and returns true when that needs no waiting
   * (same ownership rules as `write`); returns false, having taken nothing, otherwise.
   */
  tryWrite?(chunk: Uint8Array, options?: WriteChunkOptions): boolean;
  /**
   * Commits the object.
   * - Resolves with the stored object's metadata once it is visible to `stat`/`read`/`list`.
   * - On failure, rejects with the original error and leaves nothing behind (parts aborted).
   * - With `ifNoneMatch`, rejects with EEXIST if the key appeared meanwhile.
   */
  close(): Promise<ObjectMeta>;
  /**
   * Abandons the upload.
   * - The key is left absent or as it was; uploaded parts are discarded.
   * - Safe to call after a failure, twice, or after close() rejected.
   */
  abort(reason?: unknown): Promise<void>;
}

export interface CopyOptions {
  /** Create-only: fail with EEXIST if the destination exists when the copy commits. */
  ifNoneMatch?: boolean | undefined;
}

export interface ListOptions {
  /** `'/'` lists one level: keys directly under the prefix, and common prefixes. */
  delimiter?: '/' | undefined;
  /** Only keys strictly after this one (lexicographic, UTF-8 byte order as the service sorts). */
  startAfter?: string | undefined;
  /** A hint for page size; the backend may return fewer. */
  pageSize?: number | undefined;
  /** Stop after this many keys and prefixes in all. */
  limit?: number | undefined;
}

export interface ListPage {
  objects: ObjectMeta[];
  /** Common prefixes under the delimiter, each ending in `/`. */
  prefixes: string[];
}

/** Plain data about what a backend can do; the deriver and the conformance suite read it. */
export interface Capabilities {
  /** Zero-byte `dir/` objects can be stored, so empty directories can exist. */
  directoryMarkers: boolean;
  /** `ifNoneMatch` writes are enforced by the server (otherwise the deriver checks first, racily). */
  conditionalCreate: boolean;
  /** `copy` is done by the server without moving bytes through the client. */
  serverSideCopy: boolean;
  /** `copy` honours `ifNoneMatch` on the server (a create-only copy races no other writer). */
  conditionalCopy?: boolean | undefined;
  /** `rename` exists and is atomic for a single object. */
  atomicRename: boolean;
  /** `read` honours a byte range. */
  rangedReads: boolean;
  /** Most keys `delete` accepts in one call (S3: 1,000). */
  maxDeleteBatch: number;
  /** Longest key in UTF-8 bytes, if limited. */
  maxKeyBytes?: number | undefined;
}

export interface Backend {
  /** Shown in errors and `toJSON` (e.g. `memory-object`, `s3`). */
  readonly name: string;
  readonly capabilities: Capabilities;

  /**
   * Metadata of one object.
   * - Resolves `undefined` for a missing key (it does not throw).
   * - A directory marker (`dir/`) is an object like any other here.
   */
  stat(key: string): Promise<ObjectMeta | undefined>;

  /**
   * Opens an object for reading.
   * - With a range, only those bytes are transferred (`end` inclusive, clamped to the size).
   * - A range starting at or past the end yields an empty stream.
   * - Rejects with ENOENT for a missing key; never buffers the whole object.
   * - The stream yields `Uint8Array` chunks (Buffers from every built-in backend) and is read
   *   by iteration or 'data' events; the HTTP backends' streams are in object mode, one chunk per
   *   `read()` as it arrived. A consumer that copies each chunk out may ask to reuse their memory
   *   (`requestLending`, `giveBack` in src/core/lending-pool.ts).
   */
  read(key: string, range?: ByteRange): Promise<Readable>;

  /**
   * Starts a streaming upload; see {@link ObjectWriter}.
   * - Rejects with EEXIST up front when `ifNoneMatch` and the key exists (best effort).
   */
  write(key: string, options?: WriteOptions): Promise<ObjectWriter>;

  /**
   * Lists keys under a prefix, in lexicographic order, as pages.
   * - Listing a prefix with nothing under it yields no objects (it does not throw).
   * - With `delimiter: '/'`, keys below the next `/` are folded into `prefixes`.
   * - The prefix is a plain string prefix: `a/b` also matches `a/bc`; callers pass `a/b/`.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListPage>;

  /**
   * Deletes keys.
   * - Missing keys succeed.
   * - At most `capabilities.maxDeleteBatch` keys per call; the deriver batches.
   * - Any per-key failure rejects with that key's error.
   */
  delete(keys: readonly string[]): Promise<void>;

  /**
   * Copies one object.
   * - Server-side where `capabilities.serverSideCopy`.
   * - Rejects with ENOENT when the source is missing; overwrites the destination.
   * - With `ifNoneMatch` (only asked where `capabilities.conditionalCopy`), rejects with EEXIST
   *   and leaves the destination as it was if it exists when the copy commits.
   */
  copy(from: string, to: string, options?: CopyOptions): Promise<void>;

  /** Atomic single-object rename, where `capabilities.atomicRename`. Overwrites the destination. */
  rename?(from: string, to: string): Promise<void>;

  /** Releases sockets and clients. */
  close?(): Promise<void>;
}
