/**
 * Reliability category "secrets": random canary secrets in every secret config field of S3
 * (fauxqs), GCS (our emulator), Azure (azurite) and a custom flavor whose own errors carry the
 * canary in hidden, nested, Symbol-keyed and getter properties; then errors of many kinds (missing
 * objects, wrong keys, refused ports and unknown hosts, 403/500 from the fault proxy, invalid
 * arguments and config) through the facade and through the CLI, with and without --json. A case
 * passes when no canary (nor its URL-encoded or base64 form) shows in the message, the stack, any
 * property reached by a deep walk (non-enumerable, Symbol-keyed and getters included),
 * `util.inspect(err, { showHidden: true, depth: Infinity })`, JSON.stringify, or the CLI's output.
 *
 * test/cli/canary.test.ts covers the CLI's own handling of secrets (env references, the config
 * file, its mode); this file covers what the providers' errors carry.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';
import { createStore, type ArtifactStore } from '../../src/index.js';
import { avfs, buildCli, BUILD, BUILD_TIMEOUT_MS, tempDir, type RunResult } from '../cli/helpers.js';
import { startAzurite, createContainer, type Azurite } from '../emulators/azurite.js';
import { startFaultProxy, type FaultProxy } from '../emulators/fault-proxy.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import { startGcsEmulator, type GcsEmulator } from '../emulators/gcs/server.js';
import type { S3Server } from '../emulators/s3-server.js';
import { budget, Category, FULL } from './table.js';

const canaries: string[] = [];
/** A fresh canary: random, never a real key. */
function canary(tag: string): string {
  const c = `cnry${tag}${randomBytes(10).toString('hex')}`;
  canaries.push(c);
  return c;
}
/** An Azure account key is base64: a random one, registered as a canary in that form. */
function base64Canary(): string {
  const c = randomBytes(48).toString('base64');
  canaries.push(c);
  return c;
}

function forms(c: string): string[] {
  const b64 = Buffer.from(c).toString('base64');
  return [c, encodeURIComponent(c), b64, b64.replace(/=+$/, ''), Buffer.from(c).toString('base64url')];
}

/** The canary forms found in `text`. */
function leaks(text: string): string[] {
  const hits: string[] = [];
  for (const c of canaries) for (const f of forms(c)) if (f.length >= 8 && text.includes(f)) hits.push(f);
  return [...new Set(hits)];
}

/** Every string reachable from `value`: own keys of every kind, getters, Maps, Sets, arrays. */
function deepStrings(value: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<object>();
  const queue: unknown[] = [value];
  while (queue.length && seen.size < 50_000) {
    const v = queue.shift();
    if (typeof v === 'string') out.push(v);
    else if (typeof v === 'symbol') out.push(v.description ?? '');
    if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Map) for (const [k, x] of v) queue.push(k, x);
    if (v instanceof Set) for (const x of v) queue.push(x);
    if (ArrayBuffer.isView(v)) {
      out.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1'));
      continue;
    }
    if (typeof v === 'function') continue;
    for (const key of Reflect.ownKeys(v)) {
      if (typeof key === 'symbol') out.push(key.description ?? '');
      else out.push(key);
      try {
        queue.push((v as Record<PropertyKey, unknown>)[key]);
      } catch {
        // a throwing getter shows nothing
      }
    }
  }
  return out;
}

/** Why `err` leaks a canary, or undefined. */
function errorLeak(err: unknown): string | undefined {
  const views: Array<[string, () => string]> = [
    ['message', () => String((err as Error)?.message)],
    ['stack', () => String((err as Error)?.stack)],
    ['String()', () => String(err)],
    ['deep walk', () => deepStrings(err).join('\n')],
    ['inspect', () => inspect(err, { showHidden: true, depth: Infinity, getters: true })],
    ['JSON', () => JSON.stringify(err) ?? ''],
  ];
  for (const [where, view] of views) {
    let text: string;
    try {
      text = view();
    } catch (e) {
      return `${where} threw ${String(e)}`;
    }
    const hits = leaks(text);
    if (hits.length) return `canary in ${where}: ${hits[0]!.slice(0, 12)}…`;
  }
  return undefined;
}

/**
 * A custom flavor whose backend fails every call with its own Error subclass carrying the secret
 * token everywhere a careless error would: a request with an Authorization header, a URL query,
 * non-enumerable, Symbol-keyed and getter properties, a Map in an array, a cycle, base64.
 * Self-contained (no closure): its source is also written into a module for the CLI.
 */
function makeLeakyFlavor(api: Pick<typeof lib, 'defineFlavor' | 'createFsAdapter'>): lib.Flavor {
  class LeakyError extends Error {
    constructor(token: string, op: string) {
      super(`upstream refused ${op}`);
      this.name = 'LeakyError';
      const self = this as unknown as Record<PropertyKey, unknown>;
      self.status = 403;
      self.request = {
        url: `https://api.example.invalid/v1/${op}?token=${token}`,
        headers: {
          authorization: `Bearer ${token}`,
          'x-basic': Buffer.from(`u:${token}`).toString('base64'),
        },
      };
      Object.defineProperty(this, 'hidden', {
        value: { deep: [new Map([['k', { token, note: `tok=${token}` }]])] },
        enumerable: false,
      });
      self[Symbol('creds')] = token;
      self[Symbol.for('leaky.auth')] = { authorization: token };
      Object.defineProperty(this, 'lazy', { get: () => `lazy ${token}`, enumerable: true });
      self.self = this;
      self.nested = {
        a: { b: { c: { note: `key is ${token}`, b64: Buffer.from(token).toString('base64') } } },
      };
    }
  }
  return api.defineFlavor({
    name: 'leaky',
    type: 'artifact_store',
    schemes: ['file'],
    description: 'Test flavor: every call fails with an error that carries the token',
    config: { token: { type: 'string', secret: true, description: 'an API token' } },
    async create(config) {
      const token = String((config as { token?: string }).token);
      const backend = new Proxy(
        {
          name: 'leaky',
          capabilities: {
            directoryMarkers: true,
            conditionalCreate: true,
            conditionalCopy: true,
            serverSideCopy: true,
            atomicRename: false,
            rangedReads: true,
            maxDeleteBatch: 10,
          },
        },
        {
          get(target, prop) {
            if (prop in target) return (target as Record<PropertyKey, unknown>)[prop];
            if (prop === 'then' || typeof prop === 'symbol' || prop === 'close') return undefined;
            // A synchronous throw: callers await some methods and iterate others (list).
            return () => {
              throw new LeakyError(token, String(prop));
            };
          },
        },
      );
      return { adapter: api.createFsAdapter(backend as never), atomicWrites: true };
    },
  }) as unknown as lib.Flavor;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const cat = new Category('secrets');
let fauxqs: S3Server;
let gcs: GcsEmulator;
let azurite: Azurite;
const proxies: Record<string, FaultProxy> = {};
let refused: string;
let tmp: string;

/** A store's settings: flavor config with canaries in every secret field. */
interface Target {
  name: string;
  /** Every call takes seconds (the SDK retries a refused connection with backoff): fewer cases when bounded. */
  slow?: boolean;
  options: Record<string, unknown> & { flavor: string; path: string };
}
const targets: Target[] = [];

const s3Keys = () => ({
  accessKeyId: canary('akid'),
  secretAccessKey: canary('s3sk'),
  sessionToken: canary('s3tok'),
});
const s3Base = {
  flavor: 's3',
  region: 'us-east-1',
  forcePathStyle: true,
  trustedEndpoint: true,
  maxAttempts: 1,
};
const gcsKey = (): string =>
  JSON.stringify({
    type: 'service_account',
    client_email: 'canary@avfs-test.iam.gserviceaccount.com',
    private_key: `-----BEGIN PRIVATE KEY-----\n${canary('pem')}\n-----END PRIVATE KEY-----\n`,
    private_key_id: canary('kid'),
    client_id: '1234',
  });
const sas = (): string =>
  `sv=2021-08-06&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00:00:00Z&sig=${encodeURIComponent(base64Canary())}`;

beforeAll(async () => {
  await buildCli();
  [fauxqs, gcs, azurite] = await Promise.all([startFauxqs(), startGcsEmulator(), startAzurite()]);
  await fauxqs.createBucket('canary');
  const { Storage } = await import('@google-cloud/storage');
  await new Storage({ apiEndpoint: gcs.endpoint, projectId: gcs.projectId }).createBucket('canary');
  await createContainer(azurite, 'canary');
  for (const [name, target] of [
    ['s3', fauxqs.endpoint],
    ['gcs', gcs.endpoint],
    ['az', `http://127.0.0.1:${azurite.port}`],
  ] as const) {
    for (const status of [403, 500]) {
      const p = await startFaultProxy(target);
      const body =
        name === 'gcs'
          ? JSON.stringify({
              error: { code: status, message: 'injected', errors: [{ reason: 'forbidden' }] },
            })
          : `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${status === 403 ? 'AccessDenied' : 'InternalError'}</Code><Message>injected</Message><RequestId>RID-1</RequestId></Error>`;
      p.setRules([{ match: () => true, fault: { kind: 'status', status, body }, times: 1e9 }]);
      proxies[`${name}${status}`] = p;
    }
  }
  refused = `http://127.0.0.1:${await closedPort()}`;
  tmp = await tempDir('secrets');
  const gcsBase = { flavor: 'gcs', path: 'gs://canary/r', project: gcs.projectId };
  const azPath = { flavor: 'azure', path: 'az://canary/r', maxAttempts: 1 };
  const azAccount = { accountName: azurite.accountName };
  targets.push(
    {
      name: 's3 missing objects',
      options: { ...s3Base, ...s3Keys(), path: 's3://canary/r', endpoint: fauxqs.endpoint },
    },
    {
      name: 's3 403',
      options: { ...s3Base, ...s3Keys(), path: 's3://canary/r', endpoint: proxies.s3403!.endpoint },
    },
    {
      name: 's3 500',
      options: { ...s3Base, ...s3Keys(), path: 's3://canary/r', endpoint: proxies.s3500!.endpoint },
    },
    { name: 's3 refused', options: { ...s3Base, ...s3Keys(), path: 's3://canary/r', endpoint: refused } },
    {
      name: 's3 unknown host',
      options: {
        ...s3Base,
        ...s3Keys(),
        path: 's3://canary/r',
        endpoint: 'http://avfs-no-such-host.invalid:9000',
      },
    },
    {
      name: 's3 missing profile',
      options: {
        ...s3Base,
        path: 's3://canary/r',
        endpoint: fauxqs.endpoint,
        profile: 'avfs-no-such-profile',
      },
    },
    {
      name: 's3 endpoint with user-info',
      options: {
        ...s3Base,
        ...s3Keys(),
        path: 's3://canary/r',
        endpoint: `http://u:${canary('ui')}@127.0.0.1:9`,
      },
    },
    {
      name: 'gcs missing objects',
      options: { ...gcsBase, credentials: gcsKey(), apiEndpoint: gcs.endpoint },
    },
    {
      name: 'gcs unusable key',
      options: {
        ...gcsBase,
        credentials: gcsKey(),
        apiEndpoint: gcs.endpoint,
        useAuthWithCustomEndpoint: true,
      },
    },
    {
      name: 'gcs 403',
      options: { ...gcsBase, credentials: gcsKey(), apiEndpoint: proxies.gcs403!.endpoint },
    },
    { name: 'gcs refused', slow: true, options: { ...gcsBase, credentials: gcsKey(), apiEndpoint: refused } },
    {
      name: 'gcs malformed key',
      options: { ...gcsBase, credentials: `{"private_key":"${canary('bad')}" oops` },
    },
    {
      name: 'azure wrong key',
      options: { ...azPath, ...azAccount, accountKey: base64Canary(), endpoint: azurite.endpoint },
    },
    {
      name: 'azure wrong sas',
      options: { ...azPath, ...azAccount, sasToken: sas(), endpoint: azurite.endpoint },
    },
    {
      name: 'azure wrong connection string',
      options: {
        ...azPath,
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${azurite.accountName};AccountKey=${base64Canary()};BlobEndpoint=${azurite.endpoint};`,
      },
    },
    {
      name: 'azure 500',
      options: {
        ...azPath,
        ...azAccount,
        accountKey: base64Canary(),
        endpoint: `${proxies.az500!.endpoint}/${azurite.accountName}`,
      },
    },
    {
      name: 'azure refused',
      options: { ...azPath, ...azAccount, sasToken: sas(), endpoint: `${refused}/${azurite.accountName}` },
    },
    {
      name: 'custom flavor',
      options: { flavor: 'leaky', path: path.join(tmp, 'leaky'), token: canary('tok') },
    },
  );
  lib.registerFlavor(makeLeakyFlavor(lib));
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await Promise.all([fauxqs?.stop(), gcs?.stop(), azurite?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Facade operations that fail on every target above (missing objects, refusals, bad arguments). */
const OPS: Array<[string, (s: ArtifactStore) => Promise<unknown>]> = [
  ['read a missing file', (s) => s.open('missing/k.txt').then((f) => f.read())],
  ['stat a missing file', (s) => s.stat('missing.txt')],
  ['write', (s) => s.open('w.txt', 'w').then(async (f) => (await f.write('x'), await f.close()))],
  ['list', (s) => s.listdir('.')],
  ['remove a missing file', (s) => s.remove('missing.txt')],
  ['copy a missing file', (s) => s.copyfile('missing.txt', 'dst.txt')],
  ['rename a missing file', (s) => s.rename('missing.txt', 'dst.txt')],
  ['size of a missing file', (s) => s.size('missing.txt')],
  ['glob', (s) => s.glob('**/*.txt')],
  ['a NUL byte in a path', (s) => s.stat('a\0b')],
  ['a path outside the root', (s) => s.stat('../../escape')],
];

describe('secrets (facade)', () => {
  it('no canary in any error from any flavor', { timeout: 120_000 }, async () => {
    const ops = OPS.slice(0, budget(7, OPS.length));
    for (const t of targets) {
      let store: ArtifactStore | undefined;
      await cat.case(`${t.name}: createStore`, async () => {
        try {
          store = await createStore(t.options);
        } catch (err) {
          return errorLeak(err);
        }
      });
      if (!store) continue;
      for (const [name, op] of t.slow ? ops.slice(0, budget(1, ops.length)) : ops) {
        await cat.case(`${t.name}: ${name}`, async () => {
          const err = await op(store!).then(
            () => undefined,
            (e: unknown) => e,
          );
          return err === undefined ? undefined : errorLeak(err);
        });
      }
      await store.close();
    }
    // invalid config values: the field is named, no value of a secret field is quoted
    for (const bad of [
      { flavor: 's3', path: 's3://canary/r', secretAccessKey: 42, accessKeyId: canary('cfg') },
      { flavor: 's3', path: 's3://canary/r', sessionToken: canary('cfg'), bogus: 1 },
      { flavor: 'azure', path: 'az://canary/r', sasToken: sas(), endpoint: 'not a url' },
      { flavor: 'gcs', path: 'gs://canary/r', credentials: canary('cfg'), chunkSize: 3 },
    ]) {
      await cat.case(`invalid config ${Object.keys(bad).slice(2).join('+')}`, async () => {
        const err = await createStore(bad).then(
          () => new Error('accepted'),
          (e: unknown) => e,
        );
        return errorLeak(err);
      });
    }
  });
});

/** Config flags for `avfs store register` from a target's options. */
function flags(t: Target): string[] {
  const out = ['--flavor', t.options.flavor, '--path', t.options.path];
  for (const [k, v] of Object.entries(t.options))
    if (k !== 'flavor' && k !== 'path') out.push(`--${k}=${String(v)}`);
  return out;
}

/** Why a CLI run leaks, or breaks the --json contract (stderr empty or one JSON object). */
function cliLeak(args: string[], r: RunResult, json: boolean): string | undefined {
  const hits = leaks(`${r.stdout}\n${r.stderr}`);
  if (hits.length) return `canary in output: ${hits[0]!.slice(0, 12)}…`;
  if (json && r.stderr.trim()) {
    try {
      JSON.parse(r.stderr);
    } catch {
      return `--json stderr is not one JSON object: ${JSON.stringify(r.stderr.slice(0, 200))}`;
    }
  }
  void args;
  return undefined;
}

describe('secrets (CLI)', () => {
  it('no canary in any output of any command, with and without --json', { timeout: 240_000 }, async () => {
    const cfg = path.join(tmp, 'cfg');
    const work = path.join(tmp, 'work');
    await mkdir(work, { recursive: true });
    await writeFile(path.join(work, 'file.txt'), 'payload');
    const index = pathToFileURL(path.join(BUILD, 'src/index.js')).href;
    await writeFile(
      path.join(work, 'leaky.mjs'),
      `import * as api from ${JSON.stringify(index)};\nexport const leakyFlavor = (${makeLeakyFlavor.toString()})(api);\n`,
    );
    // The SDK's Node-version warning is left on: the --json contract must hold without the opt-out.
    const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined };
    let n = 0;
    const run = async (
      name: string,
      args: string[],
      opts: { json?: boolean; debug?: boolean } = {},
    ): Promise<RunResult> => {
      let result: RunResult = { code: -1, stdout: '', stderr: '' };
      const full = [...(opts.json ? ['--json'] : []), ...args];
      await cat.case(
        `cli ${name}: avfs ${full.slice(0, 4).join(' ')}${opts.json ? '' : opts.debug ? ' (AVFS_DEBUG)' : ''}`,
        async () => {
          result = await avfs(cfg, full, {
            cwd: work,
            env: { ...env, ...(opts.debug ? { AVFS_DEBUG: '1' } : {}) },
          });
          return cliLeak(full, result, opts.json ?? false);
        },
      );
      n++;
      return result;
    };
    await run('flavor register', ['store', 'flavor', 'register', './leaky.mjs#leakyFlavor']);
    const commands: Array<[string, (s: string) => string[]]> = [
      ['ls', (s) => ['ls', '-l', `${s}:`]],
      ['stat', (s) => ['stat', `${s}:missing.txt`]],
      ['cat', (s) => ['cat', `${s}:missing.txt`]],
      ['cp up', (s) => ['cp', 'file.txt', `${s}:up.txt`]],
      ['cp down', (s) => ['cp', `${s}:missing.txt`, 'down.txt']],
      ['rm', (s) => ['rm', `${s}:missing.txt`]],
      ['mv', (s) => ['mv', `${s}:missing.txt`, `${s}:moved.txt`]],
      ['mkdir', (s) => ['mkdir', '-p', `${s}:dir`]],
      ['du', (s) => ['du', `${s}:`]],
      ['glob', (s) => ['glob', `${s}:**/*.txt`]],
      ['describe', (s) => ['store', 'describe', s]],
      ['update to a bad endpoint', (s) => ['store', 'update', s, '--endpoint=http://u:x@[bad']],
    ];
    const perStore = budget(3, commands.length);
    const registered: Target[] = [];
    for (const [i, t] of targets.entries()) {
      const id = `t${i}`;
      const r = await run(`${t.name} register`, ['store', 'register', id, ...flags(t)], {
        json: i % 2 === 1,
      });
      if (r.code === 0) registered.push({ ...t, name: id });
    }
    const jobs: Array<() => Promise<unknown>> = [];
    for (const [i, t] of registered.entries()) {
      for (let j = 0; j < (t.slow ? budget(1, perStore) : perStore); j++) {
        const [name, make] = commands[(i * perStore + j) % commands.length]!;
        for (const json of FULL ? [false, true] : [(i + j) % 2 === 0]) {
          jobs.push(() => run(`${t.name} ${name}`, make(t.name), { json, debug: !json && j === 0 }));
        }
      }
    }
    // Three at a time: each run is a Node process loading an SDK.
    const workers = Array.from({ length: 3 }, async () => {
      for (let job = jobs.shift(); job; job = jobs.shift()) await job();
    });
    await Promise.all(workers);
    expect(n).toBeGreaterThan(registered.length);
  });
});

describe('secrets (row)', () => {
  it('records the row: every case passed', () => {
    const row = cat.record();
    expect(row.tried).toBeGreaterThan(100);
    expect(row.failures).toEqual([]);
  });
});
