/**
 * Bounded memory: `avfs cp` of a 64 MiB file between two local stores, and through S3 (fauxqs), keeps
 * the child's peak RSS (VmHWM, reported by a preload at exit) under 256 MiB
 * and, for the local copy, within 56 MiB of a command that moves no data — a copy that buffered the
 * file would exceed that. Every copy is checked by SHA-256. scripts/cli-1gib-check.mjs does the same
 * at 1 GiB.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from '../emulators/fauxqs.js';
import type { S3Server } from '../emulators/s3-server.js';
import { avfs, buildCli, tempDir, BUILD_TIMEOUT_MS } from './helpers.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const PRELOAD =
  // VmHWM, not resourceUsage().maxRSS: on Linux maxRSS carries the parent's peak across fork+exec.
  "data:text/javascript,import{readFileSync,writeFileSync}from'node:fs';process.on('exit',()=>{let b;try{b=Number(/VmHWM:\\s*(\\d+)/.exec(readFileSync('/proc/self/status','utf8'))[1])*1024}catch{b=process.resourceUsage().maxRSS*1024}writeFileSync(process.env.AVFS_RSS_FILE,String(b))})";

let tmp: string;
let cfg: string;
let server: S3Server;
let source: string;
let sourceSha: string;

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Runs avfs and returns its exit code and peak RSS in bytes. */
async function measured(args: string[], env: Record<string, string> = {}) {
  const rssFile = path.join(tmp, `rss-${Math.random().toString(16).slice(2)}`);
  const r = await avfs(cfg, args, {
    nodeArgs: [`--import=${PRELOAD}`],
    env: { AVFS_RSS_FILE: rssFile, ...env },
  });
  return { ...r, rss: Number(await readFile(rssFile, 'utf8')) };
}

beforeAll(async () => {
  await buildCli();
  tmp = await tempDir('memory');
  cfg = path.join(tmp, 'cfg');
  source = path.join(tmp, 'source.bin');
  // written in 4 MiB random blocks: the test process never holds the whole file either
  const f = await open(source, 'w');
  for (let i = 0; i < SIZE / (4 * MiB); i++) await f.write(randomBytes(4 * MiB));
  await f.close();
  sourceSha = await sha256File(source);
  server = await startFauxqs();
  await server.createBucket('rss');
  for (const [name, p] of [
    ['one', path.join(tmp, 'one')],
    ['two', path.join(tmp, 'two')],
  ] as const) {
    await mkdir(p);
    expect((await avfs(cfg, ['store', 'register', name, '--flavor', 'local', '--path', p])).code).toBe(0);
  }
  const s3 = [
    `--endpoint=${server.endpoint}`,
    '--region=us-east-1',
    '--forcePathStyle=true',
    '--trustedEndpoint=true',
    '--conditionalWrites=false',
    '--uploadPartCopy=false',
    '--checksum=metadata',
    '--partSize=5242880',
    `--accessKeyId=${server.accessKeyId}`,
    '--secretAccessKey={{env.AVFS_TEST_SK}}',
  ];
  expect(
    (await avfs(cfg, ['store', 'register', 'b', '--flavor', 's3', '--path', 's3://rss/p', ...s3])).code,
  ).toBe(0);
  await writeFile(path.join(tmp, 'small.txt'), 'x');
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('cp keeps memory bounded and bytes intact (64 MiB)', () => {
  it('between two local stores', async () => {
    await avfs(cfg, ['cp', source, 'one:in/source.bin']);
    const idle = await measured(['stat', 'one:in/source.bin']);
    expect(idle.code).toBe(0);
    const cp = await measured(['cp', 'one:in/source.bin', 'two:out/copy.bin']);
    expect(cp.stderr).toBe('');
    expect(cp.code).toBe(0);
    expect(await sha256File(path.join(tmp, 'two/out/copy.bin'))).toBe(sourceSha);
    console.log(
      `cp 64 MiB local->local: peak RSS ${(cp.rss / MiB).toFixed(1)} MiB (a command that moves no data: ${(idle.rss / MiB).toFixed(1)} MiB)`,
    );
    expect(cp.rss).toBeLessThan(256 * MiB);
    expect(cp.rss - idle.rss).toBeLessThan(56 * MiB);
  });

  it('local -> s3 -> local (multipart upload, ranged download)', async () => {
    const env = { AVFS_TEST_SK: server.secretAccessKey };
    const up = await measured(['cp', source, 'b:big.bin'], env);
    expect(up.code).toBe(0);
    const down = await measured(['cp', 'b:big.bin', 'two:from-s3.bin'], env);
    expect(down.code).toBe(0);
    expect(await sha256File(path.join(tmp, 'two/from-s3.bin'))).toBe(sourceSha);
    console.log(
      `cp 64 MiB to s3: peak RSS ${(up.rss / MiB).toFixed(1)} MiB; from s3: ${(down.rss / MiB).toFixed(1)} MiB`,
    );
    expect(up.rss).toBeLessThan(256 * MiB);
    expect(down.rss).toBeLessThan(256 * MiB);
  });
});
