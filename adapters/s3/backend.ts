/**
 * The S3 Backend over `@aws-sdk/client-s3`: keep-alive connections, no `Expect: 100-continue`,
 * CRC32 computed by us with zlib's native crc32 (the SDK's JS CRC is skipped), UNSIGNED-PAYLOAD only
 * over HTTPS or on an endpoint marked trusted, the shared multipart writer for uploads and the
 * shared ordered range reader for large downloads.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { Readable } from 'node:stream';
import type * as S3 from '@aws-sdk/client-s3';
import { crc32, crcFromBase64, crcToBase64 } from '../../src/core/crc32.js';
import { errorCode, fsError, isFsError } from '../../src/core/errors.js';
import {
  createMultipartWriter,
  S3_LIMITS,
  Segments,
  bodyChunks,
  type MultipartService,
  type PartBody,
  type SegmentedMultipartService,
} from '../../src/backend/multipart.js';
import { orderedRangeReader, planRead, totalFromContentRange } from '../../src/backend/ranged-read.js';
import { crcVerifier, type Verify } from '../../src/backend/verify.js';
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
import { mapS3Error, statusOf } from './errors.js';
import { fastGetExtension, SocketGetHandler } from './socket-handler.js';
import { PartSender, partTargetOf, type PartTarget, type RequestSigner } from './part-sender.js';
import {
  confirmCommit,
  CRC_META,
  mayHaveActed,
  mayHaveCommitted,
  recoverCommit,
  WRITE_META,
  type CommitIo,
  type Sent,
} from './commit-check.js';

/**
 * A part's segments as a plain-HTTP request body. They are all in memory already, so `pipe` (what
 * the SDK's HTTP handler calls) queues them on the request at once instead of one per 'drain':
 * fewer, larger socket writes (measured with the bench client, 3 interleaved runs: 0.39 → 0.35
 * client CPU-s/GiB for a 4 GiB upload on loopback). Not for TLS, which would copy such a write into one buffer. Read any other way, it is
 * an ordinary Readable of the same buffers.
 */
class SegmentsReadable extends Readable {
  readonly #buffers: readonly Buffer[];

  constructor(buffers: readonly Buffer[]) {
    super();
    this.#buffers = buffers;
  }

  override _read(): void {
    for (const b of this.#buffers) this.push(b);
    this.push(null);
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T {
    (dest as unknown as NodeJS.EventEmitter).emit('pipe', this);
    for (const b of this.#buffers) dest.write(b);
    if (options?.end !== false) dest.end();
    return dest;
  }
}

/** A zero-copy body on its way through the SDK's middleware (see the constructor). */
class SegmentedPayload {
  constructor(readonly segments: Segments) {}
}

/** The SDK `Body` for a part: a Buffer as it is, segments wrapped for the middleware. */
function sdkBody(body: PartBody): Buffer {
  // Typed as Buffer for the SDK's input type; the middleware replaces it before any I/O.
  return (body instanceof Segments ? new SegmentedPayload(body) : body) as Buffer;
}

export interface S3BackendOptions {
  bucket: string;
  region?: string | undefined;
  /** Any S3-compatible server (MinIO, R2, Ceph…). */
  endpoint?: string | undefined;
  forcePathStyle?: boolean | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  /** A profile from the shared config files (otherwise the SDK's default chain). */
  profile?: string | undefined;
  /**
   * `crc32` (default): CRC32 on every upload request for the server to verify (per part, and the
   * whole object on completion), stored with single-request objects and checked on full reads.
   * `metadata`: no checksum headers (for servers that mishandle them), but the stored CRC32 is
   * still checked on full reads. `off`: none.
   */
  checksum?: 'crc32' | 'metadata' | 'off' | undefined;
  /** Upload part size in bytes (default 16 MiB; grows so any object fits in 10,000 parts). */
  partSize?: number | undefined;
  /** Parts uploaded at once (default 4). Memory ≈ partSize × (concurrency + 1). */
  concurrency?: number | undefined;
  /** Range size for parallel downloads (default 16 MiB). */
  readPartSize?: number | undefined;
  /** Ranges fetched at once for large reads (default 4). */
  readConcurrency?: number | undefined;
  /** Skip payload signing on a plain-HTTP endpoint you trust (an emulator on loopback). */
  trustedEndpoint?: boolean | undefined;
  /**
   * Path of a PEM file of CA certificates to trust for an HTTPS endpoint, besides Node's own and
   * `NODE_EXTRA_CA_CERTS` (a private CA in front of MinIO or Ceph). Default: `AWS_CA_BUNDLE`
   * (unless `ca` is given). Read when the backend is created.
   */
  caBundle?: string | undefined;
  /** PEM text of CA certificates to trust, as `caBundle` (both may be given). */
  ca?: string | undefined;
  /** The server enforces `If-None-Match: *` (AWS S3 and Ceph do; some emulators do not). */
  conditionalWrites?: boolean | undefined;
  /** The server enforces If-None-Match on CopyObject (default: true on AWS). */
  conditionalCopy?: boolean | undefined;
  /** The server implements UploadPartCopy (copies above 5 GiB). */
  uploadPartCopy?: boolean | undefined;
  /** Bytes an upload may hold at once (default `partSize × (concurrency + 1)`, 80 MiB). */
  memoryBudget?: number | undefined;
  /**
   * Once a part uploads at this many bytes/s or more, later parts double, up to half the memory
   * budget (default 256 MiB/s, or never when `partSize` is given; 0: never). Fewer, larger
   * requests on a fast link.
   */
  growPartsAbove?: number | undefined;
  /**
   * Send UploadPart as a plain HTTP PUT signed by the SDK's signer, without its per-request
   * middleware (default true; only with unsigned payloads: HTTPS or `trustedEndpoint`).
   */
  fastParts?: boolean | undefined;
  /**
   * Send piped and `writeFile` chunks without copying them into part buffers (default true). Only
   * where payloads are not hashed for SigV4 (HTTPS or `trustedEndpoint`). Turn it off for a
   * source that modifies a chunk after handing it to a stream (which node:fs streams do not
   * tolerate either).
   */
  zeroCopy?: boolean | undefined;
  /** SDK attempts per request (default 3). */
  maxAttempts?: number | undefined;
  /** Keys per ListObjectsV2 page (default 1000, the S3 maximum). */
  listPageSize?: number | undefined;
  /** Most parts an upload may have (default 10,000; some S3-compatible servers allow fewer). */
  maxParts?: number | undefined;
  /** Objects above this size are copied with UploadPartCopy (default 5 GiB, the CopyObject limit). */
  multipartCopyThreshold?: number | undefined;
  /** Part size for UploadPartCopy (default 512 MiB, grown to fit 10,000 parts). */
  copyPartSize?: number | undefined;
  /**
   * Reads start as one open-ended GET; if it delivers less than this many bytes per second, the
   * rest is fetched as parallel ranged GETs (default 256 MiB/s; 0: always parallel ranges).
   */
  readParallelBelow?: number | undefined;
  /**
   * GetObject over plain HTTP on our own keep-alive sockets, read straight into fresh 256 KiB buffers
   * (default true; see socket-handler.ts). HTTPS and every other request use the SDK's handler.
   */
  fastGet?: boolean | undefined;
  /**
   * Plain-HTTP part bodies written on the libuv threadpool, beside the thread that fills and
   * checksums the next part (default true; needs `fastGet` and `fastParts`, which send parts on
   * the same raw sockets). false: written by the main thread.
   */
  offThreadWrites?: boolean | undefined;
}

type Sdk = typeof S3;

const MiB = 1024 * 1024;
const COPY_LIMIT = 5 * 1024 * MiB;

/**
 * The CA list for the HTTPS agent when the options add CAs (`ca`, `caBundle`, or `AWS_CA_BUNDLE`
 * when neither is given): Node's roots, `NODE_EXTRA_CA_CERTS` (an agent's `ca` replaces the
 * defaults, so it is read again here), then ours. Empty when nothing is added. A file that cannot
 * be read, or holds no certificate, is EINVAL naming it and where its path came from.
 */
function trustedCas(options: S3BackendOptions): string[] {
  const files: [path: string, from: string][] = [];
  if (options.caBundle) files.push([options.caBundle, 's3 caBundle']);
  else if (!options.ca && process.env.AWS_CA_BUNDLE) files.push([process.env.AWS_CA_BUNDLE, 'AWS_CA_BUNDLE']);
  if (files.length === 0 && !options.ca) return [];
  const ours = [...(options.ca ? [options.ca] : []), ...files.map(([path, from]) => readPem(path, from))];
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  const nodeExtra = extra ? [readPem(extra, 'NODE_EXTRA_CA_CERTS')] : [];
  return [...rootCertificates, ...nodeExtra, ...ours];
}

function readPem(path: string, from: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fsError('EINVAL', {
      message: `EINVAL: ${from} '${path}' cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      cause: err,
    });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw fsError('EINVAL', { message: `EINVAL: ${from} '${path}' holds no PEM certificate` });
  return text;
}

export class S3Backend implements Backend {
  readonly name = 's3';
  readonly capabilities: Capabilities;
  readonly bucket: string;
  readonly #sdk: Sdk;
  readonly #client: S3.S3Client;
  readonly #opts: S3BackendOptions;
  readonly #agents: (HttpAgent | HttpsAgent)[];
  readonly #partAgents: { http: HttpAgent; https: HttpsAgent };
  /** UploadPart without the SDK's middleware (see part-sender.ts); undefined: through the SDK. */
  #partSender: PartSender | undefined;
  /** Send x-amz-checksum-* headers. */
  readonly #checksums: boolean;
  /** Store and verify our own CRC32 metadata. */
  readonly #crcMeta: boolean;
  /** Bodies are sent as UNSIGNED-PAYLOAD (HTTPS or a trusted endpoint): zero-copy parts allowed. */
  readonly #unsignedPayload: boolean;

  constructor(sdk: Sdk, options: S3BackendOptions) {
    this.#sdk = sdk;
    this.#opts = options;
    this.bucket = options.bucket;
    const mode = options.checksum ?? 'crc32';
    if (mode !== 'crc32' && mode !== 'metadata' && mode !== 'off') {
      throw fsError('EINVAL', {
        message: `EINVAL: s3 checksum must be 'crc32', 'metadata' or 'off' (got '${String(mode)}')`,
      });
    }
    this.#checksums = mode === 'crc32';
    this.#crcMeta = mode !== 'off';
    const sockets = Math.max(16, (options.concurrency ?? 4) + (options.readConcurrency ?? 4) + 4);
    const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: sockets });
    const extraCa = trustedCas(options);
    const httpsAgent = new HttpsAgent({
      keepAlive: true,
      maxSockets: sockets,
      ...(extraCa.length > 0 ? { ca: extraCa } : {}),
    });
    this.#agents = [httpAgent, httpsAgent];
    this.#partAgents = { http: httpAgent, https: httpsAgent };
    const https = !options.endpoint || options.endpoint.startsWith('https:');
    const credentials =
      options.accessKeyId && options.secretAccessKey
        ? {
            accessKeyId: options.accessKeyId,
            secretAccessKey: options.secretAccessKey,
            sessionToken: options.sessionToken,
          }
        : undefined;
    this.#client = new sdk.S3Client({
      region: options.region ?? process.env.AWS_REGION ?? 'us-east-1',
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      ...(credentials ? { credentials } : {}),
      ...(options.profile ? { profile: options.profile } : {}),
      requestHandler: { httpAgent, httpsAgent },
      // Plain-HTTP GetObject on raw sockets, everything else on the handler built from the line above.
      ...(options.fastGet === false
        ? {}
        : { extensions: [fastGetExtension({ offThreadWrites: options.offThreadWrites })] }),
      // Checksums are computed by us (native CRC32) and sent as headers; the SDK would otherwise
      // frame streamed bodies as aws-chunked and CRC them in JavaScript.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A 100-continue handshake costs a round trip and, with Node's agent, a fresh connection per part.
      expectContinueHeader: false,
      maxAttempts: options.maxAttempts ?? 3,
    });
    this.#unsignedPayload = https || options.trustedEndpoint === true;
    const signer = (this.#client.config as unknown as { signer?: () => Promise<RequestSigner> }).signer;
    if (this.#unsignedPayload && options.fastParts !== false && typeof signer === 'function') {
      // Plain-HTTP parts share the fast GETs' raw sockets (the client's handler, when it is ours).
      const handler = (this.#client.config as { requestHandler?: unknown }).requestHandler;
      this.#partSender = new PartSender(
        signer,
        this.#partAgents,
        handler instanceof SocketGetHandler ? handler : undefined,
      );
    }
    // A zero-copy part travels through the SDK as a SegmentedPayload (not a stream, so the SDK
    // still retries it), and becomes a fresh Readable over its buffers for each attempt, right
    // before the HTTP handler.
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { body?: unknown };
        if (!(req.body instanceof SegmentedPayload)) return next(args);
        const { buffers } = req.body.segments;
        const request = Object.assign(Object.create(Object.getPrototypeOf(req) as object) as object, req, {
          // TLS copies a multi-buffer write into one buffer of its whole length: paced there.
          body:
            (req as { protocol?: string }).protocol === 'https:'
              ? Readable.from(buffers, { objectMode: false })
              : new SegmentsReadable(buffers),
        });
        return next({ ...args, request });
      },
      { step: 'deserialize', priority: 'low', name: 'avfsSegmentedBody' },
    );
    if (this.#unsignedPayload) {
      // Payload SHA-256 for SigV4 halves throughput; TLS (or a trusted loopback) plus our CRC32
      // protects the bytes instead.
      this.#client.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { headers?: Record<string, string>; body?: unknown };
          if (req.headers && req.body !== undefined && req.body !== null)
            req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
          return next(args);
        },
        { step: 'build', name: 'avfsUnsignedPayload' },
      );
    }
    const isAws = !options.endpoint;
    this.capabilities = {
      directoryMarkers: true,
      conditionalCreate: options.conditionalWrites ?? isAws,
      conditionalCopy: options.conditionalCopy ?? isAws,
      serverSideCopy: true,
      atomicRename: false,
      rangedReads: true,
      maxDeleteBatch: 1000,
      maxKeyBytes: 1024,
    };
  }

  /** The underlying client, for callers that need an S3 call we do not wrap. */
  get client(): S3.S3Client {
    return this.#client;
  }

  #path(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }

  async #send<T>(command: unknown, syscall: string, key: string, signal?: AbortSignal): Promise<T> {
    try {
      return (await this.#client.send(command as never, signal ? { abortSignal: signal } : undefined)) as T;
    } catch (err) {
      throw isFsError(err) ? err : mapS3Error(err, { syscall, path: this.#path(key) });
    }
  }

  async stat(key: string): Promise<ObjectMeta | undefined> {
    try {
      const r = await this.#client.send(new this.#sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        mtime: r.LastModified ?? new Date(0),
        etag: r.ETag,
        meta: { contentType: r.ContentType, versionId: r.VersionId, metadata: r.Metadata },
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw mapS3Error(err, { syscall: 'stat', path: this.#path(key) });
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // One open-ended GET first; parallel ranges only if it proves slow (see ranged-read.ts).
    const plan = planRead(range, this.#opts, 16 * MiB);
    const { from, headEnd } = plan;
    // S3 returns no checksum on a ranged GET: a full read asks for the whole-object CRC32 with a
    // HEAD, sent alongside the first GET (only where the server keeps checksums: mode crc32).
    const checksumHead =
      !range && this.#checksums
        ? this.#client
            .send(new this.#sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }))
            .catch(() => undefined)
        : undefined;
    let first: S3.GetObjectCommandOutput;
    try {
      first = await this.#client.send(
        new this.#sdk.GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: `bytes=${from}-${headEnd ?? ''}`,
        }),
      );
    } catch (err) {
      if (statusOf(err) === 416) {
        // Past the end (or an empty object): nothing to read, if the object exists.
        if (!(await this.stat(key))) throw fsError('ENOENT', { syscall: 'open', path: this.#path(key) });
        return Readable.from([]);
      }
      throw mapS3Error(err, { syscall: 'open', path: this.#path(key) });
    }
    const total = totalFromContentRange(first.ContentRange) ?? (first.ContentLength ?? 0) + from;
    const last = range?.end !== undefined ? Math.min(range.end, total - 1) : total - 1;
    const body = first.Body as unknown as AsyncIterable<Uint8Array>;
    const firstEnd = plan.headEndFor(last);
    let verify: Verify | undefined;
    if (!range && this.#crcMeta) {
      const head = await checksumHead;
      const sameObject = !head || head.ETag === first.ETag;
      const expected =
        first.Metadata?.[CRC_META] !== undefined
          ? Number.parseInt(first.Metadata[CRC_META], 16)
          : sameObject && head?.ChecksumType === 'FULL_OBJECT'
            ? crcFromBase64(head.ChecksumCRC32)
            : undefined;
      if (expected !== undefined && Number.isFinite(expected))
        verify = crcVerifier('CRC32', crc32, expected, this.#path(key));
    }
    if (last < from) return Readable.from([]);
    return orderedRangeReader({
      from,
      to: last,
      partSize: plan.partSize,
      concurrency: this.#opts.readConcurrency ?? 4,
      head: { body, end: firstEnd },
      adaptive: plan.adaptive,
      verify,
      path: this.#path(key),
      fetch: async (start, end, signal) => {
        const r = await this.#send<S3.GetObjectCommandOutput>(
          new this.#sdk.GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Range: `bytes=${start}-${end}`,
            IfMatch: first.ETag,
          }),
          'read',
          key,
          signal,
        );
        return r.Body as unknown as AsyncIterable<Uint8Array>;
      },
    });
  }

  /** The requests a commit check (commit-check.ts) makes on `key`. */
  #commitIo(key: string): CommitIo {
    return {
      path: this.#path(key),
      checksumHeaders: this.#checksums,
      head: async () => {
        try {
          return await this.#client.send(
            new this.#sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key, ChecksumMode: 'ENABLED' }),
          );
        } catch (err) {
          if (statusOf(err) === 404) return undefined;
          throw err;
        }
      },
      remove: async () => {
        await this.#client.send(new this.#sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      },
    };
  }

  async write(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    const createOnly = options.ifNoneMatch === true;
    if (createOnly && (await this.stat(key)))
      throw fsError('EEXIST', { syscall: 'open', path: this.#path(key) });
    const conditional = createOnly && this.capabilities.conditionalCreate ? { IfNoneMatch: '*' } : {};
    // Every write has an id, stored with the object: how it recognises its own commit when the
    // answer was lost (commit-check.ts).
    const writeId = randomBytes(12).toString('base64url');
    const tokenMeta: Record<string, string> = { ...options.metadata, [WRITE_META]: writeId };
    const io = this.#commitIo(key);
    const sdk = this.#sdk;
    const Bucket = this.bucket;
    const checksums = this.#checksums;
    const crcMeta = this.#crcMeta;
    const partSender = this.#partSender;
    let partTarget: PartTarget | undefined;
    const service: SegmentedMultipartService<string> = {
      segments: true,
      put: async (body, info) => {
        const r = await this.#send<S3.PutObjectCommandOutput>(
          new sdk.PutObjectCommand({
            Bucket,
            Key: key,
            Body: sdkBody(body),
            ContentLength: body.length,
            ContentType: options.contentType,
            ...(checksums ? { ChecksumCRC32: crcToBase64(info.crc32) } : {}),
            Metadata: {
              ...tokenMeta,
              ...(crcMeta ? { [CRC_META]: (info.crc32 >>> 0).toString(16) } : {}),
            },
            ...conditional,
          }),
          'write',
          key,
        ).catch(async (err: unknown) => {
          // A put retried after its first attempt committed (the answer was lost) meets its own
          // object (a 412 when create-only): that is success, not EEXIST or a reset.
          if (!mayHaveCommitted(err)) throw err;
          await recoverCommit(
            err,
            { size: body.length, crc32: crcMeta ? info.crc32 : undefined, token: writeId },
            io,
          );
          return { ETag: undefined } as S3.PutObjectCommandOutput;
        });
        return { key, size: body.length, mtime: new Date(), etag: r.ETag };
      },
      initiate: async () => {
        const command = new sdk.CreateMultipartUploadCommand({
          Bucket,
          Key: key,
          ContentType: options.contentType,
          ...(checksums ? { ChecksumAlgorithm: 'CRC32' as const, ChecksumType: 'FULL_OBJECT' as const } : {}),
          Metadata: tokenMeta,
        });
        if (partSender) {
          // Learn where (and how signed) this upload's parts go from the request the SDK sends.
          command.middlewareStack.add(
            (next) => async (args) => {
              partTarget = partTargetOf(args.request);
              return next(args);
            },
            { step: 'deserialize', priority: 'low', name: 'avfsPartTarget' },
          );
        }
        const r = await this.#send<S3.CreateMultipartUploadCommandOutput>(command, 'write', key);
        if (!r.UploadId)
          throw fsError('EIO', {
            syscall: 'write',
            path: this.#path(key),
            detail: 'the server returned no UploadId',
          });
        return r.UploadId;
      },
      uploadPart: async (uploadId, partNumber, body, info) => {
        if (partSender && partTarget) {
          try {
            const etag = await partSender.send(
              partTarget,
              uploadId,
              partNumber,
              bodyChunks(body),
              body.length,
              checksums ? { 'x-amz-checksum-crc32': crcToBase64(info.crc32) } : {},
            );
            return { token: etag };
          } catch (err) {
            throw mapS3Error(err, { syscall: 'write', path: this.#path(key) });
          }
        }
        const r = await this.#send<S3.UploadPartCommandOutput>(
          new sdk.UploadPartCommand({
            Bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: sdkBody(body),
            ContentLength: body.length,
            ...(checksums ? { ChecksumCRC32: crcToBase64(info.crc32) } : {}),
          }),
          'write',
          key,
        );
        if (!r.ETag)
          throw fsError('EIO', {
            syscall: 'write',
            path: this.#path(key),
            detail: `part ${partNumber} returned no ETag`,
          });
        return { token: r.ETag };
      },
      complete: async (uploadId, parts, info) => {
        const sent: Sent = { size: info.size, crc32: checksums ? info.crc32 : undefined, token: writeId };
        const r = await this.#send<S3.CompleteMultipartUploadCommandOutput>(
          new sdk.CompleteMultipartUploadCommand({
            Bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: {
              Parts: parts.map((p) => ({
                PartNumber: p.partNumber,
                ETag: p.token,
                ...(checksums ? { ChecksumCRC32: crcToBase64(p.crc32) } : {}),
              })),
            },
            ...(checksums
              ? { ChecksumCRC32: crcToBase64(info.crc32), ChecksumType: 'FULL_OBJECT' as const }
              : {}),
            ...conditional,
          }),
          'write',
          key,
        ).catch(async (err: unknown) => {
          // Retried after the first Complete committed (its answer lost): NoSuchUpload, 412 when
          // create-only, or another failure. The object there tells whether it is ours.
          if (!mayHaveCommitted(err)) throw err;
          await recoverCommit(err, sent, io);
          return undefined;
        });
        // Answered 200: the committed object must be the size (and CRC32) we sent.
        if (r) await confirmCommit(r, sent, io);
        return { key, size: info.size, mtime: new Date(), etag: r?.ETag };
      },
      abort: async (uploadId) => {
        try {
          await this.#client.send(
            new sdk.AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }),
          );
        } catch (err) {
          if (statusOf(err) !== 404) throw mapS3Error(err, { syscall: 'write', path: this.#path(key) });
        }
      },
      isRetryable: (err) => isFsError(err) && err.retryable,
    };
    // Zero-copy parts only where the payload is not hashed for SigV4 (the signer cannot hash segments).
    const plain: MultipartService<string> = { ...service, segments: false };
    const zeroCopy = this.#unsignedPayload && this.#opts.zeroCopy !== false;
    return createMultipartWriter(zeroCopy ? service : plain, {
      partSize: this.#opts.partSize,
      concurrency: this.#opts.concurrency,
      memoryBudget: this.#opts.memoryBudget,
      // An explicit part size is honoured (some servers cap request bodies); growth is then opt-in.
      growAbove:
        this.#opts.growPartsAbove === 0
          ? undefined
          : (this.#opts.growPartsAbove ?? (this.#opts.partSize === undefined ? 256 * MiB : undefined)),
      sizeHint: options.sizeHint,
      path: this.#path(key),
      // crc32: every part and the whole object; metadata: only a single put's CRC is stored.
      checksums: checksums ? 'all' : crcMeta ? 'single' : 'none',
      ...S3_LIMITS,
      maxParts: this.#opts.maxParts ?? S3_LIMITS.maxParts,
    });
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListPage> {
    let token: string | undefined;
    let remaining = options.limit ?? Infinity;
    do {
      const r = await this.#send<S3.ListObjectsV2CommandOutput>(
        new this.#sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          Delimiter: options.delimiter,
          ContinuationToken: token,
          StartAfter: token ? undefined : options.startAfter,
          MaxKeys: Math.max(
            1,
            Math.min(options.pageSize ?? 1000, this.#opts.listPageSize ?? 1000, remaining, 1000),
          ),
        }),
        'scandir',
        prefix,
      );
      const page: ListPage = {
        objects: (r.Contents ?? []).map((o) => ({
          key: o.Key ?? '',
          size: o.Size ?? 0,
          mtime: o.LastModified ?? new Date(0),
          etag: o.ETag,
        })),
        prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter((p) => p !== ''),
      };
      remaining -= page.objects.length + page.prefixes.length;
      if (page.objects.length + page.prefixes.length > 0) yield page;
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token && remaining > 0);
  }

  /**
   * Deletes keys (DeleteObjects in batches of 1,000). A delete that failed in a way the server may
   * have acted on (retried, reset, timed out, 5xx: see `mayHaveActed`) is checked with a HEAD per
   * key: when none is there, the delete happened and succeeds.
   */
  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    if (keys.length === 1) {
      await this.#send(
        new this.#sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: keys[0] }),
        'unlink',
        keys[0]!,
      ).catch((err: unknown) => this.#deletedAnyway(err, keys));
      return;
    }
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const r = await this.#send<S3.DeleteObjectsCommandOutput>(
        new this.#sdk.DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
        'rm',
        batch[0]!,
      ).catch((err: unknown) =>
        this.#deletedAnyway(err, batch).then(() => ({}) as S3.DeleteObjectsCommandOutput),
      );
      // A 200 response can still carry per-key failures.
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) {
        const e = failed[0]!;
        throw mapS3Error(
          Object.assign(new Error(e.Message ?? e.Code ?? 'delete failed'), { name: e.Code ?? 'Error' }),
          {
            syscall: 'rm',
            path: this.#path(e.Key ?? batch[0]!),
          },
        );
      }
    }
  }

  /**
   * Copies inside the bucket. Like every write here the copy carries a fresh write id
   * (`MetadataDirective: REPLACE`, with the source's content headers and user metadata copied over,
   * as CopyObject's default COPY would), so a copy whose answers were all lost, or whose retry met
   * its own first attempt (a 412 when create-only), is judged on the object (commit-check.ts).
   */
  /** Resolves when a failed delete of `keys` happened all the same (none is there); else throws `err`. */
  async #deletedAnyway(err: unknown, keys: readonly string[]): Promise<void> {
    if (!mayHaveActed(err)) throw err;
    let next = 0;
    let present = false;
    const worker = async (): Promise<void> => {
      while (!present && next < keys.length) if (await this.#commitIo(keys[next++]!).head()) present = true;
    };
    // A key that cannot be checked leaves the outcome unknown: the delete's own error stands.
    await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker)).catch(() => (present = true));
    if (present) throw err;
  }

  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    // The headers come from a HEAD and the bytes from the copy: `CopySourceIfMatch` ties them to
    // one version of the source. Replaced in between (a 412), the copy starts again from a new HEAD.
    for (let attempt = 1; ; attempt++) {
      const head = await this.#sourceHead(from, to);
      try {
        return await this.#copyVersion(from, to, head, options);
      } catch (err) {
        // EEXIST: a 412, from If-None-Match or from the source's If-Match; EAGAIN: replaced.
        const code = errorCode(err);
        if (
          attempt < 3 &&
          (code === 'EEXIST' || code === 'EAGAIN') &&
          (await this.#sourceHead(from, to)).ETag !== head.ETag
        )
          continue;
        throw err;
      }
    }
  }

  async #sourceHead(from: string, to: string): Promise<S3.HeadObjectCommandOutput> {
    let head: S3.HeadObjectCommandOutput | undefined;
    try {
      head = await this.#commitIo(from).head();
    } catch (err) {
      throw mapS3Error(err, { syscall: 'copyfile', path: this.#path(from) });
    }
    if (!head) throw fsError('ENOENT', { syscall: 'copyfile', path: this.#path(from), dest: this.#path(to) });
    return head;
  }

  async #copyVersion(
    from: string,
    to: string,
    head: S3.HeadObjectCommandOutput,
    options: CopyOptions,
  ): Promise<void> {
    const ifNoneMatch = options.ifNoneMatch === true;
    const size = head.ContentLength ?? 0;
    const writeId = randomBytes(12).toString('base64url');
    const headers = {
      ContentType: head.ContentType,
      ContentEncoding: head.ContentEncoding,
      ContentDisposition: head.ContentDisposition,
      ContentLanguage: head.ContentLanguage,
      CacheControl: head.CacheControl,
      Expires: head.Expires,
      // The source's CRC32 describes these very bytes (If-Match); its write id is the source's own.
      Metadata: { ...head.Metadata, [WRITE_META]: writeId },
    };
    const ifMatch = head.ETag ? { CopySourceIfMatch: head.ETag } : {};
    const sent: Sent = { size, crc32: undefined, token: writeId };
    const source = `${this.bucket}/${encodeKey(from)}`;
    if (size <= (this.#opts.multipartCopyThreshold ?? COPY_LIMIT)) {
      const r = await this.#send<S3.CopyObjectCommandOutput | undefined>(
        new this.#sdk.CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: source,
          ...ifMatch,
          MetadataDirective: 'REPLACE',
          ...headers,
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
        'copyfile',
        from,
      ).catch(async (err: unknown) => {
        if (!mayHaveCommitted(err)) throw err;
        await recoverCommit(err, sent, this.#commitIo(to));
        return undefined;
      });
      // Servers that ignore x-amz-copy-source-if-match (radosgw 16.2, fauxqs) copy whatever the
      // source holds now: a single-part source's ETag is its MD5, and so is the copy's, so a copy
      // of other bytes is seen here and done again with that version's headers.
      // (Quoted or not, as servers differ.)
      const copied = unquote(r?.CopyObjectResult?.ETag);
      const expected = unquote(head.ETag);
      if (copied && expected && !expected.includes('-') && copied !== expected)
        throw fsError('EAGAIN', {
          syscall: 'copyfile',
          path: this.#path(from),
          dest: this.#path(to),
          detail: 'the source was replaced during the copy',
        });
      return;
    }
    if (this.#opts.uploadPartCopy === false) {
      // The server cannot copy parts: stream through the client with bounded memory.
      const writer = await this.write(to, {
        sizeHint: size,
        ifNoneMatch,
        contentType: head.ContentType,
        metadata: head.Metadata,
      });
      try {
        for await (const c of await this.read(from)) await writer.write(c as Uint8Array);
        await writer.close();
      } catch (err) {
        await writer.abort(err);
        throw err;
      }
      return;
    }
    await this.#multipartCopy(source, to, sent, ifNoneMatch, headers, ifMatch);
  }

  async #multipartCopy(
    source: string,
    to: string,
    sent: Sent,
    ifNoneMatch: boolean,
    headers: Omit<S3.CreateMultipartUploadCommandInput, 'Bucket' | 'Key'>,
    ifMatch: { CopySourceIfMatch?: string },
  ): Promise<void> {
    const size = sent.size;
    const partSize = Math.max(this.#opts.copyPartSize ?? 512 * MiB, Math.ceil(size / 10_000 / MiB) * MiB);
    const init = await this.#send<S3.CreateMultipartUploadCommandOutput>(
      new this.#sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to, ...headers }),
      'copyfile',
      to,
    );
    const uploadId = init.UploadId!;
    try {
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let n = 1, start = 0; start < size; n++, start += partSize) {
        const end = Math.min(size, start + partSize) - 1;
        const r = await this.#send<S3.UploadPartCopyCommandOutput>(
          new this.#sdk.UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: to,
            UploadId: uploadId,
            PartNumber: n,
            CopySource: source,
            ...ifMatch,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
          'copyfile',
          to,
        );
        parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag ?? '' });
      }
      await this.#send(
        new this.#sdk.CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: to,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
        'copyfile',
        to,
      ).catch(async (err: unknown) => {
        if (!mayHaveCommitted(err)) throw err;
        await recoverCommit(err, sent, this.#commitIo(to));
      });
    } catch (err) {
      await this.#client
        .send(new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId: uploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
    for (const a of this.#agents) a.destroy();
  }
}

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '');
}

/** CopySource wants the key URL-encoded, with its slashes kept. */
function encodeKey(key: string): string {
  return encodeURIComponent(key).replace(/%2F/g, '/');
}
