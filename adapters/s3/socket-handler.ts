/**
 * A faster GetObject over plain HTTP: a Smithy `HttpHandler` that serves `GET …?x-id=GetObject` on
 * raw keep-alive `net` sockets and hands every other request, unchanged, to the handler the SDK
 * built (its NodeHttpHandler). The same sockets carry the S3 part sender's PUTs
 * ({@link SocketGetHandler.send}), whose bodies are written off the main thread (see WAIT_SLICE).
 *
 * Why: node:http (under the SDK's NodeHttpHandler) allocates a fresh 64 KiB buffer per socket read.
 * In a process that has loaded the SDK the resulting garbage halves download speed. Here the socket
 * reads (`onread`) straight into the unfilled tail of a 256 KiB buffer. A filled buffer goes to
 * the consumer and is never written again, and the next read lands in a new one: a fresh one,
 * or, when the consumer asked to lend and gave an earlier buffer back, that one (see
 * src/core/lending-pool.ts). Measured on
 * loopback by a helper's drain scripts (2 cores; medians, with 1 MiB buffers; not kept, so
 * `npm run bench:s3` is the figure of record): an SDK GetObject drain of 1 GiB went from 1160
 * to 2100 MiB/s and from 1.17 to 0.57 CPU-s/GiB, and an avfs read of it from 1370 to 2520 MiB/s;
 * 256 KiB buffers (see CHUNK) took a 4 GiB avfs read to 3020–3270 MiB/s.
 *
 * Behaviour:
 * - Fast path only for `http:` + `GET` + `x-id=GetObject`, without a request body, credentials in
 *   the URL or `Expect`. HTTPS and every other request go to the fallback.
 * - The request is written as NodeHttpHandler writes it. The path and the query string are encoded
 *   as @smithy's `buildQueryString` does, and the headers go as given (they are signed). `Host` and
 *   `Connection: keep-alive` are added only where missing, as node:http adds them.
 * - Responses: Content-Length bodies are read straight into the consumer's buffers, each sized
 *   min(256 KiB, bytes remaining). Chunked and close-delimited bodies are supported too. 1xx interim
 *   responses are skipped. 204 and 304 have no body. The head is limited to 64 KiB. Header names are
 *   lower-cased and repeats are joined as node:http joins them.
 * - A partly filled buffer is handed on at most 10 ms after its first unsent byte arrived, so a
 *   slow body still streams. The end of a body is handed on at once.
 * - Keep-alive pool per host:port: at most `maxIdleSockets` idle (16), closed after `idleTimeout`
 *   (4 s), unref'd. A socket returns only after a Content-Length body was read in full, with no
 *   `connection: close` and nothing after it. If a pooled socket dies before the first response
 *   byte, the request is retried once on a fresh connection (a GET is idempotent).
 * - Backpressure: the socket is paused while the body's buffer is full. Destroying the body before
 *   its end destroys the socket.
 * - Errors look like NodeHttpHandler's. Socket errors keep their `code`, and ECONNRESET, EPIPE and
 *   ETIMEDOUT before the response are named `TimeoutError`, so the SDK retries them. A body cut short
 *   fails with code ECONNRESET. An abort rejects with an `AbortError`. Timeouts
 *   (`connectionTimeout`, `requestTimeout` with `throwOnRequestTimeout`, and `socketTimeout` as
 *   socket inactivity) behave as in NodeHttpHandler 4.x, with code ETIMEDOUT added.
 */
import { writev } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { LENDING, LendingPool } from '../../src/core/lending-pool.js';

// The Smithy shapes this handler reads and returns, structurally (the SDK is an optional peer and
// its types packages are not ours to import).

/** Smithy's `HttpRequest` (the fields this handler reads). */
export interface SmithyHttpRequest {
  method: string;
  protocol: string;
  hostname: string;
  port?: number | undefined;
  path: string;
  query?: Record<string, string | string[] | null> | undefined;
  fragment?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  headers: Record<string, string>;
  body?: unknown;
}

/** Smithy's `HttpResponse`: the SDK checks it structurally (a number status, a headers object). */
export interface SmithyHttpResponse {
  statusCode: number;
  reason?: string | undefined;
  headers: Record<string, string>;
  body?: unknown;
}

/** The deprecated Smithy AbortSignal shape is accepted too (no `addEventListener`). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener?: AbortSignal['addEventListener'];
  removeEventListener?: AbortSignal['removeEventListener'];
  onabort?: unknown;
}

export interface SmithyHandlerOptions {
  abortSignal?: AbortSignalLike | undefined;
  requestTimeout?: number | undefined;
}

/** A Smithy `HttpHandler`: what `S3Client` takes as `requestHandler`. */
export interface SmithyHttpHandler {
  handle(
    request: SmithyHttpRequest,
    options?: SmithyHandlerOptions,
  ): Promise<{ response: SmithyHttpResponse }>;
  updateHttpClientConfig?(key: string | symbol, value: unknown): void;
  httpHandlerConfigs?(): object;
  destroy?(): void;
  readonly metadata?: { handlerProtocol: string } | undefined;
}

export interface SocketGetOptions {
  /** Milliseconds to establish a connection (NodeHttpHandler's `connectionTimeout`). */
  connectionTimeout?: number | undefined;
  /** Milliseconds until the response head (a warning unless `throwOnRequestTimeout`). */
  requestTimeout?: number | undefined;
  throwOnRequestTimeout?: boolean | undefined;
  /** Milliseconds of socket inactivity before the request fails. */
  socketTimeout?: number | undefined;
  /** Receives the request-timeout warning (default: console). */
  logger?: { warn?: (message: string) => void } | undefined;
  /** Idle keep-alive sockets kept per host:port (default 16). */
  maxIdleSockets?: number | undefined;
  /** Milliseconds an idle socket is kept (default 4000, under common servers' 5 s). */
  idleTimeout?: number | undefined;
  /** Write request bodies ({@link SocketGetHandler.send}) on the libuv threadpool (default true). */
  offThreadWrites?: boolean | undefined;
}

/**
 * Body buffer size for consumers that keep their chunks (fresh buffers). Measured on loopback with
 * this constant edited between runs (`node dist/bench/benchmarks/s3/client.js --target avfs
 * --direction down --size 4GiB` against a discard server holding a 4 GiB object, 3 runs each,
 * before lending existed): 64 KiB 2510–2710 MiB/s (garbage: many objects), 128 KiB 2590–2910,
 * 256 KiB 3020–3270, 512 KiB 2410–2830, 1 MiB 2400–2710, 4 MiB 2020–2320 (each fresh large
 * buffer's pages are faulted in by the socket read).
 */
const CHUNK = 256 * 1024;
/**
 * Body buffers for consumers that give their chunks back (`FileHandle.read`, `readFile`; see
 * src/core/lending-pool.ts), from two pools, released after 2 s without a download. Reused
 * buffers fault their pages in once, so for large bodies larger is better (fewer socket reads,
 * fewer chunks through the streams): a body with at least 4 MiB still to come fills 4 MiB buffers
 * (up to 8 kept free, 32 MiB), the rest and bodies of unknown length 256 KiB ones (up to 128, 32
 * MiB), so many small reads at once do not each hold 4 MiB. A 1 GiB `FileHandle.read` drain of the
 * discard server with the large size edited between runs (a throwaway script, 5–6 fresh
 * processes each, medians): 4 MiB reads 3681 MiB/s with 256 KiB buffers, 3653 with 1 MiB, 3960
 * with 2 MiB, 4261 with 4 MiB; 1 MiB reads 3412 → 4111 and 64 KiB reads 3460 → 4005 from 256 KiB
 * to 4 MiB. Figures of record, `npm run bench:s3` (the `avfs` download, 4 MiB reads): 2974 → 4182
 * MiB/s at 1 GiB and 3780 → 5222 at 4 GiB (`benchmarks/results/s3-2026-11-30T10-15-59Z.json`,
 * `…T10-17-03Z.json` against `…T10-44-10Z.json`, `…T10-45-15Z.json`; the README has the commands).
 */
const LARGE_CHUNK = 4 * 1024 * 1024;
const bodyBuffers = new LendingPool(CHUNK, 128);
const largeBodyBuffers = new LendingPool(LARGE_CHUNK, 8);

/** `view` of `chunk` handed to a consumer (registered with whichever pool `chunk` came from). */
function lend(chunk: Buffer, view: Buffer): Buffer {
  bodyBuffers.lend(chunk, view);
  return largeBodyBuffers.lend(chunk, view);
}

/** Nothing writes into `chunk` again (its pool reuses it once every lent view is back). */
function seal(chunk: Buffer): void {
  bodyBuffers.seal(chunk);
  largeBodyBuffers.seal(chunk);
}

/** First buffer for bodies of unknown length (a small chunked error body gets no full-size buffer). */
const FIRST_UNKNOWN = 64 * 1024;
/** Response head limit, and the size of each connection's (reused) head buffer. */
const HEAD_MAX = 64 * 1024;
/** Trailer section limit for chunked bodies, and the longest chunk-size line. */
const TRAILER_MAX = 64 * 1024;
const LINE_MAX = 4096;
/** Interim (1xx) responses skipped before the final one. */
const MAX_INTERIM = 32;
/** Unsent bytes of a partly filled buffer wait at most this long. */
const FLUSH_MS = 10;
const DEFAULT_MAX_IDLE = 16;
const DEFAULT_IDLE_MS = 4000;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Whether this handler serves `request` itself (else the fallback does). */
export function isFastGet(request: SmithyHttpRequest): boolean {
  return (
    request.protocol === 'http:' &&
    request.method === 'GET' &&
    request.query?.['x-id'] === 'GetObject' &&
    request.username == null &&
    request.password == null &&
    !hasBody(request.body) &&
    request.headers.expect === undefined &&
    request.headers.Expect === undefined
  );
}

function hasBody(body: unknown): boolean {
  if (body === undefined || body === null) return false;
  if (typeof body === 'string') return body.length > 0;
  if (body instanceof Uint8Array) return body.byteLength > 0;
  return true;
}

/**
 * The handler. `fallback` is the SDK's own handler (see {@link fastGetExtension}); it serves
 * everything but plain-HTTP GetObject, and `destroy` destroys it too.
 */
export class SocketGetHandler implements SmithyHttpHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  readonly #fallback: SmithyHttpHandler;
  readonly #config: SocketGetOptions & { defaultSocketTimeout?: number | undefined };
  readonly #pool: Pool;
  #requests = 0;

  constructor(fallback: SmithyHttpHandler, options: SocketGetOptions = {}) {
    this.#fallback = fallback;
    this.#config = { ...options };
    this.#pool = new Pool(
      Math.max(0, options.maxIdleSockets ?? DEFAULT_MAX_IDLE),
      Math.max(1, options.idleTimeout ?? DEFAULT_IDLE_MS),
    );
  }

  /** The wrapped handler. */
  get fallback(): SmithyHttpHandler {
    return this.#fallback;
  }

  /**
   * Requests taken (GetObject and `send`), connections opened, sockets reused, and for request
   * bodies the off-thread writes and the waits for a full socket (for tests and benchmarks).
   */
  get stats(): {
    requests: number;
    connections: number;
    reused: number;
    idle: number;
    offThreadWrites: number;
    drainWaits: number;
  } {
    return {
      requests: this.#requests,
      connections: this.#pool.opened,
      reused: this.#pool.reused,
      idle: this.#pool.idleCount(),
      offThreadWrites: this.#pool.offThreadWrites,
      drainWaits: this.#pool.drainWaits,
    };
  }

  handle(
    request: SmithyHttpRequest,
    options: SmithyHandlerOptions = {},
  ): Promise<{ response: SmithyHttpResponse }> {
    if (!isFastGet(request)) return this.#fallback.handle(request, options);
    return this.#get(request, options);
  }

  /**
   * Sends `request` (plain HTTP) with `body` on this handler's connections, whatever its method: the
   * S3 part sender's PUTs. The body is written off the main thread where the socket has a file
   * descriptor (see WAIT_SLICE), and the response is read once it is sent. A pooled socket found
   * dead before any response byte is retried once on a fresh one, body and all, so only
   * idempotent requests belong here. `body`'s buffers must stay unchanged until this settles.
   */
  send(
    request: SmithyHttpRequest,
    body: readonly Uint8Array[],
    options: SmithyHandlerOptions = {},
  ): Promise<{ response: SmithyHttpResponse }> {
    if (request.protocol !== 'http:')
      throw new TypeError(`send takes plain HTTP only (got ${request.protocol})`);
    return this.#get(request, options, body);
  }

  async #get(
    request: SmithyHttpRequest,
    { abortSignal, requestTimeout }: SmithyHandlerOptions,
    body?: readonly Uint8Array[],
  ): Promise<{ response: SmithyHttpResponse }> {
    this.#requests++;
    if (abortSignal?.aborted) throw abortError(abortSignal);
    const head = requestHead(request);
    let host = request.hostname;
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    const port = request.port ?? 80;
    const c = this.#config;
    const socketTimeout = c.socketTimeout ?? c.defaultSocketTimeout;
    const settings: ExchangeSettings = {
      requestTimeout: requestTimeout ?? c.requestTimeout,
      throwOnRequestTimeout: c.throwOnRequestTimeout === true,
      socketTimeout: socketTimeout !== undefined && Number.isFinite(socketTimeout) ? socketTimeout : 0,
      logger: c.logger ?? console,
      abortSignal,
      // Opt-in until the intermittent hang after an early answer is found (CHANGELOG, issue 14 note).
      offThread: c.offThreadWrites === true,
    };
    // A pooled socket may have died unnoticed: one retry on a fresh connection (never a third try).
    for (let attempt = 0; attempt < 2; attempt++) {
      const pooled = attempt === 0 ? this.#pool.take(host, port) : undefined;
      const conn = pooled ?? this.#pool.open(host, port, c.connectionTimeout ?? 0);
      try {
        return await new Promise<{ response: SmithyHttpResponse }>((resolve, reject) => {
          conn.start(new Exchange(conn, settings, resolve, reject), head, body);
        });
      } catch (err) {
        if (attempt === 0 && pooled && STALE.has(err as object) && !abortSignal?.aborted) continue;
        throw err;
      }
    }
    throw new Error('unreachable');
  }

  updateHttpClientConfig(key: string | symbol, value: unknown): void {
    this.#fallback.updateHttpClientConfig?.(key, value);
    if (key === Symbol.for('@smithy/defaultSocketTimeout')) {
      this.#config.defaultSocketTimeout = typeof value === 'number' ? value : undefined;
    } else if (key === Symbol.for('logger')) {
      this.#config.logger ??= value as SocketGetOptions['logger'];
    } else if (typeof key === 'string' && CONFIG_KEYS.has(key)) {
      (this.#config as Record<string, unknown>)[key] = value;
    }
  }

  httpHandlerConfigs(): object {
    const own = Object.fromEntries(
      Object.entries(this.#config).filter(([k, v]) => CONFIG_KEYS.has(k) && v !== undefined),
    );
    return { ...(this.#fallback.httpHandlerConfigs?.() ?? {}), ...own };
  }

  /** Closes the idle sockets and destroys the fallback. Requests in flight finish. */
  destroy(): void {
    this.#pool.destroy();
    this.#fallback.destroy?.();
  }
}

const CONFIG_KEYS = new Set([
  'connectionTimeout',
  'requestTimeout',
  'throwOnRequestTimeout',
  'socketTimeout',
]);

/** The part of an SDK client's extension configuration this needs. */
export interface HandlerExtensionConfiguration {
  httpHandler(): SmithyHttpHandler;
  setHttpHandler(handler: SmithyHttpHandler): void;
}

/**
 * An S3Client extension (`new S3Client({ …, extensions: [fastGetExtension()] })`) that puts a
 * {@link SocketGetHandler} in front of the handler the SDK built from `requestHandler`. The SDK's
 * own NodeHttpHandler is the fallback, so no SDK package is imported here.
 */
export function fastGetExtension(options: SocketGetOptions = {}): {
  configure(config: HandlerExtensionConfiguration): void;
} {
  return {
    configure(config) {
      const current = config.httpHandler();
      if (current instanceof SocketGetHandler) return;
      config.setHttpHandler(new SocketGetHandler(current, options));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Request serialization

/** Node's checks (lib/_http_common.js, lib/_http_client.js). */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const INVALID_PATH = /[^\u0021-\u00ff]/;

/** @smithy `escapeUri`: encodeURIComponent plus `!'()*`. */
function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** @smithy/querystring-builder's `buildQueryString`: keys sorted, arrays repeated, null bare. */
export function buildQueryString(query: Record<string, string | string[] | null>): string {
  const parts: string[] = [];
  for (const rawKey of Object.keys(query).sort()) {
    const value = query[rawKey];
    const key = escapeUri(rawKey);
    if (Array.isArray(value)) {
      for (const v of value) parts.push(`${key}=${escapeUri(v)}`);
    } else {
      let entry = key;
      if (value || typeof value === 'string') entry += `=${escapeUri(value)}`;
      parts.push(entry);
    }
  }
  return parts.join('&');
}

/** The request line and headers, byte for byte what NodeHttpHandler (node:http) sends for a GET. */
export function requestHead(request: SmithyHttpRequest): Buffer {
  const qs = request.query ? buildQueryString(request.query) : '';
  let path = request.path;
  if (qs) path += `?${qs}`;
  if (request.fragment) path += `#${request.fragment}`;
  if (INVALID_PATH.test(path)) {
    throw Object.assign(new TypeError('Request path contains unescaped characters'), {
      code: 'ERR_UNESCAPED_CHARACTERS',
    });
  }
  let head = `${request.method} ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  let hasConnection = false;
  for (const [name, raw] of Object.entries(request.headers)) {
    if (!TOKEN.test(name)) {
      throw Object.assign(new TypeError(`Header name must be a valid HTTP token ["${name}"]`), {
        code: 'ERR_INVALID_HTTP_TOKEN',
      });
    }
    if (raw === undefined || raw === null) {
      throw Object.assign(new TypeError(`Invalid value "${String(raw)}" for header "${name}"`), {
        code: 'ERR_HTTP_INVALID_HEADER_VALUE',
      });
    }
    const value = String(raw);
    if (INVALID_VALUE.test(value)) {
      throw Object.assign(new TypeError(`Invalid character in header content ["${name}"]`), {
        code: 'ERR_INVALID_CHAR',
      });
    }
    const lower = name.toLowerCase();
    if (lower === 'host') hasHost = true;
    else if (lower === 'connection') hasConnection = true;
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) {
    const h =
      request.hostname.includes(':') && !request.hostname.startsWith('[')
        ? `[${request.hostname}]`
        : request.hostname;
    head += `Host: ${h}${request.port !== undefined && request.port !== 80 ? `:${request.port}` : ''}\r\n`;
  }
  if (!hasConnection) head += 'Connection: keep-alive\r\n';
  return Buffer.from(`${head}\r\n`, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Rejections that mean "a pooled socket was dead before the response began": retried once. */
const STALE = new WeakSet<object>();

type CodedError = Error & { code?: string };

function codedError(message: string, code: string, name?: string): CodedError {
  const err: CodedError = new Error(message);
  err.code = code;
  if (name) err.name = name;
  return err;
}

/** NodeHttpHandler names these `TimeoutError`, which the SDK's retry strategy retries. */
const TIMEOUT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** NodeHttpHandler's buildAbortError. */
function abortError(signal: AbortSignalLike | undefined): Error {
  const reason = signal?.reason;
  const err = new Error(
    reason !== undefined && !(reason instanceof Error) ? String(reason) : 'Request aborted',
  );
  err.name = 'AbortError';
  if (reason instanceof Error) err.cause = reason;
  return err;
}

// ---------------------------------------------------------------------------------------------
// Connections

class Pool {
  readonly #idle = new Map<string, Conn[]>();
  #closed = false;
  opened = 0;
  reused = 0;
  /** Request-body writes done on the threadpool, and waits for a full socket to drain. */
  offThreadWrites = 0;
  drainWaits = 0;

  constructor(
    readonly maxIdle: number,
    readonly idleMs: number,
  ) {}

  /** The most recently used live idle socket (most likely still open), or undefined. */
  take(host: string, port: number): Conn | undefined {
    const list = this.#idle.get(`${host}:${port}`);
    // Bounded: each pass removes one entry.
    while (list && list.length > 0) {
      const conn = list.pop()!;
      if (conn.socket.destroyed || !conn.socket.writable) {
        conn.destroy();
        continue;
      }
      conn.checkout();
      this.reused++;
      return conn;
    }
    return undefined;
  }

  open(host: string, port: number, connectionTimeout: number): Conn {
    this.opened++;
    return new Conn(this, host, port, connectionTimeout);
  }

  release(conn: Conn): void {
    const list = this.#idle.get(conn.key) ?? [];
    if (this.#closed || list.length >= this.maxIdle) {
      conn.destroy();
      return;
    }
    list.push(conn);
    this.#idle.set(conn.key, list);
    conn.checkin(this.idleMs);
  }

  remove(conn: Conn): void {
    const list = this.#idle.get(conn.key);
    const at = list?.indexOf(conn) ?? -1;
    if (at >= 0) list!.splice(at, 1);
    if (list && list.length === 0) this.#idle.delete(conn.key);
  }

  idleCount(): number {
    let n = 0;
    for (const list of this.#idle.values()) n += list.length;
    return n;
  }

  destroy(): void {
    this.#closed = true;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    for (const conn of all) conn.destroy();
  }
}

/**
 * A request body is written off the main thread, on the libuv threadpool (`fs.writev` on the
 * socket's descriptor): the kernel's copy and TCP work then run beside the thread that produces
 * and checksums the next part, instead of on it. libuv's write loop returns once the socket buffer
 * is full; an `EAGAIN` with nothing written hands one slice of this size to libuv, which waits
 * for the socket to drain.
 */
const WAIT_SLICE = 256 * 1024;

/** The socket's file descriptor, where the platform has one (on Windows it has none). */
function socketFd(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

function writevFd(fd: number, buffers: readonly Uint8Array[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    writev(fd, buffers as NodeJS.ArrayBufferView[], (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** `list` without its first `n` bytes. */
function advance(list: readonly Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  // Bounded: i < list.length.
  while (i < list.length && n >= list[i]!.length) n -= list[i++]!.length;
  const rest = list.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/**
 * One socket. `onread` is fixed when the socket is created, so reads are routed to the current
 * exchange; between exchanges (idle, in the pool) they land in the head buffer, and any byte there
 * is a protocol error.
 */
class Conn {
  readonly key: string;
  readonly socket: Socket;
  /** Reused for every response head on this socket; its bytes never leave (body bytes are copied). */
  readonly head = Buffer.allocUnsafe(HEAD_MAX);
  headLen = 0;
  exchange: Exchange | undefined;
  /** Responses completed on this socket (> 0: a reused socket, eligible for the stale retry). */
  served = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  #idle = false;
  /** An off-thread write of the socket's fd is in flight (see destroy). */
  #offThread = false;
  #destroyLater = false;
  #settleLater: (() => void)[] = [];

  constructor(
    readonly pool: Pool,
    host: string,
    port: number,
    connectionTimeout: number,
  ) {
    this.key = `${host}:${port}`;
    this.socket = connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 1000,
      onread: {
        buffer: () => this.#target(),
        callback: (n) => {
          this.#onRead(n);
          return true;
        },
      },
    });
    if (connectionTimeout > 0) {
      this.#connectTimer = setTimeout(() => {
        this.exchange?.fail(
          codedError(
            `the request socket did not establish a connection with the server within the configured timeout of ${connectionTimeout} ms.`,
            'ETIMEDOUT',
            'TimeoutError',
          ),
        );
        this.destroy();
      }, connectionTimeout);
    }
    this.socket.once('connect', () => clearTimeout(this.#connectTimer));
    this.socket.on('error', (err: CodedError) => this.#ended(err));
    this.socket.on('end', () => this.#ended(undefined));
    this.socket.on('close', () => {
      clearTimeout(this.#connectTimer);
      this.#ended(undefined);
    });
    this.socket.on('timeout', () => {
      if (this.#idle) this.destroy();
      else this.exchange?.timedOut();
    });
  }

  /** Where the next read lands: never an empty view (libuv would fail the read with ENOBUFS). */
  #target(): Uint8Array {
    const t = this.exchange?.target();
    return t !== undefined && t.length > 0
      ? t
      : this.head.subarray(this.headLen < HEAD_MAX ? this.headLen : 0);
  }

  #onRead(n: number): void {
    const ex = this.exchange;
    if (!ex) {
      // Bytes on an idle socket: nothing was asked; the connection is unusable.
      this.pool.remove(this);
      this.destroy();
      return;
    }
    ex.onRead(n);
  }

  /** EOF, error or close: the exchange (if any) decides; an idle socket leaves the pool. */
  #ended(err: CodedError | undefined): void {
    if (this.#idle) {
      this.#idle = false;
      this.pool.remove(this);
      this.destroy();
      return;
    }
    this.exchange?.ended(err);
  }

  start(ex: Exchange, head: Buffer, body?: readonly Uint8Array[]): void {
    this.exchange = ex;
    this.headLen = 0;
    this.socket.setTimeout(ex.settings.socketTimeout);
    ex.begin();
    if (this.exchange !== ex) return;
    if (!body) {
      this.socket.write(head);
      return;
    }
    ex.bodyPending = true;
    void this.#sendBody(ex, head, body);
  }

  /**
   * Writes the head, then the body. Reading is paused only while the threadpool writes the fd (the
   * read side is what could otherwise close the socket: a reset, an early answer); while libuv
   * writes, the socket is read, so an answer the server sends before reading the whole body (an
   * S3 error) is seen, and the rest of the body is then not sent.
   */
  async #sendBody(ex: Exchange, head: Buffer, body: readonly Uint8Array[]): Promise<void> {
    const sending = (): boolean => this.exchange === ex && ex.phase === 'head' && !this.socket.destroyed;
    try {
      await this.#write(head);
      let list = body.filter((b) => b.length > 0);
      // Bounded: every pass writes at least one byte of `list` or throws.
      while (list.length > 0) {
        if (!sending()) return;
        const fd = ex.settings.offThread ? socketFd(this.socket) : undefined;
        if (fd === undefined) {
          // On this thread: every buffer queued at once (one writev where they fit). The socket
          // returns to the pool only once they are written (see Exchange.#respond).
          this.socket.cork();
          for (const b of list.slice(0, -1)) this.socket.write(b);
          const last = this.#write(list[list.length - 1]!);
          this.socket.uncork();
          ex.bodyPending = false;
          await last;
          return;
        }
        let n: number;
        this.pool.offThreadWrites++;
        this.socket.pause();
        this.#offThread = true;
        try {
          n = await writevFd(fd, list);
        } catch (err) {
          if ((err as CodedError).code !== 'EAGAIN') throw err;
          n = -1;
        } finally {
          this.#offThread = false;
          this.#afterOffThread();
        }
        if (!sending()) return;
        if (n < 0) {
          // The socket buffer is full: libuv writes the next slice once it drains, and an answer
          // may come meanwhile (reading is on).
          this.pool.drainWaits++;
          const first = list[0]!;
          const slice = first.length > WAIT_SLICE ? first.subarray(0, WAIT_SLICE) : first;
          this.socket.resume();
          // One turn of the event loop first: an answer (and a reset) already here is read before
          // libuv writes (a failed libuv write closes the socket, unread answer and all).
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (!sending()) return;
          await this.#write(slice);
          n = slice.length;
        } else if (ex.settings.socketTimeout > 0) {
          this.socket.setTimeout(ex.settings.socketTimeout); // off-thread writes are activity too
        }
        list = advance(list, n);
      }
      ex.bodyPending = false;
    } catch (err) {
      if (this.exchange === ex) ex.bodyFailed(err as CodedError);
    } finally {
      // The answer is read from here on (unless the exchange is over or reads its body already).
      if (sending()) this.socket.resume();
    }
  }

  /** Once an off-thread write has returned: the deferred destroy, then the deferred settlements. */
  #afterOffThread(): void {
    if (this.#destroyLater) {
      this.#destroyLater = false;
      this.socket.destroy();
    }
    for (const fn of this.#settleLater.splice(0)) fn();
  }

  /**
   * Runs `fn` (an exchange's rejection) now, or once the threadpool is done reading the body's
   * buffers: the caller may reuse them as soon as the request settles.
   */
  afterBodyWrite(fn: () => void): void {
    if (this.#offThread) this.#settleLater.push(fn);
    else fn();
  }

  /** A write through libuv (it waits for the socket to drain); resolves once written. */
  #write(chunk: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.socket.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Destroys the socket; while the threadpool is writing its fd, once that write returns (a closed
   * fd's number can be reused at once by another open, and the write would land there).
   */
  destroy(): void {
    if (this.#offThread) this.#destroyLater = true;
    else this.socket.destroy();
  }

  /** Leaves the pool for a request. */
  checkout(): void {
    this.#idle = false;
    this.socket.ref();
  }

  /** Enters the pool: idle timeout, and it no longer keeps the process alive. */
  checkin(idleMs: number): void {
    this.#idle = true;
    this.socket.setTimeout(idleMs);
    this.socket.unref();
  }
}

// ---------------------------------------------------------------------------------------------
// One request and its response

interface ExchangeSettings {
  requestTimeout: number | undefined;
  throwOnRequestTimeout: boolean;
  socketTimeout: number;
  logger: { warn?: (message: string) => void };
  abortSignal: AbortSignalLike | undefined;
  /** Request bodies are written on the libuv threadpool (see WAIT_SLICE). */
  offThread: boolean;
}

type Framing = 'length' | 'chunked' | 'close';
type ChunkState = 'size' | 'data' | 'cr' | 'lf' | 'trailer' | 'end';

/** The response body: a plain Readable (the SDK's stream mixin requires one). */
class SocketBody extends Readable {
  exchange: Exchange | undefined;

  constructor(exchange: Exchange) {
    super({ highWaterMark: 4 * CHUNK });
    this.exchange = exchange;
  }

  override _read(): void {
    this.exchange?.resume();
  }

  /** The consumer will give its chunks back: the buffers filled from now on are pooled. */
  [LENDING](): void {
    this.exchange?.enableLending();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.bodyDestroyed();
    cb(err);
  }

  /**
   * Fails the body. Until someone listens for 'error' (the response is still on its way through
   * the SDK's middleware to the caller) an 'error' event would be uncaught, so the failure waits
   * for the first 'error' listener (for-await, pipeline and the range reader all add one).
   */
  fail(err: Error): void {
    if (this.destroyed) return;
    this.exchange = undefined;
    if (this.listenerCount('error') > 0) {
      this.destroy(err);
      return;
    }
    const onListener = (event: string | symbol): void => {
      if (event !== 'error') return;
      this.off('newListener', onListener);
      process.nextTick(() => this.destroy(err));
    };
    this.on('newListener', onListener);
  }
}

class Exchange {
  phase: 'head' | 'body' | 'done' = 'head';
  /** A request body not yet all handed to the socket: the connection is then not reused. */
  bodyPending = false;
  #framing: Framing = 'length';
  #keepAlive = false;
  /** A response byte arrived (a dead pooled socket is retried only before one). */
  #gotByte = false;
  #interim = 0;
  #body: SocketBody | undefined;
  /** The buffer being filled (fresh; the consumer's once pushed) and its filled/sent marks. */
  #chunk: Buffer | undefined;
  #filled = 0;
  #sent = 0;
  /** Content-Length framing: body bytes still to come. */
  #remaining = 0;
  #expected = 0;
  #received = 0;
  #paused = false;
  /** The consumer gives its chunks back (see src/core/lending-pool.ts): fill pooled buffers. */
  #lending = false;
  #flushTimer: NodeJS.Timeout | undefined;
  #requestTimer: NodeJS.Timeout | undefined;
  /** Writing the request body failed: the error, and how long a response may still come. */
  #writeError: CodedError | undefined;
  #writeTimer: NodeJS.Timeout | undefined;
  #unlistenAbort: (() => void) | undefined;
  // Chunked decoding.
  #cstate: ChunkState = 'size';
  #cleft = 0;
  #line = '';
  #trailerBytes = 0;

  constructor(
    readonly conn: Conn,
    readonly settings: ExchangeSettings,
    readonly resolve: (r: { response: SmithyHttpResponse }) => void,
    readonly reject: (err: unknown) => void,
  ) {}

  begin(): void {
    const { abortSignal, requestTimeout, throwOnRequestTimeout, logger } = this.settings;
    if (abortSignal) {
      const onAbort = (): void => this.fail(abortError(abortSignal));
      if (typeof abortSignal.addEventListener === 'function') {
        abortSignal.addEventListener('abort', onAbort, { once: true });
        this.#unlistenAbort = () => abortSignal.removeEventListener?.('abort', onAbort);
      } else {
        (abortSignal as { onabort: unknown }).onabort = onAbort;
        this.#unlistenAbort = () => {
          (abortSignal as { onabort: unknown }).onabort = null;
        };
      }
      if (abortSignal.aborted) onAbort();
    }
    if (requestTimeout && this.phase === 'head') {
      this.#requestTimer = setTimeout(() => {
        let msg = `@smithy/node-http-handler - [${throwOnRequestTimeout ? 'ERROR' : 'WARN'}] a request has exceeded the configured ${requestTimeout} ms requestTimeout.`;
        if (throwOnRequestTimeout) {
          this.fail(codedError(msg, 'ETIMEDOUT', 'TimeoutError'));
        } else {
          msg += ' Init client requestHandler with throwOnRequestTimeout=true to turn this into an error.';
          logger.warn?.(msg);
        }
      }, requestTimeout);
    }
  }

  target(): Uint8Array | undefined {
    if (this.phase === 'body' && this.#chunk) return this.#chunk.subarray(this.#filled);
    return undefined; // the head buffer
  }

  onRead(n: number): void {
    this.#gotByte = true;
    if (this.phase === 'head') {
      this.conn.headLen += n;
      this.#parseHead();
    } else if (this.phase === 'body') {
      const from = this.#filled;
      this.#filled += n;
      this.#bodyBytes(from);
    }
  }

  // -- head -----------------------------------------------------------------------------------

  #parseHead(): void {
    const conn = this.conn;
    // Bounded: each pass consumes one interim response (at most MAX_INTERIM) or returns.
    for (;;) {
      const at = conn.head.subarray(0, conn.headLen).indexOf(HEAD_END);
      if (at < 0) {
        if (conn.headLen >= HEAD_MAX) {
          this.fail(codedError(`response head larger than ${HEAD_MAX} bytes`, 'HPE_HEADER_OVERFLOW'));
        }
        return;
      }
      const parsed = parseHead(conn.head.toString('latin1', 0, at));
      if (parsed instanceof Error) {
        this.fail(parsed);
        return;
      }
      const restFrom = at + 4;
      if (parsed.status >= 100 && parsed.status < 200) {
        if (parsed.status === 101 || ++this.#interim > MAX_INTERIM) {
          this.fail(codedError(`unexpected ${parsed.status} response`, 'HPE_INVALID_STATUS'));
          return;
        }
        conn.head.copyWithin(0, restFrom, conn.headLen);
        conn.headLen -= restFrom;
        continue;
      }
      const rest = conn.head.subarray(restFrom, conn.headLen);
      conn.headLen = 0;
      this.#respond(parsed, rest);
      return;
    }
  }

  #respond(head: ParsedHead, rest: Buffer): void {
    const { status, headers } = head;
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    const tokens = (headers.connection ?? '')
      .toLowerCase()
      .split(',')
      .map((t) => t.trim());
    this.#keepAlive = head.minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
    if (status === 204 || status === 304) {
      this.#framing = 'length';
      this.#remaining = 0;
    } else if (te !== undefined) {
      if (cl !== undefined) {
        this.fail(
          codedError(
            'response has both Content-Length and Transfer-Encoding',
            'HPE_UNEXPECTED_CONTENT_LENGTH',
          ),
        );
        return;
      }
      const codings = te.toLowerCase().split(',');
      this.#framing = codings[codings.length - 1]!.trim() === 'chunked' ? 'chunked' : 'close';
    } else if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) {
        this.fail(codedError(`invalid Content-Length '${cl}'`, 'HPE_INVALID_CONTENT_LENGTH'));
        return;
      }
      this.#framing = 'length';
      this.#remaining = Number(cl);
    } else {
      this.#framing = 'close';
    }
    if (this.#framing !== 'length') this.#keepAlive = false; // pooled only after Content-Length bodies
    // An answer before the whole request body was written (an early error; a failed write): the
    // server may still take the next request's bytes as the rest of this body.
    if (this.bodyPending) this.#keepAlive = false;
    this.#expected = this.#remaining;
    clearTimeout(this.#requestTimer);
    clearTimeout(this.#writeTimer);
    this.phase = 'body';
    this.#body = new SocketBody(this);
    const response: SmithyHttpResponse = {
      statusCode: status,
      reason: head.reason,
      headers,
      body: this.#body,
    };
    this.resolve({ response });
    if (this.#framing === 'length' && this.#remaining === 0) {
      if (rest.length > 0) this.#keepAlive = false; // bytes after the response: unusable socket
      this.#complete();
      return;
    }
    this.#nextChunk(true);
    // Body bytes that came with the head: copied, as the head buffer is reused.
    const take = this.#framing === 'length' ? Math.min(rest.length, this.#remaining) : rest.length;
    if (take < rest.length) this.#keepAlive = false;
    if (take > 0) {
      rest.copy(this.#chunk!, 0, 0, take);
      this.#filled = take;
      this.#bodyBytes(0);
    }
  }

  // -- body -----------------------------------------------------------------------------------

  #nextChunk(first: boolean): void {
    if (this.#chunk) seal(this.#chunk);
    const size =
      this.#framing === 'length' ? Math.min(CHUNK, this.#remaining) : first ? FIRST_UNKNOWN : CHUNK;
    this.#chunk =
      this.#lending && this.#framing === 'length' && this.#remaining >= LARGE_CHUNK
        ? largeBodyBuffers.take()
        : size === CHUNK && this.#lending
          ? bodyBuffers.take()
          : size > 0
            ? Buffer.allocUnsafe(size)
            : undefined;
    this.#filled = 0;
    this.#sent = 0;
  }

  /** New bytes at `#chunk[from, #filled)`. */
  #bodyBytes(from: number): void {
    const n = this.#filled - from;
    if (this.#framing === 'chunked') {
      this.#decodeChunked(from);
      return;
    }
    this.#received += n;
    if (this.#framing === 'length') {
      this.#remaining -= n;
      if (this.#remaining === 0) {
        // The chunk was sized to end exactly here.
        const chunk = this.#chunk!;
        const last = lend(chunk, chunk.subarray(this.#sent, this.#filled));
        seal(chunk);
        this.#chunk = undefined;
        this.#complete(last);
        return;
      }
    }
    if (this.#filled === this.#chunk!.length) {
      const full = lend(this.#chunk!, this.#chunk!.subarray(this.#sent));
      this.#nextChunk(false);
      this.#push(full);
    } else if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => this.#flush(), FLUSH_MS);
    }
  }

  /** Hands on the unsent bytes of a partly filled buffer (the rest of it keeps filling). */
  #flush(): void {
    this.#flushTimer = undefined;
    if (this.phase !== 'body' || !this.#chunk || this.#filled === this.#sent) return;
    const part = lend(this.#chunk, this.#chunk.subarray(this.#sent, this.#filled));
    this.#sent = this.#filled;
    this.#push(part);
  }

  /** Pushes a chunk; pauses the socket when the body's buffer is full. */
  #push(chunk: Buffer): void {
    if (chunk.length === 0 || !this.#body) return;
    if (!this.#body.push(chunk) && this.phase === 'body' && !this.#paused) {
      this.#paused = true;
      this.conn.socket.pause();
    }
  }

  enableLending(): void {
    this.#lending = true;
  }

  resume(): void {
    if (this.#paused && this.phase === 'body') {
      this.#paused = false;
      this.conn.socket.resume();
    }
  }

  /**
   * Decodes `Transfer-Encoding: chunked` in `#chunk[from, #filled)`. Data runs are pushed as views
   * of the buffer (it is fresh, and later reads land after them).
   */
  #decodeChunked(from: number): void {
    const buf = this.#chunk!;
    const end = this.#filled;
    let i = from;
    // Bounded: every pass advances i by at least one byte.
    while (i < end && this.phase === 'body') {
      switch (this.#cstate) {
        case 'data': {
          const take = Math.min(this.#cleft, end - i);
          this.#received += take;
          this.#cleft -= take;
          const run = lend(buf, buf.subarray(i, i + take));
          i += take;
          if (this.#cleft === 0) this.#cstate = 'cr';
          this.#push(run);
          break;
        }
        case 'cr':
        case 'lf': {
          const want = this.#cstate === 'cr' ? 0x0d : 0x0a;
          if (buf[i] !== want) {
            this.fail(
              codedError(
                'invalid chunked encoding (missing CRLF after chunk data)',
                'HPE_INVALID_CHUNK_SIZE',
              ),
            );
            return;
          }
          i++;
          this.#cstate = this.#cstate === 'cr' ? 'lf' : 'size';
          break;
        }
        case 'size':
        case 'trailer': {
          const nl = buf.indexOf(0x0a, i);
          const stop = nl < 0 || nl >= end ? end : nl;
          this.#line += buf.toString('latin1', i, stop);
          if (this.#cstate === 'trailer') this.#trailerBytes += stop - i + 1;
          i = stop;
          if (this.#line.length > LINE_MAX || this.#trailerBytes > TRAILER_MAX) {
            this.fail(codedError('chunked encoding line too long', 'HPE_INVALID_CHUNK_SIZE'));
            return;
          }
          if (stop === end) break;
          i++; // the LF
          const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
          this.#line = '';
          if (this.#cstate === 'trailer') {
            if (line === '') {
              this.#cstate = 'end';
              if (i < end) this.#keepAlive = false;
              this.#complete();
              return;
            }
            break;
          }
          const hex = (line.split(';', 1)[0] ?? '').trim();
          if (!/^[0-9a-fA-F]{1,13}$/.test(hex)) {
            this.fail(codedError(`invalid chunk size '${hex.slice(0, 32)}'`, 'HPE_INVALID_CHUNK_SIZE'));
            return;
          }
          this.#cleft = Number.parseInt(hex, 16);
          this.#cstate = this.#cleft === 0 ? 'trailer' : 'data';
          break;
        }
        case 'end':
          return;
      }
    }
    if (this.phase === 'body' && this.#filled === buf.length) this.#nextChunk(false);
  }

  /**
   * The response is complete: the socket goes back to the pool (or is closed) first, then the last
   * bytes and the end go to the consumer, which may do anything from here on.
   */
  #complete(last?: Buffer): void {
    const body = this.#body!;
    const conn = this.conn;
    this.#finish();
    body.exchange = undefined;
    conn.served++;
    // Request body bytes still queued in libuv (main-thread writes): not reusable yet.
    if (this.#keepAlive && conn.socket.writableLength > 0) this.#keepAlive = false;
    if (this.#keepAlive) {
      if (this.#paused) conn.socket.resume(); // idle sockets keep reading, to see the server close
      conn.pool.release(conn);
    } else {
      conn.destroy();
    }
    if (!body.destroyed) {
      if (last && last.length > 0) body.push(last);
      body.push(null);
    }
  }

  /** Detaches from the connection; clears timers and the abort listener. */
  #finish(): void {
    this.phase = 'done';
    // Nothing writes into the buffer from here on (the connection is detached).
    if (this.#chunk) seal(this.#chunk);
    this.#chunk = undefined;
    clearTimeout(this.#requestTimer);
    clearTimeout(this.#writeTimer);
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#unlistenAbort?.();
    this.#unlistenAbort = undefined;
    if (this.conn.exchange === this) this.conn.exchange = undefined;
  }

  // -- failures -------------------------------------------------------------------------------

  /** Fails the request (before the response) or the body (after); the socket is destroyed. */
  fail(err: CodedError): void {
    if (this.phase === 'done') return;
    const before = this.phase === 'head';
    const body = this.#body;
    this.#finish();
    this.conn.destroy();
    if (err.name !== 'AbortError' && err.code && TIMEOUT_CODES.has(err.code) && before)
      err.name = 'TimeoutError';
    // Settled once the threadpool no longer reads the request body (the caller may reuse it).
    this.conn.afterBodyWrite(() => (before ? this.reject(err) : body?.fail(err)));
  }

  /**
   * Writing the request body failed (the server may have answered early and closed, or reset).
   * The socket is read once more: a response that arrives within a second is the answer (an
   * S3 error says more than EPIPE); otherwise the request fails with the write error.
   */
  bodyFailed(err: CodedError): void {
    if (this.phase !== 'head') return;
    this.#writeError = err;
    if (this.conn.socket.destroyed) {
      this.ended(undefined);
      return;
    }
    this.#writeTimer = setTimeout(() => this.ended(undefined), 1000);
    this.conn.socket.resume();
  }

  /** The socket ended (EOF, error or close) while this exchange owned it. */
  ended(err: CodedError | undefined): void {
    if (this.phase === 'done') return;
    if (this.phase === 'head') {
      const e = this.#writeError ?? err ?? codedError('socket hang up', 'ECONNRESET');
      if (!this.#gotByte && this.conn.served > 0) STALE.add(e);
      this.fail(e);
      return;
    }
    if (this.#framing === 'close' && err === undefined) {
      // Close-delimited: EOF is the end of the body.
      const chunk = this.#chunk;
      // (Nothing unsent, nothing lent: a view never pushed would never come back.)
      const last =
        chunk && this.#filled > this.#sent
          ? lend(chunk, chunk.subarray(this.#sent, this.#filled))
          : undefined;
      this.#keepAlive = false;
      this.#complete(last);
      return;
    }
    if (err) {
      this.fail(err);
      return;
    }
    const what =
      this.#framing === 'length'
        ? `after ${this.#received} of ${this.#expected} body bytes`
        : `before the end of the chunked body (${this.#received} bytes received)`;
    this.fail(codedError(`aborted: the server closed the connection ${what}`, 'ECONNRESET'));
  }

  /** Socket inactivity (NodeHttpHandler's socketTimeout). */
  timedOut(): void {
    this.fail(
      codedError(
        `the request socket timed out after ${this.settings.socketTimeout} ms of inactivity (configured by client requestHandler).`,
        'ETIMEDOUT',
        'TimeoutError',
      ),
    );
  }

  /** The consumer destroyed the body before its end: the connection cannot be reused. */
  bodyDestroyed(): void {
    if (this.phase === 'done') return;
    this.#finish();
    this.conn.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Head parsing

interface ParsedHead {
  minor: number;
  status: number;
  reason: string;
  headers: Record<string, string>;
}

/** Headers node:http keeps only the first of (lib/_http_incoming.js `matchKnownFields`). */
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Status line and headers (names lower-cased); an Error with an `HPE_*` code if malformed. */
export function parseHead(text: string): ParsedHead | CodedError {
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0] ?? '');
  if (!m)
    return codedError(`invalid HTTP status line '${(lines[0] ?? '').slice(0, 64)}'`, 'HPE_INVALID_CONSTANT');
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!HEADER_NAME.test(name)) {
      return codedError(`invalid response header line '${line.slice(0, 64)}'`, 'HPE_INVALID_HEADER_TOKEN');
    }
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (INVALID_VALUE.test(value)) {
      return codedError(`invalid character in response header '${name}'`, 'HPE_INVALID_HEADER_TOKEN');
    }
    const prev = headers[key];
    if (prev === undefined) headers[key] = value;
    else if (key === 'content-length') {
      if (prev !== value) return codedError('duplicate Content-Length', 'HPE_UNEXPECTED_CONTENT_LENGTH');
    } else if (FIRST_WINS.has(key)) continue;
    else headers[key] = `${prev}${key === 'cookie' ? '; ' : ', '}${value}`;
  }
  return { minor: Number(m[1]), status: Number(m[2]), reason: m[3] ?? '', headers };
}

/** The body buffer pool's counters (for tests). */
export function bodyBufferStats(): { reused: number; free: number } {
  return {
    reused: bodyBuffers.reused + largeBodyBuffers.reused,
    free: bodyBuffers.free + largeBodyBuffers.free,
  };
}
