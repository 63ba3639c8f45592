import { buildApp } from 'fauxqs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { s3Flavor } from '../../adapters/s3/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { runConformance } from '../conformance/index.js';

runConformance({
  name: 's3 (fauxqs)',
  capabilities: {
    sync: false,
    emptyDirectories: true,
    utimes: false,
    permissions: false,
    randomAccessWrites: false,
    atomicDirectoryRename: false,
    atomicWrites: true,
  },
  setup: async () => {
    const app = buildApp({ logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const endpoint = `http://127.0.0.1:${port}`;
    const creds = { accessKeyId: 'test', secretAccessKey: 'test-secret' };
    const raw = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: creds });
    await raw.send(new CreateBucketCommand({ Bucket: 'conformance' }));
    raw.destroy();
    const inst = await s3Flavor.create({
      path: 's3://conformance',
      endpoint,
      forcePathStyle: true,
      ...creds,
      trustedEndpoint: true,
      conditionalWrites: false,
      uploadPartCopy: false,
    });
    const table = new MountTable();
    table.mount('s3://conformance', inst.adapter);
    return {
      fs: table.fs,
      base: 's3://conformance/suite',
      teardown: async () => {
        await inst.close?.();
        await app.close();
      },
    };
  },
});
