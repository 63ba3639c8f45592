/**
 * Reliability category "config": corrupt, mistyped and foreign config files (and lock files), each
 * tried through the library (listStores, openNamedStore, registerStore) and, for a spread of them,
 * the built CLI (`artifact-store list`, `ls default:`, `artifact-store register`, `--json`).
 *
 * A case passes when every call either fails cleanly (ERR_INVALID_CONFIG, or EBUSY for a live
 * lock: exit 1, one line naming the config file and the field, no raw JSON.parse/TypeError text,
 * `--json` one JSON object on stderr) or succeeds where the file is in fact usable (a BOM, no
 * version, a stale lock); the config dir is byte for byte as it was after a failure; no lock is
 * left behind; and nothing hangs. Every config dir is a fresh mkdtemp scratch dir.
 */
// The built-in flavors (the composition root registers them).
import '../../src/builtins.js';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avfs, buildCli, BUILD_TIMEOUT_MS } from '../cli/helpers.js';
import { listStores, openNamedStore, registerStore } from '../../src/store/stores.js';
import { budget, Category } from './table.js';

const ID = '0b5d7c3e-8a4f-4c1e-9d2b-6f7a8e9c0d1e';
const CASE_TIMEOUT_MS = 20_000;
const RAW =
  /in JSON at position|Unexpected token|is not a function|Cannot read prop|TypeError|SyntaxError|\[object Object\]/;

type Expect = 'invalid' | 'ok' | 'busy';
interface Variant {
  name: string;
  expect: Expect;
  /** The key path the error must name ('' for the file as a whole: syntax, encoding, type). */
  field?: string;
  /** Puts the broken config (or lock) in place; `cfg` does not exist yet. */
  setup(cfg: string): Promise<void>;
}

const good = {
  version: 1,
  defaultLocalStore: ID,
  activeStore: 'a',
  stores: {
    a: { flavor: 'memory', path: 'mem://a', config: {} },
    b: { flavor: 's3', path: 's3://bucket/x', config: { region: 'eu-west-1', maxAttempts: 3 } },
  },
};
const GOOD_TEXT = JSON.stringify(good, null, 2);

async function put(cfg: string, text: string | Buffer): Promise<void> {
  await mkdir(cfg, { recursive: true });
  await writeFile(path.join(cfg, 'config.json'), text);
}
const text = (name: string, expect: Expect, body: string | Buffer, field = ''): Variant => ({
  name,
  expect,
  field,
  setup: (cfg) => put(cfg, body),
});
const obj = (name: string, value: unknown, field: string, expect: Expect = 'invalid'): Variant =>
  text(name, expect, JSON.stringify(value, null, 2), field);
const withStore = (name: string, record: unknown, field: string): Variant =>
  obj(name, { ...good, stores: { ...good.stores, c: record } }, field);
const lockVariant = (name: string, expect: Expect, content: string | null, ageMs = 0): Variant => ({
  name,
  expect,
  async setup(cfg) {
    await put(cfg, GOOD_TEXT);
    const lock = path.join(cfg, 'config.json.lock');
    if (content === null) {
      await mkdir(lock);
      await writeFile(path.join(lock, 'keep'), 'x');
    } else await writeFile(lock, content);
    const t = new Date(Date.now() + ageMs);
    await utimes(lock, t, t);
  },
});

function variants(): Variant[] {
  const out: Variant[] = [];
  // Truncated at every few bytes (0 is the empty file).
  for (let cut = 0; cut < GOOD_TEXT.length; cut += 7)
    out.push(text(`truncated at byte ${cut}`, 'invalid', GOOD_TEXT.slice(0, cut)));
  for (const v of [[], 'x', 42, null, true]) out.push(obj(`top level ${JSON.stringify(v)}`, v, ''));
  for (const v of ['oops', 42, [], null, true, [{ flavor: 'memory', path: 'mem://a', config: {} }]])
    out.push(obj(`stores ${JSON.stringify(v)}`, { ...good, activeStore: undefined, stores: v }, 'stores'));

  const rec = { flavor: 'memory', path: 'mem://c', config: {} };
  const records: Array<[string, unknown, string]> = [
    ['record null', null, 'stores.c'],
    ['record a string', 'memory', 'stores.c'],
    ['record an array', [rec], 'stores.c'],
    ['record a number', 7, 'stores.c'],
    ['record without flavor', { path: 'mem://c', config: {} }, 'stores.c.flavor'],
    ['record without path', { flavor: 'memory', config: {} }, 'stores.c.path'],
    ['record without config', { flavor: 'memory', path: 'mem://c' }, 'stores.c.config'],
    ['flavor a number', { ...rec, flavor: 42 }, 'stores.c.flavor'],
    ['flavor null', { ...rec, flavor: null }, 'stores.c.flavor'],
    ['flavor empty', { ...rec, flavor: '' }, 'stores.c.flavor'],
    ['flavor upper-case', { ...rec, flavor: 'S3' }, 'stores.c.flavor'],
    ['flavor with a space', { ...rec, flavor: 'my flavor' }, 'stores.c.flavor'],
    ['flavor a path', { ...rec, flavor: '../x' }, 'stores.c.flavor'],
    ['flavor an object', { ...rec, flavor: { name: 'memory' } }, 'stores.c.flavor'],
    ['path a number', { ...rec, path: 42 }, 'stores.c.path'],
    ['path empty', { ...rec, path: '' }, 'stores.c.path'],
    ['path relative', { ...rec, path: 'relative/dir' }, 'stores.c.path'],
    ['path of another flavor', { ...rec, path: '/tmp/x' }, 'stores.c.path'],
    ['path without a bucket', { flavor: 's3', path: 's3://', config: {} }, 'stores.c.path'],
    ['path escaping its bucket', { flavor: 's3', path: 's3://b/../../x', config: {} }, 'stores.c.path'],
    ['config a string', { ...rec, config: 'x' }, 'stores.c.config'],
    ['config an array', { ...rec, config: [] }, 'stores.c.config'],
    ['config null', { ...rec, config: null }, 'stores.c.config'],
    ['an unknown record field', { ...rec, extra: 1 }, 'stores.c.extra'],
    ['an unknown config field', { ...rec, config: { bogus: 1 } }, 'stores.c.config.bogus'],
    [
      'a number field "lots"',
      { flavor: 's3', path: 's3://b', config: { maxAttempts: 'lots' } },
      'stores.c.config.maxAttempts',
    ],
    [
      'a boolean field "maybe"',
      { flavor: 's3', path: 's3://b', config: { forcePathStyle: 'maybe' } },
      'stores.c.config.forcePathStyle',
    ],
    ['a string field 5', { flavor: 's3', path: 's3://b', config: { region: 5 } }, 'stores.c.config.region'],
    [
      'a secret field a number',
      { flavor: 's3', path: 's3://b', config: { secretAccessKey: 1234567 } },
      'stores.c.config.secretAccessKey',
    ],
    [
      'an endpoint that is no URL',
      { flavor: 's3', path: 's3://b', config: { endpoint: 'ht!tp://x y' } },
      'stores.c.config.endpoint',
    ],
  ];
  for (const [name, record, field] of records) out.push(withStore(name, record, field));

  for (const [name, key, field] of [
    ['store named default', 'default', 'stores.default'],
    ['store named ../x', '../x', 'stores["../x"]'],
    ['store named empty', '', 'stores[""]'],
    ['store named with a space', 'a b', 'stores["a b"]'],
    ['store name of 65 chars', 'n'.repeat(65), `stores.${'n'.repeat(65)}`],
  ] as const)
    out.push(obj(name, { ...good, stores: { ...good.stores, [key]: rec } }, field));

  const dup = `{"version": 1, "defaultLocalStore": "${ID}", "stores": {"a": {"flavor": "memory", "path": "mem://a", "config": {}}, "a": {"flavor": "memory", "path": "mem://b", "config": {}}}}`;
  out.push(text('duplicate store names', 'invalid', dup));
  out.push(text('duplicate stores key', 'invalid', `{"version": 1, "stores": {}, "stores": {}}`));
  out.push(text('duplicate version key', 'invalid', `{"version": 1, "version": 1}`));
  out.push(
    text(
      'duplicate config key',
      'invalid',
      `{"version": 1, "stores": {"a": {"flavor": "s3", "path": "s3://b", "config": {"region": "x", "region": "y"}}}}`,
    ),
  );

  out.push(text('version 1e400', 'invalid', `{"version": 1e400}`));
  out.push(
    text(
      'maxAttempts 1e400',
      'invalid',
      `{"version": 1, "stores": {"a": {"flavor": "s3", "path": "s3://b", "config": {"maxAttempts": 1e400}}}}`,
    ),
  );
  out.push(
    text(
      'maxAttempts -1e400',
      'invalid',
      `{"version": 1, "stores": {"a": {"flavor": "s3", "path": "s3://b", "config": {"maxAttempts": -1e400}}}}`,
    ),
  );
  out.push(text('a 20-digit integer', 'invalid', `{"version": 1, "n": 12345678901234567890}`));

  for (const v of [0, 99, 2, '1', 1.5, -1, null, true])
    out.push(obj(`version ${JSON.stringify(v)}`, { ...good, version: v }, 'version'));
  for (const v of ['../../outside', '/etc', 'a/b', '..', '', 5, null])
    out.push(
      obj(`defaultLocalStore ${JSON.stringify(v)}`, { ...good, defaultLocalStore: v }, 'defaultLocalStore'),
    );
  for (const v of ['ghost', 5, null])
    out.push(obj(`activeStore ${JSON.stringify(v)}`, { ...good, activeStore: v }, 'activeStore'));

  const flavor = { module: '/m.js', export: 'x', schemes: ['lab'], description: 'd', config: {} };
  for (const [name, value, field] of [
    ['flavors a string', 'oops', 'flavors'],
    ['flavor record null', { lab: null }, 'flavors.lab'],
    ['flavor module relative', { lab: { ...flavor, module: 'm.js' } }, 'flavors.lab.module'],
    ['flavor schemes empty', { lab: { ...flavor, schemes: [] } }, 'flavors.lab.schemes'],
    [
      'flavor field without a type',
      { lab: { ...flavor, config: { k: { description: 'd' } } } },
      'flavors.lab.config.k',
    ],
    ['flavor name invalid', { 'Bad Name': flavor }, 'flavors["Bad Name"]'],
  ] as const)
    out.push(obj(name, { ...good, flavors: value }, field));

  out.push(text('a UTF-8 BOM', 'ok', `\ufeff${GOOD_TEXT}`));
  out.push(text('no version', 'ok', JSON.stringify({ ...good, version: undefined })));
  out.push(text('an empty object', 'ok', '{}'));
  out.push(text('whitespace only', 'invalid', ' \n\t\n'));
  out.push(
    text(
      'invalid UTF-8',
      'invalid',
      Buffer.concat([Buffer.from('{"version": 1, "x": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    ),
  );
  out.push(text('NUL bytes', 'invalid', Buffer.alloc(64)));
  out.push(text('a raw newline in a string', 'invalid', `{"version": 1, "x": "a\nb"}`));
  out.push(text('single quotes', 'invalid', `{'version': 1}`));
  out.push(text('a trailing comma', 'invalid', `{"version": 1,}`));
  out.push(text('a comment', 'invalid', `{"version": 1 // one\n}`));
  out.push(
    text('nested 10000 deep', 'invalid', `{"version": 1, "x": ${'['.repeat(10000)}${']'.repeat(10000)}}`),
  );

  out.push({
    name: 'a directory in place of the file',
    expect: 'invalid',
    field: '',
    async setup(cfg) {
      await mkdir(path.join(cfg, 'config.json'), { recursive: true });
      await writeFile(path.join(cfg, 'config.json', 'inside'), 'x');
    },
  });
  out.push({
    name: 'a file in place of the config dir',
    expect: 'invalid',
    field: '',
    setup: (cfg) => writeFile(cfg, 'not a dir'),
  });
  out.push({
    name: 'a dangling symlink',
    expect: 'invalid',
    field: '',
    async setup(cfg) {
      await mkdir(cfg, { recursive: true });
      await symlink(path.join(cfg, 'gone.json'), path.join(cfg, 'config.json'));
    },
  });
  out.push({
    name: 'a FIFO in place of the file',
    expect: 'invalid',
    field: '',
    async setup(cfg) {
      await mkdir(cfg, { recursive: true });
      execFileSync('mkfifo', [path.join(cfg, 'config.json')]);
    },
  });
  // mode 000 is not tried: the tests run as root, who reads any file, so no refusal can be seen.
  if (process.getuid?.() !== 0)
    out.push({
      name: 'an unreadable file (mode 000)',
      expect: 'invalid',
      field: '',
      async setup(cfg) {
        await put(cfg, GOOD_TEXT);
        await chmod(path.join(cfg, 'config.json'), 0o000);
      },
    });

  out.push(lockVariant('a lock of garbage', 'ok', 'garbage'));
  out.push(lockVariant('a lock of binary garbage', 'ok', '\u0000\u00ff\u0001'));
  out.push(lockVariant('an old empty lock', 'ok', '', -10_000));
  out.push(lockVariant('a lock of a dead pid here', 'ok', `2147483646 ${hostname()} 2026-01-01T00:00:00Z`));
  out.push(lockVariant('an old lock of another host', 'ok', '4242 other-host 2026-01-01T00:00:00Z', -60_000));
  out.push(
    lockVariant('a lock dated an hour ahead', 'ok', '4242 other-host 2026-01-01T00:00:00Z', 3_600_000),
  );
  out.push(lockVariant('a live lock of another host', 'busy', '4242 other-host 2026-01-01T00:00:00Z'));
  out.push(lockVariant('a directory in place of the lock', 'busy', null));
  return out;
}

/** Every entry of a config dir (or the file in its place): type, bytes, link target. */
async function snapshot(p: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (q: string): Promise<void> => {
    const s = await lstat(q).catch(() => undefined);
    const rel = path.relative(p, q) || '.';
    if (!s) return;
    if (s.isSymbolicLink()) out[rel] = `link:${await readlink(q)}`;
    else if (s.isDirectory()) {
      out[rel] = 'dir';
      for (const e of await readdir(q)) await walk(path.join(q, e));
    } else if (s.isFile())
      out[rel] = createHash('sha256')
        .update(await readFile(q))
        .digest('hex');
    else out[rel] = `special:${s.mode}`;
  };
  await walk(p);
  return out;
}

const within = <T>(p: Promise<T>, what: string): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${what} did not finish within ${CASE_TIMEOUT_MS} ms`)),
        CASE_TIMEOUT_MS,
      ).unref(),
    ),
  ]);

/** Why an error is not the clean refusal this variant calls for (undefined: it is). */
function badError(err: unknown, v: Variant, cfg: string, register: boolean): string | undefined {
  const e = err as { code?: string; message?: string; field?: string; path?: string };
  const message = e?.message ?? String(err);
  if (RAW.test(message)) return `raw error text: ${message}`;
  if (v.expect === 'busy') {
    if (!register) return `failed though it takes no lock: ${message}`;
    if (e.code !== 'EBUSY' || !message.includes(path.join(cfg, 'config.json.lock')))
      return `expected EBUSY naming the lock, got ${e.code}: ${message}`;
    return undefined;
  }
  if (v.expect === 'ok') return `failed on a usable config: ${e.code}: ${message}`;
  if (e.code !== 'ERR_INVALID_CONFIG') return `expected ERR_INVALID_CONFIG, got ${e.code}: ${message}`;
  if (!message.includes(path.join(cfg, 'config.json')))
    return `the message does not name the file: ${message}`;
  if (v.field && !message.includes(` at ${v.field}: `))
    return `the message does not name ${v.field}: ${message}`;
  if (e.field !== undefined && v.field !== undefined && e.field !== v.field)
    return `field ${e.field}, expected ${v.field}`;
  return undefined;
}

let tmp: string;
let n = 0;
const cat = new Category('config');
const all = variants();

beforeAll(async () => {
  await buildCli();
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-rel-config-'));
}, BUILD_TIMEOUT_MS);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** After the calls: what the dir must look like (as it was after a failure; no lock of ours). */
async function afterwards(
  v: Variant,
  cfg: string,
  before: Record<string, string>,
): Promise<string | undefined> {
  const now = await snapshot(cfg);
  if (v.expect === 'invalid' || v.expect === 'busy') {
    if (v.expect === 'busy') {
      // `ls default:` may create the default store's directory; the config and lock stay.
      for (const k of Object.keys(now)) if (k.startsWith('local_stores')) delete now[k];
    }
    if (JSON.stringify(now) !== JSON.stringify(before))
      return `the config dir changed: ${JSON.stringify(before)} -> ${JSON.stringify(now)}`;
    return undefined;
  }
  if (Object.keys(now).some((k) => k.startsWith('config.json.') || k.endsWith('.tmp')))
    return `left behind: ${Object.keys(now).join(', ')}`;
  return undefined;
}

describe('reliability: config', () => {
  it(
    'corrupt and foreign config and lock files fail cleanly, or work where usable',
    { timeout: 600_000 },
    async () => {
      expect(all.length).toBeGreaterThanOrEqual(96);
      const savedDir = process.env.ARTIFACT_VFS_CONFIG_DIR;
      const savedWait = process.env.ARTIFACT_VFS_LOCK_WAIT_MS;
      process.env.ARTIFACT_VFS_LOCK_WAIT_MS = '300';
      try {
        for (const v of all) {
          await cat.case(`library: ${v.name}`, async () => {
            const cfg = path.join(tmp, `lib-${++n}`);
            await v.setup(cfg);
            process.env.ARTIFACT_VFS_CONFIG_DIR = cfg;
            const before = await snapshot(cfg);
            const calls: Array<[string, () => Promise<unknown>]> = [
              ['listStores', () => listStores()],
              ['openNamedStore', () => openNamedStore('default').then((s) => s.close())],
              ['registerStore', () => registerStore('zz', { flavor: 'memory', path: 'mem://zz' })],
            ];
            for (const [name, call] of calls) {
              const err = await within(call(), name).then(
                () => undefined,
                (e: unknown) => e ?? new Error('rejected with nothing'),
              );
              if (err === undefined) {
                if (v.expect === 'invalid') return `${name} succeeded on an invalid config`;
                if (v.expect === 'busy' && name === 'registerStore') return `${name} took a live lock`;
                continue;
              }
              const why = badError(err, v, cfg, name === 'registerStore');
              if (why) return `${name}: ${why}`;
            }
            if (v.expect === 'ok') {
              const names = (await listStores()).map((s) => s.name);
              if (!names.includes('zz')) return `the registration was lost: ${names.join(', ')}`;
            }
            return afterwards(v, cfg, before);
          });
        }
      } finally {
        if (savedDir === undefined) delete process.env.ARTIFACT_VFS_CONFIG_DIR;
        else process.env.ARTIFACT_VFS_CONFIG_DIR = savedDir;
        if (savedWait === undefined) delete process.env.ARTIFACT_VFS_LOCK_WAIT_MS;
        else process.env.ARTIFACT_VFS_LOCK_WAIT_MS = savedWait;
      }

      // The CLI on a spread of the variants (all of them under npm run reliability).
      const count = Math.min(all.length, budget(24, all.length));
      const picked = Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]!);
      const env = { ARTIFACT_VFS_LOCK_WAIT_MS: '300' };
      for (const v of picked) {
        await cat.case(`cli: ${v.name}`, async () => {
          const cfg = path.join(tmp, `cli-${++n}`);
          await v.setup(cfg);
          const before = await snapshot(cfg);
          const commands = [
            ['artifact-store', 'list'],
            ['ls', 'default:'],
            ['artifact-store', 'register', 'zz', '--flavor', 'memory', '--path', 'mem://zz'],
            ['--json', 'artifact-store', 'list'],
          ];
          for (const args of commands) {
            const r = await within(avfs(cfg, args, { env }), args.join(' '));
            const register = args.includes('register');
            const shouldFail = v.expect === 'invalid' || (v.expect === 'busy' && register);
            if (!shouldFail) {
              if (r.code !== 0) return `${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`;
              continue;
            }
            if (r.code !== 1) return `${args.join(' ')} exited ${r.code}, expected 1: ${r.stderr.trim()}`;
            if (r.stdout !== '') return `${args.join(' ')} wrote to stdout: ${r.stdout}`;
            const lines = r.stderr.trimEnd().split('\n');
            if (lines.length !== 1) return `${args.join(' ')}: ${lines.length} lines on stderr`;
            let err: { code?: string; message?: string };
            if (args[0] === '--json') {
              try {
                err = (JSON.parse(r.stderr) as { error: { code: string; message: string } }).error;
              } catch {
                return `--json stderr is not one JSON object: ${r.stderr}`;
              }
            } else {
              if (!lines[0]!.startsWith('avfs: ')) return `stderr does not start with 'avfs: ': ${lines[0]}`;
              const m = /^avfs: ([A-Z_]+):/.exec(lines[0]!);
              err = { code: m?.[1], message: lines[0]!.slice(6) };
            }
            const why = badError(err, v, cfg, register);
            if (why) return `${args.join(' ')}: ${why}`;
          }
          return afterwards(v, cfg, before);
        });
      }
      const row = cat.record();
      expect(row.failures).toEqual([]);
    },
  );
});
