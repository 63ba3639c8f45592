/**
 * The local flavor: node:fs under a root directory. Paths are plain paths or `file://` URIs. A
 * store's fs is confined to its root through symlinks (`confineToRoot`).
 */
import * as nodeFs from 'node:fs';
import { formatLocation, parseLocation } from '../../src/core/uri.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { defineFlavor } from '../../src/store/flavor.js';
import { confineToRoot } from '../../src/fs/confine.js';

/** node:fs as an adapter (it is one: the FsAdapter type is a subset of node:fs). */
export const localFs: FsAdapter = nodeFs;

export const localFlavor = defineFlavor({
  name: 'local',
  type: 'artifact_store',
  schemes: ['file'],
  description: 'A directory on the local filesystem (plain paths or file:// URIs).',
  config: {},
  async create({ path }) {
    const root = formatLocation(parseLocation(path), { trailingSlash: false });
    // Symlinks inside the store may not lead out of it, dangling ones included; opening a file adds
    // O_NOFOLLOW where its last component was no link (see src/fs/confine.ts for the limit).
    return { adapter: confineToRoot(localFs, root, { noFollow: true }), root, ensureRoot: true };
  },
});
