/**
 * The CLI tests run the built `avfs` as a child process. The build goes to a private directory
 * (node_modules/.cache/avfs-cli, so other builds of dist/ never race with it) once per change of the
 * sources: test files that start together wait on one lock, and an unchanged tree is not rebuilt.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUILD = path.join(ROOT, 'node_modules/.cache/avfs-cli');
export const MAIN = path.join(BUILD, 'src/cli/main.js');
const LOCK = `${BUILD}.lock`;
const STAMP = path.join(BUILD, '.stamp');

/** Size and mtime of every source the build compiles: a change to any of them means a rebuild. */
function sourceStamp(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|js|mjs|json)$/.test(e.name) && !e.name.endsWith('.test.ts')) {
        const s = statSync(p);
        h.update(`${p}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  for (const d of ['src', 'adapters', 'examples']) walk(path.join(ROOT, d));
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) {
    const s = statSync(path.join(ROOT, f));
    h.update(`${f}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex');
}

function exec(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Builds the CLI unless the sources are unchanged since the last build. */
/**
 * A hook that builds the CLI waits this long: on a loaded 2-core machine a cold build and the lock
 * wait of a second test file can take longer than the default hook timeout.
 */
export const BUILD_TIMEOUT_MS = 240_000;

export async function buildCli(): Promise<void> {
  const want = sourceStamp();
  const deadline = Date.now() + 180_000;
  for (;;) {
    if ((await readFile(STAMP, 'utf8').catch(() => '')) === want && existsSync(MAIN)) return;
    // The lock's parent (node_modules/.cache) does not exist on a fresh clone.
    await mkdir(path.dirname(LOCK), { recursive: true });
    try {
      await mkdir(LOCK, { recursive: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // Another test file is building; a lock older than two minutes was left by a killed run.
      const age =
        Date.now() -
        (await stat(LOCK)
          .then((s) => s.mtimeMs)
          .catch(() => Date.now()));
      if (age > 120_000) await rm(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('timed out waiting for the CLI build lock');
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      if ((await readFile(STAMP, 'utf8').catch(() => '')) === want && existsSync(MAIN)) return;
      await rm(BUILD, { recursive: true, force: true });
      const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
      // Emit only (`--noCheck`): `npm run typecheck` checks types; here only the JavaScript is
      // needed, and a checked build takes tens of seconds on a loaded 2-core machine.
      const r = await exec(process.execPath, [
        tsc,
        '-p',
        'tsconfig.build.json',
        '--outDir',
        BUILD,
        '--noCheck',
      ]);
      if (!existsSync(MAIN) || r.out.trim()) throw new Error(`building the CLI failed:\n${r.out}`);
      // Outside the package's directory tree Node would not see "type": "module".
      await writeFile(path.join(BUILD, 'package.json'), '{ "type": "module" }\n');
      await writeFile(STAMP, want);
      return;
    } finally {
      await rm(LOCK, { recursive: true, force: true });
    }
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Extra node flags (e.g. `--import` a preload). */
  nodeArgs?: string[];
  input?: string;
}

/** Runs `avfs …` with a config dir; the environment is the test's minus anything avfs reads. */
export function avfs(configDir: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const env = childEnv(configDir, options.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), MAIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
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
    child.stdin.end(options.input ?? '');
  });
}

/** The test's environment minus anything avfs reads, plus the config dir and `extra`. */
export function childEnv(
  configDir: string,
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of Object.keys(env))
    if (k.startsWith('ARTIFACT_VFS_') || k.startsWith('AWS_') || k === 'NO_COLOR' || k === 'FORCE_COLOR')
      delete env[k];
  // The AWS SDK warns once per process on Node < 22; the tests assert on stderr.
  Object.assign(
    env,
    { ARTIFACT_VFS_CONFIG_DIR: configDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    extra,
  );
  return env as NodeJS.ProcessEnv;
}

/** A raw-bytes variant for `cat`. */
export function avfsBytes(
  configDir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd: ROOT,
      env: childEnv(configDir, extraEnv),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out) }));
  });
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/** A fresh temporary directory (the caller removes it). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `avfs-cli-${prefix}-`));
}

/** Every file under a directory (relative paths), for "the failed command wrote nothing" checks. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out[path.relative(dir, p) + '/'] = '';
        await walk(p);
      } else out[path.relative(dir, p)] = sha256(await readFile(p));
    }
  };
  await walk(dir);
  return out;
}

/** Parses NDJSON output. */
export function ndjson(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
