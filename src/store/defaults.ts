/**
 * The default registry, and the default local store at
 * `<config dir>/artifact-vfs/local_stores/<uuid>` (the XDG config dir via env-paths), created on
 * first use. `ARTIFACT_VFS_CONFIG_DIR` moves the config dir; `ARTIFACT_VFS_LOCAL_STORE` points the
 * default store at a directory of your choice.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createStore, type ArtifactStore, type StoreOptions } from './artifact-store.js';
import type { Flavor } from './flavor.js';
import { FlavorRegistry } from './registry.js';
import { configDir, readConfig, updateConfig, writeConfig, type ConfigFile } from './config-file.js';

/**
 * The process-wide flavor registry. The built-in flavors are registered by the composition root
 * (src/builtins.ts), which every public entry point imports; this layer knows no flavor by name.
 */
export const defaultRegistry = new FlavorRegistry();

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

export { configDir, type ConfigFile } from './config-file.js';

/** The config file, validated (ERR_INVALID_CONFIG naming the file and the field if unusable). */
export function readConfigFile(): Promise<ConfigFile> {
  return readConfig(defaultRegistry);
}

/** Writes the config atomically (temp file, then rename), mode 0600 in a 0700 directory. */
export function writeConfigFile(config: ConfigFile): Promise<void> {
  return writeConfig(config, defaultRegistry);
}

/**
 * Read-modify-write of the config file under its lock (`config.json.lock`), so two processes
 * changing it at once (two CLI commands) cannot lose each other's update. `change` edits the
 * config it is given and returns a result; if it throws, or the file is invalid, nothing is
 * written. Stale locks are broken and a live one is waited for (src/store/config-lock.ts).
 */
export function updateConfigFile<T>(change: (config: ConfigFile) => T | Promise<T>): Promise<T> {
  return updateConfig(change, defaultRegistry);
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
