/**
 * The ArtifactStore facade and its factory (src/store/artifact-store.ts): flavor and path checks
 * before any I/O, config validation, secret redaction, root creation, path normalisation,
 * containment.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import * as nodeFsPromises from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArtifactStore,
  createMemoryFs,
  createStore,
  createStoreFromFs,
  createStoreWith,
  defineFlavor,
  fileio,
  FlavorRegistry,
  fsError,
  localFs,
  type Flavor,
  type FsAdapter,
} from '../../src/index.js';
import { rejection, sha256 } from './helpers.js';

async function readAll(
  store: { open(p: string, m: 'rb'): Promise<{ read(): Promise<string | Buffer> }> },
  p: string,
) {
  const f = await store.open(p, 'rb');
  return (await f.read()) as Buffer;
}

async function writeAll(store: ArtifactStore, p: string, data: string | Uint8Array): Promise<void> {
  const f = await store.open(p, 'wb');
  await f.write(data);
  await f.close();
}

const SECRET = `sk-${randomUUID()}`;

interface Recorder {
  creates: Record<string, unknown>[];
  closes: number;
  fs: FsAdapter;
}

/** A flavor on the `mem` scheme whose `create` records its calls (and so any I/O it would start). */
function recordingFlavor(rec: Recorder, overrides: Partial<Flavor> = {}): Flavor {
  return defineFlavor({
    name: 'recording',
    type: 'artifact_store',
    schemes: ['mem', 'memory'],
    description: 'records create() calls',
    config: {
      region: { type: 'string', description: 'the region', required: true },
      retries: { type: 'number', description: 'how often to retry', default: 3 },
      verbose: { type: 'boolean', description: 'log more' },
      secret_key: { type: 'string', description: 'the access secret', secret: true },
    },
    async create(config) {
      rec.creates.push(config);
      return {
        adapter: rec.fs,
        ensureRoot: true,
        close: async () => {
          rec.closes++;
        },
      };
    },
    ...overrides,
  } as Flavor);
}

function recorder(): Recorder {
  return { creates: [], closes: 0, fs: createMemoryFs().fs };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-store-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('createStore: flavor and path checks', () => {
  it('an unknown flavor is ERR_UNKNOWN_FLAVOR listing the available ones', async () => {
    const err = await rejection(createStore({ flavor: 'nosuch', path: 'mem://a/b' }));
    expect(err.code).toBe('ERR_UNKNOWN_FLAVOR');
    expect(err.message).toContain("'nosuch'");
    expect(err.message).toMatch(/available: .*local/);
    expect(err.message).toMatch(/available: .*memory/);
    const reg = new FlavorRegistry();
    reg.register(recordingFlavor(recorder()));
    const own = await rejection(createStoreWith({ flavor: 'local', path: tmp }, reg));
    expect(own.code).toBe('ERR_UNKNOWN_FLAVOR');
    expect(own.message).toContain('(available: recording)');
  });

  it('a missing flavor or path is EINVAL', async () => {
    expect((await rejection(createStore({ flavor: '', path: 'mem://a/b' }))).code).toBe('EINVAL');
    const noPath = await rejection(createStore({ flavor: 'memory', path: '' }));
    expect(noPath.code).toBe('EINVAL');
    expect(noPath.message).toContain('mem://');
  });

  it('a path in a scheme the flavor does not serve is EINVAL naming the supported schemes', async () => {
    const err = await rejection(createStore({ flavor: 'memory', path: 's3://b' }));
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain("'s3://b'");
    expect(err.message).toContain('mem://');
    expect(err.message).toContain('memory://');
    const local = await rejection(createStore({ flavor: 'local', path: 'mem://x/y' }));
    expect(local.code).toBe('EINVAL');
    expect(local.message).toContain('plain paths, file://');
    const mem = await rejection(createStore({ flavor: 'memory', path: tmp }));
    expect(mem.code).toBe('EINVAL');
  });

  it('a URI without a bucket is EINVAL', async () => {
    const err = await rejection(createStore({ flavor: 'memory', path: 'mem://' }));
    expect(err.code).toBe('EINVAL');
  });

  it('checks the scheme and the config before the flavor does any I/O', async () => {
    const rec = recorder();
    const reg = new FlavorRegistry();
    reg.register(recordingFlavor(rec));
    const cases: Record<string, unknown>[] = [
      { flavor: 'recording', path: 's3://b/p', region: 'eu' },
      { flavor: 'recording', path: tmp, region: 'eu' },
      { flavor: 'recording', path: 'mem://', region: 'eu' },
      { flavor: 'recording', path: 'mem://b/p' },
      { flavor: 'recording', path: 'mem://b/p', region: 'eu', colour: 'red' },
      { flavor: 'recording', path: 'mem://b/p', region: 42 },
      { flavor: 'recording', path: 'mem://b/p', region: 'eu', retries: 'three' },
      { flavor: 'recording', path: 'mem://b/p', region: 'eu', verbose: 'yes' },
      { flavor: 'recording', path: 'mem://b/p', region: 'eu', secret_key: 1234 },
    ];
    for (const c of cases) {
      const err = await rejection(createStoreWith(c as never, reg));
      expect(err.code, JSON.stringify(c)).toBe('EINVAL');
    }
    expect(rec.creates).toEqual([]);
    expect(rec.fs.readdirSync('/')).toEqual([]);
    const store = await createStoreWith({ flavor: 'recording', path: 'memory://b/p/', region: 'eu' }, reg);
    expect(rec.creates).toEqual([{ region: 'eu', retries: 3, path: 'mem://b/p' }]);
    expect(store.path).toBe('mem://b/p');
    await store.close();
    expect(rec.closes).toBe(1);
  });

  it('config errors name the field (and the known ones), never the value', async () => {
    const reg = new FlavorRegistry();
    reg.register(recordingFlavor(recorder()));
    const unknown = await rejection(
      createStoreWith({ flavor: 'recording', path: 'mem://b', region: 'eu', colour: 'red-value' }, reg),
    );
    expect(unknown.code).toBe('EINVAL');
    expect(unknown.message).toContain("'colour'");
    expect(unknown.message).toContain('known: region, retries, verbose, secret_key');
    expect(unknown.message).not.toContain('red-value');
    const missing = await rejection(createStoreWith({ flavor: 'recording', path: 'mem://b' }, reg));
    expect(missing.code).toBe('EINVAL');
    expect(missing.message).toContain("'region'");
    const wrong = await rejection(
      createStoreWith({ flavor: 'recording', path: 'mem://b', region: 'eu', retries: 'three' }, reg),
    );
    expect(wrong.code).toBe('EINVAL');
    expect(wrong.message).toContain("'retries'");
    expect(wrong.message).toContain('a number');
    const local = await rejection(createStore({ flavor: 'local', path: tmp, bucket: 'x' }));
    expect(local.code).toBe('EINVAL');
    expect(local.message).toContain("'bucket'");
    expect(local.message).toContain('it takes only a path');
  });
});

describe('secrets', () => {
  it('a secret field never shows: not in errors, toJSON, inspect or JSON.stringify', async () => {
    const rec = recorder();
    const reg = new FlavorRegistry();
    reg.register(recordingFlavor(rec));
    const store = await createStoreWith(
      { flavor: 'recording', path: 'mem://sec/root', region: 'eu', secret_key: SECRET, name: 'prod' },
      reg,
    );
    // The flavor gets the real value.
    expect(rec.creates[0]!.secret_key).toBe(SECRET);
    expect(store.toJSON()).toEqual({
      name: 'prod',
      flavor: 'recording',
      path: 'mem://sec/root',
      config: { region: 'eu', retries: 3, secret_key: '**********' },
    });
    expect(store.config.secret_key).toBe('**********');
    const shown = [
      inspect(store),
      inspect(store, { showHidden: true, depth: Infinity }),
      JSON.stringify(store),
      String(store),
    ];
    for (const s of shown) expect(s).not.toContain(SECRET);
    expect(inspect(store)).toContain('**********');
    expect(JSON.stringify(store)).toContain('"secret_key":"**********"');

    // Errors that would carry the value are scrubbed.
    const err = await rejection(store.open(`dir-${SECRET}/f.txt`, 'r'));
    expect(err.code).toBe('ENOENT');
    expect(err.message).not.toContain(SECRET);
    expect(String(err.path)).not.toContain(SECRET);
    expect(inspect(err)).not.toContain(SECRET);
  });

  it('a wrong-typed secret is refused without echoing it; the same value elsewhere is scrubbed', async () => {
    const reg = new FlavorRegistry();
    reg.register(recordingFlavor(recorder()));
    const other = `tok-${randomUUID()}`;
    const err = await rejection(
      createStoreWith(
        { flavor: 'recording', path: 'mem://b', region: 'eu', secret_key: other, retries: other },
        reg,
      ),
    );
    expect(err.code).toBe('EINVAL');
    expect(err.message).toContain("'retries'");
    expect(err.message).not.toContain(other);
  });

  it('an error the flavor raises while creating the store does not leak the secret', async () => {
    const reg = new FlavorRegistry();
    const leaky = `leak-${randomUUID()}`;
    reg.register(
      recordingFlavor(recorder(), {
        async create(config: Record<string, unknown>) {
          throw new Error(`could not sign in with key ${String(config.secret_key)}`);
        },
      } as Partial<Flavor>),
    );
    const err = await rejection(
      createStoreWith({ flavor: 'recording', path: 'mem://b', region: 'eu', secret_key: leaky }, reg),
    );
    expect(err.message).toContain('could not sign in with key');
    expect(err.message).not.toContain(leaky);
    expect(String(err.stack)).not.toContain(leaky);
    expect(inspect(err)).not.toContain(leaky);
    // An FsError from the flavor keeps its code and is scrubbed too.
    reg.register(
      recordingFlavor(recorder(), {
        async create(config: Record<string, unknown>) {
          throw fsError('EACCES', { detail: `denied for ${String(config.secret_key)}` });
        },
      } as Partial<Flavor>),
      { replace: true },
    );
    const denied = await rejection(
      createStoreWith({ flavor: 'recording', path: 'mem://b', region: 'eu', secret_key: leaky }, reg),
    );
    expect(denied.code).toBe('EACCES');
    expect(denied.message).not.toContain(leaky);
  });
});

describe('local stores', () => {
  it('create their root directory (and parents)', async () => {
    const root = path.join(tmp, 'new', 'nested', 'root');
    expect(nodeFs.existsSync(root)).toBe(false);
    const store = await createStore({ flavor: 'local', path: root });
    expect(nodeFs.statSync(root).isDirectory()).toBe(true);
    expect(store.path).toBe(root);
    expect(store.flavor).toBe('local');
    expect(store).toBeInstanceOf(ArtifactStore);
  });

  it('normalise the path: file:// URI to a plain path, trailing slash dropped, dots resolved', async () => {
    const root = path.join(tmp, 'norm');
    expect((await createStore({ flavor: 'local', path: `file://${root}/` })).path).toBe(root);
    expect((await createStore({ flavor: 'local', path: `${root}/` })).path).toBe(root);
    expect((await createStore({ flavor: 'local', path: `${root}/sub/..` })).path).toBe(root);
    expect(nodeFs.statSync(root).isDirectory()).toBe(true);
  });

  it('relative and absolute paths inside the root reach the same file', async () => {
    const root = path.join(tmp, 'same');
    const store = await createStore({ flavor: 'local', path: root });
    const data = randomBytes(64 * 1024);
    await store.makedirs('a/b');
    await writeAll(store, 'a/b/c.bin', data);
    expect(sha256(await readFile(path.join(root, 'a/b/c.bin')))).toBe(sha256(data));
    expect(sha256(await readAll(store, path.join(root, 'a/b/c.bin')))).toBe(sha256(data));
    expect(sha256(await readAll(store, `file://${root}/a/b/c.bin`))).toBe(sha256(data));
    expect(sha256(await readAll(store, './a/./b/c.bin'))).toBe(sha256(data));
    expect(await store.exists('a/b/c.bin')).toBe(true);
    expect(await store.exists(`${root}/a/b/c.bin`)).toBe(true);
    expect((await store.stat('a/b/c.bin')).size).toBe(data.length);
    expect(await store.listdir(root)).toEqual(['a']);
  });

  it('contains() compares by segments', async () => {
    const root = path.join(tmp, 'cont');
    const store = await createStore({ flavor: 'local', path: root });
    expect(store.contains('x/y')).toBe(true);
    expect(store.contains('.')).toBe(true);
    expect(store.contains(root)).toBe(true);
    expect(store.contains(`${root}/x`)).toBe(true);
    expect(store.contains(`file://${root}/x`)).toBe(true);
    expect(store.contains(`${root}-x/y`)).toBe(false);
    expect(store.contains(path.dirname(root))).toBe(false);
    expect(store.contains('../cont-x')).toBe(false);
    expect(store.contains('a/../../b')).toBe(false);
    expect(store.contains('%2e%2e/x')).toBe(false);
    expect(store.contains('mem://x/y')).toBe(false);
    expect(store.contains('a\0b')).toBe(false);
  });

  it('refuses paths outside the root before any I/O', async () => {
    const root = path.join(tmp, 'outside');
    const store = await createStore({ flavor: 'local', path: root });
    const victim = path.join(tmp, 'victim.txt');
    await writeFile(victim, 'keep');
    for (const p of ['../victim.txt', victim, `${root}/../victim.txt`, '%2e%2e/victim.txt']) {
      const err = await rejection(writeAll(store, p, 'overwritten'));
      expect(err.code, p).toBe('ERR_PATH_OUTSIDE_ROOT');
      expect(err.path).toBe(p);
    }
    expect((await rejection(store.remove('../victim.txt'))).code).toBe('ERR_PATH_OUTSIDE_ROOT');
    expect(await readFile(victim, 'utf8')).toBe('keep');
  });
});

describe('memory stores', () => {
  it('share the process-wide volume with fileio on mem:// paths', async () => {
    const vol = `st-${randomUUID().slice(0, 8)}`;
    const store = await createStore({ flavor: 'memory', path: `mem://${vol}/y` });
    expect(store.path).toBe(`mem://${vol}/y`);
    expect(await fileio.isdir(`mem://${vol}/y`)).toBe(true);
    const data = randomBytes(10_000);
    await writeAll(store, 'from-store.bin', data);
    expect(sha256(await readAll(fileio, `mem://${vol}/y/from-store.bin`))).toBe(sha256(data));
    const f = await fileio.open(`mem://${vol}/y/from-fileio.txt`, 'w');
    await f.write('hello');
    await f.close();
    expect((await readAll(store, 'from-fileio.txt')).toString()).toBe('hello');
    expect(await store.listdir('.')).toEqual(['from-fileio.txt', 'from-store.bin']);
    // A second store on the same path sees the same files.
    const again = await createStore({ flavor: 'memory', path: `memory://${vol}/y/` });
    expect(again.path).toBe(`mem://${vol}/y`);
    expect(await again.listdir('')).toEqual(['from-fileio.txt', 'from-store.bin']);
  });

  it('contains() and absolute URIs inside the root', async () => {
    const store = await createStore({ flavor: 'memory', path: 'mem://cv/root' });
    await writeAll(store, 'k.txt', 'k');
    expect((await readAll(store, 'mem://cv/root/k.txt')).toString()).toBe('k');
    expect((await readAll(store, 'memory://cv/root/k.txt')).toString()).toBe('k');
    expect(store.contains('mem://cv/root/a/b')).toBe(true);
    expect(store.contains('memory://cv/root')).toBe(true);
    expect(store.contains('mem://cv/root-x')).toBe(false);
    expect(store.contains('mem://cv/other')).toBe(false);
    expect(store.contains('s3://cv/root/a')).toBe(false);
    expect(store.contains('/cv/root/a')).toBe(false); // a plain absolute path is a local path
    expect(store.contains('a/b')).toBe(true);
  });
});

describe('createStoreFromFs', () => {
  it('binds the operations to a root over any fs', async () => {
    const root = path.join(tmp, 'fromfs');
    nodeFs.mkdirSync(root);
    const store = await createStoreFromFs({ fs: localFs, path: `file://${root}/`, name: 'mine' });
    expect(store.path).toBe(root);
    expect(store.flavor).toBe('custom');
    expect(store.toJSON()).toEqual({ name: 'mine', flavor: 'custom', path: root, config: {} });
    await writeAll(store, 'f.txt', 'via fs');
    expect(await readFile(path.join(root, 'f.txt'), 'utf8')).toBe('via fs');
    expect(store.contains('../x')).toBe(false);
    expect((await rejection(store.open('../x', 'w'))).code).toBe('ERR_PATH_OUTSIDE_ROOT');
  });
});

describe('local stores and symlinks', () => {
  it('a symlink inside the store that leads out of it is refused; one that stays inside works', async () => {
    const base = await nodeFsPromises.mkdtemp(join(tmpdir(), 'avfs-symlink-'));
    try {
      const root = join(base, 'store');
      const outside = join(base, 'outside');
      await nodeFsPromises.mkdir(outside);
      await nodeFsPromises.writeFile(join(outside, 'secret.txt'), 'do not read');
      const store = await createStore({ flavor: 'local', path: root });
      await nodeFsPromises.symlink(outside, join(root, 'escape'));
      await nodeFsPromises.mkdir(join(root, 'real'));
      await nodeFsPromises.symlink(join(root, 'real'), join(root, 'alias'));

      for (const attempt of [
        () => store.open('escape/secret.txt'),
        () => store.open('escape/new.txt', 'w'),
        () => store.listdir('escape'),
        () => store.remove('escape/secret.txt'),
        () => store.copyfile('escape/secret.txt', 'stolen.txt'),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: 'ERR_PATH_OUTSIDE_ROOT' });
      }
      expect(await nodeFsPromises.readFile(join(outside, 'secret.txt'), 'utf8')).toBe('do not read');
      expect((await nodeFsPromises.readdir(outside)).sort()).toEqual(['secret.txt']);

      const f = await store.open('alias/inside.txt', 'w');
      await f.write('ok');
      await f.close();
      expect(await nodeFsPromises.readFile(join(root, 'real', 'inside.txt'), 'utf8')).toBe('ok');
    } finally {
      await nodeFsPromises.rm(base, { recursive: true, force: true });
    }
  });
});
