/**
 * Smaller CLI points of issue 13 (item 13): `cp -` streams stdin into a file and `cp SRC -` a file
 * to stdout (both used to create a file named `-`), and a glob that matches nothing fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avfs,
  avfsBytes,
  buildCli,
  BUILD_TIMEOUT_MS,
  childEnv,
  MAIN,
  ndjson,
  sha256,
  tempDir,
} from './helpers.js';

let tmp: string;
let cfg: string;
let store: string;
const run = (args: string[], input?: string) => avfs(cfg, args, input === undefined ? {} : { input });

beforeAll(async () => {
  await buildCli();
  tmp = await tempDir('stdio');
  cfg = path.join(tmp, 'cfg');
  store = path.join(tmp, 'store');
  await mkdir(store, { recursive: true });
  expect((await run(['store', 'register', 's', '--flavor', 'local', '--path', store])).code).toBe(0);
}, BUILD_TIMEOUT_MS);
afterAll(async () => rm(tmp, { recursive: true, force: true }));

describe('cp with - for stdin and stdout', () => {
  it('cp - DEST stores stdin byte for byte, creating parents inside the store', async () => {
    const text = `${randomBytes(300_000).toString('base64')}\n`;
    const r = await run(['--json', 'cp', '-', 's:from-stdin/data.txt'], text);
    expect(r.code, r.stderr).toBe(0);
    expect(ndjson(r.stdout).at(-1)).toEqual({ type: 'done', files: 1, bytes: Buffer.byteLength(text) });
    expect(sha256(await readFile(path.join(store, 'from-stdin/data.txt')))).toBe(sha256(text));
    expect(existsSync(path.join(process.cwd(), '-'))).toBe(false);
  });

  it('cp SRC - writes the file to stdout and creates nothing', async () => {
    const bytes = randomBytes(2 * 1024 * 1024 + 3);
    await writeFile(path.join(store, 'blob.bin'), bytes);
    const r = await avfsBytes(cfg, ['cp', 's:blob.bin', '-']);
    expect(r.code).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(bytes));
    expect(existsSync(path.join(store, '-'))).toBe(false);
  });

  it('cp of a FIFO inside one store copies what comes through it (node:fs copyFile copies 0 bytes of one)', async () => {
    const fifo = path.join(store, 'pipe');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) throw new Error(`mkfifo failed: ${made.stderr.toString()}`);
    await writeFile(path.join(store, 'from-fifo.bin'), 'old');
    const bytes = randomBytes(3 * 1024 * 1024 + 11);
    // The writer blocks until avfs opens the FIFO for reading.
    const writing = writeFile(fifo, bytes);
    const r = await run(['cp', 's:pipe', 's:from-fifo.bin']);
    await writing;
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(await readFile(path.join(store, 'from-fifo.bin')))).toBe(sha256(bytes));
    await rm(fifo);
  });

  it('cp -r skips a FIFO in the tree (not read, so a silent one cannot block) and copies the rest', async () => {
    await mkdir(path.join(store, 'tree'), { recursive: true });
    await writeFile(path.join(store, 'tree/a.txt'), 'a');
    expect(spawnSync('mkfifo', [path.join(store, 'tree/p')]).status).toBe(0);
    const r = await run(['--json', 'cp', '-r', 's:tree', 's:tree-copy']);
    expect(r.code, r.stderr).toBe(0);
    expect(ndjson(r.stdout)).toContainEqual(
      expect.objectContaining({ type: 'skipped', reason: 'not a regular file' }),
    );
    expect(await readFile(path.join(store, 'tree-copy/a.txt'), 'utf8')).toBe('a');
    expect(existsSync(path.join(store, 'tree-copy/p'))).toBe(false);
  });

  it('SIGINT ends a command blocked on a silent FIFO at once: cat at the first signal, cp after removing its temp file', async () => {
    const fifo = path.join(store, 'silent');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // A writer that opens the FIFO and never writes: every read of it blocks in libuv's threadpool.
    const writer = spawn('sh', ['-c', `exec sleep 60 > '${fifo}'`], { stdio: 'ignore' });
    try {
      await writeFile(path.join(store, 'kept.bin'), 'old');
      for (const args of [
        ['cat', 's:silent'],
        ['cp', 's:silent', 's:kept.bin'],
      ]) {
        const child = spawn(process.execPath, [MAIN, ...args], { env: childEnv(cfg), stdio: 'ignore' });
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          child.on('close', (_c, sig) => resolve(sig)),
        );
        await new Promise((r) => setTimeout(r, 1500));
        const sent = Date.now();
        child.kill('SIGINT');
        expect(await exited, args.join(' ')).toBe('SIGINT');
        expect(Date.now() - sent, args.join(' ')).toBeLessThan(3000);
      }
      expect(await readFile(path.join(store, 'kept.bin'), 'utf8')).toBe('old');
      expect((await readdir(store)).filter((n) => n.endsWith('.partial'))).toEqual([]);
    } finally {
      writer.kill('SIGKILL');
      await rm(fifo, { force: true });
    }
  });

  it('refuses a directory on either side of -', async () => {
    let r = await run(['cp', '-', 's:'], 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cp - needs a file name/);
    await mkdir(path.join(store, 'dir'), { recursive: true });
    r = await run(['cp', 's:dir', '-']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/EISDIR: 's:dir' is a directory/);
  });
});

describe('glob', () => {
  it('exits 1 naming the pattern that matches nothing; 0 with matches', async () => {
    await writeFile(path.join(store, 'a.json'), '{}');
    let r = await run(['glob', 's:*.nomatch']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no path matches 's:\*\.nomatch'/);
    r = await run(['--json', 'glob', 's:*.nomatch']);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'ENOENT' } });
    r = await run(['glob', 's:*.json']);
    expect(r).toMatchObject({ code: 0, stdout: 's:a.json\n' });
  });
});
