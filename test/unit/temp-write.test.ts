/**
 * Hidden temp siblings (src/vfs/temp-write.ts) on real disk: names that fit NAME_MAX whatever the
 * destination's length, abandoned siblings of killed writers reclaimed by the next write into their
 * directory and by `sweep`, live writers' siblings left alone; and copies abandoned through an
 * AbortSignal (ECANCELED, nothing committed, nothing left behind).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import {
  createMemoryFs,
  createStore,
  createStoreFromFs,
  type ArtifactStore,
  type FsAdapter,
} from '../../src/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { isStaleTemp, isTempName, STALE_AFTER_MS, tempSibling } from '../../src/vfs/temp-write.js';
import { rejection, sha256 } from './helpers.js';
import { BUILD, buildCli, BUILD_TIMEOUT_MS } from '../cli/helpers.js';
import { jailSkipReason } from '../cli/jail.js';

let scratch: string;
let store: ArtifactStore;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'avfs-temp-write-'));
  store = await createStore({ flavor: 'local', path: path.join(scratch, 'store') });
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A process id that ran on this host and has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

/** A sibling name of `dest` as the writer with process id `pid` on this host would make it. */
function siblingOf(dest: string, pid: number): string {
  return tempSibling(dest).replace(/-\d+\.partial$/, `-${pid}.partial`);
}

/** A store on an object store (the memory backend through the deriver, mounted as s3://bucket). */
async function objectStore(): Promise<ArtifactStore> {
  const table = new MountTable();
  table.mount('s3://bucket', createFsAdapter(new MemoryBackend()));
  return createStoreFromFs({ fs: table.fs, path: 's3://bucket', atomicWrites: true });
}

async function freshDir(name: string): Promise<string> {
  const dir = path.join(scratch, 'store', name);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('temp sibling names', () => {
  it.each([
    ['an ASCII name of 255 bytes', 'a'.repeat(251) + '.bin'],
    ['a name of 2-byte characters at 254 bytes', 'é'.repeat(127)],
    ['a name of 4-byte characters at 252 bytes', '😀'.repeat(63)],
  ])('stay within 255 bytes for %s, and writes of it commit', async (_label, name) => {
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    const sibling = path.basename(tempSibling(`/x/${name}`));
    expect(Buffer.byteLength(sibling)).toBeLessThanOrEqual(255);
    expect(isTempName(sibling)).toBe(true);
    // No character is split by the cut.
    expect(Buffer.from(sibling).toString()).toBe(sibling);
    const dir = await freshDir(`long-${randomBytes(3).toString('hex')}`);
    const body = randomBytes(1000);
    const f = await store.open(path.join(dir, name), 'wb');
    await f.write(body);
    await f.close();
    await store.copyfile(path.join(dir, name), path.join(dir, `${name.slice(0, -1)}2`), true);
    expect(sha256(await readFile(path.join(dir, `${name.slice(0, -1)}2`)))).toBe(sha256(body));
    expect((await readdir(dir)).filter(isTempName)).toEqual([]);
  });

  it('are unique per write and name their writer', () => {
    const a = tempSibling('/d/model.bin');
    expect(a).not.toBe(tempSibling('/d/model.bin'));
    expect(a).toMatch(
      new RegExp(`^/d/\\.model\\.bin\\.avfs-[0-9a-f]{8}-[0-9a-f]{8}-${process.pid}\\.partial$`),
    );
  });
});

describe('abandoned siblings', () => {
  it('are told from live ones: a dead writer of this host at once, any other after a day', () => {
    const now = Date.now();
    const dead = path.basename(siblingOf('/d/f', deadPid()));
    expect(isStaleTemp(dead, now, now)).toBe(true);
    expect(isStaleTemp(path.basename(tempSibling('/d/f')), now, now)).toBe(false);
    expect(isStaleTemp(path.basename(tempSibling('/d/f')), now - STALE_AFTER_MS - 1, now)).toBe(true);
    // Another host's writer (a tag that is not ours) and the old name form: by age only.
    const foreign = dead.replace(/-([0-9a-f]{8})-(\d+)\.partial$/, (_m, tag: string, pid: string) => {
      const other = tag === '00000000' ? '00000001' : '00000000';
      return `-${other}-${pid}.partial`;
    });
    expect(isStaleTemp(foreign, now, now)).toBe(false);
    expect(isStaleTemp(foreign, now - STALE_AFTER_MS - 1, now)).toBe(true);
    expect(isStaleTemp('.f.avfs-0123abcd.partial', now, now)).toBe(false);
    expect(isStaleTemp('.f.avfs-0123abcd.partial', now - STALE_AFTER_MS - 1, now)).toBe(true);
    expect(isStaleTemp('f.partial', 0, now)).toBe(false);
  });

  it("are reclaimed by the next write into their directory; a live writer's sibling stays", async () => {
    const dir = await freshDir('reclaim');
    const dead = siblingOf(path.join(dir, 'model.bin'), deadPid());
    const live = tempSibling(path.join(dir, 'other.bin'));
    const oldForm = path.join(dir, '.old.bin.avfs-0123abcd.partial');
    const oldAbandoned = path.join(dir, '.older.bin.avfs-4567cdef.partial');
    for (const p of [dead, live, oldForm, oldAbandoned]) await writeFile(p, 'half');
    const longAgo = (Date.now() - STALE_AFTER_MS - 60_000) / 1000;
    await utimes(oldAbandoned, longAgo, longAgo);
    await writeFile(path.join(scratch, 'store', 'src.bin'), 'whole');
    await store.copyfile(path.join(scratch, 'store', 'src.bin'), path.join(dir, 'model.bin'), true);
    const left = (await readdir(dir)).sort();
    expect(left).toEqual(['model.bin', path.basename(oldForm), path.basename(live)].sort());
    expect(await readFile(path.join(dir, 'model.bin'), 'utf8')).toBe('whole');
  });

  it("are reclaimed by the facade's open for writing too", async () => {
    const dir = await freshDir('reclaim-open');
    const dead = siblingOf(path.join(dir, 'a.bin'), deadPid());
    await writeFile(dead, 'half');
    const f = await store.open(path.join(dir, 'b.bin'), 'wb');
    await f.write('b');
    await f.close();
    expect(await readdir(dir)).toEqual(['b.bin']);
  });

  it('are listed by sweep with dryRun and removed by sweep, in every directory below', async () => {
    const top = await freshDir('sweep');
    await mkdir(path.join(top, 'a/b'), { recursive: true });
    const pid = deadPid();
    const planted = [
      siblingOf(path.join(top, 'x.bin'), pid),
      siblingOf(path.join(top, 'a/b/y.bin'), pid),
    ].sort();
    for (const p of planted) await writeFile(p, 'half');
    const live = tempSibling(path.join(top, 'a/z.bin'));
    await writeFile(live, 'being written');
    await writeFile(path.join(top, 'a/keep.bin'), 'data');

    expect((await store.sweep(top, { dryRun: true })).sort()).toEqual(planted);
    expect((await readdir(path.join(top, 'a/b'))).length).toBe(1);
    expect((await store.sweep(top)).sort()).toEqual(planted);
    expect(await readdir(top)).toEqual(['a']);
    expect((await readdir(path.join(top, 'a'))).sort()).toEqual(
      ['b', path.basename(live), 'keep.bin'].sort(),
    );
    expect(await readdir(path.join(top, 'a/b'))).toEqual([]);
    expect(await store.sweep(top)).toEqual([]);
    expect((await rejection(store.sweep(path.join(top, 'missing')))).code).toBe('ENOENT');
  });

  it('sweep has nothing to do on a store that commits atomically', async () => {
    const objects = await objectStore();
    expect(await objects.sweep('s3://bucket')).toEqual([]);
  });
});

describe('copies abandoned through an AbortSignal', () => {
  const big = randomBytes(9 * 1024 * 1024 + 17);

  /** A source whose reads wait for `gate` after the first block: the copy is mid-way when aborted. */
  async function sourceStore(): Promise<{ src: ArtifactStore; file: string }> {
    const src = await createStore({
      flavor: 'memory',
      path: `mem://abort-src-${randomBytes(3).toString('hex')}`,
    });
    const file = `${src.path}/big.bin`;
    const f = await src.open(file, 'wb');
    await f.write(big);
    await f.close();
    return { src, file };
  }

  it('onto a store that writes in place: ECANCELED, the destination as it was, no temp file', async () => {
    const { src, file } = await sourceStore();
    const dir = await freshDir('abort-local');
    const dest = path.join(dir, 'big.bin');
    await writeFile(dest, 'old');
    const controller = new AbortController();
    const copying = store.copyFrom(src, file, dest, {
      signal: controller.signal,
      onBlock: () => controller.abort(new Error('stop now')),
    });
    const err = await rejection(copying);
    expect(err.code).toBe('ECANCELED');
    expect(err.name).toBe('AbortError');
    expect(err.path).toBe(file);
    expect(err.dest).toBe(dest);
    expect(err.message).toContain('stop now');
    expect(await readFile(dest, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['big.bin']);
  });

  it('copyfile inside a store that writes in place: aborted during the copy, nothing replaces the destination', async () => {
    const mem = createMemoryFs().fs;
    mem.mkdirSync('/root', { recursive: true });
    mem.writeFileSync('/root/src.bin', big);
    mem.writeFileSync('/root/dst.bin', 'old');
    const controller = new AbortController();
    // node:fs copyFile cannot stop midway: the abort lands while it runs, and it completes.
    const fs = {
      ...mem,
      promises: {
        ...mem.promises,
        copyFile: async (...args: Parameters<typeof mem.promises.copyFile>) => {
          controller.abort(new Error('Ctrl-C'));
          return mem.promises.copyFile(...args);
        },
      },
    } as unknown as FsAdapter;
    const inPlace = await createStoreFromFs({ fs, path: '/root' });
    const err = await rejection(
      inPlace.copyfile('/root/src.bin', '/root/dst.bin', true, { signal: controller.signal }),
    );
    expect(err.code).toBe('ECANCELED');
    expect(err.path).toBe('/root/src.bin');
    expect(mem.readFileSync('/root/dst.bin', 'utf8')).toBe('old');
    expect((mem.readdirSync('/root') as string[]).sort()).toEqual(['dst.bin', 'src.bin']);
    expect(
      (
        await rejection(
          inPlace.copyfile('/root/src.bin', '/root/new.bin', true, { signal: controller.signal }),
        )
      ).code,
    ).toBe('ECANCELED');
    expect(mem.existsSync('/root/new.bin')).toBe(false);
  });

  it('onto an object store: ECANCELED and nothing committed', async () => {
    const { src, file } = await sourceStore();
    const objects = await objectStore();
    const controller = new AbortController();
    const err = await rejection(
      objects.copyFrom(src, file, 's3://bucket/big.bin', {
        signal: controller.signal,
        onBlock: () => controller.abort(),
      }),
    );
    expect(err.code).toBe('ECANCELED');
    expect(await objects.exists('s3://bucket/big.bin')).toBe(false);
    // Aborted before the first byte: nothing is opened at all.
    const err2 = await rejection(
      objects.copyFrom(src, file, 's3://bucket/big.bin', { signal: AbortSignal.abort() }),
    );
    expect(err2.code).toBe('ECANCELED');
    expect(await objects.exists('s3://bucket/big.bin')).toBe(false);
    // The same copy without the abort goes through whole.
    await objects.copyFrom(src, file, 's3://bucket/big.bin');
    const f = await objects.open('s3://bucket/big.bin', 'rb');
    expect(sha256((await f.read()) as Buffer)).toBe(sha256(big));
  });
});

describe('the writer tag', () => {
  const reason = jailSkipReason();
  it.skipIf(reason !== undefined)(
    `differs in another pid namespace of the same host, so its live writers are judged by age only${reason ? ` — skipped: ${reason}` : ''}`,
    async () => {
      await buildCli();
      const probe = `import { tempSibling } from ${JSON.stringify(pathToFileURL(path.join(BUILD, 'src/vfs/temp-write.js')).href)}; process.stdout.write(tempSibling('/d/x'));`;
      const tagOf = (prefix: string[]): string => {
        const r = spawnSync(prefix[0]!, [
          ...prefix.slice(1),
          process.execPath,
          '--input-type=module',
          '-e',
          probe,
        ]);
        expect(r.status, r.stderr.toString()).toBe(0);
        return /-([0-9a-f]{8})-\d+\.partial$/.exec(r.stdout.toString())![1]!;
      };
      const here = tagOf(['env']);
      expect(tagOf(['env'])).toBe(here);
      const inside = tagOf(['unshare', '--pid', '--fork']);
      expect(inside).not.toBe(here);
      // A sibling of that writer, whose pid means nothing here, is not stale while it is fresh.
      const now = Date.now();
      expect(isStaleTemp(`.x.avfs-0123abcd-${inside}-1.partial`, now, now)).toBe(false);
    },
    BUILD_TIMEOUT_MS,
  );
});
