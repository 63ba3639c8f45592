/**
 * The S3 test servers themselves: each starts, serves bytes and multipart uploads through the raw
 * SDK, and its `features` flags say exactly what it does (each flag is checked both ways).
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from './fauxqs.js';
import { radosgwSkipReason, startRadosgw } from './radosgw.js';
import { s3Client, type S3Server } from './s3-server.js';

const MiB = 1024 * 1024;
const START_TIMEOUT = 60_000;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sha256b64 = (b: Uint8Array) => createHash('sha256').update(b).digest('base64');
const status = (err: unknown) =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

async function getBytes(client: S3Client, Bucket: string, Key: string): Promise<Uint8Array> {
  const res = await client.send(new GetObjectCommand({ Bucket, Key }));
  return res.Body!.transformToByteArray();
}

/** Resolves with the error a promise rejects with, or undefined when it resolves. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err ?? new Error('rejected with nothing');
  }
}

/** Whether anything still accepts TCP connections at `endpoint`. */
function answers(endpoint: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(endpoint, { method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

interface Candidate {
  name: string;
  start: () => Promise<S3Server | { skipped: string }>;
  /** Known at collection time, so the skip shows up with its reason. */
  skip: string | undefined;
}

const candidates: Candidate[] = [
  { name: 'fauxqs', start: startFauxqs, skip: undefined },
  { name: 'radosgw', start: startRadosgw, skip: radosgwSkipReason() },
];

for (const cand of candidates) {
  describe(`s3 server [${cand.name}]`, () => {
    if (cand.skip) {
      it.skip(`starts and serves S3 — skipped: ${cand.skip}`, () => {});
      return;
    }

    const Bucket = 'avfs-emulator-test';
    let server: S3Server;
    let client: S3Client;

    beforeAll(async () => {
      const t0 = performance.now();
      const started = await cand.start();
      if ('skipped' in started)
        throw new Error(`binaries were found but start() skipped: ${started.skipped}`);
      server = started;
      console.log(`${cand.name}: ready in ${Math.round(performance.now() - t0)} ms at ${server.endpoint}`);
      client = s3Client(server);
      await server.createBucket(Bucket);
    }, START_TIMEOUT);

    afterAll(async () => {
      client?.destroy();
      await server?.stop();
    }, START_TIMEOUT);

    it('describes itself', () => {
      expect(server.name).toBe(cand.name);
      expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.forcePathStyle).toBe(true);
    });

    it('puts and gets an object byte for byte', async () => {
      const body = Buffer.concat([Buffer.from([0, 255, 10, 13]), randomBytes(100_000)]);
      await client.send(new PutObjectCommand({ Bucket, Key: 'dir/bytes.bin', Body: body }));
      expect(Buffer.from(await getBytes(client, Bucket, 'dir/bytes.bin')).equals(body)).toBe(true);
      const head = await client.send(new HeadObjectCommand({ Bucket, Key: 'dir/bytes.bin' }));
      expect(head.ContentLength).toBe(body.length);
    });

    it('completes a 2-part multipart upload (5 MiB + 1 byte)', async () => {
      const Key = 'multipart.bin';
      const parts = [randomBytes(5 * MiB), Buffer.from('!')];
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const etags: string[] = [];
      for (const [i, Body] of parts.entries()) {
        const res = await client.send(
          new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body }),
        );
        etags.push(res.ETag!);
      }
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      const got = await getBytes(client, Bucket, Key);
      expect(got.length).toBe(5 * MiB + 1);
      expect(sha256(got)).toBe(sha256(Buffer.concat(parts)));
    });

    it('features.ifNoneMatch: PutObject If-None-Match: * on an existing key', async () => {
      const Key = 'if-none-match.txt';
      await client.send(new PutObjectCommand({ Bucket, Key, Body: 'first' }));
      const err = await failure(
        client.send(new PutObjectCommand({ Bucket, Key, Body: 'second', IfNoneMatch: '*' })),
      );
      const now = Buffer.from(await getBytes(client, Bucket, Key)).toString();
      if (server.features.ifNoneMatch) {
        expect(status(err)).toBe(412);
        expect(now).toBe('first');
      } else {
        expect(err).toBeUndefined();
        expect(now).toBe('second');
      }
      // on a new key the condition holds everywhere
      await client.send(
        new PutObjectCommand({ Bucket, Key: 'if-none-match-new.txt', Body: 'x', IfNoneMatch: '*' }),
      );
    });

    it('features.uploadPartCopy: a part copied from a range of another object', async () => {
      const source = randomBytes(5 * MiB + 100);
      await client.send(new PutObjectCommand({ Bucket, Key: 'copy-source.bin', Body: source }));
      const Key = 'copy-target.bin';
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      const tail = Buffer.from('tail');
      const err = await failure(
        (async () => {
          const p1 = await client.send(
            new UploadPartCopyCommand({
              Bucket,
              Key,
              UploadId,
              PartNumber: 1,
              CopySource: `${Bucket}/copy-source.bin`,
              CopySourceRange: `bytes=0-${5 * MiB - 1}`,
            }),
          );
          const p2 = await client.send(
            new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 2, Body: tail }),
          );
          await client.send(
            new CompleteMultipartUploadCommand({
              Bucket,
              Key,
              UploadId,
              MultipartUpload: {
                Parts: [
                  { PartNumber: 1, ETag: p1.CopyPartResult?.ETag },
                  { PartNumber: 2, ETag: p2.ETag },
                ],
              },
            }),
          );
        })(),
      );
      let copied = false;
      if (err === undefined) {
        const got = await getBytes(client, Bucket, Key);
        copied = sha256(got) === sha256(Buffer.concat([source.subarray(0, 5 * MiB), tail]));
      } else {
        await failure(client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })));
      }
      expect(copied).toBe(server.features.uploadPartCopy);
    });

    it('features.listMultipartUploads: an unfinished upload is listed', async () => {
      const Key = 'unfinished.bin';
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
      let listed = false;
      try {
        const res = await client.send(new ListMultipartUploadsCommand({ Bucket }));
        listed = (res.Uploads ?? []).some((u) => u.UploadId === UploadId && u.Key === Key);
      } catch {
        listed = false;
      } finally {
        await failure(client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })));
      }
      expect(listed).toBe(server.features.listMultipartUploads);
    });

    it('features.checksums: a wrong x-amz-checksum is rejected and the stored one returned', async () => {
      const body = Buffer.from('checksummed body');
      const wrong = await failure(
        client.send(
          new PutObjectCommand({
            Bucket,
            Key: 'checksum-wrong.txt',
            Body: body,
            ChecksumSHA256: sha256b64(Buffer.from('other bytes')),
          }),
        ),
      );
      await client.send(
        new PutObjectCommand({ Bucket, Key: 'checksum.txt', Body: body, ChecksumSHA256: sha256b64(body) }),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket, Key: 'checksum.txt', ChecksumMode: 'ENABLED' }),
      );
      const rejectsWrong = wrong !== undefined && status(wrong) === 400;
      const returnsStored = head.ChecksumSHA256 === sha256b64(body);
      expect({ rejectsWrong, returnsStored }).toEqual({
        rejectsWrong: server.features.checksums,
        returnsStored: server.features.checksums,
      });
    });

    it('stop() ends the server and is idempotent', async () => {
      expect(await answers(server.endpoint)).toBe(true);
      await server.stop();
      expect(await answers(server.endpoint)).toBe(false);
      await server.stop();
    });
  });
}
