/**
 * Helpers shared by the cloud-flavor suites (test/s3, test/gcs, test/azure): deterministic payloads,
 * hashes, streamed writes and reads through an FsAdapter, and counting a proxy's request log.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect } from 'vitest';
import type { FsAdapter } from '../src/fs/types.js';
import type { FaultProxy, FaultRule } from './emulators/fault-proxy.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (xorshift32), so every run checks the same data. */
export function payload(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n + 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b.subarray(0, n);
}

/** How many lines of a request log match. */
export const count = (log: readonly string[], re: RegExp): number => log.filter((l) => re.test(l)).length;

/** Writes `data` through `createWriteStream`, in chunks of `chunk` bytes. */
export async function writeStream(
  fs: FsAdapter,
  path: string,
  data: Buffer,
  chunk = 256 * KiB,
): Promise<void> {
  async function* gen(): AsyncGenerator<Buffer> {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  }
  await pipeline(Readable.from(gen()), fs.createWriteStream(path));
}

/** Reads a file (or a range of it) through `createReadStream`. */
export async function readAll(
  fs: FsAdapter,
  path: string,
  opts?: { start?: number; end?: number },
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of fs.createReadStream(path, opts)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** What the adaptive-read check needs of a suite's rig: a store's fs, its URIs, a proxy's log. */
export interface LoggedRig {
  fs: FsAdapter;
  uri(key: string): string;
  proxy: { log: string[] };
}

/**
 * The adaptive-read check shared by the S3 and Azure suites. `fast` and `slow` are rigs whose
 * `readParallelBelow` pins the decision (1 byte/s: any stream is fast enough; 1e15: none is). The
 * fast one reads `data` with one GET; the slow one cuts its first stream and fetches the rest as
 * parallel ranged GETs (at least 3 GETs in all). Both read back byte for byte.
 */
export async function checkAdaptiveReads(fast: LoggedRig, slow: LoggedRig, data: Buffer): Promise<void> {
  const gets = /^GET \/[^?]*big\.bin/;
  await fast.fs.promises.writeFile(fast.uri('big.bin'), data);
  fast.proxy.log.length = 0;
  expect(sha(await readAll(fast.fs, fast.uri('big.bin')))).toBe(sha(data));
  expect(count(fast.proxy.log, gets)).toBe(1);
  await slow.fs.promises.writeFile(slow.uri('big.bin'), data);
  slow.proxy.log.length = 0;
  expect(sha(await readAll(slow.fs, slow.uri('big.bin')))).toBe(sha(data));
  expect(count(slow.proxy.log, gets)).toBeGreaterThanOrEqual(3);
}

/** A rig whose proxy can lose answers (test/emulators/fault-proxy.ts). */
export interface FaultRig {
  fs: FsAdapter;
  uri(key: string): string;
  proxy: Pick<FaultProxy, 'setRules' | 'hits'>;
}

/**
 * The lost-answer check shared by the S3 and Azure suites: for each case, the proxy loses the
 * answer to the first request `match` picks (the server acted on it), and a create-only
 * `writeFile` of `size` bytes must still succeed with every byte stored, since the retry meets
 * the object the first attempt stored. Then the ownership check must not mistake another writer's
 * object for ours: another writer commits between our open and our close, once with other bytes
 * of the same size and once with the very same bytes, and each time our close is EEXIST and their
 * object stays (`rawPut` stores an object directly, bypassing the flavor). `races: false` skips
 * that part for a case whose commit the server does not make conditional.
 */
export async function checkLostAnswers(
  r: FaultRig,
  cases: readonly (readonly [name: string, size: number, match: FaultRule['match'], races?: boolean])[],
  rawPut: (key: string, data: Buffer) => Promise<void>,
): Promise<void> {
  for (const [name, size, match, races = true] of cases) {
    const data = payload(size, 43);
    r.proxy.setRules([{ match, fault: { kind: 'drop-response' } }]);
    let lost: number | undefined;
    try {
      await r.fs.promises.writeFile(r.uri(name), data, { flag: 'wx' });
      lost = r.proxy.hits[0];
    } finally {
      r.proxy.setRules([]);
    }
    expect(lost).toBe(1); // the answer really was lost once
    expect(sha(await readAll(r.fs, r.uri(name)))).toBe(sha(data));
    if (races) await checkCreateOnlyRaces(r, name, data, rawPut);
  }
}

/**
 * Another writer's object, committed between a create-only open and its close, is a real
 * conflict even with the very same bytes: the close is EEXIST and theirs stays. Checked with
 * other bytes of the same size, then with `data` itself (keys `${name}.race-other|same`).
 */
export async function checkCreateOnlyRaces(
  r: { fs: FsAdapter; uri(key: string): string },
  name: string,
  data: Buffer,
  rawPut: (key: string, data: Buffer) => Promise<void>,
): Promise<void> {
  for (const [race, theirs] of [
    ['other', payload(data.length, 44)],
    ['same', data],
  ] as const) {
    const key = `${name}.race-${race}`;
    const h = await r.fs.promises.open(r.uri(key), 'wx');
    await h.write(data);
    await rawPut(key, theirs);
    await expect(h.close()).rejects.toMatchObject({ code: 'EEXIST' });
    expect(sha(await readAll(r.fs, r.uri(key)))).toBe(sha(theirs));
  }
}
