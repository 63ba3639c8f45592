/**
 * An in-memory Google Cloud Storage emulator speaking the JSON API wire protocol that
 * `@google-cloud/storage` 7.x uses: buckets, multipart / media / resumable uploads, metadata,
 * media downloads with ranges, listing, rewrite (multi-call), compose, delete and preconditions.
 * It is strict where GCS is strict (256 KiB resumable chunks, exact offsets, object-name rules,
 * 412 `conditionNotMet`, JSON error bodies with GCS reasons) and injects faults in the spirit of
 * Google's storage-testbench (503s and connection resets, by rule or by `x-emulator-fault` header).
 *
 * Test fixture only: 127.0.0.1, no auth, no persistence, no object versioning.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

// ---------------------------------------------------------------------------------------------
// CRC32C (Castagnoli), native (@node-rs/crc32, several GB/s: a JS table ran at ~0.4 GiB/s and
// made the emulator the bottleneck of every large transfer); GCS encodes it as base64 of the
// big-endian 32-bit value.

/** CRC32C of `data`, optionally continuing from a previous (finalised) value. */
export function crc32c(data: Uint8Array, previous = 0): number {
  return nativeCrc32c(data, previous) >>> 0;
}

function crcToBase64(crc: number): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc >>> 0, 0);
  return out.toString('base64');
}

/** The `crc32c` field GCS reports: base64 of the big-endian CRC32C. */
export function crc32cBase64(data: Uint8Array): string {
  return crcToBase64(crc32c(data));
}

function md5Base64(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}

// ---------------------------------------------------------------------------------------------
// Public types

export interface Fault {
  match?: {
    method?: string;
    /** substring of the raw request path + query */
    pathIncludes?: string;
    /** 1-based index of the data-carrying PUT within one resumable session */
    uploadChunk?: number;
  };
  /** `503`: answer with a JSON 503. `reset-after`: TCP-reset after `afterBytes` bytes of the
   * request body (requests with a body) or of the response body (requests without).
   * `corrupt`: flip every bit of the response media byte at offset `afterBytes` (default 0) of
   * the body sent, keeping the headers (`x-goog-hash` stays the stored object's): corruption
   * in transit, which a client must detect. `drop-response`: the request is carried out in full,
   * then the connection is reset instead of answered (a lost answer). */
  kind: '503' | 'reset-after' | 'corrupt' | 'drop-response';
  afterBytes?: number;
  /** how many matching requests to affect; default 1, `Infinity` for persistent */
  times?: number;
}

export interface RequestRecord {
  method: string;
  /** path without query */
  path: string;
  query: Record<string, string>;
  /** request headers as received (lower-case names) */
  headers: Record<string, string>;
  status: number;
  /** request `Content-Range` (uploads) */
  contentRange?: string;
  /** request `Range` (downloads) */
  range?: string;
  /** response `Range` (resumable 308s) */
  responseRange?: string;
  fault?: string;
}

export interface GcsEmulatorStats {
  requests: number;
  log: RequestRecord[];
  faultsFired: number;
  buckets: number;
  objects: number;
  openSessions: number;
}

export interface GcsEmulator {
  endpoint: string;
  projectId: string;
  stats(): GcsEmulatorStats;
  resetStats(): void;
  inject(fault: Fault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export interface GcsEmulatorOptions {
  /** bytes copied per rewrite call before a `rewriteToken` is returned (default 1 GiB) */
  maxBytesRewrittenPerCall?: number;
  projectId?: string;
  /**
   * Discard mode, for benchmarks with payloads larger than memory: object bytes are not kept.
   * Every uploaded byte must equal `pattern[offset % pattern.length]` (else 400), its CRC32C is
   * computed as it streams by (resumable chunks are never buffered) and checked as usual, and
   * downloads serve the pattern. Objects get no `md5Hash` (as composite objects), an MD5 sent by a
   * client is refused (400), and compose is not available.
   */
  discard?: { pattern: Buffer } | undefined;
}

// ---------------------------------------------------------------------------------------------
// State

interface StoredObject {
  bucket: string;
  name: string;
  data: Buffer;
  /** discard mode: the size of the object whose bytes were not kept */
  virtualSize?: number;
  generation: number;
  metageneration: number;
  contentType: string;
  metadata?: Record<string, string>;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  customTime?: string;
  md5Hash?: string;
  crc32c: string;
  componentCount?: number;
  timeCreated: string;
  updated: string;
}

interface StoredBucket {
  name: string;
  timeCreated: string;
  updated: string;
  metageneration: number;
  objects: Map<string, StoredObject>;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  resource: Record<string, unknown>;
  contentType: string;
  query: URLSearchParams;
  parts: Buffer[];
  persisted: number;
  chunkPuts: number;
  /** discard mode: CRC32C of the persisted bytes */
  crc: number;
  done?: StoredObject;
  cancelled?: boolean;
}

interface RewriteState {
  token: string;
  key: string;
  source: StoredObject;
  written: number;
}

const CHUNK = 256 * 1024;
const MAX_BODY = 1024 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);

const sizeOf = (o: StoredObject): number => o.virtualSize ?? o.data.length;

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly extraHeaders: Record<string, string> = {},
  ) {
    super(message);
  }
}

const notFoundBucket = (): HttpError =>
  new HttpError(404, 'notFound', 'The specified bucket does not exist.');
const notFoundObject = (bucket: string, name: string): HttpError =>
  new HttpError(404, 'notFound', `No such object: ${bucket}/${name}`);
const conditionNotMet = (): HttpError =>
  new HttpError(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');

function validateObjectName(name: string | null | undefined): string {
  if (name === null || name === undefined || name === '') {
    throw new HttpError(400, 'required', 'Required');
  }
  if (Buffer.byteLength(name, 'utf8') > 1024) {
    throw new HttpError(
      400,
      'invalid',
      'The maximum object length is 1024 characters, but got a name with more.',
    );
  }
  if (
    /[\r\n]/.test(name) ||
    name === '.' ||
    name === '..' ||
    name.startsWith('.well-known/acme-challenge/')
  ) {
    throw new HttpError(400, 'invalid', `Invalid object name: '${name}'`);
  }
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(name)) {
    throw new HttpError(400, 'invalid', 'Object name is not valid UTF-8.');
  }
  return name;
}

function validateBucketName(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new HttpError(400, 'required', 'Required');
  const ok =
    /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(name) &&
    name.split('.').every((p) => p.length > 0 && p.length <= 63) &&
    (name.includes('.') || name.length <= 63) &&
    !name.startsWith('goog') &&
    !/google|g00gle/.test(name) &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name);
  if (!ok) throw new HttpError(400, 'invalid', `Invalid bucket name: '${name}'`);
  return name;
}

function parseIntParam(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  if (!/^-?\d+$/.test(v)) throw new HttpError(400, 'invalid', `Invalid argument: ${key}=${v}`);
  return Number(v);
}

interface Preconditions {
  ifGenerationMatch?: number;
  ifGenerationNotMatch?: number;
  ifMetagenerationMatch?: number;
  ifMetagenerationNotMatch?: number;
}

function readPreconditions(q: URLSearchParams, prefix = ''): Preconditions {
  // `ifGenerationMatch` -> `ifSourceGenerationMatch` for prefix `ifSource`
  const key = (k: string): string => (prefix ? prefix + k.slice(2) : k);
  return {
    ifGenerationMatch: parseIntParam(q, key('ifGenerationMatch')),
    ifGenerationNotMatch: parseIntParam(q, key('ifGenerationNotMatch')),
    ifMetagenerationMatch: parseIntParam(q, key('ifMetagenerationMatch')),
    ifMetagenerationNotMatch: parseIntParam(q, key('ifMetagenerationNotMatch')),
  };
}

/** Throws 412 (or 304 for failed *NotMatch on reads) when `current` does not satisfy `p`. */
function checkPreconditions(p: Preconditions, current: StoredObject | undefined, isRead = false): void {
  const gen = current?.generation ?? 0;
  if (p.ifGenerationMatch !== undefined && p.ifGenerationMatch !== gen) throw conditionNotMet();
  if (
    p.ifMetagenerationMatch !== undefined &&
    (!current || current.metageneration !== p.ifMetagenerationMatch)
  ) {
    throw conditionNotMet();
  }
  const notModified = isRead ? new HttpError(304, 'notModified', 'Not Modified') : conditionNotMet();
  if (p.ifGenerationNotMatch !== undefined && p.ifGenerationNotMatch === gen) throw notModified;
  if (
    p.ifMetagenerationNotMatch !== undefined &&
    current &&
    current.metageneration === p.ifMetagenerationNotMatch
  ) {
    throw notModified;
  }
}

function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** GCS `matchGlob`: `*` (no `/`), `**` (anything; `**\/` may match zero segments), `?`, `[...]`, `{a,b}`. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  let i = 0;
  let braceDepth = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        if (glob[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 3;
        } else {
          re += '.*';
          i += 2;
        }
      } else {
        re += '[^/]*';
        i += 1;
      }
    } else if (c === '?') {
      re += '[^/]';
      i += 1;
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) throw new HttpError(400, 'invalid', `Invalid matchGlob: ${glob}`);
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end + 1;
    } else if (c === '{') {
      braceDepth++;
      re += '(?:';
      i += 1;
    } else if (c === '}' && braceDepth > 0) {
      braceDepth--;
      re += ')';
      i += 1;
    } else if (c === ',' && braceDepth > 0) {
      re += '|';
      i += 1;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += glob[i + 1]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i += 2;
    } else {
      re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      i += 1;
    }
  }
  if (braceDepth !== 0) throw new HttpError(400, 'invalid', `Invalid matchGlob: ${glob}`);
  return new RegExp('^' + re + '$', 's');
}

// ---------------------------------------------------------------------------------------------

export async function startGcsEmulator(opts: GcsEmulatorOptions = {}): Promise<GcsEmulator> {
  const projectId = opts.projectId ?? 'test';
  const defaultRewriteLimit = opts.maxBytesRewrittenPerCall ?? 1024 * 1024 * 1024;
  const buckets = new Map<string, StoredBucket>();
  const sessions = new Map<string, UploadSession>();
  const rewrites = new Map<string, RewriteState>();
  let faults: Array<Fault & { remaining: number }> = [];
  let log: RequestRecord[] = [];
  let faultsFired = 0;
  let lastGeneration = 0;
  let endpoint = '';
  const sockets = new Set<Socket>();
  const pattern = opts.discard?.pattern;
  if (pattern && pattern.length === 0) throw new Error('discard.pattern must not be empty');

  /** discard mode: whether `chunk` equals the pattern at absolute object offset `offset`. */
  const matchesPattern = (chunk: Uint8Array, offset: number): boolean => {
    const p = pattern!;
    let i = 0;
    while (i < chunk.length) {
      const at = (offset + i) % p.length;
      const n = Math.min(chunk.length - i, p.length - at);
      if (Buffer.compare(chunk.subarray(i, i + n), p.subarray(at, at + n)) !== 0) return false;
      i += n;
    }
    return true;
  };

  /** discard mode: pattern bytes [start, end] as views of the one pattern buffer. */
  function* patternSlices(start: number, end: number): Generator<Buffer> {
    const p = pattern!;
    for (let pos = start; pos <= end;) {
      const at = pos % p.length;
      const n = Math.min(end + 1 - pos, p.length - at);
      yield p.subarray(at, at + n);
      pos += n;
    }
  }

  const nextGeneration = (): number => {
    lastGeneration = Math.max(lastGeneration + 1, Date.now() * 1000);
    return lastGeneration;
  };
  const now = (): string => new Date().toISOString();

  const getBucket = (name: string): StoredBucket => {
    const b = buckets.get(name);
    if (!b) throw notFoundBucket();
    return b;
  };

  const encName = (n: string): string => encodeURIComponent(n);

  const bucketResource = (b: StoredBucket): Record<string, unknown> => ({
    kind: 'storage#bucket',
    selfLink: `${endpoint}/storage/v1/b/${b.name}`,
    id: b.name,
    name: b.name,
    projectNumber: '123456789',
    metageneration: String(b.metageneration),
    location: 'US',
    storageClass: 'STANDARD',
    etag: 'CAE=',
    timeCreated: b.timeCreated,
    updated: b.updated,
    locationType: 'multi-region',
  });

  const objectResource = (o: StoredObject): Record<string, unknown> => {
    const r: Record<string, unknown> = {
      kind: 'storage#object',
      id: `${o.bucket}/${o.name}/${o.generation}`,
      selfLink: `${endpoint}/storage/v1/b/${o.bucket}/o/${encName(o.name)}`,
      mediaLink: `${endpoint}/download/storage/v1/b/${o.bucket}/o/${encName(o.name)}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket: o.bucket,
      generation: String(o.generation),
      metageneration: String(o.metageneration),
      contentType: o.contentType,
      storageClass: 'STANDARD',
      size: String(sizeOf(o)),
      crc32c: o.crc32c,
      etag: Buffer.from(`${o.generation}/${o.metageneration}`).toString('base64'),
      timeCreated: o.timeCreated,
      updated: o.updated,
      timeStorageClassUpdated: o.timeCreated,
      timeFinalized: o.timeCreated,
    };
    if (o.md5Hash !== undefined) r.md5Hash = o.md5Hash;
    if (o.componentCount !== undefined) r.componentCount = o.componentCount;
    for (const k of [
      'metadata',
      'cacheControl',
      'contentDisposition',
      'contentEncoding',
      'contentLanguage',
      'customTime',
    ] as const) {
      if (o[k] !== undefined) r[k] = o[k];
    }
    return r;
  };

  /** Validates client-supplied hashes (resource fields or `X-Goog-Hash`) against the data. */
  const checkHashes = (data: Buffer, crc?: string, md5?: string): void => {
    if (crc !== undefined) {
      const actual = crc32cBase64(data);
      if (crc !== actual) {
        throw new HttpError(
          400,
          'invalid',
          `Provided CRC32C "${crc}" doesn't match calculated CRC32C "${actual}".`,
        );
      }
    }
    if (md5 !== undefined) {
      const actual = md5Base64(data);
      if (md5 !== actual) {
        throw new HttpError(
          400,
          'invalid',
          `Provided MD5 hash "${md5}" doesn't match calculated MD5 hash "${actual}".`,
        );
      }
    }
  };

  const parseGoogHash = (h: string | undefined): { crc?: string; md5?: string } => {
    const out: { crc?: string; md5?: string } = {};
    if (!h) return out;
    for (const part of h.split(',')) {
      const i = part.indexOf('=');
      if (i < 0) continue;
      const k = part.slice(0, i).trim();
      const v = part.slice(i + 1).trim();
      if (k === 'crc32c') out.crc = v;
      else if (k === 'md5') out.md5 = v;
    }
    return out;
  };

  const pickString = (r: Record<string, unknown>, k: string): string | undefined => {
    const v = r[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new HttpError(400, 'invalid', `Invalid value for ${k}`);
    return v;
  };

  const pickMetadata = (r: Record<string, unknown>): Record<string, string> | undefined => {
    const m = r.metadata;
    if (m === undefined || m === null) return undefined;
    if (typeof m !== 'object' || Array.isArray(m))
      throw new HttpError(400, 'invalid', 'Invalid value for metadata');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (v === null || v === undefined) continue;
      out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    }
    return out;
  };

  /** Creates / overwrites `bucket/name` after checking preconditions against the live object. */
  const commitObject = (
    bucketName: string,
    name: string,
    data: Buffer,
    resource: Record<string, unknown>,
    fallbackContentType: string | undefined,
    pre: Preconditions,
    extra: Partial<StoredObject> = {},
  ): StoredObject => {
    const bucket = getBucket(bucketName);
    checkPreconditions(pre, bucket.objects.get(name));
    if (pattern && extra.virtualSize === undefined) {
      // a body received whole (multipart / media upload): checked, counted, dropped
      if (!matchesPattern(data, 0))
        throw new HttpError(400, 'invalid', 'Discard mode: the uploaded bytes differ from the pattern.');
      extra = { md5Hash: undefined, crc32c: crc32cBase64(data), ...extra, virtualSize: data.length };
      data = EMPTY;
    }
    const t = now();
    const obj: StoredObject = {
      bucket: bucketName,
      name,
      data,
      generation: nextGeneration(),
      metageneration: 1,
      contentType: pickString(resource, 'contentType') ?? fallbackContentType ?? 'application/octet-stream',
      metadata: pickMetadata(resource),
      cacheControl: pickString(resource, 'cacheControl'),
      contentDisposition: pickString(resource, 'contentDisposition'),
      contentEncoding: pickString(resource, 'contentEncoding'),
      contentLanguage: pickString(resource, 'contentLanguage'),
      customTime: pickString(resource, 'customTime'),
      md5Hash: pattern ? undefined : md5Base64(data),
      crc32c: pattern ? '' : crc32cBase64(data),
      timeCreated: t,
      updated: t,
      ...extra,
    };
    bucket.objects.set(name, obj);
    return obj;
  };

  const getLiveObject = (bucketName: string, name: string, q: URLSearchParams): StoredObject => {
    const bucket = getBucket(bucketName);
    const obj = bucket.objects.get(name);
    if (!obj) throw notFoundObject(bucketName, name);
    const gen = parseIntParam(q, 'generation');
    if (gen !== undefined && gen !== obj.generation) throw notFoundObject(bucketName, name);
    return obj;
  };

  // -------------------------------------------------------------------------------------------
  // Request plumbing

  /** Responses to cut after N body bytes (`reset-after` on requests without a body). */
  const responseResets = new WeakMap<ServerResponse, number>();

  const cutResponse = (res: ServerResponse, data: Buffer, after: number): void => {
    res.write(data.subarray(0, after), () => {
      setTimeout(() => res.socket?.resetAndDestroy(), 10);
    });
  };

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void => {
    const text = Buffer.from(JSON.stringify(body));
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=UTF-8',
      'Content-Length': text.length,
      ...headers,
    });
    const after = responseResets.get(res);
    if (after !== undefined && after < text.length) {
      cutResponse(res, text, after);
      return;
    }
    res.end(text);
  };

  const sendError = (res: ServerResponse, err: HttpError): void => {
    if (err.code === 304) {
      res.writeHead(304, err.extraHeaders);
      res.end();
      return;
    }
    sendJson(
      res,
      err.code,
      {
        error: {
          code: err.code,
          message: err.message,
          errors: [{ message: err.message, domain: 'global', reason: err.reason }],
        },
      },
      err.extraHeaders,
    );
  };

  const parseJsonBody = (body: Buffer): Record<string, unknown> => {
    if (body.length === 0) return {};
    try {
      const v: unknown = JSON.parse(body.toString('utf8'));
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      return v as Record<string, unknown>;
    } catch {
      throw new HttpError(400, 'parseError', 'Parse Error');
    }
  };

  interface BodyResult {
    body: Buffer;
    /** bytes received (with a sink, `body` is empty) */
    length: number;
    /** true when the body was cut short by a client abort or an injected reset */
    broken: boolean;
  }

  /**
   * Reads the request body; with `resetAfter`, resets the connection after that many bytes. With
   * a `sink`, chunks go there as they arrive and are not kept (discard mode).
   */
  const readBody = (
    req: IncomingMessage,
    resetAfter: number | undefined,
    sink?: (chunk: Buffer) => void,
  ): Promise<BodyResult> =>
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const finish = (broken: boolean): void => {
        if (settled) return;
        settled = true;
        resolve({ body: sink ? EMPTY : Buffer.concat(chunks), length: size, broken });
      };
      const keep = (chunk: Buffer): void => {
        if (sink) sink(chunk);
        else chunks.push(chunk);
      };
      const reset = (): void => {
        req.pause();
        finish(true);
        req.socket.resetAndDestroy();
      };
      if (resetAfter === 0) {
        reset();
        return;
      }
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (resetAfter !== undefined && size + chunk.length >= resetAfter) {
          keep(chunk.subarray(0, resetAfter - size));
          size = resetAfter;
          reset();
          return;
        }
        keep(chunk);
        size += chunk.length;
        if (size > MAX_BODY && !sink) reset();
      });
      // a reset fault longer than the body still resets, once the body has been read
      req.on('end', () => (resetAfter !== undefined ? reset() : finish(false)));
      req.on('aborted', () => finish(true));
      req.on('error', () => finish(true));
      req.on('close', () => finish(!req.complete));
    });

  const takeFault = (
    method: string,
    rawUrl: string,
    session: UploadSession | undefined,
    isDataPut: boolean,
  ): Fault | undefined => {
    for (const f of faults) {
      if (f.remaining <= 0) continue;
      const m = f.match ?? {};
      if (m.method && m.method.toUpperCase() !== method) continue;
      if (m.pathIncludes && !rawUrl.includes(m.pathIncludes)) continue;
      if (m.uploadChunk !== undefined && (!session || !isDataPut || session.chunkPuts !== m.uploadChunk))
        continue;
      f.remaining--;
      return f;
    }
    return undefined;
  };

  const faultLabel = (f: Fault): string =>
    f.kind === '503' || f.kind === 'drop-response'
      ? f.kind
      : `${f.kind === 'corrupt' ? 'corrupt-at' : 'reset-after'}-${f.afterBytes ?? 0}`;

  /** The handler runs to the end, but whatever it answers becomes a connection reset. */
  const dropResponse = (req: IncomingMessage, res: ServerResponse): void => {
    const lose = (): ServerResponse => {
      req.socket.resetAndDestroy();
      return res;
    };
    res.writeHead = lose as unknown as ServerResponse['writeHead'];
    res.write = (() => true) as unknown as ServerResponse['write'];
    res.end = lose as unknown as ServerResponse['end'];
  };

  const headerFault = (req: IncomingMessage): Fault | undefined => {
    const h = req.headers['x-emulator-fault'];
    const v = Array.isArray(h) ? h[0] : h;
    if (!v) return undefined;
    if (v === '503') return { kind: '503' };
    if (v === 'drop-response') return { kind: 'drop-response' };
    const c = /^corrupt-at-(\d+)$/.exec(v);
    if (c) return { kind: 'corrupt', afterBytes: Number(c[1]) };
    const m = /^reset-after-(\d+)$/.exec(v);
    if (m) return { kind: 'reset-after', afterBytes: Number(m[1]) };
    return undefined;
  };

  // -------------------------------------------------------------------------------------------
  // Handlers

  const handleListObjects = (res: ServerResponse, bucketName: string, q: URLSearchParams): void => {
    const bucket = getBucket(bucketName);
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const startOffset = q.get('startOffset') ?? '';
    const endOffset = q.get('endOffset') ?? '';
    const glob = q.get('matchGlob');
    const includeTrailing = q.get('includeTrailingDelimiter') === 'true';
    const maxResultsRaw = parseIntParam(q, 'maxResults');
    if (maxResultsRaw !== undefined && maxResultsRaw < 0) {
      throw new HttpError(400, 'invalid', `Invalid value for maxResults: ${maxResultsRaw}`);
    }
    const maxResults = Math.min(
      maxResultsRaw === undefined || maxResultsRaw === 0 ? 1000 : maxResultsRaw,
      1000,
    );
    const globRe = glob ? globToRegExp(glob) : undefined;
    let after: { k: string; p: boolean } | undefined;
    const token = q.get('pageToken');
    if (token) {
      try {
        after = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { k: string; p: boolean };
        if (typeof after.k !== 'string') throw new Error('bad token');
      } catch {
        throw new HttpError(400, 'invalid', 'Invalid pageToken.');
      }
    }
    const names = [...bucket.objects.keys()].sort(compareNames);
    const items: Record<string, unknown>[] = [];
    const prefixes: string[] = [];
    let lastKey: { k: string; p: boolean } | undefined;
    let more = false;
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      if (startOffset && compareNames(name, startOffset) < 0) continue;
      if (endOffset && compareNames(name, endOffset) >= 0) continue;
      if (globRe && !globRe.test(name)) continue;
      if (after) {
        if (compareNames(name, after.k) <= 0) continue;
        if (after.p && name.startsWith(after.k)) continue;
      }
      const used = items.length + prefixes.length;
      if (delimiter) {
        const i = name.indexOf(delimiter, prefix.length);
        if (i >= 0) {
          const p = name.slice(0, i + delimiter.length);
          const newPrefix = prefixes[prefixes.length - 1] !== p;
          // with includeTrailingDelimiter, an object named exactly like its prefix is listed too
          const alsoItem = includeTrailing && p === name;
          if (!newPrefix && !alsoItem) continue;
          const needed = (newPrefix ? 1 : 0) + (alsoItem ? 1 : 0);
          // a prefix and its trailing-delimiter object stay on one page (a page may then hold
          // maxResults + 1 entries when maxResults is 1)
          if (used > 0 && used + needed > maxResults) {
            more = true;
            break;
          }
          if (newPrefix) prefixes.push(p);
          if (alsoItem) items.push(objectResource(bucket.objects.get(name)!));
          lastKey = { k: p, p: true };
          continue;
        }
      }
      if (used >= maxResults) {
        more = true;
        break;
      }
      items.push(objectResource(bucket.objects.get(name)!));
      lastKey = { k: name, p: false };
    }
    const body: Record<string, unknown> = { kind: 'storage#objects' };
    if (more && lastKey) body.nextPageToken = Buffer.from(JSON.stringify(lastKey)).toString('base64url');
    if (prefixes.length) body.prefixes = prefixes;
    if (items.length) body.items = items;
    sendJson(res, 200, body);
  };

  const sendMedia = (
    req: IncomingMessage,
    res: ServerResponse,
    obj: StoredObject,
    resetAfter: number | undefined,
    rec: RequestRecord,
    corruptAt: number | undefined,
  ): void => {
    const size = sizeOf(obj);
    let start = 0;
    let end = size - 1;
    let status = 200;
    const rangeHeader = req.headers.range;
    const headers: Record<string, string | number> = {
      'Content-Type': obj.contentType,
      'Accept-Ranges': 'bytes',
      ETag: `"${obj.md5Hash ?? obj.crc32c}"`,
      'Last-Modified': new Date(obj.updated).toUTCString(),
      'x-goog-generation': String(obj.generation),
      'x-goog-metageneration': String(obj.metageneration),
      'x-goog-stored-content-encoding': obj.contentEncoding ?? 'identity',
      'x-goog-stored-content-length': String(size),
      'x-goog-hash': obj.md5Hash ? `crc32c=${obj.crc32c},md5=${obj.md5Hash}` : `crc32c=${obj.crc32c}`,
      'x-goog-storage-class': 'STANDARD',
    };
    if (obj.contentEncoding) headers['Content-Encoding'] = obj.contentEncoding;
    if (obj.cacheControl) headers['Cache-Control'] = obj.cacheControl;
    if (obj.contentDisposition) headers['Content-Disposition'] = obj.contentDisposition;
    for (const [k, v] of Object.entries(obj.metadata ?? {})) headers[`x-goog-meta-${k}`] = v;
    if (rangeHeader && size > 0) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(rangeHeader.trim());
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') {
          start = Math.max(0, size - Number(m[2]));
        } else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(Number(m[2]), size - 1);
          if (m[2] !== '' && Number(m[2]) < start) {
            // syntactically invalid range: ignored, whole object served (RFC 9110)
            start = 0;
            end = size - 1;
          }
        }
        if (start >= size) {
          throw new HttpError(416, 'requestedRangeNotSatisfiable', 'Request range not satisfiable', {
            'Content-Range': `bytes */${size}`,
          });
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
      }
    }
    const length = size === 0 ? 0 : end - start + 1;
    headers['Content-Length'] = length;
    rec.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const corrupt = (b: Buffer, at: number): Buffer => {
      const copy = Buffer.from(b);
      copy[at] = copy[at]! ^ 0xff;
      return copy;
    };
    if (pattern && length > 0) {
      // discard mode: the pattern, as views of one buffer, with backpressure
      let sent = 0;
      const slices = function* (): Generator<Buffer> {
        for (const b of patternSlices(start, end)) {
          let out = b;
          if (corruptAt !== undefined && corruptAt >= sent && corruptAt < sent + b.length)
            out = corrupt(b, corruptAt - sent);
          if (resetAfter !== undefined && sent + out.length > resetAfter) {
            yield out.subarray(0, resetAfter - sent);
            setTimeout(() => res.socket?.resetAndDestroy(), 10);
            return;
          }
          sent += out.length;
          yield out;
        }
      };
      Readable.from(slices(), { objectMode: false }).pipe(res);
      return;
    }
    let slice = size === 0 ? EMPTY : obj.data.subarray(start, end + 1);
    if (corruptAt !== undefined && corruptAt < slice.length) slice = corrupt(slice, corruptAt);
    if (resetAfter !== undefined && resetAfter < slice.length) {
      cutResponse(res, slice, resetAfter);
      return;
    }
    res.end(slice);
  };

  /** Parses a `multipart/related` body into its JSON metadata and media parts. */
  const parseMultipart = (
    contentType: string,
    body: Buffer,
  ): { resource: Record<string, unknown>; media: Buffer; mediaType?: string } => {
    const m = /boundary="?([^";]+)"?/i.exec(contentType);
    if (!/^multipart\/related/i.test(contentType) || !m) {
      throw new HttpError(
        400,
        'badRequest',
        'Multipart upload requires a multipart/related body with a boundary.',
      );
    }
    const delim = Buffer.from(`--${m[1]}`);
    const parts: Array<{ headers: Record<string, string>; body: Buffer }> = [];
    let pos = body.indexOf(delim);
    if (pos < 0) throw new HttpError(400, 'badRequest', 'Malformed multipart body.');
    for (let guard = 0; guard < 16; guard++) {
      pos += delim.length;
      if (body.subarray(pos, pos + 2).toString() === '--') break;
      if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
      const next = body.indexOf(delim, pos);
      if (next < 0) throw new HttpError(400, 'badRequest', 'Malformed multipart body.');
      let part = body.subarray(pos, next);
      if (part.subarray(part.length - 2).toString() === '\r\n') part = part.subarray(0, part.length - 2);
      const sep = part.indexOf('\r\n\r\n');
      const headText = sep >= 0 ? part.subarray(0, sep).toString('utf8') : '';
      const headers: Record<string, string> = {};
      for (const line of headText.split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      parts.push({ headers, body: sep >= 0 ? part.subarray(sep + 4) : part });
      pos = next;
    }
    if (parts.length !== 2)
      throw new HttpError(400, 'badRequest', `Multipart upload needs 2 parts, got ${parts.length}.`);
    return {
      resource: parseJsonBody(parts[0]!.body),
      media: Buffer.from(parts[1]!.body),
      mediaType: parts[1]!.headers['content-type'],
    };
  };

  const handleUploadInit = async (
    req: IncomingMessage,
    res: ServerResponse,
    bucketName: string,
    q: URLSearchParams,
    body: Buffer,
  ): Promise<void> => {
    getBucket(bucketName);
    const uploadType = q.get('uploadType');
    const pre = readPreconditions(q);
    if (uploadType === 'multipart') {
      const { resource, media, mediaType } = parseMultipart(String(req.headers['content-type'] ?? ''), body);
      const name = validateObjectName(q.get('name') ?? pickString(resource, 'name'));
      checkHashes(media, pickString(resource, 'crc32c'), pickString(resource, 'md5Hash'));
      const obj = commitObject(bucketName, name, media, resource, mediaType, pre);
      sendJson(res, 200, objectResource(obj));
    } else if (uploadType === 'media') {
      const name = validateObjectName(q.get('name'));
      const ct = req.headers['content-type'];
      const obj = commitObject(bucketName, name, body, {}, ct, pre);
      sendJson(res, 200, objectResource(obj));
    } else if (uploadType === 'resumable') {
      const resource = parseJsonBody(body);
      const name = validateObjectName(q.get('name') ?? pickString(resource, 'name'));
      checkPreconditions(pre, getBucket(bucketName).objects.get(name));
      const id = randomBytes(16).toString('hex');
      const xct = req.headers['x-upload-content-type'];
      sessions.set(id, {
        id,
        bucket: bucketName,
        name,
        resource,
        contentType:
          (Array.isArray(xct) ? xct[0] : xct) ??
          pickString(resource, 'contentType') ??
          'application/octet-stream',
        query: q,
        parts: [],
        persisted: 0,
        chunkPuts: 0,
        crc: 0,
      });
      const location = `${endpoint}/upload/storage/v1/b/${bucketName}/o?uploadType=resumable&name=${encName(name)}&upload_id=${id}`;
      res.writeHead(200, { Location: location, 'X-GUploader-UploadID': id, 'Content-Length': 0 });
      res.end();
    } else {
      throw new HttpError(400, 'invalid', `Invalid upload type: ${uploadType ?? '(none)'}`);
    }
  };

  const sendIncomplete = (res: ServerResponse, s: UploadSession, rec: RequestRecord): void => {
    const headers: Record<string, string | number> = { 'Content-Length': 0, 'X-GUploader-UploadID': s.id };
    if (s.persisted > 0) {
      headers.Range = `bytes=0-${s.persisted - 1}`;
      rec.responseRange = String(headers.Range);
    }
    rec.status = 308;
    res.writeHead(308, headers);
    res.end();
  };

  const finalizeSession = (res: ServerResponse, s: UploadSession, req: IncomingMessage): void => {
    const h = parseGoogHash(req.headers['x-goog-hash'] as string | undefined);
    if (pattern) {
      const crc = crcToBase64(s.crc);
      const want = h.crc ?? pickString(s.resource, 'crc32c');
      if (want !== undefined && want !== crc) {
        throw new HttpError(
          400,
          'invalid',
          `Provided CRC32C "${want}" doesn't match calculated CRC32C "${crc}".`,
        );
      }
      if ((h.md5 ?? pickString(s.resource, 'md5Hash')) !== undefined)
        throw new HttpError(400, 'invalid', 'Discard mode cannot check an MD5 hash.');
      const obj = commitObject(
        s.bucket,
        s.name,
        EMPTY,
        s.resource,
        s.contentType,
        readPreconditions(s.query),
        {
          virtualSize: s.persisted,
          crc32c: crc,
          md5Hash: undefined,
        },
      );
      s.done = obj;
      sendJson(res, 200, objectResource(obj));
      return;
    }
    const data = Buffer.concat(s.parts);
    checkHashes(data, h.crc ?? pickString(s.resource, 'crc32c'), h.md5 ?? pickString(s.resource, 'md5Hash'));
    const obj = commitObject(s.bucket, s.name, data, s.resource, s.contentType, readPreconditions(s.query));
    s.done = obj;
    s.parts = [];
    sendJson(res, 200, objectResource(obj));
  };

  const handleUploadPut = async (
    req: IncomingMessage,
    res: ServerResponse,
    s: UploadSession,
    rec: RequestRecord,
    rawUrl: string,
  ): Promise<void> => {
    const cr = req.headers['content-range'];
    const m = cr === undefined ? null : /^bytes (?:\*|(\d+)-(-1|\d+|\*))\/(\*|\d+)$/.exec(cr.trim());
    if (cr !== undefined && !m) {
      await readBody(req, undefined);
      throw new HttpError(400, 'badRequest', `Failed to parse Content-Range header: ${cr}`);
    }
    const isQuery = m !== null && m[1] === undefined;
    const first = m && m[1] !== undefined ? Number(m[1]) : 0;
    const last = m && m[2] !== undefined && m[2] !== '*' ? Number(m[2]) : undefined;
    const total = m && m[3] !== '*' ? Number(m[3]) : undefined;
    if (!isQuery) s.chunkPuts++;
    const fault = headerFault(req) ?? takeFault(req.method!, rawUrl, s, !isQuery);
    if (fault) {
      faultsFired++;
      rec.fault = faultLabel(fault);
      if (fault.kind === 'drop-response') dropResponse(req, res);
    }
    // Discard mode: bytes are hashed as they arrive, with a checkpoint at every 256 KiB boundary
    // (an interrupted request keeps only whole blocks), and committed to the session only if the
    // request turns out valid.
    const stage =
      pattern && !isQuery && !s.done && !s.cancelled && first <= s.persisted
        ? { pos: first, crc: s.crc, mark: { pos: s.persisted, crc: s.crc }, bad: false }
        : undefined;
    const sink = pattern
      ? (chunk: Buffer): void => {
          if (!stage) return;
          let c = chunk;
          if (stage.pos < s.persisted) {
            const skip = Math.min(c.length, s.persisted - stage.pos);
            c = c.subarray(skip);
            stage.pos += skip;
          }
          if (c.length > 0 && !matchesPattern(c, stage.pos)) stage.bad = true;
          while (c.length > 0) {
            const n = Math.min(c.length, CHUNK - (stage.pos % CHUNK));
            stage.crc = crc32c(c.subarray(0, n), stage.crc);
            stage.pos += n;
            c = c.subarray(n);
            if (stage.pos % CHUNK === 0) stage.mark = { pos: stage.pos, crc: stage.crc };
          }
        }
      : undefined;
    const { body, broken, length } = await readBody(
      req,
      fault?.kind === 'reset-after' ? (fault.afterBytes ?? 0) : undefined,
      sink,
    );
    if (fault?.kind === '503') {
      throw new HttpError(503, 'backendError', 'Service Unavailable (injected by emulator)');
    }
    if (s.cancelled) throw new HttpError(410, 'gone', 'The upload session was cancelled.');
    if (s.done) {
      if (!broken) sendJson(res, 200, objectResource(s.done));
      return;
    }
    if (isQuery) {
      if (length > 0) throw new HttpError(400, 'badRequest', 'A status query must not carry a body.');
      if (total !== undefined && total === s.persisted) {
        finalizeSession(res, s, req);
        return;
      }
      if (total !== undefined && total < s.persisted) {
        throw new HttpError(
          400,
          'badRequest',
          `Declared size ${total} is smaller than the ${s.persisted} bytes already uploaded.`,
        );
      }
      sendIncomplete(res, s, rec);
      return;
    }
    if (first > s.persisted) {
      if (!broken) {
        throw new HttpError(
          400,
          'badRequest',
          `Invalid request. According to the Content-Range header, the upload offset is ${first} byte(s), which exceeds already uploaded size of ${s.persisted} byte(s).`,
        );
      }
      return;
    }
    if (last !== undefined) {
      // `bytes A-(A-1)/A` with an empty body (the SDK sends `bytes 0--1/0` for an empty object
      // in chunked mode) is an empty final chunk; any other inverted range is invalid.
      const emptyFinal = last === first - 1 && total === first && length === 0;
      if (last < first && !emptyFinal) throw new HttpError(400, 'badRequest', `Invalid Content-Range: ${cr}`);
      if (total !== undefined && last >= total)
        throw new HttpError(400, 'badRequest', `Invalid Content-Range: ${cr}`);
      if (!broken && length !== last - first + 1) {
        throw new HttpError(400, 'badRequest', `Content-Range ${cr} does not match the ${length}-byte body.`);
      }
    }
    const isFinal = last === undefined ? true : total !== undefined && last === total - 1;
    if (!isFinal && !broken && (last! - first + 1) % CHUNK !== 0) {
      throw new HttpError(
        400,
        'badRequest',
        `Invalid request. The number of bytes uploaded is required to be equal or greater than 262144, except for the final request (it's recommended to be the exact multiple of 262144). The received request contained ${last! - first + 1} bytes, which does not meet this requirement.`,
      );
    }
    if (stage) {
      if (broken) {
        if (stage.mark.pos > s.persisted) {
          s.persisted = stage.mark.pos;
          s.crc = stage.mark.crc;
        }
        return;
      }
      if (stage.bad)
        throw new HttpError(400, 'invalid', 'Discard mode: the uploaded bytes differ from the pattern.');
      if (stage.pos > s.persisted) {
        s.persisted = stage.pos;
        s.crc = stage.crc;
      }
    }
    // Overlap with what is already persisted is accepted from the persisted offset.
    const fresh = pattern ? EMPTY : body.subarray(Math.min(body.length, s.persisted - first));
    if (broken) {
      // GCS persists only whole 256 KiB blocks of an interrupted request.
      const keep = Math.floor((s.persisted + fresh.length) / CHUNK) * CHUNK - s.persisted;
      if (keep > 0) {
        s.parts.push(Buffer.from(fresh.subarray(0, keep)));
        s.persisted += keep;
      }
      return;
    }
    if (fresh.length > 0) {
      s.parts.push(Buffer.from(fresh));
      s.persisted += fresh.length;
    }
    if (isFinal) {
      if (total !== undefined && s.persisted !== total) {
        throw new HttpError(
          400,
          'badRequest',
          `Upload is ${s.persisted} bytes but the declared size is ${total}.`,
        );
      }
      finalizeSession(res, s, req);
      return;
    }
    sendIncomplete(res, s, rec);
  };

  const handleRewrite = (
    res: ServerResponse,
    q: URLSearchParams,
    srcBucket: string,
    srcName: string,
    dstBucket: string,
    dstName: string,
    body: Buffer,
    single: boolean,
  ): void => {
    const resource = parseJsonBody(body);
    getBucket(dstBucket);
    validateObjectName(dstName);
    const key = `${srcBucket}/${srcName}->${dstBucket}/${dstName}`;
    const token = q.get('rewriteToken');
    let state: RewriteState;
    if (token && !single) {
      const found = rewrites.get(token);
      if (!found || found.key !== key) throw new HttpError(400, 'invalid', 'Invalid rewrite token.');
      state = found;
    } else {
      const srcQ = new URLSearchParams();
      const sg = q.get('sourceGeneration');
      if (sg !== null) srcQ.set('generation', sg);
      const src = getLiveObject(srcBucket, srcName, srcQ);
      checkPreconditions(readPreconditions(q, 'ifSource'), src);
      checkPreconditions(readPreconditions(q), getBucket(dstBucket).objects.get(dstName));
      state = { token: randomBytes(12).toString('base64url'), key, source: src, written: 0 };
    }
    let limit = defaultRewriteLimit;
    const perCall = parseIntParam(q, 'maxBytesRewrittenPerCall');
    if (perCall !== undefined) {
      if (perCall <= 0 || perCall % (1024 * 1024) !== 0) {
        throw new HttpError(
          400,
          'invalid',
          'maxBytesRewrittenPerCall must be an integral multiple of 1048576.',
        );
      }
      limit = perCall;
    }
    const total = sizeOf(state.source);
    state.written = single ? total : Math.min(total, state.written + limit);
    if (state.written < total) {
      rewrites.set(state.token, state);
      sendJson(res, 200, {
        kind: 'storage#rewriteResponse',
        totalBytesRewritten: String(state.written),
        objectSize: String(total),
        done: false,
        rewriteToken: state.token,
      });
      return;
    }
    rewrites.delete(state.token);
    const src = state.source;
    const merged: Record<string, unknown> = {
      contentType: src.contentType,
      metadata: src.metadata,
      cacheControl: src.cacheControl,
      contentDisposition: src.contentDisposition,
      contentEncoding: src.contentEncoding,
      contentLanguage: src.contentLanguage,
    };
    for (const k of [
      'contentType',
      'metadata',
      'cacheControl',
      'contentDisposition',
      'contentEncoding',
      'contentLanguage',
      'customTime',
    ]) {
      if (resource[k] !== undefined) merged[k] = resource[k];
    }
    const extra: Partial<StoredObject> = {};
    if (src.md5Hash === undefined) extra.md5Hash = undefined;
    if (src.virtualSize !== undefined) {
      extra.virtualSize = src.virtualSize;
      extra.crc32c = src.crc32c;
    }
    if (src.componentCount !== undefined) extra.componentCount = src.componentCount;
    const obj = commitObject(dstBucket, dstName, src.data, merged, undefined, readPreconditions(q), extra);
    if (single) {
      sendJson(res, 200, objectResource(obj));
      return;
    }
    sendJson(res, 200, {
      kind: 'storage#rewriteResponse',
      totalBytesRewritten: String(total),
      objectSize: String(total),
      done: true,
      resource: objectResource(obj),
    });
  };

  const handleCompose = (
    res: ServerResponse,
    q: URLSearchParams,
    bucketName: string,
    dstName: string,
    body: Buffer,
  ): void => {
    const bucket = getBucket(bucketName);
    validateObjectName(dstName);
    if (pattern) throw new HttpError(501, 'notImplemented', 'Compose is not available in discard mode.');
    const req = parseJsonBody(body);
    const sources = req.sourceObjects;
    if (!Array.isArray(sources) || sources.length === 0) throw new HttpError(400, 'required', 'Required');
    if (sources.length > 32) {
      throw new HttpError(
        400,
        'invalid',
        `The number of source components provided (${sources.length}) exceeds the maximum (32)`,
      );
    }
    const datas: Buffer[] = [];
    let components = 0;
    for (const raw of sources as unknown[]) {
      if (typeof raw !== 'object' || raw === null)
        throw new HttpError(400, 'invalid', 'Invalid source object.');
      const so = raw as {
        name?: unknown;
        generation?: unknown;
        objectPreconditions?: { ifGenerationMatch?: unknown };
      };
      if (typeof so.name !== 'string' || so.name === '') throw new HttpError(400, 'required', 'Required');
      const obj = bucket.objects.get(so.name);
      if (!obj) throw notFoundObject(bucketName, so.name);
      if (so.generation !== undefined && Number(so.generation) !== obj.generation)
        throw notFoundObject(bucketName, so.name);
      const igm = so.objectPreconditions?.ifGenerationMatch;
      if (igm !== undefined && Number(igm) !== obj.generation) throw conditionNotMet();
      datas.push(obj.data);
      components += obj.componentCount ?? 1;
    }
    if (components > 1024) {
      throw new HttpError(
        400,
        'invalid',
        `The number of components in the composite object (${components}) exceeds the maximum (1024)`,
      );
    }
    const dest = (
      typeof req.destination === 'object' && req.destination !== null ? req.destination : {}
    ) as Record<string, unknown>;
    const data = Buffer.concat(datas);
    const obj = commitObject(bucketName, dstName, data, dest, undefined, readPreconditions(q), {
      md5Hash: undefined,
      componentCount: components,
    });
    sendJson(res, 200, objectResource(obj));
  };

  const handlePatch = (res: ServerResponse, obj: StoredObject, q: URLSearchParams, body: Buffer): void => {
    checkPreconditions(readPreconditions(q), obj);
    const patch = parseJsonBody(body);
    for (const k of [
      'contentType',
      'cacheControl',
      'contentDisposition',
      'contentEncoding',
      'contentLanguage',
      'customTime',
    ] as const) {
      if (k in patch) {
        const v = patch[k];
        if (v === null) {
          if (k === 'contentType') obj.contentType = 'application/octet-stream';
          else delete obj[k];
        } else if (typeof v === 'string') {
          obj[k] = v;
        } else {
          throw new HttpError(400, 'invalid', `Invalid value for ${k}`);
        }
      }
    }
    if ('metadata' in patch) {
      const m = patch.metadata;
      if (m === null) {
        delete obj.metadata;
      } else if (typeof m === 'object' && !Array.isArray(m)) {
        const next = { ...(obj.metadata ?? {}) };
        for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
          if (v === null) delete next[k];
          else next[k] = typeof v === 'string' ? v : JSON.stringify(v);
        }
        obj.metadata = next;
      } else {
        throw new HttpError(400, 'invalid', 'Invalid value for metadata');
      }
    }
    obj.metageneration++;
    obj.updated = now();
    sendJson(res, 200, objectResource(obj));
  };

  const route = async (req: IncomingMessage, res: ServerResponse, rec: RequestRecord): Promise<void> => {
    const rawUrl = req.url ?? '/';
    const url = new URL(rawUrl, 'http://127.0.0.1');
    const q = url.searchParams;
    const method = req.method ?? 'GET';
    const seg = url.pathname
      .split('/')
      .slice(1)
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          throw new HttpError(400, 'invalid', 'Malformed URL encoding.');
        }
      });

    // Resumable session PUT / DELETE: fault handling happens inside (chunk-aware).
    const uploadId = q.get('upload_id');
    if (
      seg[0] === 'upload' &&
      uploadId !== null &&
      (method === 'PUT' || method === 'POST' || method === 'DELETE')
    ) {
      const s = sessions.get(uploadId);
      if (!s) {
        await readBody(req, undefined);
        throw new HttpError(404, 'notFound', 'No such upload session.');
      }
      if (method === 'DELETE') {
        await readBody(req, undefined);
        s.cancelled = true;
        s.parts = [];
        sendJson(res, 499, { error: { code: 499, message: 'Client Closed Request', errors: [] } });
        rec.status = 499;
        return;
      }
      await handleUploadPut(req, res, s, rec, rawUrl);
      return;
    }

    const fault = headerFault(req) ?? takeFault(method, rawUrl, undefined, false);
    if (fault) {
      faultsFired++;
      rec.fault = faultLabel(fault);
      if (fault.kind === 'drop-response') dropResponse(req, res);
    }
    const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    const resetAfter = fault?.kind === 'reset-after' ? (fault.afterBytes ?? 0) : undefined;
    const { body, broken } = await readBody(req, hasBody ? resetAfter : undefined);
    if (broken) return;
    if (fault?.kind === '503')
      throw new HttpError(503, 'backendError', 'Service Unavailable (injected by emulator)');
    const responseReset = hasBody ? undefined : resetAfter;
    if (responseReset === 0) {
      req.socket.resetAndDestroy();
      return;
    }
    if (responseReset !== undefined) responseResets.set(res, responseReset);

    // /upload/storage/v1/b/B/o
    if (
      seg[0] === 'upload' &&
      seg[1] === 'storage' &&
      seg[2] === 'v1' &&
      seg[3] === 'b' &&
      seg[5] === 'o' &&
      seg.length === 6
    ) {
      if (method !== 'POST') throw new HttpError(405, 'methodNotAllowed', 'Method not allowed');
      await handleUploadInit(req, res, seg[4]!, q, body);
      return;
    }
    // /download/storage/v1/b/B/o/N
    const isDownload = seg[0] === 'download';
    const s = isDownload ? seg.slice(1) : seg;
    if (s[0] !== 'storage' || s[1] !== 'v1' || s[2] !== 'b')
      throw new HttpError(404, 'notFound', 'Not Found');

    // Buckets
    if (s.length === 3) {
      if (method === 'GET') {
        if (!q.get('project')) throw new HttpError(400, 'required', 'Required parameter: project');
        const prefix = q.get('prefix') ?? '';
        const items = [...buckets.values()]
          .filter((b) => b.name.startsWith(prefix))
          .sort((a, b) => compareNames(a.name, b.name))
          .map(bucketResource);
        sendJson(res, 200, items.length ? { kind: 'storage#buckets', items } : { kind: 'storage#buckets' });
        return;
      }
      if (method === 'POST') {
        if (!q.get('project')) throw new HttpError(400, 'required', 'Required parameter: project');
        const resource = parseJsonBody(body);
        const name = validateBucketName(resource.name);
        if (buckets.has(name)) {
          throw new HttpError(
            409,
            'conflict',
            'Your previous request to create the named bucket succeeded and you already own it.',
          );
        }
        const t = now();
        const b: StoredBucket = { name, timeCreated: t, updated: t, metageneration: 1, objects: new Map() };
        buckets.set(name, b);
        sendJson(res, 200, bucketResource(b));
        return;
      }
      throw new HttpError(405, 'methodNotAllowed', 'Method not allowed');
    }
    const bucketName = s[3]!;
    if (s.length === 4) {
      const b = getBucket(bucketName);
      if (method === 'GET') {
        sendJson(res, 200, bucketResource(b));
        return;
      }
      if (method === 'DELETE') {
        if (b.objects.size > 0)
          throw new HttpError(409, 'conflict', 'The bucket you tried to delete is not empty.');
        buckets.delete(bucketName);
        res.writeHead(204);
        res.end();
        rec.status = 204;
        return;
      }
      if (method === 'PATCH') {
        b.metageneration++;
        b.updated = now();
        sendJson(res, 200, bucketResource(b));
        return;
      }
      throw new HttpError(405, 'methodNotAllowed', 'Method not allowed');
    }
    if (s[4] !== 'o') throw new HttpError(404, 'notFound', 'Not Found');
    if (s.length === 5) {
      if (method === 'GET') {
        handleListObjects(res, bucketName, q);
        return;
      }
      throw new HttpError(405, 'methodNotAllowed', 'Method not allowed');
    }
    const name = validateObjectName(s[5]);
    if (s.length === 6) {
      if (method === 'GET' || method === 'HEAD') {
        const obj = getLiveObject(bucketName, name, q);
        checkPreconditions(readPreconditions(q), obj, true);
        if (q.get('alt') === 'media' || isDownload) {
          sendMedia(
            req,
            res,
            obj,
            responseReset,
            rec,
            fault?.kind === 'corrupt' ? (fault.afterBytes ?? 0) : undefined,
          );
          return;
        }
        sendJson(res, 200, objectResource(obj));
        return;
      }
      if (method === 'PATCH' || method === 'PUT') {
        handlePatch(res, getLiveObject(bucketName, name, q), q, body);
        return;
      }
      if (method === 'DELETE') {
        const obj = getLiveObject(bucketName, name, q);
        checkPreconditions(readPreconditions(q), obj);
        getBucket(bucketName).objects.delete(name);
        res.writeHead(204);
        res.end();
        rec.status = 204;
        return;
      }
      throw new HttpError(405, 'methodNotAllowed', 'Method not allowed');
    }
    if (method === 'POST' && s.length === 7 && s[6] === 'compose') {
      handleCompose(res, q, bucketName, name, body);
      return;
    }
    if (
      method === 'POST' &&
      s.length === 11 &&
      (s[6] === 'rewriteTo' || s[6] === 'copyTo') &&
      s[7] === 'b' &&
      s[9] === 'o'
    ) {
      getBucket(bucketName);
      handleRewrite(res, q, bucketName, name, s[8]!, s[10]!, body, s[6] === 'copyTo');
      return;
    }
    throw new HttpError(404, 'notFound', 'Not Found');
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rec: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
      ),
      status: 0,
    };
    if (req.headers['content-range']) rec.contentRange = String(req.headers['content-range']);
    if (req.headers.range) rec.range = String(req.headers.range);
    log.push(rec);
    res.on('finish', () => {
      if (rec.status === 0) rec.status = res.statusCode;
    });
    route(req, res, rec).catch((err: unknown) => {
      if (res.headersSent || res.destroyed || req.socket.destroyed) return;
      const e = err instanceof HttpError ? err : new HttpError(500, 'backendError', String(err));
      rec.status = e.code;
      sendError(res, e);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    projectId,
    stats: () => ({
      requests: log.length,
      log: log.map((r) => ({ ...r, query: { ...r.query }, headers: { ...r.headers } })),
      faultsFired,
      buckets: buckets.size,
      objects: [...buckets.values()].reduce((n, b) => n + b.objects.size, 0),
      openSessions: [...sessions.values()].filter((x) => !x.done && !x.cancelled).length,
    }),
    resetStats: () => {
      log = [];
      faultsFired = 0;
    },
    inject: (fault: Fault) => {
      faults.push({ ...fault, remaining: fault.times ?? 1 });
    },
    clearFaults: () => {
      faults = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        sockets.clear();
      }),
  };
}
