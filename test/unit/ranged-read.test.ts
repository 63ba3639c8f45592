/**
 * The ordered range reader on its own, with a fetch that serves slices of a known buffer (in
 * Readable and async-iterable form, with random delays so ranges finish out of order): bytes arrive
 * complete and in order, at most `concurrency` ranges are in flight, short and long ranges are EIO,
 * and destroying the stream aborts what is in flight.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { orderedRangeReader, type RangeFetch } from '../../src/backend/ranged-read.js';
import { LENDING, requestLending } from '../../src/core/lending-pool.js';

const KiB = 1024;
const data = randomBytes(300 * KiB + 17);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Serves `source[start..end]` in 4 KiB chunks after a random delay; records what it was asked. */
function slicer(source: Uint8Array, opts: { iterable?: boolean } = {}) {
  let inflight = 0;
  let maxInflight = 0;
  const calls: [number, number][] = [];
  const signals: AbortSignal[] = [];
  const fetch: RangeFetch = async (start, end, signal) => {
    calls.push([start, end]);
    signals.push(signal);
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    await sleep(Math.random() * 5);
    const slice = source.subarray(start, end + 1);
    async function* chunks() {
      try {
        for (let o = 0; o < slice.length; o += 4 * KiB) {
          if (Math.random() < 0.1) await sleep(1);
          yield slice.subarray(o, Math.min(o + 4 * KiB, slice.length));
        }
      } finally {
        inflight--;
      }
    }
    return opts.iterable ? chunks() : Readable.from(chunks(), { objectMode: false });
  };
  return { fetch, calls, signals, max: () => maxInflight };
}

describe('orderedRangeReader', () => {
  for (const iterable of [false, true]) {
    it(`delivers every byte in order (${iterable ? 'async-iterable' : 'Readable'} bodies)`, async () => {
      const s = slicer(data, { iterable });
      const seen: Uint8Array[] = [];
      let ended = false;
      const out = await collect(
        orderedRangeReader({
          from: 0,
          to: data.length - 1,
          partSize: 32 * KiB,
          concurrency: 3,
          fetch: s.fetch,
          verify: (c) => (c ? seen.push(c) : (ended = true)),
        }),
      );
      expect(sha(out)).toBe(sha(data));
      expect(sha(Buffer.concat(seen))).toBe(sha(data)); // verify saw the same bytes, in order
      expect(ended).toBe(true);
      expect(s.max()).toBeLessThanOrEqual(3);
      expect(s.calls[0]).toEqual([0, 32 * KiB - 1]);
      expect(s.calls.at(-1)![1]).toBe(data.length - 1);
    });
  }

  it('a failing end check reaches a consumer that stops once it has every byte (large last chunk)', async () => {
    // FileHandle.readFile stops pulling once it holds `size` bytes, so it never asks for the
    // stream's end: the end check must run before the last chunk is handed on.
    // The transport hands over every byte in one chunk but signals its end only later (a socket's
    // end arrives after its data).
    const fetch: RangeFetch = async (start, end) =>
      Readable.from(
        (async function* () {
          yield data.subarray(start, end + 1);
          await sleep(500);
        })(),
      );
    const stream = orderedRangeReader({
      from: 0,
      to: data.length - 1,
      partSize: data.length,
      concurrency: 1,
      fetch,
      verify: (c) => {
        if (!c) throw Object.assign(new Error('checksum mismatch'), { code: 'EIO' });
      },
    });
    // Pull chunk by chunk, as FileHandle.readFile does, and stop at the expected size.
    const it = stream[Symbol.asyncIterator]();
    let got = 0;
    let outcome: unknown = 'no error';
    try {
      while (got < data.length) {
        const r = await it.next();
        if (r.done) break;
        got += (r.value as Buffer).length;
      }
      await sleep(50);
      outcome = stream.errored ?? 'no error';
    } catch (err) {
      outcome = err;
    }
    expect(outcome).toMatchObject({ code: 'EIO' });
  });

  it('reads a sub-range after a head body that is already streaming', async () => {
    const s = slicer(data);
    const from = 1000;
    const to = 200 * KiB;
    const headEnd = from + 32 * KiB - 1;
    const head = Readable.from([data.subarray(from, headEnd + 1)]);
    const out = await collect(
      orderedRangeReader({
        from,
        to,
        partSize: 32 * KiB,
        concurrency: 2,
        fetch: s.fetch,
        head: { body: head, end: headEnd },
      }),
    );
    expect(sha(out)).toBe(sha(data.subarray(from, to + 1)));
    expect(s.calls[0]![0]).toBe(headEnd + 1);
  });

  it('passes a lending request on to the head and every range body, also those fetched later', async () => {
    const asked: string[] = [];
    const lendable = (b: Readable, name: string): Readable =>
      Object.assign(b, { [LENDING]: () => asked.push(name) });
    const s = slicer(data);
    const fetch: RangeFetch = async (start, end, signal) =>
      lendable((await s.fetch(start, end, signal)) as Readable, `range ${start}`);
    const from = 0;
    const to = 200 * KiB;
    const headEnd = 32 * KiB - 1;
    const stream = orderedRangeReader({
      from,
      to,
      partSize: 32 * KiB,
      concurrency: 2,
      fetch,
      head: { body: lendable(Readable.from([data.subarray(0, headEnd + 1)]), 'head'), end: headEnd },
    });
    requestLending(stream);
    expect(sha(await collect(stream))).toBe(sha(data.subarray(from, to + 1)));
    // head + 6 ranges of 32 KiB (the last one short), each asked once
    expect(asked.sort()).toEqual(
      ['head', ...Array.from({ length: 6 }, (_, i) => `range ${(i + 1) * 32 * KiB}`)].sort(),
    );
  });

  it('a short range is EIO, not a silently truncated stream', async () => {
    const fetch: RangeFetch = async (start, end) => Readable.from([data.subarray(start, end)]); // one byte short
    const err = await collect(
      orderedRangeReader({
        from: 0,
        to: 64 * KiB - 1,
        partSize: 16 * KiB,
        concurrency: 2,
        fetch,
        path: 's3://b/k',
      }),
    ).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('EIO');
    expect(err?.message).toMatch(/short read/);
    expect(err?.message).toContain('s3://b/k');
  });

  it('a range longer than asked (a server ignoring Range) fails at once without reading it all', async () => {
    let pulled = 0;
    const fetch: RangeFetch = async () => {
      async function* whole() {
        for (let o = 0; o < 64 * 1024 * KiB; o += 64 * KiB) {
          pulled++;
          yield new Uint8Array(64 * KiB);
        }
      }
      return Readable.from(whole(), { objectMode: false });
    };
    const err = await collect(
      orderedRangeReader({ from: 0, to: 1024 * KiB - 1, partSize: 256 * KiB, concurrency: 2, fetch }),
    ).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe('EIO');
    expect(err?.message).toMatch(/more than the 262144 bytes/);
    // 64 MiB were on offer per range; only a few chunks past each range's end were read.
    expect(pulled).toBeLessThan(40);
  });

  it('a failed fetch fails the stream with its error', async () => {
    const boom = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    let n = 0;
    const fetch: RangeFetch = async (start, end) => {
      if (n++ === 2) throw boom;
      return Readable.from([data.subarray(start, end + 1)]);
    };
    await expect(
      collect(orderedRangeReader({ from: 0, to: 128 * KiB - 1, partSize: 16 * KiB, concurrency: 2, fetch })),
    ).rejects.toBe(boom);
  });

  it('destroying the stream aborts the ranges in flight', async () => {
    const s = slicer(data);
    const stream = orderedRangeReader({
      from: 0,
      to: data.length - 1,
      partSize: 16 * KiB,
      concurrency: 3,
      fetch: s.fetch,
    });
    for await (const _ of stream) break; // the first chunk, then destroy
    expect(stream.destroyed).toBe(true);
    expect(s.signals.length).toBeGreaterThan(0);
    expect(s.signals.every((sig) => sig.aborted)).toBe(true);
  });
});

describe('orderedRangeReader, adaptive (one stream first)', () => {
  /** The whole rest of `data` from `from` as one body, counting what was pulled from it. */
  function wholeBody(from: number) {
    const stats = { pulled: 0, destroyed: false };
    async function* all() {
      for (let o = from; o < data.length; o += 4 * KiB) {
        const c = data.subarray(o, Math.min(o + 4 * KiB, data.length));
        stats.pulled += c.length;
        yield c;
      }
    }
    const body = Readable.from(all(), { objectMode: false });
    body.once('close', () => (stats.destroyed = true));
    return { body, stats };
  }

  it('a fast stream carries the whole read alone, paused while the consumer lags', async () => {
    const s = slicer(data);
    const { body, stats } = wholeBody(0);
    const stream = orderedRangeReader({
      from: 0,
      to: data.length - 1,
      partSize: 16 * KiB,
      concurrency: 3,
      fetch: s.fetch,
      head: { body, end: data.length - 1 },
      adaptive: { minBytesPerSecond: 1 },
    });
    // Nobody reads for a while: the head must stop at about a part of buffered bytes.
    await sleep(50);
    expect(stats.pulled).toBeLessThan(64 * KiB);
    expect(sha(await collect(stream))).toBe(sha(data));
    expect(s.calls).toEqual([]); // no ranged request at all
  });

  it('a slow stream is cut a part after the probe; the rest comes as ranges, in order', async () => {
    const s = slicer(data);
    const { body, stats } = wholeBody(0);
    const out = await collect(
      orderedRangeReader({
        from: 0,
        to: data.length - 1,
        partSize: 32 * KiB,
        concurrency: 2,
        fetch: s.fetch,
        head: { body, end: data.length - 1 },
        adaptive: { minBytesPerSecond: 1e15, probeBytes: 20 * KiB },
      }),
    );
    expect(sha(out)).toBe(sha(data));
    expect(s.calls.length).toBeGreaterThan(0);
    const cut = s.calls[0]![0]; // the first ranged request starts right after the cut
    expect(cut).toBeGreaterThanOrEqual(20 * KiB + 32 * KiB);
    expect(cut).toBeLessThan(20 * KiB + 32 * KiB + 8 * KiB);
    expect(s.calls.at(-1)![1]).toBe(data.length - 1);
    // The head stopped at its cut: it was not read to the end of the object.
    expect(stats.destroyed).toBe(true);
    expect(stats.pulled).toBeLessThan(cut + 64 * KiB);
  });
});
