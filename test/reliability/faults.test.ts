/**
 * Reliability category "faults": the fault proxy (test/emulators/fault-proxy.ts) in front of fauxqs,
 * radosgw (when installed) and azurite, through the flavors, on every request kind a store sends.
 * Each case faults one request kind of one operation (a reset mid-request, a 503 or a storm of
 * them, a stall, a lost or torn answer) and then checks, directly on the server (not through the
 * proxy), what the operation left:
 *
 * - it succeeded: the data reads back with the same SHA-256 (else a **false success**);
 * - it failed: with a typed error (a string `E…` code), and the destination is absent or as it was
 *   (a destination holding the new bytes is a **false failure**: the write happened, yet the caller
 *   was told it did not; anything else is torn, and its bytes count as lost);
 * - no multipart upload is left open (ListMultipartUploads, where the server has it: radosgw).
 *
 * Bounded (npm test): every fault on every request kind once. Full: more rounds with other sizes.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { azureFlavor } from '../../adapters/azure/index.js';
import { s3Flavor } from '../../adapters/s3/index.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { createContainer, startAzurite, type Azurite } from '../emulators/azurite.js';
import { startFaultProxy, type FaultProxy, type FaultRule } from '../emulators/fault-proxy.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import { radosgwSkipReason, startRadosgw } from '../emulators/radosgw.js';
import { s3FlavorOptions, type S3Server } from '../emulators/s3-server.js';
import { KiB, MiB, payload, sha } from '../flavor-helpers.js';
import { budget, Category, FULL } from './table.js';

/** A store behind a fault proxy, and direct access to its server for the checks. */
interface Env {
  name: string;
  fs: FsAdapter;
  uri(key: string): string;
  proxy: FaultProxy;
  /** How often the last case's fault fired (read before its rules are cleared). */
  fired: number;
  rawPut(key: string, data: Buffer): Promise<void>;
  rawGet(key: string): Promise<Buffer | undefined>;
  /** Multipart uploads open under `prefix`; undefined where the server cannot list them. */
  openUploads(prefix: string): Promise<number | undefined>;
  /** Sizes: one below a part (a single request) and one of several parts. */
  small: number;
  large: number;
  ops: Op[];
  close(): Promise<void>;
}

type Match = (req: IncomingMessage, url: URL) => boolean;
/** A failure line (undefined: passed) and the bytes a torn destination lost. */
type Outcome = { why?: string | undefined; lost?: number };

interface Op {
  /** The request kind the fault hits, e.g. `UploadPart`. */
  kind: string;
  match: Match;
  run(env: Env, key: string, fault: () => void, round: number): Promise<Outcome>;
}

const FAULTS: [name: string, fault: FaultRule['fault'], times: number][] = [
  ['reset', { kind: 'reset', afterBytes: 64 * KiB }, 1],
  ['reset storm', { kind: 'reset', afterBytes: 64 * KiB }, 1000],
  ['503 twice', { kind: 'status', status: 503 }, 2],
  ['503 storm', { kind: 'status', status: 503 }, 1000],
  ['stall', { kind: 'stall', ms: 150 }, 1],
  ['lost answer', { kind: 'drop-response' }, 1],
  ['lost answers', { kind: 'drop-response' }, 1000],
  ['torn answer', { kind: 'cut-response', afterBytes: 100 }, 1],
];

const typed = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | undefined)?.code;
  return err instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
};
const show = (b: Buffer | undefined): string => (b ? `${b.length} bytes ${sha(b).slice(0, 8)}` : 'absent');
const same = (a: Buffer | undefined, b: Buffer | undefined): boolean =>
  a === undefined || b === undefined ? a === b : sha(a) === sha(b);

/** Runs `act` with the fault armed; resolves with its error (undefined: it succeeded). */
async function attempt(env: Env, arm: () => void, act: () => Promise<unknown>): Promise<unknown> {
  arm();
  try {
    await act();
    return undefined;
  } catch (err) {
    return err ?? new Error('rejected with nothing');
  } finally {
    env.fired = env.proxy.hits[0] ?? 0;
    env.proxy.setRules([]);
  }
}

/** A write of `size` bytes onto an existing object (or, create-only, a fresh key). */
function writeOp(kind: string, match: Match, sizeOf: (env: Env) => number, createOnly = false): Op {
  return {
    kind,
    match,
    async run(env, key, arm, round) {
      const old = createOnly ? undefined : payload(1000 + round, 7 + round);
      if (old) await env.rawPut(key, old);
      const data = payload(sizeOf(env) + round * 4099, 11 + round);
      const err = await attempt(env, arm, () =>
        env.fs.promises.writeFile(env.uri(key), data, createOnly ? { flag: 'wx' } : undefined),
      );
      const now = await env.rawGet(key);
      const open = await env.openUploads(key);
      const leak = open ? `; ${open} multipart upload(s) left open` : '';
      if (err === undefined)
        return same(now, data)
          ? { why: leak || undefined }
          : { why: `false success: stored ${show(now)}${leak}` };
      const code = typed(err);
      if (!code) return { why: `untyped error ${String(err)}${leak}` };
      if (same(now, data)) return { why: `false failure (${code}): the write happened${leak}` };
      if (same(now, old)) return { why: leak || undefined };
      return { why: `torn (${code}): stored ${show(now)}${leak}`, lost: old?.length ?? 0 };
    },
  };
}

/** A read-only operation: success must return what the server holds; failure must be typed. */
function readOp(
  kind: string,
  match: Match,
  setup: (env: Env, key: string) => Promise<string>,
  act: (env: Env, key: string) => Promise<string>,
): Op {
  return {
    kind,
    match,
    async run(env, key, arm) {
      const expected = await setup(env, key);
      let got: string | undefined;
      const err = await attempt(env, arm, async () => (got = await act(env, key)));
      if (err !== undefined) return { why: typed(err) ? undefined : `untyped error ${String(err)}` };
      return { why: got === expected ? undefined : `false success: got ${got}, expected ${expected}` };
    },
  };
}

const getOp = (match: Match): Op =>
  readOp(
    'GET',
    match,
    async (env, key) => {
      // Below fauxqs's 11 MiB request limit, above one read part.
      const data = payload(6 * MiB + 9, 21);
      await env.rawPut(key, data);
      return sha(data);
    },
    async (env, key) => sha((await env.fs.promises.readFile(env.uri(key))) as Buffer),
  );
const headOp = (match: Match): Op =>
  readOp(
    'HEAD',
    match,
    async (env, key) => {
      await env.rawPut(key, payload(4321, 22));
      return 'size 4321';
    },
    async (env, key) => `size ${(await env.fs.promises.stat(env.uri(key))).size}`,
  );
const listOp = (match: Match): Op =>
  readOp(
    'LIST',
    match,
    async (env, key) => {
      for (const n of ['a', 'b', 'c']) await env.rawPut(`${key}-dir/${n}`, payload(10, 23));
      return 'a,b,c';
    },
    async (env, key) => ((await env.fs.promises.readdir(env.uri(`${key}-dir`))) as string[]).sort().join(','),
  );

const deleteOp = (match: Match): Op => ({
  kind: 'DELETE',
  match,
  async run(env, key, arm) {
    const data = payload(5000, 24);
    await env.rawPut(key, data);
    const err = await attempt(env, arm, () => env.fs.promises.unlink(env.uri(key)));
    const now = await env.rawGet(key);
    if (err === undefined) return { why: now ? `false success: still there (${show(now)})` : undefined };
    const code = typed(err);
    if (!code) return { why: `untyped error ${String(err)}` };
    if (!now) return { why: `false failure (${code}): the object was deleted` };
    return same(now, data) ? {} : { why: `torn (${code}): ${show(now)}`, lost: data.length };
  },
});

const copyOp = (match: Match): Op => ({
  kind: 'COPY',
  match,
  async run(env, key, arm) {
    const data = payload(300_000, 25);
    await env.rawPut(`${key}-src`, data);
    const err = await attempt(env, arm, () => env.fs.promises.copyFile(env.uri(`${key}-src`), env.uri(key)));
    const now = await env.rawGet(key);
    if (err === undefined) return { why: same(now, data) ? undefined : `false success: stored ${show(now)}` };
    const code = typed(err);
    if (!code) return { why: `untyped error ${String(err)}` };
    if (same(now, data)) return { why: `false failure (${code}): the copy happened` };
    return { why: now ? `torn (${code}): stored ${show(now)}` : undefined };
  },
});

// ---- S3 ------------------------------------------------------------------------------------------

const q = (url: URL, p: string): boolean => url.searchParams.has(p);
const s3Ops: Op[] = [
  writeOp(
    'PutObject',
    (req, url) => req.method === 'PUT' && !q(url, 'partNumber') && !req.headers['x-amz-copy-source'],
    (e) => e.small,
  ),
  writeOp(
    'PutObject create-only',
    (req, url) => req.method === 'PUT' && !q(url, 'partNumber') && !req.headers['x-amz-copy-source'],
    (e) => e.small,
    true,
  ),
  writeOp(
    'CreateMultipartUpload',
    (req, url) => req.method === 'POST' && q(url, 'uploads'),
    (e) => e.large,
  ),
  writeOp(
    'UploadPart',
    (req, url) => req.method === 'PUT' && q(url, 'partNumber'),
    (e) => e.large,
  ),
  writeOp(
    'CompleteMultipartUpload',
    (req, url) => req.method === 'POST' && q(url, 'uploadId'),
    (e) => e.large,
  ),
  getOp((req, url) => req.method === 'GET' && !q(url, 'list-type') && !q(url, 'uploads')),
  headOp((req) => req.method === 'HEAD'),
  listOp((req, url) => req.method === 'GET' && q(url, 'list-type')),
  deleteOp((req, url) => req.method === 'DELETE' && !q(url, 'uploadId')),
  copyOp((req) => req.method === 'PUT' && !!req.headers['x-amz-copy-source']),
];

async function s3Env(server: S3Server): Promise<Env> {
  const bucket = `f-${randomUUID().slice(0, 8)}`;
  await server.createBucket(bucket);
  const proxy = await startFaultProxy(server.endpoint);
  const inst = await s3Flavor.create({
    path: `s3://${bucket}`,
    ...s3FlavorOptions(server, proxy.endpoint),
    partSize: 5 * MiB,
    concurrency: 3,
  });
  const table = new MountTable();
  table.mount(`s3://${bucket}`, inst.adapter);
  const raw = new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  return {
    name: server.name,
    fs: table.fs,
    uri: (key) => `s3://${bucket}/${key}`,
    proxy,
    fired: 0,
    small: 1 * MiB,
    large: 11 * MiB + 3,
    ops: s3Ops,
    rawPut: async (key, data) => {
      await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    },
    rawGet: async (key) => {
      try {
        const r = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
          return undefined;
        throw err;
      }
    },
    openUploads: async (prefix) => {
      if (!server.features.listMultipartUploads) return undefined;
      const r = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
      return (r.Uploads ?? []).length;
    },
    async close() {
      raw.destroy();
      await inst.close?.();
      await proxy.close();
      await server.stop();
    },
  };
}

// ---- Azure ---------------------------------------------------------------------------------------

const comp = (url: URL): string | null => url.searchParams.get('comp');
const azureOps: Op[] = [
  writeOp(
    'Put Blob',
    (req, url) => req.method === 'PUT' && comp(url) === null,
    (e) => e.small,
  ),
  writeOp(
    'Put Blob create-only',
    (req, url) => req.method === 'PUT' && comp(url) === null,
    (e) => e.small,
    true,
  ),
  writeOp(
    'Put Block',
    (req, url) => req.method === 'PUT' && comp(url) === 'block',
    (e) => e.large,
  ),
  writeOp(
    'Put Block List',
    (req, url) => req.method === 'PUT' && comp(url) === 'blocklist',
    (e) => e.large,
  ),
  getOp((req, url) => req.method === 'GET' && comp(url) === null),
  headOp((req) => req.method === 'HEAD'),
  listOp((req, url) => req.method === 'GET' && comp(url) === 'list'),
  deleteOp((req) => req.method === 'DELETE'),
];

async function azureEnv(azurite: Azurite): Promise<Env> {
  const container = `f-${randomUUID().slice(0, 8)}`;
  await createContainer(azurite, container);
  const proxy = await startFaultProxy(`http://127.0.0.1:${azurite.port}`);
  const inst = await azureFlavor.create({
    path: `az://${container}`,
    endpoint: `${proxy.endpoint}/${azurite.accountName}`,
    accountName: azurite.accountName,
    accountKey: azurite.accountKey,
    blockSize: 1 * MiB,
    concurrency: 3,
    // The SDK's 4 s first retry delay would make every storm case take most of a minute.
    retryDelayMs: 20,
  });
  const table = new MountTable();
  table.mount(`az://${container}`, inst.adapter);
  const raw: ContainerClient = BlobServiceClient.fromConnectionString(
    azurite.connectionString,
  ).getContainerClient(container);
  return {
    name: 'azurite',
    fs: table.fs,
    uri: (key) => `az://${container}/${key}`,
    proxy,
    fired: 0,
    small: 300 * KiB,
    large: 3 * MiB + 5,
    ops: azureOps,
    rawPut: async (key, data) => {
      await raw.getBlockBlobClient(key).upload(data, data.length);
    },
    rawGet: async (key) => {
      try {
        return await raw.getBlockBlobClient(key).downloadToBuffer();
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw err;
      }
    },
    // Staged blocks are not an open upload: they are never visible and expire on their own.
    openUploads: async () => undefined,
    async close() {
      await inst.close?.();
      await proxy.close();
      await azurite.stop();
    },
  };
}

// ---- the cases -----------------------------------------------------------------------------------

const targets: { name: string; skip?: string | undefined; start: () => Promise<Env> }[] = [
  { name: 'fauxqs', start: async () => s3Env(await startFauxqs()) },
  {
    name: 'radosgw',
    skip: radosgwSkipReason(),
    start: async () => {
      const s = await startRadosgw();
      if ('skipped' in s) throw new Error(s.skipped);
      return s3Env(s);
    },
  },
  { name: 'azurite', start: async () => azureEnv(await startAzurite()) },
];

/**
 * Failures that are real and reported but not fixed in this change: they stay in the table's row
 * (so they are counted and shown), and only failures outside them fail the test.
 */
const KNOWN: [RegExp, string][] = [
  [
    /^radosgw CreateMultipartUpload (lost answers?|torn answer): ; 1 multipart upload\(s\) left open/,
    'a retried CreateMultipartUpload leaves the first attempt’s upload open: its UploadId never reached us',
  ],
];

const cat = new Category('faults');
const rounds = budget(1, 3);

describe('reliability: faults', () => {
  for (const [t, target] of targets.entries()) {
    const run = target.skip ? it.skip : it;
    run(
      `${target.name}: every fault on every request kind${target.skip ? ` — skipped: ${target.skip}` : ''}`,
      async () => {
        const env = await target.start();
        let n = 0;
        try {
          for (let round = 0; round < rounds; round++)
            for (const [o, op] of env.ops.entries())
              for (const [f, [faultName, fault, times]] of FAULTS.entries()) {
                // Bounded: half the pairs, a different half on each target; full: all of them.
                if (!FULL && (o + f + t) % 2 !== 0) continue;
                const key = `c${String(n++).padStart(4, '0')}`;
                const rule: FaultRule = {
                  // Only this case's requests (its key is in the path, or a list's prefix).
                  match: (req, url) => `${url.pathname}${url.search}`.includes(key) && op.match(req, url),
                  fault,
                  times,
                };
                let lost = 0;
                await cat.case(
                  `${env.name} ${op.kind} ${faultName}${round ? ` (round ${round + 1})` : ''}`,
                  async () => {
                    const out = await op.run(env, key, () => env.proxy.setRules([rule]), round);
                    lost = out.lost ?? 0;
                    // A fault that never fired tested nothing: the matcher is wrong.
                    if (out.why === undefined && env.fired === 0) return 'the fault never fired';
                    return out.why;
                  },
                );
                cat.row.bytesLost += lost;
              }
        } finally {
          await env.close();
        }
      },
      budget(120_000, 600_000),
    );
  }

  it('no fault case failed: no false failure, no false success, nothing torn or left open', () => {
    const row = cat.record();
    const falseFailures = row.failures.filter((f) => f.includes('false failure')).length;
    const falseSuccesses = row.failures.filter((f) => f.includes('false success')).length;
    console.log(
      `faults: ${row.passed}/${row.tried} passed, ${falseFailures} false failures, ${falseSuccesses} false successes, ${row.bytesLost} bytes lost`,
    );
    // Known, reported, not yet fixed (each pattern names why); anything else fails here.
    expect(row.failures.filter((f) => !KNOWN.some(([re]) => re.test(f)))).toEqual([]);
  });
});
