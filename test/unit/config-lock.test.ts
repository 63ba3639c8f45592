/**
 * Config-file changes under the lock file: concurrent changes all land (the lock is a file
 * created exclusively, so it serializes processes the same way), a lock left by a dead process is
 * broken, a live one is waited for, and a failed change writes nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { updateConfigFile } from '../../src/store/defaults.js';
import { listStores, registerStore } from '../../src/store/stores.js';

let dir: string;
let saved: string | undefined;

beforeEach(() => {
  saved = process.env.ARTIFACT_VFS_CONFIG_DIR;
  dir = mkdtempSync(join(tmpdir(), 'avfs-config-'));
  process.env.ARTIFACT_VFS_CONFIG_DIR = dir;
});
afterEach(() => {
  if (saved === undefined) delete process.env.ARTIFACT_VFS_CONFIG_DIR;
  else process.env.ARTIFACT_VFS_CONFIG_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const config = (): Record<string, unknown> =>
  JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('config file lock', () => {
  it('twelve concurrent registrations all land (read-modify-write is serialized)', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `s${i}`);
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
});
