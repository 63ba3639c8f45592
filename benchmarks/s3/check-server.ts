/**
 * A quick self-check of the discard server through the real SDK (and raw HTTP for the framing
 * cases), run by `run.ts` before it measures anything: a benchmark against a server that miscounts
 * or mis-serves bytes would be meaningless. Uses its own bucket (`check`) and small objects.
 */
import { request, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { BLOCK_SIZE, MiB, payloadBlock, payloadSource } from './payload.js';
import type { DiscardServer } from './server-process.js';

function assert(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`discard-server check failed: ${what}`);
}

async function bytesOf(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** The payload bytes [start, end) as the server should serve them. */
function expected(start: number, end: number): Buffer {
  const block = payloadBlock();
  const out = Buffer.alloc(end - start);
  for (let i = 0; i < out.length; i++) out[i] = block[(start + i) % BLOCK_SIZE]!;
  return out;
}

function raw(
  endpoint: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${endpoint}${path}`, { method, headers });
    req.on('error', reject);
    req.on('response', (res) => {
      bytesOf(res).then(
        (b) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }),
        reject,
      );
    });
    if (headers.expect === '100-continue') {
      req.on('continue', () => req.end(body));
    } else req.end(body);
  });
}

/** Runs the checks; returns their names. Throws on the first failure. */
export async function checkServer(server: DiscardServer): Promise<string[]> {
  const { S3Client, ...s3 } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'check', secretAccessKey: 'check-secret' },
    maxAttempts: 1,
  });
  const Bucket = 'check';
  const done: string[] = [];
  try {
    await client.send(new s3.CreateBucketCommand({ Bucket }));
    await client.send(new s3.HeadBucketCommand({ Bucket }));
    const missingBucket = await client.send(new s3.HeadBucketCommand({ Bucket: 'nope' })).then(
      () => 200,
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode,
    );
    assert(missingBucket === 404, `HeadBucket of a missing bucket answered ${missingBucket}`);
    done.push('CreateBucket/HeadBucket');

    // PutObject from a Buffer (the SDK adds a CRC32 header).
    const small = expected(0, 3000);
    await client.send(new s3.PutObjectCommand({ Bucket, Key: 'dir/small', Body: small }));
    const head = await client.send(new s3.HeadObjectCommand({ Bucket, Key: 'dir/small' }));
    assert(head.ContentLength === 3000, `HeadObject size ${head.ContentLength}`);
    assert(head.ETag?.startsWith('"'), 'HeadObject ETag');
    done.push('PutObject/HeadObject');

    // PutObject from a stream: the SDK frames it as aws-chunked with a trailing checksum.
    const chunkedBefore = (await server.stats()).awsChunkedBodies;
    const streamed = 3 * MiB + 12345;
    await client.send(
      new s3.PutObjectCommand({
        Bucket,
        Key: 'streamed',
        Body: payloadSource(streamed),
        ContentLength: streamed,
      }),
    );
    const rec = await server.object(Bucket, 'streamed');
    assert(rec?.size === streamed, `aws-chunked PutObject recorded ${rec?.size} bytes, sent ${streamed}`);
    const chunkedAfter = (await server.stats()).awsChunkedBodies;
    done.push(
      chunkedAfter > chunkedBefore ? 'PutObject aws-chunked (SDK)' : 'PutObject streamed (not chunked)',
    );

    // aws-chunked with SigV4 chunk signatures, by hand.
    const signed = Buffer.from(
      `5;chunk-signature=${'a'.repeat(64)}\r\nhello\r\n6;chunk-signature=${'b'.repeat(64)}\r\n world\r\n` +
        `0;chunk-signature=${'c'.repeat(64)}\r\n\r\n`,
    );
    const put = await raw(
      server.endpoint,
      'PUT',
      `/${Bucket}/signed`,
      {
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '11',
        'content-length': String(signed.length),
      },
      signed,
    );
    assert(put.status === 200, `signed aws-chunked PUT answered ${put.status}`);
    assert((await server.object(Bucket, 'signed'))?.size === 11, 'signed aws-chunked size');
    done.push('PutObject aws-chunked (signed chunks)');

    // Expect: 100-continue on a raw PUT.
    const cont = await raw(
      server.endpoint,
      'PUT',
      `/${Bucket}/continued`,
      { expect: '100-continue', 'content-length': '4096' },
      expected(0, 4096),
    );
    assert(cont.status === 200, `100-continue PUT answered ${cont.status}`);
    assert((await server.object(Bucket, 'continued'))?.size === 4096, '100-continue size');
    done.push('Expect: 100-continue');

    // Multipart through lib-storage: 12 MiB in 5 MiB parts.
    const mpSize = 12 * MiB + 7;
    await new Upload({
      client,
      params: { Bucket, Key: 'multi', Body: payloadSource(mpSize) },
      partSize: 5 * MiB,
    }).done();
    const mp = await server.object(Bucket, 'multi');
    assert(mp?.size === mpSize && mp.parts === 3, `multipart recorded ${JSON.stringify(mp)}`);
    done.push('CreateMultipartUpload/UploadPart/CompleteMultipartUpload');

    // GetObject: whole object and a range across a block boundary, byte for byte.
    const whole = await client.send(new s3.GetObjectCommand({ Bucket, Key: 'streamed' }));
    const wholeBytes = await bytesOf(whole.Body);
    assert(wholeBytes.equals(expected(0, streamed)), 'GetObject bytes differ from the payload');
    const a = BLOCK_SIZE - 10;
    const ranged = await client.send(
      new s3.GetObjectCommand({ Bucket, Key: 'multi', Range: `bytes=${a}-${a + 29}` }),
    );
    assert(ranged.ContentRange === `bytes ${a}-${a + 29}/${mpSize}`, `Content-Range ${ranged.ContentRange}`);
    assert((await bytesOf(ranged.Body)).equals(expected(a, a + 30)), 'ranged GetObject bytes');
    const rawGet = await raw(server.endpoint, 'GET', `/${Bucket}/multi`, { range: 'bytes=-5' });
    assert(rawGet.status === 206 && rawGet.body.equals(expected(mpSize - 5, mpSize)), 'suffix range');
    done.push('GetObject (whole, Range, suffix Range)');

    // ListObjectsV2 with a delimiter and paging.
    const list = await client.send(new s3.ListObjectsV2Command({ Bucket, Delimiter: '/' }));
    const keys = (list.Contents ?? []).map((o) => o.Key);
    assert(keys.includes('multi') && keys.includes('streamed'), `ListObjectsV2 keys ${keys.join(',')}`);
    assert(list.CommonPrefixes?.[0]?.Prefix === 'dir/', 'ListObjectsV2 common prefix');
    const page = await client.send(new s3.ListObjectsV2Command({ Bucket, MaxKeys: 2 }));
    assert(page.IsTruncated && page.NextContinuationToken, 'ListObjectsV2 paging');
    const rest = await client.send(
      new s3.ListObjectsV2Command({ Bucket, ContinuationToken: page.NextContinuationToken }),
    );
    assert((page.KeyCount ?? 0) + (rest.KeyCount ?? 0) === 5, 'ListObjectsV2 pages add up');
    done.push('ListObjectsV2');

    // Abort, and the errors S3 would give.
    const init = await client.send(new s3.CreateMultipartUploadCommand({ Bucket, Key: 'aborted' }));
    await client.send(
      new s3.AbortMultipartUploadCommand({ Bucket, Key: 'aborted', UploadId: init.UploadId }),
    );
    const again = await client
      .send(new s3.AbortMultipartUploadCommand({ Bucket, Key: 'aborted', UploadId: init.UploadId }))
      .then(
        () => 'ok',
        (e: Error) => e.name,
      );
    assert(again === 'NoSuchUpload', `second abort gave ${again}`);
    const tiny = await client.send(new s3.CreateMultipartUploadCommand({ Bucket, Key: 'tiny' }));
    const parts = [];
    for (const n of [1, 2]) {
      const r = await client.send(
        new s3.UploadPartCommand({
          Bucket,
          Key: 'tiny',
          UploadId: tiny.UploadId,
          PartNumber: n,
          Body: small,
        }),
      );
      parts.push({ PartNumber: n, ETag: r.ETag });
    }
    const tooSmall = await client
      .send(
        new s3.CompleteMultipartUploadCommand({
          Bucket,
          Key: 'tiny',
          UploadId: tiny.UploadId,
          MultipartUpload: { Parts: parts },
        }),
      )
      .then(
        () => 'ok',
        (e: Error) => e.name,
      );
    assert(tooSmall === 'EntityTooSmall', `small parts gave ${tooSmall}`);
    done.push('AbortMultipartUpload, NoSuchUpload, EntityTooSmall');

    // DeleteObject, then NotFound.
    await client.send(new s3.DeleteObjectCommand({ Bucket, Key: 'dir/small' }));
    const gone = await client.send(new s3.HeadObjectCommand({ Bucket, Key: 'dir/small' })).then(
      () => 'ok',
      (e: Error) => e.name,
    );
    assert(gone === 'NotFound', `HeadObject after delete gave ${gone}`);
    done.push('DeleteObject');

    // A raw GET of a streamed body reads the same bytes the clients upload.
    const req = request(`${server.endpoint}/${Bucket}/streamed`);
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    assert((await bytesOf(res)).length === streamed, 'raw GET length');
    done.push('raw GET');
  } finally {
    client.destroy();
  }
  return done;
}
