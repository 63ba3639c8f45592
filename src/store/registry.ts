/** The flavor registry: built-in flavors plus any a user registers (ZenML's `flavor register`). */
import { fsError } from '../core/errors.js';
import { canonicalScheme, isKnownScheme, registerScheme } from '../core/uri.js';
import type { Flavor } from './flavor.js';

export class FlavorRegistry {
  readonly #flavors = new Map<string, Flavor>();

  /** Adds a flavor; its schemes become routable. Throws EEXIST for a taken name unless `replace`. */
  register(flavor: Flavor, options: { replace?: boolean } = {}): void {
    if (flavor.type !== 'artifact_store') {
      throw fsError('EINVAL', {
        message: `EINVAL: flavor '${flavor.name}' has type '${String(flavor.type)}', expected 'artifact_store'`,
      });
    }
    if (!/^[a-z][a-z0-9_-]*$/.test(flavor.name)) {
      throw fsError('EINVAL', {
        message: `EINVAL: invalid flavor name '${flavor.name}' (lower-case letters, digits, '-' and '_')`,
      });
    }
    if (!flavor.schemes.length || typeof flavor.create !== 'function') {
      throw fsError('EINVAL', {
        message: `EINVAL: flavor '${flavor.name}' needs at least one scheme and a create() function`,
      });
    }
    if (this.#flavors.has(flavor.name) && !options.replace) {
      throw fsError('EEXIST', { message: `EEXIST: a flavor named '${flavor.name}' is already registered` });
    }
    const [first, ...aliases] = flavor.schemes;
    const canonical = canonicalScheme(first!);
    // Scheme names are process-wide: a name that already means another scheme (`s3`, `gcs`) keeps
    // its meaning, so a flavor that also serves s3:// paths never re-points s3:// at itself.
    registerScheme(
      canonical,
      ...aliases.filter((a) => !isKnownScheme(a) || canonicalScheme(a) === canonical),
    );
    this.#flavors.set(flavor.name, flavor);
  }

  get(name: string): Flavor {
    const f = this.#flavors.get(name);
    if (!f) {
      throw fsError('ERR_UNKNOWN_FLAVOR', {
        message: `ERR_UNKNOWN_FLAVOR: no artifact-store flavor named '${name}' (available: ${[...this.#flavors.keys()].join(', ')})`,
      });
    }
    return f;
  }

  has(name: string): boolean {
    return this.#flavors.has(name);
  }

  list(): Flavor[] {
    return [...this.#flavors.values()];
  }

  /** Flavors that serve a scheme (aliases accepted). */
  forScheme(scheme: string): Flavor[] {
    const c = canonicalScheme(scheme);
    return this.list().filter((f) => f.schemes.some((s) => canonicalScheme(s) === c));
  }
}
