/**
 * Starts `discard-server.js` in its own process (fork with an IPC channel) and talks to it. The
 * server exits when this process disconnects or dies; `stop()` ends it earlier.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerStats {
  requests: number;
  bytesIn: number;
  wireBytesIn: number;
  bytesOut: number;
  awsChunkedBodies: number;
  expectContinue: number;
  ops: Record<string, number>;
  errors: Record<string, number>;
  openUploads: number;
  cpuSeconds: number;
  rssMiB: number;
  peakRssMiB: number;
}

export interface ServerObject {
  size: number;
  etag: string;
  via: string;
  parts?: number;
  checksum?: { algorithm: string; value: string; type: string };
}

export interface DiscardServer {
  endpoint: string;
  pid: number;
  stats(): Promise<ServerStats>;
  object(bucket: string, key: string): Promise<ServerObject | null>;
  /** Records an object of `size` payload bytes without uploading it. */
  seed(bucket: string, key: string, size: number): Promise<void>;
  createBucket(bucket: string): Promise<void>;
  stop(): Promise<void>;
}

const IPC_TIMEOUT_MS = 30_000;

/** `args`: extra server flags, e.g. `--no-onread`. */
export async function startDiscardServer(args: string[] = []): Promise<DiscardServer> {
  const script = fileURLToPath(new URL('./discard-server.js', import.meta.url));
  const child: ChildProcess = fork(script, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('discard server did not start within 30 s')), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`discard server exited early (code ${code})`)));
    child.on('message', (msg: { type: string; port?: number; id?: number; result?: unknown }) => {
      if (msg.type === 'ready') {
        clearTimeout(timer);
        resolve(msg.port!);
      } else if (msg.type === 'reply' && msg.id !== undefined) {
        waiting.get(msg.id)?.resolve(msg.result);
        waiting.delete(msg.id);
      }
    });
  });
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('discard server exited'));
    waiting.clear();
  });

  function ask<T>(msg: Record<string, unknown>): Promise<T> {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`discard server did not answer '${String(msg.type)}' within 30 s`));
      }, IPC_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ ...msg, id });
    });
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stats: () => ask<ServerStats>({ type: 'stats' }),
    object: (bucket, key) => ask<ServerObject | null>({ type: 'object', bucket, key }),
    seed: async (bucket, key, size) => void (await ask({ type: 'seed', bucket, key, size })),
    createBucket: async (bucket) => void (await ask({ type: 'createBucket', bucket })),
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
