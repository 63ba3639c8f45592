/**
 * The flavor registry (src/store/registry.ts) and the flavor helpers (src/store/flavor.ts):
 * registration rules, scheme routing for custom flavors, lazy optional imports.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalScheme,
  createMemoryFs,
  createStoreWith,
  defineFlavor,
  FlavorRegistry,
  getFlavor,
  importOptional,
  listFlavors,
  localFlavor,
  memoryFlavor,
  MountTable,
  parseLocation,
  redactConfig,
  registerFlavor,
  validateConfig,
  type Flavor,
} from '../../src/index.js';
import { rejection, thrown } from './helpers.js';

/** A unique lower-case scheme name, so registrations never collide with other tests. */
const uniqueScheme = (tag: string): string => `${tag}${randomUUID().replace(/-/g, '').slice(0, 8)}`;

function flavor(name: string, schemes: string[], extra: Partial<Flavor> = {}): Flavor {
  return defineFlavor({
    name,
    type: 'artifact_store',
    schemes,
    description: `the ${name} flavor`,
    config: {},
    async create() {
      return { adapter: createMemoryFs().fs, ensureRoot: true };
    },
    ...extra,
  } as Flavor);
}

describe('FlavorRegistry', () => {
  it('register, get, has, list and forScheme', () => {
    const reg = new FlavorRegistry();
    expect(reg.list()).toEqual([]);
    expect(reg.has('local')).toBe(false);
    reg.register(localFlavor as unknown as Flavor);
    reg.register(memoryFlavor as unknown as Flavor);
    const a = flavor('objects-a', ['s3', 's3a']);
    const b = flavor('objects_b', ['s3a']);
    reg.register(a);
    reg.register(b);
    expect(reg.has('objects-a')).toBe(true);
    expect(reg.get('objects-a')).toBe(a);
    expect(reg.list().map((f) => f.name)).toEqual(['local', 'memory', 'objects-a', 'objects_b']);
    expect(reg.forScheme('s3').map((f) => f.name)).toEqual(['objects-a', 'objects_b']);
    expect(reg.forScheme('s3a://').map((f) => f.name)).toEqual(['objects-a', 'objects_b']);
    expect(reg.forScheme('memory').map((f) => f.name)).toEqual(['memory']);
    expect(reg.forScheme('MEM').map((f) => f.name)).toEqual(['memory']);
    expect(reg.forScheme('file').map((f) => f.name)).toEqual(['local']);
    expect(reg.forScheme('gs')).toEqual([]);
  });

  it('get() of an unknown name is ERR_UNKNOWN_FLAVOR listing the registered ones', () => {
    const reg = new FlavorRegistry();
    reg.register(flavor('one', ['mem']));
    reg.register(flavor('two', ['mem']));
    const err = thrown(() => reg.get('three'));
    expect(err.code).toBe('ERR_UNKNOWN_FLAVOR');
    expect(err.message).toContain("'three'");
    expect(err.message).toContain('available: one, two');
  });

  it('a taken name is EEXIST unless replace is set', () => {
    const reg = new FlavorRegistry();
    const first = flavor('dup', ['mem']);
    const second = flavor('dup', ['mem', 'memory']);
    reg.register(first);
    const err = thrown(() => reg.register(second));
    expect(err.code).toBe('EEXIST');
    expect(err.message).toContain("'dup'");
    expect(reg.get('dup')).toBe(first);
    reg.register(second, { replace: true });
    expect(reg.get('dup')).toBe(second);
    expect(reg.list()).toHaveLength(1);
  });

  it.each(['', 'Upper', '9lives', 'has space', 'dots.no', '-lead', 'ünï'])(
    'refuses the invalid name %j',
    (name) => {
      const reg = new FlavorRegistry();
      const err = thrown(() => reg.register(flavor(name, ['mem'])));
      expect(err.code).toBe('EINVAL');
      expect(reg.has(name)).toBe(false);
      expect(reg.list()).toEqual([]);
    },
  );

  it('refuses a wrong type, no schemes, or no create()', () => {
    const reg = new FlavorRegistry();
    const wrongType = thrown(() =>
      reg.register({ ...flavor('orchestrator', ['mem']), type: 'orchestrator' } as unknown as Flavor),
    );
    expect(wrongType.code).toBe('EINVAL');
    expect(wrongType.message).toContain("'orchestrator'");
    expect(wrongType.message).toContain("expected 'artifact_store'");
    expect(thrown(() => reg.register(flavor('noschemes', []))).code).toBe('EINVAL');
    expect(
      thrown(() => reg.register({ ...flavor('nocreate', ['mem']), create: undefined } as unknown as Flavor))
        .code,
    ).toBe('EINVAL');
    expect(reg.list()).toEqual([]);
  });

  it("a custom flavor's schemes become routable", async () => {
    const canonical = uniqueScheme('vault');
    const alias = uniqueScheme('vlt');
    expect(canonicalScheme(alias)).toBe(alias);
    const reg = new FlavorRegistry();
    reg.register(flavor('vault', [canonical, alias]));
    expect(canonicalScheme(alias)).toBe(canonical);
    expect(canonicalScheme(`${alias.toUpperCase()}://`)).toBe(canonical);
    expect(reg.forScheme(alias).map((f) => f.name)).toEqual(['vault']);
    expect(parseLocation(`${alias}://b/k`)).toEqual({
      scheme: canonical,
      segments: ['b', 'k'],
      trailingSlash: false,
    });
    // …and `path.join` manglings of them are recognised as URIs.
    expect(parseLocation(`${alias}:/b/k`).scheme).toBe(canonical);
    // A mount table routes both spellings to one mount.
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount(`${canonical}://b`, fs);
    await t.fs.promises.writeFile(`${alias}://b/k`, 'routed');
    expect(fs.readFileSync('/k', 'utf8')).toBe('routed');
    // A store of the flavor accepts both spellings.
    const store = await createStoreWith({ flavor: 'vault', path: `${alias}://b/root` }, reg);
    expect(store.path).toBe(`${canonical}://b/root`);
  });

  it('an invalid scheme name is refused and nothing is registered', () => {
    const reg = new FlavorRegistry();
    const err = thrown(() => reg.register(flavor('badscheme', ['has space'])));
    expect(err.code).toBe('EINVAL');
    expect(reg.has('badscheme')).toBe(false);
  });

  it('registering a flavor never re-points a built-in scheme at another one', async () => {
    const own = uniqueScheme('minio');
    const reg = new FlavorRegistry();
    // An S3-compatible flavor that also serves s3:// paths.
    reg.register(flavor('minio', [own, 's3', 'gcs']));
    expect(canonicalScheme('s3')).toBe('s3');
    expect(canonicalScheme('s3a')).toBe('s3');
    expect(canonicalScheme('gcs')).toBe('gs');
    expect(canonicalScheme(own)).toBe(own);
    expect(reg.forScheme('s3').map((f) => f.name)).toEqual(['minio']);
    expect(reg.forScheme(own).map((f) => f.name)).toEqual(['minio']);
    const t = new MountTable();
    const { fs } = createMemoryFs();
    t.mount('s3://b', fs);
    await t.fs.promises.writeFile('s3a://b/k', 'still s3');
    expect(fs.readFileSync('/k', 'utf8')).toBe('still s3');
    // The flavor still takes stores on s3:// and on its own scheme.
    expect((await createStoreWith({ flavor: 'minio', path: 's3://b/root' }, reg)).path).toBe('s3://b/root');
    expect((await createStoreWith({ flavor: 'minio', path: `${own}://b/root` }, reg)).path).toBe(
      `${own}://b/root`,
    );
  });

  it('a flavor whose first scheme is an existing alias registers its new aliases', () => {
    const extra = uniqueScheme('gx');
    const reg = new FlavorRegistry();
    reg.register(flavor('gcs-like', ['gcs', extra]));
    expect(canonicalScheme('gcs')).toBe('gs');
    expect(canonicalScheme(extra)).toBe('gs');
    expect(reg.forScheme('gs').map((f) => f.name)).toEqual(['gcs-like']);
  });

  it('the default registry holds local and memory and takes new flavors', () => {
    expect(listFlavors().map((f) => f.name)).toEqual(expect.arrayContaining(['local', 'memory']));
    expect(getFlavor('local')).toBe(localFlavor);
    expect(getFlavor('memory').schemes).toEqual(['mem', 'memory']);
    const name = `custom-${randomUUID().slice(0, 8)}`;
    const f = flavor(name, ['mem']);
    registerFlavor(f);
    expect(getFlavor(name)).toBe(f);
    expect(thrown(() => registerFlavor(flavor(name, ['mem']))).code).toBe('EEXIST');
    expect(thrown(() => registerFlavor(flavor('local', ['file']))).code).toBe('EEXIST');
    expect(getFlavor('local')).toBe(localFlavor);
  });
});

describe('importOptional', () => {
  it('a missing package is ERR_MISSING_DEPENDENCY with the install command', async () => {
    const pkg = '@artifact-vfs/definitely-missing';
    const err = await rejection(importOptional(pkg, 'vault', () => import(/* @vite-ignore */ pkg)));
    expect(err.code).toBe('ERR_MISSING_DEPENDENCY');
    expect(err.message).toContain(`npm install ${pkg}`);
    expect(err.message).toContain("'vault'");
    expect((err as Error & { cause?: { code?: string } }).cause?.code).toMatch(/MODULE_NOT_FOUND/);
  });

  it('returns the module when it loads', async () => {
    const mod = await importOptional('node:path', 'x', () => import('node:path'));
    expect(mod.posix.join('a', 'b')).toBe('a/b');
  });

  it("rethrows other errors unchanged (a broken package, another package's absence)", async () => {
    const broken = new SyntaxError('Unexpected token in @scope/pkg');
    expect(await rejection(importOptional('@scope/pkg', 'x', () => Promise.reject(broken)))).toBe(broken);
    // The message names the optional package, but the missing one is its dependency.
    const transitive = Object.assign(new Error("Cannot find package 'some-dep' imported from @scope/pkg"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    const other = Object.assign(new Error("Cannot find package 'left-pad'"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect(await rejection(importOptional('@scope/pkg', 'x', () => Promise.reject(other)))).toBe(other);
    expect(await rejection(importOptional('@scope/pkg', 'x', () => Promise.reject(transitive)))).toBe(
      transitive,
    );
    // CommonJS wording, and a subpath of the package, count as the package missing.
    const cjs = Object.assign(new Error("Cannot find module '@scope/pkg'"), { code: 'MODULE_NOT_FOUND' });
    expect((await rejection(importOptional('@scope/pkg', 'x', () => Promise.reject(cjs)))).code).toBe(
      'ERR_MISSING_DEPENDENCY',
    );
    const sub = Object.assign(new Error("Cannot find module '@scope/pkg/client' imported from /a.js"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    expect((await rejection(importOptional('@scope/pkg', 'x', () => Promise.reject(sub)))).code).toBe(
      'ERR_MISSING_DEPENDENCY',
    );
  });
});

describe('validateConfig and redactConfig', () => {
  const f = flavor('cfg', ['mem'], {
    config: {
      region: { type: 'string', description: 'region', required: true },
      retries: { type: 'number', description: 'retries', default: 2 },
      tls: { type: 'boolean', description: 'use TLS' },
      tags: { type: 'json', description: 'tags' },
      token: { type: 'string', description: 'token', secret: true },
    },
  });

  it('applies defaults and skips path, flavor and name', () => {
    expect(validateConfig(f, { region: 'eu', path: 'mem://x', flavor: 'cfg', name: 'n' })).toEqual({
      region: 'eu',
      retries: 2,
    });
  });

  it('coerces command-line strings only when asked', () => {
    expect(
      validateConfig(f, { region: 'eu', retries: '5', tls: 'yes', tags: '{"a":1}' }, { coerce: true }),
    ).toEqual({ region: 'eu', retries: 5, tls: true, tags: { a: 1 } });
    expect(validateConfig(f, { region: 'eu', tls: 'FALSE' }, { coerce: true }).tls).toBe(false);
    expect(thrown(() => validateConfig(f, { region: 'eu', retries: '5' })).code).toBe('EINVAL');
    expect(thrown(() => validateConfig(f, { region: 'eu', retries: 'x' }, { coerce: true })).code).toBe(
      'EINVAL',
    );
    expect(thrown(() => validateConfig(f, { region: 'eu', retries: Infinity })).code).toBe('EINVAL');
    expect(thrown(() => validateConfig(f, { region: 'eu', tls: 'maybe' }, { coerce: true })).code).toBe(
      'EINVAL',
    );
    const json = thrown(() => validateConfig(f, { region: 'eu', tags: '{oops' }, { coerce: true }));
    expect(json.code).toBe('EINVAL');
    expect(json.message).toContain('must be JSON');
  });

  it('redactConfig masks secret fields only', () => {
    expect(redactConfig(f, { region: 'eu', token: 'abc', retries: 1 })).toEqual({
      region: 'eu',
      token: '**********',
      retries: 1,
    });
    expect(redactConfig(f, { region: 'eu' })).toEqual({ region: 'eu' });
    expect(redactConfig(undefined, { token: 'abc' })).toEqual({ token: 'abc' });
  });
});
