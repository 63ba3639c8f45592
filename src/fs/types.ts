/**
 * The FsAdapter contract: the subset of Node's `fs` module that every flavor and the mount table
 * expose. It is *derived from Node's own type declarations*, so an adapter is typed exactly like
 * `node:fs` for the methods it has, and `node:fs` itself is a valid FsAdapter (see
 * `test/unit/fs-types.test.ts`, which proves it at compile time).
 */
import type * as nodeFs from 'node:fs';

/** Node's `fs` module type: the specification we match. */
export type NodeFs = typeof nodeFs;
export type NodeFsPromises = NodeFs['promises'];

/** Promise methods every adapter implements (memfs-style: the list is typed against Node's keys). */
export const PROMISE_METHODS = [
  'access',
  'appendFile',
  'copyFile',
  'lstat',
  'mkdir',
  'mkdtemp',
  'open',
  'readdir',
  'readFile',
  'realpath',
  'rename',
  'rm',
  'rmdir',
  'stat',
  'unlink',
  'utimes',
  'writeFile',
] as const satisfies readonly (keyof NodeFsPromises)[];
export type PromiseMethod = (typeof PROMISE_METHODS)[number];

/** Callback twins: the same operations in Node's `(…args, callback)` form (no fd-level API). */
export const CALLBACK_METHODS = [
  'access',
  'appendFile',
  'copyFile',
  'lstat',
  'mkdir',
  'mkdtemp',
  'readdir',
  'readFile',
  'realpath',
  'rename',
  'rm',
  'rmdir',
  'stat',
  'unlink',
  'utimes',
  'writeFile',
] as const satisfies readonly (keyof NodeFs)[];
export type CallbackMethod = (typeof CALLBACK_METHODS)[number];

/**
 * Sync methods. Flavors that can honour them (local, memory) do; on object stores they throw
 * `ENOTSUP` naming the async alternative.
 */
export const SYNC_METHODS = [
  'accessSync',
  'appendFileSync',
  'copyFileSync',
  'existsSync',
  'lstatSync',
  'mkdirSync',
  'mkdtempSync',
  'readdirSync',
  'readFileSync',
  'realpathSync',
  'renameSync',
  'rmSync',
  'rmdirSync',
  'statSync',
  'unlinkSync',
  'utimesSync',
  'writeFileSync',
] as const satisfies readonly (keyof NodeFs)[];
export type SyncMethod = (typeof SYNC_METHODS)[number];

export const STREAM_METHODS = [
  'createReadStream',
  'createWriteStream',
] as const satisfies readonly (keyof NodeFs)[];
export type StreamMethod = (typeof STREAM_METHODS)[number];

export type FsPromisesApi = Pick<NodeFsPromises, PromiseMethod>;

/** What users and the mount table see: a typed subset of `node:fs`. */
export interface FsAdapter extends Pick<NodeFs, CallbackMethod | SyncMethod | StreamMethod | 'constants'> {
  readonly promises: FsPromisesApi;
}

/** Method names that take two paths (source, destination). */
export const TWO_PATH_METHODS = new Set<string>(['rename', 'copyFile', 'renameSync', 'copyFileSync']);
