/**
 * Reliability category "traversal": paths that try to leave a store — `../`, `..\`, percent-encoded
 * and double-encoded dots, NUL bytes, fullwidth `．．／`, absolute paths and URIs outside, and
 * symlinks inside the store (dangling or not, relative and absolute, chains, a loop, one into the
 * sibling `root-evil` that shares the root's name as a prefix) — through the ArtifactStore facade,
 * through `store.fs` (promises, callbacks, sync, streams), through the routed `fs` of src/index.ts
 * with the store's adapter mounted, and through the built `avfs` CLI; on a local store, a memory
 * store and an object store (the memory backend through the deriver; no symlinks there).
 *
 * A case passes when the operation is refused (a coded error) or confined (it acted inside the
 * root only, e.g. `rm` of a link removes the link) AND nothing outside the root was created,
 * changed or deleted (every sentinel file, directory and link around the root is fingerprinted
 * before and after) AND no sentinel byte or name reached the caller or the store. The routed `fs`
 * spans the whole filesystem by design, so there only links and encoded dots are tried (a plain
 * `../` through it is a legitimate path). Everything lives under one fresh mkdtemp scratch dir (the
 * CLI's config dir too), three levels below which the root sits, so that no vector reaches further.
 */
import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsAdapter } from '../../src/backend/create-fs-adapter.js';
import { MemoryBackend } from '../../src/backend/memory-backend.js';
import { createStore, createStoreFromFs, fs as routedFs, sharedMemoryFs, vfs } from '../../src/index.js';
import type { ArtifactStore, FsAdapter } from '../../src/index.js';
import { localFlavor } from '../../adapters/local/index.js';
import { memoryFlavor } from '../../adapters/memory/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { avfs, buildCli, BUILD_TIMEOUT_MS } from '../cli/helpers.js';
import { budget, Category, FULL } from './table.js';

const MARK = 'SENTINEL';
/** Every sentinel file holds MARK and every sentinel name this: either reaching the caller is a leak. */
const NAMED = 'sentinel';

/** The tree around the root (relative to the scratch dir `parent/`; the root is `j1/j2/root`). */
const SENTINELS = [
  'top-sentinel.txt',
  'j1/j2/outside/secret-sentinel.txt',
  'j1/j2/outside/dir/keep-sentinel.txt',
  'j1/j2/root-evil/x-sentinel.txt',
];
/** Links inside the root: name → target (`@` = the scratch dir, for absolute targets). */
const LINKS: Record<string, string> = {
  'abs-out': '@/j1/j2/outside',
  'rel-out': '../outside',
  'abs-file': '@/j1/j2/outside/secret-sentinel.txt',
  'rel-file': '../outside/secret-sentinel.txt',
  'dangling-abs': '@/j1/j2/outside/new.txt',
  'dangling-rel': '../outside/new.txt',
  'dangling-dir': '../outside/newdir/new.txt',
  'dangling-top': '../../../new-top.txt',
  'chain-mid': 'rel-out',
  chain: 'chain-mid',
  'chain-dangling': 'dangling-rel',
  evil: '../root-evil',
  'evil-abs': '@/j1/j2/root-evil/x-sentinel.txt',
  'evil-dangling': '../root-evil/new.txt',
  'dir/up': '../../outside',
  'dir/up-file': '../../../../top-sentinel.txt',
  loop: 'loop',
};

interface Env {
  name: 'local' | 'memory' | 'object';
  store: ArtifactStore;
  /** The store path of the scratch dir (three levels above the root). */
  parent: string;
  links: boolean;
  /** The store's adapter mounted in the routed `fs` at the store path. */
  routed: boolean;
  reset(): Promise<void>;
  /** Every entry outside the root: path, type, bytes or link target. */
  fingerprint(): Promise<string>;
  /** Whether any file inside the root holds a sentinel byte (data copied or moved in). */
  tainted(): Promise<boolean>;
}

/** Builds an Env over any sync fs with symlinks (node:fs, a memfs volume). */
function treeEnv(
  name: 'local' | 'memory',
  store: ArtifactStore,
  parent: string,
  real: string,
  tfs: typeof nodeFs,
): Env {
  const root = `${real}/j1/j2/root`;
  if (!root.startsWith(real + '/') || real.length < 2) throw new Error('refusing a root outside scratch');
  const walk = (dir: string, skip: string, out: string[]): string[] => {
    for (const n of (tfs.readdirSync(dir) as string[]).sort()) {
      const p = `${dir}/${n}`;
      if (p === skip) continue;
      const st = tfs.lstatSync(p);
      if (st.isSymbolicLink()) out.push(`${p} -> ${String(tfs.readlinkSync(p))}`);
      else if (st.isDirectory()) walk(p, skip, out).push(`${p}/`);
      else out.push(`${p} ${String(tfs.readFileSync(p, 'utf8'))}`);
    }
    return out;
  };
  return {
    name,
    store,
    parent,
    links: true,
    routed: true,
    // The whole tree again, sentinels too: a case that broke one must not hide the next one's harm.
    async reset() {
      for (const n of tfs.existsSync(real) ? (tfs.readdirSync(real) as string[]) : [])
        tfs.rmSync(`${real}/${n}`, { recursive: true, force: true });
      for (const s of SENTINELS) {
        tfs.mkdirSync(path.posix.dirname(`${real}/${s}`), { recursive: true });
        tfs.writeFileSync(`${real}/${s}`, `${MARK} ${s}`);
      }
      tfs.mkdirSync(`${root}/dir`, { recursive: true });
      tfs.writeFileSync(`${root}/dir/file.txt`, 'inside');
      for (const [link, target] of Object.entries(LINKS))
        tfs.symlinkSync(target.replace('@', real), `${root}/${link}`);
    },
    fingerprint: async () => walk(real, root, []).join('\n'),
    tainted: async () => walk(root, '', []).some((l) => l.includes(MARK)),
  };
}

async function objectEnv(bucket: string): Promise<Env> {
  // The whole bucket, for the sentinels; the store sees only its root, mounted as createStore does.
  const table = new MountTable();
  const adapter = createFsAdapter(new MemoryBackend());
  table.mount(`s3://${bucket}`, adapter);
  vfs.mount(`s3://${bucket}`, adapter);
  const parent = `s3://${bucket}`;
  const root = `${parent}/j1/j2/root`;
  const rootOnly = new MountTable();
  rootOnly.mount(root, adapter, { root: '/j1/j2/root' });
  const f = table.fs.promises;
  const list = async (under: string, skip: string): Promise<string[]> => {
    const out: string[] = [];
    for (const rel of ((await f.readdir(under, { recursive: true }).catch(() => [])) as string[]).sort()) {
      const p = `${under}/${rel}`;
      if (p === skip || p.startsWith(skip + '/')) continue;
      const st = await f.stat(p);
      out.push(st.isDirectory() ? `${p}/` : `${p} ${String(await f.readFile(p, 'utf8'))}`);
    }
    return out;
  };
  return {
    name: 'object',
    store: await createStoreFromFs({ fs: rootOnly.fs, path: root, atomicWrites: true }),
    parent,
    links: false,
    routed: true,
    async reset() {
      for (const n of await f.readdir(parent)) await f.rm(`${parent}/${n}`, { recursive: true, force: true });
      for (const s of SENTINELS) {
        await f.mkdir(path.posix.dirname(`${parent}/${s}`), { recursive: true });
        await f.writeFile(`${parent}/${s}`, `${MARK} ${s}`);
      }
      await f.mkdir(`${root}/dir`, { recursive: true });
      await f.writeFile(`${root}/dir/file.txt`, 'inside');
    },
    fingerprint: async () => (await list(parent, root)).join('\n'),
    tainted: async () => (await list(root, '\0')).some((l) => l.includes(MARK)),
  };
}

/** What a vector is: plain `..` and absolute paths mean nothing through the routed fs (it is no jail). */
interface Vector {
  path: (env: Env) => string;
  label: string;
  link?: boolean;
  /** Tried through the routed `fs` (links and encoded dots: both must stay inside the mount). */
  routed?: boolean;
}

const rel = (p: string, routed = false): Vector => ({ label: JSON.stringify(p), path: () => p, routed });
const LEXICAL: Vector[] = [
  ...[
    '../outside/secret-sentinel.txt',
    '../outside',
    '..',
    '../root-evil/x-sentinel.txt',
    '../root-evil/new.txt',
    '../outside/new.txt',
    '../../../new-top.txt',
    '../../../top-sentinel.txt',
    '..\\outside\\secret-sentinel.txt',
    '..\\outside',
    'dir/../../outside/secret-sentinel.txt',
    'dir\\..\\..\\outside\\new.txt',
    'x\0y',
    'dir/\0/../outside',
    '../',
    '..//outside//secret-sentinel.txt',
    './../outside/new.txt',
    'dir/../..',
    'dir/./../../root-evil',
    '/../outside/secret-sentinel.txt',
    '\\..\\outside',
    '..\\..\\..\\new-top.txt',
  ].map((p) => rel(p)),
  ...[
    '%2e%2e/outside/secret-sentinel.txt',
    '%2e%2e%2foutside%2fsecret-sentinel.txt',
    '%2E%2E%2Foutside%2Fnew.txt',
    '..%2foutside',
    '..%5coutside',
    '%252e%252e%252foutside%252fsecret-sentinel.txt',
    '%252e%252e/outside',
    '%25252e%25252e/outside/new.txt',
    '．．／outside／secret-sentinel.txt',
    '．．/outside',
    '..／outside/new.txt',
    '%ef%bc%8e%ef%bc%8e/outside',
    '.%2e/outside/secret-sentinel.txt',
    '%00../outside',
    '..%00/outside',
    '%2e./outside/new.txt',
    'dir/%2e%2e/%2e%2e/outside',
    '%c0%ae%c0%ae/outside',
    '..%c0%afoutside',
    '‥/outside/secret-sentinel.txt',
    '﹒﹒/outside',
    '．%2e/outside/new.txt',
    '%2e%2e%5coutside%5csecret-sentinel.txt',
  ].map((p) => rel(p, true)),
];
const ABSOLUTE: Vector[] = [
  (e: Env) => `${e.parent}/j1/j2/outside/secret-sentinel.txt`,
  (e: Env) => `${e.parent}/j1/j2/outside`,
  (e: Env) => `${e.parent}/j1/j2/outside/new.txt`,
  (e: Env) => `${e.store.path}-evil/x-sentinel.txt`,
  (e: Env) => `${e.store.path}-evil/new.txt`,
  (e: Env) => `${e.store.path}/../outside/secret-sentinel.txt`,
  (e: Env) => `${e.store.path}/../../../top-sentinel.txt`,
  (e: Env) => `${e.store.path}/%2e%2e/outside/secret-sentinel.txt`,
  (e: Env) => `${e.store.path}//../outside/secret-sentinel.txt`,
  (e: Env) => `${e.store.path}/./../outside/new.txt`,
  (e: Env) => `${e.store.path}-evil`,
  (e: Env) => `${e.store.path}/．．/outside/secret-sentinel.txt`,
  (e: Env) =>
    e.name === 'local' ? `file://${e.parent}/j1/j2/outside/secret-sentinel.txt` : `${e.parent}/../other`,
  (e: Env) => (e.name === 'object' ? 's3://other-bucket/x' : `mem://other-vol/x`),
].map((path, i) => ({ label: `absolute#${i}`, path }));
const LINKED: Vector[] = [
  ...Object.keys(LINKS),
  'abs-out/secret-sentinel.txt',
  'abs-out/new.txt',
  'rel-out/dir/keep-sentinel.txt',
  'chain/secret-sentinel.txt',
  'chain/new.txt',
  'evil/x-sentinel.txt',
  'evil/new.txt',
  'dir/up/secret-sentinel.txt',
  'abs-out/',
  'rel-out/.',
  'rel-out/new.txt',
  'dir/up/dir/keep-sentinel.txt',
  'evil/',
  'chain-dangling/x',
  'abs-out/dir/../secret-sentinel.txt',
].map((p) => ({ label: `link ${p}`, path: () => p, link: true, routed: true }));

type Op = (env: Env, p: string, fs: FsAdapter) => Promise<unknown>;
const full = (env: Env, p: string): string =>
  /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || p.startsWith('/') ? p : `${env.store.path}/${p}`;
const cb = (f: (done: (err: unknown, v?: unknown) => void) => void): Promise<unknown> =>
  new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));
const drain = (s: NodeJS.ReadableStream): Promise<string> =>
  new Promise((resolve, reject) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', reject);
    s.on('end', () => resolve(out));
  });
const finish = (s: NodeJS.WritableStream): Promise<void> =>
  new Promise((resolve, reject) => {
    s.on('error', reject);
    s.on('close', () => resolve());
    s.end('EVIL');
  });
const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};

/**
 * How a success is judged (every vector names something outside the root, or nothing): `reads`, a
 * success is itself a leak; `answers`, a non-empty answer is; otherwise only sentinel bytes or
 * names in the answer are.
 */
type Judge = 'reads' | 'answers' | undefined;
interface OpSpec {
  op: Op;
  judge?: Judge;
}

const FACADE: Record<string, OpSpec> = {
  'open r': { op: async (e, p) => (await e.store.open(p, 'rb')).read(), judge: 'reads' },
  'open w': { op: async (e, p) => (await e.store.open(p, 'w')).write('EVIL').then(() => undefined) },
  'open a': {
    op: async (e, p) => {
      const f = await e.store.open(p, 'a');
      await f.write('EVIL');
      await f.close();
    },
  },
  'open x': { op: async (e, p) => (await e.store.open(p, 'x')).close() },
  'copyfile from': { op: (e, p) => e.store.copyfile(p, 'copied.txt', true) },
  'copyfile to': { op: (e, p) => e.store.copyfile('dir/file.txt', p, true) },
  exists: { op: async (e, p) => ((await e.store.exists(p)) ? 'exists' : undefined), judge: 'answers' },
  glob: { op: async (e, p) => (await e.store.glob(p)).join() || undefined, judge: 'answers' },
  'glob /*': { op: async (e, p) => (await e.store.glob(`${p}/*`)).join() || undefined, judge: 'answers' },
  isdir: { op: async (e, p) => ((await e.store.isdir(p)) ? 'dir' : undefined), judge: 'answers' },
  listdir: { op: async (e, p) => (await e.store.listdir(p)).join() || undefined, judge: 'answers' },
  makedirs: { op: (e, p) => e.store.makedirs(`${p}/sub`) },
  mkdir: { op: (e, p) => e.store.mkdir(p) },
  remove: { op: (e, p) => e.store.remove(p) },
  'rename from': { op: (e, p) => e.store.rename(p, 'moved', true) },
  'rename to': { op: (e, p) => e.store.rename('dir/file.txt', p, true) },
  rmtree: { op: (e, p) => e.store.rmtree(p) },
  stat: { op: (e, p) => e.store.stat(p), judge: 'reads' },
  walk: {
    op: async (e, p) => JSON.stringify(await collect(e.store.walk(p))).replace(/^\[\]$/, '') || undefined,
    judge: 'answers',
  },
  size: { op: (e, p) => e.store.size(p), judge: 'reads' },
};

/** fs operations (on `store.fs` and on the routed fs), on the full path. */
const FS: Record<string, OpSpec> = {
  readFile: { op: (e, p, fs) => fs.promises.readFile(full(e, p), 'utf8'), judge: 'reads' },
  writeFile: { op: (e, p, fs) => fs.promises.writeFile(full(e, p), 'EVIL') },
  appendFile: { op: (e, p, fs) => fs.promises.appendFile(full(e, p), 'EVIL') },
  stat: { op: (e, p, fs) => fs.promises.stat(full(e, p)), judge: 'reads' },
  access: { op: (e, p, fs) => fs.promises.access(full(e, p)).then(() => 'ok'), judge: 'reads' },
  realpath: { op: (e, p, fs) => fs.promises.realpath(full(e, p)), judge: 'reads' },
  readdir: {
    op: async (e, p, fs) => (await fs.promises.readdir(full(e, p))).join() || undefined,
    judge: 'answers',
  },
  'readdir recursive': {
    op: async (e, p, fs) => (await fs.promises.readdir(full(e, p), { recursive: true })).join() || undefined,
    judge: 'answers',
  },
  mkdir: { op: (e, p, fs) => fs.promises.mkdir(`${full(e, p)}/sub`, { recursive: true }) },
  rm: { op: (e, p, fs) => fs.promises.rm(full(e, p), { recursive: true, force: true }) },
  rmdir: { op: (e, p, fs) => fs.promises.rmdir(full(e, p)) },
  unlink: { op: (e, p, fs) => fs.promises.unlink(full(e, p)) },
  'rename from': { op: (e, p, fs) => fs.promises.rename(full(e, p), full(e, 'moved')) },
  'rename to': { op: (e, p, fs) => fs.promises.rename(full(e, 'dir/file.txt'), full(e, p)) },
  'copyFile from': { op: (e, p, fs) => fs.promises.copyFile(full(e, p), full(e, 'copied.txt')) },
  'copyFile to': { op: (e, p, fs) => fs.promises.copyFile(full(e, 'dir/file.txt'), full(e, p)) },
  utimes: { op: (e, p, fs) => fs.promises.utimes(full(e, p), 1, 1) },
  'open a': {
    op: async (e, p, fs) => {
      const h = await fs.promises.open(full(e, p), 'a');
      await h.close();
    },
  },
  'open r': {
    op: async (e, p, fs) => {
      const h = await fs.promises.open(full(e, p), 'r');
      return h.readFile('utf8').finally(() => h.close());
    },
    judge: 'reads',
  },
  'readFile cb': { op: (e, p, fs) => cb((d) => fs.readFile(full(e, p), 'utf8', d)), judge: 'reads' },
  'writeFile cb': { op: (e, p, fs) => cb((d) => fs.writeFile(full(e, p), 'EVIL', d)) },
  'rm cb': { op: (e, p, fs) => cb((d) => fs.rm(full(e, p), { recursive: true }, d)) },
  readFileSync: { op: async (e, p, fs) => fs.readFileSync(full(e, p), 'utf8'), judge: 'reads' },
  writeFileSync: { op: async (e, p, fs) => fs.writeFileSync(full(e, p), 'EVIL') },
  appendFileSync: { op: async (e, p, fs) => fs.appendFileSync(full(e, p), 'EVIL') },
  statSync: { op: async (e, p, fs) => fs.statSync(full(e, p)), judge: 'reads' },
  existsSync: {
    op: async (e, p, fs) => (fs.existsSync(full(e, p)) ? 'exists' : undefined),
    judge: 'answers',
  },
  rmSync: { op: async (e, p, fs) => fs.rmSync(full(e, p), { recursive: true, force: true }) },
  mkdirSync: { op: async (e, p, fs) => fs.mkdirSync(`${full(e, p)}/sub`, { recursive: true }) },
  createReadStream: { op: async (e, p, fs) => drain(fs.createReadStream(full(e, p))), judge: 'reads' },
  createWriteStream: { op: async (e, p, fs) => finish(fs.createWriteStream(full(e, p))) },
};

/** Says what went wrong in one case, or undefined: refused or confined, nothing outside touched, nothing leaked. */
async function tryCase(env: Env, fn: () => Promise<unknown>, judge: Judge): Promise<string | undefined> {
  await env.reset();
  const before = await env.fingerprint();
  let result: unknown;
  let refused = false;
  try {
    result = await fn();
  } catch (err) {
    refused = true;
    if (typeof (err as { code?: unknown }).code !== 'string') return `uncoded error: ${String(err)}`;
  }
  const after = await env.fingerprint();
  if (after !== before) return `outside the root changed:\n${diff(before, after)}`;
  if (await env.tainted()) return 'sentinel bytes were copied or moved into the store';
  if (refused) return undefined;
  if (judge === 'reads') return 'succeeded (it read something outside the root)';
  const shown = Buffer.isBuffer(result) ? result.toString() : typeof result === 'string' ? result : '';
  if (shown.includes(MARK)) return `leaked: ${shown.slice(0, 80)}`;
  // A listing that names a sentinel read outside (elsewhere the name may be the caller's own path).
  if (judge === 'answers' && shown.toLowerCase().includes(NAMED)) return `leaked: ${shown.slice(0, 80)}`;
  if (judge === 'answers' && shown !== '')
    return `answered '${shown.slice(0, 80)}' for a path outside the root`;
  return undefined;
}

function diff(a: string, b: string): string {
  const x = new Set(a.split('\n'));
  const y = new Set(b.split('\n'));
  return [
    ...[...x].filter((l) => !y.has(l)).map((l) => `- ${l}`),
    ...[...y].filter((l) => !x.has(l)).map((l) => `+ ${l}`),
  ]
    .join('\n')
    .slice(0, 400);
}

interface Case {
  name: string;
  core: boolean;
  run: () => Promise<string | undefined>;
}

/** A deterministic spread of `n` cases (the issue's own cases always among them). */
function spread(cases: Case[], n: number): Case[] {
  const core = cases.filter((c) => c.core);
  const rest = cases.filter((c) => !c.core);
  let seed = 13;
  for (let i = rest.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  return [...core, ...rest.slice(0, Math.max(0, n - core.length))];
}

const CORE =
  /^(local facade (open a|open x) link dangling|local store\.fs (writeFile|appendFile|createWriteStream) link dangling|memory facade (open r|rmtree|remove|exists|stat) link abs-)/;

describe('traversal', () => {
  const cat = new Category('traversal');
  let scratch: string;
  let cfg: string;
  const envs: Env[] = [];

  beforeAll(async () => {
    scratch = await nodeFs.promises.realpath(await mkdtemp(path.join(tmpdir(), 'avfs-traversal-')));
    cfg = await mkdtemp(path.join(scratch, 'cfg-'));
    const parent = path.join(scratch, 'p');
    const localRoot = `${parent}/j1/j2/root`;
    const local = treeEnv(
      'local',
      await createStore({ flavor: 'local', path: localRoot }),
      parent,
      parent,
      nodeFs,
    );
    vfs.mount(localRoot, (await localFlavor.create({ path: localRoot })).adapter, { root: localRoot });

    const id = `traversal-${randomUUID()}`;
    const vol = sharedMemoryFs().volume as unknown as typeof nodeFs;
    const memRoot = `mem://${id}/j1/j2/root`;
    const memory = treeEnv(
      'memory',
      await createStore({ flavor: 'memory', path: memRoot }),
      `mem://${id}`,
      `/${id}`,
      vol,
    );
    const memInstance = await memoryFlavor.create({ path: memRoot });
    vfs.mount(memRoot, memInstance.adapter, { root: memInstance.root ?? '/' });
    envs.push(local, memory, await objectEnv(`trav-${randomUUID().slice(0, 8)}`));
  });

  afterAll(async () => {
    for (const m of vfs.list())
      if (m.prefix.includes('traversal') || m.prefix.includes('trav-')) vfs.unmount(m.prefix);
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  function cases(): Case[] {
    const out: Case[] = [];
    for (const env of envs) {
      for (const v of [...LEXICAL, ...ABSOLUTE, ...LINKED]) {
        if (v.link && !env.links) continue;
        const label = v.label;
        for (const [opName, { op, judge }] of Object.entries(FACADE)) {
          const name = `${env.name} facade ${opName} ${label}`;
          out.push({
            name,
            core: CORE.test(name),
            run: () => tryCase(env, () => op(env, v.path(env), routedFs), judge),
          });
        }
        for (const [opName, { op, judge }] of Object.entries(FS)) {
          const name = `${env.name} store.fs ${opName} ${label}`;
          out.push({
            name,
            core: CORE.test(name),
            run: () => tryCase(env, () => op(env, v.path(env), env.store.fs), judge),
          });
          if (v.routed && env.routed) {
            out.push({
              name: `${env.name} routed fs ${opName} ${label}`,
              core: false,
              run: () => tryCase(env, () => op(env, v.path(env), routedFs), judge),
            });
          }
        }
      }
    }
    return out;
  }

  it('refuses or confines every vector, touching nothing outside the root', async () => {
    const all = cases();
    for (const c of spread(all, budget(260, all.length))) await cat.case(c.name, c.run);
    expect(cat.row.tried).toBeGreaterThanOrEqual(FULL ? all.length : 260);
  }, 600_000);

  describe('the avfs CLI on a local store', () => {
    beforeAll(async () => {
      await buildCli();
      const r = await avfs(cfg, [
        'store',
        'register',
        'loc',
        '--flavor',
        'local',
        '--path',
        envs[0]!.store.path,
      ]);
      expect(r.code).toBe(0);
    }, BUILD_TIMEOUT_MS);

    const READS = new Set(['cat', 'ls', 'stat', 'du', 'glob']);
    const CLI: [string, (p: string) => string[]][] = [
      ['cat', (p) => ['cat', `loc:${p}`]],
      ['cp in', (p) => ['cp', `loc:dir/file.txt`, `loc:${p}`]],
      ['cp out', (p) => ['cp', `loc:${p}`, 'loc:copied.txt']],
      ['ls', (p) => ['ls', `loc:${p}`]],
      ['stat', (p) => ['stat', `loc:${p}`]],
      ['rm -r', (p) => ['rm', '-r', `loc:${p}`]],
      ['mkdir -p', (p) => ['mkdir', '-p', `loc:${p}/sub`]],
      ['mv', (p) => ['mv', 'loc:dir/file.txt', `loc:${p}`]],
      ['glob', (p) => ['glob', `loc:${p}/*`]],
      ['du', (p) => ['du', `loc:${p}`]],
    ];
    const VECTORS = [
      'dangling-abs',
      'abs-out',
      'abs-file',
      '../outside/secret-sentinel.txt',
      'chain/new.txt',
      '%2e%2e/outside',
      'evil/x-sentinel.txt',
      'dir/up',
      '．．／outside',
    ];

    it('refuses or confines every vector', async () => {
      const env = envs[0]!;
      const all: Case[] = [];
      for (const v of VECTORS) {
        for (const [name, args] of CLI) {
          all.push({
            name: `cli ${name} ${v}`,
            core: v === 'dangling-abs' && name === 'cp in',
            run: async () => {
              let out = '';
              const why = await tryCase(
                env,
                async () => {
                  const r = await avfs(cfg, args(v));
                  out = r.stdout + r.stderr;
                  if (r.code !== 0) throw Object.assign(new Error(r.stderr), { code: `exit ${r.code}` });
                  return READS.has(name) ? r.stdout : undefined;
                },
                READS.has(name) ? 'reads' : undefined,
              );
              if (why) return why;
              if (out.includes(MARK)) return `leaked: ${out.slice(0, 80)}`;
              return undefined;
            },
          });
        }
      }
      for (const c of spread(all, budget(4, all.length))) await cat.case(c.name, c.run);
    }, 600_000);
  });

  it('records the row: every case passed', () => {
    const row = cat.record();
    expect(row.failures).toEqual([]);
  });
});
