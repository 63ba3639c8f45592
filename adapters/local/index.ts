/**
 * The local flavor: node:fs under a root directory. Paths are plain paths or `file://` URIs.
 */
import * as nodeFs from 'node:fs';
import { formatLocation, parseLocation } from '../../src/core/uri.js';
import type { FsAdapter } from '../../src/fs/types.js';
import { defineFlavor } from '../../src/store/flavor.js';

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
    return { adapter: localFs, root, ensureRoot: true };
  },
});
