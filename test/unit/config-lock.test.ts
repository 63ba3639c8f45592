/**
 * Config-file changes under the lock file: concurrent changes all land (the lock is a file
 * created exclusively, so it serializes processes the same way), a lock nobody will remove (dead
 * process, too old or dated ahead, not a lock at all) is broken, a live one is waited for a bounded
 * time and then refused with EBUSY naming it, and a failed change writes nothing.
 */
// The built-in flavors (the composition root registers them).
import '../../src/builtins.js';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { updateConfigFile } from '../../src/store/defaults.js';
import { listStores, registerStore } from '../../src/store/stores.js';

let dir: string;
let saved: string | undefined;
let savedWait: string | undefined;

beforeEach(() => {
  saved = process.env.ARTIFACT_VFS_CONFIG_DIR;
  savedWait = process.env.ARTIFACT_VFS_LOCK_WAIT_MS;
  dir = mkdtempSync(join(tmpdir(), 'avfs-config-'));
  process.env.ARTIFACT_VFS_CONFIG_DIR = dir;
});
afterEach(() => {
  if (savedWait === undefined) delete process.env.ARTIFACT_VFS_LOCK_WAIT_MS;
  else process.env.ARTIFACT_VFS_LOCK_WAIT_MS = savedWait;
  if (saved === undefined) delete process.env.ARTIFACT_VFS_CONFIG_DIR;
  else process.env.ARTIFACT_VFS_CONFIG_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const config = (): Record<string, unknown> =>
  JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('config file lock', () => {
  it('a hundred concurrent registrations all land (read-modify-write is serialized)', async () => {
    const names = Array.from({ length: 100 }, (_, i) => `s${i}`);
    await Promise.all(names.map((n) => registerStore(n, { flavor: 'memory', path: `mem://${n}` })));
    const listed = (await listStores()).map((s) => s.name);
    for (const n of names) expect(listed).toContain(n);
    expect(existsSync(join(dir, 'config.json.lock'))).toBe(false);
  });

  it('a lock left by a dead process is broken; a failed change writes nothing', async () => {
    await updateConfigFile((c) => void (c.kept = 1));
    // A pid that cannot exist on this host.
    writeFileSync(join(dir, 'config.json.lock'), `2147483646 ${hostname()} 2026-01-01T00:00:00Z`);
    await updateConfigFile((c) => void (c.after = 2));
    expect(config()).toMatchObject({ kept: 1, after: 2 });
    await expect(
      updateConfigFile((c) => {
        c.lost = 3;
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(config()).not.toHaveProperty('lost');
    expect(existsSync(join(dir, 'config.json.lock'))).toBe(false);
  });

  it('a live holder is waited for', async () => {
    writeFileSync(join(dir, 'config.json.lock'), `${process.pid} ${hostname()} now`);
    let done = false;
    const waiting = updateConfigFile((c) => void (c.x = 1)).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(done).toBe(false);
    rmSync(join(dir, 'config.json.lock'));
    await waiting;
    expect(config()).toMatchObject({ x: 1 });
  });

  const lock = (): string => join(dir, 'config.json.lock');
  /** Sets the lock file's mtime `ms` from now (negative: in the past). */
  const age = (ms: number): void => {
    const t = new Date(Date.now() + ms);
    utimesSync(lock(), t, t);
  };

  it('a lock whose content is not a lock is broken at once', async () => {
    for (const garbage of ['garbage', '\u0000\u0001\u0002', 'x y z w', '-5 host now', 'NaN me now']) {
      writeFileSync(lock(), garbage);
      const started = Date.now();
      await updateConfigFile((c) => void (c.garbage = garbage));
      expect(Date.now() - started).toBeLessThan(1000);
      expect(config()).toMatchObject({ garbage });
      expect(existsSync(lock())).toBe(false);
    }
  });

  it('a live lock from another host is waited for a bounded time, then EBUSY naming the lock, holder and fix', async () => {
    process.env.ARTIFACT_VFS_LOCK_WAIT_MS = '300';
    const holder = '4242 build-host-7 2026-01-01T00:00:00.000Z';
    writeFileSync(lock(), holder);
    const started = Date.now();
    const err = await updateConfigFile((c) => void (c.x = 1)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err).toMatchObject({ code: 'EBUSY', path: lock() });
    const message = (err as Error).message;
    expect(message).toContain("locked by pid 4242 on host 'build-host-7' since 2026-01-01T00:00:00.000Z");
    expect(message).toContain(`lock file '${lock()}'`);
    expect(message).toContain(`remove the lock file: rm '${lock()}'`);
    // not ours to remove: left exactly as it was, and nothing was written
    expect(readFileSync(lock(), 'utf8')).toBe(holder);
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
  });

  it('a lock older than the stale bound, or dated far in the future, is broken (any host)', async () => {
    for (const offset of [-60_000, 3_600_000]) {
      writeFileSync(lock(), '4242 build-host-7 2026-01-01T00:00:00.000Z');
      age(offset);
      await updateConfigFile((c) => void (c[`at${offset}`] = true));
      expect(config()).toHaveProperty(`at${offset}`, true);
      expect(existsSync(lock())).toBe(false);
    }
  });

  it('an empty lock (one being created) is waited for briefly, then broken', async () => {
    writeFileSync(lock(), '');
    let done = false;
    const waiting = updateConfigFile((c) => void (c.e = 1)).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    await waiting;
    expect(config()).toMatchObject({ e: 1 });
    expect(existsSync(lock())).toBe(false);
  });

  it('a directory in the lock’s place fails at once and is left alone', async () => {
    mkdirSync(lock());
    writeFileSync(join(lock(), 'keep.txt'), 'mine');
    await expect(updateConfigFile((c) => void (c.x = 1))).rejects.toMatchObject({
      code: 'EBUSY',
      message: expect.stringMatching(
        /config lock '.*config\.json\.lock' is unusable: it is not a file; remove it/,
      ),
    });
    expect(readFileSync(join(lock(), 'keep.txt'), 'utf8')).toBe('mine');
  });

  it('an invalid config is refused before any lock is taken', async () => {
    writeFileSync(join(dir, 'config.json'), '{"stores": "oops"}');
    await expect(registerStore('a', { flavor: 'memory', path: 'mem://a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
    });
    expect(readdirSync(dir)).toEqual(['config.json']);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe('{"stores": "oops"}');
    expect(statSync(join(dir, 'config.json')).size).toBe(18);
  });
});
