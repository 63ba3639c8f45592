/**
 * Shared helpers for the conformance topics. Nothing here touches the filesystem directly: all
 * I/O goes through the target's FsAdapter, and paths are built with `target.join(...)` because
 * the root may be a URI.
 */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import type { ConformanceTarget } from './types.js';

export type TestBody = () => Promise<void> | void;
export type Declare = (title: string, body: TestBody, timeout?: number) => void;

/**
 * `it` when `cond` holds; otherwise declares a skipped test whose title carries the reason, so a
 * skip is never mistaken for a pass and always explains itself.
 */
export function itIf(cond: boolean, reason: string): Declare {
  if (cond) return (title, body, timeout) => it(title, body, timeout);
  return (title) => it.skip(`${title} — skipped: ${reason}`, () => {});
}

export type FsError = NodeJS.ErrnoException & { dest?: string };

export interface ErrorShape {
  code: string;
  syscall?: string;
  /** Exactly the path string the test passed. */
  path?: string;
  /** For two-path operations (rename, copyFile): exactly the destination string passed. */
  dest?: string;
}

function checkError(err: unknown, shape: ErrorShape): FsError {
  expect(err).toBeInstanceOf(Error);
  const e = err as FsError;
  const actual: Record<string, unknown> = {};
  for (const key of Object.keys(shape) as (keyof ErrorShape)[]) actual[key] = e[key];
  expect(actual).toEqual(shape);
  return e;
}

/** Awaits `promise` (or calls the async function), expects a rejection matching `shape`, returns the error. */
export async function expectFsError(
  promise: Promise<unknown> | (() => Promise<unknown>),
  shape: ErrorShape,
): Promise<FsError> {
  let caught: unknown;
  let rejected = false;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    caught = err;
    rejected = true;
  }
  if (!rejected) expect.fail(`expected a rejection with code ${shape.code}, but it resolved`);
  return checkError(caught, shape);
}

/** Calls `fn`, expects it to throw synchronously with an error matching `shape`, returns the error. */
export function expectThrows(fn: () => unknown, shape: ErrorShape): FsError {
  let caught: unknown;
  let threw = false;
  try {
    fn();
  } catch (err) {
    caught = err;
    threw = true;
  }
  if (!threw) expect.fail(`expected a synchronous throw with code ${shape.code}`);
  return checkError(caught, shape);
}

/** Adapts a Node-style callback call into a promise (error-first; the value may be absent). */
export function fromCallback<T = void>(
  register: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    register((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The 256 byte values 0x00..0xff, in order. */
export function allBytes(): Buffer {
  return Buffer.from(Array.from({ length: 256 }, (_, i) => i));
}

/** Deterministic pseudo-random bytes (xorshift32), so large payloads are reproducible across runs. */
export function payload(size: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  let i = 0;
  while (i < size) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    for (let k = 0; k < 4 && i < size; k++, i++) out[i] = (x >>> (k * 8)) & 0xff;
  }
  return out;
}

/**
 * Creates files (relative `/`-separated paths under the target root), making their parent
 * directories first. Directories made this way are never empty, so they exist on every target.
 */
export async function makeTree(
  t: ConformanceTarget,
  files: Record<string, string | Uint8Array>,
): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const parts = rel.split('/');
    if (parts.length > 1) await t.fs.promises.mkdir(t.join(...parts.slice(0, -1)), { recursive: true });
    await t.fs.promises.writeFile(t.join(...parts), content);
  }
}

/** Sorted copy (readdir order is unspecified). */
export function sorted<T extends string>(names: readonly T[]): T[] {
  return [...names].sort();
}

/** Collects a readable stream into one Buffer (string chunks are utf8-encoded). */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

interface StreamLike {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  resume?(): unknown;
}

/**
 * Resolves with the first 'error' a stream emits; rejects if it closes (or ends/finishes)
 * without one. Readable streams are resumed so they start flowing.
 */
export function streamError(stream: StreamLike): Promise<FsError> {
  return new Promise<FsError>((resolve, reject) => {
    let done = false;
    stream.on('error', (err) => {
      done = true;
      resolve(err as FsError);
    });
    const fail = (event: string) => () => {
      if (!done) reject(new Error(`stream emitted '${event}' without an error`));
    };
    stream.on('close', fail('close'));
    stream.on('finish', fail('finish'));
    stream.on('end', fail('end'));
    stream.resume?.();
  });
}

/** Resolves once a writable stream has emitted both 'finish' and 'close' (rejects on 'error'). */
export function finishedAndClosed(stream: StreamLike): Promise<{ finished: boolean }> {
  return new Promise((resolve, reject) => {
    let finished = false;
    stream.on('finish', () => {
      finished = true;
    });
    stream.on('error', (err) => reject(err as Error));
    stream.on('close', () => resolve({ finished }));
  });
}

/** Escapes a string for literal use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Asserts an mtime-like pair is plausible: a number and a Date close to now (object stores set their own clocks). */
export function expectRecentTime(ms: number, date: Date, windowMs = 60_000): void {
  expect(typeof ms).toBe('number');
  expect(date).toBeInstanceOf(Date);
  expect(Math.abs(ms - Date.now())).toBeLessThan(windowMs);
  expect(Math.abs(date.getTime() - ms)).toBeLessThan(1);
}
