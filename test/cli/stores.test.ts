/**
 * `avfs artifact-store …`: the built CLI as a child process, each test with its own config dir.
 * Store management in ZenML's shape, the config file (atomic, 0600 in 0700), custom flavors loaded
 * lazily, and bad input that gives one line, a non-zero exit, and writes nothing.
 */
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { avfs, BUILD, buildCli, sha256, snapshot, tempDir, BUILD_TIMEOUT_MS } from './helpers.js';

let tmp: string;
let cfg: string;
let n = 0;

beforeAll(async () => {
  await buildCli();
  tmp = await tempDir('stores');
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  cfg = path.join(tmp, `cfg-${++n}`);
});

const run = (...args: string[]) => avfs(cfg, args);
const readConfig = async () =>
  JSON.parse(await readFile(path.join(cfg, 'config.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('artifact-store list / describe on a fresh machine', () => {
  it('shows the default local store, active, and creates its record 0600 in a 0700 dir', async () => {
    const r = await run('artifact-store', 'list');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ACTIVE\s+NAME\s+FLAVOR\s+PATH$/);
    expect(lines[1]).toMatch(new RegExp(`^\\*\\s+default\\s+local\\s+${cfg}/local_stores/[0-9a-f-]{36}$`));
    expect((await stat(path.join(cfg, 'config.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(cfg)).mode & 0o777).toBe(0o700);

    const json = await run('--json', 'store', 'list');
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'default', flavor: 'local', path: expect.stringMatching(/local_stores\//), active: true },
    ]);
    const d = await run('store', 'describe', '--json');
    expect(JSON.parse(d.stdout)).toMatchObject({
      name: 'default',
      flavor: 'local',
      active: true,
      config: {},
    });
  });
});

describe('register, describe, update, set, delete', () => {
  it('goes through the whole life of a store', async () => {
    const data = path.join(tmp, `data-${n}`);
    let r = await run('artifact-store', 'register', 'runs', '--flavor', 'local', '--path', data);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain("Registered artifact store 'runs'");
    r = await run(
      'store',
      'register',
      's3s',
      '--flavor=s3',
      '--path=s3://bucket/ml',
      '--region=eu-west-1',
      '--max_attempts=5',
      '--forcePathStyle=true',
    );
    expect(r.code).toBe(0);
    // values are coerced to the field's type and the snake_case key maps onto the field
    expect((await readConfig()).stores.s3s).toEqual({
      flavor: 's3',
      path: 's3://bucket/ml',
      config: { region: 'eu-west-1', maxAttempts: 5, forcePathStyle: true },
    });

    r = await run('store', 'list', '--json');
    expect(JSON.parse(r.stdout).map((s: { name: string; active: boolean }) => [s.name, s.active])).toEqual([
      ['default', true],
      ['runs', false],
      ['s3s', false],
    ]);

    r = await run('store', 'set', 's3s');
    expect(r.code).toBe(0);
    r = await run('store', 'list');
    expect(r.stdout).toMatch(/^\*\s+s3s\s+s3\s+s3:\/\/bucket\/ml$/m);
    expect(r.stdout).toMatch(/^\s+default\s+local/m);
    r = await run('store', 'describe');
    expect(r.stdout).toContain("Artifact store 's3s' (active)");
    expect(r.stdout).toMatch(/region\s+eu-west-1/);

    r = await run(
      'store',
      'update',
      's3s',
      '--region=us-east-2',
      '--unset',
      'maxAttempts',
      '--path',
      's3://bucket/other',
    );
    expect(r.code).toBe(0);
    expect((await readConfig()).stores.s3s).toEqual({
      flavor: 's3',
      path: 's3://bucket/other',
      config: { region: 'us-east-2', forcePathStyle: true },
    });

    r = await run('store', 'delete', 's3s');
    expect(r.code).toBe(0);
    const after = await readConfig();
    expect(after.stores).toEqual({ runs: { flavor: 'local', path: data, config: {} } });
    // the active store falls back to the default
    expect(after.activeStore).toBeUndefined();
    expect((await run('store', 'list', '--json')).stdout).toContain('"active": true');
    expect(JSON.parse((await run('store', 'describe', '--json')).stdout).name).toBe('default');
    // no temp files are left beside the config
    expect(Object.keys(await snapshot(cfg)).filter((f) => !f.startsWith('local_stores'))).toEqual([
      'config.json',
    ]);
  });

  it('stores a relative local path as an absolute one', async () => {
    const r = await avfs(cfg, ['store', 'register', 'rel', '--flavor', 'local', '--path', 'some/dir'], {
      cwd: tmp,
    });
    expect(r.code).toBe(0);
    expect((await readConfig()).stores.rel.path).toBe(path.join(tmp, 'some/dir'));
  });
});

describe('bad input: one line, a non-zero exit, nothing written', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    [
      'unknown flavor',
      ['store', 'register', 'x', '--flavor', 'nope', '--path', '/tmp/x'],
      1,
      /no artifact-store flavor named 'nope' \(available: local, memory, s3/,
    ],
    [
      'scheme the flavor does not serve',
      ['store', 'register', 'x', '--flavor', 's3', '--path', '/tmp/x'],
      1,
      /the 's3' flavor does not support the path '\/tmp\/x'/,
    ],
    [
      'local flavor given a URI',
      ['store', 'register', 'x', '--flavor', 'local', '--path', 's3://b/k'],
      1,
      /the 'local' flavor does not support/,
    ],
    [
      'malformed --KEY=VALUE',
      ['store', 'register', 'x', '--flavor', 's3', '--path', 's3://b', '--region'],
      2,
      /malformed config option '--region': expected --KEY=VALUE/,
    ],
    [
      'a stray word',
      ['store', 'register', 'x', '--flavor', 's3', '--path', 's3://b', 'region'],
      2,
      /unexpected argument: config options are given as --KEY=VALUE/,
    ],
    [
      'unknown config field',
      ['store', 'register', 'x', '--flavor', 's3', '--path', 's3://b', '--bogus=1'],
      1,
      /unknown config field 'bogus' for flavor 's3'/,
    ],
    [
      'wrong type',
      ['store', 'register', 'x', '--flavor', 's3', '--path', 's3://b', '--maxAttempts=lots'],
      1,
      /'maxAttempts' of flavor 's3' must be a number/,
    ],
    [
      'missing --flavor',
      ['store', 'register', 'x', '--path', '/tmp/x'],
      2,
      /required option '-f, --flavor <flavor>' not specified/,
    ],
    [
      'bad store name',
      ['store', 'register', '../x', '--flavor', 'local', '--path', '/tmp/x'],
      1,
      /invalid store name/,
    ],
    [
      'taken name',
      ['store', 'register', 'default', '--flavor', 'local', '--path', '/tmp/x'],
      1,
      /already exists/,
    ],
    [
      'unknown store (describe)',
      ['store', 'describe', 'ghost'],
      1,
      /no artifact store named 'ghost' \(registered: default, keep\)/,
    ],
    ['unknown store (set)', ['store', 'set', 'ghost'], 1, /no artifact store named 'ghost'/],
    ['unknown store (delete)', ['store', 'delete', 'ghost'], 1, /no artifact store named 'ghost'/],
    ['unknown store in a path', ['ls', 'ghost:x'], 1, /no artifact store named 'ghost'/],
    [
      'the default store cannot be deleted',
      ['store', 'delete', 'default'],
      1,
      /default store cannot be deleted/,
    ],
    ['unknown command', ['frobnicate'], 2, /unknown command 'frobnicate'/],
    ['unknown option', ['ls', '--frob'], 2, /unknown option '--frob'/],
    [
      'update of the default store',
      ['store', 'update', 'default', '--path=/tmp/y'],
      1,
      /default store cannot be changed/,
    ],
    ['update with nothing to do', ['store', 'update', 'keep'], 2, /nothing to update/],
    [
      'unknown flavor (describe)',
      ['store', 'flavor', 'describe', 'nope'],
      1,
      /no artifact-store flavor named 'nope'/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, code, message) => {
    // a config with one store in it, so "nothing written" is checked against real content
    await run('store', 'register', 'keep', '--flavor', 'memory', '--path', 'mem://keep');
    const before = await snapshot(cfg);
    const r = await run(...args);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^avfs: /);
    expect(lines[0]).toMatch(message);
    expect(await snapshot(cfg)).toEqual(before);
  });

  it('with --json the error is one JSON object on stderr, stdout stays empty', async () => {
    const r = await run('--json', 'store', 'describe', 'ghost');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr)).toEqual({
      error: { code: 'ERR_UNKNOWN_STORE', message: expect.stringContaining("'ghost'"), exitCode: 1 },
    });
    const u = await run('--json', 'store', 'register', 'x', '--flavor', 's3', '--path', 's3://b', '--region');
    expect(u.code).toBe(2);
    expect(JSON.parse(u.stderr).error).toMatchObject({ code: 'ERR_USAGE', exitCode: 2 });
  });

  it('--help works on every command and exits 0; no command at all is a usage error', async () => {
    for (const args of [
      ['--help'],
      ['store', '--help'],
      ['artifact-store', 'register', '--help'],
      ['store', 'flavor', 'register', '--help'],
      ['cp', '--help'],
      ['help', 'ls'],
    ]) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: avfs/);
    }
    const r = await run();
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Usage: avfs/);
  });
});

describe('env references', () => {
  it('are stored literally, shown as references, and a missing variable is named', async () => {
    let r = await run('store', 'register', 'm', '--flavor', 'memory', '--path', 'mem://envs');
    expect(r.code).toBe(0);
    r = await run(
      'store',
      'register',
      's',
      '--flavor',
      's3',
      '--path',
      's3://b',
      '--secretAccessKey={{env.AVFS_TEST_SECRET}}',
      '--maxAttempts={{env.AVFS_TEST_ATTEMPTS}}',
    );
    expect(r.code).toBe(0);
    expect((await readConfig()).stores.s.config).toEqual({
      secretAccessKey: '{{env.AVFS_TEST_SECRET}}',
      maxAttempts: '{{env.AVFS_TEST_ATTEMPTS}}',
    });
    expect(JSON.parse((await run('--json', 'store', 'describe', 's')).stdout).config).toEqual({
      secretAccessKey: '{{env.AVFS_TEST_SECRET}}',
      maxAttempts: '{{env.AVFS_TEST_ATTEMPTS}}',
    });
    r = await run('ls', 's:');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "avfs: EINVAL: store 's': the config field 'secretAccessKey' refers to the environment variable 'AVFS_TEST_SECRET', which is not set",
    );
    // resolved at use: a bad number from the environment is the field's type error
    r = await avfs(cfg, ['ls', 's:'], { env: { AVFS_TEST_SECRET: 'abcd1234', AVFS_TEST_ATTEMPTS: 'many' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/'maxAttempts' of flavor 's3' must be a number/);
  });
});

describe('flavor list / describe / register', () => {
  it('lists the built-in flavors and describes their fields', async () => {
    const r = await run('store', 'flavor', 'list', '--json');
    const names = JSON.parse(r.stdout).map((f: { name: string }) => f.name);
    expect(names).toEqual(expect.arrayContaining(['local', 'memory', 's3']));
    const text = await run('artifact-store', 'flavor', 'list');
    expect(text.stdout).toMatch(/^s3\s+s3:\/\/, s3a:\/\/\s+built-in\s+Amazon S3/m);
    const d = await run('store', 'flavor', 'describe', 's3', '--json');
    const fields = JSON.parse(d.stdout).fields as Array<{ name: string; required: boolean; secret: boolean }>;
    expect(fields.find((f) => f.name === 'path')).toMatchObject({ required: true, secret: false });
    expect(fields.find((f) => f.name === 'secretAccessKey')).toMatchObject({ required: false, secret: true });
    expect(fields.find((f) => f.name === 'region')).toMatchObject({ secret: false });
    const t = await run('store', 'flavor', 'describe', 's3');
    expect(t.stdout).toMatch(/^secretAccessKey\s+string\s+no\s+yes\s+Secret access key$/m);
  });

  it('registers a custom flavor from a module, remembers it, and imports it only when a store is used', async () => {
    const dir = path.join(tmp, `flavor-${n}`);
    const backing = path.join(dir, 'backing');
    const marker = path.join(dir, 'imported.log');
    await mkdir(dir, { recursive: true });
    const index = pathToFileURL(path.join(BUILD, 'src/index.js')).href;
    await writeFile(
      path.join(dir, 'labelled.mjs'),
      `import { appendFileSync } from 'node:fs';
import { defineFlavor, localFlavor } from ${JSON.stringify(index)};
appendFileSync(process.env.AVFS_TEST_MARKER, 'imported\\n');
// The local flavor under another name, with a required field and a secret one.
export const labelledFlavor = defineFlavor({
  name: 'labelled',
  type: 'artifact_store',
  schemes: ['file'],
  description: 'Test flavor: a labelled local directory',
  config: {
    label: { type: 'string', required: true, description: 'a label' },
    token: { type: 'string', secret: true, description: 'an API token' },
  },
  create: ({ path }) => localFlavor.create({ path }),
});
export const notAFlavor = { name: 'x' };
`,
    );
    const env = { AVFS_TEST_MARKER: marker };
    const go = (...args: string[]) => avfs(cfg, args, { env, cwd: dir });
    const marked = async () =>
      (await readFile(marker, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;

    // validation failures write nothing
    await run('store', 'list');
    const before = await snapshot(cfg);
    for (const [spec, message] of [
      ['./labelled.mjs#nope', /has no export 'nope' \(exports: labelledFlavor, notAFlavor\)/],
      ['./labelled.mjs#notAFlavor', /is not an artifact-store flavor: its `type` is not 'artifact_store'/],
      ['./missing.mjs#x', /no module file at/],
      ['./labelled.mjs#', /expected <module>#<export>/],
    ] as const) {
      const r = await go('store', 'flavor', 'register', spec);
      expect(r.code, spec).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(await snapshot(cfg)).toEqual(before);
    }

    let r = await go('store', 'flavor', 'register', './labelled.mjs#labelledFlavor');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Registered flavor 'labelled'");
    const imports = await marked();

    // listing, describing and registering a store use the remembered schema: no import
    r = await go('store', 'flavor', 'list');
    expect(r.stdout).toMatch(/^labelled\s+file:\/\/, paths\s+custom\s+Test flavor/m);
    r = await go('store', 'flavor', 'describe', 'labelled');
    expect(r.stdout).toMatch(/^label\s+string\s+yes\s+no/m);
    expect(r.stdout).toMatch(/^token\s+string\s+no\s+yes/m);
    r = await go(
      'store',
      'register',
      'lab',
      '--flavor',
      'labelled',
      '--path',
      backing,
      '--label=runs',
      '--token=tok-SECRET-42',
    );
    expect(r.code).toBe(0);
    r = await go('store', 'register', 'lab2', '--flavor', 'labelled', '--path', backing);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs the config field 'label'/);
    r = await go('store', 'describe', 'lab', '--json');
    expect(JSON.parse(r.stdout).config).toEqual({ label: 'runs', token: '**********' });
    expect(await marked()).toBe(imports);

    // using the store imports the module and works end to end
    await writeFile(path.join(dir, 'hello.txt'), 'hello labelled');
    r = await go('cp', 'hello.txt', 'lab:greetings/hello.txt');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await marked()).toBe(imports + 1);
    expect(sha256(await readFile(path.join(backing, 'greetings/hello.txt')))).toBe(sha256('hello labelled'));
    // a path inside the store's root is served by that store (and so its flavor)
    r = await go('cat', path.join(backing, 'greetings/hello.txt'));
    expect(r.stdout).toBe('hello labelled');
    expect(await marked()).toBe(imports + 2);

    // a flavor in use cannot be deleted; a built-in cannot be deleted
    r = await go('store', 'flavor', 'delete', 'labelled');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/used by the store\(s\) lab/);
    r = await go('store', 'flavor', 'delete', 's3');
    expect(r.stderr).toMatch(/'s3' is a built-in flavor/);
  });
});

describe('a config file that cannot be used', () => {
  const ID = '0b5d7c3e-8a4f-4c1e-9d2b-6f7a8e9c0d1e';
  const commands = [
    ['artifact-store', 'list'],
    ['ls', 'default:'],
    ['artifact-store', 'register', 'x', '--flavor', 'memory', '--path', 'mem://x'],
  ];

  /** Every command fails with one line naming the file, the field and the fix; nothing is written. */
  async function refusedEverywhere(text: string, field: string, what: RegExp): Promise<void> {
    await mkdir(cfg, { recursive: true });
    const file = path.join(cfg, 'config.json');
    await writeFile(file, text);
    const before = await snapshot(cfg);
    for (const args of commands) {
      const r = await run(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^avfs: ERR_INVALID_CONFIG: /);
      expect(lines[0]).toContain(`'${file}'`);
      if (field) expect(lines[0]).toContain(` at ${field}: `);
      expect(lines[0]).toMatch(what);
      expect(lines[0]).not.toMatch(/in JSON at position|is not a function|TypeError|SyntaxError/);
      const j = await run('--json', ...args);
      expect(j.code).toBe(1);
      expect(j.stdout).toBe('');
      expect(JSON.parse(j.stderr)).toEqual({
        error: { code: 'ERR_INVALID_CONFIG', message: expect.stringContaining(file), exitCode: 1 },
      });
      expect(await snapshot(cfg)).toEqual(before);
    }
  }

  it('"stores": "oops" fails every command, and register never writes {"0":"o",…}', async () => {
    await refusedEverywhere(
      JSON.stringify({ version: 1, defaultLocalStore: ID, stores: 'oops' }),
      'stores',
      /must be an object of store records/,
    );
  });

  it('truncated JSON names the line and column; a mistyped record names its field', async () => {
    await refusedEverywhere(
      `{"version": 1, "stores": {"a": {"flavor": "mem`,
      '',
      /not valid JSON: unterminated string at line 1, column 43 \(in stores\.a\.flavor\)/,
    );
    cfg = `${cfg}-b`;
    await refusedEverywhere(
      JSON.stringify({
        version: 1,
        defaultLocalStore: ID,
        stores: { a: { flavor: 'memory', path: 7, config: {} } },
      }),
      'stores.a.path',
      /must be the store's root \(a URI or an absolute local path\), got a number/,
    );
  });

  it('a version from a newer artifact-vfs is refused as such', async () => {
    await refusedEverywhere(
      JSON.stringify({ version: 99, defaultLocalStore: ID }),
      'version',
      /version 99 was written by a newer artifact-vfs \(this one reads version 1\); upgrade artifact-vfs/,
    );
  });

  it('defaultLocalStore outside local_stores/ is refused (ARTIFACT_VFS_LOCAL_STORE is the way)', async () => {
    await refusedEverywhere(
      JSON.stringify({ version: 1, defaultLocalStore: '../../elsewhere' }),
      'defaultLocalStore',
      /must be the name of a directory under local_stores\/.*set ARTIFACT_VFS_LOCAL_STORE instead/,
    );
  });

  it('--help and --version still work', async () => {
    await mkdir(cfg, { recursive: true });
    await writeFile(path.join(cfg, 'config.json'), '{"stores": "oops"}');
    expect((await run('--version')).code).toBe(0);
    expect((await run('artifact-store', 'list', '--help')).code).toBe(0);
  });

  it('a live lock from another host: register waits its bound, then EBUSY naming the lock and holder', async () => {
    await run('artifact-store', 'list');
    const lock = path.join(cfg, 'config.json.lock');
    await writeFile(lock, '4242 some-other-host 2026-01-01T00:00:00.000Z');
    const r = await avfs(cfg, commands[2]!, { env: { ARTIFACT_VFS_LOCK_WAIT_MS: '200' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^avfs: EBUSY: the artifact-vfs config is locked by pid 4242 on host 'some-other-host' since .*; waited .* rm '.*config\.json\.lock'\n$/,
    );
    expect(await readFile(lock, 'utf8')).toBe('4242 some-other-host 2026-01-01T00:00:00.000Z');
    // a lock of garbage is broken: the same command then succeeds
    await writeFile(lock, 'garbage');
    const ok = await run(...commands[2]!);
    expect(ok.code, ok.stderr).toBe(0);
    expect((await readConfig()).stores.x).toEqual({ flavor: 'memory', path: 'mem://x', config: {} });
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
