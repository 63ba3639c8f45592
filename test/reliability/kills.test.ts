/**
 * Reliability category "sigkill": writers killed outright (SIGKILL), at a random moment after they
 * say they started writing, in five write modes:
 *
 * - `open-wb`: ArtifactStore `open(path, 'wb')` and streaming `write()`s, on a local store;
 * - `copyfile`: ArtifactStore `copyfile` within a local store;
 * - `copyFrom`: FileOps `copyFrom` from another local store;
 * - `cli-local`: the built `avfs cp` of a 64 MiB local file onto a local store;
 * - `cli-s3`: the same (16 MiB) onto S3 (fauxqs, multipart).
 *
 * The library writers are child processes (fixtures/kill-writer.mjs) importing the build the CLI
 * tests make (a private copy of it, as the CLI runs). After each kill the destination must be absent, exactly as it was, or exactly the
 * new content (SHA-256); anything else is torn, and its bytes count as lost.
 *
 * A killed writer leaves its hidden temp sibling. After the kills of a local mode, the next write
 * of that mode into the directory (a fresh process: the first write into a directory reclaims the
 * siblings of dead writers) must leave none; `avfs sweep --dry-run` must list such leftovers and
 * `avfs sweep` remove them (checked on hard links to every leftover of every mode, taken before the
 * next writer reclaimed it, so that both reclaims see real leftovers).
 *
 * On S3 a SIGKILL cannot abort the multipart upload in flight: nothing is visible until it
 * completes, so a case passes when no object is torn or partly visible. The uploads it leaks are
 * counted (ListMultipartUploads; fauxqs's own memory, which cannot list them) and reported in the
 * row as information: they are left to the bucket's lifecycle rule (AbortIncompleteMultipartUpload),
 * which `avfs sweep` does not replace.
 *
 * Bounded (npm test): 2 kills per mode. Full (AVFS_RELIABILITY=full): 100 per mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD_TIMEOUT_MS, childEnv } from '../cli/helpers.js';
import type { S3Server } from '../emulators/s3-server.js';
import {
  Bucket,
  partials,
  partialsBelow,
  privateBuild,
  Proc,
  s3Env,
  s3RegisterArgs,
  startCountedFauxqs,
  type Cli,
  type Exit,
} from './fixtures/kill-env.js';
import { budget, Category } from './table.js';

const MiB = 1024 * 1024;
const KILLS = budget(2, 100);
/** Writers started ahead of their turn (their start-up is most of their life). */
const AHEAD = 3;
const WRITER = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures/kill-writer.mjs');

/**
 * The new content: 64 MiB locally, so that a write outlasts the parent's own latency (a local copy
 * runs at GB/s); 16 MiB onto S3 (four parts of 5 MiB), whose upload is slow enough.
 */
const NEW = randomBytes(64 * MiB + 5);
const NEW_S3 = randomBytes(16 * MiB + 5);
const OLD = randomBytes(3 * MiB + 11);
const SMALL = randomBytes(70_000);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const same = (a: Buffer | undefined, b: Buffer | undefined): boolean =>
  a === undefined || b === undefined ? a === b : sha(a) === sha(b);

let tmp: string;
let cfg: string;
let cli: Cli;
/** The local store's root, and a second store's (the source of copyFrom). */
let root: string;
let srcRoot: string;
let server: S3Server;
let bucket: Bucket;
let env: Record<string, string>;

const cat = new Category('sigkill');
const outcomes: Record<string, number> = { absent: 0, old: 0, new: 0, torn: 0 };
/** How long one whole write of each mode took (ms), for the summary. */
const spans: Record<string, number> = {};

interface Mode {
  name: string;
  /** What a whole write stores. */
  data: Buffer;
  /** The destination's directory on disk (local modes), where leftovers are looked for. */
  dir?: string;
  /** The writer waits, set up, for its stdin to end (so it can be started ahead). */
  gated: boolean;
  /** Starts a writer of the new data (or of SMALL, `small`) to `dest`. */
  start(dest: string, small?: boolean): Proc;
  /** The stdout lines that say the write is under way, and that it committed. */
  started(line: string): boolean;
  finished(line: string): boolean;
  /** Sets the destination `dest` to `old` (absent when undefined). */
  put(dest: string, old: Buffer | undefined): Promise<void>;
  read(dest: string): Promise<Buffer | undefined>;
  /** The destination of attempt `j` (one per mode locally, so that leftovers gather in one place). */
  dest(j: number): string;
}

const byCli = { gated: false, started: event('progress'), finished: event('copied') };
const byLib = { gated: true, started: (l: string) => l === 'started', finished: (l: string) => l === 'done' };
function event(type: string): (line: string) => boolean {
  return (line) => line.includes(`"type":"${type}"`);
}
/** Every process started here, so that none outlives a failed test. */
const procs = new Set<Proc>();
const track = (p: Proc): Proc => (procs.add(p), p);
const writer = (...args: string[]): Proc =>
  track(new Proc([WRITER, cli.lib, ...args], childEnv(cfg), 'pipe'));

function localMode(name: string, kind: typeof byCli | typeof byLib, start: Mode['start']): Mode {
  const real = (dest: string): string => path.join(root, dest);
  return {
    name,
    data: NEW,
    get dir() {
      return path.join(root, name);
    },
    ...kind,
    start,
    put: async (dest, old) =>
      old ? writeFile(real(dest), old) : rm(real(dest), { force: true }).then(() => undefined),
    read: (dest) => readFile(real(dest)).catch(() => undefined),
    dest: () => `${name}/dst.bin`,
  };
}

const modes: Mode[] = [
  localMode('open-wb', byLib, (dest, small) =>
    writer('open-wb', root, dest, path.join(tmp, small ? 'small.bin' : 'new.bin')),
  ),
  localMode('copyfile', byLib, (dest, small) =>
    writer('copyfile', root, small ? 'src/small.bin' : 'src/new.bin', dest),
  ),
  localMode('copyFrom', byLib, (dest, small) =>
    writer('copyfrom', srcRoot, small ? 'small.bin' : 'new.bin', root, dest),
  ),
  localMode('cli-local', byCli, (dest, small) =>
    track(cli.start(['--json', 'cp', path.join(tmp, small ? 'small.bin' : 'new.bin'), `loc:${dest}`])),
  ),
  {
    name: 'cli-s3',
    data: NEW_S3,
    ...byCli,
    start: (dest) => track(cli.start(['--json', 'cp', path.join(tmp, 'new-s3.bin'), `bucket:${dest}`], env)),
    // A fresh key per kill: absent unless the old object is put first.
    put: async (dest, old) => (old ? bucket.put(`kills/${dest}`, old) : undefined),
    read: (dest) => bucket.get(`kills/${dest}`),
    dest: (i) => `dst-${i}.bin`,
  },
];

interface Attempt {
  exit: Exit;
  proc: Proc;
  /** How long the write ran, from its `started` line to its `finished` one (undefined: unseen). */
  span: number | undefined;
}

/** Runs a writer; `killAfter` ms after it says it started, SIGKILLs it (never, when undefined). */
async function attempt(mode: Mode, proc: Proc, killAfter?: number): Promise<Attempt> {
  let startedAt: number | undefined;
  let finishedAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  void proc.line(mode.started).then((line) => {
    if (line === undefined) return;
    startedAt = performance.now();
    if (killAfter !== undefined) timer = setTimeout(() => proc.child.kill('SIGKILL'), killAfter);
  });
  void proc.line(mode.finished).then((line) => void (line !== undefined && (finishedAt = performance.now())));
  if (mode.gated && (await proc.line((l) => l === 'ready')) !== undefined) proc.child.stdin!.end();
  const exit = await proc.exited;
  clearTimeout(timer);
  procs.delete(proc);
  const span = startedAt !== undefined && finishedAt !== undefined ? finishedAt - startedAt : undefined;
  return { exit, proc, span };
}

/** Writers for attempts 0…n-1 of `mode`; gated ones are started `AHEAD` at a time, in advance. */
function* writers(mode: Mode, n: number): Generator<Proc> {
  const ahead: Proc[] = [];
  for (let j = 0; j < n; j++) {
    if (!mode.gated) yield mode.start(mode.dest(j));
    else {
      while (ahead.length < Math.min(AHEAD, n - j)) ahead.push(mode.start(mode.dest(j + ahead.length)));
      yield ahead.shift()!;
    }
  }
}

const describeExit = (a: Attempt): string =>
  `exit ${a.exit.code ?? a.exit.signal}${a.proc.stderr ? `: ${a.proc.stderr.trim().split('\n')[0]}` : ''}`;

/** Where leftovers of every local mode are linked for the `avfs sweep` checks. */
const SWEPT = 'swept';
const copied = new Set<string>();

/**
 * Hard-links the temp files killed writers left in `dir` into SWEPT: the next writer reclaims
 * them there, and the sweep checks below still see every one (same file, no copying).
 */
async function keep(dir: string): Promise<void> {
  for (const name of await partials(dir))
    if (!copied.has(name)) {
      await link(path.join(dir, name), path.join(root, SWEPT, name));
      copied.add(name);
    }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-sigkill-'));
  cfg = path.join(tmp, 'cfg');
  cli = await privateBuild(tmp, cfg);
  root = path.join(tmp, 'store');
  srcRoot = path.join(tmp, 'src-store');
  for (const d of [root, srcRoot, path.join(root, 'src'), path.join(root, SWEPT)])
    await mkdir(d, { recursive: true });
  for (const m of modes) if (m.dir) await mkdir(m.dir, { recursive: true });
  for (const dir of [tmp, srcRoot, path.join(root, 'src')]) {
    await writeFile(path.join(dir, 'new.bin'), NEW);
    if (dir === tmp) await writeFile(path.join(dir, 'new-s3.bin'), NEW_S3);
    await writeFile(path.join(dir, 'small.bin'), SMALL);
  }
  server = await startCountedFauxqs();
  await server.createBucket('kills');
  bucket = new Bucket(server, 'kills');
  env = s3Env(server);
  let r = await cli.run(['store', 'register', 'loc', '--flavor=local', `--path=${root}`]);
  expect(r.code, r.stderr).toBe(0);
  r = await cli.run(s3RegisterArgs('bucket', server, 'kills', 'kills'), env);
  expect(r.code, r.stderr).toBe(0);
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  bucket?.close();
  await server?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('reliability: sigkill', () => {
  for (const mode of modes) {
    it(
      `${mode.name}: ${KILLS} writers killed at random moments`,
      async () => {
        // Attempt 0 is not killed: it must work, and how long it writes spreads the kills over a write.
        const queue = writers(mode, KILLS + 1);
        const cal = await attempt(mode, queue.next().value as Proc);
        expect(cal.exit.code, describeExit(cal)).toBe(0);
        expect(same(await mode.read(mode.dest(0)), mode.data)).toBe(true);
        const span = cal.span ?? 50;
        spans[mode.name] = Math.round(span);
        for (let j = 1; j <= KILLS; j++) {
          const dest = mode.dest(j);
          const old = j % 2 === 1 ? OLD : undefined;
          await mode.put(dest, old);
          const proc = queue.next().value as Proc;
          // Stratified over the write and a tenth past its end (a kill after the commit must find
          // the new content), so that even two kills land one early, mid-write, and one late.
          const delay = Math.round(((j - 1 + Math.random()) / KILLS) * span * 1.1);
          let lost = 0;
          await cat.case(`${mode.name} kill ${j} at ${delay} ms of ${Math.round(span)}`, async () => {
            const a = await attempt(mode, proc, delay);
            if (a.exit.signal !== 'SIGKILL' && a.exit.code !== 0) return `writer failed: ${describeExit(a)}`;
            const now = await mode.read(dest);
            const state = same(now, mode.data) ? 'new' : !now ? 'absent' : same(now, old) ? 'old' : 'torn';
            outcomes[state]!++;
            if (state === 'absent' && old) return 'the old content is gone: absent';
            if (state !== 'torn') return;
            lost = now!.length;
            return `torn: ${now!.length} bytes (old ${old?.length ?? 'absent'}, new ${mode.data.length})`;
          });
          cat.row.bytesLost += lost;
          if (mode.dir) await keep(mode.dir);
        }
        if (!mode.dir) return;
        // Usually only the last kill's: each writer reclaims what the one before it left.
        const left = await partials(mode.dir);
        await cat.case(
          `${mode.name}: the next write reclaims the ${left.length} temp file(s) of killed writers`,
          async () => {
            const a = await attempt(mode, mode.start(`${mode.name}/after.bin`, true));
            if (a.exit.code !== 0) return `the write failed: ${describeExit(a)}`;
            if (!same(await mode.read(`${mode.name}/after.bin`), SMALL))
              return 'the write stored wrong bytes';
            const still = await partials(mode.dir!);
            return still.length ? `${still.length} of ${left.length} left: ${still.join(' ')}` : undefined;
          },
        );
      },
      budget(60_000, 1_800_000),
    );
  }

  it('cli-s3: the uploads SIGKILL leaked are counted; avfs sweep leaves them to the lifecycle rule', async () => {
    const open = await bucket.openUploads('kills/');
    // Information, not a failure: a killed process cannot abort its upload, and avfs has no
    // sweep for object stores (S3's AbortIncompleteMultipartUpload lifecycle rule expires them).
    if (open > 0)
      cat.row.failures.push(
        `info (not a failure): cli-s3: ${open} multipart upload(s) left open on ${server.name} by killed \`avfs cp\` — left to the bucket's lifecycle rule`,
      );
    const r = await cli.run(['--json', 'sweep', 'bucket:'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ removed: [] });
  });

  it('avfs sweep --dry-run lists the temp files of killed writers, and avfs sweep removes them', async () => {
    const swept = path.join(root, SWEPT);
    const want = [...copied].sort();
    // Only when every kill landed before the temp file existed or after the commit (unlikely).
    if (!want.length) console.log('sigkill: no killed writer left a temp file: the sweep checks are empty');
    await cat.case(`sweep --dry-run lists the ${want.length} leftover(s)`, async () => {
      const r = await cli.run(['--json', 'sweep', '--dry-run', `loc:${SWEPT}`]);
      if (r.code !== 0) return `exit ${r.code}: ${r.stderr.trim()}`;
      const listed = (JSON.parse(r.stdout) as { abandoned: string[] }).abandoned.map((p) => path.basename(p));
      if (JSON.stringify(listed.sort()) !== JSON.stringify(want))
        return `listed ${listed.join(' ') || 'none'}`;
      const kept = await partials(swept);
      return kept.length === want.length ? undefined : `the dry run removed ${want.length - kept.length}`;
    });
    await cat.case(`sweep removes the ${want.length} leftover(s)`, async () => {
      const r = await cli.run(['--json', 'sweep', `loc:${SWEPT}`]);
      if (r.code !== 0) return `exit ${r.code}: ${r.stderr.trim()}`;
      const removed = (JSON.parse(r.stdout) as { removed: string[] }).removed.map((p) => path.basename(p));
      if (JSON.stringify(removed.sort()) !== JSON.stringify(want))
        return `removed ${removed.join(' ') || 'none'}`;
      const still = await partials(swept);
      return still.length ? `still there: ${still.join(' ')}` : undefined;
    });
    // Whatever a reclaim above missed, a sweep of the whole store removes.
    await cat.case('sweep of the whole store leaves no temp file anywhere', async () => {
      const r = await cli.run(['sweep', 'loc:']);
      if (r.code !== 0) return `exit ${r.code}: ${r.stderr.trim()}`;
      const still = await partialsBelow(root);
      return still.length ? `still there: ${still.join(' ')}` : undefined;
    });
  });

  it('no kill tore a file or lost the old one, and every leftover was reclaimed', () => {
    const row = cat.record();
    console.log(
      `sigkill: ${row.passed}/${row.tried} passed, ${row.bytesLost} bytes lost; destinations after a kill: ${Object.entries(
        outcomes,
      )
        .map(([k, v]) => `${v} ${k}`)
        .join(
          ', ',
        )}; ${copied.size} temp file(s) left by killed writers; one write took (ms) ${JSON.stringify(spans)}`,
    );
    expect(row.failures.filter((f) => !f.startsWith('info (not a failure)'))).toEqual([]);
  });
});
