/**
 * What every benchmark harness shares: a harness runs each transfer in a fresh client
 * process (`runClient`), and a client prints exactly one JSON line and exits (`clientMain`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

/** What every client line carries, whatever else a benchmark adds. */
export interface ClientLine {
  target: string;
  direction: string;
  error?: string | undefined;
}

/**
 * Runs `node <args…>` and parses the last line it printed as the result. The output kept is
 * bounded (the last 64 KiB of each stream); a client that runs past `timeoutMs` is killed, and a
 * missing or unparsable line becomes an `error` result naming the exit and the last stderr lines.
 */
export async function runClient<R extends ClientLine>(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs: number; target: string; direction: string },
): Promise<{ result: R; stderr: string; wallSeconds: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(-65536)));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-65536)));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  const [code, signal] = (await once(child, 'close')) as [number | null, string | null];
  clearTimeout(timer);
  const wallSeconds = (performance.now() - t0) / 1000;
  const line = stdout.trim().split('\n').pop() ?? '';
  let result: R;
  try {
    result = JSON.parse(line) as R;
  } catch {
    const why = timedOut
      ? `timed out after ${Math.round(options.timeoutMs / 1000)} s`
      : `exit ${code ?? signal}`;
    result = {
      target: options.target,
      direction: options.direction,
      error: `${why}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
    } as R;
  }
  return { result, stderr: stderr.trim(), wallSeconds };
}

/**
 * A client's entry point: parses its arguments, measures, prints the one JSON line and exits once
 * it is flushed (lingering keep-alive sockets or native threads must not keep the harness
 * waiting). A failure prints an `error` line and exits 1.
 */
export function clientMain<A extends { target: string; direction: string }>(
  parse: () => A,
  measure: (args: A) => Promise<ClientLine>,
): void {
  const emit = (result: ClientLine, code: number): void => {
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
  };
  let args: A | undefined;
  (async () => {
    args = parse();
    emit(await measure(args), 0);
  })().catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    emit(
      {
        target: args?.target ?? '?',
        direction: args?.direction ?? '?',
        error: `${e?.name}: ${e?.message}${e?.code ? ` (${e.code})` : ''}`,
      },
      1,
    );
  });
}

/** The repository root (the directory whose package.json is artifact-vfs), else the cwd. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    const pkg = join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'artifact-vfs'
    )
      return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

/** The installed version of a package, or `not installed`. */
export function packageVersion(root: string, name: string): string {
  try {
    return (
      JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'not installed';
  }
}

export function median(xs: number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

/** `xs` rotated left by `by`: each round starts with another target, so drift favours none. */
export function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = xs.length === 0 ? 0 : by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** The machine a result was measured on (stored with every result file). */
export function machineInfo(): {
  cpuModel: string;
  cores: number;
  totalMemGiB: number;
  node: string;
  platform: string;
  loadavg: number[];
} {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    totalMemGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg(),
  };
}

/**
 * `--name value` flags of a client's argv, with the target (one of `targets`) and the direction
 * checked.
 */
export function clientFlags<T extends string>(
  argv: string[],
  targets: readonly T[],
): { get(name: string): string | undefined; target: T; direction: 'up' | 'down' } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i === -1 ? undefined : argv[i + 1];
  };
  const target = get('target') as T;
  const direction = get('direction');
  if (!targets.includes(target)) throw new Error(`--target must be one of ${targets.join(', ')}`);
  if (direction !== 'up' && direction !== 'down') throw new Error('--direction must be up or down');
  return { get, target, direction };
}

/** What a harness measured of one transfer, as far as the summary needs it. */
export interface MeasuredRun {
  mibPerSec?: number | undefined;
  cpuSecondsPerGiB?: number | undefined;
  peakRssMiB?: number | undefined;
  serverCpuSeconds?: number | undefined;
}

/**
 * The summary figures of the successful runs of one target, direction and size: median MiB/s
 * (and its range), median client CPU s/GiB, the highest peak RSS, and the median server CPU s/GiB.
 */
export function runStats(
  ok: MeasuredRun[],
  size: number,
): {
  mibPerSec?: number | undefined;
  mibPerSecMin?: number;
  mibPerSecMax?: number;
  cpuSecondsPerGiB?: number | undefined;
  peakRssMiB?: number;
  serverCpuSecondsPerGiB?: number | undefined;
} {
  if (ok.length === 0) return {};
  const speeds = ok.map((m) => m.mibPerSec!);
  return {
    mibPerSec: median(speeds),
    mibPerSecMin: Math.min(...speeds),
    mibPerSecMax: Math.max(...speeds),
    cpuSecondsPerGiB: median(ok.map((m) => m.cpuSecondsPerGiB!)),
    peakRssMiB: Math.max(...ok.map((m) => m.peakRssMiB!)),
    serverCpuSecondsPerGiB: median(ok.map((m) => (m.serverCpuSeconds ?? 0) / (size / 2 ** 30))),
  };
}

/** How the runs of one target, direction and size ended, beyond the successful ones. */
export function runOutcome(
  runs: { ok: boolean; skipped?: string | undefined; error?: string | undefined }[],
): { skipped?: string; errors?: string[] } {
  const errors = [...new Set(runs.filter((m) => !m.ok && m.error).map((m) => m.error!))];
  return {
    ...(runs.length > 0 && runs.every((m) => m.skipped) ? { skipped: runs[0]!.skipped! } : {}),
    ...(errors.length ? { errors } : {}),
  };
}

/** A figure for a table: `digits` decimals, or a dash when there is none. */
export const fmt = (x: number | undefined, digits: number): string =>
  x === undefined ? '–' : x.toFixed(digits);
