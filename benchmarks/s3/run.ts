/**
 * The S3 streaming benchmark: every target uploads and downloads `size` bytes through the discard
 * server, each transfer in a fresh child process, and is compared with a raw `http` PUT/GET of the
 * same bytes measured in the same round. See benchmarks/README.md.
 *
 *   npm run bench:s3 -- [--sizes 1GiB,4GiB] [--rounds 5] [--targets raw,lib-storage,opendal,avfs]
 *                       [--directions up,down] [--calibration-rounds 2] [--calibration-size 1GiB]
 *                       [--opendal-up chunk=16,concurrency=1] [--opendal-down chunk=16,concurrency=4]
 *                       [--no-calibrate] [--no-check] [--check-only] [--server-no-onread] [--out DIR]
 *                       [--avfs '{"fastParts":false}']   (s3 flavor options for the avfs target: an A/B)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { checkServer } from './check-server.js';
import { formatSize, GiB, MiB, parseSize } from './payload.js';
import { TARGETS, type ClientConfig, type ClientResult, type Direction, type Target } from './protocol.js';
import { startDiscardServer, type DiscardServer, type ServerObject } from './server-process.js';
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

const BUCKET = 'bench';
const CLIENT = fileURLToPath(new URL('./client.js', import.meta.url));

interface Options {
  sizes: number[];
  rounds: number;
  targets: Target[];
  directions: Direction[];
  calibrate: boolean;
  calibrationRounds: number;
  calibrationSize: number | undefined;
  opendalUp: ClientConfig | undefined;
  opendalDown: ClientConfig | undefined;
  /** s3 flavor options for the avfs target (to measure one option against the defaults). */
  avfs: Record<string, unknown> | undefined;
  check: boolean;
  checkOnly: boolean;
  /** Diagnostic: the discard server reads with 'data' events instead of one reused buffer. */
  serverNoOnread: boolean;
  outDir: string;
}

interface Measurement extends ClientResult {
  phase: 'calibration' | 'round';
  size: number;
  round: number;
  key: string;
  ok: boolean;
  mibPerSec?: number;
  cpuSecondsPerGiB?: number;
  /** CPU the discard server spent during this transfer (it runs in its own process). */
  serverCpuSeconds?: number;
  serverObject?: ServerObject | null;
  /** The download read an object the harness recorded because the upload had failed. */
  seeded?: boolean;
  /** Child process lifetime, spawn to exit. */
  wallSeconds: number;
  stderr?: string;
}

interface SummaryRow {
  target: Target;
  direction: Direction;
  size: number;
  runs: number;
  ok: number;
  mibPerSec?: number;
  mibPerSecMin?: number;
  mibPerSecMax?: number;
  ratioToRaw?: number;
  cpuSecondsPerGiB?: number;
  peakRssMiB?: number;
  setupRssMiB?: number;
  serverCpuSecondsPerGiB?: number;
  config?: ClientConfig;
  skipped?: string;
  errors?: string[];
}

interface CalibrationRow {
  direction: Direction;
  label: string;
  config: ClientConfig;
  mibPerSec?: number;
  ratioToRaw?: number;
  cpuSecondsPerGiB?: number;
  peakRssMiB?: number;
  ok: number;
  runs: number;
}

// ---- helpers ---------------------------------------------------------------------------------

function usage(): never {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]);
  process.exit(0);
}

function parseConfig(text: string): ClientConfig {
  const c: ClientConfig = {};
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`bad OpenDAL setting '${part}'`);
    if (k === 'chunk') c.chunkMiB = n;
    else if (k === 'concurrency') c.concurrency = n;
    else if (k === 'prefetch') c.prefetch = n;
    else throw new Error(`unknown OpenDAL setting '${k}' (chunk, concurrency, prefetch)`);
  }
  return c;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    sizes: [GiB, 4 * GiB],
    rounds: 5,
    targets: [...TARGETS],
    directions: ['up', 'down'],
    calibrate: true,
    calibrationRounds: 2,
    calibrationSize: undefined,
    opendalUp: undefined,
    avfs: undefined,
    opendalDown: undefined,
    check: true,
    checkOnly: false,
    serverNoOnread: false,
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
    if (a === '--help' || a === '-h') usage();
    else if (a === '--sizes') o.sizes = list(value()).map(parseSize);
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--targets') o.targets = list(value()) as Target[];
    else if (a === '--directions') o.directions = list(value()) as Direction[];
    else if (a === '--calibration-rounds') o.calibrationRounds = Number(value());
    else if (a === '--calibration-size') o.calibrationSize = parseSize(value());
    else if (a === '--opendal-up') o.opendalUp = parseConfig(value());
    else if (a === '--opendal-down') o.opendalDown = parseConfig(value());
    else if (a === '--no-calibrate') o.calibrate = false;
    else if (a === '--no-check') o.check = false;
    else if (a === '--check-only') o.checkOnly = true;
    else if (a === '--server-no-onread') o.serverNoOnread = true;
    else if (a === '--out') o.outDir = value();
    else if (a === '--avfs') o.avfs = JSON.parse(value()) as Record<string, unknown>;
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 100)
    throw new Error('--rounds must be 1..100');
  if (!Number.isInteger(o.calibrationRounds) || o.calibrationRounds < 1 || o.calibrationRounds > 20) {
    throw new Error('--calibration-rounds must be 1..20');
  }
  for (const t of o.targets) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
  for (const d of o.directions) if (d !== 'up' && d !== 'down') throw new Error(`unknown direction ${d}`);
  // raw is the yardstick: always measured, always first in the table.
  o.targets = ['raw', ...o.targets.filter((t) => t !== 'raw')];
  return o;
}

function configLabel(c: ClientConfig | undefined): string {
  if (!c || Object.keys(c).length === 0) return 'defaults';
  const parts: string[] = [];
  if (c.chunkMiB !== undefined) parts.push(`chunk ${c.chunkMiB} MiB`);
  if (c.concurrency !== undefined) parts.push(`concurrency ${c.concurrency}`);
  if (c.prefetch !== undefined) parts.push(`prefetch ${c.prefetch}`);
  return parts.join(', ');
}

/** Enough free memory for a writer that may hold the whole payload (OpenDAL with concurrency > 1). */
function memoryAllows(size: number): boolean {
  return os.freemem() > 2 * size + 2 * GiB;
}

function log(line: string): void {
  process.stderr.write(line + '\n');
}

// ---- one measurement -------------------------------------------------------------------------

async function spawnClient(
  server: DiscardServer,
  target: Target,
  direction: Direction,
  size: number,
  key: string,
  config: ClientConfig,
): Promise<{ result: ClientResult; stderr: string; wallSeconds: number }> {
  const args = [
    CLIENT,
    '--target',
    target,
    '--direction',
    direction,
    '--size',
    String(size),
    '--endpoint',
    server.endpoint,
    '--bucket',
    BUCKET,
    '--key',
    key,
    '--config',
    JSON.stringify(config),
  ];
  return runClient<ClientResult>(args, {
    env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' },
    // Generous but bounded: 60 s of setup plus 16 MiB/s.
    timeoutMs: 60_000 + (size / (16 * MiB)) * 1000,
    target,
    direction,
  });
}

async function measure(
  server: DiscardServer,
  phase: Measurement['phase'],
  round: number,
  target: Target,
  direction: Direction,
  size: number,
  key: string,
  config: ClientConfig,
): Promise<Measurement> {
  let seeded = false;
  if (direction === 'down') {
    const have = await server.object(BUCKET, key);
    if (!have || have.size !== size) {
      await server.seed(BUCKET, key, size);
      seeded = true;
    }
  }
  const before = await server.stats();
  const { result, stderr, wallSeconds } = await spawnClient(server, target, direction, size, key, config);
  const after = await server.stats();
  const m: Measurement = {
    ...result,
    phase,
    round,
    size,
    key,
    ok: result.error === undefined && result.skipped === undefined && result.bytes === size,
    wallSeconds,
    serverCpuSeconds: after.cpuSeconds - before.cpuSeconds,
    ...(seeded ? { seeded } : {}),
    ...(stderr ? { stderr: stderr.slice(0, 4000) } : {}),
  };
  if (m.ok && direction === 'up') {
    m.serverObject = await server.object(BUCKET, key);
    if (m.serverObject?.size !== size) {
      m.ok = false;
      m.error = `the server recorded ${m.serverObject?.size ?? 'no'} bytes for ${key}, the client sent ${size}`;
    }
  }
  if (m.ok && m.seconds && m.bytes) {
    m.mibPerSec = m.bytes / MiB / m.seconds;
    m.cpuSecondsPerGiB = (m.cpuSeconds ?? 0) / (m.bytes / GiB);
  }
  const what = `[${phase === 'calibration' ? 'cal' : `r${round}`} ${formatSize(size)}] ${target} ${direction}`;
  if (m.skipped) log(`${what}: skipped (${m.skipped})`);
  else if (!m.ok) log(`${what}: FAILED ${m.error ?? ''}`);
  else {
    log(
      `${what}${Object.keys(config).length ? ` (${configLabel(config)})` : ''}: ${m.mibPerSec!.toFixed(0)} MiB/s, ` +
        `CPU ${m.cpuSecondsPerGiB!.toFixed(2)} s/GiB, peak RSS ${m.peakRssMiB!.toFixed(0)} MiB, ` +
        `server CPU ${((m.serverCpuSeconds ?? 0) / (size / GiB)).toFixed(2)} s/GiB`,
    );
  }
  return m;
}

// ---- OpenDAL calibration ---------------------------------------------------------------------

interface Calibration {
  size: number;
  rounds: number;
  up: ClientConfig;
  upSequential: ClientConfig;
  down: ClientConfig;
  rows: CalibrationRow[];
  measurements: Measurement[];
  note?: string;
}

async function calibrateOpendal(server: DiscardServer, size: number, rounds: number, o: Options) {
  const upConfigs: ClientConfig[] = [];
  const parallelOk = memoryAllows(size);
  for (const concurrency of parallelOk ? [1, 4] : [1]) {
    for (const chunkMiB of [8, 16, 32]) upConfigs.push({ chunkMiB, concurrency });
  }
  const downConfigs: ClientConfig[] = [
    {},
    { chunkMiB: 16 },
    { chunkMiB: 16, concurrency: 4 },
    { chunkMiB: 16, concurrency: 4, prefetch: 4 },
  ];
  const measurements: Measurement[] = [];
  const key = `opendal-calibration-${size}`;
  log(`OpenDAL calibration at ${formatSize(size)}, ${rounds} round(s)…`);
  for (let r = 1; r <= rounds; r++) {
    for (const direction of o.directions) {
      measurements.push(await measure(server, 'calibration', r, 'raw', direction, size, `raw-${size}`, {}));
      const configs = direction === 'up' ? upConfigs : downConfigs;
      for (const c of rotate(configs, r - 1)) {
        measurements.push(await measure(server, 'calibration', r, 'opendal', direction, size, key, c));
      }
    }
  }
  const rows: CalibrationRow[] = [];
  for (const direction of o.directions) {
    for (const c of direction === 'up' ? upConfigs : downConfigs) {
      const runs = measurements.filter(
        (m) =>
          m.target === 'opendal' && m.direction === direction && configLabel(m.config) === configLabel(c),
      );
      const ok = runs.filter((m) => m.ok);
      rows.push({
        direction,
        label: configLabel(c),
        config: c,
        mibPerSec: median(ok.map((m) => m.mibPerSec!)),
        ratioToRaw: median(
          ok.map((m) => ratioFor(m, measurements)).filter((x): x is number => x !== undefined),
        ),
        cpuSecondsPerGiB: median(ok.map((m) => m.cpuSecondsPerGiB!)),
        peakRssMiB: ok.length ? Math.max(...ok.map((m) => m.peakRssMiB!)) : undefined,
        ok: ok.length,
        runs: runs.length,
      });
    }
  }
  const best = (dir: Direction, filter: (c: ClientConfig) => boolean = () => true) =>
    rows
      .filter((r) => r.direction === dir && r.ratioToRaw !== undefined && filter(r.config))
      .sort((a, b) => b.ratioToRaw! - a.ratioToRaw!)[0]?.config;
  const cal: Calibration = {
    size,
    rounds,
    up: best('up') ?? { chunkMiB: 16, concurrency: 1 },
    upSequential: best('up', (c) => (c.concurrency ?? 1) === 1) ?? { chunkMiB: 16, concurrency: 1 },
    down: best('down') ?? {},
    rows,
    measurements,
    ...(parallelOk ? {} : { note: 'concurrency 4 not tried: not enough free memory for the whole payload' }),
  };
  log(`OpenDAL calibration: up → ${configLabel(cal.up)}; down → ${configLabel(cal.down)}`);
  return cal;
}

// ---- summary ---------------------------------------------------------------------------------

/** target MiB/s ÷ raw MiB/s of the same phase, round, size and direction. */
function ratioFor(m: Measurement, all: Measurement[]): number | undefined {
  const raw = all.find(
    (r) =>
      r.target === 'raw' &&
      r.ok &&
      r.phase === m.phase &&
      r.round === m.round &&
      r.size === m.size &&
      r.direction === m.direction,
  );
  return raw && m.mibPerSec ? m.mibPerSec / raw.mibPerSec! : undefined;
}

function summarize(o: Options, measurements: Measurement[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const size of o.sizes) {
    for (const target of o.targets) {
      for (const direction of o.directions) {
        const runs = measurements.filter(
          (m) => m.phase === 'round' && m.size === size && m.target === target && m.direction === direction,
        );
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
                ratioToRaw: median(
                  ok.map((m) => ratioFor(m, measurements)).filter((x): x is number => x !== undefined),
                ),
                setupRssMiB: median(ok.map((m) => m.setupRssMiB ?? 0)),
              }
            : {}),
          ...(ok[0]?.config ? { config: ok[0].config } : {}),
          ...runOutcome(runs),
        });
      }
    }
  }
  return rows;
}

function markdownTable(rows: SummaryRow[]): string {
  const lines = [
    '| target | direction | size | MiB/s | ratio to raw | CPU s/GiB | peak RSS MiB | ok runs |',
    '| --- | --- | --- | --: | --: | --: | --: | --: |',
  ];
  for (const r of rows) {
    const name =
      r.target === 'opendal' && r.config
        ? `opendal (${configLabel(r.config)})`
        : r.target.startsWith('avfs') && r.config?.avfs
          ? `${r.target} (${JSON.stringify(r.config.avfs)})`
          : r.target;
    if (r.skipped) {
      lines.push(
        `| ${name} | ${r.direction} | ${formatSize(r.size)} | skipped: ${r.skipped} | | | | 0/${r.runs} |`,
      );
      continue;
    }
    lines.push(
      `| ${name} | ${r.direction} | ${formatSize(r.size)} | ${fmt(r.mibPerSec, 0)} | ` +
        `${r.ratioToRaw === undefined ? '–' : `${r.ratioToRaw.toFixed(2)}x`} | ${fmt(r.cpuSecondsPerGiB, 2)} | ` +
        `${fmt(r.peakRssMiB, 0)} | ${r.ok}/${r.runs} |`,
    );
  }
  return lines.join('\n');
}

function calibrationTable(cal: Calibration): string {
  const lines = [
    '| direction | OpenDAL settings | MiB/s | ratio to raw | CPU s/GiB | peak RSS MiB | ok runs |',
    '| --- | --- | --: | --: | --: | --: | --: |',
  ];
  for (const r of cal.rows) {
    const chosen = configLabel(r.config) === configLabel(r.direction === 'up' ? cal.up : cal.down);
    lines.push(
      `| ${r.direction} | ${r.label}${chosen ? ' **(chosen)**' : ''} | ${fmt(r.mibPerSec, 0)} | ` +
        `${r.ratioToRaw === undefined ? '–' : `${r.ratioToRaw.toFixed(2)}x`} | ${fmt(r.cpuSecondsPerGiB, 2)} | ` +
        `${fmt(r.peakRssMiB, 0)} | ${r.ok}/${r.runs} |`,
    );
  }
  return lines.join('\n');
}

function packageVersions(root: string): Record<string, string> {
  const names = ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', 'opendal'];
  return Object.fromEntries(names.map((name) => [name, packageVersion(root, name)]));
}

// ---- main ------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const t0 = performance.now();
  const machine = machineInfo();
  const command = `npm run bench:s3${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(
    `S3 benchmark: ${machine.cpuModel} × ${machine.cores}, ${machine.totalMemGiB} GiB, Node ${machine.node}`,
  );
  const server = await startDiscardServer(o.serverNoOnread ? ['--no-onread'] : []);
  log(`discard server: ${server.endpoint} (pid ${server.pid})`);
  try {
    let checks: string[] = [];
    if (o.check || o.checkOnly) {
      checks = await checkServer(server);
      log(`discard server self-check passed: ${checks.join('; ')}`);
      if (o.checkOnly) return;
    }
    await server.createBucket(BUCKET);

    let calibration: Calibration | undefined;
    if (o.targets.includes('opendal') && o.calibrate && !(o.opendalUp && o.opendalDown)) {
      const calSize = o.calibrationSize ?? Math.min(Math.max(...o.sizes), GiB);
      calibration = await calibrateOpendal(server, calSize, o.calibrationRounds, o);
    }
    const opendalFor = (size: number, direction: Direction): ClientConfig => {
      if (direction === 'down') return o.opendalDown ?? calibration?.down ?? {};
      const c = o.opendalUp ?? calibration?.up ?? { chunkMiB: 16, concurrency: 1 };
      if ((c.concurrency ?? 1) > 1 && !memoryAllows(size)) {
        log(`OpenDAL: not enough free memory for concurrency ${c.concurrency} at ${formatSize(size)}`);
        return calibration?.upSequential ?? { chunkMiB: 16, concurrency: 1 };
      }
      return c;
    };

    const measurements: Measurement[] = [];
    /** By `${target} ${direction}`: a target may do one direction only. */
    const skipped = new Map<string, string>();
    for (const size of o.sizes) {
      for (let round = 1; round <= o.rounds; round++) {
        // Rotate the order each round so slow drift of the machine does not favour one target.
        const order = rotate(o.targets, round - 1);
        for (const direction of o.directions) {
          for (const target of order) {
            const skipKey = `${target} ${direction}`;
            if (skipped.has(skipKey)) {
              measurements.push({
                target,
                direction,
                phase: 'round',
                round,
                size,
                key: '',
                ok: false,
                skipped: skipped.get(skipKey)!,
                wallSeconds: 0,
              });
              continue;
            }
            const config =
              target === 'opendal'
                ? opendalFor(size, direction)
                : (target === 'avfs' || target === 'avfs-stream') && o.avfs
                  ? { avfs: o.avfs }
                  : {};
            const m = await measure(
              server,
              'round',
              round,
              target,
              direction,
              size,
              // avfs-stream reads what avfs uploaded (every upload of a round precedes its downloads).
              `${target === 'avfs-stream' ? 'avfs' : target}-${size}`,
              config,
            );
            if (m.skipped) skipped.set(skipKey, m.skipped);
            measurements.push(m);
          }
        }
      }
    }

    const summary = summarize(o, measurements);
    const serverStats = await server.stats();
    const finished = new Date();
    const seconds = (performance.now() - t0) / 1000;
    const root = repoRoot();
    const versions = packageVersions(root);
    const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-') + 'Z';
    mkdirSync(o.outDir, { recursive: true });
    const jsonPath = join(o.outDir, `s3-${stamp}.json`);
    const mdPath = join(o.outDir, 's3-latest.md');
    const warnings = [
      ...new Set(
        [...measurements, ...(calibration?.measurements ?? [])]
          .flatMap((m) => (m.stderr ? m.stderr.split('\n') : []))
          .map((l) => l.trim().replace(/^\(node:\d+\)/, '(node)'))
          .filter(Boolean),
      ),
    ].slice(0, 50);
    writeFileSync(
      jsonPath,
      JSON.stringify(
        {
          benchmark: 's3',
          started: started.toISOString(),
          finished: finished.toISOString(),
          durationSeconds: Number(seconds.toFixed(1)),
          command,
          machine,
          versions,
          options: {
            sizes: o.sizes,
            rounds: o.rounds,
            targets: o.targets,
            directions: o.directions,
            calibrationRounds: o.calibrationRounds,
            serverReads: o.serverNoOnread ? 'data events' : 'one reused buffer (onread)',
          },
          serverChecks: checks,
          calibration: calibration && { ...calibration, measurements: undefined },
          summary,
          measurements: [...(calibration?.measurements ?? []), ...measurements],
          server: serverStats,
          clientStderr: warnings,
        },
        null,
        2,
      ) + '\n',
    );
    const table = markdownTable(summary);
    const serverCpu = summary
      .filter((r) => r.serverCpuSecondsPerGiB !== undefined)
      .map(
        (r) =>
          `${r.target} ${r.direction} ${formatSize(r.size)}: ${r.serverCpuSecondsPerGiB!.toFixed(2)} s/GiB`,
      )
      .join('; ');
    const failures = summary.filter((r) => r.errors?.length);
    const md = [
      `# S3 streaming benchmark`,
      '',
      `${started.toISOString()} · ${machine.cpuModel} × ${machine.cores} cores · ${machine.totalMemGiB} GiB · ` +
        `Node ${machine.node} · ${machine.platform}`,
      '',
      `Command: \`${command}\` (${o.rounds} round(s), ${(seconds / 60).toFixed(1)} min). ` +
        `Versions: ${Object.entries(versions)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}. Raw data: \`${relative(root, jsonPath)}\`.`,
      '',
      table,
      '',
      "`raw` is the machine's limit: a node:http PUT streamed from one reused block, and a GET over a bare " +
        'socket read into one reused buffer. `node-http` is node:http for both (its GET allocates a buffer per ' +
        "socket read): the ceiling of any client built on Node's http stack.",
      '',
      'MiB/s and CPU s/GiB are medians over the rounds; "ratio to raw" is the median of per-round ratios ' +
        '(target ÷ `raw` of the same size, direction and round); peak RSS is the largest ' +
        "client-process peak RSS (VmHWM) over the rounds. CPU and RSS are the client's only (the discard server runs in " +
        'its own process). See benchmarks/README.md.',
      '',
      ...(calibration
        ? [
            `## OpenDAL calibration (${formatSize(calibration.size)}, ${calibration.rounds} round(s))`,
            '',
            calibrationTable(calibration),
            '',
            ...(calibration.note ? [calibration.note, ''] : []),
          ]
        : []),
      '## Notes',
      '',
      `- Discard server CPU during each transfer (median): ${serverCpu || '–'}.`,
      ...summary.filter((r) => r.skipped).map((r) => `- ${r.target} ${r.direction}: skipped (${r.skipped}).`),
      ...failures.map(
        (r) => `- ${r.target} ${r.direction} ${formatSize(r.size)} failures: ${r.errors!.join(' / ')}`,
      ),
      ...(warnings.length
        ? ['- Client stderr (deduplicated):', '', '```', ...warnings.map((w) => w.slice(0, 300)), '```']
        : ['- No client wrote to stderr.']),
      '',
    ].join('\n');
    writeFileSync(mdPath, md);
    console.log(table);
    if (calibration) {
      console.log(
        `\nOpenDAL calibration (${formatSize(calibration.size)}):\n${calibrationTable(calibration)}`,
      );
    }
    log(
      `\nwrote ${relative(process.cwd(), jsonPath)} and ${relative(process.cwd(), mdPath)} (${seconds.toFixed(0)} s)`,
    );
    if (failures.length) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
