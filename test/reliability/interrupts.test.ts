/**
 * Reliability category "interrupts": the built `avfs cp` (and `mv`) interrupted by SIGINT or
 * SIGTERM in the middle of a copy (src/cli/interrupt.ts), once the destination is being written
 * (its hidden temp file exists, or its multipart upload is open). A case passes when:
 *
 * - the process ends by the signal itself, re-raised after its cleanup (a shell reports 128 + its
 *   number: 130 SIGINT, 143 SIGTERM), and its --json error object names that exit code;
 * - the destination is absent or exactly as it was (SHA-256), never the new or a torn file;
 * - locally, no hidden `.partial` file is left in the destination's directory (and, at the end,
 *   anywhere in the store);
 * - on S3, no multipart upload is left open (ListMultipartUploads; fauxqs's own memory, which
 *   cannot list them) and nothing is at the key;
 * - for `mv`, the source is still whole.
 *
 * Targets: a local store (from outside it, and from inside it: one `copyfile` call), fauxqs, and
 * radosgw when it is installed (skipped visibly otherwise). The source is a 128 MiB file of random
 * bytes, so that the copy is still running when the signal lands; a case whose copy committed
 * before its signal was sent proves nothing and is tried again. Then `cp -` from a stdin pipe that
 * stays open (local and fauxqs), and a second SIGINT while the first one's cleanup hangs (fauxqs
 * behind a proxy that stalls AbortMultipartUpload): it must exit at once.
 *
 * Bounded (npm test): each target once per signal. Full (AVFS_RELIABILITY=full): both signals
 * onto an absent and an existing destination, and SIGHUP (129), five rounds; `mv` onto fauxqs too.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLEANUP_GRACE_MS } from '../../src/cli/interrupt.js';
import { BUILD_TIMEOUT_MS, sha256 } from '../cli/helpers.js';
import { startFaultProxy, type FaultProxy } from '../emulators/fault-proxy.js';
import { radosgwSkipReason, startRadosgw } from '../emulators/radosgw.js';
import {
  Bucket,
  partials,
  partialsBelow,
  privateBuild,
  s3Env,
  s3RegisterArgs,
  startCountedFauxqs,
  until,
  type Cli,
  type Exit,
  type Proc,
} from './fixtures/kill-env.js';
import { budget, Category, FULL } from './table.js';

const MiB = 1024 * 1024;
const BIG_SIZE = 128 * MiB;
const OLD = randomBytes(2 * MiB + 3);
const CODES = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Sig = keyof typeof CODES;

let tmp: string;
let cli: Cli;
let root: string;
let big: string;
let bigSha: string;
/** A copy of `big` that `mv` may take away. */
let mvSource: string;
let fauxqs: Awaited<ReturnType<typeof startCountedFauxqs>>;
let fx: Bucket;
let proxy: FaultProxy;
let env: Record<string, string> = {};

const cat = new Category('interrupts');
/** Every process started here, so that none outlives a failed test. */
const procs = new Set<Proc>();
const run = (args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): Proc => {
  const p = cli.start(args, env, stdin);
  procs.add(p);
  void p.exited.then(() => procs.delete(p));
  return p;
};

/** The exit, or undefined when the process is still running `ms` later (it is then killed). */
async function exitWithin(p: Proc, ms: number): Promise<Exit | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  const exit = await Promise.race([p.exited, late]);
  clearTimeout(timer);
  if (!exit) p.child.kill('SIGKILL');
  return exit;
}

const shown = (b: Buffer | undefined): string =>
  b ? `${b.length} bytes ${sha256(b).slice(0, 8)}` : 'absent';
const exitText = (e: Exit, p: Proc): string =>
  `${e.signal ? `killed by ${e.signal}` : `exit ${e.code}`}${p.stderr.trim() ? ` (${p.stderr.trim().split('\n')[0]})` : ''}`;

interface Target {
  name: string;
  /** The registered store written to. */
  store: string;
  put(key: string, data: Buffer | undefined): Promise<void>;
  read(key: string): Promise<Buffer | undefined>;
  /** The copy to `key` is under way: its temp file or its multipart upload exists. */
  writing(key: string): Promise<boolean>;
  /** What an interrupted write to `key` left behind (undefined: nothing). */
  leftovers(key: string): Promise<string | undefined>;
}

function localTarget(): Target {
  const real = (key: string): string => path.join(root, key);
  return {
    name: 'local',
    store: 'loc',
    put: async (key, data) => {
      await mkdir(path.dirname(real(key)), { recursive: true });
      if (data) await writeFile(real(key), data);
      else await rm(real(key), { force: true });
    },
    read: (key) => readFile(real(key)).catch(() => undefined),
    writing: async (key) => (await partials(path.dirname(real(key)))).length > 0,
    leftovers: async (key) => {
      const left = await partials(path.dirname(real(key)));
      return left.length ? `temp file(s) left: ${left.join(' ')}` : undefined;
    },
  };
}

function s3Target(name: string, store: string, bucket: Bucket): Target {
  const full = (key: string): string => `${store}/${key}`;
  return {
    name,
    store,
    put: async (key, data) => (data ? bucket.put(full(key), data) : undefined),
    read: (key) => bucket.get(full(key)),
    writing: async (key) => (await bucket.openUploads(full(key))) > 0,
    leftovers: async (key) => {
      const open = await bucket.openUploads(full(key));
      return open ? `${open} multipart upload(s) left open` : undefined;
    },
  };
}

let keys = 0;
/** One interrupted copy: what went wrong (undefined: nothing), or 'late' if it committed first. */
async function interruptOnce(
  t: Target,
  sig: Sig,
  old: Buffer | undefined,
  source: string,
  verb: 'cp' | 'mv',
): Promise<string | undefined> {
  if (verb === 'mv') await copyFile(big, mvSource);
  // A directory per case: what one case leaves does not look like the next one's write.
  const key = `cp-${keys++}/dst.bin`;
  await t.put(key, old);
  const p = run(['--json', verb, source, `${t.store}:${key}`]);
  const begun = await until(async () => p.child.exitCode !== null || (await t.writing(key)), 30_000, 2);
  if (!begun || p.child.exitCode !== null) {
    p.child.kill('SIGKILL');
    return `the copy never started writing (${exitText(await p.exited, p)})`;
  }
  p.child.kill(sig);
  // Still there after the signal was sent: the commit had not happened yet.
  const pending = await t.writing(key);
  const exit = await exitWithin(p, CLEANUP_GRACE_MS + 5000);
  if (!exit) return `still running ${CLEANUP_GRACE_MS + 5000} ms after ${sig}`;
  if (p.stdout.includes('"type":"copied"') && !pending) return 'late';
  const now = await t.read(key);
  const why: string[] = [];
  if (exit.signal !== sig) why.push(`${exitText(exit, p)}, expected to be killed by ${sig}`);
  // --json: the error object on stderr names the same exit code as the process.
  const reported = /"exitCode":(\d+)/.exec(p.stderr)?.[1];
  if (reported !== String(CODES[sig]))
    why.push(`the --json error says exitCode ${reported}, expected ${CODES[sig]}`);
  if (p.stdout.includes('"type":"copied"')) why.push(`the copy went on after ${sig} and committed`);
  if (now && !(old && sha256(now) === sha256(old))) {
    why.push(`destination ${shown(now)}, expected ${old ? 'the old content' : 'absent'}`);
    // The whole new file is a commit the user was told did not happen; anything else is torn.
    if (now.length !== BIG_SIZE) cat.row.bytesLost += now.length;
  }
  if (!now && old) why.push('the old content is gone');
  const left = await t.leftovers(key);
  if (left) why.push(left);
  if (verb === 'mv') {
    const kept = await readFile(source).catch(() => undefined);
    if (!kept || sha256(kept) !== bigSha) why.push(`the source is ${shown(kept)}, no longer whole`);
  }
  return why.length ? why.join('; ') : undefined;
}

/** Signals × whether the destination exists: bounded, each signal once; full, every pair and SIGHUP. */
const COMBOS: [Sig, boolean][] = FULL
  ? [
      ['SIGINT', false],
      ['SIGINT', true],
      ['SIGTERM', false],
      ['SIGTERM', true],
      ['SIGHUP', false],
    ]
  : [
      ['SIGINT', true],
      ['SIGTERM', false],
    ];

/** The cases of one target (five rounds in full); a copy that committed first is tried again. */
async function interruptCases(
  t: Target,
  { source = big, label = t.name, verb = 'cp' as 'cp' | 'mv', combos = COMBOS } = {},
): Promise<void> {
  for (let round = 0; round < budget(1, 5); round++)
    for (const [sig, hasOld] of combos)
      await cat.case(
        `${label} ${verb} ${sig} onto ${hasOld ? 'an existing' : 'an absent'} file`,
        async () => {
          for (let tries = 0; tries < 3; tries++) {
            const why = await interruptOnce(t, sig, hasOld ? OLD : undefined, source, verb);
            if (why !== 'late') return why;
          }
          return `the ${verb} committed before ${sig} three times: nothing was interrupted`;
        },
      );
}

/** `cp -` with its stdin pipe left open: once the write has begun, a signal must commit nothing. */
async function interruptStdin(t: Target, sig: Sig, bytes: number): Promise<string | undefined> {
  const key = `stdin-${keys++}/dst.bin`;
  const p = run(['--json', 'cp', '-', `${t.store}:${key}`], 'pipe');
  p.child.stdin!.on('error', () => undefined);
  p.child.stdin!.write(randomBytes(bytes));
  // Locally the temp file exists at once: wait for bytes in it, so that the signal lands mid-write.
  const dir = path.join(root, path.dirname(key));
  const hasBytes = async (): Promise<boolean> => {
    for (const name of await partials(dir))
      if ((await stat(path.join(dir, name)).catch(() => null))?.size) return true;
    return false;
  };
  const begun = await until(
    async () => p.child.exitCode !== null || (t.name === 'local' ? await hasBytes() : await t.writing(key)),
    30_000,
    2,
  );
  if (!begun || p.child.exitCode !== null) {
    p.child.kill('SIGKILL');
    return `the write never began (${exitText(await p.exited, p)})`;
  }
  p.child.kill(sig);
  const exit = await exitWithin(p, CLEANUP_GRACE_MS + 5000);
  p.child.stdin!.destroy();
  if (!exit) return `still running ${CLEANUP_GRACE_MS + 5000} ms after ${sig}`;
  const why: string[] = [];
  if (exit.signal !== sig) why.push(`${exitText(exit, p)}, expected to be killed by ${sig}`);
  // --json: the error object on stderr names the same exit code as the process.
  const reported = /"exitCode":(\d+)/.exec(p.stderr)?.[1];
  if (reported !== String(CODES[sig]))
    why.push(`the --json error says exitCode ${reported}, expected ${CODES[sig]}`);
  const now = await t.read(key);
  if (now) why.push(`committed: ${shown(now)}`);
  const left = await t.leftovers(key);
  if (left) why.push(left);
  return why.length ? why.join('; ') : undefined;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-interrupts-'));
  cli = await privateBuild(tmp, path.join(tmp, 'cfg'));
  root = path.join(tmp, 'store');
  big = path.join(tmp, 'big.bin');
  await mkdir(root, { recursive: true });
  const hash = createHash('sha256');
  await pipeline(
    Readable.from(
      (function* () {
        for (let at = 0; at < BIG_SIZE; at += 8 * MiB) {
          const chunk = randomBytes(8 * MiB);
          hash.update(chunk);
          yield chunk;
        }
      })(),
    ),
    createWriteStream(big),
  );
  bigSha = hash.digest('hex');
  mvSource = path.join(tmp, 'mv-source.bin');
  fauxqs = await startCountedFauxqs();
  await fauxqs.createBucket('intr');
  fx = new Bucket(fauxqs, 'intr');
  env = s3Env(fauxqs);
  // The same fauxqs behind a proxy that stalls AbortMultipartUpload, for the second-signal case.
  proxy = await startFaultProxy(fauxqs.endpoint);
  for (const args of [
    ['store', 'register', 'loc', '--flavor=local', `--path=${root}`],
    s3RegisterArgs('fx', fauxqs, 'intr', 'fx'),
    s3RegisterArgs('slow', fauxqs, 'intr', 'slow', proxy.endpoint),
  ]) {
    const r = await cli.run(args, env);
    expect(r.code, r.stderr).toBe(0);
  }
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  fx?.close();
  await proxy?.close();
  await fauxqs?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const rgwSkip = radosgwSkipReason();
const TIMEOUT = budget(90_000, 900_000);

describe('reliability: interrupts', () => {
  it(
    'local store: cp interrupted, nothing committed, no temp file left',
    () => interruptCases(localTarget()),
    TIMEOUT,
  );

  // Source and destination in one store: one copyfile call instead of a streamed copy.
  it(
    'local store, same-store cp: interrupted, nothing committed, no temp file left',
    async () => {
      await mkdir(path.join(root, 'src'), { recursive: true });
      await copyFile(big, path.join(root, 'src/big.bin'));
      await interruptCases(localTarget(), { source: 'loc:src/big.bin', label: 'local same-store' });
    },
    TIMEOUT,
  );

  it(
    'fauxqs: cp interrupted, no object, no open multipart upload',
    () => interruptCases(s3Target('fauxqs', 'fx', fx)),
    TIMEOUT,
  );

  // Across stores `mv` copies, then removes the source: interrupted, the source must stay whole.
  it(
    'mv interrupted: the source stays whole, nothing at the destination',
    async () => {
      const local = localTarget();
      const combos: [Sig, boolean][] = FULL ? COMBOS : [['SIGINT', false]];
      await interruptCases(local, { source: mvSource, verb: 'mv', combos });
      if (FULL) await interruptCases(s3Target('fauxqs', 'fx', fx), { source: mvSource, verb: 'mv' });
    },
    TIMEOUT,
  );

  (rgwSkip ? it.skip : it)(
    `radosgw: cp interrupted, no object, no open multipart upload${rgwSkip ? ` — skipped: ${rgwSkip}` : ''}`,
    async () => {
      const rgw = await startRadosgw();
      if ('skipped' in rgw) throw new Error(rgw.skipped);
      const bucket = new Bucket(rgw, 'intr');
      try {
        await rgw.createBucket('intr');
        const r = await cli.run(s3RegisterArgs('rgw', rgw, 'intr', 'rgw'), s3Env(rgw));
        expect(r.code, r.stderr).toBe(0);
        env = { ...env, ...s3Env(rgw) };
        await interruptCases(s3Target('radosgw', 'rgw', bucket));
      } finally {
        bucket.close();
        await rgw.stop();
      }
    },
    TIMEOUT + 60_000,
  );

  it(
    'cp - from a stdin pipe that stays open, interrupted: nothing committed',
    async () => {
      await cat.case('local cp - SIGINT', () => interruptStdin(localTarget(), 'SIGINT', 3 * MiB));
      // More than a part, so that the upload is open when the signal lands.
      await cat.case('fauxqs cp - SIGTERM', () =>
        interruptStdin(s3Target('fauxqs', 'fx', fx), 'SIGTERM', 12 * MiB),
      );
    },
    TIMEOUT,
  );

  it(
    'a second SIGINT during a hung cleanup ends the process at once, by SIGINT',
    async () => {
      const STALL_MS = 8000;
      proxy.setRules([
        {
          match: (req, url) => req.method === 'DELETE' && url.searchParams.has('uploadId'),
          fault: { kind: 'stall', ms: STALL_MS },
        },
      ]);
      const slow = s3Target('fauxqs (AbortMultipartUpload stalled)', 'slow', fx);
      await cat.case('fauxqs cp: a second SIGINT while the abort hangs', async () => {
        const key = `second-${keys++}.bin`;
        const p = run(['--json', 'cp', big, `slow:${key}`]);
        if (!(await until(() => slow.writing(key), 30_000, 2))) return 'the upload never started';
        p.child.kill('SIGINT');
        // Cleanup is under way (and hung) once its AbortMultipartUpload reached the proxy.
        const aborting = await until(() => (proxy.hits[0] ?? 0) > 0, 5000);
        const second = performance.now();
        p.child.kill('SIGINT');
        const exit = await exitWithin(p, STALL_MS - 1000);
        if (!exit) return `still running ${STALL_MS - 1000} ms after the second SIGINT`;
        const why: string[] = [];
        if (!aborting) why.push('(no AbortMultipartUpload was sent after the first SIGINT)');
        if (exit.signal !== 'SIGINT') why.push(`${exitText(exit, p)}, expected to be killed by SIGINT`);
        // "At once": long before the stalled cleanup could have ended.
        const took = exit.at - second;
        if (took > 2000) why.push(`exited ${Math.round(took)} ms after the second SIGINT`);
        if (await slow.read(key)) why.push('an object was committed');
        return why.length ? why.join('; ') : undefined;
      });
      proxy.setRules([]);
    },
    TIMEOUT,
  );

  it('no interrupted copy committed, tore or left anything', async () => {
    await cat.case('no temp file anywhere in the local store after every case', async () => {
      const left = await partialsBelow(root);
      return left.length ? `left: ${left.join(' ')}` : undefined;
    });
    const row = cat.record();
    console.log(`interrupts: ${row.passed}/${row.tried} passed, ${row.bytesLost} bytes lost`);
    expect(row.failures).toEqual([]);
  });
});
