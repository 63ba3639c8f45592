/**
 * The default local store (src/store/defaults.ts): `<config dir>/local_stores/<uuid>`, created on
 * first use and stable afterwards; config file permissions; the environment overrides.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configDir, defaultLocalStorePath, getDefaultStore } from '../../src/index.js';
import { sha256 } from './helpers.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const VARS = ['ARTIFACT_VFS_CONFIG_DIR', 'ARTIFACT_VFS_LOCAL_STORE'] as const;

let tmp: string;
let dir: string;
const saved: Partial<Record<(typeof VARS)[number], string | undefined>> = {};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-default-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(async () => {
  for (const v of VARS) saved[v] = process.env[v];
  delete process.env.ARTIFACT_VFS_LOCAL_STORE;
  dir = await mkdtemp(path.join(tmp, 'cfg-'));
  process.env.ARTIFACT_VFS_CONFIG_DIR = dir;
});
afterEach(() => {
  for (const v of VARS) {
    if (saved[v] === undefined) delete process.env[v];
    else process.env[v] = saved[v];
  }
});

describe('getDefaultStore', () => {
  it('creates <config dir>/local_stores/<uuid> and returns the same store again', async () => {
    expect(configDir()).toBe(dir);
    const store = await getDefaultStore();
    expect(path.dirname(store.path)).toBe(path.join(dir, 'local_stores'));
    expect(path.basename(store.path)).toMatch(UUID_RE);
    expect((await stat(store.path)).isDirectory()).toBe(true);
    expect(store.name).toBe('default');
    expect(store.flavor).toBe('local');
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config).toEqual({ version: 1, defaultLocalStore: path.basename(store.path) });
    const again = await getDefaultStore();
    expect(again.path).toBe(store.path);
    expect(await readdir(path.join(dir, 'local_stores'))).toEqual([path.basename(store.path)]);
    expect(await defaultLocalStorePath()).toBe(store.path);
  });

  it('concurrent first calls agree on one store', async () => {
    const stores = await Promise.all([getDefaultStore(), getDefaultStore(), defaultLocalStorePath()]);
    expect(stores[1].path).toBe(stores[0].path);
    expect(stores[2]).toBe(stores[0].path);
    expect((await getDefaultStore()).path).toBe(stores[0].path);
    expect(await readdir(path.join(dir, 'local_stores'))).toEqual([path.basename(stores[0].path)]);
  });

  it('writes config.json with mode 0600 in a 0700 directory', async () => {
    await getDefaultStore();
    expect((await stat(path.join(dir, 'config.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    // no temp files are left behind
    expect((await readdir(dir)).sort()).toEqual(['config.json', 'local_stores']);
  });

  it('tightens an existing, too-open config directory and creates a missing one', async () => {
    await chmod(dir, 0o755);
    await getDefaultStore();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const fresh = path.join(tmp, 'not-yet', 'there');
    process.env.ARTIFACT_VFS_CONFIG_DIR = fresh;
    const store = await getDefaultStore();
    expect(path.dirname(store.path)).toBe(path.join(fresh, 'local_stores'));
    expect((await stat(fresh)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(fresh, 'config.json'))).mode & 0o777).toBe(0o600);
  });

  it('keeps other keys of an existing config file', async () => {
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ version: 1, theme: 'dark' }));
    const store = await getDefaultStore();
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(config).toEqual({ version: 1, theme: 'dark', defaultLocalStore: path.basename(store.path) });
  });

  it('ARTIFACT_VFS_LOCAL_STORE points the default store elsewhere', async () => {
    const target = path.join(tmp, 'chosen', 'store');
    process.env.ARTIFACT_VFS_LOCAL_STORE = target;
    const store = await getDefaultStore();
    expect(store.path).toBe(target);
    expect((await stat(target)).isDirectory()).toBe(true);
    expect(await defaultLocalStorePath()).toBe(target);
    // The config dir is not touched.
    expect(await readdir(dir)).toEqual([]);
  });

  it('a write through the store lands on disk', async () => {
    const store = await getDefaultStore();
    const data = randomBytes(256 * 1024);
    await store.makedirs('runs/1');
    const f = await store.open('runs/1/model.bin', 'wb');
    await f.write(data.subarray(0, 1000));
    await f.write(data.subarray(1000));
    await f.close();
    const onDisk = await readFile(path.join(store.path, 'runs', '1', 'model.bin'));
    expect(sha256(onDisk)).toBe(sha256(data));
    expect(await store.size('runs')).toBe(data.length);
    await mkdir(path.join(store.path, 'from-disk'));
    await writeFile(path.join(store.path, 'from-disk', 'x.txt'), 'disk');
    expect(await (await store.open('from-disk/x.txt', 'r')).read()).toBe('disk');
  });
});
