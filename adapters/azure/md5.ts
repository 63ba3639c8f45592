/**
 * MD5 of a block for Azure's per-request integrity check (`Content-MD5` on Put Block), computed off
 * the main thread when the block lives in a SharedArrayBuffer (the multipart writer's part buffers
 * do): the main thread keeps filling and sending while a worker hashes. Falls back to the calling
 * thread for small or unshared buffers, or when a worker cannot run.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/** Below this, a message round trip costs more than hashing in place. */
const POOL_MIN_BYTES = 512 * 1024;
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  const digest = createHash('md5').update(new Uint8Array(m.sab, m.offset, m.length)).digest();
  parentPort.postMessage({ id: m.id, digest });
});
`;

interface Job {
  resolve: (d: Buffer) => void;
  reject: (e: unknown) => void;
}

let worker: Worker | undefined;
let broken = false;
const pending = new Map<number, Job>();
let nextId = 0;

function getWorker(): Worker | undefined {
  if (broken) return undefined;
  if (worker) return worker;
  try {
    const w = new Worker(SOURCE, { eval: true });
    w.unref();
    w.on('message', (m: { id: number; digest: Uint8Array }) => {
      const job = pending.get(m.id);
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      job?.resolve(Buffer.from(m.digest));
    });
    const fail = (err: unknown) => {
      broken = true;
      worker = undefined;
      for (const job of pending.values()) job.reject(err);
      pending.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`md5 worker exited (${code})`)));
    worker = w;
    return w;
  } catch {
    broken = true;
    return undefined;
  }
}

/** The MD5 digest of `buf` (16 bytes). */
export async function md5Of(buf: Uint8Array): Promise<Buffer> {
  const w = buf.length >= POOL_MIN_BYTES && buf.buffer instanceof SharedArrayBuffer ? getWorker() : undefined;
  if (!w) return createHash('md5').update(buf).digest();
  const id = nextId++;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      if (pending.size === 1) w.ref();
      w.postMessage({ id, sab: buf.buffer, offset: buf.byteOffset, length: buf.length });
    });
  } catch {
    return createHash('md5').update(buf).digest();
  }
}
