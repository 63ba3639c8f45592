/**
 * The shared multipart writer against an in-process service that records what it is asked to do
 * (the cloud flavors are tested against real emulators; this pins the writer's own guarantees:
 * bounded buffers, ordering, planning, retries, abort on failure).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { fsError } from '../../src/core/errors.js';
import {
  crc32 as fastCrc32,
  crc32c,
  crc32Combine,
  crc32Implementation,
  crcFromBase64,
  crcToBase64,
} from '../../src/core/crc32.js';
import {
  createMultipartWriter,
  crc32Of,
  partSizeFor,
  planPartSize,
  S3_LIMITS,
  Segments,
  type MultipartService,
  type PartBody,
  type SegmentedMultipartService,
} from '../../src/backend/multipart.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** What a recording service's `complete` checks: the committed bytes match the size and CRC32 sent. */
function committed(bytes: Buffer, info: { size: number; crc32: number }) {
  expect(info.size).toBe(bytes.length);
  expect(info.crc32).toBe(crc32(bytes));
  return { key: 'k', size: info.size, mtime: new Date() };
}

interface Recorder extends MultipartService<string> {
  puts: Buffer[];
  parts: Map<number, Buffer>;
  partSizes: number[];
  completed: Buffer | undefined;
  aborted: string[];
  inflight: number;
  maxInflight: number;
  initiated: number;
}

function recorder(
  opts: { failPart?: (n: number, attempt: number) => Error | undefined; delayMs?: number } = {},
): Recorder {
  const attempts = new Map<number, number>();
  const r: Recorder = {
    puts: [],
    parts: new Map(),
    partSizes: [],
    completed: undefined,
    aborted: [],
    inflight: 0,
    maxInflight: 0,
    initiated: 0,
    async put(body) {
      r.puts.push(Buffer.from(body));
      return { key: 'k', size: body.length, mtime: new Date() };
    },
    async initiate() {
      r.initiated++;
      return 'upload-1';
    },
    async uploadPart(_id, n, body, info) {
      r.inflight++;
      r.maxInflight = Math.max(r.maxInflight, r.inflight);
      try {
        const attempt = (attempts.get(n) ?? 0) + 1;
        attempts.set(n, attempt);
        await new Promise((res) => setTimeout(res, opts.delayMs ?? 1));
        const err = opts.failPart?.(n, attempt);
        if (err) throw err;
        expect(info.crc32).toBe(crc32(body));
        r.parts.set(n, Buffer.from(body)); // copy: the writer reuses its buffers
        r.partSizes[n - 1] = body.length;
        return { token: `etag-${n}` };
      } finally {
        r.inflight--;
      }
    },
    async complete(_id, parts, info) {
      expect(parts.map((p) => p.partNumber)).toEqual(parts.map((_, i) => i + 1));
      r.completed = Buffer.concat(parts.map((p) => r.parts.get(p.partNumber)!));
      return committed(r.completed, info);
    },
    async abort(id) {
      r.aborted.push(id);
    },
    isRetryable: (err) => (err as { retryable?: boolean }).retryable === true,
  };
  return r;
}

function payload(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Writes `data` in chunks of `chunk` bytes, reusing ONE chunk buffer (as a hot path would). */
async function feed(w: { write(c: Uint8Array): Promise<void> }, data: Buffer, chunk: number): Promise<void> {
  const scratch = Buffer.allocUnsafe(chunk);
  for (let i = 0; i < data.length; i += chunk) {
    const n = Math.min(chunk, data.length - i);
    data.copy(scratch, 0, i, i + n);
    await w.write(scratch.subarray(0, n));
    scratch.fill(0xee); // the writer must have copied what it needs
  }
}

const small = { partSize: 5 * MiB, minPartSize: 5 * MiB };

describe('multipart writer', () => {
  it('an object smaller than a part goes as one put, nothing initiated', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, small);
    const data = payload(5 * MiB - 1);
    await feed(w, data, 64 * 1024);
    await w.close();
    expect(svc.initiated).toBe(0);
    expect(svc.puts).toHaveLength(1);
    expect(sha(svc.puts[0]!)).toBe(sha(data));
    expect(w.crc32).toBe(crc32(data));
  });

  it('zero bytes is one empty put', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, small);
    await w.close();
    expect(svc.puts.map((b) => b.length)).toEqual([0]);
  });

  it('exactly one part is still a single put; one byte more makes two parts', async () => {
    const one = recorder();
    const w1 = createMultipartWriter(one, small);
    await feed(w1, payload(5 * MiB), 1 << 20);
    await w1.close();
    expect(one.puts).toHaveLength(1);
    expect(one.initiated).toBe(0);

    const two = recorder();
    const w2 = createMultipartWriter(two, small);
    const data = payload(5 * MiB + 1, 7);
    await feed(w2, data, 1 << 20);
    await w2.close();
    expect(two.partSizes).toEqual([5 * MiB, 1]);
    expect(sha(two.completed!)).toBe(sha(data));
  });

  it('reassembles many parts in order from odd-sized chunks, with bounded concurrency', async () => {
    const svc = recorder({ delayMs: 3 });
    const w = createMultipartWriter(svc, { ...small, concurrency: 3 });
    const data = payload(23 * MiB + 12345, 3);
    await feed(w, data, 333_333);
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    expect(svc.partSizes).toHaveLength(5);
    expect(svc.maxInflight).toBeLessThanOrEqual(3);
    expect(svc.maxInflight).toBeGreaterThan(1);
  });

  it('a retryable part failure is retried and the object is intact', async () => {
    const svc = recorder({
      failPart: (n, attempt) =>
        n === 2 && attempt === 1 ? fsError('ECONNRESET', { retryable: true }) : undefined,
    });
    const w = createMultipartWriter(svc, { ...small, backoffMs: 1 });
    const data = payload(12 * MiB, 5);
    await feed(w, data, 1 << 20);
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    expect(svc.aborted).toEqual([]);
  });

  it('a persistent failure aborts the upload and surfaces the original error', async () => {
    const original = fsError('ECONNRESET', { retryable: true, detail: 'injected reset' });
    const svc = recorder({ failPart: (n) => (n === 2 ? original : undefined) });
    const w = createMultipartWriter(svc, { ...small, backoffMs: 1, attempts: 3 });
    const data = payload(16 * MiB, 9);
    let caught: unknown;
    try {
      await feed(w, data, 1 << 20);
      await w.close();
    } catch (err) {
      caught = err;
    }
    expect(caught).toBe(original);
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
    expect(svc.completed).toBeUndefined();
    await expect(w.write(Buffer.from('more'))).rejects.toBe(original);
  });

  it('a non-retryable failure is not retried', async () => {
    let calls = 0;
    const svc = recorder({
      failPart: (n) => {
        if (n !== 1) return undefined;
        calls++;
        return fsError('EACCES');
      },
    });
    const w = createMultipartWriter(svc, { ...small, backoffMs: 1 });
    await expect(
      (async () => {
        await feed(w, payload(11 * MiB), 1 << 20);
        await w.close();
      })(),
    ).rejects.toMatchObject({ code: 'EACCES' });
    expect(calls).toBe(1);
  });

  it('abort() discards the upload and later writes are refused', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, small);
    await feed(w, payload(11 * MiB), 1 << 20);
    await w.abort(new Error('caller gave up'));
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
    await expect(w.close()).rejects.toThrow('caller gave up');
  });

  it('with sizeHint, parts are planned to fit the part limit', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, { ...small, maxParts: 4, sizeHint: 30 * MiB });
    const data = payload(30 * MiB, 4);
    await feed(w, data, 1 << 20);
    await w.close();
    expect(svc.partSizes.length).toBeLessThanOrEqual(4);
    expect(svc.partSizes[0]).toBe(8 * MiB);
    expect(sha(svc.completed!)).toBe(sha(data));
  });

  it('without a size, part sizes grow so a large object still fits the part limit', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, { ...small, maxParts: 8 });
    const data = payload(60 * MiB, 6);
    await feed(w, data, 1 << 20);
    await w.close();
    expect(svc.partSizes.length).toBeLessThanOrEqual(8);
    expect(svc.partSizes.slice(0, 3)).toEqual([5 * MiB, 10 * MiB, 20 * MiB]);
    // Memory stayed within the budget: at most two 20 MiB buffers, never 4 + 1 of them.
    expect(svc.maxInflight).toBeLessThanOrEqual(4);
    expect(sha(svc.completed!)).toBe(sha(data));
  });

  it('zero-copy parts grow on a fast link, up to half the memory budget; copied parts and slow links stay put', async () => {
    const opts = { ...small, concurrency: 2, memoryBudget: 40 * MiB };
    const partSizes = (svc: SegRecorder) =>
      [...svc.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p.bytes.length);
    const fast = segRecorder();
    const w = createMultipartWriter(fast, { ...opts, growAbove: MiB });
    const data = payload(90 * MiB, 8);
    for (const c of ownedChunks(data, 1 << 20)) await w.write(c, { owned: true });
    await w.close();
    expect(sha(fast.completed!)).toBe(sha(data));
    const sizes = partSizes(fast).slice(0, -1); // all but the tail
    expect(sizes[0]).toBe(5 * MiB);
    expect(Math.max(...sizes)).toBe(20 * MiB); // 40 MiB budget / 2
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThanOrEqual(sizes[i - 1]!);

    // Copied parts keep their size: growing them would reallocate the pool (two pools in RSS).
    const copied = recorder({ delayMs: 1 });
    const wc = createMultipartWriter(copied, { ...opts, growAbove: MiB });
    await feed(wc, payload(21 * MiB, 10), 1 << 20);
    await wc.close();
    expect(copied.partSizes).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, MiB]);

    const slow = segRecorder();
    const w2 = createMultipartWriter(slow, { ...opts, growAbove: 1e15 });
    for (const c of ownedChunks(payload(21 * MiB, 9), 1 << 20)) await w2.write(c, { owned: true });
    await w2.close();
    expect(partSizes(slow)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, MiB]);
  });

  it('refuses to go past the part limit with EFBIG and aborts', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, { ...small, maxParts: 2, maxPartSize: 5 * MiB });
    await expect(
      (async () => {
        await feed(w, payload(16 * MiB), 1 << 20);
        await w.close();
      })(),
    ).rejects.toMatchObject({ code: 'EFBIG' });
    // The writer aborts by itself: the caller has not called close() or abort() after the failure.
    await vi.waitFor(() => expect(new Set(svc.aborted)).toEqual(new Set(['upload-1'])), { timeout: 2000 });
    await expect(w.close()).rejects.toMatchObject({ code: 'EFBIG' });
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
  });
});

/**
 * A service that takes segmented bodies. It records each body as the writer handed it over (the
 * segment buffers themselves, by reference), so a test can check which bytes were kept without a
 * copy, and snapshots the bytes at send time to check nothing changed before the part was sent.
 */
interface SegRecorder extends SegmentedMultipartService<string> {
  parts: Map<number, { bytes: Buffer; buffers: readonly Buffer[] }>;
  puts: { bytes: Buffer; buffers: readonly Buffer[] }[];
  completed: Buffer | undefined;
  aborted: string[];
  attempts: Map<number, number>;
  /** The most bytes held by bodies handed to the service and not yet settled. */
  maxHeld: number;
}

function segRecorder(
  opts: { failPart?: (n: number, attempt: number) => Error | undefined } = {},
): SegRecorder {
  let held = 0;
  const flatten = (body: PartBody) => {
    const buffers = body instanceof Segments ? body.buffers : [body];
    const bytes = Buffer.concat(buffers);
    expect(bytes.length).toBe(body.length);
    return { bytes, buffers };
  };
  const r: SegRecorder = {
    segments: true,
    parts: new Map(),
    puts: [],
    completed: undefined,
    aborted: [],
    attempts: new Map(),
    maxHeld: 0,
    async put(body, info) {
      const rec = flatten(body);
      expect(info.crc32).toBe(crc32(rec.bytes));
      r.puts.push(rec);
      return { key: 'k', size: body.length, mtime: new Date() };
    },
    async initiate() {
      return 'upload-1';
    },
    async uploadPart(_id, n, body, info) {
      held += body.length;
      r.maxHeld = Math.max(r.maxHeld, held);
      try {
        const attempt = (r.attempts.get(n) ?? 0) + 1;
        r.attempts.set(n, attempt);
        await new Promise((res) => setTimeout(res, 2));
        const err = opts.failPart?.(n, attempt);
        if (err) throw err;
        const rec = flatten(body);
        expect(info.crc32).toBe(crc32(rec.bytes));
        r.parts.set(n, rec);
        return { token: `etag-${n}` };
      } finally {
        held -= body.length;
      }
    },
    async complete(_id, parts, info) {
      r.completed = Buffer.concat(parts.map((p) => r.parts.get(p.partNumber)!.bytes));
      return committed(r.completed, info);
    },
    async abort(id) {
      r.aborted.push(id);
    },
    isRetryable: (err) => (err as { retryable?: boolean }).retryable === true,
  };
  return r;
}

/** A segmented recorder whose part uploads wait until the gate opens. */
function gatedSegRecorder(): { svc: SegRecorder; g: ReturnType<typeof gate> } {
  const svc = segRecorder();
  const g = gate();
  const upload = svc.uploadPart;
  svc.uploadPart = async (...args) => {
    await g.wait;
    return upload(...args);
  };
  return { svc, g };
}

/** `data` as fresh owned chunks of `chunk` bytes (each its own allocation, never touched again). */
function ownedChunks(data: Buffer, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) out.push(Buffer.from(data.subarray(i, i + chunk)));
  return out;
}

describe('multipart writer: owned chunks (zero-copy)', () => {
  const OWNED = { owned: true };

  it('owned chunks are sent by reference, in order, with the right part and object CRCs', async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 2 });
    const data = payload(17 * MiB + 333, 11);
    const chunks = ownedChunks(data, 1 << 20);
    for (const c of chunks) await w.write(c, OWNED);
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    expect(w.crc32).toBe(crc32(data));
    expect([...svc.parts.keys()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4]);
    // Every segment of part 1 is one of the caller's buffers (or a view of it): nothing copied.
    const part1 = svc.parts.get(1)!.buffers;
    expect(part1.length).toBe(5);
    part1.forEach((seg, i) => expect(seg.buffer).toBe(chunks[i]!.buffer));
  });

  it('chunks written without `owned` are copied, even to a segmented service', async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, small);
    const data = payload(11 * MiB, 12);
    await feed(w, data, 1 << 20); // one reused scratch buffer, scribbled over after each write
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
  });

  it('a service without segments gets one contiguous Buffer per part even for owned chunks', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, small);
    const data = payload(11 * MiB, 13);
    for (const c of ownedChunks(data, 1 << 20)) await w.write(c, OWNED);
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    expect(svc.partSizes).toEqual([5 * MiB, 5 * MiB, MiB]);
  });

  it('short owned chunks are staged (copied) so a part is not thousands of tiny segments', async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, small);
    const data = payload(6 * MiB, 14);
    // A first long chunk starts a segmented part; then 1000-byte chunks follow.
    await w.write(Buffer.from(data.subarray(0, 1 << 20)), OWNED);
    for (let i = 1 << 20; i < data.length; i += 1000)
      await w.write(Buffer.from(data.subarray(i, i + 1000)), OWNED);
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    // 4 MiB of short chunks in part 1 fit in 256 KiB staging buffers: 1 + 16 segments, not 4,000+.
    expect(svc.parts.get(1)!.buffers.length).toBeLessThanOrEqual(1 + 17);
  });

  it('staging buffers are reused once their part is sent, never before', async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 1 });
    const data = payload(20 * MiB, 27);
    // Each 5 MiB part: a long chunk (kept) then 1000-byte chunks (staged).
    for (let p = 0; p < data.length; p += 5 * MiB) {
      await w.write(Buffer.from(data.subarray(p, p + MiB)), OWNED);
      for (let i = p + MiB; i < p + 5 * MiB; i += 1000)
        await w.write(Buffer.from(data.subarray(i, Math.min(i + 1000, p + 5 * MiB))), OWNED);
    }
    await w.close();
    // Bytes were checked as each part was sent: a buffer reused too early would show here.
    expect(sha(svc.completed!)).toBe(sha(data));
    const staged = (n: number) =>
      new Set(
        svc.parts
          .get(n)!
          .buffers.slice(1)
          .map((b) => b.buffer),
      );
    const reused = [...staged(3)].filter((b) => staged(1).has(b) || staged(2).has(b));
    expect(reused.length).toBeGreaterThan(0);
  });

  it('mixed owned and copied chunks, at odd sizes, reassemble exactly', async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 3 });
    const data = payload(23 * MiB + 4321, 15);
    const scratch = Buffer.allocUnsafe(700_001);
    let i = 0;
    let k = 0;
    while (i < data.length) {
      const n = Math.min([700_001, 65_536, 1, 3 * MiB + 7][k % 4]!, data.length - i);
      if (k % 3 === 0) {
        data.copy(scratch, 0, i, i + Math.min(n, scratch.length));
        const m = Math.min(n, scratch.length);
        await w.write(scratch.subarray(0, m));
        scratch.fill(0xab);
        i += m;
      } else {
        await w.write(Buffer.from(data.subarray(i, i + n)), OWNED);
        i += n;
      }
      k++;
    }
    await w.close();
    expect(sha(svc.completed!)).toBe(sha(data));
    expect(w.crc32).toBe(crc32(data));
  });

  it('memory stays bounded: with parts stuck in flight, owned writes stop at the budget', async () => {
    const { svc, g } = gatedSegRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 2 });
    const data = payload(40 * MiB, 16);
    const chunks = ownedChunks(data, 1 << 20);
    let accepted = 0;
    const writing = (async () => {
      for (const c of chunks) {
        await w.write(c, OWNED);
        accepted += c.length;
      }
      await w.close();
    })();
    await new Promise((r) => setTimeout(r, 100));
    // Budget: part size × (concurrency + 1) = 15 MiB, counting the part being filled.
    expect(accepted).toBeLessThanOrEqual(15 * MiB);
    expect(accepted).toBeGreaterThanOrEqual(10 * MiB);
    g.open();
    await writing;
    expect(sha(svc.completed!)).toBe(sha(data));
  });

  it("an object below one part is a single put of the caller's own buffers", async () => {
    const svc = segRecorder();
    const w = createMultipartWriter(svc, small);
    const a = payload(1 << 20, 17);
    const b = payload(200_000, 18);
    await w.write(a, OWNED);
    await w.write(b, OWNED);
    await w.close();
    expect(svc.puts).toHaveLength(1);
    expect(svc.puts[0]!.buffers.map((x) => x.buffer)).toEqual([a.buffer, b.buffer]);
    expect(sha(svc.puts[0]!.bytes)).toBe(sha(Buffer.concat([a, b])));
  });

  it("with checksums 'single', a segmented single put still carries its CRC32; parts carry none", async () => {
    const one = segRecorder();
    const w1 = createMultipartWriter(one, { ...small, checksums: 'single' });
    const data = payload(3 * MiB, 21);
    for (const c of ownedChunks(data, 1 << 20)) await w1.write(c, OWNED);
    await w1.close();
    expect(w1.crc32).toBe(crc32(data));
    expect(sha(one.puts[0]!.bytes)).toBe(sha(data));

    const crcs: number[] = [];
    const many = segRecorder();
    const upload = many.uploadPart;
    many.uploadPart = async (id, n, body, info) => {
      crcs.push(info.crc32);
      return upload(id, n, body, {
        crc32: crc32(Buffer.concat(body instanceof Segments ? body.buffers : [body])),
      });
    };
    let completeCrc: number | undefined;
    many.complete = async (_id, parts, info) => {
      completeCrc = info.crc32;
      many.completed = Buffer.concat(parts.map((p) => many.parts.get(p.partNumber)!.bytes));
      return { key: 'k', size: info.size, mtime: new Date() };
    };
    const w2 = createMultipartWriter(many, { ...small, checksums: 'single' });
    const big = payload(11 * MiB, 22);
    for (const c of ownedChunks(big, 1 << 20)) await w2.write(c, OWNED);
    await w2.close();
    expect(crcs).toEqual([0, 0, 0]);
    expect(completeCrc).toBe(0);
    expect(sha(many.completed!)).toBe(sha(big));
  });

  it('copied parts in flight, then owned chunks under budget pressure: no write waits forever', async () => {
    // Pool buffers freed while a segmented part waits for memory must be given back to it, and the
    // last part leaving must wake it (this used to hang).
    const svc = segRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 2, memoryBudget: 10 * MiB });
    const data = payload(26 * MiB + 5, 25);
    const half = 10 * MiB;
    await feed(w, data.subarray(0, half), 100 * 1024); // copied: two pool parts
    for (const c of ownedChunks(data.subarray(half), 100 * 1024)) await w.write(c, OWNED);
    const closed = w.close();
    const outcome = await Promise.race([
      closed.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('hung'), 5000)),
    ]);
    expect(outcome).toBe('closed');
    expect(sha(svc.completed!)).toBe(sha(data));
  });

  it('an abort releases a write that waits for memory', async () => {
    const { svc, g } = gatedSegRecorder();
    const w = createMultipartWriter(svc, { ...small, concurrency: 1 });
    const chunks = ownedChunks(payload(30 * MiB, 26), 1 << 20);
    const writing = (async () => {
      for (const c of chunks) await w.write(c, OWNED);
    })();
    writing.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    const aborting = w.abort(new Error('caller gave up'));
    await expect(writing).rejects.toThrow('caller gave up');
    g.open();
    await aborting;
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
  });

  it('tryWrite takes what fits without waiting and declines (taking nothing) otherwise', async () => {
    for (const seg of [false, true]) {
      const svc = seg ? segRecorder() : recorder();
      const w = createMultipartWriter(svc, small);
      const data = payload(12 * MiB + 3, seg ? 23 : 24);
      const chunks = ownedChunks(data, 1 << 20);
      let taken = 0;
      let declined = 0;
      for (const c of chunks) {
        // Nothing is open before the first write; a part boundary or a full budget also declines.
        if (w.tryWrite(c, OWNED)) taken++;
        else {
          declined++;
          await w.write(c, OWNED);
        }
      }
      await w.close();
      expect(sha((svc as { completed?: Buffer }).completed!)).toBe(sha(data));
      expect(taken).toBeGreaterThan(declined);
      expect(declined).toBeGreaterThanOrEqual(3); // the first chunk and each new part
    }
  });

  it('a retried segmented part is sent again with the same bytes; a persistent failure aborts', async () => {
    const svc = segRecorder({
      failPart: (n, attempt) =>
        n === 2 && attempt === 1 ? fsError('ECONNRESET', { retryable: true }) : undefined,
    });
    const w = createMultipartWriter(svc, { ...small, backoffMs: 1 });
    const data = payload(12 * MiB, 19);
    for (const c of ownedChunks(data, 1 << 20)) await w.write(c, OWNED);
    await w.close();
    expect(svc.attempts.get(2)).toBe(2);
    expect(sha(svc.completed!)).toBe(sha(data));

    const original = fsError('EACCES', { detail: 'denied' });
    const bad = segRecorder({ failPart: (n) => (n === 1 ? original : undefined) });
    const w2 = createMultipartWriter(bad, small);
    await expect(
      (async () => {
        for (const c of ownedChunks(payload(12 * MiB, 20), 1 << 20)) await w2.write(c, OWNED);
        await w2.close();
      })(),
    ).rejects.toBe(original);
    expect(new Set(bad.aborted)).toEqual(new Set(['upload-1']));
  });
});

/** A promise with its resolve, and another that settles when `hit()` is called. */
function gate(): { open(): void; hit(): void; reached: Promise<void>; wait: Promise<void> } {
  let open!: () => void;
  let hit!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  const reached = new Promise<void>((r) => (hit = r));
  return { open, hit, reached, wait };
}

describe('multipart writer: abort racing close', () => {
  const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('abort after complete was sent waits for it; a commit that succeeds leaves the upload closed', async () => {
    const svc = recorder();
    const g = gate();
    const complete = svc.complete;
    svc.complete = async (...args) => {
      g.hit();
      await g.wait;
      return complete(...args);
    };
    const w = createMultipartWriter(svc, small);
    await feed(w, payload(11 * MiB), 1 << 20);
    const closing = w.close();
    await g.reached;
    let aborted = false;
    const aborting = w.abort(new Error('late abort')).then(() => (aborted = true));
    await tick();
    // The commit is on the wire: abort cannot recall it, so it neither returns nor aborts yet.
    expect(aborted).toBe(false);
    expect(svc.aborted).toEqual([]);
    g.open();
    await expect(closing).resolves.toMatchObject({ key: 'k', size: 11 * MiB });
    await aborting;
    expect(svc.aborted).toEqual([]);
    expect(svc.completed?.length).toBe(11 * MiB);
    // The state says what happened: closed, not aborted.
    await expect(w.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'EBADF', message: /closed/ });
    await expect(w.abort()).resolves.toBeUndefined();
  });

  it('abort after complete was sent, and complete fails: close reports that error, the upload is aborted', async () => {
    const svc = recorder();
    const g = gate();
    svc.complete = async () => {
      g.hit();
      await g.wait;
      throw fsError('EIO', { detail: 'complete failed' });
    };
    const w = createMultipartWriter(svc, small);
    await feed(w, payload(11 * MiB), 1 << 20);
    const closing = w.close();
    closing.catch(() => undefined);
    await g.reached;
    let aborted = false;
    const aborting = w.abort(new Error('late abort')).then(() => (aborted = true));
    await tick();
    expect(aborted).toBe(false);
    g.open();
    await expect(closing).rejects.toMatchObject({ code: 'EIO' });
    await aborting;
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
  });

  it('a single put already sent: abort waits for it and the object is committed', async () => {
    const svc = recorder();
    const g = gate();
    const put = svc.put;
    svc.put = async (...args) => {
      g.hit();
      await g.wait;
      return put(...args);
    };
    const w = createMultipartWriter(svc, small);
    await w.write(Buffer.from('small object'));
    const closing = w.close();
    await g.reached;
    let aborted = false;
    const aborting = w.abort().then(() => (aborted = true));
    await tick();
    expect(aborted).toBe(false);
    g.open();
    await expect(closing).resolves.toMatchObject({ size: 12 });
    await aborting;
    expect(svc.puts.map(String)).toEqual(['small object']);
  });

  it('abort before the single put is sent wins: close rejects and nothing is put', async () => {
    const svc = recorder();
    const w = createMultipartWriter(svc, small);
    await w.write(Buffer.from('small object'));
    const closing = w.close();
    closing.catch(() => undefined);
    await w.abort(new Error('caller gave up'));
    await expect(closing).rejects.toThrow('caller gave up');
    expect(svc.puts).toEqual([]);
  });

  it('abort while the last parts upload wins: close rejects, complete is never sent', async () => {
    const svc = recorder({ delayMs: 30 });
    let completes = 0;
    const complete = svc.complete;
    svc.complete = async (...args) => {
      completes++;
      return complete(...args);
    };
    const w = createMultipartWriter(svc, small);
    await feed(w, payload(11 * MiB), 1 << 20);
    const closing = w.close();
    closing.catch(() => undefined);
    await tick(5);
    await w.abort(new Error('caller gave up'));
    await expect(closing).rejects.toThrow('caller gave up');
    expect(completes).toBe(0);
    expect(new Set(svc.aborted)).toEqual(new Set(['upload-1']));
  });
});

describe('part-size planning', () => {
  it('any size up to the service maximum fits in 10,000 parts within S3 limits', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 * 1024 * 1024 * MiB }),
        fc.integer({ min: 1, max: 64 }),
        (size, prefMiB) => {
          const part = planPartSize(size, prefMiB * MiB, S3_LIMITS);
          expect(part).toBeGreaterThanOrEqual(S3_LIMITS.minPartSize);
          expect(part).toBeLessThanOrEqual(S3_LIMITS.maxPartSize);
          expect(part % MiB).toBe(0);
          expect(Math.ceil(size / part)).toBeLessThanOrEqual(S3_LIMITS.maxParts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a size beyond 10,000 × 5 GiB is EFBIG', () => {
    expect(() => planPartSize(10_000 * 5 * 1024 * MiB + 1, 16 * MiB, S3_LIMITS)).toThrow(
      expect.objectContaining({ code: 'EFBIG' }),
    );
  });

  it('the unknown-size schedule covers at least 5 TiB within 10,000 parts from 16 MiB parts', () => {
    let total = 0;
    for (let n = 1; n <= S3_LIMITS.maxParts; n++) total += partSizeFor(n, 16 * MiB, S3_LIMITS);
    expect(total).toBeGreaterThanOrEqual(5 * 1024 * 1024 * MiB);
    expect(partSizeFor(1, 16 * MiB, S3_LIMITS)).toBe(16 * MiB);
  });
});

describe('crc32Combine', () => {
  it('crc(a‖b) equals combine(crc(a), crc(b), len(b)) for arbitrary byte strings', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ maxLength: 2000 }), (a, b) => {
        const whole = crc32(Buffer.concat([a, b]));
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(whole);
      }),
      { numRuns: 300 },
    );
  });

  it('works for lengths beyond 2^31 (checked against a zero run of known CRC)', () => {
    // The CRC of n zero bytes appended to A equals combine(crc(A), crc(zeros(n)), n); build crc of 3 GiB of
    // zeros by combining 3 × 1 GiB, and compare with combining the 1 GiB blocks one at a time.
    const zeros = Buffer.alloc(1 << 20);
    const mib = crc32(zeros);
    let gib = 0;
    for (let i = 0; i < 1024; i++) gib = crc32Combine(gib, mib, zeros.length);
    const threeA = crc32Combine(crc32Combine(gib, gib, 2 ** 30), gib, 2 ** 30);
    const twoGib = crc32Combine(gib, gib, 2 ** 30);
    const threeB = crc32Combine(gib, twoGib, 2 ** 31);
    expect(threeB).toBe(threeA);
  });
});

describe('core crc32 / crc32c', () => {
  it('uses the native @node-rs/crc32 binary on this platform (zlib only as a fallback)', () => {
    expect(crc32Implementation).toBe('node-rs');
  });

  it('crc32 equals zlib.crc32 for arbitrary bytes and starting values', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 0, max: 0xffffffff }), (a, init) => {
        expect(fastCrc32(a, init)).toBe(crc32(a, init) >>> 0);
      }),
      { numRuns: 300 },
    );
  });

  it('crc32Of on a pool worker (a SharedArrayBuffer part of 3 MiB) equals zlib.crc32', async () => {
    const part = Buffer.from(new SharedArrayBuffer(3 * MiB + 7));
    for (let i = 0; i < part.length; i += 4096) part[i] = (i * 2654435761) >>> 24;
    expect(await crc32Of(part)).toBe(crc32(part) >>> 0);
    expect(await crc32Of(part.subarray(5, 2 * MiB))).toBe(crc32(part.subarray(5, 2 * MiB)) >>> 0);
  });

  it('CRCs in header form: 4 bytes big-endian base64; composite checksums are not whole-object CRCs', () => {
    expect(crcToBase64(0xcbf43926)).toBe('y/Q5Jg==');
    expect(crcFromBase64('y/Q5Jg==')).toBe(0xcbf43926);
    for (const n of [0, 1, 0xffffffff, 0x80000000]) expect(crcFromBase64(crcToBase64(n))).toBe(n >>> 0);
    expect(crcFromBase64('y/Q5Jg==-3')).toBeUndefined();
    expect(crcFromBase64('AAAA')).toBeUndefined(); // 3 bytes
    expect(crcFromBase64(undefined)).toBeUndefined();
  });

  it('crc32c matches the published check values (RFC 3720 B.4)', () => {
    expect(crc32c).toBeDefined();
    expect(crc32c!(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c!(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c!(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    // Continuing from a previous value equals one pass over the concatenation.
    const a = Buffer.from('hello, ');
    const b = Buffer.from('world');
    expect(crc32c!(b, crc32c!(a))).toBe(crc32c!(Buffer.concat([a, b])));
    expect(crc32c!(Buffer.alloc(0), 0x1234)).toBe(0x1234);
  });
});

describe('multipart writer: aborting with parts in flight', () => {
  it('sends the abort at once, before the parts in flight return, and again if one landed after it', async () => {
    const svc = recorder();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const events: string[] = [];
    const slow: MultipartService<string> = {
      ...svc,
      async uploadPart(id, n, body, info) {
        events.push(`part ${n} sent`);
        await held;
        events.push(`part ${n} returned`);
        return svc.uploadPart(id, n, body, info);
      },
      async abort(id) {
        events.push('abort');
        return svc.abort(id);
      },
    };
    const w = createMultipartWriter(slow, { partSize: 5 * MiB, concurrency: 2, path: 'k' });
    // A full part and one byte more: the first part goes on the wire (and is held there).
    await w.write(payload(5 * MiB + 1));
    await vi.waitFor(() => expect(events).toContain('part 1 sent'));
    const aborting = w.abort(new Error('interrupted'));
    // The upload is aborted while both parts are still on the wire.
    await vi.waitFor(() => expect(events).toContain('abort'));
    expect(events.filter((e) => e.endsWith('returned'))).toEqual([]);
    release();
    await aborting;
    // …and once more, as that part landed after the first abort: its storage is freed too.
    expect(events.at(-1)).toBe('abort');
    expect(events.filter((e) => e === 'abort')).toHaveLength(2);
    expect(svc.completed).toBeUndefined();
  });
});
