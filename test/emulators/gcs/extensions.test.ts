/**
 * The emulator features added for the gcs flavor, driven by the raw SDK: the `corrupt` fault
 * (a flipped byte in a download, which the SDK's own CRC32C validation must catch) and discard
 * mode (bytes checked against a pattern, hashed as they stream, never kept; downloads serve the
 * pattern).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32c, startGcsEmulator, type GcsEmulator } from './server.js';

const KiB = 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const crcB64 = (n: number): string => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b.toString('base64');
};

function patternBytes(pattern: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += pattern.length) pattern.copy(out, i, 0, Math.min(pattern.length, size - i));
  return out;
}

describe('gcs emulator: corrupt fault', () => {
  let emu: GcsEmulator;
  let storage: Storage;
  beforeAll(async () => {
    emu = await startGcsEmulator();
    storage = new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId });
    await storage.createBucket('corrupt');
  });
  afterAll(async () => emu?.stop());

  it('flips one byte of a download; the SDK CRC32C validation rejects it, and the next download is clean', async () => {
    const data = Buffer.from('x'.repeat(100 * KiB));
    const file = storage.bucket('corrupt').file('c.bin');
    await file.save(data, { resumable: false });
    emu.inject({ match: { method: 'GET', pathIncludes: 'c.bin' }, kind: 'corrupt', afterBytes: 5000 });
    await expect(file.download()).rejects.toThrow(/did not match/);
    expect(emu.stats().log.some((r) => r.fault === 'corrupt-at-5000')).toBe(true);
    const [ok] = await file.download();
    expect(sha(ok)).toBe(sha(data));
  });

  it('a ranged download through the header fault shows the flipped byte', async () => {
    const file = storage.bucket('corrupt').file('c.bin');
    const res = await fetch(`${emu.endpoint}/storage/v1/b/corrupt/o/c.bin?alt=media`, {
      headers: { Range: 'bytes=10-19', 'x-emulator-fault': 'corrupt-at-3' },
    });
    expect(res.status).toBe(206);
    const got = Buffer.from(await res.arrayBuffer());
    expect(got[3]).toBe('x'.charCodeAt(0) ^ 0xff);
    expect(got.length).toBe(10);
    void file;
  });
});

describe('gcs emulator: discard mode', () => {
  let emu: GcsEmulator;
  let storage: Storage;
  const pattern = Buffer.from(Array.from({ length: 64 * KiB }, (_, i) => (i * 31 + 7) & 0xff));
  beforeAll(async () => {
    emu = await startGcsEmulator({ discard: { pattern } });
    storage = new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId });
    await storage.createBucket('discard');
  });
  afterAll(async () => emu?.stop());

  it('a chunked resumable SDK upload of pattern bytes is counted and hashed, and downloads as the pattern', async () => {
    const size = 3 * 256 * KiB + 1234;
    const data = patternBytes(pattern, size);
    const file = storage.bucket('discard').file('big.bin');
    await pipeline(Readable.from([data]), file.createWriteStream({ resumable: true, chunkSize: 256 * KiB }));
    const [meta] = await file.getMetadata();
    expect(Number(meta.size)).toBe(size);
    expect(meta.crc32c).toBe(crcB64(crc32c(data)));
    expect(meta.md5Hash).toBeUndefined();
    const [back] = await file.download();
    expect(sha(back)).toBe(sha(data));
    const [part] = await file.download({ start: 70_000, end: 200_000 });
    expect(sha(part)).toBe(sha(data.subarray(70_000, 200_001)));
  });

  it('a single-request SDK upload is checked too; bytes that differ from the pattern are refused', async () => {
    const data = patternBytes(pattern, 5000);
    await storage.bucket('discard').file('small.bin').save(data, { resumable: false });
    const [meta] = await storage.bucket('discard').file('small.bin').getMetadata();
    expect(meta.crc32c).toBe(crcB64(crc32c(data)));
    const bad = Buffer.from(data);
    bad[10] = bad[10]! ^ 1;
    await expect(
      storage.bucket('discard').file('bad.bin').save(bad, { resumable: false, validation: false }),
    ).rejects.toMatchObject({ code: 400 });
    await expect(
      pipeline(
        Readable.from([patternBytes(pattern, 300 * KiB).fill(1, 270 * KiB)]),
        storage.bucket('discard').file('bad2.bin').createWriteStream({ resumable: true, validation: false }),
      ),
    ).rejects.toMatchObject({ code: 400 });
    const [exists] = await storage.bucket('discard').file('bad2.bin').exists();
    expect(exists).toBe(false);
  });

  it('a wrong CRC32C at finalize is refused (the checks stay on)', async () => {
    const data = patternBytes(pattern, 1000);
    await expect(
      storage
        .bucket('discard')
        .file('wrongcrc.bin')
        .save(data, { resumable: false, validation: false, metadata: { crc32c: crcB64(12345) } }),
    ).rejects.toMatchObject({ code: 400 });
  });
});
