/**
 * Built-in flavors, the default registry, and the default local store at
 * `<config dir>/artifact-vfs/local_stores/<uuid>` (the XDG config dir via env-paths), created on
 * first use. `ARTIFACT_VFS_CONFIG_DIR` moves the config dir; `ARTIFACT_VFS_LOCAL_STORE` points the
 * default store at a directory of your choice.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, chmod, unlink, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
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
import { fsError } from '../core/errors.js';

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

/** A lock older than this is taken to be left over by a process that died holding it. */
const STALE_LOCK_MS = 30_000;
/** How long a writer waits for the lock before giving up with EBUSY. */
const LOCK_WAIT_MS = 15_000;

/** Whether the process that wrote a lock file (on this host) is gone. */
function lockOwnerGone(content: string): boolean {
  const [pid, host] = content.split(' ');
  if (host !== hostname() || !Number.isSafeInteger(Number(pid))) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}

/**
 * Read-modify-write of the config file under a lock (`config.json.lock`, created exclusively), so
 * two processes changing it at once (two CLI commands) cannot lose each other's update. `change`
 * edits the config it is given and returns a result; if it throws, nothing is written. A lock
 * left by a dead process (same host, pid gone) or older than 30 s is broken; a live holder is
 * waited for up to 15 s (then EBUSY).
 */
export async function updateConfigFile<T>(change: (config: ConfigFile) => T | Promise<T>): Promise<T> {
  const dir = configDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = join(dir, 'config.json.lock');
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(lock, `${process.pid} ${hostname()} ${new Date().toISOString()}`, {
        flag: 'wx',
        mode: 0o600,
      });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      const [content, info] = await Promise.all([
        readFile(lock, 'utf8').catch(() => ''),
        stat(lock).catch(() => undefined),
      ]);
      if (info && (Date.now() - info.mtimeMs > STALE_LOCK_MS || lockOwnerGone(content))) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() - started > LOCK_WAIT_MS) {
        throw fsError('EBUSY', {
          path: lock,
          detail: `another process is changing the artifact-vfs config (${content.trim() || 'lock held'})`,
        });
      }
      await new Promise((r) => setTimeout(r, Math.min(100, 2 + attempt * 5) * (0.5 + Math.random())));
    }
  }
  try {
    const config = await readConfigFile();
    const result = await change(config);
    await writeConfigFile(config);
    return result;
  } finally {
    await unlink(lock).catch(() => undefined);
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
      const known = (await readConfigFile()).defaultLocalStore;
      if (known) return known;
      // First use: under the lock, so two processes starting at once agree on one store.
      return updateConfigFile((config) => (config.defaultLocalStore ??= randomUUID()));
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
