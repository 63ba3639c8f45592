/**
 * fauxqs (npm devDependency) as an in-process S3 server on 127.0.0.1 with a random port. Any
 * credentials are accepted; buckets need path-style addressing.
 */
import type { AddressInfo } from 'node:net';
import { buildApp } from 'fauxqs';
import { createBucketVia, type S3Server } from './s3-server.js';

/** `s3Store`: fauxqs's own store object, for a caller that inspects what it holds (open uploads). */
export async function startFauxqs(options: { s3Store?: object } = {}): Promise<S3Server> {
  const app = buildApp({
    logger: false,
    ...(options.s3Store ? { stores: { s3Store: options.s3Store } as never } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  let stopped = false;
  const server: S3Server = {
    name: 'fauxqs',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    accessKeyId: 'avfs-test-access',
    secretAccessKey: 'avfs-test-secret-key',
    forcePathStyle: true,
    // Measured against fauxqs 1.9.2 (see emulators.test.ts): UploadPartCopy stores an empty part
    // instead of the source range, `If-None-Match: *` overwrites, GET ?uploads answers as a plain
    // object listing (no uploads), and x-amz-checksum-* is neither checked nor stored.
    features: { uploadPartCopy: false, ifNoneMatch: false, listMultipartUploads: false, checksums: false },
    createBucket: (name) => createBucketVia(server, name),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await app.close();
    },
  };
  return server;
}
