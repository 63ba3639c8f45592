/**
 * One measured transfer, in its own process: `node client.js '<json ClientArgs>'` uploads or
 * downloads `size` payload bytes through one target and prints one JSON line (ClientResult).
 * - `sdk`: the raw SDK's best streaming calls, `file.createWriteStream()` (resumable, its default
 *   CRC32C validation) and `file.createReadStream()` (its default CRC32C validation).
 * - `avfs`: the gcs flavor's fs, `createWriteStream` / `createReadStream` (CRC32C end to end).
 */
import { Storage } from '@google-cloud/storage';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { gcsFlavor } from '../../adapters/gcs/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { drain, payloadSource, peakRssMiB } from '../s3/payload.js';
import type { GcsClientArgs, GcsClientResult } from './protocol.js';
import { clientMain } from '../common.js';

const rss = peakRssMiB;

async function run(a: GcsClientArgs): Promise<GcsClientResult> {
  let transfer: () => Promise<number>;
  let close = async (): Promise<void> => {};
  if (a.target === 'sdk') {
    const file = new Storage({ apiEndpoint: a.endpoint, projectId: a.projectId })
      .bucket(a.bucket)
      .file(a.key);
    transfer =
      a.direction === 'up'
        ? async () => {
            await pipeline(payloadSource(a.size), file.createWriteStream({ resumable: true }));
            return a.size;
          }
        : () => drain(file.createReadStream());
  } else {
    const inst = await gcsFlavor.create({
      path: `gs://${a.bucket}`,
      apiEndpoint: a.endpoint,
      project: a.projectId,
    });
    const table = new MountTable();
    table.mount(`gs://${a.bucket}`, inst.adapter);
    const uri = `gs://${a.bucket}/${a.key}`;
    close = async () => inst.close?.();
    transfer =
      a.direction === 'up'
        ? async () => {
            await pipeline(payloadSource(a.size), table.fs.createWriteStream(uri));
            return a.size;
          }
        : () => drain(table.fs.createReadStream(uri) as AsyncIterable<Uint8Array>);
  }
  const setupRssMiB = rss();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await transfer();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await close();
  return {
    target: a.target,
    direction: a.direction,
    bytes,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: rss(),
    setupRssMiB,
  };
}

clientMain(() => JSON.parse(process.argv[2] ?? '{}') as GcsClientArgs, run);
