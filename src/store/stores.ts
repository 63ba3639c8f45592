/**
 * Named artifact stores, persisted in the config file: ZenML's `artifact-store register / list /
 * describe / update / delete / set` and `flavor register`, as a library (the `avfs` CLI is a thin
 * layer over this module).
 *
 * Behaviour:
 * - The default local store (`default`) always exists; it cannot be updated or deleted.
 * - Registering checks the flavor, the path's scheme and the config (unknown fields, missing
 *   required ones, wrong types) before anything is written; a failed call writes nothing.
 * - Every call reads the whole config file checked (src/store/config-file.ts): a file that is not
 *   valid is refused with ERR_INVALID_CONFIG, and never written over.
 * - A config value may be, or contain, a reference to an environment variable (`{{env.NAME}}`).
 *   References are stored literally and resolved only when a store is opened; a missing variable
 *   is an error naming the variable, never a value.
 * - Secret values (stored or resolved) are registered for scrubbing as soon as they are read, so no
 *   error message or log line shows them; `describeStore` masks them.
 * - Custom flavors (`<module>#<export>`) are validated, remembered with their schema, and imported
 *   only when a store of that flavor is opened.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fsError } from '../core/errors.js';
import { REDACTED, registerSecret } from '../core/secrets.js';
import { canonicalScheme, formatLocation, parseLocation } from '../core/uri.js';
import { createStore, type ArtifactStore } from './artifact-store.js';
import {
  defaultLocalStorePath,
  defaultRegistry,
  getDefaultStore,
  readConfigFile,
  updateConfigFile,
  type ConfigFile,
} from './defaults.js';
import { STORE_NAME_RE } from './config-records.js';
import { validateConfig, type ConfigField, type ConfigSchema, type Flavor } from './flavor.js';
import { FlavorRegistry } from './registry.js';

/** The name of the default local store. */
export const DEFAULT_STORE = 'default';

/** A registered store as it is saved: config values may hold `{{env.NAME}}` references. */
export interface StoreRecord {
  flavor: string;
  /** The normalised root: a URI, or an absolute local path. */
  path: string;
  config: Record<string, unknown>;
}

export interface NamedStore extends StoreRecord {
  name: string;
  /** This is the active store (the one `STORE:`-less commands use). */
  active: boolean;
  /** The built-in default local store. */
  builtin: boolean;
}

/** A custom flavor as it is remembered: where to import it from, and its schema for listing. */
export interface CustomFlavorRecord {
  /** Absolute path of the module file. */
  module: string;
  /** The export that holds the flavor (`default` when none was named). */
  export: string;
  schemes: string[];
  description: string;
  config: ConfigSchema;
  packages?: string[];
}

/** The parts of the config file this module owns. */
export interface StoresConfigFile extends ConfigFile {
  stores?: Record<string, StoreRecord>;
  activeStore?: string;
  flavors?: Record<string, CustomFlavorRecord>;
}

export interface StoresOptions {
  /** Where flavors are looked up (default: the default registry). */
  registry?: FlavorRegistry;
}

const ENV_REF_RE = /\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The config, validated in full (ERR_INVALID_CONFIG naming the file and field; see config-file.ts). */
async function load(): Promise<StoresConfigFile> {
  return withSecrets((await readConfigFile()) as StoresConfigFile);
}

/** Every stored secret is masked in every message from the moment the file is read. */
function withSecrets(config: StoresConfigFile): StoresConfigFile {
  for (const record of Object.values(config.stores ?? {})) {
    const schema = knownSchema(record.flavor, config);
    for (const [key, value] of Object.entries(record.config ?? {}))
      if (schema?.[key]?.secret) registerSecretValue(value);
  }
  return config;
}

/**
 * Changes the config file under its lock (see updateConfigFile): `edit` gets the current config
 * and edits it in place; if it throws, nothing is written.
 */
function change<T>(edit: (config: StoresConfigFile) => T | Promise<T>): Promise<T> {
  return updateConfigFile((raw) => edit(withSecrets(raw as StoresConfigFile)));
}

function knownSchema(flavor: string, config: StoresConfigFile): ConfigSchema | undefined {
  if (defaultRegistry.has(flavor)) return defaultRegistry.get(flavor).config;
  return config.flavors?.[flavor]?.config;
}

function unknownStore(name: string, config: StoresConfigFile): Error {
  const names = [DEFAULT_STORE, ...Object.keys(config.stores ?? {}).sort()];
  return fsError('ERR_UNKNOWN_STORE', {
    message: `ERR_UNKNOWN_STORE: no artifact store named '${name}' (registered: ${names.join(', ')})`,
  });
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !STORE_NAME_RE.test(name)) {
    throw fsError('EINVAL', {
      message: `EINVAL: invalid store name '${String(name)}' (letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64)`,
    });
  }
}

/** A value that is nothing but env references (not a secret itself: it names where the secret is). */
export function isReferenceOnly(value: unknown): boolean {
  return (
    typeof value === 'string' &&
    envReferences(value).length > 0 &&
    value.replace(ENV_REF_RE, '').trim() === ''
  );
}

/** Registers a secret field's value for scrubbing, unless it only references the environment. */
function registerSecretValue(value: unknown): void {
  if (!isReferenceOnly(value)) registerSecret(value);
}

/** The text of an env reference (`{{env.NAME}}`) names, or [] when the value holds none. */
export function envReferences(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return [...value.matchAll(ENV_REF_RE)].map((m) => m[1]!);
}

/** Checks a store path against a flavor's schemes (no I/O) and returns it normalised. */
export function checkStorePath(flavor: Flavor, path: unknown): string {
  if (typeof path !== 'string' || path === '') {
    throw fsError('EINVAL', {
      message: `EINVAL: a '${flavor.name}' store needs a path (${flavor.schemes.map((s) => (s === 'file' ? 'a local path' : `${s}://…`)).join(', ')})`,
    });
  }
  const root = parseLocation(path, { syscall: 'register' });
  if (!flavor.schemes.map(canonicalScheme).includes(root.scheme)) {
    throw fsError('EINVAL', {
      message: `EINVAL: the '${flavor.name}' flavor does not support the path '${path}' (supported: ${flavor.schemes.map((s) => (s === 'file' ? 'plain paths, file://' : `${s}://`)).join(', ')})`,
    });
  }
  if (root.scheme !== 'file' && root.segments.length === 0)
    throw fsError('EINVAL', { message: `EINVAL: the path '${path}' needs a bucket or container` });
  return formatLocation(root, { trailingSlash: false });
}

/** A value of the field's type that stands in for an env reference while validating. */
function placeholder(field: ConfigField | undefined): string {
  switch (field?.type) {
    case 'number':
      return '0';
    case 'boolean':
      return 'true';
    case 'json':
      return 'null';
    default:
      return 'env-reference';
  }
}

/**
 * Validates (and coerces, for values from a command line) a config for saving: values holding env
 * references stay literal, and count as present for required fields.
 */
function validateForSave(flavor: Flavor, input: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(input))
    if (flavor.config[key]?.secret) registerSecretValue(value);
  const probe: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input))
    probe[key] = envReferences(value).length ? placeholder(flavor.config[key]) : value;
  const checked = validateConfig(flavor, probe, { coerce: true });
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined) continue;
    out[key] = envReferences(value).length ? value : checked[key];
  }
  return out;
}

/** Replaces `{{env.NAME}}` references with the variables' values; a missing one is an error. */
export function resolveEnvReferences(
  storeName: string,
  flavor: Flavor,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (!envReferences(value).length) {
      out[key] = value;
      continue;
    }
    const resolved = (value as string).replace(ENV_REF_RE, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        throw fsError('EINVAL', {
          message: `EINVAL: store '${storeName}': the config field '${key}' refers to the environment variable '${name}', which is not set`,
        });
      }
      return v;
    });
    if (flavor.config[key]?.secret) registerSecret(resolved);
    out[key] = resolved;
  }
  return out;
}

/** Every store, the default first, the active one flagged. */
export async function listStores(): Promise<NamedStore[]> {
  const config = await load();
  const defaultPath = await defaultLocalStorePath();
  const active = activeName(config);
  const out: NamedStore[] = [
    {
      name: DEFAULT_STORE,
      flavor: 'local',
      path: defaultPath,
      config: {},
      active: active === DEFAULT_STORE,
      builtin: true,
    },
  ];
  for (const name of Object.keys(config.stores ?? {}).sort()) {
    const r = config.stores![name]!;
    out.push({ name, ...r, config: { ...r.config }, active: active === name, builtin: false });
  }
  return out;
}

function activeName(config: StoresConfigFile): string {
  const a = config.activeStore;
  return a && config.stores?.[a] ? a : DEFAULT_STORE;
}

/** The active store's name (`default` unless `setActiveStore` chose another). */
export async function activeStoreName(): Promise<string> {
  return activeName(await load());
}

/** One store's record (the active one without a name). ERR_UNKNOWN_STORE for a name never registered. */
export async function getStoreRecord(name?: string): Promise<NamedStore> {
  const config = await load();
  const wanted = name ?? activeName(config);
  const active = activeName(config) === wanted;
  if (wanted === DEFAULT_STORE) {
    return {
      name: DEFAULT_STORE,
      flavor: 'local',
      path: await defaultLocalStorePath(),
      config: {},
      active,
      builtin: true,
    };
  }
  const r = config.stores?.[wanted];
  if (!r) throw unknownStore(wanted, config);
  return { name: wanted, ...r, config: { ...r.config }, active, builtin: false };
}

/** A store's record for display: secret values masked (env references are not secrets: shown). */
export async function describeStore(name?: string, options: StoresOptions = {}): Promise<NamedStore> {
  const record = await getStoreRecord(name);
  const config = await load();
  let schema = knownSchema(record.flavor, config);
  if (!schema && options.registry?.has(record.flavor)) schema = options.registry.get(record.flavor).config;
  const shown: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record.config)) {
    const refOnly = isReferenceOnly(v);
    // A field of a flavor we cannot see (uninstalled custom flavor) is masked to be safe.
    shown[k] = (schema === undefined || schema[k]?.secret) && !refOnly ? REDACTED : v;
  }
  return { ...record, config: shown };
}

/**
 * Registers a store: `{ flavor, path, ...config }`. Throws EEXIST for a taken name, and the
 * flavor's, path's or config's error before anything is written. Returns the saved record.
 */
export async function registerStore(
  name: string,
  options: { flavor: string; path: string; config?: Record<string, unknown> },
  storesOptions: StoresOptions = {},
): Promise<NamedStore> {
  checkName(name);
  return change((config) => {
    if (name === DEFAULT_STORE || config.stores?.[name])
      throw fsError('EEXIST', { message: `EEXIST: an artifact store named '${name}' already exists` });
    const flavor = flavorInfo(options.flavor, storesOptions.registry, config);
    const path = checkStorePath(flavor, options.path);
    const record: StoreRecord = {
      flavor: flavor.name,
      path,
      config: validateForSave(flavor, options.config ?? {}),
    };
    config.stores = { ...config.stores, [name]: record };
    return { name, ...record, active: activeName(config) === name, builtin: false };
  });
}

/** Changes a store's path or config fields (`set`), or removes fields (`unset`). */
export async function updateStore(
  name: string,
  changes: { path?: string; set?: Record<string, unknown>; unset?: string[] },
  storesOptions: StoresOptions = {},
): Promise<NamedStore> {
  if (name === DEFAULT_STORE)
    throw fsError('EPERM', { message: `EPERM: the default store cannot be changed (register another)` });
  return change((config) => {
    const current = config.stores?.[name];
    if (!current) throw unknownStore(name, config);
    const flavor = flavorInfo(current.flavor, storesOptions.registry, config);
    const merged: Record<string, unknown> = { ...current.config, ...changes.set };
    for (const key of changes.unset ?? []) {
      if (!(key in merged))
        throw fsError('EINVAL', { message: `EINVAL: store '${name}' has no config field '${key}' to unset` });
      delete merged[key];
    }
    const record: StoreRecord = {
      flavor: flavor.name,
      path: changes.path === undefined ? current.path : checkStorePath(flavor, changes.path),
      config: validateForSave(flavor, merged),
    };
    config.stores = { ...config.stores, [name]: record };
    return { name, ...record, active: activeName(config) === name, builtin: false };
  });
}

/** Forgets a store (its data stays where it is). The active store falls back to `default`. */
export async function deleteStore(name: string): Promise<void> {
  if (name === DEFAULT_STORE)
    throw fsError('EPERM', { message: `EPERM: the default store cannot be deleted` });
  await change((config) => {
    if (!config.stores?.[name]) throw unknownStore(name, config);
    const { [name]: _gone, ...rest } = config.stores;
    config.stores = rest;
    if (config.activeStore === name) delete config.activeStore;
  });
}

/** Makes a store the active one. */
export async function setActiveStore(name: string): Promise<void> {
  await change((config) => {
    if (name !== DEFAULT_STORE && !config.stores?.[name]) throw unknownStore(name, config);
    if (name === DEFAULT_STORE) delete config.activeStore;
    else config.activeStore = name;
  });
}

/**
 * Opens a registered store by name (the active one without a name): env references are resolved
 * now, custom flavors imported now. The caller closes it.
 */
export async function openNamedStore(name?: string, options: StoresOptions = {}): Promise<ArtifactStore> {
  const record = await getStoreRecord(name);
  if (record.builtin) return getDefaultStore();
  const registry = options.registry ?? defaultRegistry;
  const flavor = await loadFlavor(record.flavor, registry);
  const resolved = resolveEnvReferences(record.name, flavor, record.config);
  const config = validateConfig(flavor, resolved, { coerce: true });
  return createStore({ ...config, flavor: flavor.name, path: record.path, name: record.name }, registry);
}

/** Custom flavors remembered in the config file. */
export async function listCustomFlavors(): Promise<Array<CustomFlavorRecord & { name: string }>> {
  const config = await load();
  return Object.entries(config.flavors ?? {})
    .map(([name, r]) => ({ name, ...r }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * A flavor's description without importing it: the registry's flavor, or a remembered custom
 * flavor's schema (enough to validate a config; its `create` is never called).
 */
function flavorInfo(
  name: string,
  registry: FlavorRegistry = defaultRegistry,
  config: StoresConfigFile,
): Flavor {
  if (registry.has(name)) return registry.get(name);
  const record = config.flavors?.[name];
  if (!record) return registry.get(name); // ERR_UNKNOWN_FLAVOR, listing what there is
  return {
    name,
    type: 'artifact_store',
    schemes: record.schemes,
    description: record.description,
    config: record.config,
    create: () =>
      loadFlavor(name, registry).then(() => {
        throw fsError('ENOTSUP', {
          message: `ENOTSUP: open stores of the '${name}' flavor with openNamedStore`,
        });
      }),
  };
}

/** A flavor by name: from the registry, or a remembered custom flavor, imported and registered now. */
export async function loadFlavor(
  name: string,
  registry: FlavorRegistry = defaultRegistry,
  config?: StoresConfigFile,
): Promise<Flavor> {
  if (registry.has(name)) return registry.get(name);
  const record = (config ?? (await load())).flavors?.[name];
  if (!record) return registry.get(name); // ERR_UNKNOWN_FLAVOR, listing what there is
  const flavor = await importFlavor(record.module, record.export);
  if (flavor.name !== name) {
    throw fsError('EINVAL', {
      message: `EINVAL: the module '${record.module}' now exports a flavor named '${flavor.name}', not '${name}' (register it again)`,
    });
  }
  registry.register(flavor);
  return flavor;
}

/** Splits `<module>#<export>`; the export defaults to `default`. */
function parseFlavorSpec(spec: string): { module: string; exportName: string } {
  const hash = spec.lastIndexOf('#');
  const module = hash < 0 ? spec : spec.slice(0, hash);
  const exportName = hash < 0 ? 'default' : spec.slice(hash + 1);
  if (!module || !/^[A-Za-z_$][\w$]*$/.test(exportName)) {
    throw fsError('EINVAL', {
      message: `EINVAL: expected <module>#<export> (e.g. ./flavors/my-flavor.js#myFlavor), got '${spec}'`,
    });
  }
  return { module, exportName };
}

/** The module's file: a path (relative to `cwd`) or a package resolved from `cwd`. */
function resolveModule(module: string, cwd: string): string {
  const looksLikePath = module.startsWith('.') || isAbsolute(module) || module.startsWith('file:');
  if (looksLikePath) {
    const file = module.startsWith('file:') ? new URL(module).pathname : resolvePath(cwd, module);
    if (!existsSync(file)) throw fsError('ENOENT', { message: `ENOENT: no module file at '${file}'` });
    return file;
  }
  try {
    return createRequire(join(cwd, 'noop.js')).resolve(module);
  } catch {
    throw fsError('ENOENT', {
      message: `ENOENT: cannot find the module '${module}' from '${cwd}' (give a path such as ./${module}.js, or install the package)`,
    });
  }
}

async function importFlavor(file: string, exportName: string): Promise<Flavor> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw fsError('EINVAL', {
      message: `EINVAL: could not import the flavor module '${file}': ${(err as Error).message?.split('\n')[0] ?? String(err)}`,
      cause: err,
    });
  }
  if (!(exportName in mod)) {
    throw fsError('EINVAL', {
      message: `EINVAL: the module '${file}' has no export '${exportName}' (exports: ${Object.keys(mod).join(', ') || 'none'})`,
    });
  }
  return checkFlavorShape(mod[exportName], `${file}#${exportName}`);
}

const FIELD_TYPES = new Set(['string', 'number', 'boolean', 'json']);

/** A flavor object's shape, checked field by field, with one clear message for the first problem. */
function checkFlavorShape(value: unknown, where: string): Flavor {
  const bad = (what: string): Error =>
    fsError('EINVAL', { message: `EINVAL: '${where}' is not an artifact-store flavor: ${what}` });
  if (!value || typeof value !== 'object') throw bad(`it is ${value === null ? 'null' : typeof value}`);
  const f = value as Partial<Flavor>;
  if (typeof f.name !== 'string') throw bad('it has no string `name`');
  if (f.type !== 'artifact_store') throw bad("its `type` is not 'artifact_store'");
  if (!Array.isArray(f.schemes) || !f.schemes.length || !f.schemes.every((s) => typeof s === 'string'))
    throw bad('`schemes` must be a non-empty array of strings');
  if (typeof f.description !== 'string') throw bad('it has no string `description`');
  if (typeof f.create !== 'function') throw bad('it has no `create` function');
  if (!f.config || typeof f.config !== 'object') throw bad('it has no `config` object');
  for (const [key, field] of Object.entries(f.config)) {
    if (!field || !FIELD_TYPES.has(field.type) || typeof field.description !== 'string')
      throw bad(`config field '${key}' needs a type (string, number, boolean, json) and a description`);
  }
  return value as Flavor;
}

/**
 * Registers a custom flavor from `<module>#<export>` (ZenML's `flavor register`): imports and
 * validates it, checks its name and schemes, and remembers it. Registering the same name again
 * updates it; a built-in flavor's name is refused.
 */
export async function registerCustomFlavor(
  spec: string,
  options: StoresOptions & { cwd?: string } = {},
): Promise<CustomFlavorRecord & { name: string }> {
  const registry = options.registry ?? defaultRegistry;
  const { module, exportName } = parseFlavorSpec(spec);
  const file = resolveModule(module, options.cwd ?? process.cwd());
  const flavor = await importFlavor(file, exportName);
  // The registry checks the name and the schemes (a scheme taken by another flavor is refused).
  new FlavorRegistry().register(flavor);
  const record: CustomFlavorRecord = {
    module: file,
    export: exportName,
    schemes: [...flavor.schemes],
    description: flavor.description,
    config: JSON.parse(JSON.stringify(flavor.config)) as ConfigSchema,
    ...(flavor.packages ? { packages: [...flavor.packages] } : {}),
  };
  await change((config) => {
    const known = config.flavors?.[flavor.name];
    if (!known && registry.has(flavor.name)) {
      throw fsError('EEXIST', {
        message: `EEXIST: a flavor named '${flavor.name}' is already registered (built in); give yours another name`,
      });
    }
    config.flavors = { ...config.flavors, [flavor.name]: record };
  });
  if (!registry.has(flavor.name)) registry.register(flavor);
  return { name: flavor.name, ...record };
}

/** Forgets a custom flavor; refused while a store uses it. */
export async function deleteCustomFlavor(name: string): Promise<void> {
  await change((config) => {
    if (!config.flavors?.[name]) {
      throw fsError('ERR_UNKNOWN_FLAVOR', {
        message: defaultRegistry.has(name)
          ? `ERR_UNKNOWN_FLAVOR: '${name}' is a built-in flavor and cannot be deleted`
          : `ERR_UNKNOWN_FLAVOR: no custom flavor named '${name}'`,
      });
    }
    const users = Object.entries(config.stores ?? {})
      .filter(([, r]) => r.flavor === name)
      .map(([n]) => n);
    if (users.length)
      throw fsError('EBUSY', {
        message: `EBUSY: the flavor '${name}' is used by the store(s) ${users.join(', ')}; delete them first`,
      });
    const { [name]: _gone, ...rest } = config.flavors;
    config.flavors = rest;
  });
}

/** Reads the config file only to register every stored secret for scrubbing (no writes). */
export async function registerStoredSecrets(): Promise<void> {
  await load();
}
