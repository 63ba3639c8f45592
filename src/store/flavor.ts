/**
 * Flavors: data plus a lazy factory. A flavor names its schemes and its config fields (which are
 * required, which are secret); `create` imports the flavor's SDK only when a store is made.
 */
import { inspect } from 'node:util';
import { fsError } from '../core/errors.js';
import { REDACTED, registerSecret } from '../core/secrets.js';
import { createFsAdapter } from '../backend/create-fs-adapter.js';
import type { Backend } from '../backend/types.js';
import { parseLocation } from '../core/uri.js';
import type { FsAdapter } from '../fs/types.js';

export type ConfigFieldType = 'string' | 'number' | 'boolean' | 'json';

export interface ConfigField {
  type: ConfigFieldType;
  description: string;
  required?: boolean;
  /** Never shown: redacted in toJSON, util.inspect, CLI output and every error message. */
  secret?: boolean;
  default?: unknown;
  /**
   * The value is an endpoint URL: checked when the config is validated (an `http:` or `https:` URL
   * without user-info), so a typo fails at register time naming the field, not at the first
   * request as an SDK TypeError. `'bare-host'`: a host without a scheme is accepted too.
   */
  url?: true | 'bare-host';
}

export type ConfigSchema = Record<string, ConfigField>;

/** What a flavor hands back: an adapter and the adapter path the store's root maps to. */
export interface FlavorInstance {
  adapter: FsAdapter;
  /** Adapter-internal path of the store root (default `/`). */
  root?: string;
  /** Creates the root if it is missing (local dirs, memory); object stores need nothing. */
  ensureRoot?: boolean;
  /** Writes commit atomically (object stores). Otherwise the facade writes a temp file and renames. */
  atomicWrites?: boolean;
  close?(): Promise<void>;
}

export interface Flavor<C extends Record<string, unknown> = Record<string, unknown>> {
  readonly name: string;
  readonly type: 'artifact_store';
  /** Canonical schemes first, e.g. `['s3', 's3a']`; `file` also accepts plain paths. */
  readonly schemes: readonly string[];
  readonly description: string;
  /** Config fields besides `path` (which every flavor has). */
  readonly config: ConfigSchema;
  /** npm packages the flavor imports lazily (shown in install hints and `flavor describe`). */
  readonly packages?: readonly string[];
  create(config: C & { path: string }): Promise<FlavorInstance>;
}

/** An object-store path `scheme://bucket/prefix`: the bucket (or container) and the root under it. */
export function bucketAndRoot(path: string): { bucket: string; root: string } {
  const [bucket, ...prefix] = parseLocation(path).segments;
  return { bucket: bucket!, root: '/' + prefix.join('/') };
}

/**
 * A flavor instance over an object-store Backend: the derived fs rooted at `root`. Writes commit
 * atomically (nothing is visible before the upload commits), so the facade needs no temp files.
 */
export function backendInstance(backend: Backend, root: string): FlavorInstance {
  return {
    // The store's root prefix exists from the start, as a local store's root directory does.
    adapter: createFsAdapter(backend, { root }),
    root,
    atomicWrites: true,
    close: async () => backend.close?.(),
  };
}

/**
 * The read-tuning fields every object-store flavor offers (their backends share the ordered range
 * reader): range size, ranges in flight, and the single-stream rate below which reads go parallel.
 */
export function readConfigFields(defaultPartMiB: number): ConfigSchema {
  return {
    readPartSize: {
      type: 'number',
      description: `Range size for parallel downloads (default ${defaultPartMiB} MiB)`,
    },
    readConcurrency: { type: 'number', description: 'Ranges downloaded at once (default 4)' },
    readParallelBelow: {
      type: 'number',
      description:
        'Reads start as one stream; below this rate (bytes/s, default 256 MiB/s) they go parallel (0: always)',
    },
  };
}

export function defineFlavor<C extends Record<string, unknown>>(flavor: Flavor<C>): Flavor<C> {
  return flavor;
}

/**
 * Checks a config against a flavor's schema: unknown keys, missing required fields and wrong
 * types are EINVAL errors that name the field (never its value). With `coerce`, strings from a
 * command line become numbers, booleans and JSON. Secret values are registered for scrubbing.
 */
export function validateConfig(
  flavor: Flavor,
  input: Record<string, unknown>,
  options: { coerce?: boolean } = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === 'path' || key === 'flavor' || key === 'name') continue;
    const field = flavor.config[key];
    if (!field) {
      const known = Object.keys(flavor.config);
      throw fsError('EINVAL', {
        message: `EINVAL: unknown config field '${key}' for flavor '${flavor.name}'${known.length ? ` (known: ${known.join(', ')})` : ' (it takes only a path)'}`,
      });
    }
    if (field.secret) registerSecret(value);
    out[key] = coerceField(flavor.name, key, field, value, options.coerce ?? false);
  }
  for (const [key, field] of Object.entries(flavor.config)) {
    if (out[key] === undefined && field.default !== undefined) out[key] = field.default;
    if (field.required && out[key] === undefined) {
      throw fsError('EINVAL', {
        message: `EINVAL: flavor '${flavor.name}' needs the config field '${key}' (${field.description})`,
      });
    }
  }
  return out;
}

function coerceField(
  flavor: string,
  key: string,
  field: ConfigField,
  value: unknown,
  coerce: boolean,
): unknown {
  if (value === undefined) return undefined;
  const bad = (): Error =>
    fsError('EINVAL', {
      message: `EINVAL: config field '${key}' of flavor '${flavor}' must be ${field.type === 'json' ? 'JSON' : `a ${field.type}`}${field.secret ? '' : `, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`}`,
    });
  switch (field.type) {
    case 'string':
      if (typeof value !== 'string') throw bad();
      if (field.url) checkUrl(flavor, key, value, field.url === 'bare-host');
      return value;
    case 'number': {
      const n = typeof value === 'string' && coerce ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw bad();
      return n;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (coerce && typeof value === 'string' && /^(true|false|1|0|yes|no)$/i.test(value))
        return /^(true|1|yes)$/i.test(value);
      throw bad();
    }
    case 'json':
      if (typeof value === 'string' && coerce) {
        try {
          return JSON.parse(value) as unknown;
        } catch {
          throw bad();
        }
      }
      return value;
  }
}

/**
 * What stores.ts validates in place of a `{{env.NAME}}` reference when a config is saved: the real
 * value is known only when the store is opened (and checked then).
 */
const ENV_REFERENCE_PLACEHOLDER = 'env-reference';

/** An endpoint URL field must be an http(s) URL without user-info; the error names the field. */
function checkUrl(flavor: string, key: string, value: string, bareHost: boolean): void {
  if (value === ENV_REFERENCE_PLACEHOLDER) return;
  const text = bareHost && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `https://${value}` : value;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // The value is shown (it is not a secret field) without anything before an '@': a mistyped
  // `http://user:password@host` must not print the password.
  const shown = JSON.stringify(value.replace(/^([^/]*\/\/)?[^@/]*@/, `$1${REDACTED}@`));
  const fail = (why: string): Error =>
    fsError('EINVAL', {
      message: `EINVAL: config field '${key}' of flavor '${flavor}' must be ${why}, got ${shown}`,
    });
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname)
    throw fail(`an http:// or https:// URL${bareHost ? ' (or a host name)' : ''}`);
  if (url.username || url.password)
    throw fail('a URL without user:password@ (give credentials in their own fields)');
}

/** A copy of a config with every secret field masked. */
export function redactConfig(
  flavor: Flavor | undefined,
  config: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config))
    out[k] = flavor?.config[k]?.secret && v !== undefined ? REDACTED : v;
  return out;
}

/**
 * The last releases of the cloud SDKs that run on Node 20 (later ones need Node 22): the install
 * hint names them there, so that following it gives a working install.
 */
const NODE20_RELEASES: Record<string, string> = {
  '@azure/storage-blob': '12.32.0',
  '@google-cloud/storage': '7',
  '@aws-sdk/client-s3': '3.1169.0',
};

/** The `npm install` argument for `pkg` on this Node. */
export function installSpec(pkg: string, nodeMajor = Number(process.versions.node.split('.')[0])): string {
  const pin = nodeMajor < 22 ? NODE20_RELEASES[pkg] : undefined;
  return pin ? `${pkg}@${pin}` : pkg;
}

/** Imports an optional SDK, or throws a clear error with the install command. */
export async function importOptional<T>(pkg: string, flavor: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // Node quotes the package it could not find; an unquoted mention is the importer of a missing
    // dependency (`Cannot find package 'dep' imported from …/node_modules/pkg/…`), which is not ours.
    const message = String((err as Error).message);
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      (message.includes(`'${pkg}'`) || message.includes(`'${pkg}/`))
    ) {
      throw fsError('ERR_MISSING_DEPENDENCY', {
        message: `The '${flavor}' flavor needs the package '${pkg}', which is not installed. Install it with: npm install ${installSpec(pkg)}`,
        cause: err,
      });
    }
    throw err;
  }
}

export const inspectSymbol = inspect.custom;
