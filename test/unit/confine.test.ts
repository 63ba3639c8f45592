/**
 * Symlink confinement (src/fs/confine.ts) on the local and memory flavors: a link inside a store
 * may not lead out of it, whether its target exists or not (issue 13 items 2 and 3). node:fs is the
 * oracle for what a link operation does (rm and rename act on the link, not on its target).
 */
import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryFs, createStore, sharedMemoryFs, type ArtifactStore } from '../../src/index.js';
import { confineToRoot } from '../../src/fs/confine.js';
import { rejection, thrown } from './helpers.js';

const OUTSIDE = 'ERR_PATH_OUTSIDE_ROOT';

/** Resolves when a write stream closes, rejects with its error. */
function finished(s: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.once('close', () => resolve());
  });
}

describe('local: dangling symlinks (item 2)', () => {
  let base: string;
  let root: string;
  let elsewhere: string;
  let store: ArtifactStore;
  beforeAll(async () => {
    base = await nodeFs.promises.realpath(await mkdtemp(path.join(tmpdir(), 'avfs-confine-')));
    root = path.join(base, 'root');
    elsewhere = path.join(base, 'elsewhere');
    await mkdir(elsewhere);
    store = await createStore({ flavor: 'local', path: root });
    await symlink(path.join(elsewhere, 'new.txt'), path.join(root, 'dangling'));
    await symlink('../elsewhere/rel.txt', path.join(root, 'dangling-rel'));
    // A chain: link → link → a missing file outside.
    await symlink('dangling', path.join(root, 'chain1'));
    await symlink(path.join(root, 'chain1'), path.join(root, 'chain2'));
    // The sibling that shares the root's name as a prefix.
    await symlink(path.join(base, 'root-evil', 'x.txt'), path.join(root, 'prefix'));
    await mkdir(path.join(base, 'root-evil'));
    await symlink('a-new-file.txt', path.join(root, 'dangling-in'));
    await writeFile(path.join(root, 'src-file.txt'), 'src');
    await symlink('loop2', path.join(root, 'loop1'));
    await symlink('loop1', path.join(root, 'loop2'));
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  const escapes = ['dangling', 'dangling-rel', 'chain2', 'prefix'];

  it.each(escapes)('%s: open(…, "a"|"x") is refused and creates nothing', async (name) => {
    for (const mode of ['a', 'ab', 'x'] as const) {
      const err = await rejection(store.open(name, mode));
      expect(err.code).toBe(OUTSIDE);
      expect(err.message).toContain(path.join(root, name));
    }
    expect(await readdir(elsewhere)).toEqual([]);
    expect(await readdir(path.join(base, 'root-evil'))).toEqual([]);
  });

  it('open(…, "w") replaces the link itself (its hidden sibling is renamed over it, as rename does)', async () => {
    const link = path.join(root, 'dangling-w');
    await symlink(path.join(elsewhere, 'w.txt'), link);
    const f = await store.open('dangling-w', 'w');
    await f.write('replaced');
    await f.close();
    expect(nodeFs.lstatSync(link).isFile()).toBe(true);
    expect(await readFile(link, 'utf8')).toBe('replaced');
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it.each(escapes)('%s: store.fs writeFile, appendFile, createWriteStream are refused', async (name) => {
    const p = path.join(root, name);
    expect((await rejection(store.fs.promises.writeFile(p, 'x'))).code).toBe(OUTSIDE);
    expect((await rejection(store.fs.promises.appendFile(p, 'x'))).code).toBe(OUTSIDE);
    expect(thrown(() => store.fs.writeFileSync(p, 'x')).code).toBe(OUTSIDE);
    expect(thrown(() => store.fs.createWriteStream(p)).code).toBe(OUTSIDE);
    expect((await rejection(store.fs.promises.copyFile(path.join(root, 'src-file.txt'), p))).code).toBe(
      OUTSIDE,
    );
    expect(await readdir(elsewhere)).toEqual([]);
    expect(await readdir(path.join(base, 'root-evil'))).toEqual([]);
  });

  it('a dangling link that stays inside still works, as in node:fs', async () => {
    const p = path.join(root, 'dangling-in');
    const w = store.fs.createWriteStream(p);
    w.end('inside');
    await finished(w);
    expect(await readFile(path.join(root, 'a-new-file.txt'), 'utf8')).toBe('inside');
    expect(await readlink(p)).toBe('a-new-file.txt');
  });

  it('a loop of links is ELOOP, as in node:fs', async () => {
    const p = path.join(root, 'loop1');
    const oracle = await rejection(nodeFs.promises.writeFile(p, 'x'));
    expect(oracle.code).toBe('ELOOP');
    expect((await rejection(store.fs.promises.writeFile(p, 'x'))).code).toBe('ELOOP');
    expect((await rejection(store.open('loop1', 'a'))).code).toBe('ELOOP');
  });

  it('lstat of an escaping link is fine (it does not follow); rm removes the link only', async () => {
    await mkdir(path.join(elsewhere, 'dir'));
    await writeFile(path.join(elsewhere, 'dir', 'keep.txt'), 'keep');
    const link = path.join(root, 'to-dir');
    await symlink(path.join(elsewhere, 'dir'), link);
    expect((await store.fs.promises.lstat(link)).isSymbolicLink()).toBe(true);
    expect((await rejection(store.fs.promises.readdir(link))).code).toBe(OUTSIDE);
    // A trailing slash follows the link (POSIX): refused, not a walk of the target.
    expect((await rejection(store.fs.promises.rm(link + '/', { recursive: true }))).code).toBe(OUTSIDE);
    await store.fs.promises.rm(link, { recursive: true });
    expect(nodeFs.existsSync(link)).toBe(false);
    expect(await readFile(path.join(elsewhere, 'dir', 'keep.txt'), 'utf8')).toBe('keep');
    await rm(path.join(elsewhere, 'dir'), { recursive: true });
  });

  it('rename checks both paths: a destination under a link to outside is refused', async () => {
    await symlink(elsewhere, path.join(root, 'out-dir'));
    await writeFile(path.join(root, 'src.txt'), 'src');
    const err = await rejection(
      store.fs.promises.rename(path.join(root, 'src.txt'), path.join(root, 'out-dir', 'moved.txt')),
    );
    expect(err.code).toBe(OUTSIDE);
    expect(err.message).toContain(path.join(root, 'out-dir', 'moved.txt'));
    expect(await readdir(elsewhere)).toEqual([]);
    // Renaming the escaping link itself moves the link, like node:fs.
    await store.fs.promises.rename(path.join(root, 'out-dir'), path.join(root, 'out-dir2'));
    expect(await readlink(path.join(root, 'out-dir2'))).toBe(elsewhere);
  });

  it('a final component swapped for a link between check and open is not followed (O_NOFOLLOW)', async () => {
    if (nodeFs.constants.O_NOFOLLOW === undefined) return; // Windows has no O_NOFOLLOW
    const file = path.join(root, 'swap.txt');
    await writeFile(file, 'before');
    // The link reader swaps the file for a link to outside right after the check has looked at it:
    // the race an attacker would need to win, made deterministic.
    const confined = confineToRoot(nodeFs, root, {
      noFollow: true,
      links: {
        lstatSync: ((p: string) => {
          const st = nodeFs.lstatSync(p);
          if (p === file) {
            nodeFs.unlinkSync(file);
            nodeFs.symlinkSync(path.join(elsewhere, 'raced.txt'), file);
          }
          return st;
        }) as typeof nodeFs.lstatSync,
        readlinkSync: nodeFs.readlinkSync,
      },
    });
    expect((await rejection(confined.promises.writeFile(file, 'x'))).code).toBe('ELOOP');
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe('memory: symlinks are confined too (item 3)', () => {
  const vol = sharedMemoryFs().volume;
  const name = `confine-${randomUUID()}`;
  const other = `/${name}-other`;
  const root = `/${name}`;
  let store: ArtifactStore;
  beforeAll(async () => {
    store = await createStore({ flavor: 'memory', path: `mem://${name}` });
    vol.mkdirSync(`${other}/dir`, { recursive: true });
    vol.writeFileSync(`${other}/dir/secret.txt`, 'secret');
    vol.symlinkSync(`${other}/dir`, `${root}/to-dir`);
    vol.symlinkSync(`${other}/dir/secret.txt`, `${root}/to-file`);
    vol.symlinkSync(`../${name}-other/new.txt`, `${root}/dangling`);
    vol.mkdirSync(`${root}/real`);
    vol.symlinkSync('real', `${root}/alias`);
  });
  const untouched = (): void => {
    expect(vol.readdirSync(other)).toEqual(['dir']);
    expect(vol.readdirSync(`${other}/dir`)).toEqual(['secret.txt']);
    expect(vol.readFileSync(`${other}/dir/secret.txt`, 'utf8')).toBe('secret');
  };

  it('open, stat, listdir, copyfile through a link to outside are refused', async () => {
    for (const attempt of [
      () => store.open('to-file'),
      () => store.open('to-dir/secret.txt'),
      () => store.open('to-dir/new.txt', 'w'),
      () => store.open('dangling', 'a'),
      () => store.stat('to-file'),
      () => store.size('to-dir'),
      () => store.listdir('to-dir'),
      () => store.copyfile('to-file', 'copy.txt'),
      () => store.rmtree('to-dir'),
      () => store.exists('to-dir/secret.txt'),
      () => store.fs.promises.writeFile(`mem://${name}/dangling`, 'x'),
    ]) {
      expect((await rejection(attempt())).code).toBe(OUTSIDE);
    }
    expect(vol.existsSync(`${other}/new.txt`)).toBe(false);
    untouched();
  });

  it('remove and rm of a link remove the link, not what it points to', async () => {
    vol.symlinkSync(`${other}/dir`, `${root}/rm-me`);
    await store.fs.promises.rm(`mem://${name}/rm-me`, { recursive: true, force: true });
    expect(vol.existsSync(`${root}/rm-me`)).toBe(false);
    vol.symlinkSync(`${other}/dir/secret.txt`, `${root}/unlink-me`);
    await store.remove('unlink-me');
    expect(vol.existsSync(`${root}/unlink-me`)).toBe(false);
    untouched();
  });

  it('rename of a link moves the link (memfs moved its target)', async () => {
    vol.symlinkSync(`${other}/dir`, `${root}/mv-me`);
    await store.rename('mv-me', 'moved');
    expect(vol.readlinkSync(`${root}/moved`)).toBe(`${other}/dir`);
    expect(vol.existsSync(`${root}/mv-me`)).toBe(false);
    untouched();
  });

  it('a link that stays inside works', async () => {
    const f = await store.open('alias/in.txt', 'w');
    await f.write('ok');
    await f.close();
    expect(vol.readFileSync(`${root}/real/in.txt`, 'utf8')).toBe('ok');
  });

  it('a private memory fs confined to a root refuses the same escapes', async () => {
    const { fs, volume } = createMemoryFs();
    volume.mkdirSync('/r', { recursive: true });
    volume.mkdirSync('/r-evil');
    volume.symlinkSync('/r-evil/x', '/r/l');
    const confined = confineToRoot(fs, '/r', { links: volume as never });
    expect((await rejection(confined.promises.writeFile('/r/l', 'x'))).code).toBe(OUTSIDE);
    expect(volume.readdirSync('/r-evil')).toEqual([]);
  });
});
