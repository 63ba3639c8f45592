/**
 * What a file operand names: `STORE:path` (a registered store, path relative to its root), a URI
 * (`s3://bucket/key`, `mem://x/y`) or a local path. A URI or path inside a registered store's root
 * uses that store (its endpoint and credentials); anything else opens an ad-hoc store of the flavor
 * that serves the scheme, rooted at the bucket (or `/`), with no config.
 */
import { fsError } from '../core/errors.js';
import {
  formatLocation,
  isWithin,
  looksLikeUri,
  parseLocation,
  safeRelativeSegments,
  type Location,
} from '../core/uri.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { defaultRegistry, openStore } from '../store/defaults.js';
import { listStores, openNamedStore, type NamedStore } from '../store/stores.js';

const STORE_REF_RE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}):(?!\/\/)(.*)$/s;

export interface Target {
  /** The operand as given. */
  spec: string;
  store: ArtifactStore;
  /** The full path in `store.fs` (a URI, or an absolute local path). */
  full: string;
  /** The operand ended with `/` (a directory was meant). */
  trailingSlash: boolean;
  /** A path under this store as the user would write it (`STORE:rel` or the URI/path). */
  show(full: string): string;
}

export class Targets {
  readonly #open = new Map<string, Promise<ArtifactStore>>();
  #records: Promise<NamedStore[]> | undefined;

  /** Resolves an operand; opens (once) the store it belongs to. */
  async resolve(spec: string): Promise<Target> {
    const trailingSlash = spec.endsWith('/');
    const ref = looksLikeUri(spec) ? null : STORE_REF_RE.exec(spec);
    if (ref) {
      const name = ref[1]!;
      const store = await this.#store(`name:${name}`, () => openNamedStore(name));
      const rel = safeRelativeSegments(ref[2]!, spec);
      const full = join(store.path, rel);
      return {
        spec,
        store,
        full,
        trailingSlash,
        show: (p) => `${name}:${relativeTo(store.path, p)}`,
      };
    }
    const loc = parseLocation(spec, { syscall: 'open' });
    const full = formatLocation(loc, { trailingSlash: false });
    const owner = await this.#owner(loc);
    if (owner) {
      const store = await this.#store(`name:${owner.name}`, () => openNamedStore(owner.name));
      return { spec, store, full, trailingSlash, show: (p) => p };
    }
    const flavor = defaultRegistry.forScheme(loc.scheme)[0];
    if (!flavor) {
      throw fsError('ERR_UNKNOWN_FLAVOR', {
        message: `ERR_UNKNOWN_FLAVOR: no flavor serves ${loc.scheme}:// paths (flavors: ${defaultRegistry
          .list()
          .map((f) => `${f.name} (${f.schemes.join(', ')})`)
          .join('; ')})`,
      });
    }
    const root: Location =
      loc.scheme === 'file'
        ? { scheme: 'file', segments: [], trailingSlash: false }
        : { scheme: loc.scheme, segments: loc.segments.slice(0, 1), trailingSlash: false };
    const rootText = formatLocation(root, { trailingSlash: false });
    const store = await this.#store(`adhoc:${flavor.name}:${rootText}`, () =>
      openStore({ flavor: flavor.name, path: rootText }),
    );
    return { spec, store, full, trailingSlash, show: (p) => p };
  }

  /** The registered store with the longest root that contains `loc`. */
  async #owner(loc: Location): Promise<NamedStore | undefined> {
    let best: { store: NamedStore; depth: number } | undefined;
    for (const { store, root } of await this.#roots()) {
      if (isWithin(root, loc) && (!best || root.segments.length > best.depth))
        best = { store, depth: root.segments.length };
    }
    return best?.store;
  }

  /** The registered stores (the default one too) whose root is `full` or lies below it. */
  async storesWithin(full: string): Promise<NamedStore[]> {
    const loc = parseLocation(full);
    return (await this.#roots()).filter(({ root }) => isWithin(loc, root)).map(({ store }) => store);
  }

  async #roots(): Promise<Array<{ store: NamedStore; root: Location }>> {
    this.#records ??= listStores();
    const out: Array<{ store: NamedStore; root: Location }> = [];
    for (const store of await this.#records) {
      try {
        out.push({ store, root: parseLocation(store.path) });
      } catch {
        // a record whose path no longer parses owns nothing
      }
    }
    return out;
  }

  #store(key: string, open: () => Promise<ArtifactStore>): Promise<ArtifactStore> {
    let p = this.#open.get(key);
    if (!p) {
      p = open();
      this.#open.set(key, p);
    }
    return p;
  }

  async closeAll(): Promise<void> {
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
  }
}

/** `base` plus relative segments. */
export function join(base: string, rel: readonly string[]): string {
  if (!rel.length) return base;
  return base.endsWith('/') ? base + rel.join('/') : `${base}/${rel.join('/')}`;
}

/** The part of `full` below `root` (`''` for the root itself). */
export function relativeTo(root: string, full: string): string {
  if (full === root) return '';
  const prefix = root.endsWith('/') ? root : `${root}/`;
  return full.startsWith(prefix) ? full.slice(prefix.length) : full;
}

/** The last segment of a path or URI. */
export function basename(full: string): string {
  const trimmed = full.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}
