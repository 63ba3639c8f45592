/**
 * The GCS emulator, driven by the raw `@google-cloud/storage` SDK (never by our adapter) and by raw
 * `fetch` where the SDK would hide a wire detail. Expectations come from the GCS JSON API docs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { ApiError, CRC32C, IdempotencyStrategy, Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { crc32cBase64, globToRegExp, startGcsEmulator, type GcsEmulator } from './server.js';

const KiB = 1024;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const md5b64 = (b: Uint8Array): string => createHash('md5').update(b).digest('base64');
const sdkCrc32c = (b: Uint8Array): string => {
  const c = new CRC32C();
  c.update(Buffer.from(b));
  return c.toString();
};

let emu: GcsEmulator;
let storage: Storage;
let retryingStorage: Storage;
let bucketSeq = 0;

const retryOptions = { maxRetries: 3, retryDelayMultiplier: 1.1, totalTimeout: 20, maxRetryDelay: 1 }; // < 1 s breaks file.save(): async-retry minTimeout is 1000 ms;

/**
 * A Storage that has never run a non-idempotent call: the SDK flips the shared
 * `retryOptions.autoRetry` off for those (e.g. `file.save()` without a precondition) and a File
 * created while it is off keeps `instanceRetryValue = false`, so later retries silently vanish.
 */
function freshStorage(): Storage {
  return new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId, retryOptions });
}

function newBucketName(): string {
  bucketSeq++;
  return `bkt-${process.pid}-${bucketSeq}`;
}

async function newBucket() {
  const [bucket] = await storage.createBucket(newBucketName());
  return bucket;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function expectApiError(p: Promise<unknown>, code: number): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(code);
    return err as ApiError;
  }
  throw new Error(`expected an ApiError ${code}, got success`);
}

/** Starts a resumable session with raw fetch; returns the session URL. */
async function startSession(bucket: string, name: string): Promise<string> {
  const r = await fetch(
    `${emu.endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=${encodeURIComponent(name)}`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Upload-Content-Type': 'application/octet-stream' },
      body: JSON.stringify({}),
    },
  );
  expect(r.status).toBe(200);
  const loc = r.headers.get('location');
  expect(loc).toBeTruthy();
  return loc!;
}

function putChunk(url: string, contentRange: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return fetch(url, { method: 'PUT', headers: { 'Content-Range': contentRange, ...headers }, body });
}

beforeAll(async () => {
  emu = await startGcsEmulator({ maxBytesRewrittenPerCall: 1024 * KiB });
  storage = new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId, retryOptions });
  retryingStorage = new Storage({
    apiEndpoint: emu.endpoint,
    projectId: emu.projectId,
    retryOptions: { ...retryOptions, idempotencyStrategy: IdempotencyStrategy.RetryAlways },
  });
});

afterAll(async () => {
  await emu?.stop();
});

beforeEach(() => {
  emu.clearFaults();
  emu.resetStats();
});

describe('crc32c', () => {
  it('matches the SDK CRC32C and the RFC 3720 check value', () => {
    expect(crc32cBase64(Buffer.from('123456789'))).toBe(
      Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'),
    );
    for (const n of [0, 1, 7, 100, 4096, 70_001]) {
      const b = randomBytes(n);
      expect(crc32cBase64(b)).toBe(sdkCrc32c(b));
    }
  });
});

describe('buckets', () => {
  it('create, get, list, delete', async () => {
    const name = newBucketName();
    const [bucket, createdRaw] = await storage.createBucket(name);
    const created = createdRaw as { kind?: string; name?: string };
    expect(created.kind).toBe('storage#bucket');
    expect(created.name).toBe(name);
    const [meta] = await bucket.getMetadata();
    expect(meta.name).toBe(name);
    const [exists] = await bucket.exists();
    expect(exists).toBe(true);
    const [list] = await storage.getBuckets();
    expect(list.map((b) => b.name)).toContain(name);
    await expectApiError(storage.createBucket(name), 409);
    await bucket.delete();
    expect((await bucket.exists())[0]).toBe(false);
    await expectApiError(bucket.getMetadata(), 404);
    const log = emu.stats().log;
    expect(
      log.some((r) => r.method === 'POST' && r.path === '/storage/v1/b' && r.query.project === 'test'),
    ).toBe(true);
    expect(
      log.some((r) => r.method === 'DELETE' && r.path === `/storage/v1/b/${name}` && r.status === 204),
    ).toBe(true);
  });

  it('rejects invalid bucket names, non-empty deletes and unknown buckets', async () => {
    await expectApiError(storage.createBucket('Bad_Name'), 400);
    const bucket = await newBucket();
    await bucket.file('x').save('x', { resumable: false });
    await expectApiError(bucket.delete(), 409);
    await expectApiError(storage.bucket('no-such-bucket-zz').file('a').save('a', { resumable: false }), 404);
    await expectApiError(storage.bucket('no-such-bucket-zz').getFiles(), 404);
  });
});

describe('uploads and downloads', () => {
  it('simple (multipart) upload reads back with matching sha256, crc32c and md5', async () => {
    const bucket = await newBucket();
    const data = randomBytes(300 * KiB + 17);
    const file = bucket.file('dir/simple.bin');
    await file.save(data, {
      resumable: false,
      contentType: 'application/x-test',
      metadata: { metadata: { a: '1' } },
    });
    const upload = emu.stats().log.find((r) => r.path === `/upload/storage/v1/b/${bucket.name}/o`);
    expect(upload?.query.uploadType).toBe('multipart');
    expect(upload?.query.name).toBe('dir/simple.bin');
    const [meta] = await file.getMetadata();
    expect(meta.kind).toBe('storage#object');
    expect(meta.size).toBe(String(data.length));
    expect(meta.contentType).toBe('application/x-test');
    expect(meta.metadata).toEqual({ a: '1' });
    expect(meta.crc32c).toBe(sdkCrc32c(data));
    expect(meta.md5Hash).toBe(md5b64(data));
    expect(typeof meta.generation).toBe('string');
    expect(meta.metageneration).toBe('1');
    const [back] = await file.download();
    expect(sha256(back)).toBe(sha256(data));
    // full download validated by the SDK against x-goog-hash
    const viaStream = await readAll(file.createReadStream({ validation: 'crc32c' }));
    expect(sha256(viaStream)).toBe(sha256(data));
    const r = await fetch(
      `${emu.endpoint}/storage/v1/b/${bucket.name}/o/${encodeURIComponent('dir/simple.bin')}?alt=media`,
    );
    expect(r.headers.get('x-goog-hash')).toBe(`crc32c=${sdkCrc32c(data)},md5=${md5b64(data)}`);
    expect(r.headers.get('x-goog-generation')).toBe(meta.generation);
  });

  it('resumable upload in 256 KiB chunks of a ~3 MiB payload', async () => {
    const bucket = await newBucket();
    const data = randomBytes(3 * 1024 * KiB + 12_345);
    const file = bucket.file('big/resumable.bin');
    await pipeline(Readable.from([data]), file.createWriteStream({ resumable: true, chunkSize: 256 * KiB }));
    const puts = emu.stats().log.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(13);
    expect(puts[0]!.contentRange).toBe(`bytes 0-${256 * KiB - 1}/*`);
    expect(puts[0]!.responseRange).toBe(`bytes=0-${256 * KiB - 1}`);
    expect(puts.at(-1)!.contentRange).toBe(`bytes ${12 * 256 * KiB}-${data.length - 1}/${data.length}`);
    expect(puts.at(-1)!.status).toBe(200);
    const [back] = await file.download();
    expect(sha256(back)).toBe(sha256(data));
    const [meta] = await file.getMetadata();
    expect(meta.crc32c).toBe(sdkCrc32c(data));
  });

  it('resumable upload without chunkSize sends one PUT bytes 0-*/*', async () => {
    const bucket = await newBucket();
    const data = randomBytes(700 * KiB);
    const file = bucket.file('single-put.bin');
    await pipeline(Readable.from([data]), file.createWriteStream({ resumable: true }));
    const puts = emu.stats().log.filter((r) => r.method === 'PUT');
    expect(puts.map((p) => p.contentRange)).toEqual(['bytes 0-*/*']);
    expect(sha256((await file.download())[0])).toBe(sha256(data));
  });

  it('enforces the 256 KiB rule, exact offsets and accepts overlap (raw fetch)', async () => {
    const bucket = await newBucket();
    const url = await startSession(bucket.name, 'raw.bin');
    const data = randomBytes(600 * KiB);
    // non-final chunk that is not a multiple of 256 KiB
    const bad = await putChunk(url, `bytes 0-${100 * KiB - 1}/*`, data.subarray(0, 100 * KiB));
    expect(bad.status).toBe(400);
    const err = (await bad.json()) as { error: { code: number; errors: Array<{ reason: string }> } };
    expect(err.error.code).toBe(400);
    // nothing persisted: 308 without Range
    const q0 = await putChunk(url, 'bytes */*', new Uint8Array(0));
    expect(q0.status).toBe(308);
    expect(q0.headers.get('range')).toBeNull();
    const c1 = await putChunk(url, `bytes 0-${256 * KiB - 1}/*`, data.subarray(0, 256 * KiB));
    expect(c1.status).toBe(308);
    expect(c1.headers.get('range')).toBe(`bytes=0-${256 * KiB - 1}`);
    // a chunk starting past the persisted offset
    const gap = await putChunk(url, `bytes ${512 * KiB}-${768 * KiB - 1}/*`, data.subarray(0, 256 * KiB));
    expect(gap.status).toBe(400);
    // an overlapping chunk (starts at 0 again, 512 KiB long) is accepted from the persisted offset
    const overlap = await putChunk(url, `bytes 0-${512 * KiB - 1}/*`, data.subarray(0, 512 * KiB));
    expect(overlap.status).toBe(308);
    expect(overlap.headers.get('range')).toBe(`bytes=0-${512 * KiB - 1}`);
    // Content-Range that disagrees with the body length
    const short = await putChunk(
      url,
      `bytes ${512 * KiB}-${600 * KiB - 1}/${600 * KiB}`,
      data.subarray(512 * KiB, 590 * KiB),
    );
    expect(short.status).toBe(400);
    const last = await putChunk(
      url,
      `bytes ${512 * KiB}-${600 * KiB - 1}/${600 * KiB}`,
      data.subarray(512 * KiB),
      {
        'X-Goog-Hash': `crc32c=${sdkCrc32c(data)},md5=${md5b64(data)}`,
      },
    );
    expect(last.status).toBe(200);
    const obj = (await last.json()) as { size: string; crc32c: string };
    expect(obj.size).toBe(String(600 * KiB));
    expect(obj.crc32c).toBe(sdkCrc32c(data));
    // a status query after completion returns the object
    const done = await putChunk(url, 'bytes */*', new Uint8Array(0));
    expect(done.status).toBe(200);
    // a wrong X-Goog-Hash on the final chunk is rejected
    const url2 = await startSession(bucket.name, 'raw2.bin');
    const badHash = await putChunk(url2, 'bytes 0-9/10', data.subarray(0, 10), {
      'X-Goog-Hash': `crc32c=AAAAAA==`,
    });
    expect(badHash.status).toBe(400);
    // cancel
    const url3 = await startSession(bucket.name, 'raw3.bin');
    expect((await fetch(url3, { method: 'DELETE' })).status).toBe(499);
    expect(await bucket.file('raw3.bin').exists()).toEqual([false]);
  });

  it('a broken chunk persists only whole 256 KiB blocks and the status query reports them (raw fetch)', async () => {
    const bucket = await newBucket();
    const url = await startSession(bucket.name, 'broken.bin');
    const data = randomBytes(1024 * KiB + 5);
    for (let i = 0; i < 2; i++) {
      const r = await putChunk(
        url,
        `bytes ${i * 256 * KiB}-${(i + 1) * 256 * KiB - 1}/*`,
        data.subarray(i * 256 * KiB, (i + 1) * 256 * KiB),
      );
      expect(r.status).toBe(308);
    }
    // third chunk is 512 KiB; the connection is reset after 300 KiB of it
    await expect(
      putChunk(url, `bytes ${512 * KiB}-${1024 * KiB - 1}/*`, data.subarray(512 * KiB, 1024 * KiB), {
        'x-emulator-fault': `reset-after-${300 * KiB}`,
      }),
    ).rejects.toThrow();
    const q = await putChunk(url, 'bytes */*', new Uint8Array(0));
    expect(q.status).toBe(308);
    expect(q.headers.get('range')).toBe(`bytes=0-${768 * KiB - 1}`);
    const rest = await putChunk(
      url,
      `bytes ${768 * KiB}-${data.length - 1}/${data.length}`,
      data.subarray(768 * KiB),
    );
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { crc32c: string }).crc32c).toBe(sdkCrc32c(data));
  });

  it('the SDK resumes a resumable upload reset on its 3rd chunk from the persisted offset', async () => {
    const bucket = retryingStorage.bucket((await newBucket()).name);
    const data = randomBytes(1536 * KiB + 99);
    const file = bucket.file('resume/after-reset.bin');
    emu.inject({ match: { method: 'PUT', uploadChunk: 3 }, kind: 'reset-after', afterBytes: 1000 });
    await pipeline(Readable.from([data]), file.createWriteStream({ resumable: true, chunkSize: 256 * KiB }));
    const st = emu.stats();
    expect(st.faultsFired).toBe(1);
    const puts = st.log.filter((r) => r.method === 'PUT');
    const brokenAt = puts.findIndex((r) => r.fault !== undefined);
    expect(brokenAt).toBe(2);
    expect(puts[brokenAt]!.contentRange).toBe(`bytes ${512 * KiB}-${768 * KiB - 1}/*`);
    // the SDK then asks for the status and gets the persisted range
    const statusQuery = puts[brokenAt + 1]!;
    expect(statusQuery.contentRange).toBe('bytes */*');
    expect(statusQuery.status).toBe(308);
    expect(statusQuery.responseRange).toBe(`bytes=0-${512 * KiB - 1}`);
    // and resumes exactly there
    expect(puts[brokenAt + 2]!.contentRange).toBe(`bytes ${512 * KiB}-${768 * KiB - 1}/*`);
    const [meta] = await file.getMetadata();
    expect(meta.crc32c).toBe(sdkCrc32c(data));
    expect(sha256((await file.download())[0])).toBe(sha256(data));
  });

  it('empty objects: simple, single-PUT resumable and chunked resumable (`bytes 0--1/0`)', async () => {
    const bucket = await newBucket();
    await bucket.file('empty-simple').save(Buffer.alloc(0), { resumable: false });
    await pipeline(
      Readable.from([Buffer.alloc(0)]),
      bucket.file('empty-single').createWriteStream({ resumable: true }),
    );
    await pipeline(
      Readable.from([Buffer.alloc(0)]),
      bucket.file('empty-chunked').createWriteStream({ resumable: true, chunkSize: 256 * KiB }),
    );
    expect(
      emu
        .stats()
        .log.filter((r) => r.method === 'PUT')
        .map((r) => r.contentRange),
    ).toEqual(['bytes 0-*/*', 'bytes 0--1/0']);
    for (const n of ['empty-simple', 'empty-single', 'empty-chunked']) {
      const [meta] = await bucket.file(n).getMetadata();
      expect(meta.size).toBe('0');
      expect(meta.crc32c).toBe('AAAAAA==');
      expect((await bucket.file(n).download())[0].length).toBe(0);
    }
  });

  it('ranged downloads return the exact bytes with 206 and Content-Range', async () => {
    const bucket = await newBucket();
    const data = randomBytes(100_000);
    const file = bucket.file('ranged.bin');
    await file.save(data, { resumable: false });
    for (const [start, end] of [
      [0, 0],
      [10, 99],
      [65_536, 99_999],
      [99_999, 99_999],
    ] as const) {
      const got = await readAll(file.createReadStream({ start, end }));
      expect(got.equals(data.subarray(start, end + 1))).toBe(true);
    }
    const tail = await readAll(file.createReadStream({ start: 99_000 }));
    expect(tail.equals(data.subarray(99_000))).toBe(true);
    const ranged = emu.stats().log.filter((r) => r.range);
    expect(ranged.map((r) => r.range)).toContain('bytes=10-99');
    expect(ranged.every((r) => r.status === 206)).toBe(true);
    const url = `${emu.endpoint}/storage/v1/b/${bucket.name}/o/ranged.bin?alt=media`;
    const r = await fetch(url, { headers: { Range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe('bytes 10-19/100000');
    expect(Buffer.from(await r.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
    const suffix = await fetch(url, { headers: { Range: 'bytes=-5' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(-5))).toBe(true);
    expect((await fetch(url, { headers: { Range: 'bytes=100000-' } })).status).toBe(416);
  });

  it('validates object names', async () => {
    const bucket = await newBucket();
    for (const bad of ['a\nb', 'a\rb', '.', '..', 'x'.repeat(1025), 'é'.repeat(513)]) {
      await expectApiError(bucket.file(bad).save('x', { resumable: false }), 400);
    }
    await bucket.file('x'.repeat(1024)).save('ok', { resumable: false });
    await bucket.file('é'.repeat(512)).save('ok', { resumable: false });
    await bucket.file('sp ace/ü/#?%.txt').save('ok', { resumable: false });
    const [back] = await bucket.file('sp ace/ü/#?%.txt').download();
    expect(back.toString()).toBe('ok');
  });
});

describe('listing', () => {
  it('prefix, delimiter, pagination, offsets and matchGlob', async () => {
    const bucket = await newBucket();
    const names = [
      'a/1.json',
      'a/2.txt',
      'a/b/3.json',
      'a/b/c/4.json',
      'a/b/c/5.bin',
      'b/6.json',
      'c.txt',
      'd/7.txt',
      'e/8.txt',
      'f/9.txt',
      'g/10.txt',
    ];
    for (const n of names) await bucket.file(n).save(n, { resumable: false });

    const [all] = await bucket.getFiles();
    expect(all.map((f) => f.name)).toEqual([...names].sort());

    const [aFiles] = await bucket.getFiles({ prefix: 'a/b/' });
    expect(aFiles.map((f) => f.name)).toEqual(['a/b/3.json', 'a/b/c/4.json', 'a/b/c/5.bin']);

    const [top, , topResp] = await bucket.getFiles({ delimiter: '/', autoPaginate: false });
    expect(top.map((f) => f.name)).toEqual(['c.txt']);
    expect((topResp as { prefixes?: string[] }).prefixes).toEqual(['a/', 'b/', 'd/', 'e/', 'f/', 'g/']);

    const [inA, , inAResp] = await bucket.getFiles({ prefix: 'a/', delimiter: '/', autoPaginate: false });
    expect(inA.map((f) => f.name)).toEqual(['a/1.json', 'a/2.txt']);
    expect((inAResp as { prefixes?: string[] }).prefixes).toEqual(['a/b/']);

    // manual pagination: 11 objects, 3 per page -> 4 pages
    emu.resetStats();
    const seen: string[] = [];
    let query: Record<string, unknown> | null = { maxResults: 3, autoPaginate: false };
    for (let pages = 0; query && pages < 10; pages++) {
      const [files, next]: [Array<{ name: string }>, Record<string, unknown> | null, unknown] =
        (await bucket.getFiles(query)) as unknown as [
          Array<{ name: string }>,
          Record<string, unknown> | null,
          unknown,
        ];
      expect(files.length).toBeLessThanOrEqual(3);
      seen.push(...files.map((f) => f.name));
      query = next ? { ...next, autoPaginate: false } : null;
    }
    expect(seen).toEqual([...names].sort());
    const listCalls = emu.stats().log.filter((r) => r.path === `/storage/v1/b/${bucket.name}/o`);
    expect(listCalls.length).toBe(4);
    expect(listCalls[1]!.query.pageToken).toBeTruthy();

    // pagination with a delimiter counts prefixes toward maxResults and never repeats one
    const seenTop: string[] = [];
    let q2: Record<string, unknown> | null = { delimiter: '/', maxResults: 2, autoPaginate: false };
    for (let pages = 0; q2 && pages < 10; pages++) {
      const [files, next, resp] = (await bucket.getFiles(q2)) as unknown as [
        Array<{ name: string }>,
        Record<string, unknown> | null,
        { prefixes?: string[] },
      ];
      seenTop.push(...files.map((f) => f.name), ...(resp.prefixes ?? []));
      q2 = next ? { ...next, autoPaginate: false } : null;
    }
    expect(seenTop.sort()).toEqual(['a/', 'b/', 'c.txt', 'd/', 'e/', 'f/', 'g/']);

    // maxResults above 1000 is capped, not rejected
    const [capped] = await bucket.getFiles({ maxResults: 5000, autoPaginate: false });
    expect(capped.length).toBe(names.length);

    const [range] = await bucket.getFiles({ startOffset: 'a/b', endOffset: 'd/' });
    expect(range.map((f) => f.name)).toEqual([
      'a/b/3.json',
      'a/b/c/4.json',
      'a/b/c/5.bin',
      'b/6.json',
      'c.txt',
    ]);

    const [json] = await bucket.getFiles({ matchGlob: '**/*.json' });
    expect(json.map((f) => f.name)).toEqual(['a/1.json', 'a/b/3.json', 'a/b/c/4.json', 'b/6.json']);
    const [oneLevel] = await bucket.getFiles({ matchGlob: 'a/*' });
    expect(oneLevel.map((f) => f.name)).toEqual(['a/1.json', 'a/2.txt']);
    const [alt] = await bucket.getFiles({ matchGlob: '{c,d/?}*.txt' });
    expect(alt.map((f) => f.name)).toEqual(['c.txt', 'd/7.txt']);
  });

  it('includeTrailingDelimiter lists a directory placeholder both as prefix and item', async () => {
    const bucket = await newBucket();
    for (const n of ['dir/', 'dir/x', 'other/', 'top']) await bucket.file(n).save('', { resumable: false });
    const [files, , resp] = (await bucket.getFiles({
      delimiter: '/',
      includeTrailingDelimiter: true,
      autoPaginate: false,
    })) as unknown as [Array<{ name: string }>, unknown, { prefixes?: string[] }];
    expect(files.map((f) => f.name)).toEqual(['dir/', 'other/', 'top']);
    expect(resp.prefixes).toEqual(['dir/', 'other/']);
    const [plain, , plainResp] = (await bucket.getFiles({
      delimiter: '/',
      autoPaginate: false,
    })) as unknown as [Array<{ name: string }>, unknown, { prefixes?: string[] }];
    expect(plain.map((f) => f.name)).toEqual(['top']);
    expect(plainResp.prefixes).toEqual(['dir/', 'other/']);
    // raw: bad maxResults / pageToken
    const base = `${emu.endpoint}/storage/v1/b/${bucket.name}/o`;
    expect((await fetch(`${base}?maxResults=-1`)).status).toBe(400);
    expect((await fetch(`${base}?pageToken=%%%`)).status).toBe(400);
  });

  it('glob translation', () => {
    expect(globToRegExp('**/*.json').test('x.json')).toBe(true);
    expect(globToRegExp('a/*').test('a/b/c')).toBe(false);
    expect(globToRegExp('a/**').test('a/b/c')).toBe(true);
    expect(globToRegExp('[!a]?.txt').test('b1.txt')).toBe(true);
    expect(globToRegExp('[!a]?.txt').test('a1.txt')).toBe(false);
  });
});

describe('copy, compose, delete', () => {
  it('file.copy() via rewrite, single and multi-call', async () => {
    const bucket = await newBucket();
    const other = await newBucket();
    const small = randomBytes(10 * KiB);
    await bucket.file('src-small').save(small, { resumable: false, contentType: 'text/x-small' });
    await bucket.file('src-small').copy(other.file('dst-small'));
    const [m] = await other.file('dst-small').getMetadata();
    expect(m.contentType).toBe('text/x-small');
    expect(m.crc32c).toBe(sdkCrc32c(small));
    expect(m.md5Hash).toBe(md5b64(small));

    const big = randomBytes(3 * 1024 * KiB + 1); // 1 MiB per call -> 4 calls
    await bucket.file('src-big').save(big, { resumable: false });
    emu.resetStats();
    await bucket.file('src-big').copy(bucket.file('dst/big'));
    const rewrites = emu.stats().log.filter((r) => r.path.includes('/rewriteTo/'));
    expect(rewrites.length).toBe(4);
    expect(rewrites[0]!.query.rewriteToken).toBeUndefined();
    expect(rewrites.slice(1).every((r) => r.query.rewriteToken)).toBe(true);
    expect(rewrites[0]!.path).toBe(
      `/storage/v1/b/${bucket.name}/o/src-big/rewriteTo/b/${bucket.name}/o/dst%2Fbig`,
    );
    const [back] = await bucket.file('dst/big').download();
    expect(sha256(back)).toBe(sha256(big));

    await expectApiError(bucket.file('missing').copy(bucket.file('x')), 404);
    // raw: source preconditions and a destination create-only precondition
    const rw = (qs: string) =>
      fetch(`${emu.endpoint}/storage/v1/b/${bucket.name}/o/src-small/rewriteTo/b/${bucket.name}/o/z?${qs}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
    expect((await rw('ifSourceGenerationMatch=1')).status).toBe(412);
    const ok = await rw('ifGenerationMatch=0');
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { done: boolean }).done).toBe(true);
    const again = await rw('ifGenerationMatch=0');
    expect(again.status).toBe(412);
    expect((await rw('maxBytesRewrittenPerCall=1000')).status).toBe(400);
    // raw: a bogus rewriteToken is rejected
    const bogus = await fetch(
      `${emu.endpoint}/storage/v1/b/${bucket.name}/o/src-big/rewriteTo/b/${bucket.name}/o/y?rewriteToken=nope`,
      { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' },
    );
    expect(bogus.status).toBe(400);
  });

  it('bucket.combine() composes up to 32 sources', async () => {
    const bucket = await newBucket();
    const parts = [randomBytes(1000), randomBytes(2000), randomBytes(3)];
    for (let i = 0; i < parts.length; i++)
      await bucket.file(`part-${i}`).save(parts[i]!, { resumable: false });
    const [combined] = await bucket.combine(
      parts.map((_, i) => `part-${i}`),
      'combined.bin',
    );
    const [meta] = await combined.getMetadata();
    const all = Buffer.concat(parts);
    expect(meta.componentCount).toBe(3);
    expect(meta.crc32c).toBe(sdkCrc32c(all));
    expect(meta.md5Hash).toBeUndefined();
    expect(sha256((await combined.download())[0])).toBe(sha256(all));
    const compose = emu.stats().log.find((r) => r.path.endsWith('/compose'));
    expect(compose?.path).toBe(`/storage/v1/b/${bucket.name}/o/combined.bin/compose`);

    await expectApiError(bucket.combine(['part-0', 'nope'], 'x'), 404);
    const tooMany = Array.from({ length: 33 }, () => 'part-2');
    await expectApiError(bucket.combine(tooMany, 'y'), 400);
  });

  it('delete returns 204 and missing objects are 404 ApiErrors', async () => {
    const bucket = await newBucket();
    const file = bucket.file('to-delete');
    await file.save('bye', { resumable: false });
    await file.delete();
    const del = emu.stats().log.find((r) => r.method === 'DELETE');
    expect(del?.status).toBe(204);
    await expectApiError(file.delete(), 404);
    await expectApiError(file.getMetadata(), 404);
    await expectApiError(file.download(), 404);
    expect((await file.exists())[0]).toBe(false);
  });
});

describe('generations and preconditions', () => {
  it('overwrite bumps generation, setMetadata bumps metageneration', async () => {
    const bucket = await newBucket();
    const file = bucket.file('gen');
    await file.save('v1', { resumable: false });
    const [m1] = await file.getMetadata();
    await file.save('v2', { resumable: false });
    const [m2] = await file.getMetadata();
    expect(BigInt(m2.generation!)).toBeGreaterThan(BigInt(m1.generation!));
    expect(m2.metageneration).toBe('1');
    const [m3] = await file.setMetadata({ metadata: { k: 'v' }, contentType: 'text/plain' });
    expect(m3.generation).toBe(m2.generation);
    expect(m3.metageneration).toBe('2');
    expect(m3.metadata).toEqual({ k: 'v' });
    const [m4] = await file.setMetadata({ metadata: { k: null, j: 'w' } });
    expect(m4.metageneration).toBe('3');
    expect(m4.metadata).toEqual({ j: 'w' });
    // reading an older generation of a non-versioned bucket is a 404
    await expectApiError(bucket.file('gen', { generation: Number(m1.generation) }).download(), 404);
  });

  it('ifGenerationMatch / ifMetagenerationMatch mismatches are 412', async () => {
    const bucket = await newBucket();
    const file = bucket.file('pre');
    await file.save('one', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    const e1 = await expectApiError(
      file.save('two', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } }),
      412,
    );
    expect(e1.errors?.[0]?.reason).toBe('conditionNotMet');
    const [old] = await file.getMetadata();
    await file.save('three', {
      resumable: false,
      preconditionOpts: { ifGenerationMatch: Number(old.generation) },
    });
    await expectApiError(
      file.save('four', {
        resumable: false,
        preconditionOpts: { ifGenerationMatch: Number(old.generation) },
      }),
      412,
    );
    await expectApiError(file.setMetadata({ metadata: { a: 'b' } }, { ifMetagenerationMatch: 7 }), 412);
    const [cur] = await file.getMetadata();
    await file.setMetadata({ metadata: { a: 'b' } }, { ifMetagenerationMatch: Number(cur.metageneration) });
    await expectApiError(file.delete({ ifGenerationMatch: 1 }), 412);
    // raw: a failed *NotMatch on a read is 304 Not Modified, on a write 412
    const [now] = await file.getMetadata();
    const url = `${emu.endpoint}/storage/v1/b/${bucket.name}/o/pre`;
    expect((await fetch(`${url}?ifGenerationNotMatch=${now.generation}`)).status).toBe(304);
    expect((await fetch(`${url}?ifGenerationNotMatch=1`)).status).toBe(200);
    expect((await fetch(`${url}?ifMetagenerationNotMatch=${now.metageneration}&alt=media`)).status).toBe(304);
    const patch = await fetch(`${url}?ifMetagenerationNotMatch=${now.metageneration}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(patch.status).toBe(412);
    // resumable create-only on an existing object fails at session start
    await expect(
      pipeline(
        Readable.from([Buffer.from('x')]),
        file.createWriteStream({ resumable: true, preconditionOpts: { ifGenerationMatch: 0 } }),
      ),
    ).rejects.toThrow(/412/);
    expect((await file.download())[0].toString()).toBe('three');
  });
});

describe('fault injection', () => {
  it('a single injected 503 is retried by the SDK', async () => {
    const bucket = await newBucket();
    await bucket.file('retry-me').save('payload', { resumable: false });
    const file = freshStorage().bucket(bucket.name).file('retry-me');
    emu.resetStats();
    emu.inject({ match: { method: 'GET', pathIncludes: '/o/retry-me' }, kind: '503' });
    const [meta] = await file.getMetadata();
    expect(meta.name).toBe('retry-me');
    const st = emu.stats();
    expect(st.requests).toBe(2);
    expect(st.log.map((r) => r.status)).toEqual([503, 200]);
    expect(st.faultsFired).toBe(1);
  });

  it('drop-response carries the request out, then resets the connection instead of answering', async () => {
    const bucket = await newBucket();
    emu.inject({ match: { method: 'POST', pathIncludes: 'uploadType=multipart' }, kind: 'drop-response' });
    const saved = freshStorage()
      .bucket(bucket.name)
      .file('answer-lost')
      .save('payload', { resumable: false, preconditionOpts: { ifGenerationMatch: 0 } });
    // The SDK retries the lost answer; its create-only retry meets the object the first attempt stored.
    await expect(saved).rejects.toMatchObject({ code: 412 });
    const [back] = await bucket.file('answer-lost').download();
    expect(back.toString()).toBe('payload');
    expect(emu.stats().faultsFired).toBeGreaterThanOrEqual(1);
  });

  it('a persistent 503 surfaces as an ApiError 503', async () => {
    const bucket = await newBucket();
    await bucket.file('always-503').save('payload', { resumable: false });
    const file = freshStorage().bucket(bucket.name).file('always-503');
    emu.inject({ match: { pathIncludes: '/o/always-503' }, kind: '503', times: Infinity });
    const err = await expectApiError(file.getMetadata(), 503);
    expect(err.errors?.[0]?.reason).toBe('backendError');
    expect(emu.stats().log.filter((r) => r.status === 503).length).toBe(4); // 1 + maxRetries
  });

  it('download resets: before the headers the SDK retries, mid-body it surfaces ECONNRESET', async () => {
    const bucket = await newBucket();
    const data = randomBytes(200 * KiB);
    await bucket.file('reset-download').save(data, { resumable: false });
    const file = freshStorage().bucket(bucket.name).file('reset-download');
    emu.resetStats();
    emu.inject({ match: { method: 'GET', pathIncludes: 'alt=media' }, kind: 'reset-after', afterBytes: 0 });
    const [back] = await file.download();
    expect(sha256(back)).toBe(sha256(data));
    expect(emu.stats().faultsFired).toBe(1);
    expect(emu.stats().log.filter((r) => r.query.alt === 'media').length).toBe(2);

    // SDK 7.x does not retry once the body has started: the caller must resume with a range.
    emu.inject({
      match: { method: 'GET', pathIncludes: 'alt=media' },
      kind: 'reset-after',
      afterBytes: 64 * KiB,
    });
    await expect(file.download()).rejects.toMatchObject({ code: 'ECONNRESET' });
    const [restPart] = await file.download({ start: 64 * KiB });
    expect(restPart.equals(data.subarray(64 * KiB))).toBe(true);
  });

  it('a 503 on the 2nd resumable chunk: the SDK queries the status and resumes', async () => {
    const bucket = retryingStorage.bucket((await newBucket()).name);
    const data = randomBytes(1024 * KiB + 1);
    const file = bucket.file('resume/after-503.bin');
    emu.inject({ match: { uploadChunk: 2 }, kind: '503' });
    await pipeline(Readable.from([data]), file.createWriteStream({ resumable: true, chunkSize: 256 * KiB }));
    const puts = emu.stats().log.filter((r) => r.method === 'PUT');
    expect(puts[1]!.status).toBe(503);
    expect(puts[2]!.contentRange).toBe('bytes */*');
    expect(puts[2]!.responseRange).toBe(`bytes=0-${256 * KiB - 1}`);
    expect(puts[3]!.contentRange).toBe(`bytes ${256 * KiB}-${512 * KiB - 1}/*`);
    expect((await file.getMetadata())[0].crc32c).toBe(sdkCrc32c(data));
  });

  it('the x-emulator-fault header targets one raw request', async () => {
    const bucket = await newBucket();
    await bucket.file('h').save('h', { resumable: false });
    const url = `${emu.endpoint}/storage/v1/b/${bucket.name}/o/h`;
    const r = await fetch(url, { headers: { 'x-emulator-fault': '503' } });
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: number } }).error.code).toBe(503);
    expect((await fetch(url)).status).toBe(200);
    await expect(fetch(url, { headers: { 'x-emulator-fault': 'reset-after-0' } })).rejects.toThrow();
  });
});

describe('lifecycle', () => {
  it('stop() closes idle keep-alive sockets and the port', async () => {
    const own = await startGcsEmulator();
    const s = new Storage({ apiEndpoint: own.endpoint, projectId: own.projectId, retryOptions });
    await s.createBucket('lifecycle-bkt');
    await s.bucket('lifecycle-bkt').file('k').save('v', { resumable: false });
    const t0 = Date.now();
    await own.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    await expect(fetch(`${own.endpoint}/storage/v1/b?project=test`)).rejects.toThrow();
  });
});
