/**
 * fauxqs (npm devDependency) as an in-process S3 server on 127.0.0.1 with a random port. Any
 * credentials are accepted; buckets need path-style addressing.
 */
import type { AddressInfo } from 'node:net';
import { buildApp } from 'fauxqs';
import { createBucketVia, type S3Server } from './s3-server.js';

export async function startFauxqs(): Promise<S3Server> {
  const app = buildApp({ logger: false });
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
