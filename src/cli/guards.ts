/**
 * Refusals for destructive commands (`rm`, `mv`), in the spirit of GNU rm's --preserve-root: a
 * script with an unset variable (`avfs rm -r "$OUT/"`) must not wipe a disk or a bucket.
 *
 * - The machine's root (`/`, `file:///`, `/usr/..`, `~` when HOME is `/`) and the root of a whole
 *   bucket, container or memory volume opened ad hoc are refused unless `--no-preserve-root`.
 * - A registered store's root, and any directory that holds one (a store's parent, the config dir
 *   that holds the default store), are refused always: delete the store, or remove what is inside.
 */
import { parseLocation } from '../core/uri.js';
import { UsageError } from './errors.js';
import type { Target, Targets } from './targets.js';

export async function refuseCatastrophic(
  targets: Targets,
  t: Target,
  verb: 'remove' | 'move',
  options: { preserveRoot: boolean },
): Promise<void> {
  const loc = parseLocation(t.full);
  const holds = await targets.storesWithin(t.full);
  const own = holds.find((s) => t.store.name === s.name && t.full === t.store.path);
  if (own) {
    throw new UsageError(
      `refusing to ${verb} the root of the store '${own.name}' ('${t.spec}'): delete the store with 'avfs artifact-store delete ${own.name}', or ${verb} what is inside it`,
    );
  }
  if (holds.length) {
    const names = holds.map((s) => `'${s.name}' (${s.path})`).join(', ');
    throw new UsageError(
      `refusing to ${verb} '${t.spec}': it holds the artifact store${holds.length > 1 ? 's' : ''} ${names}`,
    );
  }
  if (!options.preserveRoot) return;
  if (loc.scheme === 'file' && loc.segments.length === 0) {
    throw new UsageError(
      `refusing to ${verb} '${t.spec}': it is the machine's root directory (add --no-preserve-root to override)`,
    );
  }
  if (loc.scheme !== 'file' && loc.segments.length <= 1) {
    throw new UsageError(
      `refusing to ${verb} '${t.spec}': it is the root of ${loc.scheme}://${loc.segments[0] ?? ''}, everything in it (add --no-preserve-root to override)`,
    );
  }
}
