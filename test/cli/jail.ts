/**
 * Runs the built `avfs` inside a throwaway root: a private mount namespace (`unshare -m`) whose
 * chroot is a scratch directory holding read-only bind mounts of /usr, /etc and the repository.
 * A destructive command tested there (`avfs rm -r /`) can at worst empty the scratch directory:
 * everything else it sees is read-only, and the mounts vanish with the namespace. Needs root and
 * mount namespaces; `jailSkipReason()` says why not, for a visible skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MAIN, ROOT, type RunResult } from './helpers.js';

let reason: string | undefined | null = null;

export function jailSkipReason(): string | undefined {
  if (reason !== null) return reason;
  if (process.platform !== 'linux' || process.getuid?.() !== 0)
    return (reason = 'needs root on Linux (mount namespaces)');
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt && umount /mnt'], {
    stdio: 'ignore',
  });
  reason = probe.status === 0 ? undefined : 'unshare -m with mount is not permitted here';
  return reason;
}

const SETUP = String.raw`
set -eu
J="$1"; REPO="$2"; shift 2
for d in usr etc; do mkdir -p "$J/$d"; mount --bind "/$d" "$J/$d"; mount -o remount,bind,ro "$J/$d"; done
mkdir -p "$J$REPO"; mount --bind "$REPO" "$J$REPO"; mount -o remount,bind,ro "$J$REPO"
for l in bin lib lib64; do [ -L "$J/$l" ] || ln -s "usr/$l" "$J/$l"; done
mkdir -p "$J/cfg" "$J/scratch" "$J/tmp"
exec chroot "$J" "$@"
`;

export interface Jail {
  /** The jail's root as seen from outside (for checks on what is left in it). */
  dir: string;
  /** `avfs ARGS` inside the jail, config dir /cfg; `shell` runs it through `sh -c` (for `~`). */
  avfs(args: string[], options?: { env?: Record<string, string>; shell?: boolean }): Promise<RunResult>;
  close(): Promise<void>;
}

export async function createJail(): Promise<Jail> {
  const dir = await mkdtemp(path.join(tmpdir(), 'avfs-jail-'));
  await mkdir(dir, { recursive: true });
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    dir,
    avfs(args, options = {}) {
      const cmd = options.shell
        ? ['sh', '-c', `exec ${quote(process.execPath)} ${quote(MAIN)} ${args.join(' ')}`]
        : [process.execPath, MAIN, ...args];
      return new Promise((resolve, reject) => {
        const child = spawn('unshare', ['-m', 'sh', '-c', SETUP, 'setup', dir, ROOT, ...cmd], {
          env: {
            PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
            HOME: '/scratch',
            ARTIFACT_VFS_CONFIG_DIR: '/cfg',
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
            ...options.env,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.on('error', reject);
        child.on('close', (code) =>
          resolve({
            code: code ?? -1,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          }),
        );
      });
    },
    async close() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
