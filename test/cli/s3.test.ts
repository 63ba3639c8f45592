/**
 * The CLI against the s3 flavor on fauxqs (an in-process S3 server): register with credentials as
 * environment references, then every file operation, including cross-store copies in both
 * directions, checked by SHA-256.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from '../emulators/fauxqs.js';
import type { S3Server } from '../emulators/s3-server.js';
import { avfs, avfsBytes, buildCli, ndjson, sha256, snapshot, tempDir, BUILD_TIMEOUT_MS } from './helpers.js';

let server: S3Server;
let tmp: string;
let cfg: string;
let local: string;
const data = randomBytes(20 * 1024 * 1024 + 5); // more than one multipart part (16 MiB)
let env: Record<string, string>;
const run = (...args: string[]) => avfs(cfg, args, { env });

beforeAll(async () => {
  await buildCli();
  server = await startFauxqs();
  await server.createBucket('cli-bucket');
  tmp = await tempDir('s3');
  cfg = path.join(tmp, 'cfg');
  local = path.join(tmp, 'local');
  await mkdir(path.join(tmp, 'in/tree/sub'), { recursive: true });
  await writeFile(path.join(tmp, 'in/data.bin'), data);
  await writeFile(path.join(tmp, 'in/tree/one.txt'), 'one');
  await writeFile(path.join(tmp, 'in/tree/sub/two.txt'), 'two');
  env = { AVFS_TEST_AK: server.accessKeyId, AVFS_TEST_SK: server.secretAccessKey };
  const r = await run(
    'store',
    'register',
    'bucket',
    '--flavor=s3',
    '--path=s3://cli-bucket/ml',
    `--endpoint=${server.endpoint}`,
    `--region=${server.region}`,
    '--forcePathStyle=true',
    '--trustedEndpoint=true',
    '--conditionalWrites=false',
    '--uploadPartCopy=false',
    '--checksum=metadata',
    '--maxAttempts=1',
    '--partSize=5242880', // fauxqs refuses request bodies of 16 MiB
    '--access_key_id={{env.AVFS_TEST_AK}}',
    '--secret_access_key={{env.AVFS_TEST_SK}}',
  );
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect((await run('store', 'register', 'loc', '--flavor', 'local', '--path', local)).code).toBe(0);
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('s3 store through the CLI (fauxqs)', () => {
  it('uploads a multipart-sized file and downloads it into another store, byte for byte', async () => {
    let r = await run('--json', 'cp', path.join(tmp, 'in/data.bin'), 'bucket:runs/1/data.bin');
    expect(r.stderr).toBe('');
    expect(ndjson(r.stdout).at(-1)).toEqual({ type: 'done', files: 1, bytes: data.length });
    const c = await avfsBytes(cfg, ['cat', 'bucket:runs/1/data.bin'], env);
    expect(sha256(c.stdout)).toBe(sha256(data));
    r = await run('cp', '--verify', 'bucket:runs/1/data.bin', 'loc:from-s3/data.bin');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha256(data)}`);
    expect(sha256(await readFile(path.join(local, 'from-s3/data.bin')))).toBe(sha256(data));
    // the same object by its URI: a path inside the registered store uses its endpoint and keys
    r = await run('--json', 'stat', 's3://cli-bucket/ml/runs/1/data.bin');
    expect(JSON.parse(r.stdout)).toMatchObject({ type: 'file', size: data.length });
  });

  it('cp -r, ls, glob, du, mv and rm on the bucket', async () => {
    let r = await run('cp', '-r', path.join(tmp, 'in/tree'), 'bucket:trees/');
    expect(r.code).toBe(0);
    r = await run('ls', '-r', 'bucket:trees');
    expect(r.stdout).toBe('tree/\ntree/one.txt\ntree/sub/\ntree/sub/two.txt\n');
    r = await run('--json', 'glob', 'bucket:trees/**/*.txt');
    expect(JSON.parse(r.stdout)).toEqual(['bucket:trees/tree/one.txt', 'bucket:trees/tree/sub/two.txt']);
    r = await run('--json', 'du', 'bucket:trees');
    expect(JSON.parse(r.stdout)).toEqual({ path: 'bucket:trees', bytes: 6, files: 2 });
    r = await run('mv', 'bucket:trees/tree/one.txt', 'bucket:trees/tree/uno.txt');
    expect(r.code).toBe(0);
    r = await run('mv', 'bucket:trees/tree', 'loc:trees');
    expect(r.code).toBe(0);
    expect(await snapshot(path.join(local, 'trees'))).toEqual({
      'sub/': '',
      'sub/two.txt': sha256('two'),
      'uno.txt': sha256('one'),
    });
    r = await run('--json', 'ls', 'bucket:trees');
    expect(JSON.parse(r.stdout)).toEqual([]);
    r = await run('rm', '-r', 'bucket:runs');
    expect(r.code).toBe(0);
    r = await run('ls', 'bucket:runs');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^avfs: ENOENT: no such file or directory, stat 's3:\/\/cli-bucket\/ml\/runs'/);
  });

  it('a missing credential variable is named (and nothing is sent)', async () => {
    const r = await avfs(cfg, ['ls', 'bucket:'], { env: { AVFS_TEST_AK: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "avfs: EINVAL: store 'bucket': the config field 'secretAccessKey' refers to the environment variable 'AVFS_TEST_SK', which is not set\n",
    );
  });
});
