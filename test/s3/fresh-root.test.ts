/**
 * A fresh object store is usable at its root (issue 13, item 8): a store at `s3://bucket/ml` with
 * nothing under `ml/` yet takes a write at its top level with no `makedirs('')`, says its root
 * exists and is an empty directory, and `avfs ls STORE:` lists nothing instead of ENOENT. The same
 * through the memory object backend, whose directory markers are the strictest model.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Flavor } from '../../adapters/s3/index.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import { createStore, type ArtifactStore } from '../../src/store/artifact-store.js';
import { backendInstance, defineFlavor } from '../../src/store/flavor.js';
import { FlavorRegistry } from '../../src/store/registry.js';
import { avfs, buildCli, BUILD_TIMEOUT_MS, sha256, tempDir } from '../cli/helpers.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import { s3FlavorOptions, type S3Server } from '../emulators/s3-server.js';

let server: S3Server;
beforeAll(async () => {
  server = await startFauxqs();
}, 60_000);
afterAll(async () => server?.stop());

const objectFlavor = defineFlavor({
  name: 'objtest',
  type: 'artifact_store',
  schemes: ['objtest'],
  description: 'the memory object backend, with directory markers',
  config: {},
  async create({ path: p }) {
    return backendInstance(new MemoryBackend(), '/' + String(p).split('/').slice(3).join('/'));
  },
});

const stores: Array<[string, () => Promise<ArtifactStore>]> = [
  [
    's3 (fauxqs)',
    async () => {
      const bucket = `fresh-${randomUUID().slice(0, 8)}`;
      await server.createBucket(bucket);
      const registry = new FlavorRegistry();
      registry.register(s3Flavor);
      return createStore(
        { flavor: 's3', path: `s3://${bucket}/ml/team`, ...s3FlavorOptions(server) },
        registry,
      );
    },
  ],
  [
    'object (memory backend)',
    async () => {
      const registry = new FlavorRegistry();
      registry.register(objectFlavor);
      return createStore({ flavor: 'objtest', path: 'objtest://bucket/ml/team' }, registry);
    },
  ],
];

describe.each(stores)('a fresh %s store at a prefix', (_name, open) => {
  it('exists, is an empty directory, and takes a top-level write with no makedirs', async () => {
    const store = await open();
    try {
      expect(await store.exists('')).toBe(true);
      expect(await store.isdir('')).toBe(true);
      expect((await store.stat('')).isDirectory()).toBe(true);
      expect(await store.listdir('')).toEqual([]);
      expect(await store.glob('**')).toEqual([]);
      const bytes = randomBytes(1000);
      const f = await store.open('model.bin', 'wb');
      await f.write(bytes);
      await f.close();
      expect(await store.listdir('')).toEqual(['model.bin']);
      const back = await store.open('model.bin', 'rb');
      const chunks: Buffer[] = [];
      for await (const c of back) chunks.push(c as Buffer);
      await back.close();
      expect(sha256(Buffer.concat(chunks))).toBe(sha256(bytes));
      await store.copyfile('model.bin', 'copy.bin');
      await store.rename('copy.bin', 'moved.bin');
      // Removing the last file leaves the root, with no marker needed.
      await store.remove('model.bin');
      await store.remove('moved.bin');
      expect(await store.exists('')).toBe(true);
      expect(await store.listdir('')).toEqual([]);
      // The root cannot be removed or renamed away, as a mount point cannot.
      await expect(store.fs.promises.rmdir(store.path)).rejects.toMatchObject({ code: 'EBUSY' });
      // A deeper parent is still required, as node:fs requires it.
      await expect(store.open('a/b/c.bin', 'wb')).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await store.close();
    }
  });
});

describe('avfs on a fresh s3 store', () => {
  let tmp: string;
  let cfg: string;
  const env = () => ({ AVFS_TEST_AK: server.accessKeyId, AVFS_TEST_SK: server.secretAccessKey });
  beforeAll(async () => {
    await buildCli();
    tmp = await tempDir('fresh');
    cfg = path.join(tmp, 'cfg');
    await server.createBucket('fresh-cli');
    const r = await avfs(
      cfg,
      [
        'store',
        'register',
        's3s',
        '--flavor=s3',
        '--path=s3://fresh-cli/ml',
        `--endpoint=${server.endpoint}`,
        `--region=${server.region}`,
        '--forcePathStyle=true',
        '--trustedEndpoint=true',
        '--conditionalWrites=false',
        '--checksum=metadata',
        '--access_key_id={{env.AVFS_TEST_AK}}',
        '--secret_access_key={{env.AVFS_TEST_SK}}',
      ],
      { env: env() },
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => rm(tmp, { recursive: true, force: true }));

  it('ls of the store lists nothing, then what was copied in', async () => {
    let r = await avfs(cfg, ['ls', 's3s:'], { env: env() });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    r = await avfs(cfg, ['--json', 'ls', 's3s:'], { env: env() });
    expect(JSON.parse(r.stdout)).toEqual([]);
    r = await avfs(cfg, ['cp', path.join(cfg, 'config.json'), 's3s:config-copy.json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    r = await avfs(cfg, ['ls', 's3s:'], { env: env() });
    expect(r.stdout).toBe('config-copy.json\n');
  });
});
