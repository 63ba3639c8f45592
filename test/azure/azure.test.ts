/**
 * Azure-specific behaviour on azurite (its own process, in memory), through the azure flavor and
 * the official SDK, with a fault-injecting proxy in front that also records every request.
 */
import { createHash, randomUUID } from 'node:crypto';
import { inspect } from 'node:util';
import {
  BlobServiceClient,
  BlockBlobClient,
  type BlockBlobStageBlockFromURLResponse,
  type ContainerClient,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { azureFlavor, createAzureBackend, type AzureBackendOptions } from '../../adapters/azure/index.js';
import { mapAzureError } from '../../adapters/azure/errors.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { createContainer, startAzurite, type Azurite } from '../emulators/azurite.js';
import { startFaultProxy, type FaultProxy } from '../emulators/fault-proxy.js';
import {
  MiB,
  sha,
  payload,
  count,
  writeStream,
  readAll,
  checkAdaptiveReads,
  checkLostAnswers,
} from '../flavor-helpers.js';

interface Rig {
  fs: FsAdapter;
  container: string;
  uri: (key: string) => string;
  proxy: FaultProxy;
  raw: ContainerClient;
  close(): Promise<void>;
}

let azurite: Azurite;
let rawService: BlobServiceClient;

async function rig(extra: Partial<AzureBackendOptions> = {}): Promise<Rig> {
  const container = `t-${randomUUID().slice(0, 8)}`;
  await createContainer(azurite, container);
  const proxy = await startFaultProxy(`http://127.0.0.1:${azurite.port}`);
  const inst = await azureFlavor.create({
    path: `az://${container}`,
    endpoint: `${proxy.endpoint}/${azurite.accountName}`,
    accountName: azurite.accountName,
    accountKey: azurite.accountKey,
    blockSize: 1 * MiB,
    concurrency: 3,
    ...extra,
  });
  const table = new MountTable();
  table.mount(`az://${container}`, inst.adapter);
  return {
    fs: table.fs,
    container,
    uri: (key) => `az://${container}/${key}`,
    proxy,
    raw: rawService.getContainerClient(container),
    async close() {
      await inst.close?.();
      await proxy.close();
    },
  };
}

const STAGE = /^PUT [^?]*\?(.*&)?comp=block(&|$)/;
const COMMIT = /^PUT [^?]*\?(.*&)?comp=blocklist/;
/** A Put Blob: a PUT without `comp` on a blob path (container/blob). */
const PUT_BLOB = /^PUT \/[^/]+\/[^/?]+\/[^?]+$/;
const LIST = /^GET [^?]*\?(.*&)?comp=list/;
const BATCH = /^POST [^?]*\?(.*&)?comp=batch/;

async function rawRead(raw: ContainerClient, key: string): Promise<Buffer> {
  return raw.getBlockBlobClient(key).downloadToBuffer();
}

describe('azure [azurite]', () => {
  let r: Rig;
  beforeAll(async () => {
    azurite = await startAzurite();
    rawService = BlobServiceClient.fromConnectionString(azurite.connectionString);
    r = await rig();
  }, 60_000);
  afterAll(async () => {
    await r?.close();
    await azurite?.stop();
  });

  const sizes: [string, number, { puts: number; blocks: number }][] = [
    ['0 bytes', 0, { puts: 1, blocks: 0 }],
    ['1 byte', 1, { puts: 1, blocks: 0 }],
    ['exactly one block (1 MiB)', MiB, { puts: 1, blocks: 0 }],
    ['one block plus one byte', MiB + 1, { puts: 0, blocks: 2 }],
    ['three blocks and a tail', 3 * MiB + 12_345, { puts: 0, blocks: 4 }],
  ];
  for (const [name, size, expected] of sizes) {
    it(`${name}: streams up and down with the same SHA-256, as ${expected.blocks ? `${expected.blocks} staged blocks and one commit` : 'one Put Blob'}`, async () => {
      const key = `sizes/${size}.bin`;
      const data = payload(size, size + 1);
      await r.fs.promises.mkdir(r.uri('sizes'), { recursive: true });
      r.proxy.log.length = 0;
      await writeStream(r.fs, r.uri(key), data);
      expect(count(r.proxy.log, STAGE)).toBe(expected.blocks);
      expect(count(r.proxy.log, COMMIT)).toBe(expected.blocks > 0 ? 1 : 0);
      expect(count(r.proxy.log, PUT_BLOB)).toBe(expected.puts);
      expect(sha(await readAll(r.fs, r.uri(key)))).toBe(sha(data));
      expect((await r.fs.promises.stat(r.uri(key))).size).toBe(size);
      expect(sha(await rawRead(r.raw, key))).toBe(sha(data));
      if (expected.blocks > 0) {
        const list = await r.raw.getBlockBlobClient(key).getBlockList('committed');
        const ids = (list.committedBlocks ?? []).map((b) => b.name);
        expect(ids.length).toBe(expected.blocks);
        expect(new Set(ids.map((id) => id.length)).size).toBe(1);
        expect(new Set(ids).size).toBe(ids.length);
      }
    });
  }

  it('ranged reads return exactly the requested bytes, across block and range boundaries', async () => {
    const data = payload(3 * MiB + 3, 77);
    await r.fs.promises.writeFile(r.uri('range.bin'), data);
    for (const [start, end] of [
      [0, 0],
      [5, MiB + 5],
      [MiB - 1, MiB],
      [3 * MiB, 3 * MiB + 2],
      [3, 3 * MiB + 100],
    ] as const) {
      const got = await readAll(r.fs, r.uri('range.bin'), { start, end });
      expect(sha(got)).toBe(sha(data.subarray(start, end + 1)));
    }
    expect((await readAll(r.fs, r.uri('range.bin'), { start: 3 * MiB + 3 })).length).toBe(0);
    await r.fs.promises.writeFile(r.uri('empty.bin'), '');
    expect((await readAll(r.fs, r.uri('empty.bin'), { start: 0 })).length).toBe(0);
  });

  it('large reads: one GET on a fast link; a slow first stream is cut and the rest comes as parallel ranged GETs, in order', async () => {
    const data = payload(5 * MiB + 7, 5);
    const fast = await rig({ readPartSize: MiB, readConcurrency: 3, readParallelBelow: 1 });
    const slow = await rig({ readPartSize: MiB, readConcurrency: 3, readParallelBelow: 1e15 });
    try {
      await checkAdaptiveReads(fast, slow, data);
    } finally {
      await fast.close();
      await slow.close();
    }
  });

  it('a failed commit leaves the previous blob intact (same SHA-256) and commits nothing', async () => {
    const before = payload(2 * MiB + 11, 61);
    await r.fs.promises.writeFile(r.uri('keep.bin'), before);
    const blocks = async () =>
      ((await r.raw.getBlockBlobClient('keep.bin').getBlockList('committed')).committedBlocks ?? []).map(
        (b) => b.name,
      );
    const blocksBefore = await blocks();
    expect(blocksBefore.length).toBe(3);
    const next = payload(3 * MiB + 5, 62);
    r.proxy.setRules([
      {
        match: (req, url) => req.method === 'PUT' && url.searchParams.get('comp') === 'blocklist',
        fault: { kind: 'status', status: 500, body: '<Error><Code>InternalError</Code></Error>' },
        times: 1000,
      },
    ]);
    r.proxy.log.length = 0;
    let err: (Error & { code?: string }) | undefined;
    try {
      await writeStream(r.fs, r.uri('keep.bin'), next);
    } catch (e) {
      err = e as Error & { code?: string };
    } finally {
      r.proxy.setRules([]);
    }
    expect(err?.code).toBe('EAGAIN');
    expect(err?.message).toContain(r.uri('keep.bin'));
    expect(count(r.proxy.log, STAGE)).toBe(4);
    expect(sha(await rawRead(r.raw, 'keep.bin'))).toBe(sha(before));
    expect(sha(await r.fs.promises.readFile(r.uri('keep.bin')))).toBe(sha(before));
    // The committed block list is still the previous upload's.
    expect(await blocks()).toEqual(blocksBefore);
  });

  it('a write that fails before its commit leaves a new key absent, unlisted, and the old one intact', async () => {
    // One SDK attempt per request (the writer still retries a reset twice), so the test stays fast.
    const f = await rig({ maxAttempts: 1 });
    try {
      const before = payload(MiB + 3, 63);
      await f.fs.promises.writeFile(f.uri('kept-2.bin'), before);
      f.proxy.setRules([
        {
          match: (req, url) => req.method === 'PUT' && url.searchParams.get('comp') === 'block',
          fault: { kind: 'reset', afterBytes: 64 * 1024 },
          times: 1000,
        },
      ]);
      f.proxy.log.length = 0;
      const errors: (Error & { code?: string })[] = [];
      for (const key of ['kept-2.bin', 'doomed.bin']) {
        try {
          await writeStream(f.fs, f.uri(key), payload(4 * MiB, 64));
        } catch (e) {
          errors.push(e as Error & { code?: string });
        }
      }
      f.proxy.setRules([]);
      expect(errors.map((e) => e.code)).toEqual([
        expect.stringMatching(/^(ECONNRESET|EPIPE)$/),
        expect.stringMatching(/^(ECONNRESET|EPIPE)$/),
      ]);
      expect(count(f.proxy.log, COMMIT)).toBe(0);
      expect(sha(await rawRead(f.raw, 'kept-2.bin'))).toBe(sha(before));
      await expect(f.fs.promises.stat(f.uri('doomed.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
      const names = (await f.fs.promises.readdir(f.uri(''))) as string[];
      expect(names).not.toContain('doomed.bin');
    } finally {
      await f.close();
    }
  });

  it('destroying a write stream mid-upload commits nothing', async () => {
    const before = payload(1000, 65);
    await r.fs.promises.writeFile(r.uri('abandoned.bin'), before);
    r.proxy.log.length = 0;
    const ws = r.fs.createWriteStream(r.uri('abandoned.bin'));
    await new Promise<void>((resolve) => ws.write(payload(3 * MiB, 66), () => resolve()));
    // Wait until blocks have reached the server, then abandon the upload.
    for (let i = 0; i < 100 && count(r.proxy.log, STAGE) === 0; i++)
      await new Promise((res) => setTimeout(res, 50));
    expect(count(r.proxy.log, STAGE)).toBeGreaterThan(0);
    ws.destroy();
    await new Promise<void>((resolve) => ws.once('close', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(count(r.proxy.log, COMMIT)).toBe(0);
    expect(sha(await rawRead(r.raw, 'abandoned.bin'))).toBe(sha(before));
  });

  it('a 503 ServerBusy on a block is retried and the blob is intact', async () => {
    const data = payload(3 * MiB, 22);
    r.proxy.setRules([
      {
        match: (req, url) => req.method === 'PUT' && url.searchParams.get('comp') === 'block',
        fault: {
          kind: 'status',
          status: 503,
          body: '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>injected</Message></Error>',
        },
        times: 2,
      },
    ]);
    try {
      await writeStream(r.fs, r.uri('busy.bin'), data);
      expect(r.proxy.hits[0]).toBe(2);
    } finally {
      r.proxy.setRules([]);
    }
    expect(sha(await readAll(r.fs, r.uri('busy.bin')))).toBe(sha(data));
  });

  for (const [name, size] of [
    ['a single Put Blob', 100],
    ['a block commit', 2 * MiB + 1],
  ] as const) {
    it(`create-only ('wx') through ${name}: a racing writer wins and the loser gets EEXIST`, async () => {
      const key = `race-${size}.bin`;
      const h = await r.fs.promises.open(r.uri(key), 'wx');
      await h.write(payload(size, 7));
      await r.raw.getBlockBlobClient(key).upload('theirs', 6);
      await expect(h.close()).rejects.toMatchObject({ code: 'EEXIST' });
      expect(await r.fs.promises.readFile(r.uri(key), 'utf8')).toBe('theirs');
      await expect(r.fs.promises.writeFile(r.uri(key), 'again', { flag: 'wx' })).rejects.toMatchObject({
        code: 'EEXIST',
      });
    });
  }

  it('a create-only write whose answer was lost is retried and succeeds (the blob there is ours)', async () => {
    await checkLostAnswers(
      r,
      [
        ['lost-put.bin', 300_000, (req, url) => req.method === 'PUT' && !url.search],
        [
          'lost-commit.bin',
          2 * MiB + 7,
          (req, url) => req.method === 'PUT' && url.searchParams.get('comp') === 'blocklist',
        ],
      ],
      async (key, data) => {
        await r.raw.getBlockBlobClient(key).upload(data, data.length);
      },
    );
  });

  it('stores the CRC32 as metadata; a full read of tampered bytes fails with EIO, a ranged read does not check', async () => {
    const data = payload(300_000, 51);
    await r.fs.promises.writeFile(r.uri('crc.bin'), data);
    const props = await r.raw.getBlockBlobClient('crc.bin').getProperties();
    expect(props.metadata?.avfscrc32).toMatch(/^[0-9a-f]+$/);
    const tampered = Buffer.from(data);
    tampered[12_345] = (tampered[12_345] ?? 0) ^ 0xff;
    await r.raw
      .getBlockBlobClient('crc.bin')
      .upload(tampered, tampered.length, { metadata: props.metadata ?? {} });
    await expect(r.fs.promises.readFile(r.uri('crc.bin'))).rejects.toMatchObject({ code: 'EIO' });
    const part = await readAll(r.fs, r.uri('crc.bin'), { start: 12_000, end: 12_999 });
    expect(part.equals(tampered.subarray(12_000, 13_000))).toBe(true);
  });

  it("blockChecksum 'md5' sends each block's MD5 (the server verifies it); the default sends none", async () => {
    const seen: (string | undefined)[] = [];
    const record = (rg: Rig) =>
      rg.proxy.setRules([
        {
          match: (req) => {
            if (req.method === 'PUT') seen.push(req.headers['content-md5'] as string | undefined);
            return false;
          },
          fault: { kind: 'stall', ms: 0 },
        },
      ]);
    const md5 = await rig({ blockChecksum: 'md5' });
    try {
      const data = payload(2 * MiB + 9, 91);
      record(md5);
      await writeStream(md5.fs, md5.uri('md5.bin'), data);
      const blocks = [data.subarray(0, MiB), data.subarray(MiB, 2 * MiB), data.subarray(2 * MiB)];
      expect(seen.filter(Boolean).sort()).toEqual(
        blocks.map((b) => createHash('md5').update(b).digest('base64')).sort(),
      );
      expect(sha(await readAll(md5.fs, md5.uri('md5.bin')))).toBe(sha(data));
    } finally {
      await md5.close();
    }
    seen.length = 0;
    record(r);
    await writeStream(r.fs, r.uri('no-md5.bin'), payload(2 * MiB + 9, 92));
    r.proxy.setRules([]);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter(Boolean)).toEqual([]);
  });

  it('keys with spaces, unicode, +, %, # and = round-trip and list verbatim', async () => {
    const names = ['with space.txt', 'ünï cödé ✓.txt', 'a+b.txt', '100%.txt', 'hash#tag.txt', 'eq=1&x.txt'];
    await r.fs.promises.mkdir(r.uri('odd names'), { recursive: true });
    for (const n of names) await r.fs.promises.writeFile(r.uri(`odd names/${n}`), n);
    expect(((await r.fs.promises.readdir(r.uri('odd names'))) as string[]).sort()).toEqual([...names].sort());
    for (const n of names) {
      expect(await r.fs.promises.readFile(r.uri(`odd names/${n}`), 'utf8')).toBe(n);
      expect((await rawRead(r.raw, `odd names/${n}`)).toString()).toBe(n);
    }
    await r.fs.promises.copyFile(r.uri('odd names/100%.txt'), r.uri('odd names/copy of a+b ✓.txt'));
    expect(await r.fs.promises.readFile(r.uri('odd names/copy of a+b ✓.txt'), 'utf8')).toBe('100%.txt');
  });

  it('listing 10,001 blobs pages through small pages and misses none', async () => {
    const paged = await rig({ listPageSize: 500 });
    try {
      const keys = Array.from({ length: 10_001 }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      await paged.fs.promises.mkdir(paged.uri('many'), { recursive: true });
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < keys.length) {
            const k = keys[next++]!;
            await paged.raw.getBlockBlobClient(k).upload('', 0);
          }
        }),
      );
      paged.proxy.log.length = 0;
      const names = (await paged.fs.promises.readdir(paged.uri('many'))) as string[];
      expect(names.length).toBe(10_001);
      expect(new Set(names).size).toBe(10_001);
      expect(names[0]).toBe('k00000');
      expect(names[10_000]).toBe('k10000');
      expect(count(paged.proxy.log, LIST)).toBeGreaterThanOrEqual(21);
    } finally {
      await paged.close();
    }
  }, 180_000);

  it('rm -r of 600 blobs deletes in Blob Batch requests of at most 256 and leaves siblings', async () => {
    await r.fs.promises.mkdir(r.uri('tree'), { recursive: true });
    await r.fs.promises.writeFile(r.uri('tree-sibling.txt'), 'keep');
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < 600) {
          const i = next++;
          await r.raw.getBlockBlobClient(`tree/d${i % 7}/f${i}`).upload('x', 1);
        }
      }),
    );
    r.proxy.log.length = 0;
    await r.fs.promises.rm(r.uri('tree'), { recursive: true });
    // 600 blobs and the `tree/` marker: 601 keys, three batches.
    expect(count(r.proxy.log, BATCH)).toBe(3);
    expect(count(r.proxy.log, /^DELETE /)).toBeLessThanOrEqual(1);
    await expect(r.fs.promises.stat(r.uri('tree'))).rejects.toMatchObject({ code: 'ENOENT' });
    let left = 0;
    for await (const _ of r.raw.listBlobsFlat({ prefix: 'tree/' })) left++;
    expect(left).toBe(0);
    expect(await r.fs.promises.readFile(r.uri('tree-sibling.txt'), 'utf8')).toBe('keep');
  }, 120_000);

  it('copyFile is server-side (Copy Blob From URL) and keeps the CRC32 metadata', async () => {
    const data = payload(3 * MiB, 31);
    await r.fs.promises.writeFile(r.uri('copy-src.bin'), data);
    r.proxy.log.length = 0;
    await r.fs.promises.copyFile(r.uri('copy-src.bin'), r.uri('copy-dst.bin'));
    expect(count(r.proxy.log, /^GET [^?]*copy-src\.bin/)).toBe(0);
    expect(count(r.proxy.log, /^PUT [^?]*copy-dst\.bin/)).toBe(1);
    expect(sha(await readAll(r.fs, r.uri('copy-dst.bin')))).toBe(sha(data));
    const props = await r.raw.getBlockBlobClient('copy-dst.bin').getProperties();
    expect(props.metadata?.avfscrc32).toMatch(/^[0-9a-f]+$/);
  });

  it('a create-only copy is enforced by the server (If-None-Match: *), small and large', async () => {
    const backend = await createAzureBackend({
      container: r.container,
      endpoint: `${azurite.endpoint}`,
      accountName: azurite.accountName,
      accountKey: azurite.accountKey,
      copyBlockThreshold: 2 * MiB,
    });
    expect(backend.capabilities.conditionalCopy).toBe(true);
    for (const size of [1000, 3 * MiB]) {
      const src = `cc-src-${size}`;
      await r.raw.getBlockBlobClient(src).uploadData(payload(size, 5));
      await r.raw.getBlockBlobClient(`cc-dst-${size}`).uploadData(Buffer.from('dst was here'));
      // No pre-check here: only the server's condition can refuse it.
      await expect(backend.copy(src, `cc-dst-${size}`, { ifNoneMatch: true })).rejects.toMatchObject({
        code: 'EEXIST',
      });
      const kept = await r.raw.getBlockBlobClient(`cc-dst-${size}`).downloadToBuffer();
      expect(kept.toString()).toBe('dst was here');
      await backend.copy(src, `cc-new-${size}`, { ifNoneMatch: true });
      const copied = await r.raw.getBlockBlobClient(`cc-new-${size}`).downloadToBuffer();
      expect(sha(copied)).toBe(sha(payload(size, 5)));
    }
  });

  it('copies above the threshold try Put Block From URL, then fall back to a server-side Copy Blob', async () => {
    const big = await rig({ copyBlockThreshold: 2 * MiB, copyBlockSize: MiB });
    try {
      const data = payload(5 * MiB + 5, 41);
      await big.fs.promises.writeFile(big.uri('big-src.bin'), data);
      big.proxy.log.length = 0;
      await big.fs.promises.copyFile(big.uri('big-src.bin'), big.uri('big-dst.bin'));
      // azurite 3.35 answers Put Block From URL with 501: one attempt, then Copy Blob and polling.
      // No body GET of the source by the client (azurite itself reads the source's metadata,
      // `?comp=metadata`, through the proxy, since the source URL points at it).
      expect(count(big.proxy.log, /^GET [^?]*big-src\.bin(?![^ ]*comp=metadata)/)).toBe(0);
      expect(count(big.proxy.log, /^PUT [^?]*big-dst\.bin\?(.*&)?comp=block/)).toBeGreaterThanOrEqual(1);
      expect(sha(await readAll(big.fs, big.uri('big-dst.bin')))).toBe(sha(data));
      // The fallback is remembered: a second copy goes straight to Copy Blob.
      big.proxy.log.length = 0;
      await big.fs.promises.copyFile(big.uri('big-src.bin'), big.uri('big-dst2.bin'));
      expect(count(big.proxy.log, /comp=block/)).toBe(0);
      expect(sha(await readAll(big.fs, big.uri('big-dst2.bin')))).toBe(sha(data));
    } finally {
      await big.close();
    }
  });

  it('a Put Block From URL copy whose source is replaced midway commits nothing (EIO)', async () => {
    const big = await rig({ copyBlockThreshold: 2 * MiB, copyBlockSize: MiB });
    // azurite lacks Put Block From URL: done here by hand (read the source range, stage it), so the
    // block-by-block path runs; `replaceAt` overwrites the source before that block is read.
    let calls = 0;
    let replaceAt = 0;
    const spy = vi.spyOn(BlockBlobClient.prototype, 'stageBlockFromURL').mockImplementation(async function (
      this: BlockBlobClient,
      id,
      _url,
      offset = 0,
      count,
    ) {
      if (++calls === replaceAt) {
        const other = payload(5 * MiB + 5, 43);
        await big.raw.getBlockBlobClient('src.bin').upload(other, other.length);
      }
      const bytes = await big.raw.getBlockBlobClient('src.bin').downloadToBuffer(offset, count);
      return (await this.stageBlock(
        id,
        bytes,
        bytes.length,
      )) as unknown as BlockBlobStageBlockFromURLResponse;
    });
    try {
      const data = payload(5 * MiB + 5, 42);
      await big.fs.promises.writeFile(big.uri('src.bin'), data);
      // untouched source: the block copy goes through and is exact
      await big.fs.promises.copyFile(big.uri('src.bin'), big.uri('dst-ok.bin'));
      expect(calls).toBe(6);
      expect(sha(await rawRead(big.raw, 'dst-ok.bin'))).toBe(sha(data));
      // the source replaced while its blocks are read: nothing is committed at the destination
      calls = 0;
      replaceAt = 3;
      await expect(
        big.fs.promises.copyFile(big.uri('src.bin'), big.uri('dst-mixed.bin')),
      ).rejects.toMatchObject({ code: 'EIO', path: big.uri('src.bin') });
      await expect(big.fs.promises.stat(big.uri('dst-mixed.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      spy.mockRestore();
      await big.close();
    }
  });

  it('abfss://container@account.dfs.core.windows.net/prefix names the container, the account and the root', async () => {
    const container = `abfs-${randomUUID().slice(0, 8)}`;
    await createContainer(azurite, container);
    const inst = await azureFlavor.create({
      path: `abfss://${container}@${azurite.accountName}.dfs.core.windows.net/pre/fix`,
      endpoint: azurite.endpoint,
      accountKey: azurite.accountKey,
    });
    expect(inst.root).toBe('/pre/fix');
    const table = new MountTable();
    table.mount(`az://${container}`, inst.adapter);
    await table.fs.promises.mkdir(`az://${container}/pre/fix`, { recursive: true });
    await table.fs.promises.writeFile(`az://${container}/pre/fix/a.txt`, 'abfs');
    expect((await rawRead(rawService.getContainerClient(container), 'pre/fix/a.txt')).toString()).toBe(
      'abfs',
    );
    await expect(
      azureFlavor.create({
        path: `abfss://c@otheraccount.dfs.core.windows.net/x`,
        accountName: azurite.accountName,
        accountKey: azurite.accountKey,
      }),
    ).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a connection string alone is enough', async () => {
    const container = `cs-${randomUUID().slice(0, 8)}`;
    await createContainer(azurite, container);
    const inst = await azureFlavor.create({
      path: `az://${container}`,
      connectionString: azurite.connectionString,
    });
    const table = new MountTable();
    table.mount(`az://${container}`, inst.adapter);
    await table.fs.promises.writeFile(`az://${container}/x.txt`, 'via connection string');
    expect((await rawRead(rawService.getContainerClient(container), 'x.txt')).toString()).toBe(
      'via connection string',
    );
  });

  it('errors name the URI and never contain the account key or the SAS signature', async () => {
    const keyCanary = Buffer.from('avfs-canary-key-DO-NOT-LEAK-0123456789').toString('base64');
    const wrongKey = await rig({ accountKey: keyCanary });
    const sigCanary = 'avfsCanarySigDoNotLeak0123456789';
    const wrongSas = await rig({
      accountKey: undefined,
      sasToken: `sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&spr=http&sig=${sigCanary}`,
    });
    try {
      for (const [rg, canary] of [
        [wrongKey, keyCanary],
        [wrongSas, sigCanary],
      ] as const) {
        const err = await rg.fs.promises.readFile(rg.uri('missing.txt')).catch((e: unknown) => e as Error);
        expect(err).toBeInstanceOf(Error);
        const text = `${String(err)} ${inspect(err, { depth: 8 })} ${JSON.stringify(err)}`;
        expect(text).not.toContain(canary);
        expect((err as { path?: string }).path).toBe(rg.uri('missing.txt'));
        expect((err as { code?: string }).code).toBe('EACCES');
        expect((err as { cause?: unknown }).cause).toBeDefined();
      }
    } finally {
      await wrongKey.close();
      await wrongSas.close();
    }
  });
});

describe('azure error table', () => {
  const restError = (status: number | undefined, code?: string, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(code ?? `HTTP ${status}`), {
      name: 'RestError',
      statusCode: status,
      code,
      ...(code ? { details: { errorCode: code } } : {}),
      ...extra,
    });
  const rows: [string, Error, string, boolean][] = [
    ['BlobNotFound', restError(404, 'BlobNotFound'), 'ENOENT', false],
    ['ContainerNotFound', restError(404, 'ContainerNotFound'), 'ENOENT', false],
    ['a HEAD 404 without a code', restError(404), 'ENOENT', false],
    ['AuthorizationFailure', restError(403, 'AuthorizationFailure'), 'EACCES', false],
    ['AuthenticationFailed', restError(403, 'AuthenticationFailed'), 'EACCES', false],
    ['BlobAlreadyExists on create-only', restError(409, 'BlobAlreadyExists'), 'EEXIST', false],
    ['a 412 on create-only', restError(412, 'ConditionNotMet'), 'EEXIST', false],
    ['ServerBusy', restError(503, 'ServerBusy'), 'EAGAIN', true],
    [
      'an untrusted TLS certificate',
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'EPROTO',
      false,
    ],
    ['a bare 503', restError(503), 'EAGAIN', true],
    ['InternalError', restError(500, 'InternalError'), 'EAGAIN', true],
    ['OperationTimedOut', restError(500, 'OperationTimedOut'), 'ETIMEDOUT', true],
    ['Md5Mismatch', restError(400, 'Md5Mismatch'), 'EIO', true],
    ['InvalidBlockList', restError(400, 'InvalidBlockList'), 'EIO', false],
    ['NotImplemented', restError(501, 'NotImplemented'), 'ENOTSUP', false],
    ['a socket reset', restError(undefined, 'ECONNRESET'), 'ECONNRESET', true],
    ['a failed send', restError(undefined, 'REQUEST_SEND_ERROR'), 'ECONNRESET', true],
    ['an unknown 4xx', restError(418, 'Teapot'), 'EIO', false],
  ];
  for (const [name, err, code, retryable] of rows) {
    it(`${name} → ${code}${retryable ? ' (retryable)' : ''}`, () => {
      const mapped = mapAzureError(err, { syscall: 'open', path: 'az://c/k' });
      expect(mapped.code).toBe(code);
      expect(mapped.retryable).toBe(retryable);
      expect(mapped.path).toBe('az://c/k');
      expect(mapped.cause).toBe(err);
      expect(mapped.message.startsWith(`${code}: `)).toBe(true);
    });
  }

  it('scrubs a SAS signature from the cause and its request URL', () => {
    const err = restError(403, 'AuthorizationFailure', {
      message: 'denied for https://a.blob.core.windows.net/c/k?sv=1&sig=SeCrEtSiG%3D&se=2',
      request: { url: 'https://a.blob.core.windows.net/c/k?sv=1&sig=SeCrEtSiG%3D&se=2' },
    });
    const mapped = mapAzureError(err, { syscall: 'open', path: 'az://c/k' });
    const text = inspect(mapped, { depth: 8 });
    expect(text).not.toContain('SeCrEtSiG');
    expect(text).toContain('sig=REDACTED');
  });
});
