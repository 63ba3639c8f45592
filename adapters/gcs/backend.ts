/**
 * The GCS Backend over `@google-cloud/storage`. The SDK supplies credentials (a service-account key,
 * a key file, or application-default credentials) and makes the metadata calls (stat, list,
 * delete, rewrite). The byte-moving calls go straight to the JSON API over one keep-alive
 * node:http(s) agent, with the SDK's auth headers:
 * - uploads: the shared multipart writer (`src/backend/multipart.ts`) drives a resumable session,
 *   one chunk at a time, in order (GCS needs that). A retried chunk first asks the session how much
 *   it persisted and sends only the rest. Small objects are a single `uploadType=multipart` request.
 *   CRC32C is computed natively (`@node-rs/crc32`) as bytes stream by, sent for the server to check
 *   on the finalizing request, and compared with the committed object.
 * - downloads: `alt=media` with `Range`, large reads as parallel ranged GETs delivered in order
 *   (`src/backend/ranged-read.ts`), full reads checked against `x-goog-hash`.
 *
 * Why not the SDK's createWriteStream / createReadStream: they compute CRC32C in JavaScript
 * (~0.4 GiB/s), buffer each chunk again in their own stream layer, cannot resume a chunk from the
 * persisted offset of a failed request with our bounded buffers, and give no parallel ranged reads.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type * as Gcs from '@google-cloud/storage';
import { crcFromBase64, crcToBase64 } from '../../src/core/crc32.js';
import { fsError, isFsError } from '../../src/core/errors.js';
import { createMultipartWriter, type MultipartService } from '../../src/backend/multipart.js';
import { crcVerifier, md5Verifier, type Verify } from '../../src/backend/verify.js';
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
import { GcsHttpError, mapGcsError, statusOf } from './errors.js';
import { unknownOutcome } from '../../src/backend/http-errors.js';

type Sdk = typeof Gcs;
type Crc32c = (input: Uint8Array, initial?: number) => number;

export type GcsValidation = 'crc32c' | 'md5' | 'off';

export interface GcsBackendOptions {
  bucket: string;
  /** Project id (otherwise from the credentials or the environment). */
  projectId?: string | undefined;
  /** A service-account key: the JSON text or the parsed object (a secret). */
  credentials?: string | Record<string, unknown> | undefined;
  /** Path of a service-account key file. */
  keyFilename?: string | undefined;
  /** Another endpoint (an emulator): `http://127.0.0.1:4443`. `STORAGE_EMULATOR_HOST` also works. */
  apiEndpoint?: string | undefined;
  /** Authenticate against a custom `apiEndpoint` too (default false, as the SDK). */
  useAuthWithCustomEndpoint?: boolean | undefined;
  /** Resumable chunk size in bytes, a multiple of 256 KiB (default 16 MiB). */
  chunkSize?: number | undefined;
  /** End-to-end integrity: `crc32c` (default), `md5`, or `off`. */
  validation?: GcsValidation | undefined;
  /** Range size for parallel downloads (default 8 MiB). */
  readPartSize?: number | undefined;
  /** Ranges fetched at once for large reads (default 4). */
  readConcurrency?: number | undefined;
  /**
   * Reads start as one open-ended GET; if it delivers less than this many bytes per second, the
   * rest is fetched as parallel ranged GETs (default 256 MiB/s; 0: always parallel ranges).
   */
  readParallelBelow?: number | undefined;
  /** Objects per list request (default 1000, the GCS maximum). */
  listPageSize?: number | undefined;
  /** Attempts per chunk (and per finalize) for retryable errors (default 5). */
  attempts?: number | undefined;
  /** Base backoff in ms between attempts (default 100, doubling). */
  backoffMs?: number | undefined;
  /** Bytes per rewrite call for copies (a multiple of 1 MiB; default: the server's choice). */
  maxBytesRewrittenPerCall?: number | undefined;
  /** Deletes in flight at once (default 16). */
  deleteConcurrency?: number | undefined;
  /** Idle timeout of one request in ms (default 120 s). */
  requestTimeoutMs?: number | undefined;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Resumable chunks (except the last) must be multiples of this. */
export const GCS_CHUNK_QUANTUM = 256 * KiB;

/** An object resource as the JSON API returns it (the fields we read). */
/** Object metadata key of a create-only write's id (see `write`). */
const WRITE_META = 'avfs-write';

interface ObjectResource {
  name?: string;
  size?: string;
  updated?: string;
  timeCreated?: string;
  etag?: string;
  generation?: string;
  metageneration?: string;
  contentType?: string;
  crc32c?: string;
  md5Hash?: string;
  metadata?: Record<string, string>;
}

function toMeta(key: string, r: ObjectResource): ObjectMeta {
  return {
    key,
    size: Number(r.size ?? 0),
    mtime: new Date(r.updated ?? r.timeCreated ?? 0),
    etag: r.etag,
    meta: {
      generation: r.generation,
      metageneration: r.metageneration,
      contentType: r.contentType,
      crc32c: r.crc32c,
      md5Hash: r.md5Hash,
      metadata: r.metadata,
    },
  };
}

/** `crc32c=…,md5=…` (possibly several headers joined with `, `). */
export function parseGoogHash(h: string | string[] | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  for (const part of (Array.isArray(h) ? h.join(',') : (h ?? '')).split(',')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 'crc32c') out.crc32c = v;
    else if (k === 'md5') out.md5 = v;
  }
  return out;
}

/** `Range: bytes=0-N` of a 308 → N + 1 (0 without the header). */
function persistedFrom(range: string | undefined): number {
  const m = range ? /bytes=0-(\d+)/.exec(range) : null;
  return m ? Number(m[1]) + 1 : 0;
}

async function collect(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The start of an error reply (a GCS JSON error is small; whatever else is there is dropped unread). */
async function collectError(res: IncomingMessage, limit = 64 * KiB): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= limit) {
      res.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

/** One resumable upload: its session URI (a credential: never shown) and what we know of it. */
interface Session {
  uri: string;
  /** Bytes assigned to parts so far (the next part starts here). */
  assigned: number;
  /** Where each part starts. */
  starts: Map<number, number>;
  /** Parts whose bytes are in the running hashes. */
  hashedParts: number;
  crc: number;
  md5: Hash | undefined;
  /** Bytes the server confirmed as persisted. */
  confirmed: number;
  /** A request failed: ask the server for its offset before sending more. */
  suspect: boolean;
  /** The committed object, once a request finalized the upload. */
  final?: ObjectResource | undefined;
}

export class GcsBackend implements Backend {
  readonly name = 'gcs';
  readonly capabilities: Capabilities;
  readonly bucket: string;
  readonly #storage: Gcs.Storage;
  readonly #bucket: Gcs.Bucket;
  readonly #crc32c: Crc32c;
  readonly #opts: GcsBackendOptions;
  readonly #base: URL;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #auth: boolean;
  readonly #validation: GcsValidation;
  readonly #chunkSize: number;

  constructor(sdk: Sdk, crc32c: Crc32c, options: GcsBackendOptions) {
    this.#opts = options;
    this.bucket = options.bucket;
    this.#crc32c = crc32c;
    const validation = options.validation ?? 'crc32c';
    if (validation !== 'crc32c' && validation !== 'md5' && validation !== 'off') {
      throw fsError('EINVAL', {
        message: `EINVAL: gcs validation must be 'crc32c', 'md5' or 'off' (got '${String(validation)}')`,
      });
    }
    this.#validation = validation;
    const chunk = options.chunkSize ?? 16 * MiB;
    if (!Number.isSafeInteger(chunk) || chunk <= 0 || chunk % GCS_CHUNK_QUANTUM !== 0) {
      throw fsError('EINVAL', {
        message: `EINVAL: gcs chunkSize must be a positive multiple of 262144 (256 KiB), got ${String(chunk)}`,
      });
    }
    this.#chunkSize = chunk;
    let credentials: Record<string, unknown> | undefined;
    try {
      credentials =
        typeof options.credentials === 'string'
          ? (JSON.parse(options.credentials) as Record<string, unknown>)
          : options.credentials;
    } catch {
      // JSON.parse's message quotes the text near the error: the key itself.
      throw fsError('EINVAL', {
        message: 'EINVAL: gcs credentials must be a service-account key, as JSON text or an object',
      });
    }
    this.#storage = new sdk.Storage({
      ...(options.projectId ? { projectId: options.projectId } : {}),
      ...(credentials ? { credentials: credentials as Gcs.StorageOptions['credentials'] } : {}),
      ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.useAuthWithCustomEndpoint ? { useAuthWithCustomEndpoint: true } : {}),
    });
    this.#bucket = this.#storage.bucket(options.bucket);
    const base = this.#storage.apiEndpoint.replace(/\/+$/, '');
    this.#base = new URL(/^https?:\/\//.test(base) ? base : `https://${base}`);
    // As the SDK: no credentials are sent to a custom endpoint (an emulator) unless asked for.
    this.#auth = !this.#storage.customEndpoint || options.useAuthWithCustomEndpoint === true;
    const sockets = Math.max(16, (options.readConcurrency ?? 4) + 8);
    this.#agent =
      this.#base.protocol === 'http:'
        ? new HttpAgent({ keepAlive: true, maxSockets: sockets })
        : new HttpsAgent({ keepAlive: true, maxSockets: sockets });
    this.capabilities = {
      directoryMarkers: true,
      conditionalCreate: true,
      conditionalCopy: true,
      serverSideCopy: true,
      atomicRename: false,
      rangedReads: true,
      maxDeleteBatch: 100,
      maxKeyBytes: 1024,
    };
  }

  /** The SDK client, for calls this backend does not wrap. */
  get storage(): Gcs.Storage {
    return this.#storage;
  }

  #path(key: string): string {
    return `gs://${this.bucket}/${key}`;
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  async #headers(extra: Record<string, string | number>): Promise<Record<string, string | number>> {
    if (!this.#auth) return extra;
    const auth = (await this.#storage.authClient.getRequestHeaders()) as unknown as Record<string, string>;
    return { ...auth, ...extra };
  }

  /** One request to the JSON API (or a session URI); resolves with the response, body unread. */
  async #request(
    method: string,
    url: URL,
    headers: Record<string, string | number>,
    body?: Buffer | readonly Buffer[],
    signal?: AbortSignal,
  ): Promise<IncomingMessage> {
    const all = await this.#headers(headers);
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    const timeout = this.#opts.requestTimeoutMs ?? 120_000;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { method, headers: all, agent: this.#agent, signal }, resolve);
      req.setTimeout(timeout, () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        for (const b of body) req.write(b);
        req.end();
      }
    });
  }

  /** A request whose (small) reply body is read; non-2xx/308 statuses become GcsHttpErrors. */
  async #call(
    method: string,
    url: URL,
    headers: Record<string, string | number>,
    body?: Buffer | readonly Buffer[],
  ): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
    const res = await this.#request(method, url, headers, body);
    const data = await collect(res);
    const status = res.statusCode ?? 0;
    if ((status >= 200 && status < 300) || status === 308)
      return { status, headers: res.headers, body: data };
    throw GcsHttpError.fromBody(status, data);
  }

  #objectUrl(key: string, query: Record<string, string> = {}): URL {
    const u = new URL(
      `${this.#base.href.replace(/\/$/, '')}/storage/v1/b/${this.bucket}/o/${encodeURIComponent(key)}`,
    );
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  #uploadUrl(query: Record<string, string>): URL {
    const u = new URL(`${this.#base.href.replace(/\/$/, '')}/upload/storage/v1/b/${this.bucket}/o`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  }

  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    const attempts = Math.max(1, this.#opts.attempts ?? 5);
    const backoff = this.#opts.backoffMs ?? 100;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= attempts || !(isFsError(err) && err.retryable)) throw err;
        await new Promise((r) => setTimeout(r, backoff * 2 ** (attempt - 1) * (0.5 + Math.random())));
      }
    }
  }

  // ---- metadata ---------------------------------------------------------------------------------

  /**
   * An object's resource, or undefined if it is missing: one GET through our own requests (the
   * SDK's retry layer would retry a certificate failure for ~15 s), retried like every call here.
   */
  async #metadata(key: string, syscall: string): Promise<ObjectResource | undefined> {
    try {
      const r = await this.#retry(async () => {
        try {
          return await this.#call('GET', this.#objectUrl(key), {});
        } catch (err) {
          throw mapGcsError(err, { syscall, path: this.#path(key) });
        }
      });
      return JSON.parse(r.body.toString('utf8')) as ObjectResource;
    } catch (err) {
      if (isFsError(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectMeta | undefined> {
    const r = await this.#metadata(key, 'stat');
    return r ? toMeta(key, r) : undefined;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListPage> {
    let pageToken: string | undefined;
    let remaining = options.limit ?? Infinity;
    const startAfter = options.startAfter;
    do {
      const max = Math.max(
        1,
        Math.min(options.pageSize ?? 1000, this.#opts.listPageSize ?? 1000, remaining, 1000),
      );
      let files: Gcs.File[];
      let response: { prefixes?: string[]; nextPageToken?: string };
      try {
        const r = await this.#bucket.getFiles({
          prefix,
          ...(options.delimiter ? { delimiter: options.delimiter } : {}),
          maxResults: max,
          autoPaginate: false,
          ...(pageToken ? { pageToken } : {}),
          // startOffset is inclusive; `startAfter` is not (the key itself is dropped below)
          ...(startAfter !== undefined && !pageToken ? { startOffset: startAfter } : {}),
        });
        files = r[0];
        response = (r[2] ?? {}) as { prefixes?: string[]; nextPageToken?: string };
      } catch (err) {
        throw mapGcsError(err, { syscall: 'scandir', path: this.#path(prefix) });
      }
      const page: ListPage = {
        objects: files
          .filter((f) => f.name !== startAfter)
          .map((f) => toMeta(f.name, f.metadata as ObjectResource)),
        prefixes: (response.prefixes ?? []).filter(
          (p) => p !== '' && (startAfter === undefined || p > startAfter),
        ),
      };
      remaining -= page.objects.length + page.prefixes.length;
      if (page.objects.length + page.prefixes.length > 0) yield page;
      pageToken = response.nextPageToken;
    } while (pageToken && remaining > 0);
  }

  async delete(keys: readonly string[]): Promise<void> {
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (next < keys.length && failure === undefined) {
        const key = keys[next++]!;
        try {
          await this.#bucket.file(key).delete({ ignoreNotFound: true });
        } catch (err) {
          if (statusOf(err) === 404) continue;
          failure ??= mapGcsError(err, { syscall: 'unlink', path: this.#path(key) });
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(keys.length, this.#opts.deleteConcurrency ?? 16) }, worker),
    );
    if (failure !== undefined) throw failure;
  }

  /** Server-side copy with `rewriteTo`, looping on `rewriteToken` until the server is done. */
  async copy(from: string, to: string, options: CopyOptions = {}): Promise<void> {
    const src = this.#bucket.file(from);
    let token: string | undefined;
    try {
      for (let calls = 0; ; calls++) {
        const qs: Record<string, string | number> = {};
        if (token) qs.rewriteToken = token;
        // Create-only: the destination must have no live generation when the rewrite commits.
        if (options.ifNoneMatch) qs.ifGenerationMatch = 0;
        if (this.#opts.maxBytesRewrittenPerCall)
          qs.maxBytesRewrittenPerCall = this.#opts.maxBytesRewrittenPerCall;
        const [resp] = (await src.request({
          method: 'POST',
          uri: `/rewriteTo/b/${this.bucket}/o/${encodeURIComponent(to)}`,
          qs,
          json: {},
        })) as unknown as [{ done?: boolean; rewriteToken?: string }];
        if (resp.done || !resp.rewriteToken) return;
        token = resp.rewriteToken;
        if (calls > 100_000)
          throw fsError('EIO', {
            syscall: 'copyfile',
            path: this.#path(from),
            detail: 'rewrite never finished',
          });
      }
    } catch (err) {
      throw mapGcsError(err, { syscall: 'copyfile', path: this.#path(from), dest: this.#path(to) });
    }
  }

  // ---- reads ------------------------------------------------------------------------------------

  async #media(
    key: string,
    start: number,
    end: number | undefined,
    signal?: AbortSignal,
    generation?: string,
  ): Promise<IncomingMessage> {
    return this.#request(
      'GET',
      this.#objectUrl(key, { alt: 'media', ...(generation ? { generation } : {}) }),
      { Range: `bytes=${start}-${end ?? ''}`, 'Accept-Encoding': 'identity' },
      undefined,
      signal,
    );
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // One open-ended GET first; parallel ranges only if it proves slow (see ranged-read.ts).
    const plan = planRead(range, this.#opts, 8 * MiB);
    const { from, headEnd } = plan;
    const path = this.#path(key);
    const empty = (): Readable => Readable.from([]);
    if (range?.end !== undefined && range.end < from) {
      if (!(await this.stat(key))) throw fsError('ENOENT', { syscall: 'open', path });
      return empty();
    }
    let first: IncomingMessage;
    try {
      first = await this.#media(key, from, headEnd);
    } catch (err) {
      throw mapGcsError(err, { syscall: 'open', path });
    }
    const status = first.statusCode ?? 0;
    if (status === 416) {
      first.resume();
      // Past the end (or an empty object): nothing to read, if the object exists.
      if (!(await this.stat(key))) throw fsError('ENOENT', { syscall: 'open', path });
      return empty();
    }
    if (status !== 200 && status !== 206) {
      throw mapGcsError(GcsHttpError.fromBody(status, await collectError(first)), { syscall: 'open', path });
    }
    const length = first.headers['content-length'];
    const total =
      status === 206 ? (totalFromContentRange(first.headers['content-range']) ?? 0) : Number(length ?? 0);
    // A 200 is the whole object from byte 0. Without a length (a transcoded or chunked reply) or
    // longer than the head range, it cannot stand in for the head: an error, never an empty or
    // unbounded read.
    if (
      status === 200 &&
      (from > 0 || length === undefined || (headEnd !== undefined && total - 1 > headEnd))
    ) {
      first.destroy();
      throw fsError('EIO', { syscall: 'read', path, detail: 'the server ignored the byte range' });
    }
    const last = range?.end !== undefined ? Math.min(range.end, total - 1) : total - 1;
    if (last < from) {
      first.resume();
      return empty();
    }
    if (status === 200 && last < total - 1) {
      first.destroy();
      throw fsError('EIO', { syscall: 'read', path, detail: 'the server ignored the byte range' });
    }
    const generation = first.headers['x-goog-generation'] as string | undefined;
    const verify = range ? undefined : this.#verifier(path, first.headers['x-goog-hash']);
    return orderedRangeReader({
      from,
      to: last,
      partSize: plan.partSize,
      concurrency: this.#opts.readConcurrency ?? 4,
      head: { body: first, end: plan.headEndFor(last) },
      adaptive: plan.adaptive,
      verify,
      path,
      fetch: async (start, end, signal) => {
        let res: IncomingMessage;
        try {
          // Pinned to the generation the first request saw: a replaced object fails, never mixes.
          res = await this.#media(key, start, end, signal, generation);
        } catch (err) {
          throw mapGcsError(err, { syscall: 'read', path });
        }
        const got = res.statusCode ?? 0;
        if (got >= 200 && got < 300 && got !== 206) {
          // The range was ignored: the body may be the whole object; it is not read.
          res.destroy();
          throw fsError('EIO', { syscall: 'read', path, detail: 'the server ignored the byte range' });
        }
        if (got !== 206) {
          throw mapGcsError(GcsHttpError.fromBody(got, await collectError(res)), { syscall: 'read', path });
        }
        return res;
      },
    });
  }

  /** A whole-object check against `x-goog-hash` (CRC32C, or MD5 in md5 mode or when no CRC32C). */
  #verifier(path: string, header: string | string[] | undefined): Verify | undefined {
    if (this.#validation === 'off') return undefined;
    const hashes = parseGoogHash(header);
    const useCrc = hashes.crc32c !== undefined && (this.#validation === 'crc32c' || hashes.md5 === undefined);
    if (useCrc) {
      const want = crcFromBase64(hashes.crc32c);
      if (want !== undefined) return crcVerifier('CRC32C', this.#crc32c, want, path);
    }
    if (hashes.md5 !== undefined) return md5Verifier(hashes.md5, path);
    return undefined;
  }

  // ---- writes -----------------------------------------------------------------------------------

  /**
   * The object at `key` if this create-only write stored it: it carries our write id (another
   * writer's object, even with the same bytes, is a real conflict) and our size. If it cannot be
   * read (other than missing), the outcome is unknown: EIO.
   */
  async #ownObject(key: string, size: number, token: string): Promise<ObjectMeta | undefined> {
    let r: ObjectResource | undefined;
    try {
      r = await this.#metadata(key, 'write');
    } catch (err) {
      throw unknownOutcome(err, this.#path(key));
    }
    return r && Number(r.size) === size && r.metadata?.[WRITE_META] === token ? toMeta(key, r) : undefined;
  }

  async write(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    const path = this.#path(key);
    const createOnly = options.ifNoneMatch === true;
    if (createOnly && (await this.stat(key))) throw fsError('EEXIST', { syscall: 'open', path });
    const precondition: Record<string, string> = createOnly ? { ifGenerationMatch: '0' } : {};
    // A create-only write's id, stored with the object: how a retry recognises its own commit.
    const token = createOnly ? randomBytes(12).toString('base64url') : undefined;
    const userMeta = { ...options.metadata, ...(token ? { [WRITE_META]: token } : {}) };
    const tokenMeta = Object.keys(userMeta).length > 0 ? { metadata: userMeta } : {};
    const contentType = options.contentType ?? 'application/octet-stream';
    const validation = this.#validation;
    const map = (err: unknown): never => {
      throw isFsError(err) ? err : mapGcsError(err, { syscall: 'write', path });
    };
    const hashHeader = (s: Session): Record<string, string> =>
      validation === 'crc32c'
        ? { 'X-Goog-Hash': `crc32c=${crcToBase64(s.crc)}` }
        : validation === 'md5' && s.md5
          ? { 'X-Goog-Hash': `md5=${s.md5.copy().digest('base64')}` }
          : {};

    /** Checks the committed object against what we sent; deletes it if it differs. */
    const committed = async (
      r: ObjectResource,
      size: number,
      crc: number,
      md5: string | undefined,
    ): Promise<ObjectMeta> => {
      const problems: string[] = [];
      if (Number(r.size) !== size) problems.push(`size ${r.size} != ${size}`);
      if (validation === 'crc32c' && r.crc32c !== undefined && r.crc32c !== crcToBase64(crc))
        problems.push(`CRC32C ${r.crc32c} != ${crcToBase64(crc)}`);
      if (validation === 'md5' && r.md5Hash !== undefined && md5 !== undefined && r.md5Hash !== md5)
        problems.push(`MD5 ${r.md5Hash} != ${md5}`);
      if (problems.length > 0) {
        // The object is committed already: remove this generation (only it) and report.
        await this.#bucket
          .file(key)
          .delete({ ifGenerationMatch: Number(r.generation) })
          .catch(() => undefined);
        throw fsError('EIO', {
          syscall: 'write',
          path,
          detail: `the stored object differs from the bytes sent (${problems.join(', ')}); it was deleted`,
        });
      }
      return toMeta(key, r);
    };

    const service: MultipartService<Session> = {
      put: async (body) => {
        const crc = validation === 'crc32c' ? this.#crc32c(body) : 0;
        const md5 = validation === 'md5' ? createHash('md5').update(body).digest('base64') : undefined;
        const resource: Record<string, unknown> = { name: key, contentType, ...tokenMeta };
        if (validation === 'crc32c') resource.crc32c = crcToBase64(crc);
        if (md5) resource.md5Hash = md5;
        const boundary = `avfs-${randomBytes(16).toString('hex')}`;
        const head = Buffer.from(
          `--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify(resource)}\r\n` +
            `--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`,
        );
        const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
        try {
          const r = await this.#call(
            'POST',
            this.#uploadUrl({ uploadType: 'multipart', ...precondition }),
            {
              'Content-Type': `multipart/related; boundary=${boundary}`,
              'Content-Length': head.length + body.length + tail.length,
            },
            [head, body, tail],
          );
          return await committed(
            JSON.parse(r.body.toString('utf8')) as ObjectResource,
            body.length,
            crc,
            md5,
          );
        } catch (err) {
          // A create-only upload retried after its first attempt committed (the answer was lost)
          // meets its own object: that is success, not EEXIST.
          if (token !== undefined && statusOf(err) === 412) {
            const mine = await this.#ownObject(key, body.length, token);
            if (mine) return mine;
          }
          return map(err);
        }
      },

      initiate: () =>
        this.#retry(async () => {
          try {
            const r = await this.#call(
              'POST',
              this.#uploadUrl({ uploadType: 'resumable', name: key, ...precondition }),
              {
                'Content-Type': 'application/json; charset=UTF-8',
                'X-Upload-Content-Type': contentType,
              },
              Buffer.from(JSON.stringify({ name: key, contentType, ...tokenMeta })),
            );
            const location = r.headers.location;
            if (!location)
              throw fsError('EIO', { syscall: 'write', path, detail: 'the server returned no session URI' });
            return {
              uri: location,
              assigned: 0,
              starts: new Map(),
              hashedParts: 0,
              crc: 0,
              md5: validation === 'md5' ? createHash('md5') : undefined,
              confirmed: 0,
              suspect: false,
            } satisfies Session;
          } catch (err) {
            return map(err);
          }
        }),

      uploadPart: async (s, partNumber, body) => {
        if (partNumber > s.hashedParts) {
          // First attempt of this part: its bytes join the running hashes exactly once.
          s.starts.set(partNumber, s.assigned);
          s.assigned += body.length;
          if (validation === 'crc32c') s.crc = this.#crc32c(body, s.crc);
          s.md5?.update(body);
          s.hashedParts = partNumber;
        }
        const start = s.starts.get(partNumber)!;
        const end = start + body.length; // exclusive
        // Only the last chunk may be a partial 256 KiB block; it then finalizes the upload.
        const last = body.length % GCS_CHUNK_QUANTUM !== 0;
        try {
          if (s.suspect) {
            await this.#query(s);
            s.suspect = false;
          }
          while (!s.final && s.confirmed < end) {
            // The server holding fewer bytes than the chunks before this one were confirmed at
            // means it lost data we no longer have: fail clearly instead of sending a gap.
            if (s.confirmed < start)
              throw fsError('EIO', {
                syscall: 'write',
                path,
                detail: `the resumable session went back to offset ${s.confirmed} (this chunk starts at ${start})`,
              });
            const from = Math.max(start, s.confirmed);
            const r = await this.#call(
              'PUT',
              new URL(s.uri),
              {
                'Content-Length': end - from,
                'Content-Range': `bytes ${from}-${end - 1}/${last ? end : '*'}`,
                ...(last ? hashHeader(s) : {}),
              },
              body.subarray(from - start),
            );
            if (r.status === 308) {
              const persisted = persistedFrom(r.headers.range as string | undefined);
              if (persisted <= from)
                throw fsError('EIO', {
                  syscall: 'write',
                  path,
                  detail: `the server persisted no bytes of a chunk (offset ${persisted})`,
                  retryable: true,
                });
              s.confirmed = persisted;
            } else {
              s.final = JSON.parse(r.body.toString('utf8')) as ObjectResource;
              s.confirmed = end;
            }
          }
          return { token: String(partNumber) };
        } catch (err) {
          s.suspect = true;
          return map(err);
        }
      },

      complete: async (s, _parts, info) => {
        const md5 = s.md5?.copy().digest('base64');
        if (!s.final) {
          await this.#retry(async () => {
            try {
              if (s.suspect) {
                await this.#query(s);
                s.suspect = false;
                if (s.final) return;
              }
              const r = await this.#call('PUT', new URL(s.uri), {
                'Content-Length': 0,
                'Content-Range': `bytes */${info.size}`,
                ...hashHeader(s),
              });
              if (r.status === 308)
                throw fsError('EIO', {
                  syscall: 'write',
                  path,
                  detail: `the server has ${persistedFrom(r.headers.range as string | undefined)} of ${info.size} bytes at finalize`,
                });
              s.final = JSON.parse(r.body.toString('utf8')) as ObjectResource;
            } catch (err) {
              s.suspect = true;
              map(err);
            }
          });
        }
        return committed(s.final!, info.size, s.crc, md5);
      },

      abort: async (s) => {
        try {
          // GCS answers a cancelled session with 499.
          const res = await this.#request('DELETE', new URL(s.uri), { 'Content-Length': 0 });
          res.resume();
        } catch {
          // the session expires by itself within a week; the caller's error is what matters
        }
      },

      isRetryable: (err) => isFsError(err) && err.retryable,
    };

    return createMultipartWriter(service, {
      partSize: this.#chunkSize,
      // A resumable session takes chunks in order, one at a time.
      concurrency: 1,
      sizeHint: options.sizeHint,
      path,
      attempts: this.#opts.attempts ?? 5,
      backoffMs: this.#opts.backoffMs ?? 100,
      // CRC32C (not zlib's CRC32) is what GCS checks: computed here, natively.
      checksums: 'none',
      maxParts: 10_000,
      minPartSize: GCS_CHUNK_QUANTUM,
      maxPartSize: 5 * 1024 * 1024 * MiB,
    });
  }

  /** Asks a session how many bytes it persisted (`bytes *\/*`); notes a finished upload. */
  async #query(s: Session): Promise<void> {
    const r = await this.#call('PUT', new URL(s.uri), { 'Content-Length': 0, 'Content-Range': 'bytes */*' });
    if (r.status === 308) s.confirmed = persistedFrom(r.headers.range as string | undefined);
    else {
      s.final = JSON.parse(r.body.toString('utf8')) as ObjectResource;
      s.confirmed = Number(s.final.size ?? s.assigned);
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
