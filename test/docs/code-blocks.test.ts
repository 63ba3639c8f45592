/**
 * Every code block in README.md and docs/ runs as written (issue 13, item 11). Blocks are tagged:
 * - `ts`: run as an ES module by node, `artifact-vfs` resolving to this checkout's build; a block
 *   that imports `vitest` or calls `runConformance` is a test file and runs under vitest.
 * - `sh`: each command runs in a scratch directory with `npx avfs` as the built CLI, a scratch
 *   config dir, and S3 on fauxqs (`AWS_ENDPOINT_URL_S3`; the bucket `bucket` exists). The files a
 *   block names as inputs (`model.bin`) are made first. `npm ci && …` runs what follows it (this
 *   tree is installed); `npm test` is this very run, so it is not started again.
 * - `jsonl`: every line parses as JSON. `text`: a diagram or listing; nothing to run.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILD, BUILD_TIMEOUT_MS, buildCli, MAIN, ROOT } from '../cli/helpers.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import type { S3Server } from '../emulators/s3-server.js';

interface Block {
  file: string;
  line: number;
  lang: string;
  code: string;
}

const KNOWN = new Set(['ts', 'sh', 'jsonl', 'text']);

function blocksOf(file: string): Block[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const out: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ file, line: start + 1, lang: open[1]!, code: body.join('\n') });
  }
  return out;
}

const FILES = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const BLOCKS = FILES.flatMap(blocksOf);

function exec(
  cmd: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

let scratch: string;
let server: S3Server;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await buildCli();
  server = await startFauxqs();
  await server.createBucket('bucket');
  scratch = await mkdtemp(path.join(tmpdir(), 'avfs-docs-'));
  // `artifact-vfs` as an installed package would resolve: this checkout's build behind its exports.
  const pkg = path.join(scratch, 'node_modules/artifact-vfs');
  await mkdir(pkg, { recursive: true });
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: unknown };
  await writeFile(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'artifact-vfs', type: 'module', exports: manifest.exports }),
  );
  await symlink(BUILD, path.join(pkg, 'dist'));
  await symlink(path.join(ROOT, 'node_modules/vitest'), path.join(scratch, 'node_modules/vitest'));
  await writeFile(path.join(scratch, 'package.json'), '{ "type": "module" }\n');
  const bin = path.join(scratch, 'bin');
  await mkdir(bin);
  await writeFile(
    path.join(bin, 'npx'),
    `#!/bin/sh\nif [ "$1" = avfs ]; then shift; exec "${process.execPath}" "${MAIN}" "$@"; fi\necho "npx $1: not available in the docs test" >&2; exit 127\n`,
  );
  await chmod(path.join(bin, 'npx'), 0o755);
  env = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: scratch,
    TMPDIR: scratch,
    ARTIFACT_VFS_CONFIG_DIR: path.join(scratch, 'config'),
    AWS_ENDPOINT_URL_S3: server.endpoint,
    AWS_ACCESS_KEY_ID: 'AKIDDOCSTEST',
    AWS_SECRET_ACCESS_KEY: `docs-${randomBytes(8).toString('hex')}`,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await server?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** The commands of an `sh` block: continuation lines joined, comments and blank lines dropped. */
function commandsOf(code: string): string[] {
  return code
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

async function runShell(block: Block, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // Inputs the commands name: a file operand that ends in .bin and does not exist yet.
  for (const name of new Set(block.code.match(/(?<=\s)[\w.-]+\.bin(?=\s)/g) ?? [])) {
    if (!existsSync(path.join(dir, name))) await writeFile(path.join(dir, name), randomBytes(64 * 1024));
  }
  for (let command of commandsOf(block.code)) {
    if (command.startsWith('npm ci && ')) command = command.slice('npm ci && '.length);
    if (command === 'npm test') continue; // this run
    const cwd = command.startsWith('npm ') ? ROOT : dir;
    // Each block starts from its own config dir, as on a fresh machine.
    const blockEnv = { ...env, ARTIFACT_VFS_CONFIG_DIR: path.join(dir, '.config') };
    const r = await exec('sh', ['-c', command], { cwd, env: blockEnv, timeoutMs: 120_000 });
    expect(r.code, `${block.file}:${block.line}: ${command}\n${r.out}`).toBe(0);
  }
}

async function runModule(block: Block, name: string): Promise<void> {
  const js = ts.transpileModule(block.code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const isTest = /from 'vitest'|runConformance\(/.test(block.code);
  const file = path.join(scratch, isTest ? `${name}.test.mjs` : `${name}.mjs`);
  await writeFile(file, js);
  const args = isTest
    ? [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', scratch, path.basename(file)]
    : [file];
  const r = await exec(process.execPath, args, { cwd: scratch, env, timeoutMs: 120_000 });
  if (process.env.AVFS_DOCS_DEBUG) console.log(r.out);
  expect(r.code, `${block.file}:${block.line}\n${r.out}`).toBe(0);
}

describe('code blocks in README.md and docs/', () => {
  it('every block is tagged ts, sh, jsonl or text', () => {
    expect(BLOCKS.length).toBeGreaterThan(5);
    for (const b of BLOCKS) expect(KNOWN.has(b.lang), `${b.file}:${b.line} is tagged '${b.lang}'`).toBe(true);
  });

  BLOCKS.forEach((block, i) => {
    if (block.lang === 'text' || !KNOWN.has(block.lang)) return;
    it(`${block.file}:${block.line} (${block.lang}) runs as written`, { timeout: 240_000 }, async () => {
      const name = `block-${i}`;
      if (block.lang === 'sh') return runShell(block, path.join(scratch, name));
      if (block.lang === 'ts') return runModule(block, name);
      for (const line of block.code.split('\n').filter((l) => l.trim() !== '')) {
        expect(() => JSON.parse(line), `${block.file}:${block.line}: ${line}`).not.toThrow();
      }
    });
  });
});
