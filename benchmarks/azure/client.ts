/**
 * One measured Azure transfer, in a fresh process (so peak RSS and CPU belong to this transfer):
 *
 *   node client.js --target sdk|sdk-single|avfs --direction up|down --size 1GiB \
 *     --endpoint http://127.0.0.1:PORT/devstoreaccount1 [--account A] [--container bench]
 *     [--blob KEY] [--block-size BYTES] [--concurrency N]
 *
 * The account key is read from the AZURE_BENCH_KEY environment variable (never a command line).
 * Prints one JSON line: `{ target, direction, bytes, seconds, cpuSeconds, peakRssMiB, … }` or
 * `{ …, error }` (exit 1). `seconds` and `cpuSeconds` cover the transfer only.
 *
 * Targets:
 * - `sdk`: the raw SDK as its user would write it. Up: `BlockBlobClient.uploadStream(stream,
 *   blockSize, concurrency)`. Down: `download(offset, count)` ranges, `concurrency` in flight, each
 *   range's body collected and handed on in order (the SDK has no parallel *streaming* download;
 *   `downloadToBuffer` holds the whole blob).
 * - `sdk-single` (down only): one `download()` stream, the SDK's only streaming download.
 * - `avfs`: the azure flavor's `createWriteStream` / `createReadStream`.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlockBlobClient } from '@azure/storage-blob';
import type * as AzureAdapter from '../../adapters/azure/index.js';
import { drain, MiB, parseSize, payloadSource, peakRssMiB } from '../s3/payload.js';
import type { ClientResult } from '../s3/protocol.js';
import { AZURE_TARGETS, type AzureTarget } from './protocol.js';
import { clientFlags, clientMain } from '../common.js';

interface Args {
  target: AzureTarget;
  direction: 'up' | 'down';
  size: number;
  endpoint: string;
  account: string;
  accountKey: string;
  container: string;
  blob: string;
  blockSize: number;
  concurrency: number;
}

interface Prepared {
  run(): Promise<number>;
  close?(): Promise<void> | void;
}

function parseArgs(argv: string[]): Args {
  const { get, target, direction } = clientFlags(argv, AZURE_TARGETS);
  const endpoint = get('endpoint');
  const accountKey = process.env.AZURE_BENCH_KEY;
  if (!endpoint || !accountKey) throw new Error('--endpoint and AZURE_BENCH_KEY are required');
  const size = parseSize(get('size') ?? '');
  return {
    target,
    direction,
    size,
    endpoint,
    account: get('account') ?? 'devstoreaccount1',
    accountKey,
    container: get('container') ?? 'bench',
    blob: get('blob') ?? `${target}-${size}`,
    blockSize: Number(get('block-size') ?? 16 * MiB),
    concurrency: Number(get('concurrency') ?? 4),
  };
}

async function prepareSdk(a: Args): Promise<Prepared | string> {
  if (a.target === 'sdk-single' && a.direction === 'up') return 'no single-request streaming upload';
  const sdk = await import('@azure/storage-blob');
  const cred = new sdk.StorageSharedKeyCredential(a.account, a.accountKey);
  const service = new sdk.BlobServiceClient(
    a.endpoint,
    sdk.newPipeline(cred, { retryOptions: { maxTries: 3 } }),
  );
  const blob = service.getContainerClient(a.container).getBlockBlobClient(a.blob);
  return {
    async run() {
      if (a.direction === 'up') {
        await blob.uploadStream(payloadSource(a.size), a.blockSize, a.concurrency);
        return a.size;
      }
      if (a.target === 'sdk-single') {
        const r = await blob.download();
        return drain(r.readableStreamBody as Readable);
      }
      const size = (await blob.getProperties()).contentLength ?? 0;
      return drain(Readable.from(orderedRanges(blob, size, a.blockSize, a.concurrency)));
    },
  };
}

/** Ranged downloads, `concurrency` in flight, each collected and yielded in order. */
async function* orderedRanges(
  blob: BlockBlobClient,
  size: number,
  rangeSize: number,
  concurrency: number,
): AsyncGenerator<Buffer> {
  const fetchRange = async (offset: number): Promise<Buffer[]> => {
    const r = await blob.download(offset, Math.min(rangeSize, size - offset));
    const chunks: Buffer[] = [];
    for await (const c of r.readableStreamBody as Readable) chunks.push(c as Buffer);
    return chunks;
  };
  const inflight: Promise<Buffer[]>[] = [];
  let next = 0;
  while (next < size || inflight.length > 0) {
    while (inflight.length < concurrency && next < size) {
      const p = fetchRange(next);
      p.catch(() => undefined); // awaited below, in order
      inflight.push(p);
      next += rangeSize;
    }
    for (const c of await inflight.shift()!) yield c;
  }
}

async function prepareAvfs(a: Args): Promise<Prepared> {
  const mod: typeof AzureAdapter = await import('../../adapters/azure/index.js');
  const { adapter, close } = await mod.azureFlavor.create({
    path: `az://${a.container}`,
    endpoint: a.endpoint,
    accountName: a.account,
    accountKey: a.accountKey,
    blockSize: a.blockSize,
    concurrency: a.concurrency,
    readPartSize: a.blockSize,
    readConcurrency: a.concurrency,
    ...(process.env.AVFS_BLOCK_CHECKSUM ? { blockChecksum: process.env.AVFS_BLOCK_CHECKSUM } : {}),
  });
  const path = `/${a.blob}`;
  return {
    async run() {
      if (a.direction === 'up') {
        await pipeline(payloadSource(a.size), adapter.createWriteStream(path));
        return a.size;
      }
      return drain(adapter.createReadStream(path) as AsyncIterable<Uint8Array>);
    },
    close: () => close?.(),
  };
}

async function measure(a: Args): Promise<ClientResult> {
  const base = { target: a.target, direction: a.direction };
  const prepared = a.target === 'avfs' ? await prepareAvfs(a) : await prepareSdk(a);
  if (typeof prepared === 'string') return { ...base, skipped: prepared };
  const setupRssMiB = peakRssMiB();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await prepared.run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const peakRss = peakRssMiB();
  await prepared.close?.();
  if (bytes !== a.size) throw new Error(`transferred ${bytes} bytes, expected ${a.size}`);
  return {
    ...base,
    bytes,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: peakRss,
    setupRssMiB,
  };
}

clientMain(() => parseArgs(process.argv.slice(2)), measure);
