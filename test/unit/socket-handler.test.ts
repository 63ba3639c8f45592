/**
 * The raw-socket GetObject handler against real local servers (node:http, and raw `net` servers for
 * framings node:http does not produce): exact bytes for every framing and size around the 256 KiB
 * buffer, keep-alive reuse, the stale-socket retry, cut bodies, early destroy, abort, timeouts,
 * backpressure, delegation to the fallback, the request bytes against the SDK's own handler, and
 * the SDK end to end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { giveBack, requestLending } from '../../src/core/lending-pool.js';
import {
  bodyBufferStats,
  buildQueryString,
  fastGetExtension,
  SocketGetHandler,
  type SmithyHandlerOptions,
  type SmithyHttpHandler,
  type SmithyHttpRequest,
  type SmithyHttpResponse,
} from '../../adapters/s3/socket-handler.js';
import { mapS3Error } from '../../adapters/s3/errors.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

type Coded = Error & { code?: string };

/** A fallback that only records what it was given (the one stand-in in this file). */
function recordingFallback(): SmithyHttpHandler & {
  calls: SmithyHttpRequest[];
  destroyed: number;
  updates: [string | symbol, unknown][];
} {
  const rec = {
    calls: [] as SmithyHttpRequest[],
    destroyed: 0,
    updates: [] as [string | symbol, unknown][],
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: SmithyHttpRequest): Promise<{ response: SmithyHttpResponse }> {
      rec.calls.push(request);
      return { response: { statusCode: 299, headers: {}, body: Readable.from([]) } };
    },
    updateHttpClientConfig(key: string | symbol, value: unknown) {
      rec.updates.push([key, value]);
    },
    httpHandlerConfigs: () => ({ fromFallback: true }),
    destroy() {
      rec.destroyed++;
    },
  };
  return rec;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function handler(options: ConstructorParameters<typeof SocketGetHandler>[1] = {}): SocketGetHandler {
  const h = new SocketGetHandler(recordingFallback(), options);
  cleanups.push(() => h.destroy());
  return h;
}

interface HttpFixture {
  port: number;
  server: Server;
  /** Connections accepted so far. */
  connections: Socket[];
}

async function httpServer(
  onRequest: (req: IncomingMessage, res: ServerResponse, nth: number) => void,
): Promise<HttpFixture> {
  const server = createServer();
  const connections: Socket[] = [];
  const perSocket = new Map<Socket, number>();
  server.on('connection', (s: Socket) => connections.push(s));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    onRequest(req, res, n);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close').catch(() => undefined);
  });
  return { port: (server.address() as { port: number }).port, server, connections };
}

/** A `net` server that calls `onRequest` with each request head it reads on a connection. */
async function rawServer(
  onRequest: (socket: Socket, head: string, nth: number) => void,
): Promise<{ port: number; server: NetServer; connections: Socket[] }> {
  const connections: Socket[] = [];
  const server = createNetServer((socket) => {
    connections.push(socket);
    socket.on('error', () => undefined);
    let pending = '';
    let nth = 0;
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      for (let at = pending.indexOf('\r\n\r\n'); at >= 0; at = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, at + 4);
        pending = pending.slice(at + 4);
        onRequest(socket, head, ++nth);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of connections) s.destroy();
    server.close();
    await once(server, 'close').catch(() => undefined);
  });
  return { port: (server.address() as { port: number }).port, server, connections };
}

function getObject(port: number, key = 'k', extra: Partial<SmithyHttpRequest> = {}): SmithyHttpRequest {
  return {
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    method: 'GET',
    path: `/bucket/${key}`,
    query: { 'x-id': 'GetObject' },
    headers: { host: `127.0.0.1:${port}`, 'x-amz-date': '20260101T000000Z' },
    ...extra,
  };
}

async function send(
  h: SocketGetHandler,
  req: SmithyHttpRequest,
  opts: SmithyHandlerOptions = {},
): Promise<SmithyHttpResponse & { body: Readable }> {
  const { response } = await h.handle(req, opts);
  expect(response.body).toBeInstanceOf(Readable);
  return response as SmithyHttpResponse & { body: Readable };
}

/** All chunks, kept until the end: a reused buffer would corrupt the SHA of their concatenation. */
async function drain(body: Readable): Promise<{ bytes: Buffer; chunks: Buffer[] }> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return { bytes: Buffer.concat(chunks), chunks };
}

function errorOf(p: Promise<unknown>): Promise<Coded> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Coded,
  );
}

describe('SocketGetHandler: Content-Length bodies', () => {
  const sizes = [
    0,
    1,
    10,
    256 * 1024 - 1,
    256 * 1024,
    256 * 1024 + 1,
    MiB - 1,
    MiB,
    MiB + 1,
    5 * MiB + 12_345,
  ];
  const bodies = new Map(sizes.map((n) => [n, randomBytes(n)]));

  it('delivers every size byte-exact (SHA-256), all over one kept-alive connection', async () => {
    const srv = await httpServer((req, res) => {
      const n = Number(req.url!.split('/')[2]!.split('?')[0]);
      res.setHeader('content-length', n);
      res.end(bodies.get(n));
    });
    const h = handler();
    for (const n of sizes) {
      const res = await send(h, getObject(srv.port, String(n)));
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(n));
      const { bytes, chunks } = await drain(res.body);
      expect(bytes.length).toBe(n);
      expect(sha(bytes)).toBe(sha(bodies.get(n)!));
      // Buffers are sized to what remains: at most 256 KiB, and a small body gets a small one.
      for (const c of chunks) expect(c.length).toBeLessThanOrEqual(256 * 1024);
      if (n === 10) expect(chunks[0]!.buffer.byteLength).toBeLessThan(64 * 1024);
    }
    expect(srv.connections).toHaveLength(1);
    expect(h.stats).toMatchObject({ connections: 1, reused: sizes.length - 1, idle: 1 });
  });

  it('reuses one connection for sequential GETs and opens more only for concurrent ones', async () => {
    const data = randomBytes(300_000);
    const srv = await httpServer((_req, res) => res.end(data));
    const h = handler({ maxIdleSockets: 2 });
    for (let i = 0; i < 5; i++)
      expect(sha((await drain((await send(h, getObject(srv.port))).body)).bytes)).toBe(sha(data));
    expect(srv.connections).toHaveLength(1);
    const all = await Promise.all(
      Array.from({ length: 4 }, async () => drain((await send(h, getObject(srv.port))).body)),
    );
    for (const r of all) expect(sha(r.bytes)).toBe(sha(data));
    expect(srv.connections.length).toBe(4);
    expect(h.stats.idle).toBe(2); // the pool keeps at most maxIdleSockets
  });

  it('returns an error status as a response, with its body and lower-cased headers', async () => {
    const xml = '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>nope</Message></Error>';
    const srv = await httpServer((_req, res) => {
      res.writeHead(404, 'Not Found', {
        'Content-Type': 'application/xml',
        'X-Amz-Request-Id': 'R1',
        'Content-Length': xml.length,
      });
      res.end(xml);
    });
    const h = handler();
    const res = await send(h, getObject(srv.port));
    expect(res.statusCode).toBe(404);
    expect(res.reason).toBe('Not Found');
    expect(res.headers['content-type']).toBe('application/xml');
    expect(res.headers['x-amz-request-id']).toBe('R1');
    expect((await drain(res.body)).bytes.toString()).toBe(xml);
    // The error body was read in full: the connection is reused.
    await drain((await send(h, getObject(srv.port))).body);
    expect(srv.connections).toHaveLength(1);
  });

  it('204 and 304 have no body, and the connection stays usable', async () => {
    const srv = await httpServer((_req, res, nth) => {
      res.writeHead(nth === 1 ? 204 : 304, { etag: '"x"' });
      res.end();
    });
    const h = handler();
    for (const status of [204, 304]) {
      const res = await send(h, getObject(srv.port));
      expect(res.statusCode).toBe(status);
      expect((await drain(res.body)).bytes.length).toBe(0);
    }
    expect(srv.connections).toHaveLength(1);
  });
});

describe('SocketGetHandler: chunked and close-delimited bodies', () => {
  it('decodes a node:http chunked body of many irregular writes', async () => {
    const data = randomBytes(3 * MiB + 777);
    const srv = await httpServer(async (_req, res) => {
      for (let o = 0, i = 0; o < data.length; i++) {
        const n = Math.min(data.length - o, 1 + ((i * 7919) % 300_000));
        if (!res.write(data.subarray(o, o + n))) await once(res, 'drain');
        o += n;
        if (i % 5 === 0) await sleep(1);
      }
      res.end();
    });
    const h = handler();
    const res = await send(h, getObject(srv.port));
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(sha((await drain(res.body)).bytes)).toBe(sha(data));
  });

  it('decodes chunk extensions and trailers split at every byte boundary', async () => {
    const wire = Buffer.from(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\n' +
        '1\r\n,\r\n' +
        'A\r\n world 123\r\n' +
        '0\r\nx-trailer: t\r\n\r\n',
      'latin1',
    );
    const srv = await rawServer(async (socket) => {
      for (const b of wire) {
        socket.write(Buffer.from([b]));
        await sleep(0);
      }
    });
    const h = handler();
    const res = await send(h, getObject(srv.port));
    expect((await drain(res.body)).bytes.toString()).toBe('hello, world 123');
  });

  it('rejects a malformed chunk size as a body error, even one that arrived with the head', async () => {
    const srv = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n'),
    );
    const res = await send(handler(), getObject(srv.port));
    const err = await errorOf(drain(res.body));
    expect(err.code).toBe('HPE_INVALID_CHUNK_SIZE');
  });

  it('reads a close-delimited body to EOF (HTTP/1.1 with Connection: close, and HTTP/1.0)', async () => {
    const data = randomBytes(2 * MiB + 3);
    for (const head of ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', 'HTTP/1.0 200 OK\r\n\r\n']) {
      const srv = await rawServer((socket) => {
        socket.write(head);
        socket.end(data);
      });
      const h = handler();
      const res = await send(h, getObject(srv.port));
      expect(sha((await drain(res.body)).bytes)).toBe(sha(data));
      expect(h.stats.idle).toBe(0);
    }
  });

  it('a chunked body cut short fails with ECONNRESET', async () => {
    const srv = await rawServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc'),
    );
    const res = await send(handler(), getObject(srv.port));
    expect((await errorOf(drain(res.body))).code).toBe('ECONNRESET');
  });
});

describe('SocketGetHandler: response heads', () => {
  it('skips 1xx responses, lower-cases names and joins repeated headers as node:http does', async () => {
    const srv = await rawServer((socket) =>
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' +
          'HTTP/1.1 200 Fine Thanks\r\nX-Amz-Meta-A: 1\r\nx-amz-meta-a: 2\r\nContent-Type: a\r\n' +
          'content-type: b\r\nSet-Cookie: c=1\r\nSet-Cookie: d=2\r\nETag:   "e"  \r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    const res = await send(handler(), getObject(srv.port));
    expect(res.statusCode).toBe(200);
    expect(res.reason).toBe('Fine Thanks');
    expect(res.headers).toEqual({
      'x-amz-meta-a': '1, 2',
      'content-type': 'a',
      'set-cookie': 'c=1, d=2',
      etag: '"e"',
      'content-length': '2',
    });
    expect((await drain(res.body)).bytes.toString()).toBe('ok');
  });

  it('fails a head over 64 KiB, a bad status line, and conflicting framing', async () => {
    const cases: [string, string][] = [
      [`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
      ['HTCPCP/1.0 418 teapot\r\n\r\n', 'HPE_INVALID_CONSTANT'],
      [
        'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
        'HPE_UNEXPECTED_CONTENT_LENGTH',
      ],
      ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
      ['HTTP/1.1 200 OK\r\n folded\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ];
    for (const [head, code] of cases) {
      const srv = await rawServer((socket) => socket.write(head));
      expect((await errorOf(send(handler(), getObject(srv.port)))).code).toBe(code);
    }
  });
});

describe('SocketGetHandler: lending body buffers to a consumer that gives them back', () => {
  /**
   * Copies every chunk out at its offset, giving each back unless `keep(i)`; returns the kept.
   * 'data' events, as the range reader reads bodies (for-await would join buffered chunks).
   */
  async function copyOut(
    body: Readable,
    into: Buffer,
    keep: (i: number, chunk: Buffer) => boolean = () => false,
  ): Promise<{ length: number; kept: { chunk: Buffer; copy: Buffer }[]; memories: Set<ArrayBufferLike> }> {
    let at = 0;
    let i = 0;
    const kept: { chunk: Buffer; copy: Buffer }[] = [];
    const memories = new Set<ArrayBufferLike>();
    body.on('data', (chunk: Buffer) => {
      memories.add(chunk.buffer);
      chunk.copy(into, at);
      at += chunk.length;
      if (keep(i++, chunk)) kept.push({ chunk, copy: Buffer.from(chunk) });
      else giveBack(chunk);
    });
    await once(body, 'end');
    return { length: at, kept, memories };
  }

  it('refills given-back buffers (Content-Length and chunked), byte-exact', async () => {
    // Ten 4 MiB buffers' worth (and a 256 KiB tail) with a Content-Length; 160 of 256 KiB chunked.
    const data = randomBytes(40 * MiB + 4321);
    const srv = await httpServer(async (req, res) => {
      if (req.url!.includes('chunked')) {
        for (let o = 0, i = 0; o < data.length; i++) {
          const n = Math.min(data.length - o, 1 + ((i * 7919) % 300_000));
          if (!res.write(data.subarray(o, o + n))) await once(res, 'drain');
          o += n;
        }
        res.end();
      } else {
        res.setHeader('content-length', data.length);
        res.end(data);
      }
    });
    const h = handler();
    for (const key of ['plain', 'chunked']) {
      const before = bodyBufferStats().reused;
      const res = await send(h, getObject(srv.port, key));
      requestLending(res.body);
      const out = Buffer.alloc(data.length);
      const { length, memories } = await copyOut(res.body, out);
      expect(length).toBe(data.length);
      expect(sha(out)).toBe(sha(data));
      // Many buffers' worth of data went through far fewer buffers.
      expect(bodyBufferStats().reused - before).toBeGreaterThan(5);
      expect(memories.size).toBeLessThan(key === 'plain' ? 9 : 20);
    }
  });

  it('never reuses a chunk that was not given back, nor any chunk of a body not asked to lend', async () => {
    const data = randomBytes(12 * MiB);
    const srv = await httpServer((_req, res) => {
      res.setHeader('content-length', data.length);
      res.end(data);
    });
    const h = handler();
    // Lending, but the first chunk of the second 4 MiB buffer and the second chunk of a 256 KiB
    // one are kept: they must still hold their bytes at the end.
    const res = await send(h, getObject(srv.port));
    requestLending(res.body);
    const out = Buffer.alloc(data.length);
    const large = new Set<ArrayBufferLike>();
    let small = 0;
    const { kept } = await copyOut(res.body, out, (_i, c) => {
      if (c.buffer.byteLength === 4 * MiB) {
        large.add(c.buffer);
        return large.size === 2 && c.byteOffset === 0;
      }
      return ++small === 2;
    });
    expect(sha(out)).toBe(sha(data));
    expect(kept).toHaveLength(2);
    // Which of the two is kept first depends on timing (a flush under load lends a 256 KiB view early).
    expect(kept.map((k) => k.chunk.buffer.byteLength).sort((a, b) => a - b)).toEqual([256 * 1024, 4 * MiB]);
    for (const k of kept) expect(k.chunk.equals(k.copy)).toBe(true);
    // Not asked to lend: giving chunks back does nothing, every chunk has its own memory.
    const before = bodyBufferStats().reused;
    const plain = await send(h, getObject(srv.port));
    const { memories } = await copyOut(plain.body, Buffer.alloc(data.length));
    expect(bodyBufferStats().reused).toBe(before);
    expect(memories.size).toBe((12 * MiB) / (256 * 1024));
  });

  /** A second lending GET right after: it would refill any buffer returned too early. */
  async function secondRead(h: SocketGetHandler, port: number, key: string, data: Buffer): Promise<void> {
    const res = await send(h, getObject(port, key));
    requestLending(res.body);
    const out = Buffer.alloc(data.length);
    await copyOut(res.body, out);
    expect(sha(out)).toBe(sha(data));
  }

  it('kept views stay intact: the last view of a body that ends on a 4 MiB buffer, and one the 10 ms flush lent', async () => {
    const exact = randomBytes(256 * 1024 + 4 * MiB); // ends exactly at a 4 MiB buffer's end
    const slow = randomBytes(256 * 1024 + 8 * MiB); // 1000 bytes of a 4 MiB buffer, then a pause
    const other = randomBytes(256 * 1024 + 8 * MiB);
    const srv = await httpServer((req, res) => {
      const data = req.url!.includes('exact') ? exact : req.url!.includes('slow') ? slow : other;
      res.setHeader('content-length', data.length);
      if (data !== slow) {
        res.end(data);
        return;
      }
      res.write(data.subarray(0, 256 * 1024 + 1000));
      setTimeout(() => res.end(data.subarray(256 * 1024 + 1000)), 200);
    });
    const h = handler();
    for (const [key, data, keep] of [
      ['exact', exact, (c: Buffer) => c.buffer.byteLength === 4 * MiB],
      [
        'slow',
        slow,
        (c: Buffer) => c.buffer.byteLength === 4 * MiB && c.byteOffset === 0 && c.length < 4 * MiB,
      ],
    ] as const) {
      const res = await send(h, getObject(srv.port, key));
      requestLending(res.body);
      const out = Buffer.alloc(data.length);
      const { kept } = await copyOut(res.body, out, (_i, c) => keep(c));
      expect(sha(out)).toBe(sha(data));
      expect(kept.length, key).toBeGreaterThan(0);
      await secondRead(h, srv.port, 'other', other);
      for (const k of kept) expect(k.chunk.equals(k.copy), key).toBe(true);
    }
  });
});

describe('SocketGetHandler: connection failures', () => {
  it('retries once, transparently, when a pooled socket turns out dead', async () => {
    const srv = await httpServer((req, res, nth) => {
      if (nth === 2) {
        req.socket.destroy(); // the kept-alive socket dies just as it is reused
        return;
      }
      res.end('fine');
    });
    const h = handler();
    expect((await drain((await send(h, getObject(srv.port))).body)).bytes.toString()).toBe('fine');
    expect((await drain((await send(h, getObject(srv.port))).body)).bytes.toString()).toBe('fine');
    expect(srv.connections).toHaveLength(2);
    expect(h.stats).toMatchObject({ connections: 2, reused: 1 });
  });

  it('drops a pooled socket the server closed while idle, and the next GET connects afresh', async () => {
    const srv = await httpServer((_req, res) => res.end('x'));
    const h = handler();
    await drain((await send(h, getObject(srv.port))).body);
    expect(h.stats.idle).toBe(1);
    srv.server.closeIdleConnections();
    await sleep(100);
    expect(h.stats.idle).toBe(0);
    expect((await drain((await send(h, getObject(srv.port))).body)).bytes.toString()).toBe('x');
    expect(srv.connections).toHaveLength(2);
  });

  it('does not retry on a fresh connection: a hang-up is ECONNRESET named TimeoutError (SDK-retryable)', async () => {
    const srv = await httpServer((req) => req.socket.destroy());
    const err = await errorOf(send(handler(), getObject(srv.port)));
    expect(err).toMatchObject({ code: 'ECONNRESET', name: 'TimeoutError' });
    expect(srv.connections).toHaveLength(1);
    expect(mapS3Error(err, { syscall: 'open', path: 's3://b/k' })).toMatchObject({
      code: 'ECONNRESET',
      retryable: true,
    });
  });

  it('ECONNREFUSED keeps its code', async () => {
    const srv = await rawServer(() => undefined);
    const port = srv.port;
    srv.server.close();
    await once(srv.server, 'close');
    expect((await errorOf(send(handler(), getObject(port)))).code).toBe('ECONNREFUSED');
  });

  it('a reset mid-body fails the body with ECONNRESET; so does an early EOF', async () => {
    const head = `HTTP/1.1 200 OK\r\nContent-Length: ${MiB}\r\n\r\n`;
    for (const cut of ['reset', 'eof'] as const) {
      const srv = await rawServer((socket) => {
        socket.write(head);
        socket.write(randomBytes(100_000), () => {
          setTimeout(() => (cut === 'reset' ? socket.resetAndDestroy() : socket.end()), 20);
        });
      });
      const res = await send(handler(), getObject(srv.port));
      const err = await errorOf(drain(res.body));
      expect(err.code).toBe('ECONNRESET');
      if (cut === 'eof') expect(err.message).toContain(`after 100000 of ${MiB} body bytes`);
      const mapped = mapS3Error(err, { syscall: 'read', path: 's3://b/k' });
      expect(mapped).toMatchObject({ code: 'ECONNRESET', retryable: true });
    }
  });

  it('destroying the body early closes the socket instead of pooling it', async () => {
    const data = randomBytes(8 * MiB);
    const closed: Promise<unknown>[] = [];
    const srv = await httpServer((req, res) => {
      closed.push(new Promise((resolve) => req.socket.on('close', resolve)));
      res.end(data);
    });
    const h = handler();
    const res = await send(h, getObject(srv.port));
    const [first] = (await once(res.body, 'data')) as [Buffer];
    expect(first.length).toBeGreaterThan(0);
    res.body.destroy();
    await closed[0];
    expect(h.stats.idle).toBe(0);
    expect(sha((await drain((await send(h, getObject(srv.port))).body)).bytes)).toBe(sha(data));
    expect(srv.connections).toHaveLength(2);
  });

  it('hands on a slow body as it comes: a partly filled buffer waits ~10 ms, not for a full buffer', async () => {
    const first = randomBytes(1000);
    const rest = randomBytes(2 * MiB - 1000);
    const srv = await httpServer((_req, res) => {
      res.setHeader('content-length', 2 * MiB);
      res.write(first);
      setTimeout(() => res.end(rest), 1000);
    });
    const res = await send(handler(), getObject(srv.port));
    const t0 = performance.now();
    const [chunk] = (await once(res.body, 'data')) as [Buffer];
    expect(performance.now() - t0).toBeLessThan(500);
    expect(chunk.equals(first)).toBe(true);
    const all = Buffer.concat([chunk, (await drain(res.body)).bytes]);
    expect(sha(all)).toBe(sha(Buffer.concat([first, rest])));
  });

  it('bytes after a complete response make the socket unusable (not pooled)', async () => {
    const srv = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK'),
    );
    const h = handler();
    expect((await drain((await send(h, getObject(srv.port))).body)).bytes.toString()).toBe('ok');
    expect(h.stats.idle).toBe(0);
  });
});

describe('SocketGetHandler: abort and timeouts', () => {
  it('an already-aborted signal rejects with AbortError and opens no connection', async () => {
    const srv = await httpServer((_req, res) => res.end('x'));
    const ac = new AbortController();
    ac.abort();
    const err = await errorOf(send(handler(), getObject(srv.port), { abortSignal: ac.signal }));
    expect(err.name).toBe('AbortError');
    expect(srv.connections).toHaveLength(0);
  });

  it('aborting while waiting for the response rejects with AbortError and closes the socket', async () => {
    const closed: Promise<unknown>[] = [];
    // Never answers.
    const srv = await httpServer((req) =>
      closed.push(new Promise((resolve) => req.socket.on('close', resolve))),
    );
    const ac = new AbortController();
    const pending = send(handler(), getObject(srv.port), { abortSignal: ac.signal });
    await sleep(50);
    ac.abort();
    const err = await errorOf(pending);
    expect(err.name).toBe('AbortError');
    expect(mapS3Error(err, { syscall: 'open' }).code).toBe('ECANCELED');
    await closed[0];
  });

  it('aborting mid-body fails the body with AbortError', async () => {
    const srv = await httpServer((_req, res) => {
      res.setHeader('content-length', 4 * MiB);
      res.write(randomBytes(MiB)); // then stalls
    });
    const ac = new AbortController();
    const res = await send(handler(), getObject(srv.port), { abortSignal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect((await errorOf(drain(res.body))).name).toBe('AbortError');
  });

  it('socketTimeout: inactivity fails the request with TimeoutError / ETIMEDOUT', async () => {
    const srv = await httpServer(() => undefined);
    const err = await errorOf(send(handler({ socketTimeout: 100 }), getObject(srv.port)));
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
  });

  it('requestTimeout: an error with throwOnRequestTimeout, else a warning', async () => {
    const srv = await httpServer((_req, res) => setTimeout(() => res.end('late'), 200));
    const err = await errorOf(
      send(handler({ requestTimeout: 50, throwOnRequestTimeout: true }), getObject(srv.port)),
    );
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    const warnings: string[] = [];
    const h = handler({ requestTimeout: 50, logger: { warn: (m) => warnings.push(m) } });
    expect((await drain((await send(h, getObject(srv.port))).body)).bytes.toString()).toBe('late');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('50 ms requestTimeout');
  });
});

describe('SocketGetHandler: backpressure', () => {
  it('a stalled consumer stops the socket: the server cannot push the whole 64 MiB body', async () => {
    const total = 64 * MiB;
    const block = randomBytes(MiB);
    let written = 0;
    const srv = await httpServer(async (_req, res) => {
      res.setHeader('content-length', total);
      for (let i = 0; i < 64; i++) {
        if (res.destroyed) return;
        written += MiB;
        if (!res.write(block)) await once(res, 'drain');
      }
      res.end();
    });
    const res = await send(handler(), getObject(srv.port));
    // Paused mode: nothing is read while the consumer sleeps.
    await once(res.body, 'readable');
    await sleep(500);
    expect(res.body.readableLength).toBeLessThanOrEqual(2 * MiB);
    // Kernel socket buffers hold a few MiB on loopback; everything else waits on the server side.
    expect(written).toBeLessThan(24 * MiB);
    const hash = createHash('sha256');
    let got = 0;
    for await (const c of res.body) {
      got += (c as Buffer).length;
      hash.update(c as Buffer);
    }
    expect(got).toBe(total);
    const expected = createHash('sha256');
    for (let i = 0; i < 64; i++) expected.update(block);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });
});

describe('SocketGetHandler: delegation and the request it writes', () => {
  it('sends https, non-GET and non-GetObject requests to the fallback unchanged', async () => {
    const fallback = recordingFallback();
    const h = new SocketGetHandler(fallback);
    const reqs: SmithyHttpRequest[] = [
      getObject(1, 'k', { protocol: 'https:' }),
      getObject(1, 'k', { method: 'PUT' }),
      getObject(1, 'k', { method: 'HEAD', query: { 'x-id': 'GetObject' } }),
      getObject(1, '', { query: { 'list-type': '2', prefix: 'a' } }),
      getObject(1, 'k', { query: { 'x-id': 'GetObjectAttributes' } }),
      getObject(1, 'k', { headers: { expect: '100-continue' } }),
    ];
    for (const r of reqs) expect((await h.handle(r)).response.statusCode).toBe(299);
    expect(fallback.calls).toEqual(reqs);
    for (let i = 0; i < reqs.length; i++) expect(fallback.calls[i]).toBe(reqs[i]);
    h.updateHttpClientConfig('requestTimeout', 5);
    expect(fallback.updates).toEqual([['requestTimeout', 5]]);
    expect(h.httpHandlerConfigs()).toEqual({ fromFallback: true, requestTimeout: 5 });
    h.destroy();
    expect(fallback.destroyed).toBe(1);
    expect(h.metadata.handlerProtocol).toBe('http/1.1');
  });

  it('writes the same request bytes as the SDK’s NodeHttpHandler', async () => {
    const seen: string[] = [];
    const srv = await rawServer((socket, head) => {
      seen.push(head);
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    });
    // The SDK's own handler, as the S3Client builds it from `requestHandler` options.
    const sdk = new S3Client({ region: 'us-east-1', requestHandler: { httpAgent: { keepAlive: true } } });
    cleanups.push(() => sdk.destroy());
    const nodeHandler = sdk.config.requestHandler as unknown as SmithyHttpHandler;
    const req = getObject(srv.port, "dir/a%20b%2B%C3%A9!'()*", {
      query: { 'x-id': 'GetObject', versionId: "v 1+/é!'()*", partNumber: ['1', '2'], flag: null },
      headers: {
        host: `127.0.0.1:${srv.port}`,
        'X-Amz-Date': '20260101T000000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
        range: 'bytes=0-',
      },
    });
    const ours = await send(handler(), req);
    await drain(ours.body);
    const theirs = (await nodeHandler.handle(req)).response;
    await drain(theirs.body as Readable);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]).toContain(
      '?flag&partNumber=1&partNumber=2&versionId=v%201%2B%2F%C3%A9%21%27%28%29%2A&x-id=GetObject ',
    );
  });

  it('buildQueryString matches @smithy: sorted keys, repeated arrays, bare nulls, RFC 3986 escapes', () => {
    expect(buildQueryString({ b: '1', a: ['x y', "z'"], c: null, d: '' })).toBe('a=x%20y&a=z%27&b=1&c&d=');
  });
});

describe('SocketGetHandler under the S3 SDK', () => {
  it('serves GetObject (and not HeadObject) through the extension; S3 errors still parse', async () => {
    const data = randomBytes(3 * MiB + 5);
    const seen: { method: string; url: string; auth: string | undefined }[] = [];
    const srv = await httpServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization });
      if (req.url!.startsWith('/bucket/missing')) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>');
        return;
      }
      res.writeHead(200, { 'content-length': data.length, etag: '"e1"', 'x-amz-meta-who': 'me' });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${srv.port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      extensions: [fastGetExtension()],
    });
    cleanups.push(() => client.destroy());
    const h = client.config.requestHandler as unknown as SocketGetHandler;
    expect(h).toBeInstanceOf(SocketGetHandler);
    const head = await client.send(new HeadObjectCommand({ Bucket: 'bucket', Key: 'k' }));
    expect(head.ContentLength).toBe(data.length);
    expect(h.stats.connections).toBe(0); // HEAD went to the fallback
    const got = await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'k' }));
    expect(got.ETag).toBe('"e1"');
    expect(got.Metadata).toEqual({ who: 'me' });
    expect(sha(await got.Body!.transformToByteArray())).toBe(sha(data));
    expect(h.stats.connections).toBe(1);
    const err = await errorOf(client.send(new GetObjectCommand({ Bucket: 'bucket', Key: 'missing' })));
    expect(err.name).toBe('NoSuchKey');
    expect((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(404);
    expect(h.stats).toMatchObject({ connections: 1, reused: 1 });
    const gets = seen.filter((s) => s.method === 'GET');
    expect(gets[0]!.url).toBe('/bucket/k?x-id=GetObject');
    expect(gets[0]!.auth).toMatch(/^AWS4-HMAC-SHA256 /);
  });
});

describe('SocketGetHandler.send: request bodies (S3 parts)', () => {
  function putPart(port: number, length: number): SmithyHttpRequest {
    return {
      protocol: 'http:',
      hostname: '127.0.0.1',
      port,
      method: 'PUT',
      path: '/bucket/k',
      query: { partNumber: '1', uploadId: 'u', 'x-id': 'UploadPart' },
      headers: { host: `127.0.0.1:${port}`, 'content-length': String(length) },
    };
  }

  /** Answers every PUT with its body's SHA-256 as the ETag, once the body has been read. */
  async function hashingServer(opts: { holdMs?: number } = {}): Promise<HttpFixture> {
    return httpServer((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      if (opts.holdMs) {
        req.pause(); // let the client fill every socket buffer before anything is read
        setTimeout(() => req.resume(), opts.holdMs);
      }
      req.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      req.on('end', () =>
        res
          .writeHead(200, { etag: `"${h.digest('hex')}"`, 'x-bytes': String(n), 'content-length': '0' })
          .end(),
      );
    });
  }

  /** Buffers of several sizes (one empty, one a view into a larger buffer) and their SHA-256. */
  function parts(total: number, seed: number): { buffers: Buffer[]; length: number; sha: string } {
    const big = randomBytes(total + 17);
    big[0] = seed;
    const buffers = [
      big.subarray(17, 17 + 1000),
      Buffer.alloc(0),
      big.subarray(17 + 1000, 17 + 1000 + 3 * MiB),
      big.subarray(17 + 1000 + 3 * MiB, 17 + total),
    ];
    const length = buffers.reduce((a, b) => a + b.length, 0);
    return { buffers, length, sha: sha(Buffer.concat(buffers)) };
  }

  for (const offThreadWrites of [true, false]) {
    it(`sends the buffers in order ${offThreadWrites ? 'from the threadpool' : 'from the main thread'}, reads the answer after them, and keeps the socket alive`, async () => {
      const srv = await hashingServer();
      const h = handler({ offThreadWrites });
      for (const seed of [1, 2]) {
        const body = parts(5 * MiB + 333, seed);
        const { response } = await h.send(putPart(srv.port, body.length), body.buffers);
        expect(response.statusCode).toBe(200);
        expect(response.headers.etag).toBe(`"${body.sha}"`);
        expect(response.headers['x-bytes']).toBe(String(body.length));
        await drain(response.body as Readable);
      }
      expect(h.stats).toMatchObject({ requests: 2, connections: 1, reused: 1 });
      if (offThreadWrites) expect(h.stats.offThreadWrites).toBeGreaterThan(0);
      else expect(h.stats.offThreadWrites).toBe(0);
    });
  }

  it('a server slower than the sender: the full socket is waited for through libuv, bytes intact', async () => {
    const srv = await hashingServer({ holdMs: 300 });
    // (Drain waits are the off-thread writer's: it is opt-in.)
    const h = handler({ offThreadWrites: true });
    const body = parts(24 * MiB, 3);
    const { response } = await h.send(putPart(srv.port, body.length), body.buffers);
    expect(response.headers.etag).toBe(`"${body.sha}"`);
    expect(h.stats.drainWaits).toBeGreaterThan(0);
  });

  it('a pooled socket that died while idle is retried once, on a fresh one, with the whole body', async () => {
    const digests: string[] = [];
    const srv = await httpServer((req, res, nth) => {
      if (nth === 2) {
        req.socket.destroy(); // dies as it is reused
        return;
      }
      const hash = createHash('sha256');
      req.on('data', (d: Buffer) => hash.update(d));
      req.on('end', () => {
        digests.push(hash.digest('hex'));
        res.writeHead(200, { etag: '"e"', 'content-length': '0' }).end();
      });
    });
    const h = handler();
    const first = parts(2 * MiB, 4);
    await drain((await h.send(putPart(srv.port, first.length), first.buffers)).response.body as Readable);
    const second = parts(6 * MiB, 5);
    const { response } = await h.send(putPart(srv.port, second.length), second.buffers);
    expect(response.statusCode).toBe(200);
    expect(digests).toEqual([first.sha, second.sha]);
    expect(srv.connections).toHaveLength(2);
  });

  // Known bug, found 2026-12-07: with off-thread writes this hangs in about one run of three (the
  // 'close' case never settles, or the 403's body is never read), so the writer is opt-in until
  // it is found. The case stays, skipped with its reason, never counted as a pass.
  const offThreadHang =
    'off-thread writes hang intermittently after an early answer (known bug; offThreadWrites is opt-in)';
  for (const offThreadWrites of [true, false]) {
    it.skipIf(offThreadWrites)(
      `an answer sent before the body was read (403, then a half-close, a close, or silence) is what the caller gets, and the socket is not reused (${offThreadWrites ? 'off-thread' : 'main-thread'} writes)${offThreadWrites ? ` — skipped: ${offThreadHang}` : ''}`,
      async () => {
        const xml = '<Error><Code>AccessDenied</Code><Message>no</Message></Error>';
        for (const then of ['half-close', 'close', 'stall'] as const) {
          const srv = await rawServer((socket) => {
            // No "Connection: close": the socket would be reusable if the request had been whole.
            socket.write(
              `HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: ${xml.length}\r\n\r\n${xml}`,
            );
            // half-close: it still reads (and discards) the body; close (soon after): unread bytes,
            // so a reset, and the client's writes fail; stall: the connection stays open and nothing
            // more is read (the client's writes wait on a full socket).
            if (then === 'half-close') socket.end();
            else if (then === 'close') setTimeout(() => socket.destroy(), 20);
            else socket.pause();
          });
          const h = handler({ offThreadWrites });
          const body = parts(32 * MiB, 6);
          const { response } = await h.send(putPart(srv.port, body.length), body.buffers);
          expect(response.statusCode, then).toBe(403);
          expect((await drain(response.body as Readable)).bytes.toString()).toBe(xml);
          // (After a half-close the whole body may have been read, and the server's FIN drops the
          // pooled socket later.)
          if (then !== 'half-close') expect(h.stats.idle, then).toBe(0);
        }
      },
    );
  }

  it('a reset mid-body fails with ECONNRESET or EPIPE named TimeoutError (retryable), socket not pooled', async () => {
    const srv = await rawServer((socket) => {
      let n = 0;
      socket.on('data', (d: Buffer) => {
        n += d.length;
        if (n > MiB) socket.resetAndDestroy();
      });
    });
    const h = handler();
    const body = parts(16 * MiB, 7);
    const err = await errorOf(h.send(putPart(srv.port, body.length), body.buffers));
    expect(err.code).toMatch(/^(ECONNRESET|EPIPE)$/);
    expect(err.name).toBe('TimeoutError');
    expect(mapS3Error(err, { syscall: 'write', path: 's3://b/k' })).toMatchObject({ retryable: true });
    expect(h.stats.idle).toBe(0);
  });

  it('socketTimeout: a server that stops reading fails the request with ETIMEDOUT', async () => {
    const srv = await rawServer((socket) => socket.pause()); // reads the head, then nothing
    const body = parts(32 * MiB, 8);
    const err = await errorOf(
      handler({ socketTimeout: 200 }).send(putPart(srv.port, body.length), body.buffers),
    );
    expect(err).toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
  });

  it('aborting while the body is being written rejects with AbortError and closes the socket', async () => {
    const srv = await rawServer((socket) => socket.pause());
    const ac = new AbortController();
    const body = parts(32 * MiB, 9);
    const pending = handler().send(putPart(srv.port, body.length), body.buffers, { abortSignal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    expect((await errorOf(pending)).name).toBe('AbortError');
    // The server reads again: it sees the client's close.
    const server = srv.connections[0]!;
    const closed = once(server, 'close');
    server.resume();
    await closed;
  });

  it('takes plain HTTP only', () => {
    expect(() => handler().send({ ...putPart(1, 0), protocol: 'https:' }, [])).toThrow(/plain HTTP only/);
  });
});
