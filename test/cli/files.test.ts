/**
 * File operations through the built CLI on the local and memory stores: every byte checked by
 * SHA-256, the `--json` shapes, errors with their exit codes, progress events, and colour only on a
 * TTY (through `script`, which gives the child a pseudo-terminal).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avfs,
  avfsBytes,
  buildCli,
  MAIN,
  ndjson,
  sha256,
  snapshot,
  tempDir,
  BUILD_TIMEOUT_MS,
} from './helpers.js';

let tmp: string;
let cfg: string;
let src: string;
let storeA: string;
let storeB: string;
const big = randomBytes(3 * 1024 * 1024 + 17);
const run = (...args: string[]) => avfs(cfg, args);

beforeAll(async () => {
  await buildCli();
  tmp = await tempDir('files');
  cfg = path.join(tmp, 'cfg');
  src = path.join(tmp, 'src');
  storeA = path.join(tmp, 'store-a');
  storeB = path.join(tmp, 'store-b');
  await mkdir(path.join(src, 'tree/sub/deeper'), { recursive: true });
  await writeFile(path.join(src, 'big.bin'), big);
  await writeFile(path.join(src, 'tree/a.txt'), 'alpha');
  await writeFile(path.join(src, 'tree/sub/b.json'), '{"b":1}');
  await writeFile(path.join(src, 'tree/sub/deeper/c.txt'), 'gamma');
  for (const [name, p] of [
    ['a', storeA],
    ['b', storeB],
  ]) {
    const r = await run('store', 'register', name!, '--flavor', 'local', '--path', p!);
    expect(r.code).toBe(0);
  }
  expect((await run('store', 'register', 'm', '--flavor', 'memory', '--path', 'mem://scratch')).code).toBe(0);
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('local stores', () => {
  it('cp a file in, cat it back, byte for byte', async () => {
    const r = await run('cp', path.join(src, 'big.bin'), 'a:models/v1/big.bin');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(sha256(await readFile(path.join(storeA, 'models/v1/big.bin')))).toBe(sha256(big));
    const c = await avfsBytes(cfg, ['cat', 'a:models/v1/big.bin']);
    expect(c.code).toBe(0);
    expect(sha256(c.stdout)).toBe(sha256(big));
    // no temp file is left beside it
    expect(Object.keys(await snapshot(storeA))).toEqual(['models/', 'models/v1/', 'models/v1/big.bin']);
  });

  it('cp -r a tree into a directory (trailing slash), then between stores, with --json events', async () => {
    let r = await run('cp', '-r', path.join(src, 'tree'), 'a:runs/');
    expect(r.code).toBe(0);
    const want = {
      'a.txt': sha256('alpha'),
      'sub/': '',
      'sub/b.json': sha256('{"b":1}'),
      'sub/deeper/': '',
      'sub/deeper/c.txt': sha256('gamma'),
    };
    expect(await snapshot(path.join(storeA, 'runs/tree'))).toEqual(want);

    r = await run('--json', 'cp', '-r', 'a:runs/tree', 'b:copy');
    expect(r.code).toBe(0);
    const events = ndjson(r.stdout);
    const copied = events.filter((e) => e.type === 'copied');
    expect(copied.map((e) => [e.src, e.dst, e.bytes])).toEqual([
      ['a:runs/tree/a.txt', 'b:copy/a.txt', 5],
      ['a:runs/tree/sub/b.json', 'b:copy/sub/b.json', 7],
      ['a:runs/tree/sub/deeper/c.txt', 'b:copy/sub/deeper/c.txt', 5],
    ]);
    expect(events.at(-1)).toEqual({ type: 'done', files: 3, bytes: 17 });
    expect(await snapshot(path.join(storeB, 'copy'))).toEqual(want);
  });

  it('ls, ls -l, ls -r, stat, glob and du, as text and --json', async () => {
    let r = await run('ls', 'a:runs/tree');
    expect(r.stdout).toBe('a.txt\nsub/\n');
    r = await run('ls', '-r', 'a:runs/tree');
    expect(r.stdout).toBe('a.txt\nsub/\nsub/b.json\nsub/deeper/\nsub/deeper/c.txt\n');
    r = await run('ls', '-l', 'a:runs/tree');
    expect(r.stdout).toMatch(/^-\s+5\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+a\.txt\nd\s+-\s+\S+\s+sub\/\n$/);
    r = await run('--json', 'ls', '-l', 'a:runs/tree');
    expect(JSON.parse(r.stdout)).toEqual([
      { name: 'a.txt', path: 'a:runs/tree/a.txt', type: 'file', size: 5, mtime: expect.any(String) },
      { name: 'sub', path: 'a:runs/tree/sub', type: 'directory', size: 0, mtime: expect.any(String) },
    ]);
    // a path inside a registered store's root is served by that store
    r = await run('--json', 'ls', path.join(storeA, 'runs/tree'));
    expect(JSON.parse(r.stdout).map((e: { path: string }) => e.path)).toEqual([
      path.join(storeA, 'runs/tree/a.txt'),
      path.join(storeA, 'runs/tree/sub'),
    ]);
    r = await run('--json', 'stat', 'a:models/v1/big.bin');
    expect(JSON.parse(r.stdout)).toMatchObject({
      path: 'a:models/v1/big.bin',
      type: 'file',
      size: big.length,
    });
    r = await run('--json', 'stat', 'a:runs');
    expect(JSON.parse(r.stdout)).toMatchObject({ type: 'directory', size: 17 });
    r = await run('glob', 'a:runs/**/*.txt');
    expect(r.stdout).toBe('a:runs/tree/a.txt\na:runs/tree/sub/deeper/c.txt\n');
    r = await run('--json', 'glob', 'b:copy/*/*.json');
    expect(JSON.parse(r.stdout)).toEqual(['b:copy/sub/b.json']);
    r = await run('--json', 'du', 'a:');
    expect(JSON.parse(r.stdout)).toEqual({ path: 'a:', bytes: big.length + 17, files: 4 });
    r = await run('du', '-H', 'b:copy');
    expect(r.stdout).toBe('17 B\tb:copy\n');
  });

  it('mv inside a store and across stores; rm; mkdir', async () => {
    let r = await run('mv', 'b:copy/a.txt', 'b:moved/a.txt');
    expect(r.code).toBe(0);
    expect(existsSync(path.join(storeB, 'copy/a.txt'))).toBe(false);
    expect(await readFile(path.join(storeB, 'moved/a.txt'), 'utf8')).toBe('alpha');
    r = await run('mv', 'b:copy/sub', 'a:from-b');
    expect(r.code).toBe(0);
    expect(existsSync(path.join(storeB, 'copy/sub'))).toBe(false);
    expect(await snapshot(path.join(storeA, 'from-b'))).toEqual({
      'b.json': sha256('{"b":1}'),
      'deeper/': '',
      'deeper/c.txt': sha256('gamma'),
    });

    r = await run('rm', 'a:from-b');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe("avfs: EISDIR: 'a:from-b' is a directory (use -r)\n");
    r = await run('--json', 'rm', '-r', 'a:from-b', 'b:moved/a.txt');
    expect(JSON.parse(r.stdout)).toEqual({ removed: ['a:from-b', 'b:moved/a.txt'] });
    expect(existsSync(path.join(storeA, 'from-b'))).toBe(false);
    expect(existsSync(path.join(storeB, 'moved/a.txt'))).toBe(false);
    expect((await run('rm', '-f', 'a:never/there')).code).toBe(0);
    r = await run('rm', 'a:never/there');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^avfs: ENOENT: no such file or directory/);

    r = await run('mkdir', 'a:x/y');
    expect(r.code).toBe(1);
    r = await run('mkdir', '-p', 'a:x/y');
    expect(r.code).toBe(0);
    expect((await run('ls', 'a:x')).stdout).toBe('y/\n');
  });

  it('refuses what would escape a store, overwrite itself or lose data', async () => {
    const before = await snapshot(tmp);
    const cases: Array<[string[], number, RegExp]> = [
      [['cp', path.join(src, 'big.bin'), 'a:../escape.bin'], 1, /ERR_PATH_OUTSIDE_ROOT/],
      [['cp', 'a:runs', 'b:runs'], 1, /'a:runs' is a directory \(use -r\)/],
      [['cp', '-r', 'a:runs', 'a:runs/tree/inside'], 1, /cannot copy 'a:runs' into itself/],
      [['cp', 'a:runs/tree/a.txt', 'a:runs/tree/sub/b.json', 'b:not-a-dir'], 1, /is not a directory/],
      [['cp', 'a:missing.bin', 'b:x'], 1, /ENOENT: no such file or directory/],
      [['cp', 'a:runs/tree/a.txt'], 2, /cp needs a source and a destination/],
      [['rm', '-r', 'a:'], 2, /refusing to remove the root of the store 'a'/],
      [['ls', 'nostore:x'], 1, /no artifact store named 'nostore'/],
      [['ls', 'zz://bucket/x'], 1, /no flavor serves zz:\/\/ paths/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(await snapshot(tmp)).toEqual(before);
  });

  it('cp -n keeps what exists; plain cp replaces it', async () => {
    await writeFile(path.join(storeB, 'keep.txt'), 'original');
    let r = await run('cp', '-n', 'a:runs/tree/a.txt', 'b:keep.txt');
    expect(r.stdout).toContain('skipped b:keep.txt (exists)');
    expect(await readFile(path.join(storeB, 'keep.txt'), 'utf8')).toBe('original');
    r = await run('cp', 'a:runs/tree/a.txt', 'b:keep.txt');
    expect(await readFile(path.join(storeB, 'keep.txt'), 'utf8')).toBe('alpha');
  });
});

describe('memory store', () => {
  it('copies into memory with --verify (read back and hashed in the same process)', async () => {
    const r = await run('--json', 'cp', '--verify', path.join(src, 'big.bin'), 'm:models/big.bin');
    expect(r.stderr).toBe('');
    const events = ndjson(r.stdout);
    const copied = events.find((e) => e.type === 'copied')!;
    expect(copied).toMatchObject({ dst: 'm:models/big.bin', bytes: big.length, sha256: sha256(big) });
    // progress events: at least the final one, bytes never past the total, ending at the total
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatchObject({ bytes: big.length, total: big.length });
    expect(progress.every((e) => (e.bytes as number) <= big.length)).toBe(true);
  });

  it('a memory store lives as long as one process: a new command sees it empty', async () => {
    const r = await run('--json', 'ls', 'm:');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect((await run('cat', 'm:models/big.bin')).code).toBe(1);
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs avfs under a pseudo-terminal (util-linux `script`); returns everything it printed. */
function onTty(args: string[], env: Record<string, string> = {}): string {
  const quoted = [process.execPath, MAIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qefc', quoted, '/dev/null'], {
    env: { ...process.env, ARTIFACT_VFS_CONFIG_DIR: cfg, TERM: 'xterm', NO_COLOR: '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.stdout;
}

describe.skipIf(!hasScript)(
  hasScript
    ? 'terminal output (through script(1))'
    : 'terminal output — skipped: script(1) (util-linux) is not installed',
  () => {
    it('colours a TTY, never with NO_COLOR or --no-color, and never a pipe', async () => {
      const ESC = new RegExp(String.raw`\u001b\[[0-9;]*m`); // an SGR (colour) sequence
      expect(onTty(['store', 'list'])).toMatch(ESC);
      expect(onTty(['store', 'list'], { NO_COLOR: '1' })).not.toMatch(ESC);
      expect(onTty(['--no-color', 'store', 'list'])).not.toMatch(ESC);
      expect((await run('store', 'list')).stdout).not.toMatch(ESC);
    });

    it('draws a progress bar for a large copy on a TTY (bytes, rate, ETA), and none through a pipe', async () => {
      const large = path.join(src, 'large.bin');
      await writeFile(large, randomBytes(24 * 1024 * 1024));
      const out = onTty(['cp', large, 'b:large.bin']);
      expect(out).toMatch(/\d+% \| [\d.]+ MiB\/24\.0 MiB \| [\d.]+ \w?i?B\/s \| ETA/);
      expect(sha256(await readFile(path.join(storeB, 'large.bin')))).toBe(sha256(await readFile(large)));
      const piped = await run('cp', large, 'b:large2.bin');
      expect(piped.stderr).toBe('');
      expect(piped.stdout).not.toMatch(/ETA/);
    });
  },
);
