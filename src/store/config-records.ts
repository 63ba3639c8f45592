/**
 * The checks of the config file's records: `stores` (each `{flavor, path, config}`), `activeStore`
 * and `flavors` (remembered custom flavors). Each problem names its key path (`stores.s3s.flavor`)
 * and never shows a config value (it may be a secret), only its type.
 */
import { isAbsolute } from 'node:path';
import { canonicalScheme, looksLikeUri, parseLocation } from '../core/uri.js';
import { fieldPath } from './config-json.js';
import { validateConfig, type ConfigField, type ConfigSchema, type Flavor } from './flavor.js';

/** One reason the config cannot be used: where (a key path, '' for the file), what, and the fix. */
export interface Problem {
  field: string;
  what: string;
  fix?: string;
}

/** Where built-in flavors are looked up (the default registry). */
export interface FlavorLookup {
  has(name: string): boolean;
  get(name: string): Flavor;
}

export const STORE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const FLAVOR_NAME_RE = /^[a-z][a-z0-9_-]{0,63}$/;
const ENV_REF_RE = /\{\{\s*env\.[A-Za-z_][A-Za-z0-9_]*\s*\}\}/;
const FIELD_TYPES = new Set(['string', 'number', 'boolean', 'json']);
const STORE_KEYS = ['flavor', 'path', 'config'];
const FLAVOR_KEYS = ['module', 'export', 'schemes', 'description', 'config', 'packages'];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `a string`, `an array`, `null`: what a value is, never what it holds. */
export function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'undefined' ? 'nothing' : `a ${typeof v}`;
}

/** A short, safe rendering of a name-like value (flavor names, paths; never config values). */
function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v) : kind(v);
}

interface FlavorInfo {
  name: string;
  schemes: readonly string[];
  config: ConfigSchema;
}

export function checkRecords(config: Record<string, unknown>, lookup: FlavorLookup): Problem[] {
  const problems: Problem[] = [];
  const custom = checkFlavors(config.flavors, problems);
  const flavorOf = (name: string): FlavorInfo | undefined =>
    lookup.has(name) ? lookup.get(name) : custom.get(name);

  const stores = config.stores;
  if (stores !== undefined && !isObject(stores)) {
    problems.push({
      field: 'stores',
      what: `must be an object of store records ({"NAME": {"flavor": …, "path": …, "config": {…}}}), got ${kind(stores)}`,
    });
  } else if (stores) {
    for (const [name, record] of Object.entries(stores)) checkStore(name, record, flavorOf, problems);
  }

  const active = config.activeStore;
  if (active !== undefined) {
    if (typeof active !== 'string') {
      problems.push({ field: 'activeStore', what: `must be a store name, got ${kind(active)}` });
    } else if (active !== 'default' && isObject(stores) && !Object.hasOwn(stores, active)) {
      // Falling back to `default` silently would send STORE-less commands to another store.
      problems.push({
        field: 'activeStore',
        what: `names no registered store: ${shown(active)} (registered: ${['default', ...Object.keys(stores)].join(', ')})`,
        fix: 'set it to a registered store, or remove it to use `default`; `avfs artifact-store list` works again once the file is valid',
      });
    } else if (active !== 'default' && stores === undefined) {
      problems.push({ field: 'activeStore', what: `names ${shown(active)}, but no store is registered` });
    }
  }
  return problems;
}

function checkStore(
  name: string,
  record: unknown,
  flavorOf: (name: string) => FlavorInfo | undefined,
  problems: Problem[],
): void {
  const field = fieldPath('stores', name);
  if (name === 'default')
    problems.push({ field, what: "'default' is the built-in store's name; give this store another" });
  else if (!STORE_NAME_RE.test(name))
    problems.push({
      field,
      what: "is not a valid store name (letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64)",
    });
  if (!isObject(record)) {
    problems.push({
      field,
      what: `must be a store record ({"flavor": …, "path": …, "config": {…}}), got ${kind(record)}`,
    });
    return;
  }
  for (const key of Object.keys(record))
    if (!STORE_KEYS.includes(key))
      problems.push({
        field: fieldPath(field, key),
        what: 'unknown field (a store record has flavor, path and config)',
      });

  const { flavor, path, config } = record;
  let info: FlavorInfo | undefined;
  if (typeof flavor !== 'string' || !FLAVOR_NAME_RE.test(flavor))
    problems.push({
      field: `${field}.flavor`,
      what: `must be a flavor name (lower-case letters, digits, '-' and '_'; \`avfs artifact-store flavor list\`), got ${shown(flavor)}`,
    });
  // A well-formed name no flavor here answers to (a flavor registered in code) is checked on open.
  else info = flavorOf(flavor);

  checkPath(`${field}.path`, path, info, problems);

  if (!isObject(config)) {
    problems.push({
      field: `${field}.config`,
      what: `must be an object of config fields ({} for none), got ${kind(config)}`,
    });
  } else if (info) {
    checkConfigValues(`${field}.config`, info, config, problems);
  }
}

function checkPath(field: string, path: unknown, info: FlavorInfo | undefined, problems: Problem[]): void {
  if (typeof path !== 'string' || path === '') {
    problems.push({
      field,
      what: `must be the store's root (a URI or an absolute local path), got ${shown(path)}`,
    });
    return;
  }
  if (!looksLikeUri(path) && !isAbsolute(path)) {
    problems.push({ field, what: `must be a URI or an absolute local path, got ${shown(path)}` });
    return;
  }
  try {
    const root = parseLocation(path);
    if (info && !info.schemes.map(canonicalScheme).includes(root.scheme))
      problems.push({
        field,
        what: `${shown(path)} is not a path the '${info.name}' flavor serves (${info.schemes.map((s) => `${s}://`).join(', ')})`,
      });
    else if (root.scheme !== 'file' && root.segments.length === 0)
      problems.push({ field, what: `${shown(path)} needs a bucket or container` });
  } catch (err) {
    problems.push({ field, what: `${shown(path)} is not a usable path: ${(err as Error).message}` });
  }
}

/**
 * The values of a known flavor's config, checked as opening the store would check them: an env
 * reference stands for a value of the field's type (it is resolved only when the store is opened).
 */
function checkConfigValues(
  field: string,
  flavor: FlavorInfo,
  config: Record<string, unknown>,
  problems: Problem[],
): void {
  for (const [key, value] of Object.entries(config)) {
    const spec = flavor.config[key];
    const at = fieldPath(field, key);
    if (!spec) {
      const known = Object.keys(flavor.config);
      problems.push({
        field: at,
        what: `unknown config field for the flavor '${flavor.name}' (${known.length ? `known: ${known.join(', ')}` : 'it takes only a path'})`,
      });
      continue;
    }
    if (typeof value === 'string' && ENV_REF_RE.test(value)) continue;
    // One field at a time, so the problem names it (validateConfig stops at the first).
    const one: Flavor = {
      name: flavor.name,
      type: 'artifact_store',
      schemes: flavor.schemes,
      description: '',
      config: { [key]: { ...spec, required: false, default: undefined } },
      create: () => Promise.reject(new Error('not opened while checking')),
    };
    try {
      validateConfig(one, { [key]: value }, { coerce: true });
    } catch (err) {
      problems.push({ field: at, what: (err as Error).message.replace(/^EINVAL: /, '') });
    }
  }
  for (const [key, spec] of Object.entries(flavor.config))
    if (spec.required && spec.default === undefined && config[key] === undefined)
      problems.push({
        field: fieldPath(field, key),
        what: `is required by the flavor '${flavor.name}' (${spec.description})`,
      });
}

/** The remembered custom flavors that are well-formed (their schemas check the stores' configs). */
function checkFlavors(flavors: unknown, problems: Problem[]): Map<string, FlavorInfo> {
  const out = new Map<string, FlavorInfo>();
  if (flavors === undefined) return out;
  if (!isObject(flavors)) {
    problems.push({
      field: 'flavors',
      what: `must be an object of custom flavor records, got ${kind(flavors)}`,
    });
    return out;
  }
  for (const [name, record] of Object.entries(flavors)) {
    const field = fieldPath('flavors', name);
    const before = problems.length;
    if (!FLAVOR_NAME_RE.test(name))
      problems.push({ field, what: "is not a valid flavor name (lower-case letters, digits, '-' and '_')" });
    if (!isObject(record)) {
      problems.push({
        field,
        what: `must be a custom flavor record ({"module": …, "export": …, …}), got ${kind(record)}`,
      });
      continue;
    }
    for (const key of Object.keys(record))
      if (!FLAVOR_KEYS.includes(key))
        problems.push({
          field: fieldPath(field, key),
          what: `unknown field (a custom flavor has ${FLAVOR_KEYS.join(', ')})`,
        });
    const { module, export: exportName, schemes, description, config, packages } = record;
    if (typeof module !== 'string' || !isAbsolute(module))
      problems.push({
        field: `${field}.module`,
        what: `must be the module file's absolute path, got ${shown(module)}`,
      });
    if (typeof exportName !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(exportName))
      problems.push({
        field: `${field}.export`,
        what: `must be the name of an export, got ${shown(exportName)}`,
      });
    if (
      !Array.isArray(schemes) ||
      !schemes.length ||
      !schemes.every((s) => typeof s === 'string' && /^[a-z][a-z0-9+.-]*$/.test(s))
    )
      problems.push({
        field: `${field}.schemes`,
        what: 'must be a non-empty array of scheme names (e.g. ["file"])',
      });
    if (typeof description !== 'string')
      problems.push({ field: `${field}.description`, what: `must be a string, got ${kind(description)}` });
    if (packages !== undefined && (!Array.isArray(packages) || !packages.every((p) => typeof p === 'string')))
      problems.push({ field: `${field}.packages`, what: 'must be an array of package names' });
    if (!isObject(config)) {
      problems.push({
        field: `${field}.config`,
        what: `must be an object of config field definitions, got ${kind(config)}`,
      });
    } else {
      for (const [key, def] of Object.entries(config))
        checkFieldDefinition(fieldPath(`${field}.config`, key), def, problems);
    }
    if (problems.length === before)
      out.set(name, { name, schemes: schemes as string[], config: config as ConfigSchema });
  }
  return out;
}

function checkFieldDefinition(field: string, def: unknown, problems: Problem[]): void {
  const d = def as Partial<ConfigField> | null;
  if (!isObject(d) || !FIELD_TYPES.has(d.type as string) || typeof d.description !== 'string')
    problems.push({
      field,
      what: 'must be a field definition with a type (string, number, boolean, json) and a description',
    });
  else if (
    (d.required !== undefined && typeof d.required !== 'boolean') ||
    (d.secret !== undefined && typeof d.secret !== 'boolean')
  )
    problems.push({ field, what: '`required` and `secret` must be true or false' });
}
