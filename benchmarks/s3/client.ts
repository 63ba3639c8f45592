/**
 * One measured transfer, in a fresh process (so peak RSS and CPU belong to this transfer alone):
 *
 *   node client.js --target raw|node-http|lib-storage|opendal|avfs --direction up|down --size 1GiB \
 *     --endpoint http://127.0.0.1:PORT [--bucket bench] [--key KEY] [--config JSON]
 *
 * Prints one JSON line: `{ target, direction, bytes, seconds, cpuSeconds, peakRssMiB, … }`, or
 * `{ target, direction, skipped }` when the target is not available, or `{ …, error }` (exit 1).
 * `seconds` and `cpuSeconds` cover the transfer only (modules loaded and clients built before the
 * clock starts); `peakRssMiB` is the process's peak (`VmHWM`, see payload.ts), so it includes the
 * runtime and loaded modules (`setupRssMiB` says how much of it was there before the transfer).
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type * as S3Adapter from '../../adapters/s3/index.js';
import { pipeline } from 'node:stream/promises';
import { drain, MiB, parseSize, payloadSource, peakRssMiB } from './payload.js';
import { TARGETS, type ClientArgs, type ClientConfig, type ClientResult } from './protocol.js';
import { clientFlags, clientMain } from '../common.js';

const ACCESS_KEY = 'bench';
const SECRET_KEY = 'bench-secret';
const REGION = 'us-east-1';

/** A transfer prepared and ready to run: `run` is what the clock measures. */
interface Prepared {
  run(): Promise<number>;
  close?(): Promise<void> | void;
}

function parseArgs(argv: string[]): ClientArgs {
  const { get, target, direction } = clientFlags(argv, TARGETS);
  const size = parseSize(get('size') ?? '');
  const endpoint = get('endpoint');
  if (!endpoint) throw new Error('--endpoint is required');
  return {
    target,
    direction,
    size,
    endpoint: endpoint.replace(/\/+$/, ''),
    bucket: get('bucket') ?? 'bench',
    key: get('key') ?? `${target}-${size}`,
    config: JSON.parse(get('config') ?? '{}') as ClientConfig,
  };
}

// ---- raw and node-http: one HTTP request ------------------------------------------------------

/**
 * GET over a bare TCP socket read into ONE reused buffer (`onread`): status line and headers are
 * parsed by hand, body bytes are only counted. node:http cannot do this (it allocates a buffer per
 * socket read), so this is the receive-side limit of the machine.
 */
function socketGet(endpoint: string, path: string, expected: number): Promise<number> {
  const url = new URL(endpoint);
  return new Promise<number>((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(MiB);
    let head = '';
    let length = -1;
    let received = 0;
    let settled = false;
    const settle = (err: Error | undefined) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(received);
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      noDelay: true,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          let off = 0;
          if (length < 0) {
            const prev = head.length;
            head += Buffer.from(buf.buffer, buf.byteOffset, n).toString('latin1', 0, Math.min(n, 65536));
            const at = head.indexOf('\r\n\r\n', Math.max(0, prev - 3));
            if (at === -1) {
              if (head.length >= 65536) settle(new Error('response head over 64 KiB'));
              return true;
            }
            const status = Number(head.slice(9, 12));
            const m = /\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, at));
            if (status !== 200 || !m) {
              settle(new Error(`socket GET answered ${head.split('\r\n', 1)[0]}`));
              return false;
            }
            length = Number(m[1]);
            off = at + 4 - prev;
          }
          received += n - off;
          if (received > length) settle(new Error(`received ${received} bytes, Content-Length is ${length}`));
          else if (received === length)
            settle(received === expected ? undefined : new Error(`got ${received}`));
          return true;
        },
      },
    });
    socket.on('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n\r\n`),
    );
    socket.on('error', (err) => settle(err));
    socket.on('close', () => settle(new Error(`connection closed after ${received} of ${length} bytes`)));
  });
}

function prepareHttp(a: ClientArgs): Prepared {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const path = `/${a.bucket}/${encodeURIComponent(a.key)}`;
  const url = `${a.endpoint}${path}`;
  return {
    async run() {
      if (a.direction === 'up') {
        // The same for raw and node-http: one PUT streamed from the reused block (no copies).
        const req = request(url, {
          method: 'PUT',
          agent,
          headers: { 'content-length': String(a.size), 'content-type': 'application/octet-stream' },
        });
        const response = once(req, 'response') as Promise<[IncomingMessage]>;
        await pipeline(payloadSource(a.size), req);
        const [res] = await response;
        await drain(res);
        if (res.statusCode !== 200) throw new Error(`PUT answered ${res.statusCode}`);
        return a.size;
      }
      if (a.target === 'raw') return socketGet(a.endpoint, path, a.size);
      const req = request(url, { method: 'GET', agent });
      req.end();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      if (res.statusCode !== 200) throw new Error(`GET answered ${res.statusCode}`);
      return drain(res);
    },
    close: () => agent.destroy(),
  };
}

// ---- @aws-sdk/lib-storage (up) and GetObjectCommand (down), all defaults ----------------------

async function prepareLibStorage(a: ClientArgs): Promise<Prepared> {
  const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({
    endpoint: a.endpoint,
    forcePathStyle: true,
    region: REGION,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  return {
    async run() {
      if (a.direction === 'up') {
        await new Upload({
          client,
          params: { Bucket: a.bucket, Key: a.key, Body: payloadSource(a.size) },
        }).done();
        return a.size;
      }
      const r = await client.send(new GetObjectCommand({ Bucket: a.bucket, Key: a.key }));
      return drain(r.Body as Readable);
    },
    close: () => client.destroy(),
  };
}

// ---- Apache OpenDAL (Rust core via napi) ------------------------------------------------------

/** The slice of opendal@0.49.2's API used here (it is installed on demand, see bench.mjs). */
interface OpendalModule {
  Operator: new (
    scheme: string,
    options: Record<string, string>,
  ) => {
    writer(
      path: string,
      options: { chunk?: bigint; concurrent?: number },
    ): Promise<{ createWriteStream(): NodeJS.WritableStream }>;
    reader(
      path: string,
      options: { chunk?: number; concurrent?: number; prefetch?: number },
    ): Promise<{ read(buf: Buffer): Promise<number | bigint> }>;
  };
}

const OPENDAL = 'opendal';

async function prepareOpendal(a: ClientArgs): Promise<Prepared | string> {
  let mod: OpendalModule;
  try {
    mod = (await import(OPENDAL)) as OpendalModule;
  } catch {
    return 'opendal@0.49.2 is not installed (npm run bench installs it on demand)';
  }
  const { Operator } = mod;
  const op = new Operator('s3', {
    bucket: a.bucket,
    endpoint: a.endpoint,
    region: REGION,
    access_key_id: ACCESS_KEY,
    secret_access_key: SECRET_KEY,
    root: '/',
    disable_config_load: 'true',
    disable_ec2_metadata: 'true',
  });
  const c = a.config;
  return {
    async run() {
      if (a.direction === 'up') {
        const writer = await op.writer(a.key, {
          ...(c.chunkMiB ? { chunk: BigInt(c.chunkMiB * MiB) } : {}),
          ...(c.concurrency ? { concurrent: c.concurrency } : {}),
        });
        await pipeline(payloadSource(a.size), writer.createWriteStream());
        return a.size;
      }
      const reader = await op.reader(a.key, {
        ...(c.chunkMiB ? { chunk: c.chunkMiB * MiB } : {}),
        ...(c.concurrency ? { concurrent: c.concurrency } : {}),
        ...(c.prefetch ? { prefetch: c.prefetch } : {}),
      });
      // Reader.read into ONE reused buffer (its createReadStream allocates a fresh buffer per read).
      const buf = Buffer.allocUnsafe((c.readBufferMiB ?? 4) * MiB);
      let bytes = 0;
      // Bounded: ends at EOF, or fails if the object is longer than the size asked for.
      while (true) {
        const n = Number(await reader.read(buf));
        if (n === 0) break;
        bytes += n;
        if (bytes > a.size) throw new Error(`opendal read ${bytes} bytes, more than the ${a.size} expected`);
      }
      return bytes;
    },
  };
}

// ---- artifact-vfs's S3 flavor ----------------------------------------------------------------

async function prepareAvfs(a: ClientArgs): Promise<Prepared | string> {
  if (a.target === 'avfs-stream' && a.direction === 'up') return 'uploads: see the avfs target';
  let mod: typeof S3Adapter;
  try {
    mod = await import('../../adapters/s3/index.js');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' && /adapters[\\/]s3[\\/]index\.js/.test(e.message)) {
      return 'adapters/s3 not built yet';
    }
    throw err;
  }
  // The harness's settings: chunkMiB and concurrency map to the upload's part size and parts in
  // flight (up) or the download's range size and ranges in flight (down); an `avfs` object, if
  // present, is passed to the flavor as it is (any S3 flavor option).
  const c = a.config;
  const up = a.direction === 'up';
  const { adapter, root, close } = await mod.s3Flavor.create({
    ...(c.chunkMiB ? { [up ? 'partSize' : 'readPartSize']: c.chunkMiB * MiB } : {}),
    ...(c.concurrency ? { [up ? 'concurrency' : 'readConcurrency']: c.concurrency } : {}),
    path: `s3://${a.bucket}`,
    endpoint: a.endpoint,
    region: REGION,
    forcePathStyle: true,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    trustedEndpoint: true,
    ...c.avfs,
  });
  // Adapter paths are relative to the flavor's root (`/` for `s3://bench`): key `k` is `/k`.
  const path = `${root && root !== '/' ? root : ''}/${a.key}`;
  return {
    async run() {
      if (a.direction === 'up') {
        await pipeline(payloadSource(a.size), adapter.createWriteStream(path));
        return a.size;
      }
      if (a.target === 'avfs-stream')
        return drain(adapter.createReadStream(path) as AsyncIterable<Uint8Array>);
      // FileHandle.read into ONE reused buffer, as the OpenDAL target reads.
      const fh = await adapter.promises.open(path, 'r');
      const buf = Buffer.allocUnsafe((c.readBufferMiB ?? 4) * MiB);
      let bytes = 0;
      try {
        // Bounded: ends at EOF, or fails if the object is longer than the size asked for.
        while (true) {
          const { bytesRead } = await fh.read(buf, 0, buf.length, null);
          if (bytesRead === 0) break;
          bytes += bytesRead;
          if (bytes > a.size) throw new Error(`avfs read ${bytes} bytes, more than the ${a.size} expected`);
        }
      } finally {
        await fh.close();
      }
      return bytes;
    },
    close: () => close?.(),
  };
}

// ---- main ------------------------------------------------------------------------------------

async function measure(a: ClientArgs): Promise<ClientResult> {
  const base = { target: a.target, direction: a.direction };
  const prepared =
    a.target === 'raw' || a.target === 'node-http'
      ? prepareHttp(a)
      : a.target === 'lib-storage'
        ? await prepareLibStorage(a)
        : a.target === 'opendal'
          ? await prepareOpendal(a)
          : await prepareAvfs(a);
  if (typeof prepared === 'string') return { ...base, skipped: prepared };
  const setupRssMiB = peakRssMiB();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await prepared.run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peakRss = peakRssMiB();
  await prepared.close?.();
  const total = process.cpuUsage();
  if (bytes !== a.size) throw new Error(`transferred ${bytes} bytes, expected ${a.size}`);
  return {
    ...base,
    bytes,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: peakRss,
    setupRssMiB,
    processCpuSeconds: (total.user + total.system) / 1e6,
    ...(Object.keys(a.config).length > 0 ? { config: a.config } : {}),
  };
}

clientMain(() => parseArgs(process.argv.slice(2)), measure);
