/**
 * The canary: a store registered with a planted secret, then every command (successes, failures,
 * --json). The secret given as an env reference appears in no output and no file; a secret given
 * literally appears only in the config file, which is 0600 in a 0700 directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from '../emulators/fauxqs.js';
import type { S3Server } from '../emulators/s3-server.js';
import { avfs, buildCli, tempDir, type RunResult, BUILD_TIMEOUT_MS } from './helpers.js';

const CANARY = `canary-ENV-${randomBytes(12).toString('hex')}`;
const LITERAL = `canary-LIT-${randomBytes(12).toString('hex')}`;
let server: S3Server;
let tmp: string;
let cfg: string;
const outputs: Array<{ args: string[]; r: RunResult }> = [];
let literalHolders: string[] = [];

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

beforeAll(async () => {
  await buildCli();
  server = await startFauxqs();
  await server.createBucket('canary');
  tmp = await tempDir('canary');
  cfg = path.join(tmp, 'cfg');
  await mkdir(path.join(tmp, 'work'));
  await writeFile(path.join(tmp, 'work/file.txt'), 'payload');
  const env = { AVFS_CANARY: CANARY };
  const go = async (...args: string[]): Promise<RunResult> => {
    const r = await avfs(cfg, args, { env, cwd: path.join(tmp, 'work') });
    outputs.push({ args, r });
    return r;
  };
  const s3 = [
    `--endpoint=${server.endpoint}`,
    '--region=us-east-1',
    '--forcePathStyle=true',
    '--trustedEndpoint=true',
    '--conditionalWrites=false',
    '--uploadPartCopy=false',
    '--checksum=metadata',
    '--maxAttempts=1',
    '--accessKeyId=canary-access',
  ];
  // registration: by reference, literally, and failures that carry the secret on the command line
  expect(
    (
      await go(
        'store',
        'register',
        'sec',
        '--flavor',
        's3',
        '--path',
        's3://canary/x',
        ...s3,
        '--secretAccessKey={{env.AVFS_CANARY}}',
      )
    ).code,
  ).toBe(0);
  expect(
    (
      await go(
        'store',
        'register',
        'lit',
        '--flavor',
        's3',
        '--path',
        's3://canary/y',
        ...s3,
        `--secretAccessKey=${LITERAL}`,
      )
    ).code,
  ).toBe(0);
  expect(
    (
      await go(
        'store',
        'register',
        'bad1',
        '--flavor',
        's3',
        '--path',
        's3://canary/z',
        `--secretAccessKey=${LITERAL}`,
        '--bogus=1',
      )
    ).code,
  ).toBe(1);
  expect(
    (
      await go(
        'store',
        'register',
        'bad2',
        '--flavor',
        's3',
        '--path',
        's3://canary/z',
        '--secretAccessKey',
        LITERAL,
      )
    ).code,
  ).toBe(2);
  expect(
    (
      await go(
        'store',
        'register',
        'bad3',
        '--flavor',
        's3',
        '--path',
        '/not/s3',
        `--secretAccessKey=${LITERAL}`,
      )
    ).code,
  ).toBe(1);
  expect(
    (
      await go(
        'store',
        'register',
        'bad4',
        '--flavor',
        'nope',
        '--path',
        's3://canary/z',
        `--sessionToken=${LITERAL}`,
      )
    ).code,
  ).toBe(1);
  expect((await go('ls', `--secretAccessKey=${LITERAL}`)).code).toBe(2);
  // management, text and --json
  for (const json of [[], ['--json']]) {
    await go(...json, 'store', 'list');
    await go(...json, 'store', 'describe', 'sec');
    await go(...json, 'store', 'describe', 'lit');
    await go(...json, 'store', 'flavor', 'list');
    await go(...json, 'store', 'flavor', 'describe', 's3');
  }
  expect(
    (await go('store', 'update', 'lit', '--region=us-east-1', `--secretAccessKey=${LITERAL}`)).code,
  ).toBe(0);
  expect((await go('--json', 'store', 'update', 'lit', '--maxAttempts=oops')).code).toBe(1);
  expect((await go('store', 'set', 'sec')).code).toBe(0);
  // file operations on both stores, successes and failures
  for (const s of ['sec', 'lit']) {
    expect((await go('mkdir', '-p', `${s}:dir`)).code).toBe(0);
    expect((await go('cp', 'file.txt', `${s}:dir/file.txt`)).code).toBe(0);
    expect((await go('--json', 'cp', '--verify', `${s}:dir/file.txt`, `${s}:dir/copy.txt`)).code).toBe(0);
    expect((await go('ls', '-l', '-r', `${s}:`)).code).toBe(0);
    expect((await go('--json', 'ls', `${s}:dir`)).code).toBe(0);
    expect((await go('stat', `${s}:dir/file.txt`)).code).toBe(0);
    expect((await go('cat', `${s}:dir/file.txt`)).stdout).toBe('payload');
    expect((await go('--json', 'glob', `${s}:**/*.txt`)).code).toBe(0);
    expect((await go('du', `${s}:`)).code).toBe(0);
    expect((await go('mv', `${s}:dir/copy.txt`, `${s}:dir/moved.txt`)).code).toBe(0);
    expect((await go('cp', `${s}:dir/moved.txt`, 'downloaded.txt')).code).toBe(0);
    expect((await go('rm', `${s}:dir/moved.txt`)).code).toBe(0);
    expect((await go('cat', `${s}:missing`)).code).toBe(1);
    expect((await go('--json', 'rm', `${s}:missing`)).code).toBe(1);
    expect((await go('cp', 'file.txt', `${s}:../escape`)).code).toBe(1);
  }
  // an unreachable endpoint (the SDK's error), and the variable missing
  expect((await go('store', 'update', 'lit', '--endpoint=http://127.0.0.1:9')).code).toBe(0);
  expect((await go('ls', 'lit:')).code).toBe(1);
  expect((await go('--json', 'cp', 'file.txt', 'lit:x.txt')).code).toBe(1);
  const missing = await avfs(cfg, ['ls', 'sec:'], { env: {} });
  outputs.push({ args: ['ls', 'sec:', '(no env)'], r: missing });
  expect(missing.code).toBe(1);
  // before the literal store goes: its secret is in the config file and nowhere else
  literalHolders = [];
  for (const f of await filesUnder(tmp))
    if ((await readFile(f, 'latin1')).includes(LITERAL)) literalHolders.push(f);
  expect((await go('store', 'delete', 'lit')).code).toBe(0);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await server?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('canary secrets', () => {
  it('ran a broad set of commands, with failures and --json among them', () => {
    expect(outputs.length).toBeGreaterThan(50);
    expect(outputs.filter((o) => o.r.code !== 0).length).toBeGreaterThan(10);
    // the secrets were used: the masked form shows up where a value would
    expect(outputs.some((o) => o.r.stdout.includes('**********'))).toBe(true);
  });

  it('appears in no stdout or stderr', () => {
    for (const { args, r } of outputs) {
      for (const secret of [CANARY, LITERAL]) {
        expect(r.stdout.includes(secret), `stdout of ${args.join(' ')}`).toBe(false);
        expect(r.stderr.includes(secret), `stderr of ${args.join(' ')}`).toBe(false);
      }
    }
  });

  it("keeps --json's stderr one JSON object (or empty) with the AWS SDK's Node-version warning left on", async () => {
    // childEnv opts out of the warning for the other tests; here the CLI must cope without it.
    const env = { AVFS_CANARY: CANARY, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
    const ok = await avfs(cfg, ['--json', 'ls', 'sec:dir'], { env, cwd: path.join(tmp, 'work') });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toBe('');
    const failed = await avfs(cfg, ['--json', 'cat', 'sec:missing'], { env, cwd: path.join(tmp, 'work') });
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stderr)).toMatchObject({ error: { code: 'ENOENT' } });
    expect(failed.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('appears in no file the CLI wrote; the literal one only in the 0600 config file', async () => {
    const files = await filesUnder(tmp);
    expect(files).toContain(path.join(cfg, 'config.json'));
    expect(literalHolders).toEqual([path.join(cfg, 'config.json')]);
    for (const f of files) {
      const text = await readFile(f, 'latin1');
      expect(text.includes(CANARY), f).toBe(false);
      // the literal store was deleted at the end: its secret left the config with it
      expect(text.includes(LITERAL), f).toBe(false);
    }
    expect((await stat(path.join(cfg, 'config.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(cfg)).mode & 0o777).toBe(0o700);
    expect(
      JSON.parse(await readFile(path.join(cfg, 'config.json'), 'utf8')).stores.sec.config.secretAccessKey,
    ).toBe('{{env.AVFS_CANARY}}');
  });
});
