/**
 * The Azure Blob Backend over `@azure/storage-blob`: block blobs written through the shared
 * multipart writer (staged blocks, one commit at the end), read through the shared ordered range
 * reader, copied server-side, deleted in Blob Batch requests.
 *
 * Behaviour:
 * - Writes: an object smaller than one block is one Put Blob; otherwise blocks are staged with
 *   equal-length ids derived from a random upload id, and the block list is committed once, at
 *   `close()`. Until then nothing changes at the key: a failed or aborted write leaves the blob
 *   absent or as it was (uncommitted blocks are discarded by the service after 7 days).
 * - Create-only writes commit with `If-None-Match: *`; a racing writer makes the commit fail with
 *   EEXIST (409 BlobAlreadyExists or 412 ConditionNotMet).
 * - Integrity: every object's CRC32 (computed once by the multipart writer) is stored in the
 *   `avfscrc32` metadata and checked on full reads; with `blockChecksum: 'md5'` each request also
 *   carries an MD5 of its body (hashed on a worker thread), which the service verifies.
 * - Reads: ranged GETs; a large read is parallel ranged GETs delivered in order (bounded memory),
 *   pinned to the first response's ETag so a concurrent overwrite is an error, not a mix.
 * - Copy: Copy Blob From URL (synchronous, up to 256 MiB); above that, Put Block From URL in
 *   parallel and one commit; where the server lacks Put Block From URL (azurite), an asynchronous
 *   Copy Blob polled to completion. No object bytes travel through the client in any case.
 * - Delete: Blob Batch (256 per request); missing blobs succeed. Without batch support, parallel
 *   single deletes.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type * as Az from '@azure/storage-blob';
import { fsError, isFsError, type FsError } from '../../src/core/errors.js';
import { registerSecret } from '../../src/core/secrets.js';
import { createMultipartWriter, type MultipartService } from '../../src/backend/multipart.js';
import { crcVerifier, type Verify } from '../../src/backend/verify.js';
import { crc32 } from '../../src/core/crc32.js';
import { orderedRangeReader, planRead, totalFromContentRange } from '../../src/backend/ranged-read.js';
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
} from '../../src/backend/types.js';
import { azureCodeOf, mapAzureError, statusOf } from './errors.js';
import { md5Of } from './md5.js';
import { unknownOutcome } from '../../src/backend/http-errors.js';

export interface AzureBackendOptions {
  container: string;
  /** Storage account name (also taken from an `abfs[s]://container@account.dfs…` path). */
  accountName?: string | undefined;
  /** Shared key of the account (secret). */
  accountKey?: string | undefined;
  /** A SAS token (`sv=…&sig=…`, with or without the leading `?`) (secret). */
  sasToken?: string | undefined;
  /** A full connection string (secret); wins over the fields above. */
  connectionString?: string | undefined;
  /** Blob service URL, e.g. azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint?: string | undefined;
  /** Block size in bytes (default 16 MiB; grows so any object fits in 50,000 blocks). */
  blockSize?: number | undefined;
  /** Blocks staged at once (default 4). Memory ≈ blockSize × (concurrency + 1). */
  concurrency?: number | undefined;
  /** Range size for parallel downloads (default 16 MiB). */
  readPartSize?: number | undefined;
  /** Ranges fetched at once for large reads (default 4). */
  readConcurrency?: number | undefined;
  /**
   * Reads start as one open-ended GET; if it delivers less than this many bytes per second, the
   * rest is fetched as parallel ranged GETs (default 256 MiB/s; 0: always parallel ranges).
   */
  readParallelBelow?: number | undefined;
  /**
   * `crc32` (default): the whole object's CRC32 is stored as metadata and checked on full reads.
   * `off`: none.
   */
  checksum?: 'crc32' | 'off' | undefined;
  /** `md5`: a transactional MD5 on every block and single put, verified by the service. Default `none`. */
  blockChecksum?: 'md5' | 'none' | undefined;
  /** SDK attempts per request (default 3). */
  maxAttempts?: number | undefined;
  /** First delay between SDK attempts in ms (default 4000, the SDK's; doubles per try). */
  retryDelayMs?: number | undefined;
  /** Blobs per list request (default 5000, the service maximum). */
  listPageSize?: number | undefined;
  /** Most blocks per blob (default 50,000, the service limit). */
  maxBlocks?: number | undefined;
  /** Copies above this size use Put Block From URL (default 256 MiB, the Copy Blob From URL limit). */
  copyBlockThreshold?: number | undefined;
  /** Block size for Put Block From URL copies (default 256 MiB). */
  copyBlockSize?: number | undefined;
  /** Use Blob Batch for multi-key deletes (default true; falls back by itself when unsupported). */
  batchDelete?: boolean | undefined;
}

type Sdk = typeof Az;

const MiB = 1024 * 1024;
/** Metadata name for the whole-object CRC32 (Azure metadata names must be C# identifiers). */
export const CRC_META = 'avfscrc32';
const SYNC_COPY_LIMIT = 256 * MiB;
export const AZURE_LIMITS = { maxParts: 50_000, minPartSize: 1, maxPartSize: 4000 * MiB } as const;
const BATCH_LIMIT = 256;

/** The pieces of a connection string, for secret registration and the account name. */
function parseConnectionString(cs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
  }
  return out;
}

/** Registers every credential a config carries (also when the backend is built without a store). */
export function registerAzureSecrets(o: AzureBackendOptions): void {
  registerSecret(o.accountKey);
  registerSecret(o.connectionString);
  if (o.connectionString) {
    const cs = parseConnectionString(o.connectionString);
    registerSecret(cs.accountkey);
    registerSecret(cs.sharedaccesssignature);
    const sig = /(?:^|&|\?)sig=([^&]+)/.exec(cs.sharedaccesssignature ?? '')?.[1];
    if (sig) registerSecret(sig);
  }
  if (o.sasToken) {
    const sas = o.sasToken.replace(/^\?/, '');
    registerSecret(sas);
    const sig = /(?:^|&)sig=([^&]+)/.exec(sas)?.[1];
    if (sig) {
      registerSecret(sig);
      try {
        registerSecret(decodeURIComponent(sig));
      } catch {
        // not percent-encoded
      }
    }
  }
}

/** Metadata name of a create-only write's id (Azure names are C# identifiers: no dashes). */
const WRITE_META = 'avfswrite';

export class AzureBackend implements Backend {
  readonly name = 'azure';
  readonly capabilities: Capabilities;
  readonly container: string;
  readonly #sdk: Sdk;
  readonly #service: Az.BlobServiceClient;
  readonly #client: Az.ContainerClient;
  readonly #opts: AzureBackendOptions;
  readonly #crcMeta: boolean;
  readonly #md5: boolean;
  /** Cleared after the server answered a batch with "not supported". */
  #batch: boolean;
  /** Cleared after the server answered Put Block From URL with "not supported". */
  #blockFromUrl = true;

  constructor(sdk: Sdk, options: AzureBackendOptions) {
    this.#sdk = sdk;
    this.#opts = options;
    this.container = options.container;
    registerAzureSecrets(options);
    const mode = options.checksum ?? 'crc32';
    if (mode !== 'crc32' && mode !== 'off') {
      throw fsError('EINVAL', {
        message: `EINVAL: azure checksum must be 'crc32' or 'off' (got '${String(mode)}')`,
      });
    }
    const block = options.blockChecksum ?? 'none';
    if (block !== 'md5' && block !== 'none') {
      throw fsError('EINVAL', {
        message: `EINVAL: azure blockChecksum must be 'md5' or 'none' (got '${String(block)}')`,
      });
    }
    this.#crcMeta = mode === 'crc32';
    this.#md5 = block === 'md5';
    this.#batch = options.batchDelete ?? true;
    const pipeline: Az.StoragePipelineOptions = {
      retryOptions: {
        maxTries: Math.max(1, options.maxAttempts ?? 3),
        // The SDK waits 4 s, doubling, between tries: right for a throttled account, too slow
        // for tests that storm an emulator with faults.
        ...(options.retryDelayMs !== undefined
          ? { retryDelayInMs: options.retryDelayMs, maxRetryDelayInMs: 8 * options.retryDelayMs }
          : {}),
      },
      keepAliveOptions: { enable: true },
    };
    this.#service = AzureBackend.#serviceClient(sdk, options, pipeline);
    this.#client = this.#service.getContainerClient(options.container);
    this.capabilities = {
      directoryMarkers: true,
      conditionalCreate: true,
      conditionalCopy: true,
      serverSideCopy: true,
      atomicRename: false,
      rangedReads: true,
      maxDeleteBatch: BATCH_LIMIT,
      maxKeyBytes: 1024,
    };
  }

  static #serviceClient(
    sdk: Sdk,
    o: AzureBackendOptions,
    pipeline: Az.StoragePipelineOptions,
  ): Az.BlobServiceClient {
    if (o.connectionString) return sdk.BlobServiceClient.fromConnectionString(o.connectionString, pipeline);
    const account = o.accountName;
    const endpoint = (
      o.endpoint ?? (account ? `https://${account}.blob.core.windows.net` : undefined)
    )?.replace(/\/+$/, '');
    if (!endpoint) {
      throw fsError('EINVAL', {
        message:
          'EINVAL: the azure flavor needs an accountName (or an abfs[s]://container@account.dfs.core.windows.net path), an endpoint or a connectionString',
      });
    }
    if (o.accountKey) {
      if (!account)
        throw fsError('EINVAL', { message: 'EINVAL: an azure accountKey needs the accountName too' });
      const cred = new sdk.StorageSharedKeyCredential(account, o.accountKey);
      return new sdk.BlobServiceClient(endpoint, sdk.newPipeline(cred, pipeline));
    }
    const sas = o.sasToken ? `?${o.sasToken.replace(/^\?/, '')}` : '';
    return new sdk.BlobServiceClient(
      `${endpoint}${sas}`,
      sdk.newPipeline(new sdk.AnonymousCredential(), pipeline),
    );
  }

  /** The underlying container client, for calls we do not wrap. */
  get client(): Az.ContainerClient {
    return this.#client;
  }

  #path(key: string): string {
    return `az://${this.container}/${key}`;
  }

  #blob(key: string): Az.BlockBlobClient {
    return this.#client.getBlockBlobClient(key);
  }

  async #call<T>(fn: () => Promise<T>, syscall: string, key: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw isFsError(err) ? err : mapAzureError(err, { syscall, path: this.#path(key) });
    }
  }

  async stat(key: string): Promise<ObjectMeta | undefined> {
    try {
      const p = await this.#blob(key).getProperties();
      return {
        key,
        size: p.contentLength ?? 0,
        mtime: p.lastModified ?? new Date(0),
        etag: p.etag,
        meta: { contentType: p.contentType, metadata: p.metadata, blobType: p.blobType },
      };
    } catch (err) {
      // A HEAD 404 has no body, hence no error code: the status decides.
      if (statusOf(err) === 404) return undefined;
      throw mapAzureError(err, { syscall: 'stat', path: this.#path(key) });
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // One open-ended download first; parallel ranges only if it proves slow (see ranged-read.ts).
    const plan = planRead(range, this.#opts, 16 * MiB);
    const { from, headEnd } = plan;
    const blob = this.#blob(key);
    let first: Az.BlobDownloadResponseParsed;
    try {
      first = await blob.download(from, headEnd === undefined ? undefined : headEnd - from + 1);
    } catch (err) {
      if (statusOf(err) === 416) {
        // At or past the end (or an empty blob): nothing to read, if the blob exists.
        if (!(await this.stat(key))) throw fsError('ENOENT', { syscall: 'open', path: this.#path(key) });
        return Readable.from([]);
      }
      throw mapAzureError(err, { syscall: 'open', path: this.#path(key) });
    }
    const total = totalFromContentRange(first.contentRange) ?? (first.contentLength ?? 0) + from;
    const last = range?.end !== undefined ? Math.min(range.end, total - 1) : total - 1;
    const body = first.readableStreamBody as Readable | undefined;
    if (!body || last < from) {
      body?.resume();
      return Readable.from([]);
    }
    let verify: Verify | undefined;
    const stored = first.metadata?.[CRC_META];
    if (!range && this.#crcMeta && stored !== undefined) {
      const expected = Number.parseInt(stored, 16);
      if (Number.isFinite(expected)) verify = crcVerifier('CRC32', crc32, expected, this.#path(key));
    }
    const etag = first.etag;
    return orderedRangeReader({
      from,
      to: last,
      partSize: plan.partSize,
      concurrency: this.#opts.readConcurrency ?? 4,
      head: { body, end: plan.headEndFor(last) },
      adaptive: plan.adaptive,
      verify,
      path: this.#path(key),
      fetch: async (start, end, signal) => {
        try {
          const r = await blob.download(start, end - start + 1, {
            abortSignal: signal,
            conditions: etag ? { ifMatch: etag } : undefined,
          });
          return r.readableStreamBody as Readable;
        } catch (err) {
          if (statusOf(err) === 412) {
            throw fsError('EIO', {
              syscall: 'read',
              path: this.#path(key),
              detail: 'the blob changed while it was being read',
              cause: err,
            });
          }
          throw mapAzureError(err, { syscall: 'read', path: this.#path(key) });
        }
      },
    });
  }

  /**
   * The blob at `key` if this create-only write stored it: it carries our write id (another
   * writer's blob, even with the same bytes, is a real conflict) and our size. If it cannot be read
   * (other than missing), the outcome is unknown: EIO.
   */
  async #ownBlob(key: string, size: number, token: string): Promise<ObjectMeta | undefined> {
    let p: Az.BlobGetPropertiesResponse;
    try {
      p = await this.#blob(key).getProperties();
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw unknownOutcome(err, this.#path(key));
    }
    if (p.contentLength !== size || p.metadata?.[WRITE_META] !== token) return undefined;
    return { key, size, mtime: p.lastModified ?? new Date(), etag: p.etag };
  }

  async write(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    const createOnly = options.ifNoneMatch === true;
    if (createOnly && (await this.stat(key)))
      throw fsError('EEXIST', { syscall: 'open', path: this.#path(key) });
    const conditions = createOnly ? { ifNoneMatch: '*' } : undefined;
    const blob = this.#blob(key);
    const crcMeta = this.#crcMeta;
    const md5 = this.#md5;
    const headers = options.contentType ? { blobContentType: options.contentType } : {};
    // Every write's id, stored with the blob: how a retry, or a commit whose every answer was lost,
    // recognises its own commit.
    const token = randomBytes(12).toString('hex');
    const metadataFor = (crc: number): Record<string, string> => ({
      ...options.metadata,
      ...(crcMeta ? { [CRC_META]: (crc >>> 0).toString(16) } : {}),
      [WRITE_META]: token,
    });
    /**
     * A failed commit. Create-only conflicts (409 BlobAlreadyExists, 412 ConditionNotMet) are
     * EEXIST, unless the blob there is this write's own: the SDK retried a commit whose answer was
     * lost, and met what the first attempt stored (our write id). A commit that failed in a way the
     * service may have acted on (a reset, a timeout, a 5xx: every answer lost) is checked the same
     * way. Either way, our blob there means the write succeeded.
     */
    const commitFailed = async (err: unknown, size: number): Promise<ObjectMeta> => {
      const mapped = isFsError(err) ? err : mapAzureError(err, { syscall: 'write', path: this.#path(key) });
      const conflict = statusOf(err) === 409 || statusOf(err) === 412;
      if (conflict && createOnly) {
        const mine = await this.#ownBlob(key, size, token);
        if (mine) return mine;
        throw fsError('EEXIST', { syscall: 'open', path: this.#path(key), cause: err });
      }
      if (mapped.retryable) {
        const mine = await this.#ownBlob(key, size, token).catch(() => undefined);
        if (mine) return mine;
      }
      throw mapped;
    };
    const service: MultipartService<string> = {
      put: async (body, info) => {
        try {
          const r = await blob.upload(body, body.length, {
            blobHTTPHeaders: { ...headers, ...(md5 ? { blobContentMD5: await md5Of(body) } : {}) },
            metadata: metadataFor(info.crc32),
            conditions,
          });
          return { key, size: body.length, mtime: r.lastModified ?? new Date(), etag: r.etag };
        } catch (err) {
          return commitFailed(err, body.length);
        }
      },
      // Nothing to create server-side: the id only makes this upload's block ids unique.
      initiate: async () => randomBytes(9).toString('base64url'),
      uploadPart: async (uploadId, partNumber, body) => {
        const id = blockId(uploadId, partNumber);
        await this.#call(
          async () =>
            blob.stageBlock(
              id,
              body,
              body.length,
              md5 ? { transactionalContentMD5: await md5Of(body) } : undefined,
            ),
          'write',
          key,
        );
        return { token: id };
      },
      complete: async (_uploadId, parts, info) => {
        try {
          const r = await blob.commitBlockList(
            parts.map((p) => p.token),
            { blobHTTPHeaders: headers, metadata: metadataFor(info.crc32), conditions },
          );
          return { key, size: info.size, mtime: r.lastModified ?? new Date(), etag: r.etag };
        } catch (err) {
          return commitFailed(err, info.size);
        }
      },
      // Staged blocks are invisible and never committed; the service discards them after 7 days.
      abort: async () => undefined,
      isRetryable: (err) => isFsError(err) && err.retryable,
    };
    return createMultipartWriter(service, {
      partSize: this.#opts.blockSize,
      concurrency: this.#opts.concurrency,
      sizeHint: options.sizeHint,
      path: this.#path(key),
      checksums: crcMeta ? 'all' : 'none',
      ...AZURE_LIMITS,
      maxParts: this.#opts.maxBlocks ?? AZURE_LIMITS.maxParts,
      // The SDK already retries each request (maxAttempts); the writer adds a few more for resets.
      attempts: 3,
    });
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListPage> {
    let remaining = options.limit ?? Infinity;
    const after = options.startAfter;
    const pageSize = Math.max(1, Math.min(options.pageSize ?? 5000, this.#opts.listPageSize ?? 5000, 5000));
    const pages =
      options.delimiter === '/'
        ? this.#client.listBlobsByHierarchy('/', { prefix }).byPage({ maxPageSize: pageSize })
        : this.#client.listBlobsFlat({ prefix }).byPage({ maxPageSize: pageSize });
    const it = pages[Symbol.asyncIterator]();
    try {
      while (remaining > 0) {
        let step: IteratorResult<Az.ListBlobsHierarchySegmentResponse | Az.ListBlobsFlatSegmentResponse>;
        try {
          step = await it.next();
        } catch (err) {
          // A missing container lists as empty (nothing is under the prefix).
          if (azureCodeOf(err) === 'ContainerNotFound') return;
          throw mapAzureError(err, { syscall: 'scandir', path: this.#path(prefix) });
        }
        if (step.done) return;
        const seg = step.value.segment as Az.BlobHierarchyListSegment;
        let objects: ObjectMeta[] = (seg.blobItems ?? []).map((b) => ({
          key: b.name,
          size: b.properties.contentLength ?? 0,
          mtime: b.properties.lastModified ?? new Date(0),
          etag: b.properties.etag,
        }));
        let prefixes = (seg.blobPrefixes ?? []).map((p) => p.name).filter((p) => p !== '');
        if (after !== undefined) {
          objects = objects.filter((o) => o.key > after);
          prefixes = prefixes.filter((p) => p > after);
        }
        const n = objects.length + prefixes.length;
        if (n > remaining) {
          // Trim in key order across objects and prefixes.
          const merged = [
            ...objects.map((o) => ({ k: o.key, o })),
            ...prefixes.map((p) => ({ k: p, o: undefined })),
          ]
            .sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
            .slice(0, remaining);
          objects = merged.flatMap((m) => (m.o ? [m.o] : []));
          prefixes = merged.flatMap((m) => (m.o ? [] : [m.k]));
        }
        remaining -= objects.length + prefixes.length;
        if (objects.length + prefixes.length > 0) yield { objects, prefixes };
      }
    } finally {
      await it.return?.();
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length === 1 || !this.#batch) {
      await this.#deleteEach(keys);
      return;
    }
    for (let i = 0; i < keys.length; i += BATCH_LIMIT) {
      const batch = keys.slice(i, i + BATCH_LIMIT);
      if (!this.#batch) {
        await this.#deleteEach(batch);
        continue;
      }
      let res: Az.BlobBatchDeleteBlobsResponse;
      try {
        res = await this.#client.getBlobBatchClient().deleteBlobs(
          batch.map((k) => this.#client.getBlobClient(k)),
          { deleteSnapshots: 'include' },
        );
      } catch (err) {
        const status = statusOf(err);
        const code = azureCodeOf(err);
        if (status === 501 || code === 'NotImplemented' || code === 'FeatureNotSupported') {
          this.#batch = false;
          await this.#deleteEach(batch);
          continue;
        }
        await this.#deletedAnyway(mapAzureError(err, { syscall: 'rm', path: this.#path(batch[0]!) }), batch);
        continue;
      }
      for (let j = 0; j < res.subResponses.length; j++) {
        const sub = res.subResponses[j]!;
        if (sub.status < 300 || sub.status === 404) continue;
        const subKey = keyFromUrl(sub._request?.url, this.container) ?? batch[j] ?? batch[0]!;
        throw mapAzureError(
          Object.assign(new Error(sub.errorCode ?? sub.statusMessage ?? 'delete failed'), {
            name: 'RestError',
            statusCode: sub.status,
            code: sub.errorCode,
          }),
          { syscall: 'rm', path: this.#path(subKey) },
        );
      }
    }
  }

  async #deleteEach(keys: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        try {
          await this.#blob(key).delete({ deleteSnapshots: 'include' });
        } catch (err) {
          if (statusOf(err) === 404) continue;
          await this.#deletedAnyway(mapAzureError(err, { syscall: 'unlink', path: this.#path(key) }), [key]);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
  }

  /**
   * A delete that failed in a way the service may have acted on (a reset, a timeout, a 5xx: the
   * answer may be what was lost) is checked: when none of `keys` is there, it happened. Otherwise,
   * or when a key cannot be checked, `err` stands.
   */
  async #deletedAnyway(err: FsError, keys: readonly string[]): Promise<void> {
    if (!err.retryable) throw err;
    for (const key of keys) {
      const there = await this.#blob(key)
        .getProperties()
        .then(
          () => true,
          (e: unknown) => statusOf(e) !== 404,
        );
      if (there) throw err;
    }
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const conditions = options.ifNoneMatch ? { conditions: { ifNoneMatch: '*' } } : {};
    const meta = await this.stat(from);
    if (!meta) throw fsError('ENOENT', { syscall: 'copyfile', path: this.#path(from), dest: this.#path(to) });
    const ctx = { syscall: 'copyfile', path: this.#path(from), dest: this.#path(to) };
    const source = await this.#sourceUrl(from);
    const dest = this.#blob(to);
    const threshold = Math.min(this.#opts.copyBlockThreshold ?? SYNC_COPY_LIMIT, SYNC_COPY_LIMIT);
    try {
      if (meta.size <= threshold) {
        await dest.syncCopyFromURL(source, conditions);
        return;
      }
      if (this.#blockFromUrl) {
        try {
          await this.#copyByBlocks(source, dest, meta, conditions);
          return;
        } catch (err) {
          if (!(statusOf(err) === 501 || azureCodeOf(err) === 'NotImplemented')) throw err;
          this.#blockFromUrl = false;
        }
      }
      // Put Block From URL is missing (azurite): an asynchronous server-side copy, polled.
      const poller = await dest.beginCopyFromURL(source, { intervalInMs: 200, ...conditions });
      const r = await poller.pollUntilDone();
      if (r.copyStatus && r.copyStatus !== 'success')
        throw fsError('EIO', { ...ctx, detail: `server-side copy ended as ${r.copyStatus}` });
    } catch (err) {
      throw isFsError(err) ? err : mapAzureError(err, ctx);
    }
  }

  /** Put Block From URL in parallel, then one commit with the source's headers and metadata. */
  async #copyByBlocks(
    source: string,
    dest: Az.BlockBlobClient,
    meta: ObjectMeta,
    conditions: { conditions?: { ifNoneMatch: string } },
  ): Promise<void> {
    const size = meta.size;
    const blockSize = Math.max(
      this.#opts.copyBlockSize ?? 256 * MiB,
      Math.ceil(size / AZURE_LIMITS.maxParts / MiB) * MiB,
    );
    const upload = randomBytes(9).toString('base64url');
    const count = Math.ceil(size / blockSize);
    const ids = Array.from({ length: count }, (_, i) => blockId(upload, i + 1));
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const i = next++;
        const start = i * blockSize;
        await dest.stageBlockFromURL(ids[i]!, source, start, Math.min(blockSize, size - start));
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
    // Each block was read from the source separately: if the source was replaced meanwhile, the
    // blocks mix two versions. An unchanged ETag proves no write came between the stat and now.
    const after = await this.#blob(meta.key).getProperties();
    if (after.etag !== meta.etag) {
      throw fsError('EIO', {
        syscall: 'copyfile',
        path: this.#path(meta.key),
        dest: this.#path(dest.name),
        detail: 'the source changed while it was being copied; nothing was committed',
      });
    }
    const props = (meta.meta ?? {}) as { contentType?: string; metadata?: Record<string, string> };
    await dest.commitBlockList(ids, {
      blobHTTPHeaders: props.contentType ? { blobContentType: props.contentType } : undefined,
      metadata: props.metadata,
      ...conditions,
    });
  }

  /** A URL the service can read the source from: with a short-lived read SAS under a shared key. */
  async #sourceUrl(key: string): Promise<string> {
    const blob = this.#client.getBlobClient(key);
    if (blob.credential instanceof this.#sdk.StorageSharedKeyCredential) {
      const now = Date.now();
      return blob.generateSasUrl({
        permissions: this.#sdk.BlobSASPermissions.parse('r'),
        startsOn: new Date(now - 5 * 60_000),
        expiresOn: new Date(now + 60 * 60_000),
      });
    }
    return blob.url;
  }

  async close(): Promise<void> {
    // The SDK's HTTP client owns its keep-alive agent; idle sockets close on their own (unref'd).
  }
}

/**
 * Block ids: base64 of `<upload id>-<6-digit part number>`, so every id of a blob has the same
 * length (the service requires it) and uploads never reuse each other's ids.
 */
export function blockId(uploadId: string, partNumber: number): string {
  return Buffer.from(`${uploadId}-${String(partNumber).padStart(6, '0')}`).toString('base64');
}

function keyFromUrl(url: string | undefined, container: string): string | undefined {
  if (!url) return undefined;
  try {
    const path = decodeURIComponent(new URL(url).pathname);
    const at = path.indexOf(`/${container}/`);
    return at < 0 ? undefined : path.slice(at + container.length + 2);
  } catch {
    return undefined;
  }
}
