/**
 * The ArtifactStore facade: ZenML's operations bound to one store root. Every path, relative or
 * absolute, is checked to lie inside the root, by segments and after decoding, before any I/O.
 */
import { inspect } from 'node:util';
import { isAbsolute } from 'node:path';
import { fsError, invalidPathError, scrubInPlace } from '../core/errors.js';
import {
  canonicalScheme,
  formatLocation,
  isDotLike,
  isWithin,
  looksLikeUri,
  outsideRoot,
  parseLocation,
  pathToString,
  safeRelativeSegments,
  type Location,
} from '../core/uri.js';
import type { FsAdapter } from '../fs/types.js';
import { MountTable } from '../vfs/mount-table.js';
import { FileOps } from './file-ops.js';
import { redactConfig, validateConfig, type Flavor, type FlavorInstance } from './flavor.js';
import type { FlavorRegistry } from './registry.js';

export interface StoreOptions {
  /** A registered flavor: `local`, `memory`, `s3`, `gcs`, `azure`, or a custom one. */
  flavor: string;
  /** The store root, in one of the flavor's schemes (`s3://bucket/prefix`, `/data/artifacts`…). */
  path: string;
  /** Optional display name (the CLI's store name). */
  name?: string;
  /** Flavor-specific config fields. */
  [field: string]: unknown;
}

export class ArtifactStore extends FileOps {
  readonly name: string | undefined;
  readonly flavor: string;
  /** The normalised root: a URI, or an absolute path for local stores. */
  readonly path: string;
  readonly #root: Location;
  readonly #flavor: Flavor;
  readonly #config: Record<string, unknown>;
  readonly #instance: FlavorInstance;

  /** @internal use {@link createStore}. */
  constructor(init: {
    name?: string | undefined;
    flavor: Flavor;
    root: Location;
    config: Record<string, unknown>;
    instance: FlavorInstance;
    fs: FsAdapter;
  }) {
    const root = init.root;
    const rootText = formatLocation(root, { trailingSlash: false });
    super(init.fs, (p, syscall) => resolveInRoot(root, rootText, p, syscall), {
      atomicWrites: init.instance.atomicWrites ?? false,
    });
    this.name = init.name;
    this.flavor = init.flavor.name;
    this.path = rootText;
    this.#root = root;
    this.#flavor = init.flavor;
    this.#config = init.config;
    this.#instance = init.instance;
  }

  /** True when a path (relative or absolute) lies inside this store. */
  contains(path: string): boolean {
    try {
      resolveInRoot(this.#root, this.path, path, 'access');
      return true;
    } catch {
      return false;
    }
  }

  /** Config with secrets masked. */
  get config(): Record<string, unknown> {
    return redactConfig(this.#flavor, this.#config);
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, flavor: this.flavor, path: this.path, config: this.config };
  }

  [inspect.custom](): string {
    return `ArtifactStore ${inspect(this.toJSON(), { depth: 4 })}`;
  }

  async close(): Promise<void> {
    await this.#instance.close?.();
  }
}

function resolveInRoot(root: Location, rootText: string, input: string, syscall: string): string {
  const p = pathToString(input, syscall);
  if (p.includes('\0')) throw invalidPathError(p, syscall);
  if (looksLikeUri(p) || isAbsolute(p) || /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\')) {
    let loc: Location;
    try {
      loc = parseLocation(p, { syscall });
    } catch {
      throw outsideRoot(p, rootText);
    }
    if (!isWithin(root, loc)) throw outsideRoot(p, rootText);
    if (loc.segments.slice(root.segments.length).some(isDotLike)) throw outsideRoot(p, rootText);
    // Literal `..` that normalised back inside are fine; encoded ones were refused above.
    return formatLocation(loc, { trailingSlash: false });
  }
  let rel: string[];
  try {
    rel = safeRelativeSegments(p, p);
  } catch {
    throw outsideRoot(p, rootText);
  }
  return formatLocation({ scheme: root.scheme, segments: [...root.segments, ...rel], trailingSlash: false });
}

/**
 * Creates a store: validates the flavor, the path's scheme and the config before any I/O, then
 * mounts the flavor's adapter at the root in a private mount table.
 */
export async function createStore(options: StoreOptions, registry: FlavorRegistry): Promise<ArtifactStore> {
  const { flavor: flavorName, path, name, ...rest } = options;
  if (typeof flavorName !== 'string' || !flavorName)
    throw fsError('EINVAL', { message: 'EINVAL: a store needs a flavor' });
  const flavor = registry.get(flavorName);
  if (typeof path !== 'string' || path === '') {
    throw fsError('EINVAL', {
      message: `EINVAL: a '${flavor.name}' store needs a path (${flavor.schemes.map((s) => `${s}://…`).join(', ')})`,
    });
  }
  const root = parseLocation(path, { syscall: 'createStore' });
  const accepted = flavor.schemes.map(canonicalScheme);
  if (!accepted.includes(root.scheme)) {
    throw fsError('EINVAL', {
      message: `EINVAL: the '${flavor.name}' flavor does not support the path '${path}' (supported schemes: ${flavor.schemes.map((s) => (s === 'file' ? 'plain paths, file://' : `${s}://`)).join(', ')})`,
    });
  }
  if (root.scheme !== 'file' && root.segments.length === 0) {
    throw fsError('EINVAL', { message: `EINVAL: the path '${path}' needs a bucket or container` });
  }
  const config = validateConfig(flavor, rest);
  const rootText = formatLocation(root, { trailingSlash: false });
  let instance: FlavorInstance;
  try {
    instance = await flavor.create({ ...config, path: rootText });
  } catch (err) {
    // A flavor's (or its SDK's) error may quote a credential: mask every registered secret. What is
    // thrown is the cleaned error: the same object, or a clean copy of a frozen one.
    throw scrubInPlace(err);
  }
  const table = new MountTable();
  table.mount(rootText, instance.adapter, { root: instance.root ?? '/' });
  if (instance.ensureRoot) await table.fs.promises.mkdir(rootText, { recursive: true });
  return new ArtifactStore({ name, flavor, root, config, instance, fs: table.fs });
}

/**
 * A store over any FsAdapter (a mount table's `fs`, a third-party adapter, node:fs itself) rooted at
 * `path`, with no flavor behind it: what the conformance suite and custom integrations use.
 */
export async function createStoreFromFs(options: {
  fs: FsAdapter;
  path: string;
  name?: string;
  /** The fs commits writes atomically (object stores). Default false: temp file + rename. */
  atomicWrites?: boolean;
}): Promise<ArtifactStore> {
  const root = parseLocation(options.path, { syscall: 'createStore' });
  const flavor: Flavor = {
    name: 'custom',
    type: 'artifact_store',
    schemes: [root.scheme],
    description: 'A store over a caller-supplied fs.',
    config: {},
    create: async () => ({ adapter: options.fs }),
  };
  return new ArtifactStore({
    name: options.name,
    flavor,
    root,
    config: {},
    instance: { adapter: options.fs, atomicWrites: options.atomicWrites ?? false },
    fs: options.fs,
  });
}
