/**
 * The GCS streaming benchmark: the gcs flavor against the raw SDK's best streaming calls
 * (`file.createWriteStream` / `file.createReadStream`), uploading and downloading `size` bytes
 * through the GCS emulator in discard mode (its own process: bytes checked against the payload,
 * CRC32C-hashed, dropped). Each transfer runs in a fresh child process; targets take turns first
 * from round to round. Reported: median MiB/s, client CPU s/GiB, peak RSS, and the median of the
 * per-round ratios to the SDK (same size, direction and round).
 *
 *   npm run bench:gcs -- [--sizes 1GiB,4GiB] [--rounds 5] [--targets sdk,avfs] [--directions up,down]
 *                        [--out DIR]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Storage } from '@google-cloud/storage';
import { formatSize, GiB, MiB, parseSize } from '../s3/payload.js';
import { startEmulatorProcess } from './emulator-process.js';
import { GCS_TARGETS, type GcsClientArgs, type GcsClientResult, type GcsTarget } from './protocol.js';
import { machineInfo, median, repoRoot, runClient } from '../common.js';

const BUCKET = 'bench';
const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url));

interface Options {
  sizes: number[];
  rounds: number;
  targets: GcsTarget[];
  directions: ('up' | 'down')[];
  outDir: string;
}

interface Measurement extends GcsClientResult {
  size: number;
  round: number;
  ok: boolean;
  mibPerSec?: number;
  cpuSecondsPerGiB?: number;
  serverCpuSeconds?: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    sizes: [GiB, 4 * GiB],
    rounds: 5,
    targets: [...GCS_TARGETS],
    directions: ['up', 'down'],
    outDir: join(repoRoot(), 'benchmarks', 'results'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--sizes') o.sizes = value().split(',').map(parseSize);
    else if (flag === '--rounds') o.rounds = Math.max(1, Number.parseInt(value(), 10));
    else if (flag === '--targets') {
      o.targets = value().split(',') as GcsTarget[];
      for (const t of o.targets) if (!GCS_TARGETS.includes(t)) throw new Error(`unknown target '${t}'`);
    } else if (flag === '--directions') o.directions = value().split(',') as ('up' | 'down')[];
    else if (flag === '--out') o.outDir = value();
    else throw new Error(`unknown flag ${flag} (see the header of benchmarks/gcs/run.ts)`);
  }
  return o;
}

const fmt = (x: number | undefined, d: number): string => (x === undefined ? '–' : x.toFixed(d));

async function spawnClient(args: GcsClientArgs): Promise<GcsClientResult> {
  // Generous but bounded: 60 s of setup plus 8 MiB/s (the SDK streams at ~250 MiB/s here).
  const timeoutMs = 60_000 + (args.size / (8 * 1024 * 1024)) * 1000;
  const { result } = await runClient<GcsClientResult>([CLIENT, JSON.stringify(args)], {
    timeoutMs,
    target: args.target,
    direction: args.direction,
  });
  return result;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const emu = await startEmulatorProcess();
  await new Storage({ apiEndpoint: emu.endpoint, projectId: emu.projectId }).createBucket(BUCKET);
  const measurements: Measurement[] = [];
  try {
    for (const size of o.sizes) {
      if (!o.directions.includes('up')) {
        // downloads only: each target's object is uploaded once, unmeasured (the emulator keeps none)
        for (const target of o.targets) {
          const key = `${target}-${formatSize(size)}.bin`;
          const r = await spawnClient({
            target,
            direction: 'up',
            size,
            endpoint: emu.endpoint,
            projectId: emu.projectId,
            bucket: BUCKET,
            key,
          });
          if (r.error) throw new Error(`seeding ${key} failed: ${r.error}`);
        }
      }
      for (let round = 1; round <= o.rounds; round++) {
        for (const direction of o.directions) {
          const order = o.targets.map((_, i) => o.targets[(i + round - 1) % o.targets.length]!);
          for (const target of order) {
            const key = `${target}-${formatSize(size)}.bin`;
            const before = await emu.stats();
            const r = await spawnClient({
              target,
              direction,
              size,
              endpoint: emu.endpoint,
              projectId: emu.projectId,
              bucket: BUCKET,
              key,
            });
            const after = await emu.stats();
            const ok = r.error === undefined && r.bytes === size;
            const m: Measurement = {
              ...r,
              size,
              round,
              ok,
              serverCpuSeconds: after.cpuSeconds - before.cpuSeconds,
            };
            if (ok && r.seconds) {
              m.mibPerSec = size / MiB / r.seconds;
              m.cpuSecondsPerGiB = (r.cpuSeconds ?? 0) / (size / GiB);
            }
            measurements.push(m);
            console.log(
              `${formatSize(size)} ${direction} round ${round} ${target}: ${ok ? `${fmt(m.mibPerSec, 0)} MiB/s, ${fmt(m.cpuSecondsPerGiB, 2)} CPU s/GiB, peak RSS ${fmt(r.peakRssMiB, 0)} MiB` : `FAILED ${r.error ?? `bytes ${r.bytes}`}`}`,
            );
          }
        }
      }
    }
  } finally {
    await emu.stop();
  }

  const rows: string[] = [
    '| size | direction | target | MiB/s (median) | CPU s/GiB (median) | peak RSS MiB (max) | ratio to SDK (median) | ok rounds |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  const summary: Record<string, unknown>[] = [];
  for (const size of o.sizes)
    for (const direction of o.directions)
      for (const target of o.targets) {
        const ms = measurements.filter(
          (m) => m.size === size && m.direction === direction && m.target === target && m.ok,
        );
        const ratios = ms.flatMap((m) => {
          const sdk = measurements.find(
            (x) =>
              x.size === size &&
              x.direction === direction &&
              x.round === m.round &&
              x.target === 'sdk' &&
              x.ok,
          );
          return sdk?.mibPerSec && m.mibPerSec ? [m.mibPerSec / sdk.mibPerSec] : [];
        });
        const row = {
          size: formatSize(size),
          direction,
          target,
          mibPerSec: median(ms.map((m) => m.mibPerSec!)),
          cpuSecondsPerGiB: median(ms.map((m) => m.cpuSecondsPerGiB!)),
          peakRssMiB: ms.length ? Math.max(...ms.map((m) => m.peakRssMiB ?? 0)) : undefined,
          ratioToSdk: median(ratios),
          okRounds: ms.length,
          rounds: o.rounds,
        };
        summary.push(row);
        rows.push(
          `| ${row.size} | ${direction} | ${target} | ${fmt(row.mibPerSec, 0)} | ${fmt(row.cpuSecondsPerGiB, 2)} | ${fmt(row.peakRssMiB, 0)} | ${fmt(row.ratioToSdk, 2)}x | ${row.okRounds}/${o.rounds} |`,
        );
      }
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  mkdirSync(o.outDir, { recursive: true });
  const jsonPath = join(o.outDir, `gcs-${stamp}.json`);
  const machine = machineInfo();
  writeFileSync(
    jsonPath,
    JSON.stringify({ when: new Date().toISOString(), options: o, machine, summary, measurements }, null, 2) +
      '\n',
  );
  const md = [
    `# GCS benchmark (${new Date().toISOString()})`,
    '',
    `\`npm run bench:gcs -- --sizes ${o.sizes.map(formatSize).join(',')} --rounds ${o.rounds} --targets ${o.targets.join(',')} --directions ${o.directions.join(',')}\``,
    '',
    `Emulator in discard mode in its own process; each transfer in a fresh client process. Node ${process.version}, ${machine.cores} CPUs, load ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}. Raw data: \`${relative(repoRoot(), jsonPath)}\`.`,
    '',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(join(o.outDir, 'gcs-latest.md'), md);
  console.log('\n' + md);
  if (measurements.some((m) => !m.ok)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
