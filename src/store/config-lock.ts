/**
 * The config file's lock (`config.json.lock`): one writer at a time across processes. The lock is a
 * file holding `<pid> <host> <ISO time>`, created whole (written to a temp file, then hard-linked
 * into place, so no reader ever sees it half-written) and removed by its holder.
 *
 * A lock nobody will remove must not block every command: a lock whose process is gone (this
 * host), that is older than STALE_LOCK_MS (or dated that far in the future: another host's clock),
 * or whose content is not a lock at all is broken. A live holder, here or on another host, is
 * waited for a bounded time, then the wait fails with EBUSY naming the lock file, the holder and
 * how to remove it.
 */
import { randomUUID } from 'node:crypto';
import { link, open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { fsError } from '../core/errors.js';

/** A lock older than this is taken to be left by a process that died holding it. */
export const STALE_LOCK_MS = 30_000;
/** How long a writer waits for a live lock before giving up with EBUSY (ARTIFACT_VFS_LOCK_WAIT_MS). */
export const LOCK_WAIT_MS = 15_000;
/**
 * An empty lock younger than this may be one being created by an older artifact-vfs (which wrote
 * the file in place): it is waited for, not broken.
 */
const EMPTY_LOCK_GRACE_MS = 2_000;

/** The wait bound: `ARTIFACT_VFS_LOCK_WAIT_MS` (milliseconds), else LOCK_WAIT_MS. */
export function lockWaitMs(): number {
  const raw = process.env.ARTIFACT_VFS_LOCK_WAIT_MS;
  if (raw === undefined || raw.trim() === '') return LOCK_WAIT_MS;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    throw fsError('EINVAL', {
      message: `EINVAL: ARTIFACT_VFS_LOCK_WAIT_MS must be a number of milliseconds, got '${raw}'`,
    });
  }
  return n;
}

interface Holder {
  pid: number;
  host: string;
  since: string;
}

function parseHolder(content: string): Holder | undefined {
  const m = /^(\d{1,10}) (\S{1,255}) (\S{1,64})\s*$/.exec(content);
  const pid = Number(m?.[1]);
  if (!m || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { pid, host: m[2]!, since: m[3]! };
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as { code?: string }).code === 'ESRCH';
  }
}

type Seen =
  { state: 'gone' } | { state: 'stale'; ino: number; mtimeMs: number } | { state: 'live'; holder: string };

/** What the lock file in the way is, read through one handle (its content and stat agree). */
async function inspect(lock: string): Promise<Seen> {
  let handle;
  try {
    handle = await open(lock, 'r');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { state: 'gone' };
    throw unusableLock(lock, err);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw unusableLock(lock, undefined, 'it is not a file');
    const content = info.size > 4096 ? '' : await handle.readFile('utf8');
    const age = Date.now() - info.mtimeMs;
    const stale = { state: 'stale' as const, ino: info.ino, mtimeMs: info.mtimeMs };
    if (content === '' && info.size === 0 && Math.abs(age) < EMPTY_LOCK_GRACE_MS)
      return { state: 'live', holder: 'a lock being created' };
    const holder = parseHolder(content);
    if (!holder || Math.abs(age) > STALE_LOCK_MS) return stale;
    if (holder.host === hostname() && processGone(holder.pid)) return stale;
    return { state: 'live', holder: `pid ${holder.pid} on host '${holder.host}' since ${holder.since}` };
  } finally {
    await handle.close();
  }
}

function unusableLock(lock: string, cause: unknown, why?: string): Error {
  const reason = why ?? `it cannot be read (${(cause as { code?: string })?.code ?? String(cause)})`;
  return fsError('EBUSY', {
    path: lock,
    message: `EBUSY: the artifact-vfs config lock '${lock}' is unusable: ${reason}; remove it (rm -r '${lock}') once no artifact-vfs command is running`,
    cause,
  });
}

/**
 * Removes the stale lock seen as `seen`, and nothing else: it is renamed aside first (atomic), and
 * if what was moved is not the file judged stale (another process broke that one and took the
 * lock in between), the live lock is put back.
 */
async function breakLock(lock: string, seen: { ino: number; mtimeMs: number }): Promise<void> {
  const aside = `${lock}.${process.pid}.${randomUUID().slice(0, 8)}.stale`;
  try {
    await rename(lock, aside);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw unusableLock(lock, err);
  }
  try {
    const moved = await stat(aside).catch(() => undefined);
    if (moved && (moved.ino !== seen.ino || moved.mtimeMs !== seen.mtimeMs))
      await link(aside, lock).catch(() => undefined);
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/** Creates the lock whole; its inode (to release only our own lock), or undefined when taken. */
async function create(lock: string): Promise<number | undefined> {
  const body = `${process.pid} ${hostname()} ${new Date().toISOString()}`;
  const tmp = `${lock}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, body, { flag: 'wx', mode: 0o600 });
  try {
    await link(tmp, lock);
    return (await stat(tmp)).ino;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'EEXIST') return undefined;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw err;
    // A filesystem without hard links: create the lock in place (the empty-lock grace covers the
    // moment before its content is written).
    try {
      await writeFile(lock, body, { flag: 'wx', mode: 0o600 });
      return (await stat(lock)).ino;
    } catch (e) {
      if ((e as { code?: string }).code === 'EEXIST') return undefined;
      throw e;
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Removes the lock if it is still ours (a holder judged stale may since have lost it). */
async function release(lock: string, ino: number): Promise<void> {
  const info = await stat(lock).catch(() => undefined);
  if (info?.ino === ino) await unlink(lock).catch(() => undefined);
}

/** Runs `fn` holding the lock file `lock`. */
export async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const waitMs = lockWaitMs();
  const started = Date.now();
  let ino: number | undefined;
  for (let attempt = 0; ino === undefined; attempt++) {
    ino = await create(lock);
    if (ino !== undefined) break;
    const seen = await inspect(lock);
    if (seen.state === 'gone') continue;
    if (seen.state === 'stale') {
      await breakLock(lock, seen);
      continue;
    }
    const waited = Date.now() - started;
    if (waited >= waitMs) {
      throw fsError('EBUSY', {
        path: lock,
        message:
          `EBUSY: the artifact-vfs config is locked by ${seen.holder} (lock file '${lock}'; waited ${(waited / 1000).toFixed(1)} s). ` +
          `If no artifact-vfs command is running there, remove the lock file: rm '${lock}'`,
      });
    }
    const pause = Math.min(100, 2 + attempt * 5) * (0.5 + Math.random());
    await new Promise((r) => setTimeout(r, Math.min(pause, Math.max(1, waitMs - waited))));
  }
  try {
    return await fn();
  } finally {
    await release(lock, ino);
  }
}
