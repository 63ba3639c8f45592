/**
 * The config file is validated in full on every read (src/store/config-file.ts): anything unusable
 * is ERR_INVALID_CONFIG naming the file, the field and the fix, and nothing is ever written over
 * it (no `{"0":"o",…}` from `"stores":"oops"`, no store silently dropped).
 */
// The built-in flavors (the composition root registers them).
import '../../src/builtins.js';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultLocalStorePath, writeConfigFile, type ConfigFile } from '../../src/store/defaults.js';
import {
  deleteStore,
  describeStore,
  listStores,
  openNamedStore,
  registerStore,
  setActiveStore,
} from '../../src/store/stores.js';

let dir: string;
let file: string;
const saved = { cfg: process.env.ARTIFACT_VFS_CONFIG_DIR, local: process.env.ARTIFACT_VFS_LOCAL_STORE };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'avfs-config-'));
  file = join(dir, 'config.json');
  process.env.ARTIFACT_VFS_CONFIG_DIR = dir;
  delete process.env.ARTIFACT_VFS_LOCAL_STORE;
});
afterEach(() => {
  for (const [k, v] of [
    ['ARTIFACT_VFS_CONFIG_DIR', saved.cfg],
    ['ARTIFACT_VFS_LOCAL_STORE', saved.local],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

const ID = '0b5d7c3e-8a4f-4c1e-9d2b-6f7a8e9c0d1e';
const write = (text: string): string => (writeFileSync(file, text), text);
const json = (value: unknown): string => write(JSON.stringify(value, null, 2));

/** Every library entry point refuses the file the same way and leaves it byte for byte. */
async function refused(field: string, what: RegExp): Promise<Error & { code: string; field: string }> {
  const before = readFileSync(file);
  const calls = [
    () => listStores(),
    () => openNamedStore('default'),
    () => describeStore(),
    () => registerStore('new', { flavor: 'memory', path: 'mem://new' }),
    () => setActiveStore('default'),
    () => deleteStore('x'),
  ];
  let first: (Error & { code: string; field: string }) | undefined;
  for (const call of calls) {
    const err = (await call().then(
      () => undefined,
      (e: unknown) => e,
    )) as (Error & { code: string; field: string }) | undefined;
    expect(err, call.toString()).toBeInstanceOf(Error);
    expect(err!.code).toBe('ERR_INVALID_CONFIG');
    expect(err!.message).toContain(`'${file}'`);
    expect(err!.message).toMatch(what);
    expect(err!.message).not.toMatch(/in JSON at position|is not a function|Cannot read prop/);
    expect(err!.field).toBe(field);
    if (field) expect(err!.message).toContain(` at ${field}:`);
    first ??= err;
  }
  expect(readFileSync(file).equals(before)).toBe(true);
  expect(readdirSync(dir)).toEqual(['config.json']);
  return first!;
}

describe('a config file that is not JSON', () => {
  it('truncated: line and column, no raw JSON.parse text', async () => {
    write(`{\n  "version": 1,\n  "defaultLocalStore": "${ID}",\n  "stores": {"a": {"flavor": "mem`);
    const err = await refused(
      '',
      /not valid JSON: unterminated string at line 4, column 30 \(in stores\.a\.flavor\)/,
    );
    expect(err.message).toMatch(
      /fix the file, or move it aside to start afresh; `avfs artifact-store list` works/,
    );
  });

  it('empty, a bare string, an array, trailing garbage', async () => {
    write('');
    await refused('', /the file is empty/);
    write('"hello"');
    await refused('', /must hold a JSON object .* not a string/);
    write('[]');
    await refused('', /not an array/);
    write('{"version": 1} x');
    await refused('', /unexpected 'x' after the end of the JSON value at line 1, column 16/);
  });

  it('duplicate keys: the first store would be lost on the next write', async () => {
    write(
      `{"version":1,"stores":{"a":{"flavor":"memory","path":"mem://a","config":{}},"a":{"flavor":"memory","path":"mem://b","config":{}}}}`,
    );
    await refused('', /duplicate key 'a' \(only one would be kept\) .*\(in stores\.a\)/);
  });

  it('numbers that cannot be written back as they are', async () => {
    write('{"version": 1, "n": 1e400}');
    await refused('', /too large/);
    write('{"version": 1, "n": 12345678901234567890}');
    await refused('', /the integer 12345678901234567890 is too large to keep exactly/);
  });

  it('a directory in the file’s place, and a file in the config dir’s place', async () => {
    mkdirSync(file);
    await expect(listStores()).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringMatching(/it is a directory, not a file; move the directory away/),
    });
    const notDir = join(dir, 'plain-file');
    writeFileSync(notDir, 'x');
    process.env.ARTIFACT_VFS_CONFIG_DIR = notDir;
    await expect(registerStore('a', { flavor: 'memory', path: 'mem://a' })).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message: expect.stringContaining(`the config dir '${notDir}' is not a directory`),
    });
    expect(readFileSync(notDir, 'utf8')).toBe('x');
  });

  it('a UTF-8 byte-order mark is accepted (Windows editors write one)', async () => {
    write(`\ufeff${JSON.stringify({ version: 1, defaultLocalStore: ID })}`);
    expect((await listStores()).map((s) => s.path)).toEqual([join(dir, 'local_stores', ID)]);
  });
});

describe('a config with fields of the wrong shape', () => {
  it('"stores": "oops" is refused, never written back as {"0":"o",…}', async () => {
    json({ version: 1, defaultLocalStore: ID, stores: 'oops' });
    await refused('stores', /must be an object of store records .* got a string/);
  });

  it('store records: missing, wrong-typed and unknown fields, bad names and flavors', async () => {
    const good = { flavor: 'memory', path: 'mem://a', config: {} };
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ a: { flavor: 'memory', config: {} } }, 'stores.a.path', /must be the store's root/],
      [{ a: { ...good, flavor: 42 } }, 'stores.a.flavor', /must be a flavor name .* got a number/],
      [{ a: { ...good, flavor: 'S3 !!' } }, 'stores.a.flavor', /got "S3 !!"/],
      [
        { a: { ...good, config: [] } },
        'stores.a.config',
        /must be an object of config fields .* got an array/,
      ],
      [
        { a: { ...good, extra: 1 } },
        'stores.a.extra',
        /unknown field \(a store record has flavor, path and config\)/,
      ],
      [{ a: null }, 'stores.a', /must be a store record/],
      [{ '../x': good }, 'stores["../x"]', /is not a valid store name/],
      [{ default: good }, 'stores.default', /the built-in store's name/],
      [{ a: { ...good, path: 'relative/dir' } }, 'stores.a.path', /must be a URI or an absolute local path/],
      [{ a: { ...good, path: '/tmp/x' } }, 'stores.a.path', /is not a path the 'memory' flavor serves/],
      [
        { a: { flavor: 's3', path: 's3://b', config: { maxAttempts: 'lots' } } },
        'stores.a.config.maxAttempts',
        /must be a number, got "lots"/,
      ],
      [
        { a: { flavor: 's3', path: 's3://b', config: { bogus: 1 } } },
        'stores.a.config.bogus',
        /unknown config field for the flavor 's3'/,
      ],
    ];
    for (const [stores, field, what] of cases) {
      json({ version: 1, defaultLocalStore: ID, stores });
      await refused(field, what);
    }
  });

  it('a secret of the wrong type is named, never shown', async () => {
    json({
      version: 1,
      stores: { a: { flavor: 's3', path: 's3://b', config: { secretAccessKey: 1234567 } } },
    });
    const err = await refused('stores.a.config.secretAccessKey', /must be a string/);
    expect(err.message).not.toContain('1234567');
  });

  it('env references stand for a value of the field’s type', async () => {
    json({
      version: 1,
      defaultLocalStore: ID,
      stores: { a: { flavor: 's3', path: 's3://b', config: { maxAttempts: '{{env.N}}' } } },
    });
    expect((await listStores()).map((s) => s.name)).toEqual(['default', 'a']);
  });

  it('activeStore naming no store is refused (commands would go to another store)', async () => {
    json({ version: 1, defaultLocalStore: ID, activeStore: 'gone', stores: {} });
    await refused('activeStore', /names no registered store: "gone" \(registered: default\)/);
  });

  it('custom flavor records are checked too', async () => {
    json({
      version: 1,
      flavors: { lab: { module: 'rel.js', export: 'x', schemes: ['file'], description: '', config: {} } },
    });
    await refused('flavors.lab.module', /absolute path/);
    json({
      version: 1,
      flavors: { lab: { module: '/m.js', export: 'x', schemes: [], description: '', config: {} } },
    });
    await refused('flavors.lab.schemes', /non-empty array/);
  });
});

describe('version', () => {
  it('a future version is refused as written by a newer artifact-vfs', async () => {
    json({ version: 99, stores: 'whatever a newer format means' });
    await refused(
      'version',
      /version 99 was written by a newer artifact-vfs \(this one reads version 1\); upgrade artifact-vfs/,
    );
  });

  it('0, "1" and 1.5 are refused; a file without one is read as version 1', async () => {
    for (const [v, what] of [
      [0, /must be the number 1, got 0/],
      ['1', /must be the number 1, got a string/],
      [1.5, /must be the number 1, got 1\.5/],
    ] as const) {
      json({ version: v, defaultLocalStore: ID });
      await refused('version', what);
    }
    json({ defaultLocalStore: ID });
    expect((await listStores())[0]!.path).toBe(join(dir, 'local_stores', ID));
  });
});

describe('defaultLocalStore', () => {
  it('must name a directory under local_stores/: no traversal, no absolute path', async () => {
    for (const id of ['../../outside', '/etc', 'a/b', '..', '', 7]) {
      json({ version: 1, defaultLocalStore: id });
      await refused('defaultLocalStore', /must be the name of a directory under local_stores\//);
      await expect(defaultLocalStorePath()).rejects.toMatchObject({
        code: 'ERR_INVALID_CONFIG',
        message: expect.stringContaining('set ARTIFACT_VFS_LOCAL_STORE instead'),
      });
    }
    expect(existsSync(join(dir, '..', 'outside'))).toBe(false);
  });
});

describe('writing', () => {
  it('a config that would not read back is never written', async () => {
    json({ version: 1, defaultLocalStore: ID });
    const before = readFileSync(file, 'utf8');
    await expect(
      writeConfigFile({ version: 1, stores: 'oops' } as unknown as ConfigFile),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_CONFIG', field: 'stores' });
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a valid file round-trips through a change with every store kept', async () => {
    const stores = {
      a: { flavor: 'memory', path: 'mem://a', config: {} },
      b: { flavor: 's3', path: 's3://bucket/x', config: { region: 'eu-west-1', maxAttempts: 3 } },
    };
    json({ version: 1, defaultLocalStore: ID, theme: 'dark', stores });
    await registerStore('c', { flavor: 'memory', path: 'mem://c' });
    const after = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(after).toEqual({
      version: 1,
      defaultLocalStore: ID,
      theme: 'dark',
      stores: { ...stores, c: { flavor: 'memory', path: 'mem://c', config: {} } },
    });
  });
});
