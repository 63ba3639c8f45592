/**
 * A throwaway single-node Ceph cluster serving S3 through radosgw, for tests: one mon, one OSD on
 * memstore (RAM, nothing on disk but logs), one radosgw (beast) on 127.0.0.1 with random ports.
 *
 * Everything lives in a private `mkdtemp` dir (its own ceph.conf, fsid, mon/osd/rgw data, logs);
 * nothing touches the host's Ceph configuration. auth is `none` between the daemons; S3 requests
 * are still signed and checked against the user this creates.
 *
 * The daemons run in their own process group under a small `sh` keeper that reads launch commands
 * from its stdin. When stdin closes — `stop()`, or this Node process dying in any way, even by
 * SIGKILL — the keeper kills the daemons, reaps them and removes the temp dir. A process 'exit'
 * handler also kills the whole group as a second line of defence.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { createBucketVia, s3Client, type S3Server } from './s3-server.js';

/** What installs every binary used here (on Debian 12 that is Ceph 16.2 "pacific"). */
export const RADOSGW_INSTALL =
  'apt-get update && apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd';

/** radosgw, ceph-mon, ceph-osd; radosgw-admin (ceph-common); monmaptool, osdmaptool (ceph-base). */
const BINARIES = ['radosgw', 'ceph-mon', 'ceph-osd', 'radosgw-admin', 'monmaptool', 'osdmaptool'];

const ACCESS_KEY = 'avfs-test-access';
const SECRET_KEY = 'avfs-test-secret-key';
const REGION = 'us-east-1';
/** Whole start-up budget; a healthy start takes about a second. */
const START_TIMEOUT_MS = 45_000;

function onPath(bin: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      // not in this dir
    }
  }
  return false;
}

/** Why radosgw tests cannot run here, or undefined when every binary is installed. Synchronous and cheap. */
export function radosgwSkipReason(): string | undefined {
  const missing = BINARIES.filter((b) => !onPath(b));
  if (missing.length === 0) return undefined;
  return `Ceph radosgw is not installed (${missing.join(', ')} not on PATH); install it with: ${RADOSGW_INSTALL}`;
}

/**
 * The keeper. Each stdin line is a shell-quoted command; it is started in the background (in this
 * process group) and its pid is echoed. At EOF the daemons are killed, reaped, and `$1` removed.
 */
const KEEPER = `
trap '' PIPE
dir=$1
pids=
while IFS= read -r cmd; do
  eval "trap - PIPE; exec $cmd" &
  pids="$pids $!"
  echo "$!"
done
[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
wait
rm -rf "$dir"
`;

interface Cluster {
  dir: string;
  keeper: ChildProcess;
}

const live = new Set<Cluster>();
let exitHookInstalled = false;

function killGroupSync(c: Cluster): void {
  const pid = c.keeper.pid;
  if (pid !== undefined) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // group already gone
    }
  }
  try {
    rmSync(c.dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // a daemon still dying may be writing its log; the keeper's own cleanup is gone, nothing more to do
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) killGroupSync(c);
    live.clear();
  });
}

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function cephEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.CEPH_ARGS;
  delete env.CEPH_CONF;
  return env;
}

function run(bin: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      { env: cephEnv(), timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed
            ? `timed out after ${timeoutMs} ms`
            : `failed (${err.message.split('\n')[0]})`;
          reject(new Error(`${bin} ${args.join(' ')} ${why}\n${String(stderr).trim()}`));
        } else resolve(String(stdout));
      },
    );
  });
}

/** False once the process is gone or a zombie (exited, not yet reaped by the keeper). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The last lines of every non-empty log: daemons' stdout/stderr (`*.out`, where asserts land) first. */
function logTails(dir: string, lines = 25): string {
  const logDir = join(dir, 'log');
  let names: string[];
  try {
    names = readdirSync(logDir).sort(
      (a, b) => Number(b.endsWith('.out')) - Number(a.endsWith('.out')) || a.localeCompare(b),
    );
  } catch {
    return '(no logs)';
  }
  const out: string[] = [];
  for (const name of names) {
    let text: string;
    try {
      text = readFileSync(join(logDir, name), 'utf8');
    } catch {
      continue;
    }
    if (!text.trim()) continue;
    const tail = text
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
    out.push(`--- ${name} (last ${tail.length} lines)\n${tail.join('\n')}`);
  }
  return out.length ? out.join('\n') : '(no logs)';
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = ${dir}/keyring
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.$pid.asok
# one OSD: pools of size 1, few PGs, no autoscaler (there is no mgr)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# do not refuse to start on a nearly full temp disk (data is in RAM anyway)
mon data avail crit = 0
mon data avail warn = 0
# propose map changes at once instead of batching them for 1 s: radosgw creates its pools one by
# one, and start-up went from ~11 s to ~1 s
paxos propose interval = 0.01
paxos min wait = 0.001
# a client whose first op finds no OSD up asks for a newer map only on its objecter tick (5 s):
# half of all start-ups waited ~5 s for that
objecter tick interval = 0.1
mon data = ${dir}/mon/$name
osd data = ${dir}/osd/$name
osd objectstore = memstore
memstore device bytes = 2147483648
rgw data = ${dir}/rgw/$name

[client.rgw]
# radosgw defaults this to "secure", which auth "none" cannot provide: it would never reach the mon
ms mon client mode = crc secure
# without tcp_nodelay every request waits ~45 ms for delayed ACKs
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
`;
}

export async function startRadosgw(): Promise<S3Server | { skipped: string }> {
  const skip = radosgwSkipReason();
  if (skip) return { skipped: skip };

  const started = Date.now();
  const deadline = started + START_TIMEOUT_MS;
  const left = (cap: number) => Math.max(1000, Math.min(cap, deadline - Date.now()));

  const dir = mkdtempSync(join(tmpdir(), 'avfs-radosgw-'));
  for (const sub of ['log', 'run', 'mon', 'osd/osd.0', 'rgw']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'keyring'), '');
  const conf = join(dir, 'ceph.conf');
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  writeFileSync(conf, cephConf(dir, fsid, monPort, rgwPort));

  const keeper = spawn('sh', ['-c', KEEPER, 'avfs-radosgw-keeper', dir], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: cephEnv(),
  });
  const cluster: Cluster = { dir, keeper };
  live.add(cluster);
  installExitHook();
  // Neither the keeper nor its pipes keep the test process alive; if it exits without stop(),
  // the 'exit' hook (or the keeper, seeing stdin close) cleans up.
  keeper.unref();
  for (const s of [keeper.stdin, keeper.stdout, keeper.stderr]) (s as unknown as Socket | null)?.unref();
  let keeperStderr = '';
  keeper.stderr?.on('data', (d: Buffer) => (keeperStderr += d.toString()));
  keeper.stdin?.on('error', () => {});
  const keeperExited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));

  // launch(): one line to the keeper, one pid back. (A background job of a non-interactive shell
  // gets an empty stdin by POSIX, so the daemons never hold the keeper's pipe.)
  const pidWaiters: { resolve: (pid: number) => void; reject: (err: Error) => void }[] = [];
  createInterface({ input: keeper.stdout! }).on('line', (line) => pidWaiters.shift()?.resolve(Number(line)));
  keeper.once('exit', (code, signal) => {
    for (const w of pidWaiters.splice(0)) w.reject(new Error(`the keeper shell exited (${signal ?? code})`));
  });
  const daemons = new Map<string, number>();
  const launch = (name: string, bin: string, args: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      pidWaiters.push({
        resolve: (pid) => {
          daemons.set(name, pid);
          resolve();
        },
        reject,
      });
      const redirect = `>${quote(join(dir, 'log', `${name}.out`))} 2>&1`;
      keeper.stdin!.write(`${[bin, ...args].map(quote).join(' ')} ${redirect}\n`);
    });
  const dead = () => [...daemons].filter(([, pid]) => !alive(pid)).map(([name]) => name);
  /** Rejects as soon as a launched daemon exits, so a crash does not wait out a step's timeout. */
  let watch: ReturnType<typeof setInterval> | undefined;
  const crashed = new Promise<never>((_, reject) => {
    watch = setInterval(() => {
      const gone = dead();
      if (gone.length) reject(new Error(`daemon exited: ${gone.join(', ')}`));
    }, 100);
    watch.unref();
  });
  crashed.catch(() => {}); // observed through Promise.race below

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      live.delete(cluster);
      keeper.stdin?.end();
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
      if (keeper.exitCode === null && keeper.signalCode === null) {
        if ((await Promise.race([keeperExited, timer])) === 'timeout') killGroupSync(cluster);
      }
      killGroupSync(cluster); // whatever is left of the group; removes the dir if the keeper did not
    })());

  const fail = async (err: unknown): Promise<never> => {
    const msg = err instanceof Error ? err.message : String(err);
    const gone = dead();
    const tails = logTails(dir);
    await stop();
    throw new Error(
      `radosgw did not come up after ${Date.now() - started} ms: ${msg}` +
        (gone.length ? `\nexited: ${gone.join(', ')}` : '') +
        (keeperStderr ? `\nkeeper: ${keeperStderr.trim()}` : '') +
        `\n${tails}`,
    );
  };

  const c = ['--conf', conf];
  try {
    // The mon store is made from a monmap (a fixed v2 address) and an osdmap that already holds
    // osd.0, so no `ceph osd new` round trip is needed; the OSD's memstore needs no mon at all.
    await Promise.all([
      (async () => {
        await Promise.all([
          run(
            'monmaptool',
            ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')],
            left(10_000),
          ),
          run('osdmaptool', [...c, '--createsimple', '1', '--fsid', fsid, join(dir, 'osdmap')], left(10_000)),
        ]);
        await run(
          'ceph-mon',
          [...c, '-i', 'a', '--mkfs', '--monmap', join(dir, 'monmap'), '--osdmap', join(dir, 'osdmap')],
          left(15_000),
        );
      })(),
      run(
        'ceph-osd',
        [...c, '-i', '0', '--mkfs', '--no-mon-config', '--osd-uuid', randomUUID()],
        left(15_000),
      ),
    ]);
    await launch('mon', 'ceph-mon', [...c, '-i', 'a', '-f']);
    await launch('osd', 'ceph-osd', [...c, '-i', '0', '-f']);

    // radosgw and radosgw-admin wait for the OSD, create rgw's pools, then the user
    await launch('rgw', 'radosgw', [...c, '-n', 'client.rgw', '-f']);
    const userCreate = run(
      'radosgw-admin',
      [
        ...c,
        'user',
        'create',
        '--uid=avfs-test',
        '--display-name=artifact-vfs tests',
        `--access-key=${ACCESS_KEY}`,
        `--secret-key=${SECRET_KEY}`,
      ],
      left(30_000),
    );
    await Promise.race([userCreate, crashed]);
  } catch (err) {
    clearInterval(watch);
    return fail(err);
  }

  let stopped = false;
  const server: S3Server = {
    name: 'radosgw',
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region: REGION,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    forcePathStyle: true,
    // Measured against radosgw 16.2.15 (see emulators.test.ts): UploadPartCopy, If-None-Match: *
    // and ListMultipartUploads work; x-amz-checksum-* is neither checked nor returned, so a wrong
    // checksum is accepted.
    features: { uploadPartCopy: true, ifNoneMatch: true, listMultipartUploads: true, checksums: false },
    createBucket: (name) => createBucketVia(server, name),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stop();
    },
  };

  // ready when a signed S3 request succeeds
  const client = s3Client(server, { requestHandler: { connectionTimeout: 1000, requestTimeout: 5000 } });
  try {
    let lastErr: unknown;
    while (true) {
      const gone = dead();
      if (gone.length)
        throw new Error(`daemon exited: ${gone.join(', ')}; last S3 error: ${String(lastErr)}`);
      if (Date.now() > deadline)
        throw new Error(`no S3 answer within ${START_TIMEOUT_MS} ms: ${String(lastErr)}`);
      try {
        await client.send(new ListBucketsCommand({}));
        break;
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } catch (err) {
    return fail(err);
  } finally {
    clearInterval(watch);
    client.destroy();
  }
  return server;
}
