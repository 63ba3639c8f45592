/**
 * Destructive commands refuse the catastrophic (issue 13, item 1): `avfs rm -r /` and every
 * spelling of it, a whole bucket opened ad hoc, a store's root and a store's parent. The `/` cases
 * run inside a jail (test/cli/jail.ts) where, were the guard broken, only a scratch directory
 * could be harmed; the rest run on scratch stores.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avfs, buildCli, BUILD_TIMEOUT_MS, ROOT, tempDir } from './helpers.js';
import { createJail, jailSkipReason, type Jail } from './jail.js';

const skip = jailSkipReason();

describe.skipIf(skip !== undefined)(`rm -r of the machine's root${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let jail: Jail;
  beforeAll(async () => {
    await buildCli();
    jail = await createJail();
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => jail?.close());

  const spellings: Array<[string, string[], { shell?: boolean; env?: Record<string, string> }]> = [
    ['/', ['rm', '-r', '/'], {}],
    ['file:///', ['rm', '-r', 'file:///'], {}],
    ['/usr/..', ['rm', '-r', '/usr/..'], {}],
    ['"$OUT/" with OUT unset', ['rm', '-r', '"$OUT/"'], { shell: true }],
    ['~ with HOME=/', ['rm', '-rf', '~'], { shell: true, env: { HOME: '/' } }],
    ['/ after a harmless operand', ['rm', '-r', '/scratch/keep', '/'], {}],
    [
      '/ with --no-preserve-root (the default store lives below it)',
      ['rm', '-r', '--no-preserve-root', '/'],
      {},
    ],
    ['/ as the source of mv', ['mv', '/', '/scratch/elsewhere'], {}],
  ];
  for (const [name, args, options] of spellings) {
    it(`refuses ${name} with exit 2 and one clear line, removing nothing`, async () => {
      await mkdir(path.join(jail.dir, 'scratch/keep'), { recursive: true });
      await writeFile(path.join(jail.dir, 'scratch/keep/sentinel'), 'x');
      const r = await jail.avfs(args, options);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/refusing to (remove|move) '[^']*'/);
      expect(r.stderr).toMatch(/machine's root directory|holds the artifact store/);
      expect(existsSync(path.join(jail.dir, 'scratch/keep/sentinel'))).toBe(true);
      // The jail's top level: its own directories and the repository's first path segment (the
      // checkout may live anywhere: /work, /tmp, /home…).
      const repoTop = ROOT.split('/').filter(Boolean)[0]!;
      const expected = [...new Set(['bin', 'cfg', 'etc', 'lib', 'lib64', 'scratch', 'tmp', 'usr', repoTop])];
      expect((await readdir(jail.dir)).sort()).toEqual(expected.sort());
    });
  }

  it('--json gives one JSON object on stderr with the code', async () => {
    const r = await jail.avfs(['--json', 'rm', '-r', '/']);
    expect(r.code).toBe(2);
    const err = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    expect(err.error.message).toMatch(/refusing to remove '\/'/);
  });
});

describe('rm and mv of roots and parents of stores', () => {
  let tmp: string;
  let cfg: string;
  const run = (...args: string[]) => avfs(cfg, args);
  beforeAll(async () => {
    await buildCli();
    tmp = await tempDir('guards');
    cfg = path.join(tmp, 'cfg');
    await mkdir(path.join(tmp, 'stores/a/runs'), { recursive: true });
    await writeFile(path.join(tmp, 'stores/a/runs/x.txt'), 'x');
    expect(
      (await run('store', 'register', 'a', '--flavor', 'local', '--path', path.join(tmp, 'stores/a'))).code,
    ).toBe(0);
  }, BUILD_TIMEOUT_MS);
  afterAll(async () => rm(tmp, { recursive: true, force: true }));

  const cases: Array<[string, () => string[], RegExp]> = [
    ["a store's root by name", () => ['rm', '-r', 'a:'], /refusing to remove the root of the store 'a'/],
    ["a store's root by path", () => ['rm', '-r', path.join(tmp, 'stores/a')], /root of the store 'a'/],
    ["a store's parent", () => ['rm', '-r', path.join(tmp, 'stores')], /holds the artifact store 'a'/],
    [
      "a store's parent, even with --no-preserve-root",
      () => ['rm', '-r', '--no-preserve-root', path.join(tmp, 'stores')],
      /holds the artifact store 'a'/,
    ],
    [
      'the config dir (it holds the default store)',
      () => ['rm', '-r', cfg],
      /holds the artifact store 'default'/,
    ],
    ['a whole bucket opened ad hoc', () => ['rm', '-r', 'mem://bucket'], /root of mem:\/\/bucket/],
    ['a whole bucket, trailing slash', () => ['rm', '-r', 'mem://bucket/'], /root of mem:\/\/bucket/],
    [
      "a store's root as the source of mv",
      () => ['mv', 'a:', path.join(tmp, 'moved')],
      /refusing to move the root of the store 'a'/,
    ],
    [
      "a store's parent as the source of mv",
      () => ['mv', path.join(tmp, 'stores'), path.join(tmp, 'moved')],
      /holds the artifact store 'a'/,
    ],
  ];
  for (const [name, args, message] of cases) {
    it(`refuses ${name} (exit 2), leaving the store as it was`, async () => {
      const r = await run(...args());
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(path.join(tmp, 'stores/a/runs/x.txt'))).toBe(true);
    });
  }

  it('still removes what is inside a store, and a bucket root with --no-preserve-root', async () => {
    expect((await run('rm', '-r', 'a:runs')).code).toBe(0);
    expect(existsSync(path.join(tmp, 'stores/a/runs'))).toBe(false);
    const r = await run('rm', '-rf', '--no-preserve-root', 'mem://bucket');
    expect(r.code, r.stderr).toBe(0);
  });
});
