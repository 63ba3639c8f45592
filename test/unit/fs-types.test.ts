/**
 * The FsAdapter contract (src/fs/types.ts). The type-level half is checked by `tsc` (this file is
 * part of the project): node:fs is an FsAdapter, and every listed method name is a key of Node's
 * `fs` (or `fs.promises`) with Node's exact type. The runtime half checks that every listed method
 * exists on each kind of adapter the library builds.
 */
import * as nodeFs from 'node:fs';
import nodeFsDefault from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createMemoryFs } from '../../adapters/memory/index.js';
import { localFs } from '../../adapters/local/index.js';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import {
  CALLBACK_METHODS,
  PROMISE_METHODS,
  STREAM_METHODS,
  SYNC_METHODS,
  type FsAdapter,
  type FsPromisesApi,
  type NodeFs,
} from '../../src/fs/types.js';
import * as index from '../../src/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';

// ---- compile-time proofs (a failure here fails `tsc --noEmit`) ---------------------------------

/** node:fs, as imported, is an FsAdapter. */
const nodeAsAdapter: FsAdapter = nodeFs;
/** …and so is its default export. */
const nodeDefaultAsAdapter: FsAdapter = nodeFsDefault;

// The module type exactly as the brief names it (the namespace import's type is the same).
// eslint-disable-next-line @typescript-eslint/consistent-type-imports
type NodeModule = typeof import('node:fs');
expectTypeOf<NodeModule>().toEqualTypeOf<typeof nodeFs>();
type P = (typeof PROMISE_METHODS)[number];
type C = (typeof CALLBACK_METHODS)[number];
type S = (typeof SYNC_METHODS)[number];
type St = (typeof STREAM_METHODS)[number];

// Every listed name is a key of Node's fs module (or of fs.promises).
const promiseNames: readonly (keyof NodeModule['promises'])[] = PROMISE_METHODS;
const callbackNames: readonly (keyof NodeModule)[] = CALLBACK_METHODS;
const syncNames: readonly (keyof NodeModule)[] = SYNC_METHODS;
const streamNames: readonly (keyof NodeModule)[] = STREAM_METHODS;
expectTypeOf<P>().toExtend<keyof NodeModule['promises']>();
expectTypeOf<C>().toExtend<keyof NodeModule>();
expectTypeOf<S>().toExtend<keyof NodeModule>();
expectTypeOf<St>().toExtend<keyof NodeModule>();
expectTypeOf<NodeFs>().toEqualTypeOf<NodeModule>();

// The adapter's methods are typed exactly as Node's.
expectTypeOf<FsAdapter['readFile']>().toEqualTypeOf<NodeModule['readFile']>();
expectTypeOf<FsAdapter['readdirSync']>().toEqualTypeOf<NodeModule['readdirSync']>();
expectTypeOf<FsAdapter['createReadStream']>().toEqualTypeOf<NodeModule['createReadStream']>();
expectTypeOf<FsAdapter['constants']>().toEqualTypeOf<NodeModule['constants']>();
expectTypeOf<FsPromisesApi['readFile']>().toEqualTypeOf<NodeModule['promises']['readFile']>();
expectTypeOf<FsPromisesApi['mkdir']>().toEqualTypeOf<NodeModule['promises']['mkdir']>();
expectTypeOf<Pick<FsAdapter, C | S | St>>().toEqualTypeOf<Pick<NodeModule, C | S | St>>();
expectTypeOf<FsPromisesApi>().toEqualTypeOf<Pick<NodeModule['promises'], P>>();

// The checks above can fail: a name Node does not have, or an object lacking a method, is refused.
// @ts-expect-error 'readFileAsync' is not a node:fs method
const notANodeName: readonly (keyof NodeModule)[] = ['readFile', 'readFileAsync'];
// @ts-expect-error an adapter without readFile is not an FsAdapter
const missingMethod: FsAdapter = { ...nodeFs, readFile: undefined };
expectTypeOf<'readFileAsync'>().not.toExtend<keyof NodeModule>();

// The public index exports the same lists.
expectTypeOf(index.PROMISE_METHODS).toEqualTypeOf(PROMISE_METHODS);

// ---- runtime -----------------------------------------------------------------------------------

function table(): FsAdapter {
  const t = new MountTable();
  t.mount('mem://', createMemoryFs().fs);
  return t.fs;
}

const adapters: [string, () => FsAdapter][] = [
  ['node:fs', () => nodeFs],
  ['the local adapter', () => localFs],
  ['a mount table fs', table],
  ['the default mount table fs', () => index.fs],
  ['createFsAdapter(new MemoryBackend())', () => createFsAdapter(new MemoryBackend())],
  ['createMemoryFs().fs', () => createMemoryFs().fs],
];

describe('the method lists', () => {
  it('are non-empty, free of duplicates and consistent with each other', () => {
    for (const list of [PROMISE_METHODS, CALLBACK_METHODS, SYNC_METHODS, STREAM_METHODS]) {
      expect(list.length).toBeGreaterThan(0);
      expect(new Set(list).size).toBe(list.length);
    }
    for (const name of CALLBACK_METHODS) expect(PROMISE_METHODS as readonly string[]).toContain(name);
    for (const name of SYNC_METHODS) {
      expect(name.endsWith('Sync')).toBe(true);
      if (name !== 'existsSync') expect(PROMISE_METHODS as readonly string[]).toContain(name.slice(0, -4));
    }
    expect([...index.PROMISE_METHODS]).toEqual([...PROMISE_METHODS]);
    expect([...index.CALLBACK_METHODS]).toEqual([...CALLBACK_METHODS]);
    expect([...index.SYNC_METHODS]).toEqual([...SYNC_METHODS]);
  });

  it('the compile-time witnesses are the lists themselves', () => {
    expect(promiseNames).toBe(PROMISE_METHODS);
    expect(callbackNames).toBe(CALLBACK_METHODS);
    expect(syncNames).toBe(SYNC_METHODS);
    expect(streamNames).toBe(STREAM_METHODS);
    expect(nodeAsAdapter).toBe(nodeFs);
    expect(nodeDefaultAsAdapter.readFile).toBe(nodeFs.readFile);
    expect(notANodeName).toHaveLength(2);
    expect(missingMethod.readFile).toBeUndefined();
  });
});

describe.each(adapters)('every listed method exists on %s', (_label, make) => {
  const fs = make();

  it.each([...PROMISE_METHODS])('promises.%s', (name) => {
    expect(typeof fs.promises[name]).toBe('function');
  });
  it.each([...CALLBACK_METHODS])('%s (callback)', (name) => {
    expect(typeof fs[name]).toBe('function');
  });
  it.each([...SYNC_METHODS])('%s', (name) => {
    expect(typeof fs[name]).toBe('function');
  });
  it.each([...STREAM_METHODS])('%s', (name) => {
    expect(typeof fs[name]).toBe('function');
  });
  it('realpath.native, realpathSync.native and constants', () => {
    expect(typeof fs.realpath.native).toBe('function');
    expect(typeof fs.realpathSync.native).toBe('function');
    expect(fs.constants.COPYFILE_EXCL).toBe(nodeFs.constants.COPYFILE_EXCL);
    expect(fs.constants.F_OK).toBe(nodeFs.constants.F_OK);
  });
});
