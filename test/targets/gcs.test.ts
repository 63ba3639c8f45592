/**
 * The conformance suite on the gcs flavor, against the in-process GCS JSON-API emulator
 * (test/emulators/gcs), through the official SDK for metadata calls and the adapter's own
 * resumable and media requests. A small chunk size makes multi-chunk uploads common.
 */
import { gcsFlavor } from '../../adapters/gcs/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { OBJECT_STORE_CAPABILITIES, runConformance } from '../../src/testing/conformance/index.js';
import { startGcsEmulator } from '../emulators/gcs/server.js';
import { Storage } from '@google-cloud/storage';

runConformance({
  name: 'gcs (emulator)',
  capabilities: OBJECT_STORE_CAPABILITIES,
  setup: async () => {
    const emu = await startGcsEmulator();
    const bucket = 'conformance';
    await new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId }).createBucket(bucket);
    const instance = await gcsFlavor.create({
      path: `gs://${bucket}`,
      apiEndpoint: emu.endpoint,
      project: emu.projectId,
      chunkSize: 256 * 1024,
      readPartSize: 256 * 1024,
    });
    const table = new MountTable();
    table.mount(`gs://${bucket}`, instance.adapter);
    return {
      fs: table.fs,
      base: `gs://${bucket}/suite`,
      teardown: async () => {
        await instance.close?.();
        await emu.stop();
      },
    };
  },
});
