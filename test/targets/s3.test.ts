/**
 * The conformance suite on real S3 servers through the s3 flavor and the official SDK: fauxqs
 * (in-process) and Ceph radosgw (daemons started by the harness; skipped, with the install command,
 * where it is not installed).
 */
import { s3Flavor } from '../../adapters/s3/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { OBJECT_STORE_CAPABILITIES, runConformance } from '../../src/testing/conformance/index.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import { radosgwSkipReason, startRadosgw } from '../emulators/radosgw.js';
import { s3FlavorOptions, type S3Server } from '../emulators/s3-server.js';
import { describe, it } from 'vitest';

function target(name: string, start: () => Promise<S3Server>): void {
  runConformance({
    name: `s3 (${name})`,
    capabilities: OBJECT_STORE_CAPABILITIES,
    setup: async () => {
      const server = await start();
      const bucket = 'conformance';
      await server.createBucket(bucket);
      const instance = await s3Flavor.create({ path: `s3://${bucket}`, ...s3FlavorOptions(server) });
      const table = new MountTable();
      table.mount(`s3://${bucket}`, instance.adapter);
      return {
        fs: table.fs,
        base: `s3://${bucket}/suite`,
        teardown: async () => {
          await instance.close?.();
          await server.stop();
        },
      };
    },
  });
}

target('fauxqs', startFauxqs);

const skip = radosgwSkipReason();
if (skip) {
  describe('conformance [s3 (radosgw)]', () => it.skip(`all cases — skipped: ${skip}`, () => {}));
} else {
  target('radosgw', async () => {
    const s = await startRadosgw();
    if ('skipped' in s) throw new Error(s.skipped);
    return s;
  });
}
