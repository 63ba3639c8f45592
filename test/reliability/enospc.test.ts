/**
 * Reliability category "enospc": writes onto a disk that runs out of space. A child process
 * (fixtures/enospc-child.mjs) runs in a private mount namespace with a 2 MiB tmpfs, the only thing
 * it fills; the built library and CLI write onto it until they hit ENOSPC:
 *
 * - the facade's `open` for writing: `wb` replacing a file and creating one, `xb`, `ab` onto a file
 *   and onto none; after the failed write the caller calls `close()`, calls `abort()`, or just
 *   drops the file (what it leaves must already be clean when the write rejects);
 * - the facade's `copyfile`, `copyFrom` from a memory store, the mount table's cross-mount
 *   `copyFile`, and `avfs cp` (a local path, into a registered store, and from stdin).
 *
 * A case passes when the destination is absent or byte for byte as it was (SHA-256), its directory
 * holds exactly what it held (no hidden `.partial` sibling), the space is given back, and the error
 * is ENOSPC naming the caller's path (never the sibling), its cause kept; `close()` after the failure
 * rejects with that same error and `abort()` resolves. The CLI exits 1 with one `avfs: ENOSPC` line.
 *
 * Bounded (npm test): every mode once, 64 KiB left free. Full: more rounds, with random free space,
 * chunk sizes and existing files.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BUILD, BUILD_TIMEOUT_MS, buildCli, childEnv, MAIN } from '../cli/helpers.js';
import { jailSkipReason } from '../cli/jail.js';
import { budget, Category, FULL } from './table.js';

const CHILD = fileURLToPath(new URL('./fixtures/enospc-child.mjs', import.meta.url));
/** Cases per round: 5 open modes × 3 follow-ups, 3 copies × 2 destinations, 3 CLI copies. */
const PER_ROUND = 24;
const ROUNDS = budget(1, 10);
const SEED = FULL ? Date.now() % 1_000_000 : 1;
const TMPFS_SIZE = '2m';
const TMPFS_BYTES = 2 * 1024 * 1024;
/** The hidden sibling a write goes through, or its random part. */
const TEMP_NAME = /\.partial|avfs-[0-9a-f]{8}/;

const skip = jailSkipReason();

interface Fingerprint {
  sha: string;
  size: number;
}
interface State {
  file: Fingerprint | null;
  entries: string[];
  free: number;
}
interface ErrorFields {
  code?: string;
  path?: string;
  dest?: string;
  message: string;
  causeCode?: string;
}
interface Line {
  kind: string;
  detail: string;
  id: string;
  dest: string;
  crashed?: string;
  before?: State;
  after?: State;
  error?: ErrorFields | null;
  failedAt?: 'write' | 'close';
  followUp?: string;
  cli?: { code: number; stdout: string; stderr: string };
  want?: { path?: string; dest?: string; operand?: string; full?: string };
}

/** Why a case failed (undefined: it passed), and the bytes of a destination it lost or tore. */
function judge(line: Line): { why: string | undefined; lost: number } {
  if (line.crashed) return { why: `the case crashed: ${line.crashed.split('\n')[0]}`, lost: 0 };
  const { before, after } = line;
  if (!before || !after) return { why: 'no observations', lost: 0 };
  const whys: string[] = [];
  let lost = 0;
  if (JSON.stringify(after.file) !== JSON.stringify(before.file)) {
    lost = before.file?.size ?? after.file?.size ?? 0;
    whys.push(`the destination changed: ${JSON.stringify(before.file)} -> ${JSON.stringify(after.file)}`);
  }
  if (JSON.stringify(after.entries) !== JSON.stringify(before.entries))
    whys.push(`its directory changed: [${before.entries.join(', ')}] -> [${after.entries.join(', ')}]`);
  if (after.free !== before.free) whys.push(`${before.free - after.free} bytes of space not given back`);

  if (line.cli) {
    const { code, stdout, stderr } = line.cli;
    const lines = stderr.trimEnd().split('\n');
    if (code !== 1) whys.push(`avfs exited ${code}, expected 1: ${stderr.trim()}`);
    else if (stdout !== '') whys.push(`avfs wrote to stdout: ${stdout.trim()}`);
    else if (lines.length !== 1 || !lines[0]!.startsWith('avfs: ENOSPC: '))
      whys.push(`stderr is not one 'avfs: ENOSPC' line: ${stderr.trim()}`);
    else if (TEMP_NAME.test(stderr)) whys.push(`the message names the hidden sibling: ${lines[0]}`);
    else if (!stderr.includes(`'${line.want?.operand}'`) && !stderr.includes(`'${line.want?.full}'`))
      whys.push(`the message does not name the destination: ${lines[0]}`);
  } else {
    const err = line.error;
    if (!err) whys.push('it succeeded: the disk never filled up');
    else if (err.code !== 'ENOSPC') whys.push(`${err.code ?? 'no code'} instead of ENOSPC: ${err.message}`);
    else {
      if (TEMP_NAME.test(err.message) || TEMP_NAME.test(err.path ?? ''))
        whys.push(`the error names the hidden sibling: ${err.message}`);
      else if (err.path !== line.want?.path || err.dest !== line.want?.dest)
        whys.push(
          `the error names ${err.path} -> ${err.dest}, expected ${line.want?.path} -> ${line.want?.dest}`,
        );
      if (err.causeCode !== 'ENOSPC') whys.push(`the cause is ${err.causeCode ?? 'missing'}`);
    }
    const behaviour = line.detail.split(' ')[0];
    if (err && line.failedAt === 'write') {
      if (behaviour === 'close' && line.followUp !== 'close rejected with the same error')
        whys.push(`after the failure: ${line.followUp}`);
      if (behaviour === 'abort' && line.followUp !== 'abort resolved')
        whys.push(`after the failure: ${line.followUp}`);
    }
  }
  return { why: whys.length ? whys.join('; ') : undefined, lost };
}

/** Runs the child in its own mount namespace over a fresh tmpfs at `dir`; its lines, parsed. */
function runChild(dir: string, work: string, timeoutMs: number): Promise<{ lines: unknown[]; log: string }> {
  const args = JSON.stringify({
    lib: path.join(BUILD, 'src/index.js'),
    cli: MAIN,
    dir,
    work,
    rounds: ROUNDS,
    seed: SEED,
  });
  // The mount exists only in the child's namespace: it vanishes when the child exits.
  const script = `mount -t tmpfs -o size=${TMPFS_SIZE} tmpfs "$1" && exec "$2" "$3" "$4"`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, process.execPath, CHILD, args],
      {
        env: childEnv(path.join(work, 'cfg')),
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
      },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const text = Buffer.concat(out).toString('utf8');
      const log = `exit ${code ?? signal}; stderr: ${Buffer.concat(err).toString('utf8').trim()}`;
      const lines = text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          try {
            return JSON.parse(l) as unknown;
          } catch {
            return { unparsed: l };
          }
        });
      resolve({ lines, log });
    });
  });
}

describe.skipIf(skip !== undefined)(`reliability: enospc${skip ? ` — skipped: ${skip}` : ''}`, () => {
  it(
    'writes that run out of space leave the destination absent or as it was, and nothing else',
    { timeout: BUILD_TIMEOUT_MS + budget(60_000, 600_000) },
    async () => {
      await buildCli();
      const scratch = await mkdtemp(path.join(tmpdir(), 'avfs-rel-enospc-'));
      const cat = new Category('enospc');
      try {
        const dir = path.join(scratch, 'tmpfs');
        const work = path.join(scratch, 'work');
        await mkdir(dir);
        await mkdir(work);
        const { lines, log } = await runChild(dir, work, budget(60_000, 600_000));
        // The child refuses anything but the small tmpfs: without it, no case ran.
        const onTmpfs = lines.some((l) => (l as { info?: { size: number } }).info?.size === TMPFS_BYTES);
        if (!onTmpfs) cat.check(`the child did not run on a ${TMPFS_SIZE} tmpfs: ${log}`);
        const cases = lines.filter((l): l is Line => typeof (l as Line).kind === 'string');
        for (const line of cases) {
          const { why, lost } = judge(line);
          cat.check(why && `${line.kind}, ${line.detail} (${line.id}, seed ${SEED}): ${why}`, lost);
        }
        const missing = ROUNDS * PER_ROUND - cases.length;
        if (missing > 0) cat.check(`${missing} cases never reported (the child stopped): ${log}`);
        const row = cat.record();
        expect(onTmpfs, log).toBe(true);
        expect(cases.length, log).toBe(ROUNDS * PER_ROUND);
        expect(row.failures).toEqual([]);
        expect(row.bytesLost).toBe(0);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },
  );
});
