/**
 * A discarding S3-compatible server for throughput benchmarks, on 127.0.0.1 with a random port.
 *
 * It accepts any SigV4 credentials without checking signatures, counts request bodies and throws
 * them away (decoding `aws-chunked` framing to count payload bytes), and keeps only metadata per
 * object: size, ETag, user metadata and the checksum the client sent. GET serves the recorded size
 * of deterministic bytes (`payloadBlock()[offset % 1 MiB]`, the same bytes the benchmark clients
 * upload) from one reused buffer, with `Range` support.
 *
 * Operations: CreateBucket, HeadBucket, DeleteBucket, ListObjectsV2, PutObject, CopyObject,
 * CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload, HeadObject,
 * GetObject, DeleteObject, DeleteObjects. Raw (unsigned) PUT/GET of the same paths work too.
 *
 * HTTP/1.1 is spoken directly over `net` sockets (keep-alive, Content-Length and chunked bodies,
 * `Expect: 100-continue`), reading every connection into ONE reused 1 MiB buffer. Node's `http`
 * server allocates and copies each ~64 KiB body chunk; that cost ~0.7–0.9 CPU s/GiB here and made
 * the server, not the client under test, the bottleneck of a raw PUT. Pipelined requests are
 * handled in order.
 *
 * Run it as its own process so its CPU and memory are not charged to the client being measured:
 * - forked with an IPC channel (`run.ts`): sends `{ type: 'ready', port }`, answers `stats`,
 *   `object`, `seed` and `createBucket` messages, and exits when the parent disconnects or dies;
 * - standalone (`node discard-server.js [--port N] [--ttl SECONDS] [--no-onread]`): prints `{"port":N,…}` on
 *   stdout and exits on SIGINT/SIGTERM or after `--ttl` seconds (default 3600).
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { createServer, Socket, type AddressInfo, type SocketConstructorOpts } from 'node:net';
import { crc32 } from 'node:zlib';
import { BLOCK_SIZE, MiB, payloadBlock, peakRssMiB } from './payload.js';

interface Checksum {
  /** `crc32`, `crc32c`, `sha1`, `sha256`, `crc64nvme` */
  algorithm: string;
  /** base64, or `base64-N` for composite multipart checksums */
  value: string;
  type: 'FULL_OBJECT' | 'COMPOSITE';
}

interface StoredObject {
  size: number;
  etag: string;
  lastModified: Date;
  contentType: string;
  metadata: Record<string, string>;
  checksum?: Checksum | undefined;
  /** How it was written: `put`, `multipart`, `copy`, `seed` */
  via: string;
  parts?: number;
}

interface PartRecord {
  size: number;
  etag: string;
  checksum?: string | undefined;
}

interface MultipartUpload {
  bucket: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  checksumAlgorithm?: string | undefined;
  checksumType?: string | undefined;
  parts: Map<number, PartRecord>;
  initiated: Date;
}

interface Body {
  /** Payload bytes (after aws-chunked decoding). */
  bytes: number;
  /** aws-chunked trailers (lower-cased names), e.g. `x-amz-checksum-crc32`. */
  trailers: Record<string, string>;
  /** The body itself, kept for POST requests only (small XML documents). */
  text: string;
}

interface Req {
  method: string;
  /** The request target as sent, e.g. `/bucket/key?uploadId=…` */
  target: string;
  headers: Record<string, string>;
  body: Body;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: Buffer;
  /** Serve payload bytes [start, end] instead of `body`. */
  payload?: { start: number; end: number };
}

const MIN_PART = 5 * MiB;
const MAX_HEAD = 64 * 1024;
const MAX_KEPT_BODY = 16 * MiB;
const READ_BUFFER = MiB;
const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'];

const buckets = new Map<string, Map<string, StoredObject>>();
const uploads = new Map<string, MultipartUpload>();
const stats = {
  connections: 0,
  requests: 0,
  /** Payload bytes received (aws-chunked framing removed). */
  bytesIn: 0,
  /** Body bytes received on the wire. */
  wireBytesIn: 0,
  bytesOut: 0,
  awsChunkedBodies: 0,
  httpChunkedBodies: 0,
  expectContinue: 0,
  /** Connections read through one reused buffer (`onread`), or through 'data' events. */
  reusedBufferConnections: 0,
  ops: {} as Record<string, number>,
  errors: {} as Record<string, number>,
};
let sequence = 0;
const block = payloadBlock();
/** `--no-onread`: read with 'data' events (a fresh buffer per read), for comparison. */
const useOnread = !process.argv.includes('--no-onread');

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// ---- chunked framing (HTTP `Transfer-Encoding: chunked` and S3's `aws-chunked`) -------------

/**
 * Streaming decoder of `<hex-size>[;ext]\r\n<data>\r\n … 0[;ext]\r\n[name: value\r\n]*\r\n`, the
 * framing of both HTTP chunked bodies and S3 `aws-chunked` bodies (whose extensions carry chunk
 * signatures and whose trailers carry checksums). Data is handed on as offsets into the caller's
 * buffer, never copied; only the short framing lines are buffered.
 */
class ChunkedDecoder {
  done = false;
  readonly trailers: Record<string, string> = {};
  #state: 'size' | 'data' | 'cr' | 'lf' | 'trailer' = 'size';
  #line = '';
  #remaining = 0;

  constructor(
    private readonly name: string,
    private readonly onData: (buf: Buffer, start: number, end: number) => void,
  ) {}

  /** Consumes buf[start, end) up to the end of the framing; returns where it stopped. */
  push(buf: Buffer, start: number, end: number): number {
    let i = start;
    // Bounded: every iteration consumes at least one byte or finishes.
    while (i < end && !this.done) {
      switch (this.#state) {
        case 'data': {
          const n = Math.min(this.#remaining, end - i);
          this.onData(buf, i, i + n);
          this.#remaining -= n;
          i += n;
          if (this.#remaining === 0) this.#state = 'cr';
          break;
        }
        case 'cr':
        case 'lf': {
          const want = this.#state === 'cr' ? 0x0d : 0x0a;
          if (buf[i] !== want)
            throw new S3Error(400, 'IncompleteBody', `${this.name}: no CRLF after chunk data`);
          i++;
          this.#state = this.#state === 'cr' ? 'lf' : 'size';
          break;
        }
        case 'size':
        case 'trailer': {
          const nl = buf.subarray(i, end).indexOf(0x0a);
          const stop = nl === -1 ? end : i + nl;
          this.#line += buf.toString('latin1', i, stop);
          if (this.#line.length > 8192)
            throw new S3Error(400, 'IncompleteBody', `${this.name}: line too long`);
          if (nl === -1) {
            i = end;
            break;
          }
          i = stop + 1;
          const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
          this.#line = '';
          if (this.#state === 'size') {
            const hex = line.split(';', 1)[0]!.trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
              throw new S3Error(
                400,
                'IncompleteBody',
                `${this.name}: bad chunk size line '${line.slice(0, 80)}'`,
              );
            }
            this.#remaining = Number.parseInt(hex, 16);
            this.#state = this.#remaining === 0 ? 'trailer' : 'data';
          } else if (line === '') {
            this.done = true;
          } else {
            const colon = line.indexOf(':');
            if (colon > 0)
              this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
          break;
        }
      }
    }
    return i;
  }

  /** The enclosing body ended: the framing must be complete (a missing final CRLF is tolerated). */
  finish(): void {
    if (!this.done && !(this.#state === 'trailer' && this.#line === '')) {
      throw new S3Error(
        400,
        'IncompleteBody',
        `${this.name}: body ended inside the framing (${this.#state})`,
      );
    }
    this.done = true;
  }
}

/** Collects one request body: counts it, decodes aws-chunked, keeps it if asked. */
class BodySink {
  wire = 0;
  #bytes = 0;
  #aws: ChunkedDecoder | undefined;
  #kept: Buffer[] | undefined;

  constructor(awsChunked: boolean, keep: boolean) {
    if (awsChunked) {
      stats.awsChunkedBodies++;
      this.#aws = new ChunkedDecoder('aws-chunked', (_b, s, e) => void (this.#bytes += e - s));
    }
    if (keep) this.#kept = [];
  }

  data(buf: Buffer, start: number, end: number): void {
    this.wire += end - start;
    if (this.#aws) {
      const stop = this.#aws.push(buf, start, end);
      if (stop < end) throw new S3Error(400, 'IncompleteBody', 'aws-chunked: data after the final chunk');
    } else this.#bytes += end - start;
    if (this.#kept) {
      if (this.wire > MAX_KEPT_BODY)
        throw new S3Error(400, 'MaxMessageLengthExceeded', 'request body too large');
      this.#kept.push(Buffer.from(buf.subarray(start, end))); // copy: `buf` is reused
    }
  }

  end(headers: Record<string, string>): Body {
    this.#aws?.finish();
    const decoded = headers['x-amz-decoded-content-length'];
    if (this.#aws && decoded !== undefined && Number(decoded) !== this.#bytes) {
      throw new S3Error(
        400,
        'IncompleteBody',
        `decoded ${this.#bytes} bytes, x-amz-decoded-content-length says ${decoded}`,
      );
    }
    stats.bytesIn += this.#bytes;
    stats.wireBytesIn += this.wire;
    return {
      bytes: this.#bytes,
      trailers: this.#aws?.trailers ?? {},
      text: this.#kept ? Buffer.concat(this.#kept).toString('utf8') : '',
    };
  }
}

function isAwsChunked(headers: Record<string, string>): boolean {
  return (
    (headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-') ||
    (headers['content-encoding'] ?? '').split(',').some((e) => e.trim() === 'aws-chunked')
  );
}

// ---- replies ---------------------------------------------------------------------------------

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&apos;' : '&quot;',
  );
}

function xmlUnescape(s: string): string {
  return s.replace(/&(lt|gt|amp|apos|quot|#\d+|#x[0-9a-f]+);/gi, (_m, e: string) => {
    const l = e.toLowerCase();
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'amp') return '&';
    if (l === 'apos') return "'";
    if (l === 'quot') return '"';
    return String.fromCodePoint(l.startsWith('#x') ? Number.parseInt(l.slice(2), 16) : Number(l.slice(1)));
  });
}

function requestId(): string {
  return (++sequence).toString(16).padStart(16, '0').toUpperCase();
}

function xml(status: number, doc: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/xml', ...headers },
    body: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n${doc}`),
  };
}

function empty(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers };
}

function errorReply(req: Pick<Req, 'method' | 'target'>, err: S3Error): Reply {
  stats.errors[err.code] = (stats.errors[err.code] ?? 0) + 1;
  if (req.method === 'HEAD' || err.status === 304) return empty(err.status, { 'x-amz-error-code': err.code });
  return xml(
    err.status,
    `<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>` +
      `<Resource>${xmlEscape(req.target)}</Resource><RequestId>${requestId()}</RequestId></Error>`,
  );
}

// ---- objects ---------------------------------------------------------------------------------

function newEtag(seed: string, parts?: number): string {
  const hex = createHash('md5').update(`${seed}:${++sequence}:${process.hrtime.bigint()}`).digest('hex');
  return parts === undefined ? `"${hex}"` : `"${hex}-${parts}"`;
}

function userMetadata(headers: Record<string, string>): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-')) meta[name.slice(11)] = value;
  }
  return meta;
}

/** The checksum a request carries in a header or (aws-chunked) trailer. */
function requestChecksum(req: Req, trailers: Record<string, string>): Checksum | undefined {
  for (const alg of CHECKSUM_ALGORITHMS) {
    const name = `x-amz-checksum-${alg}`;
    const value = trailers[name] ?? req.headers[name];
    if (value) return { algorithm: alg, value, type: 'FULL_OBJECT' };
  }
  return undefined;
}

function bucketOf(name: string): Map<string, StoredObject> {
  const b = buckets.get(name);
  if (!b) throw new S3Error(404, 'NoSuchBucket', `The specified bucket does not exist: ${name}`);
  return b;
}

function objectHeaders(obj: StoredObject, req: Req, ranged: boolean): Record<string, string> {
  const h: Record<string, string> = {
    etag: obj.etag,
    'last-modified': obj.lastModified.toUTCString(),
    'content-type': obj.contentType,
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(obj.metadata)) h[`x-amz-meta-${k}`] = v;
  if (obj.parts !== undefined) h['x-amz-mp-parts-count'] = String(obj.parts);
  // Like AWS: checksums only when asked for, and never on a ranged GET.
  if (obj.checksum && !ranged && (req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED') {
    h[`x-amz-checksum-${obj.checksum.algorithm}`] = obj.checksum.value;
    h['x-amz-checksum-type'] = obj.checksum.type;
  }
  return h;
}

function checkPreconditions(req: Req, obj: StoredObject): void {
  const ifMatch = req.headers['if-match'];
  if (ifMatch && ifMatch !== '*' && !ifMatch.split(',').some((e) => e.trim() === obj.etag)) {
    throw new S3Error(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
    );
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch && ifNoneMatch.split(',').some((e) => e.trim() === obj.etag || e.trim() === '*')) {
    throw new S3Error(304, 'NotModified', 'Not Modified');
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive [start, end]; undefined = whole object. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // unsupported forms: whole object, as S3 does
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start)
    throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
  return { start, end };
}

function store(req: Req, b: Map<string, StoredObject>, key: string, obj: StoredObject): void {
  if (req.headers['if-none-match'] === '*' && b.has(key)) {
    throw new S3Error(
      412,
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
    );
  }
  b.set(key, obj);
}

function count(op: string): void {
  stats.ops[op] = (stats.ops[op] ?? 0) + 1;
}

// ---- operations ------------------------------------------------------------------------------

function bucketOp(req: Req, name: string, q: URLSearchParams): Reply {
  const { method } = req;
  if (method === 'PUT') {
    count('CreateBucket');
    if (!buckets.has(name)) buckets.set(name, new Map());
    return empty(200, { location: `/${name}` });
  }
  if (method === 'HEAD') {
    count('HeadBucket');
    bucketOf(name);
    return empty(200, { 'x-amz-bucket-region': 'us-east-1' });
  }
  if (method === 'DELETE') {
    count('DeleteBucket');
    if (bucketOf(name).size > 0)
      throw new S3Error(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty');
    buckets.delete(name);
    return empty(204);
  }
  if (method === 'POST' && q.has('delete')) {
    count('DeleteObjects');
    const b = bucketOf(name);
    const quiet = /<Quiet>\s*true\s*<\/Quiet>/i.test(req.body.text);
    const deleted: string[] = [];
    for (const m of req.body.text.matchAll(/<Object>[\s\S]*?<Key>([\s\S]*?)<\/Key>[\s\S]*?<\/Object>/g)) {
      const key = xmlUnescape(m[1]!);
      b.delete(key);
      deleted.push(key);
    }
    return xml(
      200,
      `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        (quiet ? '' : deleted.map((k) => `<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`).join('')) +
        `</DeleteResult>`,
    );
  }
  if (method === 'GET' && q.has('location')) {
    count('GetBucketLocation');
    bucketOf(name);
    return xml(200, `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`);
  }
  if (method === 'GET' && q.has('uploads')) {
    count('ListMultipartUploads');
    bucketOf(name);
    const entries = [...uploads.entries()]
      .filter(([, u]) => u.bucket === name)
      .map(
        ([id, u]) =>
          `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${id}</UploadId>` +
          `<Initiated>${u.initiated.toISOString()}</Initiated></Upload>`,
      );
    return xml(
      200,
      `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Bucket>${xmlEscape(name)}</Bucket><IsTruncated>false</IsTruncated>${entries.join('')}` +
        `</ListMultipartUploadsResult>`,
    );
  }
  if (method === 'GET') {
    count('ListObjectsV2');
    return listObjects(name, bucketOf(name), q);
  }
  throw new S3Error(405, 'MethodNotAllowed', `${method} on a bucket is not supported here`);
}

function listObjects(name: string, b: Map<string, StoredObject>, q: URLSearchParams): Reply {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Math.max(1, Math.min(1000, Number(q.get('max-keys') ?? 1000) || 1000));
  const token = q.get('continuation-token');
  const after = token ? Buffer.from(token, 'base64').toString('utf8') : (q.get('start-after') ?? '');
  const keys = [...b.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  const contents: string[] = [];
  const prefixes: string[] = [];
  let resumeAfter = '';
  let truncated = false;
  for (const key of keys) {
    // Keys under a common prefix already reported are folded into it.
    if (prefixes.length > 0 && key.startsWith(prefixes[prefixes.length - 1]!)) continue;
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    const i = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    if (i !== -1) {
      const p = key.slice(0, i + delimiter.length);
      prefixes.push(p);
      resumeAfter = p + '\u{10ffff}';
      continue;
    }
    const o = b.get(key)!;
    contents.push(
      `<Contents><Key>${xmlEscape(key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified>` +
        `<ETag>${xmlEscape(o.etag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    );
    resumeAfter = key;
  }
  return xml(
    200,
    `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(name)}</Name>` +
      `<Prefix>${xmlEscape(prefix)}</Prefix>` +
      (delimiter ? `<Delimiter>${xmlEscape(delimiter)}</Delimiter>` : '') +
      `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${contents.length + prefixes.length}</KeyCount>` +
      `<IsTruncated>${truncated}</IsTruncated>` +
      (token ? `<ContinuationToken>${xmlEscape(token)}</ContinuationToken>` : '') +
      (truncated
        ? `<NextContinuationToken>${Buffer.from(resumeAfter).toString('base64')}</NextContinuationToken>`
        : '') +
      contents.join('') +
      prefixes.map((p) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`).join('') +
      `</ListBucketResult>`,
  );
}

function uploadOf(id: string | null, bucket: string, key: string): MultipartUpload {
  const u = id ? uploads.get(id) : undefined;
  if (!u || u.bucket !== bucket || u.key !== key) {
    throw new S3Error(404, 'NoSuchUpload', 'The specified multipart upload does not exist');
  }
  return u;
}

function completeUpload(req: Req, bucket: string, key: string, id: string): Reply {
  const u = uploadOf(id, bucket, key);
  const b = bucketOf(bucket);
  const listed: { n: number; etag: string }[] = [];
  for (const m of req.body.text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
    const n = Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(m[1]!)?.[1]);
    const etag = xmlUnescape(/<ETag>([\s\S]*?)<\/ETag>/.exec(m[1]!)?.[1] ?? '').trim();
    listed.push({ n, etag });
  }
  if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'The XML lists no parts');
  let size = 0;
  const sums: Buffer[] = [];
  const bare = (s: string) => s.replace(/^"|"$/g, '');
  for (let i = 0; i < listed.length; i++) {
    const { n, etag } = listed[i]!;
    if (i > 0 && n <= listed[i - 1]!.n) {
      throw new S3Error(400, 'InvalidPartOrder', 'The list of parts was not in ascending order');
    }
    const part = u.parts.get(n);
    if (!part || bare(part.etag) !== bare(etag)) {
      throw new S3Error(400, 'InvalidPart', `Part ${n} was not uploaded or its ETag does not match`);
    }
    if (i < listed.length - 1 && part.size < MIN_PART) {
      throw new S3Error(
        400,
        'EntityTooSmall',
        `Part ${n} is ${part.size} bytes; all parts but the last need 5 MiB`,
      );
    }
    size += part.size;
    if (part.checksum) sums.push(Buffer.from(part.checksum, 'base64'));
  }
  let checksum: Checksum | undefined;
  const whole = requestChecksum(req, {});
  if (whole && u.checksumType === 'FULL_OBJECT') checksum = whole;
  else if (u.checksumAlgorithm && sums.length === listed.length) {
    // Composite: the checksum of the part checksums, "-N" (what S3 reports for such uploads).
    const alg = u.checksumAlgorithm;
    const joined = Buffer.concat(sums);
    let digest: Buffer | undefined;
    if (alg === 'crc32') {
      digest = Buffer.alloc(4);
      digest.writeUInt32BE(crc32(joined) >>> 0);
    } else if (alg === 'sha1' || alg === 'sha256') digest = createHash(alg).update(joined).digest();
    if (digest)
      checksum = {
        algorithm: alg,
        value: `${digest.toString('base64')}-${listed.length}`,
        type: 'COMPOSITE',
      };
  }
  const obj: StoredObject = {
    size,
    etag: newEtag(key, listed.length),
    lastModified: new Date(),
    contentType: u.contentType,
    metadata: u.metadata,
    checksum,
    via: 'multipart',
    parts: listed.length,
  };
  store(req, b, key, obj);
  uploads.delete(id);
  const tag = checksum ? `Checksum${checksum.algorithm.toUpperCase()}` : '';
  return xml(
    200,
    `<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Location>http://${xmlEscape(req.headers.host ?? '127.0.0.1')}/${xmlEscape(bucket)}/${xmlEscape(key)}</Location>` +
      `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(obj.etag)}</ETag>` +
      (checksum ? `<${tag}>${checksum.value}</${tag}><ChecksumType>${checksum.type}</ChecksumType>` : '') +
      `</CompleteMultipartUploadResult>`,
  );
}

function objectOp(req: Req, bucket: string, key: string, q: URLSearchParams): Reply {
  const { method } = req;
  if (method === 'PUT' && q.has('partNumber') && q.has('uploadId')) {
    count('UploadPart');
    if (req.headers['x-amz-copy-source']) {
      throw new S3Error(501, 'NotImplemented', 'UploadPartCopy is not implemented by the discard server');
    }
    const u = uploadOf(q.get('uploadId'), bucket, key);
    const partNumber = Number(q.get('partNumber'));
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new S3Error(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000');
    }
    const sum = requestChecksum(req, req.body.trailers);
    const etag = newEtag(`${key}#${partNumber}`);
    u.parts.set(partNumber, { size: req.body.bytes, etag, checksum: sum?.value });
    return empty(200, { etag, ...(sum ? { [`x-amz-checksum-${sum.algorithm}`]: sum.value } : {}) });
  }
  if (method === 'PUT' && req.headers['x-amz-copy-source']) {
    count('CopyObject');
    const src = decodeURIComponent(req.headers['x-amz-copy-source'].split('?')[0]!).replace(/^\//, '');
    const slash = src.indexOf('/');
    const from = bucketOf(src.slice(0, slash)).get(src.slice(slash + 1));
    if (!from) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
    const replace = req.headers['x-amz-metadata-directive'] === 'REPLACE';
    const obj: StoredObject = {
      ...from,
      etag: newEtag(key),
      lastModified: new Date(),
      via: 'copy',
      ...(replace ? { metadata: userMetadata(req.headers) } : {}),
    };
    store(req, bucketOf(bucket), key, obj);
    return xml(
      200,
      `<CopyObjectResult><LastModified>${obj.lastModified.toISOString()}</LastModified>` +
        `<ETag>${xmlEscape(obj.etag)}</ETag></CopyObjectResult>`,
    );
  }
  if (method === 'PUT') {
    count('PutObject');
    const b = bucketOf(bucket);
    const sum = requestChecksum(req, req.body.trailers);
    const obj: StoredObject = {
      size: req.body.bytes,
      etag: newEtag(key),
      lastModified: new Date(),
      contentType: req.headers['content-type'] ?? 'application/octet-stream',
      metadata: userMetadata(req.headers),
      checksum: sum,
      via: 'put',
    };
    store(req, b, key, obj);
    return empty(200, {
      etag: obj.etag,
      ...(sum
        ? { [`x-amz-checksum-${sum.algorithm}`]: sum.value, 'x-amz-checksum-type': 'FULL_OBJECT' }
        : {}),
    });
  }
  if (method === 'POST' && q.has('uploads')) {
    count('CreateMultipartUpload');
    bucketOf(bucket);
    const id = createHash('sha1').update(`${bucket}/${key}:${++sequence}:${Date.now()}`).digest('hex');
    const alg = req.headers['x-amz-checksum-algorithm'];
    const type = req.headers['x-amz-checksum-type'];
    uploads.set(id, {
      bucket,
      key,
      contentType: req.headers['content-type'] ?? 'application/octet-stream',
      metadata: userMetadata(req.headers),
      checksumAlgorithm: alg?.toLowerCase(),
      checksumType: type?.toUpperCase(),
      parts: new Map(),
      initiated: new Date(),
    });
    return xml(
      200,
      `<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId>` +
        `</InitiateMultipartUploadResult>`,
      {
        ...(alg ? { 'x-amz-checksum-algorithm': alg } : {}),
        ...(type ? { 'x-amz-checksum-type': type } : {}),
      },
    );
  }
  if (method === 'POST' && q.has('uploadId')) {
    count('CompleteMultipartUpload');
    return completeUpload(req, bucket, key, q.get('uploadId')!);
  }
  if (method === 'DELETE' && q.has('uploadId')) {
    count('AbortMultipartUpload');
    uploadOf(q.get('uploadId'), bucket, key);
    uploads.delete(q.get('uploadId')!);
    return empty(204);
  }
  if (method === 'DELETE') {
    count('DeleteObject');
    bucketOf(bucket).delete(key);
    return empty(204);
  }
  if ((method === 'GET' || method === 'HEAD') && q.has('uploadId')) {
    throw new S3Error(501, 'NotImplemented', 'ListParts is not implemented by the discard server');
  }
  if (method === 'GET' || method === 'HEAD') {
    count(method === 'GET' ? 'GetObject' : 'HeadObject');
    const obj = bucketOf(bucket).get(key);
    if (!obj) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
    checkPreconditions(req, obj);
    const range = method === 'GET' ? parseRange(req.headers.range, obj.size) : undefined;
    const start = range?.start ?? 0;
    const end = range?.end ?? obj.size - 1;
    return {
      status: range ? 206 : 200,
      headers: {
        ...objectHeaders(obj, req, range !== undefined),
        'content-length': String(obj.size === 0 ? 0 : end - start + 1),
        ...(range ? { 'content-range': `bytes ${start}-${end}/${obj.size}` } : {}),
      },
      ...(obj.size > 0 ? { payload: { start, end } } : {}),
    };
  }
  throw new S3Error(405, 'MethodNotAllowed', `${method} on an object is not supported here`);
}

function dispatch(req: Req): Reply {
  stats.requests++;
  try {
    const url = new URL(req.target, 'http://127.0.0.1');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    if (bucket === '') {
      count('ListBuckets');
      return xml(
        200,
        `<ListAllMyBucketsResult><Buckets>${[...buckets.keys()]
          .map((b) => `<Bucket><Name>${xmlEscape(b)}</Name></Bucket>`)
          .join('')}</Buckets></ListAllMyBucketsResult>`,
      );
    }
    if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) {
      return bucketOp(req, decodeURIComponent(bucket), url.searchParams);
    }
    const key = rest.map((s) => decodeURIComponent(s)).join('/');
    return objectOp(req, decodeURIComponent(bucket), key, url.searchParams);
  } catch (err) {
    if (err instanceof S3Error) return errorReply(req, err);
    return errorReply(req, new S3Error(500, 'InternalError', String(err)));
  }
}

// ---- HTTP/1.1 over a socket ------------------------------------------------------------------

/**
 * One client connection: parses requests from the bytes fed to it (offsets into a buffer the
 * caller reuses), answers each when its body is complete, one at a time.
 */
class Connection {
  #state: 'head' | 'body' | 'busy' = 'head';
  #head = '';
  #method = '';
  #target = '';
  #headers: Record<string, string> = {};
  #remaining = 0;
  #chunked: ChunkedDecoder | undefined;
  #sink: BodySink | undefined;
  /** Bytes that arrived while a reply was in progress (copied). */
  #pending: Buffer | undefined;
  #paused = false;
  #close = false;

  /** Set by `accept` once the socket that reads into the connection exists. */
  socket!: Socket;

  /** Feeds buf[start, end); returns false when reading should pause (a reply is in progress). */
  feed(buf: Buffer, start: number, end: number): boolean {
    try {
      // Bounded: each step consumes bytes, or parks the rest in #pending and returns.
      while (start < end) {
        if (this.#state === 'busy') {
          const rest = Buffer.from(buf.subarray(start, end));
          this.#pending = this.#pending ? Buffer.concat([this.#pending, rest]) : rest;
          this.#paused = true;
          return false;
        }
        start = this.#state === 'head' ? this.#readHead(buf, start, end) : this.#readBody(buf, start, end);
      }
    } catch (err) {
      const e = err instanceof S3Error ? err : new S3Error(400, 'BadRequest', String(err));
      this.#close = true;
      this.#state = 'busy';
      this.#send(errorReply({ method: this.#method, target: this.#target }, e));
      return false;
    }
    return true;
  }

  #readHead(buf: Buffer, start: number, end: number): number {
    const prev = this.#head.length;
    const stop = Math.min(end, start + (MAX_HEAD - prev));
    if (stop <= start) throw new S3Error(431, 'RequestHeaderSectionTooLarge', 'request head over 64 KiB');
    this.#head += buf.toString('latin1', start, stop);
    const at = this.#head.indexOf('\r\n\r\n', Math.max(0, prev - 3));
    if (at === -1) return stop;
    const consumed = start + (at + 4 - prev);
    // Tolerate stray CRLFs between requests.
    const text = this.#head.slice(0, at).replace(/^(\r\n)+/, '');
    this.#head = '';
    if (text === '') return consumed;
    const lines = text.split('\r\n');
    const [method = '', target = '', version = ''] = lines[0]!.split(' ');
    if (!method || !target.startsWith('/') || !version.startsWith('HTTP/1.')) {
      throw new S3Error(400, 'BadRequest', `bad request line '${lines[0]!.slice(0, 100)}'`);
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.#method = method;
    this.#target = target;
    this.#headers = headers;
    const connection = (headers.connection ?? '').toLowerCase();
    this.#close =
      connection.includes('close') || (version === 'HTTP/1.0' && !connection.includes('keep-alive'));
    this.#sink = new BodySink(isAwsChunked(headers), method === 'POST');
    this.#chunked = undefined;
    this.#remaining = 0;
    if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
      stats.httpChunkedBodies++;
      const sink = this.#sink;
      this.#chunked = new ChunkedDecoder('chunked', (b, s, e) => sink.data(b, s, e));
    } else {
      const length = headers['content-length'] ?? '0';
      if (!/^\d{1,15}$/.test(length)) throw new S3Error(400, 'BadRequest', `bad content-length '${length}'`);
      this.#remaining = Number(length);
    }
    if ((headers.expect ?? '').toLowerCase() === '100-continue') {
      stats.expectContinue++;
      this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    this.#state = 'body';
    if (!this.#chunked && this.#remaining === 0) this.#finish();
    return consumed;
  }

  #readBody(buf: Buffer, start: number, end: number): number {
    if (this.#chunked) {
      const stop = this.#chunked.push(buf, start, end);
      if (this.#chunked.done) this.#finish();
      return stop;
    }
    const n = Math.min(this.#remaining, end - start);
    this.#sink!.data(buf, start, start + n);
    this.#remaining -= n;
    if (this.#remaining === 0) this.#finish();
    return start + n;
  }

  #finish(): void {
    this.#state = 'busy';
    let reply: Reply;
    try {
      const body = this.#sink!.end(this.#headers);
      reply = dispatch({ method: this.#method, target: this.#target, headers: this.#headers, body });
    } catch (err) {
      const e = err instanceof S3Error ? err : new S3Error(400, 'BadRequest', String(err));
      reply = errorReply({ method: this.#method, target: this.#target }, e);
    }
    this.#sink = undefined;
    this.#send(reply);
  }

  #send(reply: Reply): void {
    const { socket } = this;
    if (socket.destroyed) return;
    const headers: Record<string, string> = {
      'x-amz-request-id': requestId(),
      'x-amz-id-2': 'discard-server',
      server: 'AvfsDiscardS3',
      date: new Date().toUTCString(),
      ...reply.headers,
    };
    if (!reply.payload && headers['content-length'] === undefined) {
      headers['content-length'] = String(reply.body?.length ?? 0);
    }
    headers.connection = this.#close ? 'close' : 'keep-alive';
    let head = `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? 'Unknown'}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    head += '\r\n';
    if (reply.payload && this.#method !== 'HEAD') {
      socket.write(head, 'latin1');
      this.#pump(reply.payload.start, reply.payload.end);
      return;
    }
    const body = this.#method === 'HEAD' ? undefined : reply.body;
    socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
    this.#done();
  }

  /** Writes payload bytes [start, end] from the shared block, honouring backpressure. */
  #pump(start: number, end: number): void {
    let pos = start;
    const step = (): void => {
      // Bounded: each iteration advances `pos` by at least one byte.
      while (pos <= end) {
        if (this.socket.destroyed) return;
        const off = pos % BLOCK_SIZE;
        const n = Math.min(BLOCK_SIZE - off, end - pos + 1);
        pos += n;
        stats.bytesOut += n;
        if (!this.socket.write(off === 0 && n === BLOCK_SIZE ? block : block.subarray(off, off + n))) {
          this.socket.once('drain', step);
          return;
        }
      }
      this.#done();
    };
    step();
  }

  /** The reply is written: go on with the next request. */
  #done(): void {
    this.#state = 'head';
    if (this.#close) {
      this.socket.end();
      return;
    }
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending && !this.feed(pending, 0, pending.length)) return;
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
  }
}

/**
 * Reads the accepted socket into one reused buffer. `net.Server` has no `onread` option, so the
 * accepted handle moves to a new `Socket` created with one (the handle is paused by
 * `pauseOnConnect`). Should that internal route ever fail, 'data' events are used instead.
 */
function accept(socket: Socket): void {
  stats.connections++;
  let sock = socket;
  const conn = new Connection();
  const raw = socket as unknown as { _handle: unknown };
  const handle = raw._handle;
  try {
    if (!handle || !useOnread) throw new Error('reading with data events');
    raw._handle = null;
    const buffer = Buffer.allocUnsafe(READ_BUFFER);
    sock = new Socket({
      handle,
      onread: { buffer, callback: (n: number, b: Uint8Array) => conn.feed(b as Buffer, 0, n) },
    } as SocketConstructorOpts);
    stats.reusedBufferConnections++;
  } catch {
    if (handle) raw._handle = handle;
    sock = socket;
    sock.on('data', (chunk: Buffer) => {
      if (!conn.feed(chunk, 0, chunk.length)) sock.pause();
    });
    sock.resume();
  }
  sock.setNoDelay(true);
  conn.socket = sock;
  sock.on('error', () => sock.destroy());
}

function main(): void {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i === -1 ? undefined : args[i + 1];
  };
  const server = createServer({ pauseOnConnect: true, noDelay: true }, accept);
  server.listen(Number(flag('--port') ?? 0), '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(JSON.stringify({ port, endpoint: `http://127.0.0.1:${port}` }) + '\n');
    if (process.send) {
      process.on('message', (msg: IpcRequest) => {
        let result: unknown;
        try {
          result = answer(msg);
        } catch (err) {
          result = { error: String(err) };
        }
        process.send?.({ id: msg.id, type: 'reply', result });
      });
      // The parent went away (exited, crashed or closed the channel): so do we.
      process.on('disconnect', () => process.exit(0));
      process.send({ type: 'ready', port });
    } else {
      const ttl = Number(flag('--ttl') ?? 3600);
      setTimeout(() => process.exit(0), ttl * 1000).unref();
    }
  });
  process.on('SIGINT', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

// ---- IPC -------------------------------------------------------------------------------------

type IpcRequest =
  | { id: number; type: 'stats' }
  | { id: number; type: 'object'; bucket: string; key: string }
  | { id: number; type: 'seed'; bucket: string; key: string; size: number }
  | { id: number; type: 'createBucket'; bucket: string };

function answer(msg: IpcRequest): unknown {
  switch (msg.type) {
    case 'stats': {
      const cpu = process.cpuUsage();
      return {
        ...stats,
        ops: { ...stats.ops },
        errors: { ...stats.errors },
        openUploads: uploads.size,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        rssMiB: process.memoryUsage().rss / MiB,
        peakRssMiB: peakRssMiB(),
      };
    }
    case 'object': {
      const o = buckets.get(msg.bucket)?.get(msg.key);
      return o ? { size: o.size, etag: o.etag, via: o.via, parts: o.parts, checksum: o.checksum } : null;
    }
    case 'seed': {
      let b = buckets.get(msg.bucket);
      if (!b) buckets.set(msg.bucket, (b = new Map()));
      b.set(msg.key, {
        size: msg.size,
        etag: newEtag(msg.key),
        lastModified: new Date(),
        contentType: 'application/octet-stream',
        metadata: {},
        via: 'seed',
      });
      return true;
    }
    case 'createBucket':
      if (!buckets.has(msg.bucket)) buckets.set(msg.bucket, new Map());
      return true;
  }
}

main();
