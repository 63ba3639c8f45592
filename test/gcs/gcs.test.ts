/**
 * GCS-specific behaviour of the gcs flavor against the GCS JSON-API emulator (test/emulators/gcs),
 * whose request log shows what went over the wire and whose fault injection cuts chunks, answers
 * 503s and corrupts downloads. Chunks are 256 KiB here, so multi-chunk uploads stay small.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request, type IncomingHttpHeaders } from 'node:http';
import { inspect } from 'node:util';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGcsBackend,
  gcsFlavor,
  mapGcsError,
  GcsHttpError,
  type GcsBackendOptions,
} from '../../adapters/gcs/index.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import {
  crc32cBase64,
  startGcsEmulator,
  type GcsEmulator,
  type RequestRecord,
} from '../emulators/gcs/server.js';
import { startFaultProxy } from '../emulators/fault-proxy.js';
import { selfSigned } from '../emulators/tls.js';
import { KiB, MiB, sha, payload, writeStream, readAll, checkCreateOnlyRaces } from '../flavor-helpers.js';

const CHUNK = 256 * KiB;
/** A certificate for a TLS front the client does not trust (or why there is none). */
const tlsPair = selfSigned();

let emu: GcsEmulator;
let raw: Storage;

interface Rig {
  fs: FsAdapter;
  bucket: string;
  uri: (key: string) => string;
  close(): Promise<void>;
}

async function rig(extra: Partial<GcsBackendOptions> & Record<string, unknown> = {}): Promise<Rig> {
  const bucket = `t-${randomUUID().slice(0, 8)}`;
  await raw.createBucket(bucket);
  const inst = await gcsFlavor.create({
    path: `gs://${bucket}`,
    apiEndpoint: emu.endpoint,
    project: emu.projectId,
    chunkSize: CHUNK,
    readPartSize: CHUNK,
    backoffMs: 5,
    ...extra,
  });
  const table = new MountTable();
  table.mount(`gs://${bucket}`, inst.adapter);
  return {
    fs: table.fs,
    bucket,
    uri: (key) => `gs://${bucket}/${key}`,
    close: async () => inst.close?.(),
  };
}

async function rawBytes(bucket: string, key: string): Promise<Buffer> {
  const [b] = await raw.bucket(bucket).file(key).download();
  return b;
}

const log = (): RequestRecord[] => emu.stats().log;
const isMultipart = (r: RequestRecord): boolean => r.method === 'POST' && r.query.uploadType === 'multipart';
const isInit = (r: RequestRecord): boolean => r.method === 'POST' && r.query.uploadType === 'resumable';
const isSessionPut = (r: RequestRecord): boolean => r.method === 'PUT' && r.query.upload_id !== undefined;
const isDataPut = (r: RequestRecord): boolean => isSessionPut(r) && !/^bytes \*\//.test(r.contentRange ?? '');
const isQuery = (r: RequestRecord): boolean => isSessionPut(r) && /^bytes \*\/\*$/.test(r.contentRange ?? '');
const isMedia = (r: RequestRecord): boolean => r.method === 'GET' && r.query.alt === 'media';

beforeAll(async () => {
  emu = await startGcsEmulator({ maxBytesRewrittenPerCall: MiB });
  raw = new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId });
});
afterAll(async () => {
  await emu?.stop();
});

describe('gcs flavor [emulator]', () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig();
  });
  afterAll(async () => {
    await r?.close();
  });

  const sizes: [string, number, { multipart: number; sessions: number; dataPuts: number }][] = [
    ['0 bytes', 0, { multipart: 1, sessions: 0, dataPuts: 0 }],
    ['1 byte', 1, { multipart: 1, sessions: 0, dataPuts: 0 }],
    ['exactly one chunk (256 KiB)', CHUNK, { multipart: 1, sessions: 0, dataPuts: 0 }],
    ['one chunk plus one byte', CHUNK + 1, { multipart: 0, sessions: 1, dataPuts: 2 }],
    ['four whole chunks (finalized by an empty PUT)', 4 * CHUNK, { multipart: 0, sessions: 1, dataPuts: 4 }],
    ['three chunks and a tail', 3 * CHUNK + 12_345, { multipart: 0, sessions: 1, dataPuts: 4 }],
  ];
  for (const [name, size, expected] of sizes) {
    it(`${name}: streams up and down with the same SHA-256 and CRC32C, as ${expected.sessions ? `a resumable session of ${expected.dataPuts} chunks` : 'one multipart upload'}`, async () => {
      const key = `sizes/${size}.bin`;
      const data = payload(size, size + 1);
      await r.fs.promises.mkdir(r.uri('sizes'), { recursive: true });
      emu.resetStats();
      await writeStream(r.fs, r.uri(key), data, 100 * KiB);
      const l = log();
      expect(l.filter(isMultipart).length).toBe(expected.multipart);
      expect(l.filter(isInit).length).toBe(expected.sessions);
      expect(l.filter(isDataPut).length).toBe(expected.dataPuts);
      if (expected.sessions) {
        // every chunk but the last is a whole number of 256 KiB blocks, sent in order
        const ranges = l.filter(isDataPut).map((x) => x.contentRange!);
        let next = 0;
        for (const cr of ranges) {
          const m = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(cr)!;
          expect(Number(m[1])).toBe(next);
          next = Number(m[2]) + 1;
        }
        expect(next).toBe(size);
        // the finalizing request carried the CRC32C for the server to check
        const fin = l.filter(isSessionPut).at(-1)!;
        expect(fin.headers['x-goog-hash']).toBe(`crc32c=${crc32cBase64(data)}`);
      }
      expect(sha(await readAll(r.fs, r.uri(key)))).toBe(sha(data));
      expect((await r.fs.promises.stat(r.uri(key))).size).toBe(size);
      expect(sha(await rawBytes(r.bucket, key))).toBe(sha(data));
      const [meta] = await raw.bucket(r.bucket).file(key).getMetadata();
      expect(meta.crc32c).toBe(crc32cBase64(data));
    });
  }

  it('a connection reset mid-chunk resumes from the persisted offset; SHA-256 and CRC32C match', async () => {
    const res = await rig({ chunkSize: MiB });
    try {
      const data = payload(3 * MiB + 500_000, 11);
      // chunk 2 (bytes 1 MiB…2 MiB) is cut after 600,000 bytes: the server keeps two whole 256 KiB
      // blocks of it, so 1 MiB + 512 KiB are persisted.
      emu.inject({ match: { uploadChunk: 2 }, kind: 'reset-after', afterBytes: 600_000 });
      emu.resetStats();
      await writeStream(res.fs, res.uri('resume.bin'), data, 100 * KiB);
      const l = log();
      expect(emu.stats().faultsFired).toBe(1);
      const queries = l.filter(isQuery);
      expect(queries.length).toBe(1);
      const persisted = MiB + 2 * CHUNK;
      expect(queries[0]!.responseRange).toBe(`bytes=0-${persisted - 1}`);
      const puts = l.filter(isDataPut).map((x) => x.contentRange);
      expect(puts).toEqual([
        `bytes 0-${MiB - 1}/*`,
        `bytes ${MiB}-${2 * MiB - 1}/*`, // cut
        `bytes ${persisted}-${2 * MiB - 1}/*`, // only what the server did not persist
        `bytes ${2 * MiB}-${3 * MiB - 1}/*`,
        `bytes ${3 * MiB}-${data.length - 1}/${data.length}`,
      ]);
      expect(sha(await rawBytes(res.bucket, 'resume.bin'))).toBe(sha(data));
      const [meta] = await raw.bucket(res.bucket).file('resume.bin').getMetadata();
      expect(meta.crc32c).toBe(crc32cBase64(data));
      expect(emu.stats().openSessions).toBe(0);
    } finally {
      emu.clearFaults();
      await res.close();
    }
  });

  it('a 503 on a chunk is retried and the object is intact', async () => {
    const data = payload(3 * CHUNK + 7, 12);
    emu.inject({ match: { uploadChunk: 2 }, kind: '503' });
    emu.resetStats();
    try {
      await writeStream(r.fs, r.uri('retry503.bin'), data, 100 * KiB);
    } finally {
      emu.clearFaults();
    }
    expect(emu.stats().faultsFired).toBe(1);
    expect(log().some((x) => x.status === 503)).toBe(true);
    expect(sha(await rawBytes(r.bucket, 'retry503.bin'))).toBe(sha(data));
  });

  it('a persistent failure gives the network error, leaves the key absent and cancels the session', async () => {
    const doomed = await rig({ attempts: 3 });
    const data = payload(3 * CHUNK + 5, 13);
    emu.inject({
      match: { method: 'PUT', pathIncludes: 'upload_id' },
      kind: 'reset-after',
      afterBytes: 1000,
      times: Infinity,
    });
    emu.resetStats();
    let err: (Error & { code?: string; path?: string }) | undefined;
    try {
      await writeStream(doomed.fs, doomed.uri('doomed.bin'), data, 100 * KiB);
    } catch (e) {
      err = e as Error & { code?: string };
    } finally {
      emu.clearFaults();
    }
    try {
      expect(err?.code).toMatch(/^(ECONNRESET|EPIPE)$/);
      expect(err?.path).toBe(doomed.uri('doomed.bin'));
      const l = log();
      // three attempts at chunk 1 (a retry first asks the session for its offset, and that
      // request is cut too), then the session is cancelled (DELETE → 499)
      expect(l.filter(isSessionPut).length).toBe(3);
      expect(isDataPut(l.find(isSessionPut)!)).toBe(true);
      expect(l.filter(isSessionPut).every((x) => x.fault !== undefined)).toBe(true);
      const cancel = l.filter((x) => x.method === 'DELETE' && x.query.upload_id !== undefined);
      expect(cancel.map((x) => x.status)).toEqual([499]);
      expect(emu.stats().openSessions).toBe(0);
      await expect(doomed.fs.promises.stat(doomed.uri('doomed.bin'))).rejects.toMatchObject({
        code: 'ENOENT',
      });
      // the session URI is a credential: it appears in no message or inspection of the error
      const uploadId = l.find(isSessionPut)!.query.upload_id!;
      expect(`${String(err)} ${inspect(err, { depth: 8 })}`).not.toContain(uploadId);
    } finally {
      await doomed.close();
    }
  });

  it("create-only ('wx') refuses an existing key, and a writer that loses a race gets EEXIST at close", async () => {
    await r.fs.promises.writeFile(r.uri('once.txt'), 'first');
    await expect(r.fs.promises.writeFile(r.uri('once.txt'), 'second', { flag: 'wx' })).rejects.toMatchObject({
      code: 'EEXIST',
      path: r.uri('once.txt'),
    });
    expect(await r.fs.promises.readFile(r.uri('once.txt'), 'utf8')).toBe('first');

    // small object: one multipart upload with ifGenerationMatch=0
    const h = await r.fs.promises.open(r.uri('race.txt'), 'wx');
    await h.write('mine');
    await raw.bucket(r.bucket).file('race.txt').save('theirs', { resumable: false });
    emu.resetStats();
    await expect(h.close()).rejects.toMatchObject({ code: 'EEXIST' });
    expect(log().find(isMultipart)?.query.ifGenerationMatch).toBe('0');
    expect(await r.fs.promises.readFile(r.uri('race.txt'), 'utf8')).toBe('theirs');

    // large object: the resumable session was opened with ifGenerationMatch=0 and the commit fails
    const big = payload(2 * CHUNK + 3, 14);
    const h2 = await r.fs.promises.open(r.uri('race-big.bin'), 'wx');
    await h2.write(big.subarray(0, 2 * CHUNK + 1));
    await raw.bucket(r.bucket).file('race-big.bin').save('theirs', { resumable: false });
    await h2.write(big.subarray(2 * CHUNK + 1));
    await expect(h2.close()).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await r.fs.promises.readFile(r.uri('race-big.bin'), 'utf8')).toBe('theirs');
    expect(emu.stats().openSessions).toBe(0);
  });

  it('a create-only write whose answer was lost is retried and succeeds (the object there is ours)', async () => {
    // drop-response: the emulator carries the request out, then resets instead of answering.
    for (const [name, size, match] of [
      ['lost-put.bin', CHUNK - 5, { method: 'POST', pathIncludes: 'uploadType=multipart' }],
      // the 4th data PUT of the session is the finalizing one
      ['lost-final.bin', 3 * CHUNK + 77, { method: 'PUT', uploadChunk: 4 }],
    ] as const) {
      const data = payload(size, 47);
      const before = emu.stats().faultsFired;
      emu.inject({ match, kind: 'drop-response' });
      await r.fs.promises.writeFile(r.uri(name), data, { flag: 'wx' });
      expect(emu.stats().faultsFired - before).toBe(1); // the answer really was lost once
      expect(sha(await rawBytes(r.bucket, name))).toBe(sha(data));
      // Another writer's object, committed between our open and our close, is a real conflict even
      // with the very same bytes: our close is EEXIST and theirs stays.
      await checkCreateOnlyRaces(r, name, data, async (key, theirs) => {
        await raw.bucket(r.bucket).file(key).save(theirs, { resumable: false });
      });
    }
  });

  it.skipIf(typeof tlsPair === 'string')(
    `an untrusted HTTPS endpoint is EPROTO at once for stat and reads${typeof tlsPair === 'string' ? ` — skipped: ${tlsPair}` : ''}`,
    async () => {
      const front = await startFaultProxy(emu.endpoint, { tls: tlsPair as { key: Buffer; cert: Buffer } });
      const untrusted = await rig({ apiEndpoint: front.endpoint });
      try {
        const t0 = performance.now();
        for (const op of [
          () => untrusted.fs.promises.stat(untrusted.uri('x.bin')),
          () => untrusted.fs.promises.readFile(untrusted.uri('x.bin')),
        ]) {
          await expect(op()).rejects.toMatchObject({ code: 'EPROTO' });
        }
        // Not retried: a certificate does not change between attempts.
        expect(performance.now() - t0).toBeLessThan(5000);
      } finally {
        await untrusted.close();
        await front.close();
      }
    },
  );

  it('full reads detect bytes corrupted in transit (CRC32C, and MD5 in md5 mode); ranged reads cannot', async () => {
    const data = payload(CHUNK + 1000, 15);
    await r.fs.promises.writeFile(r.uri('tamper.bin'), data);
    emu.inject({ match: { method: 'GET', pathIncludes: 'tamper.bin' }, kind: 'corrupt', afterBytes: 12_345 });
    await expect(r.fs.promises.readFile(r.uri('tamper.bin'))).rejects.toMatchObject({
      code: 'EIO',
      path: r.uri('tamper.bin'),
    });
    expect(emu.stats().faultsFired).toBeGreaterThanOrEqual(1);
    emu.clearFaults();
    // a ranged read is not a whole-object read: the corrupted byte arrives as sent
    emu.inject({ match: { method: 'GET', pathIncludes: 'tamper.bin' }, kind: 'corrupt', afterBytes: 345 });
    const part = await readAll(r.fs, r.uri('tamper.bin'), { start: 12_000, end: 12_999 });
    emu.clearFaults();
    expect(part[345]).toBe(data[12_345]! ^ 0xff);
    // md5 mode
    const md5 = await rig({ validation: 'md5' });
    try {
      await md5.fs.promises.writeFile(md5.uri('m.bin'), data);
      emu.inject({ match: { method: 'GET', pathIncludes: 'm.bin' }, kind: 'corrupt', afterBytes: 7 });
      await expect(md5.fs.promises.readFile(md5.uri('m.bin'))).rejects.toMatchObject({ code: 'EIO' });
      emu.clearFaults();
      expect(sha(await md5.fs.promises.readFile(md5.uri('m.bin')))).toBe(sha(data));
    } finally {
      emu.clearFaults();
      await md5.close();
    }
    // untouched, the same read succeeds
    expect(sha(await r.fs.promises.readFile(r.uri('tamper.bin')))).toBe(sha(data));
  });

  it('ranged reads return exactly the requested bytes across range boundaries', async () => {
    const data = payload(3 * CHUNK + 3, 16);
    await r.fs.promises.writeFile(r.uri('range.bin'), data);
    for (const [start, end] of [
      [0, 0],
      [5, CHUNK + 5],
      [CHUNK - 1, CHUNK],
      [3 * CHUNK, 3 * CHUNK + 2],
      [3, 3 * CHUNK + 100],
    ] as const) {
      const got = await readAll(r.fs, r.uri('range.bin'), { start, end });
      expect(sha(got)).toBe(sha(data.subarray(start, end + 1)));
    }
    expect((await readAll(r.fs, r.uri('range.bin'), { start: 3 * CHUNK + 3 })).length).toBe(0);
  });

  it('a large read is one GET on a fast link; a slow first stream is cut and the rest fetched as parallel ranged GETs pinned to one generation, in order', async () => {
    const data = payload(5 * CHUNK - 9, 17);
    // The rate threshold decides, so both cases are pinned: 1 byte/s (any stream is fast enough)
    // and 1e15 (none is).
    const fast = await rig({ readParallelBelow: 1 });
    try {
      await fast.fs.promises.writeFile(fast.uri('big.bin'), data);
      emu.resetStats();
      expect(sha(await readAll(fast.fs, fast.uri('big.bin')))).toBe(sha(data));
      expect(log().filter(isMedia).length).toBe(1);
    } finally {
      await fast.close();
    }
    // No single stream meets this rate: after the probe (one part) the head is cut a part further
    // on, and the remaining ~2 parts come as ranged GETs.
    const slow = await rig({ readParallelBelow: 1e15 });
    try {
      await slow.fs.promises.writeFile(slow.uri('big.bin'), data);
      emu.resetStats();
      expect(sha(await readAll(slow.fs, slow.uri('big.bin')))).toBe(sha(data));
      const gets = log().filter(isMedia);
      expect(gets.length).toBeGreaterThanOrEqual(3);
      expect(gets.slice(1).every((g) => g.query.generation !== undefined)).toBe(true);
    } finally {
      await slow.close();
    }
  });

  it('a server that ignores the byte range fails the read with EIO: never an empty read, never a buffered body', async () => {
    // A proxy in front of the emulator: 'head' answers the first (size-finding) GET with a 200 of
    // unknown length (as a transcoding or chunking server does); 'ranges' answers every
    // generation-pinned ranged GET with a 200 and a 128 MiB body, counting what it sent.
    let mode: 'head' | 'ranges' | 'none' = 'none';
    let sent = 0;
    const upstream = new URL(emu.endpoint);
    const agent = new Agent({ keepAlive: true });
    const proxy = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      const media = req.method === 'GET' && url.searchParams.get('alt') === 'media';
      if (media && mode === 'ranges' && url.searchParams.has('generation')) {
        req.resume();
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const block = Buffer.alloc(MiB, 7);
        const pump = (): void => {
          while (sent < 128 * MiB) {
            sent += block.length;
            if (!res.write(block)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (up) => {
          const headers: IncomingHttpHeaders = { ...up.headers };
          let status = up.statusCode ?? 502;
          if (media && mode === 'head' && status === 206) {
            status = 200;
            delete headers['content-length'];
            delete headers['content-range'];
          }
          res.writeHead(status, headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const p = await rig({
      apiEndpoint: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
      readParallelBelow: 1e15, // always goes parallel after the first part, so ranged GETs are sent
    });
    try {
      const small = payload(1000, 40);
      const large = payload(3 * CHUNK + 5, 41);
      await p.fs.promises.writeFile(p.uri('small.bin'), small);
      await p.fs.promises.writeFile(p.uri('large.bin'), large);
      mode = 'head';
      await expect(p.fs.promises.readFile(p.uri('small.bin'))).rejects.toMatchObject({
        code: 'EIO',
        path: p.uri('small.bin'),
      });
      mode = 'ranges';
      await expect(p.fs.promises.readFile(p.uri('large.bin'))).rejects.toMatchObject({
        code: 'EIO',
        path: p.uri('large.bin'),
      });
      // the ignored range's body was dropped, not read (socket buffers hold a few MiB at most)
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(32 * MiB);
      mode = 'none';
      expect(sha(await p.fs.promises.readFile(p.uri('small.bin')))).toBe(sha(small));
      expect(sha(await p.fs.promises.readFile(p.uri('large.bin')))).toBe(sha(large));
    } finally {
      await p.close();
      agent.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('copyFile is a server-side rewrite that loops on rewriteToken; no bytes pass the client', async () => {
    const data = payload(3 * MiB + 17, 18);
    await r.fs.promises.writeFile(r.uri('copy-src.bin'), data);
    emu.resetStats();
    await r.fs.promises.copyFile(r.uri('copy-src.bin'), r.uri('copy-dst.bin'));
    const l = log();
    const rewrites = l.filter((x) => x.path.includes('/rewriteTo/'));
    expect(rewrites.length).toBe(4); // 1 MiB per call (the emulator's limit), 3 MiB + 17 bytes
    expect(rewrites.slice(1).every((x) => x.query.rewriteToken !== undefined)).toBe(true);
    expect(l.filter(isMedia).length).toBe(0);
    expect(sha(await rawBytes(r.bucket, 'copy-dst.bin'))).toBe(sha(data));
  });

  it('a create-only copy is enforced by the server (rewrite with ifGenerationMatch=0)', async () => {
    const bucket = `t-${randomUUID().slice(0, 8)}`;
    await raw.createBucket(bucket);
    const backend = await createGcsBackend({ bucket, apiEndpoint: emu.endpoint, projectId: emu.projectId });
    expect(backend.capabilities.conditionalCopy).toBe(true);
    await raw.bucket(bucket).file('a').save('from a');
    await raw.bucket(bucket).file('b').save('b was here');
    // No pre-check here: only the server's precondition can refuse it.
    await expect(backend.copy('a', 'b', { ifNoneMatch: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect((await raw.bucket(bucket).file('b').download())[0].toString()).toBe('b was here');
    await backend.copy('a', 'c', { ifNoneMatch: true });
    expect((await raw.bucket(bucket).file('c').download())[0].toString()).toBe('from a');
    await backend.copy('a', 'b'); // without it, copy overwrites
    expect((await raw.bucket(bucket).file('b').download())[0].toString()).toBe('from a');
  });

  it('keys with spaces, unicode, +, %, # and = round-trip and list verbatim', async () => {
    const names = [
      'with space.txt',
      'ünï cödé ✓.txt',
      'a+b.txt',
      '100%.txt',
      '%2F.txt',
      'hash#tag.txt',
      'eq=1&x?.txt',
    ];
    await r.fs.promises.mkdir(r.uri('odd names'), { recursive: true });
    for (const n of names) await r.fs.promises.writeFile(r.uri(`odd names/${n}`), n);
    expect(((await r.fs.promises.readdir(r.uri('odd names'))) as string[]).sort()).toEqual([...names].sort());
    for (const n of names) {
      expect(await r.fs.promises.readFile(r.uri(`odd names/${n}`), 'utf8')).toBe(n);
      // the stored name is the literal key
      expect((await rawBytes(r.bucket, `odd names/${n}`)).toString()).toBe(n);
    }
    // a big one through a resumable session too
    const big = payload(CHUNK + 10, 19);
    await r.fs.promises.writeFile(r.uri('odd names/ü +%#.bin'), big);
    expect(sha(await rawBytes(r.bucket, 'odd names/ü +%#.bin'))).toBe(sha(big));
  });

  it('listing 10,001 keys pages through small pages and misses none', async () => {
    const paged = await rig({ listPageSize: 500 });
    try {
      const keys = Array.from({ length: 10_001 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      await paged.fs.promises.mkdir(paged.uri('many'), { recursive: true });
      // seeded with media uploads over a keep-alive agent (the SDK's save() is ~10x slower per object)
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const url = new URL(emu.endpoint);
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < keys.length) {
            const k = keys[next++]!;
            await new Promise<void>((resolve, reject) => {
              const req = request(
                {
                  host: url.hostname,
                  port: url.port,
                  method: 'POST',
                  path: `/upload/storage/v1/b/${paged.bucket}/o?uploadType=media&name=${encodeURIComponent(k)}`,
                  headers: { 'Content-Length': 0 },
                  agent,
                },
                (res) => {
                  res.resume();
                  res.on('end', () =>
                    res.statusCode === 200 ? resolve() : reject(new Error(`seed ${res.statusCode}`)),
                  );
                },
              );
              req.on('error', reject);
              req.end();
            });
          }
        }),
      );
      agent.destroy();
      emu.resetStats();
      const names = (await paged.fs.promises.readdir(paged.uri('many'))) as string[];
      expect(names.length).toBe(10_001);
      expect(new Set(names).size).toBe(10_001);
      const lists = log().filter((x) => x.method === 'GET' && /\/o$/.test(x.path));
      expect(lists.length).toBeGreaterThanOrEqual(21);
      expect(lists.every((x) => Number(x.query.maxResults) <= 500)).toBe(true);
      expect(lists.slice(1).every((x) => x.query.pageToken !== undefined)).toBe(true);
    } finally {
      await paged.close();
    }
  }, 120_000);

  it('rm -r deletes every key under a directory and leaves siblings', async () => {
    await r.fs.promises.mkdir(r.uri('tree/a/b'), { recursive: true });
    for (let i = 0; i < 150; i++)
      await raw.bucket(r.bucket).file(`tree/a/f${i}`).save('x', { resumable: false });
    await r.fs.promises.writeFile(r.uri('tree-sibling.txt'), 'keep');
    await r.fs.promises.rm(r.uri('tree'), { recursive: true });
    await expect(r.fs.promises.stat(r.uri('tree'))).rejects.toMatchObject({ code: 'ENOENT' });
    const [left] = await raw.bucket(r.bucket).getFiles({ prefix: 'tree/' });
    expect(left.length).toBe(0);
    expect(await r.fs.promises.readFile(r.uri('tree-sibling.txt'), 'utf8')).toBe('keep');
  });

  it('errors name the URI and never contain the configured service-account key', async () => {
    const canary = '-----BEGIN PRIVATE KEY-----avfs-canary-DO-NOT-LEAK-----END PRIVATE KEY-----';
    const withKey = await rig({
      credentials: JSON.stringify({
        type: 'service_account',
        client_email: 'x@y.iam.gserviceaccount.com',
        private_key: canary,
        private_key_id: 'avfs-canary-key-id',
      }),
    });
    try {
      const err = await withKey.fs.promises
        .readFile(withKey.uri('missing.txt'))
        .catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('ENOENT');
      expect((err as { path?: string }).path).toBe(withKey.uri('missing.txt'));
      const text = `${String(err)} ${inspect(err, { depth: 8 })}`;
      expect(text).not.toContain('avfs-canary');
    } finally {
      await withKey.close();
    }
    // With a custom endpoint the SDK sends no credentials (above); here it must use the key, and
    // signing with it fails: the failure still names the URI and shows none of the key.
    const usingKey = await rig({
      useAuthWithCustomEndpoint: true,
      credentials: JSON.stringify({
        type: 'service_account',
        client_email: 'x@y.iam.gserviceaccount.com',
        private_key: canary,
        private_key_id: 'avfs-canary-key-id',
      }),
    });
    try {
      const err = await usingKey.fs.promises
        .readFile(usingKey.uri('missing.txt'))
        .catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as { path?: string }).path).toBe(usingKey.uri('missing.txt'));
      const text = `${String(err)} ${inspect(err, { depth: 8 })} ${(err as Error).stack ?? ''}`;
      expect(text).not.toContain('avfs-canary');
    } finally {
      await usingKey.close();
    }
  });

  it('a malformed service-account key is EINVAL, and the error quotes none of it', async () => {
    const canary = 'avfs-canary-malformed-key-DO-NOT-LEAK';
    for (const credentials of [
      `{"type":"service_account","private_key":"${canary}" oops}`,
      'null',
      `["${canary}"]`,
    ]) {
      const err = await rig({ credentials }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as { code?: string }).code).toBe('EINVAL');
      expect(`${String(err)} ${inspect(err, { depth: 8 })}`).not.toContain(canary);
    }
  });

  it('rejects a chunk size that is not a multiple of 256 KiB', async () => {
    await expect(rig({ chunkSize: 100_000 })).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('gcs error table', () => {
  const api = (status: number, reason = ''): Error =>
    Object.assign(new Error(`HTTP ${status}`), { code: status, errors: reason ? [{ reason }] : [] });
  const rows: [string, Error, string, boolean][] = [
    ['404 notFound', api(404, 'notFound'), 'ENOENT', false],
    ['403 forbidden', api(403, 'forbidden'), 'EACCES', false],
    ['401', api(401, 'authError'), 'EACCES', false],
    ['412 conditionNotMet (create-only)', api(412, 'conditionNotMet'), 'EEXIST', false],
    ['429 rateLimitExceeded', api(429, 'rateLimitExceeded'), 'EAGAIN', true],
    ['500', api(500, 'backendError'), 'EAGAIN', true],
    ['503', api(503), 'EAGAIN', true],
    ['504', api(504), 'ETIMEDOUT', true],
    ['400 invalid', api(400, 'invalid'), 'EINVAL', false],
    ['our own HTTP error (410 gone)', new GcsHttpError(410, 'gone'), 'ENOENT', false],
    ['ECONNRESET', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'ECONNRESET', true],
    [
      'an untrusted TLS certificate',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'EPROTO',
      false,
    ],
    ['an unknown 4xx', api(418), 'EIO', false],
  ];
  for (const [name, err, code, retryable] of rows) {
    it(`${name} → ${code}${retryable ? ' (retryable)' : ''}`, () => {
      const mapped = mapGcsError(err, { syscall: 'open', path: 'gs://b/k' });
      expect(mapped.code).toBe(code);
      expect(mapped.retryable).toBe(retryable);
      expect(mapped.path).toBe('gs://b/k');
      expect(mapped.cause).toBe(err);
      expect(mapped.message.startsWith(`${code}: `)).toBe(true);
    });
  }
});
