/**
 * Full GCs during an S3 transfer, per way of reading or copying (the figures behind src/core/lending-pool.ts
 * and src/vfs/handle-copy.ts). Each read runs in a fresh `node --trace-gc` child against the
 * discard server, which serves a seeded object; the child reports MiB/s and the parent counts the
 * child's Mark-Compact lines. Modes:
 * - `http`: a plain node:http GET in a bare process (the bench's node-http baseline);
 * - `http-sdk`: the same GET in a process that has built the s3 flavor (old generation over 8 MiB);
 * - `stream`: the s3 flavor's createReadStream, drained;
 * - `handle`: FileHandle.read into one reused 4 MiB buffer (chunks given back: lent buffers);
 * - `copy`: a mount table's copyFile onto a local file (/dev/shm when there is one): FileHandles
 *   through two reused buffers;
 * - `copy-stream`: the same copy as a stream pipeline (createReadStream into node:fs
 *   createWriteStream), the way the mount table copied before.
 * - `upload-copy`: the other way, a mount table's copyFile of a local file (written once by the
 *   parent, the payload's bytes) onto S3: FileHandle reads into the object store's write stream;
 * - `upload-copy-stream`: the same upload as a stream pipeline (node:fs createReadStream into the
 *   flavor's createWriteStream), the way the mount table copied onto object stores before.
 *
 *   npm run bench:s3-gc -- [--size 1GiB] [--rounds 3] [--modes http,http-sdk,stream,handle,copy,copy-stream,upload-copy,upload-copy-stream]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { machineInfo, median, repoRoot, rotate } from '../common.js';
import { drain, formatSize, MiB, parseSize, payloadBlock } from './payload.js';
import { startDiscardServer } from './server-process.js';

const MODES = [
  'http',
  'http-sdk',
  'stream',
  'handle',
  'copy',
  'copy-stream',
  'upload-copy',
  'upload-copy-stream',
] as const;
type Mode = (typeof MODES)[number];
const BUCKET = 'bench';
const KEY = 'gc-check';

interface ChildResult {
  mode: Mode;
  bytes: number;
  seconds: number;
}

// ---- child: one read ---------------------------------------------------------------------------

async function child(mode: Mode, endpoint: string, size: number): Promise<ChildResult> {
  const flavor = async () => {
    const { s3Flavor } = await import('../../adapters/s3/index.js');
    return s3Flavor.create({
      path: `s3://${BUCKET}`,
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'bench',
      secretAccessKey: 'bench-secret',
      trustedEndpoint: true,
    });
  };
  const get = (): Promise<number> =>
    new Promise((resolve, reject) => {
      request(`${endpoint}/${BUCKET}/${KEY}`, (res) => drain(res).then(resolve, reject))
        .on('error', reject)
        .end();
    });
  const inst = mode === 'http' ? undefined : await flavor();
  const { MountTable } = await import('../../src/vfs/mount-table.js');
  const dest = join(localDir(), `avfs-gc-check-${process.pid}.bin`);
  const t0 = performance.now();
  let bytes = 0;
  if (mode === 'http' || mode === 'http-sdk') bytes = await get();
  else if (mode === 'stream') bytes = await drain(inst!.adapter.createReadStream(`/${KEY}`));
  else if (mode === 'handle') {
    const fh = await inst!.adapter.promises.open(`/${KEY}`, 'r');
    const buf = Buffer.allocUnsafe(4 * MiB);
    for (let n = -1; n !== 0; bytes += n) n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
    await fh.close();
  } else if (mode === 'upload-copy' || mode === 'upload-copy-stream') {
    const target = `s3://${BUCKET}/${KEY}-up`;
    if (mode === 'upload-copy') {
      const table = new MountTable();
      table.mount(`s3://${BUCKET}`, inst!.adapter);
      table.mount('file:///', nodeFs as never);
      await table.fs.promises.copyFile(uploadSource(), target);
    } else {
      await pipeline(nodeFs.createReadStream(uploadSource()), inst!.adapter.createWriteStream(`/${KEY}-up`));
    }
    bytes = size;
  } else {
    try {
      if (mode === 'copy') {
        const table = new MountTable();
        table.mount(`s3://${BUCKET}`, inst!.adapter);
        table.mount('file:///', nodeFs as never);
        await table.fs.promises.copyFile(`s3://${BUCKET}/${KEY}`, dest);
      } else {
        await pipeline(inst!.adapter.createReadStream(`/${KEY}`), nodeFs.createWriteStream(dest));
      }
      bytes = statSync(dest).size;
    } finally {
      rmSync(dest, { force: true });
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await inst?.close?.();
  if (bytes !== size) throw new Error(`${mode}: read ${bytes} bytes, expected ${size}`);
  return { mode, bytes, seconds };
}

/** Where local files go: tmpfs when there is one. */
function localDir(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** The local file the upload modes copy (written by the parent). */
function uploadSource(): string {
  return join(localDir(), 'avfs-gc-check-upload-source.bin');
}

// ---- parent ------------------------------------------------------------------------------------

function runChild(
  mode: Mode,
  endpoint: string,
  size: number,
): Promise<{ mibPerSec: number; majorGcs: number }> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--trace-gc', script, '--child', mode, endpoint, String(size)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-4000)));
    p.on('error', reject);
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`${mode}: exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const r = JSON.parse(last) as ChildResult;
      resolve({
        mibPerSec: r.bytes / MiB / r.seconds,
        majorGcs: out.split('\n').filter((l) => l.includes('Mark-Compact')).length,
      });
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const r = await child(argv[1] as Mode, argv[2]!, Number(argv[3]));
    process.stdout.write(JSON.stringify(r) + '\n', () => process.exit(0));
    return;
  }
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const size = parseSize(flag('size') ?? '1GiB');
  const rounds = Number(flag('rounds') ?? 3);
  const modes = (flag('modes')?.split(',') ?? [...MODES]) as Mode[];
  for (const m of modes)
    if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (one of ${MODES.join(', ')})`);
  const server = await startDiscardServer();
  const runs: { mode: Mode; round: number; mibPerSec: number; majorGcs: number }[] = [];
  try {
    await server.createBucket(BUCKET);
    await server.seed(BUCKET, KEY, size);
    if (modes.some((m) => m.startsWith('upload-'))) {
      // The payload's bytes (the discard server checks what it receives against them).
      const out = nodeFs.openSync(uploadSource(), 'w');
      try {
        const block = payloadBlock();
        for (let at = 0; at < size; at += block.length)
          nodeFs.writeSync(out, block, 0, Math.min(block.length, size - at));
      } finally {
        nodeFs.closeSync(out);
      }
    }
    for (let round = 1; round <= rounds; round++) {
      // Rotated each round, so slow drift of the machine favours no mode.
      for (const mode of rotate(modes, round - 1)) {
        const r = await runChild(mode, server.endpoint, size);
        runs.push({ mode, round, ...r });
        console.log(`[r${round}] ${mode}: ${r.mibPerSec.toFixed(0)} MiB/s, ${r.majorGcs} full GCs`);
      }
    }
  } finally {
    await server.stop();
    rmSync(uploadSource(), { force: true });
  }
  const lines = [
    `| mode | MiB/s (median, min–max) | full GCs (median, min–max) | runs |`,
    '| --- | --: | --: | --: |',
    ...modes.map((mode) => {
      const mine = runs.filter((r) => r.mode === mode);
      const speeds = mine.map((r) => r.mibPerSec);
      const gcs = mine.map((r) => r.majorGcs);
      return `| ${mode} | ${median(speeds)!.toFixed(0)} (${Math.min(...speeds).toFixed(0)}–${Math.max(...speeds).toFixed(0)}) | ${median(gcs)} (${Math.min(...gcs)}–${Math.max(...gcs)}) | ${mine.length} |`;
    }),
  ];
  const out = join(repoRoot(), 'benchmarks', 'results');
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-') + 'Z';
  const file = join(out, `s3-gc-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify({ benchmark: 's3-gc', size, rounds, modes, machine: machineInfo(), runs }, null, 2) + '\n',
  );
  console.log(`\n${formatSize(size)} each, ${rounds} round(s):\n${lines.join('\n')}\n\nwrote ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
