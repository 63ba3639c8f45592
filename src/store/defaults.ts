/**
 * Built-in flavors, the default registry, and the default local store at
 * `<config dir>/artifact-vfs/local_stores/<uuid>` (the XDG config dir via env-paths), created on
 * first use. `ARTIFACT_VFS_CONFIG_DIR` moves the config dir; `ARTIFACT_VFS_LOCAL_STORE` points the
 * default store at a directory of your choice.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { localFlavor } from '../../adapters/local/index.js';
import { memoryFlavor } from '../../adapters/memory/index.js';
import { s3Flavor } from '../../adapters/s3/index.js';
import { gcsFlavor } from '../../adapters/gcs/index.js';
import { azureFlavor } from '../../adapters/azure/index.js';
import { createStore, type ArtifactStore, type StoreOptions } from './artifact-store.js';
import type { Flavor } from './flavor.js';
import { FlavorRegistry } from './registry.js';

export const defaultRegistry = new FlavorRegistry();
defaultRegistry.register(localFlavor as unknown as Flavor);
defaultRegistry.register(memoryFlavor as unknown as Flavor);
// Cloud flavors load their SDK (an optional peer dependency) only when a store is created.
defaultRegistry.register(s3Flavor as unknown as Flavor);
defaultRegistry.register(gcsFlavor as unknown as Flavor);
defaultRegistry.register(azureFlavor as unknown as Flavor);

export function registerFlavor(flavor: Flavor, options?: { replace?: boolean }): void {
  defaultRegistry.register(flavor, options);
}
export function getFlavor(name: string): Flavor {
  return defaultRegistry.get(name);
}
export function listFlavors(): Flavor[] {
  return defaultRegistry.list();
}

/** `createStore({ flavor, path, ...config })` with the default registry (or the one given). */
export function openStore(
  options: StoreOptions,
  registry: FlavorRegistry = defaultRegistry,
): Promise<ArtifactStore> {
  return createStore(options, registry);
}

/** The config directory: `$ARTIFACT_VFS_CONFIG_DIR`, else the platform's (XDG) config dir. */
export function configDir(): string {
  return process.env.ARTIFACT_VFS_CONFIG_DIR || envPaths('artifact-vfs', { suffix: '' }).config;
}

export interface ConfigFile {
  version: 1;
  /** UUID of the default local store under `local_stores/`. */
  defaultLocalStore?: string;
  [key: string]: unknown;
}

export async function readConfigFile(): Promise<ConfigFile> {
  try {
    return JSON.parse(await readFile(join(configDir(), 'config.json'), 'utf8')) as ConfigFile;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { version: 1 };
    throw err;
  }
}

/** Writes the config atomically (temp file, then rename), mode 0600 in a 0700 directory. */
export async function writeConfigFile(config: ConfigFile): Promise<void> {
  const dir = configDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700).catch(() => undefined);
  const file = join(dir, 'config.json');
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** First-use lookups in flight, per config dir: concurrent first calls must agree on one UUID. */
const pendingRecords = new Map<string, Promise<string>>();

/** The default local store's directory, creating its record (not the directory) on first use. */
export async function defaultLocalStorePath(): Promise<string> {
  if (process.env.ARTIFACT_VFS_LOCAL_STORE) return process.env.ARTIFACT_VFS_LOCAL_STORE;
  const dir = configDir();
  let record = pendingRecords.get(dir);
  if (!record) {
    record = (async () => {
      const config = await readConfigFile();
      if (!config.defaultLocalStore) {
        config.defaultLocalStore = randomUUID();
        await writeConfigFile(config);
      }
      return config.defaultLocalStore;
    })().finally(() => pendingRecords.delete(dir));
    pendingRecords.set(dir, record);
  }
  return join(dir, 'local_stores', await record);
}

/** The default store: local, under the config dir, created on first use. */
export async function getDefaultStore(): Promise<ArtifactStore> {
  return createStore(
    { flavor: 'local', path: await defaultLocalStorePath(), name: 'default' },
    defaultRegistry,
  );
}
