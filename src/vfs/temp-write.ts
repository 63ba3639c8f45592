/**
 * Replacing a file without tearing it, on stores that write in place (local disk, memfs): the bytes
 * go to a hidden sibling (`.name.avfs-<hex>-<host>-<pid>.partial`), which is renamed over the
 * destination only once it is complete. Shared by the mount table (cross-mount copies) and the store
 * facade (`open` for writing, `copyfile`). Object stores need none of this: nothing is visible there
 * until commit.
 *
 * A writer killed outright (SIGKILL, a power cut) cannot remove its sibling. The name says who wrote
 * it (a tag of the host name and the process id), so the next write into that directory, or a
 * {@link sweepTemps}, removes a sibling whose writer is known dead on this host at once, and any
 * other once it has not been written for {@link STALE_AFTER_MS} (another host's writer, or a process
 * id that was reused).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { abortError, errorCode, fsError } from '../core/errors.js';
import type { FsAdapter } from '../fs/types.js';

/**
 * Hidden siblings that hold a write until it commits; listings never show them. The older form
 * without host and pid (`.name.avfs-<hex>.partial`) is still recognised, and reclaimed by age.
 */
const TEMP_RE = /^\..*\.avfs-[0-9a-f]{8}(?:-([0-9a-f]{8})-([0-9]{1,10}))?\.partial$/s;

/** A sibling not written for this long is abandoned whoever wrote it (a day: no write idles that long). */
export const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Who can judge a writer's process id: one process-id namespace of one running system. The tag
 * hashes the host name, the machine id, the boot id and the pid namespace (8 hex digits; no name is
 * disclosed), so containers that share a host name and a volume but not their pids (a Kubernetes
 * pod's containers, `--uts host`), cloned machines and a reboot all look like another host, whose
 * siblings are judged by age only.
 */
const HOST_TAG = createHash('sha256')
  .update(
    [
      hostname(),
      readOr(() => readFileSync('/etc/machine-id', 'utf8').trim()),
      readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()),
      readOr(() => readlinkSync('/proc/self/ns/pid')),
    ].join('\0'),
  )
  .digest('hex')
  .slice(0, 8);

function readOr(read: () => string): string {
  try {
    return read();
  } catch {
    return '';
  }
}

/** The longest file name, in bytes, that local file systems take (NAME_MAX). */
const NAME_MAX = 255;

export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/**
 * A fresh hidden sibling name for `path` (same directory, so the final rename stays on one device).
 * The destination's name is shortened inside the sibling's when both would pass NAME_MAX bytes, so
 * any name that fits on disk can be written (the sibling is unique by its random part).
 */
export function tempSibling(path: string): string {
  const cut = path.lastIndexOf('/');
  const suffix = `.avfs-${randomBytes(4).toString('hex')}-${HOST_TAG}-${process.pid}.partial`;
  return `${path.slice(0, cut + 1)}.${fitBytes(path.slice(cut + 1), NAME_MAX - 1 - suffix.length)}${suffix}`;
}

/** The longest start of `name` of at most `max` UTF-8 bytes, cut between characters. */
function fitBytes(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  let out = '';
  let bytes = 0;
  for (const ch of name) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * Whether a temp sibling is abandoned: its writer is a process of this host that no longer runs,
 * or nobody has written it for `staleAfterMs`. A live writer's sibling (this process's included) is
 * never stale before that.
 */
export function isStaleTemp(
  name: string,
  mtimeMs: number,
  now = Date.now(),
  staleAfterMs = STALE_AFTER_MS,
): boolean {
  const m = TEMP_RE.exec(name);
  if (!m) return false;
  if (now - mtimeMs > staleAfterMs) return true;
  const [, host, pid] = m;
  return host === HOST_TAG && pid !== undefined && !processRuns(Number(pid));
}

function processRuns(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user. Only ESRCH says it is gone.
    return errorCode(err) !== 'ESRCH';
  }
}

/**
 * Removes the abandoned temp siblings (see {@link isStaleTemp}) directly inside `dir`, and returns
 * their paths. With `dryRun` it only returns them. A sibling that vanishes meanwhile (its writer
 * committed or another sweep took it) is skipped; a directory that cannot be listed is an error.
 */
export async function sweepTemps(
  fs: FsAdapter,
  dir: string,
  options: { staleAfterMs?: number; dryRun?: boolean } = {},
): Promise<string[]> {
  const removed: string[] = [];
  const names = (await fs.promises.readdir(dir)) as string[];
  const now = Date.now();
  for (const name of names) {
    if (!isTempName(name)) continue;
    const full = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
    try {
      const st = await fs.promises.lstat(full);
      if (!st.isFile() || !isStaleTemp(name, st.mtimeMs, now, options.staleAfterMs)) continue;
      if (!options.dryRun) await fs.promises.unlink(full);
      removed.push(full);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
  }
  return removed;
}

/** Directories already swept by this process, per fs (bounded: forgotten wholesale when full). */
const swept = new WeakMap<object, Set<string>>();
const SWEPT_MAX = 10_000;

/**
 * The reclaim that rides on writes: the first write into a directory in this process sweeps that
 * directory's abandoned siblings (one listing per directory per process, not one per write). It
 * never fails or delays the write beyond that one listing: its own errors are dropped.
 */
export async function reclaimOnce(fs: FsAdapter, path: string): Promise<void> {
  const cut = path.lastIndexOf('/');
  const dir = cut <= 0 ? path.slice(0, cut + 1) || '.' : path.slice(0, cut);
  let seen = swept.get(fs);
  if (!seen) swept.set(fs, (seen = new Set()));
  if (seen.has(dir)) return;
  if (seen.size >= SWEPT_MAX) seen.clear();
  seen.add(dir);
  await sweepTemps(fs, dir).catch(() => undefined);
}

/** Only "missing" means absent: a failed stat (EACCES, a dropped connection) is not a "no". */
export async function pathExists(fs: FsAdapter, path: string): Promise<boolean> {
  try {
    await fs.promises.stat(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

/**
 * Fills a hidden sibling of `dest` with `fill(temp)`, then renames it over `dest`.
 * - A failure anywhere (the fill, the rename) removes the sibling; `dest` stays absent or as it was.
 * - With `exclusive`, an existing `dest` is EEXIST, checked before the fill and again just before the
 *   rename (a writer racing in between those two checks and the rename can still be replaced: local
 *   file systems have no create-only rename in the fs API).
 * - Errors are the underlying ones (they may name the sibling): callers relabel them.
 * - The first such write into a directory in this process reclaims abandoned siblings there.
 * - An aborted `signal` stops it before the fill, and after it: nothing is renamed into place.
 */
export async function writeThroughTemp(
  fs: FsAdapter,
  dest: string,
  fill: (temp: string) => Promise<void>,
  options: { exclusive?: boolean; syscall?: string; signal?: AbortSignal | undefined } = {},
): Promise<void> {
  const exists = (): Error => fsError('EEXIST', { syscall: options.syscall ?? 'open', path: dest });
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal, { syscall: options.syscall, path: dest });
  if (options.exclusive && (await pathExists(fs, dest))) throw exists();
  await reclaimOnce(fs, dest);
  const temp = tempSibling(dest);
  try {
    await fill(temp);
    // A fill that cannot stop midway (node:fs copyFile) is still not committed once aborted.
    if (signal?.aborted) throw abortError(signal, { syscall: options.syscall, path: dest });
    if (options.exclusive && (await pathExists(fs, dest))) throw exists();
    await fs.promises.rename(temp, dest);
  } catch (err) {
    await fs.promises.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}
