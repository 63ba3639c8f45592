/**
 * Builds a whole FsAdapter from its async core: the callback twins are derived from the promise
 * methods once, here, for every adapter (derived object-store adapters and the mount table alike),
 * and missing sync methods become clear ENOTSUP errors that name the async call to use instead.
 * Every method is an enumerable own property, as libraries that copy or probe an `fs` option expect.
 */
import { constants } from 'node:fs';
import { fsError, invalidPathError, toFsError } from '../core/errors.js';
import { pathToString } from '../core/uri.js';
import {
  CALLBACK_METHODS,
  SYNC_METHODS,
  type FsAdapter,
  type FsPromisesApi,
  type StreamMethod,
  type SyncMethod,
} from './types.js';

// The one place where loosely typed internals meet Node's exact overloads.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFn = (...args: any[]) => any;

export interface AdapterParts {
  promises: Record<keyof FsPromisesApi, AnyFn>;
  streams: Record<StreamMethod, AnyFn>;
  /** Sync methods this adapter honours; every other one throws ENOTSUP. */
  sync?: Partial<Record<SyncMethod, AnyFn>>;
  /** Extra own properties (e.g. `name`, `mounts`). */
  extra?: Record<string, unknown>;
}

/** Derives the callback twin of a promise method: `(…args, cb)`, errors passed to `cb`. */
export function callbackify(method: string, fn: AnyFn): AnyFn {
  const twoPaths = method === 'rename' || method === 'copyFile';
  return function (this: unknown, ...args: unknown[]) {
    const cb = args.pop();
    // Node validates paths before scheduling anything: a NUL byte throws synchronously.
    for (const p of twoPaths ? args.slice(0, 2) : args.slice(0, 1)) {
      if ((typeof p === 'string' && p.includes('\0')) || (p instanceof Uint8Array && p.includes(0))) {
        throw invalidPathError(typeof p === 'string' ? p : Buffer.from(p).toString(), method);
      }
    }
    if (typeof cb !== 'function') {
      throw fsError('ERR_INVALID_ARG_TYPE', {
        message: `The "cb" argument must be of type function. Received ${cb === undefined ? 'undefined' : typeof cb}`,
        syscall: method,
      });
    }
    let p: Promise<unknown>;
    try {
      p = Promise.resolve(fn(...args));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (v) => process.nextTick(() => (cb as AnyFn)(null, v)),
      (e) => process.nextTick(() => (cb as AnyFn)(e)),
    );
  };
}

function unsupportedSync(method: SyncMethod): AnyFn {
  const asyncName = method.slice(0, -'Sync'.length);
  return (path?: unknown) => {
    let shown: string | undefined;
    try {
      shown = path === undefined ? undefined : pathToString(path);
    } catch {
      shown = undefined;
    }
    throw fsError('ENOTSUP', {
      syscall: method,
      path: shown,
      detail: `${method} is not supported by this storage backend; use fs.promises.${asyncName} (or the callback fs.${asyncName})`,
    });
  };
}

export function assembleFs(parts: AdapterParts): FsAdapter {
  const fs: Record<string, unknown> = {};
  const promises: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(parts.promises)) {
    promises[name] = fn;
  }
  fs.promises = promises;
  for (const name of CALLBACK_METHODS) {
    const impl = parts.promises[name];
    fs[name] = callbackify(name, impl);
  }
  // Node's realpath carries a `.native` twin.
  (fs.realpath as { native?: AnyFn }).native = fs.realpath as AnyFn;
  for (const name of SYNC_METHODS) {
    fs[name] = parts.sync?.[name] ?? unsupportedSync(name);
  }
  if (parts.sync?.realpathSync) {
    const native = parts.sync.realpathSync;
    fs.realpathSync = (...a: unknown[]) => native(...a);
    (fs.realpathSync as { native?: AnyFn }).native = native;
  } else {
    (fs.realpathSync as { native?: AnyFn }).native = fs.realpathSync as AnyFn;
  }
  fs.createReadStream = parts.streams.createReadStream;
  fs.createWriteStream = parts.streams.createWriteStream;
  fs.constants = constants;
  Object.assign(fs, parts.extra ?? {});
  return fs as unknown as FsAdapter;
}

/** Wraps an async method so that anything it throws synchronously becomes a rejection, as in Node. */
export function asyncMethod<F extends AnyFn>(fn: F): F {
  return (async (...args: unknown[]) => fn(...args)) as F;
}

export { toFsError };
