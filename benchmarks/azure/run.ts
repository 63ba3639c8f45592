/**
 * The Azure streaming benchmark: the azure flavor against the raw SDK, both uploading and
 * downloading `size` bytes to the same azurite (in memory, in its own process) in the same run.
 * Each transfer runs in a fresh child process (client.ts), so CPU and peak RSS are the client's own.
 *
 *   npm run bench:azure -- [--sizes 1GiB,4GiB] [--rounds 5] [--targets sdk,sdk-single,avfs]
 *                          [--directions up,down] [--block-size 16MiB] [--concurrency 4] [--out DIR]
 *
 * Downloads of every target read the blob the `avfs` target uploaded (so the flavor's CRC32 check
 * runs on its full reads, as it does for its users); the harness seeds it if that upload failed.
 * Ratios are to `sdk` of the same size, direction and round.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { startAzurite, type Azurite } from '../../test/emulators/azurite.js';
import { formatSize, GiB, MiB, parseSize, payloadSource } from '../s3/payload.js';
import type { ClientResult } from '../s3/protocol.js';
import { AZURE_TARGETS, type AzureTarget } from './protocol.js';
import {
  fmt,
  machineInfo,
  median,
  packageVersion,
  repoRoot,
  rotate,
  runClient,
  runOutcome,
  runStats,
} from '../common.js';

const CONTAINER = 'bench';
const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url));
type Direction = 'up' | 'down';

interface Options {
  sizes: number[];
  rounds: number;
  targets: AzureTarget[];
  directions: Direction[];
  blockSize: number;
  concurrency: number;
  outDir: string;
}

interface Measurement extends ClientResult {
  size: number;
  round: number;
  blob: string;
  ok: boolean;
  mibPerSec?: number;
  cpuSecondsPerGiB?: number;
  /** CPU azurite spent during the transfer (from /proc, Linux only). */
  serverCpuSeconds?: number;
  wallSeconds: number;
  stderr?: string;
}

interface SummaryRow {
  target: AzureTarget;
  direction: Direction;
  size: number;
  runs: number;
  ok: number;
  mibPerSec?: number;
  mibPerSecMin?: number;
  mibPerSecMax?: number;
  ratioToSdk?: number;
  cpuSecondsPerGiB?: number;
  peakRssMiB?: number;
  serverCpuSecondsPerGiB?: number;
  skipped?: string;
  errors?: string[];
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    sizes: [GiB, 4 * GiB],
    rounds: 5,
    targets: [...AZURE_TARGETS],
    directions: ['up', 'down'],
    blockSize: 16 * MiB,
    concurrency: 4,
    outDir: join(repoRoot(), 'benchmarks', 'results'),
  };
  const list = (v: string) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
      process.exit(0);
    } else if (a === '--sizes') o.sizes = list(value()).map(parseSize);
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--targets') o.targets = list(value()) as AzureTarget[];
    else if (a === '--directions') o.directions = list(value()) as Direction[];
    else if (a === '--block-size') o.blockSize = parseSize(value());
    else if (a === '--concurrency') o.concurrency = Number(value());
    else if (a === '--out') o.outDir = value();
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 100)
    throw new Error('--rounds must be 1..100');
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error('--concurrency must be ≥ 1');
  for (const t of o.targets) if (!AZURE_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
  for (const d of o.directions) if (d !== 'up' && d !== 'down') throw new Error(`unknown direction ${d}`);
  // sdk is the yardstick: always measured, always first.
  o.targets = ['sdk', ...o.targets.filter((t) => t !== 'sdk')];
  return o;
}

/** User + system CPU seconds of a process, from /proc (undefined elsewhere). */
function processCpu(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

async function spawnClient(
  azurite: Azurite,
  o: Options,
  target: AzureTarget,
  direction: Direction,
  size: number,
  blob: string,
): Promise<{ result: ClientResult; stderr: string; wallSeconds: number }> {
  const args = [
    CLIENT,
    ...['--target', target, '--direction', direction, '--size', String(size)],
    ...['--endpoint', azurite.endpoint, '--account', azurite.accountName, '--container', CONTAINER],
    ...['--blob', blob, '--block-size', String(o.blockSize), '--concurrency', String(o.concurrency)],
  ];
  return runClient<ClientResult>(args, {
    env: { ...process.env, AZURE_BENCH_KEY: azurite.accountKey },
    timeoutMs: 60_000 + (size / (8 * MiB)) * 1000,
    target,
    direction,
  });
}

async function seed(container: ContainerClient, blob: string, size: number, o: Options): Promise<void> {
  await container.getBlockBlobClient(blob).uploadStream(payloadSource(size), o.blockSize, o.concurrency);
}

async function measure(
  azurite: Azurite,
  container: ContainerClient,
  o: Options,
  round: number,
  target: AzureTarget,
  direction: Direction,
  size: number,
): Promise<Measurement> {
  // Downloads all read the blob the flavor wrote; uploads write their own.
  const blob = direction === 'down' ? `avfs-${size}` : `${target}-${size}`;
  if (direction === 'down') {
    const props = await container
      .getBlockBlobClient(blob)
      .getProperties()
      .catch(() => undefined);
    if (props?.contentLength !== size) await seed(container, blob, size, o);
  }
  const cpuBefore = processCpu(azurite.pid);
  const { result, stderr, wallSeconds } = await spawnClient(azurite, o, target, direction, size, blob);
  const cpuAfter = processCpu(azurite.pid);
  const m: Measurement = {
    ...result,
    size,
    round,
    blob,
    ok: result.error === undefined && result.skipped === undefined && result.bytes === size,
    wallSeconds,
    ...(cpuBefore !== undefined && cpuAfter !== undefined ? { serverCpuSeconds: cpuAfter - cpuBefore } : {}),
    ...(stderr ? { stderr: stderr.slice(0, 4000) } : {}),
  };
  if (m.ok && direction === 'up') {
    const props = await container.getBlockBlobClient(blob).getProperties();
    if (props.contentLength !== size) {
      m.ok = false;
      m.error = `azurite holds ${props.contentLength} bytes for ${blob}, the client sent ${size}`;
    }
    // Only the flavor's blob is kept (downloads read it); azurite holds blobs in RAM.
    if (target !== 'avfs') await container.getBlockBlobClient(blob).deleteIfExists();
  }
  if (m.ok && m.seconds && m.bytes) {
    m.mibPerSec = m.bytes / MiB / m.seconds;
    m.cpuSecondsPerGiB = (m.cpuSeconds ?? 0) / (m.bytes / GiB);
  }
  const what = `[r${round} ${formatSize(size)}] ${target} ${direction}`;
  if (m.skipped) log(`${what}: skipped (${m.skipped})`);
  else if (!m.ok) log(`${what}: FAILED ${m.error ?? ''}`);
  else
    log(
      `${what}: ${m.mibPerSec!.toFixed(0)} MiB/s, CPU ${m.cpuSecondsPerGiB!.toFixed(2)} s/GiB, ` +
        `peak RSS ${m.peakRssMiB!.toFixed(0)} MiB, azurite CPU ${((m.serverCpuSeconds ?? 0) / (size / GiB)).toFixed(2)} s/GiB`,
    );
  return m;
}

function ratioFor(m: Measurement, all: Measurement[]): number | undefined {
  const base = all.find(
    (r) =>
      r.target === 'sdk' && r.ok && r.round === m.round && r.size === m.size && r.direction === m.direction,
  );
  return base && m.mibPerSec ? m.mibPerSec / base.mibPerSec! : undefined;
}

function summarize(o: Options, ms: Measurement[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const size of o.sizes) {
    for (const direction of o.directions) {
      for (const target of o.targets) {
        const runs = ms.filter((m) => m.size === size && m.target === target && m.direction === direction);
        if (runs.length === 0) continue;
        const ok = runs.filter((m) => m.ok);
        rows.push({
          target,
          direction,
          size,
          runs: runs.length,
          ok: ok.length,
          ...runStats(ok, size),
          ...(ok.length
            ? {
                ratioToSdk: median(
                  ok.map((m) => ratioFor(m, ms)).filter((x): x is number => x !== undefined),
                ),
              }
            : {}),
          ...runOutcome(runs),
        });
      }
    }
  }
  return rows;
}

function markdownTable(rows: SummaryRow[]): string {
  const lines = [
    '| target | direction | size | MiB/s (min–max) | ratio to sdk | client CPU s/GiB | azurite CPU s/GiB | peak RSS MiB | ok runs |',
    '| --- | --- | --- | --: | --: | --: | --: | --: | --: |',
  ];
  for (const r of rows) {
    if (r.skipped) continue;
    lines.push(
      `| ${r.target} | ${r.direction} | ${formatSize(r.size)} | ${fmt(r.mibPerSec, 0)} (${fmt(r.mibPerSecMin, 0)}–${fmt(r.mibPerSecMax, 0)}) | ` +
        `${r.ratioToSdk === undefined ? '–' : `${r.ratioToSdk.toFixed(2)}x`} | ${fmt(r.cpuSecondsPerGiB, 2)} | ` +
        `${fmt(r.serverCpuSecondsPerGiB, 2)} | ${fmt(r.peakRssMiB, 0)} | ${r.ok}/${r.runs} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const command = `npm run bench:azure${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(
    `Azure benchmark: ${machine.cpuModel} × ${machine.cores}, ${machine.totalMemGiB} GiB, Node ${machine.node}`,
  );
  // A fresh in-memory azurite for every round: it frees the extents of deleted and overwritten
  // blobs lazily, and at 4 GiB a few rounds would reach its memory-store limit (half the RAM).
  let azurite: Azurite | undefined;
  const fresh = async () => {
    await azurite?.stop();
    azurite = await startAzurite();
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient(CONTAINER);
    await container.createIfNotExists();
    return { azurite, container };
  };
  try {
    const measurements: Measurement[] = [];
    for (const size of o.sizes) {
      for (let round = 1; round <= o.rounds; round++) {
        const { azurite: server, container } = await fresh();
        if (round === 1) log(`azurite: ${server.endpoint} (pid ${server.pid}), restarted every round`);
        for (const direction of o.directions) {
          // The order rotates each round so slow drift of the machine favours no target.
          for (const target of rotate(o.targets, round - 1)) {
            measurements.push(await measure(server, container, o, round, target, direction, size));
          }
        }
      }
    }
    const summary = summarize(o, measurements);
    const root = repoRoot();
    const seconds = (performance.now() - t0) / 1000;
    const versions = {
      '@azure/storage-blob': packageVersion(root, '@azure/storage-blob'),
      azurite: packageVersion(root, 'azurite'),
    };
    const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-') + 'Z';
    mkdirSync(o.outDir, { recursive: true });
    const jsonPath = join(o.outDir, `azure-${stamp}.json`);
    const mdPath = join(o.outDir, 'azure-latest.md');
    writeFileSync(
      jsonPath,
      JSON.stringify(
        {
          benchmark: 'azure',
          started: started.toISOString(),
          durationSeconds: Number(seconds.toFixed(1)),
          command,
          machine,
          versions,
          options: { ...o, outDir: undefined },
          summary,
          measurements,
        },
        null,
        2,
      ) + '\n',
    );
    const table = markdownTable(summary);
    const failures = summary.filter((r) => r.errors?.length);
    const md = [
      '# Azure streaming benchmark',
      '',
      `${started.toISOString()} · ${machine.cpuModel} × ${machine.cores} cores · ${machine.totalMemGiB} GiB · ` +
        `Node ${machine.node} · ${machine.platform}`,
      '',
      `Command: \`${command}\` (${o.rounds} round(s), ${(seconds / 60).toFixed(1)} min). Versions: ` +
        `${Object.entries(versions)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}. Block/range size ${formatSize(o.blockSize)}, concurrency ${o.concurrency} for ` +
        `every target. Raw data: \`${relative(root, jsonPath)}\`.`,
      '',
      table,
      '',
      '`sdk` is the raw SDK as its user would write it: `uploadStream(stream, blockSize, concurrency)` up; ' +
        '`download(offset, count)` ranges in flight, each collected and handed on in order, down. ' +
        '`sdk-single` is one streaming `download()`. `avfs` is the azure flavor (CRC32 computed on upload ' +
        'and verified on the full download). All downloads read the same blob.',
      '',
      'MiB/s and CPU are medians over the rounds; "ratio to sdk" is the median of per-round ratios; peak ' +
        'RSS is the largest client-process peak RSS (VmHWM). azurite runs in its own process (in memory); its CPU is ' +
        'shown apart.',
      '',
      ...failures.map(
        (r) => `- ${r.target} ${r.direction} ${formatSize(r.size)} failures: ${r.errors!.join(' / ')}`,
      ),
      '',
    ].join('\n');
    writeFileSync(mdPath, md);
    console.log(table);
    log(
      `\nwrote ${relative(process.cwd(), jsonPath)} and ${relative(process.cwd(), mdPath)} (${seconds.toFixed(0)} s)`,
    );
    if (failures.length) process.exitCode = 1;
  } finally {
    await azurite?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
