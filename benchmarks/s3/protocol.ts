/** What the harness (`run.ts`) and the measuring child (`client.ts`) exchange. */

/**
 * `raw`: the machine's limit (node:http PUT from the reused block; GET over a bare socket read into
 * one reused buffer). `node-http`: node:http PUT and GET, the ceiling of any client built on Node's
 * http stack (its GET allocates a buffer per socket read). `avfs`: artifact-vfs's s3 flavor,
 * uploading through `createWriteStream` and downloading with `FileHandle.read` into one reused
 * buffer (as the OpenDAL target reads). `avfs-stream`: downloads only, through `createReadStream`
 * (a fresh buffer per chunk, as node:fs streams give).
 */
export const TARGETS = ['raw', 'node-http', 'lib-storage', 'opendal', 'avfs', 'avfs-stream'] as const;
export type Target = (typeof TARGETS)[number];
export type Direction = 'up' | 'down';

/** Target-specific settings (`client.js --config JSON`); today only OpenDAL's. */
export interface ClientConfig {
  /** OpenDAL writer/reader `chunk`, in MiB */
  chunkMiB?: number;
  /** OpenDAL writer/reader `concurrent` */
  concurrency?: number;
  /** OpenDAL reader `prefetch` */
  prefetch?: number;
  /** Size of the one buffer handed to OpenDAL's `Reader.read` and avfs's `FileHandle.read` (MiB, default 4) */
  readBufferMiB?: number;
  /** Options passed as they are to artifact-vfs's s3 flavor (an A/B of one option) */
  avfs?: Record<string, unknown>;
}

export interface ClientArgs {
  target: Target;
  direction: Direction;
  size: number;
  endpoint: string;
  bucket: string;
  key: string;
  config: ClientConfig;
}

/** The one JSON line a client prints. */
export interface ClientResult {
  target: string;
  direction: string;
  /** Bytes transferred (checked against the size asked for). */
  bytes?: number;
  /** Wall-clock seconds of the transfer alone (setup excluded). */
  seconds?: number;
  /** User + system CPU seconds of the transfer alone (`process.cpuUsage()` delta). */
  cpuSeconds?: number;
  /** Peak RSS of the whole process (`VmHWM`, see `peakRssMiB` in payload.ts). */
  peakRssMiB?: number;
  /** Peak RSS before the transfer started (runtime + modules + clients). */
  setupRssMiB?: number;
  /** CPU of the whole process, setup included. */
  processCpuSeconds?: number;
  config?: ClientConfig;
  skipped?: string;
  error?: string;
}
