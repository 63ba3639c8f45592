import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFsError } from '../../src/core/errors.js';
import {
  canonicalScheme,
  childLocation,
  formatLocation,
  isDotLike,
  isKnownScheme,
  isWithin,
  looksLikeUri,
  parseLocation,
  registerScheme,
  relativeSegments,
  safeRelativeSegments,
  schemeAliases,
} from '../../src/core/uri.js';
import type { Location } from '../../src/core/uri.js';

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error & { code?: string; path?: string; syscall?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

/** The message node:fs itself gives for a bad path value. */
function nodeMessage(value: unknown): { code: string; message: string } {
  const err = thrown(() => fs.statSync(value as string));
  return { code: err.code!, message: err.message };
}

const loc = (scheme: string, segments: string[], trailingSlash = false): Location => ({
  scheme,
  segments,
  trailingSlash,
});

describe('parseLocation: schemes', () => {
  it.each([
    ['s3://b/k', 's3'],
    ['s3a://b/k', 's3'],
    ['gs://b/k', 'gs'],
    ['gcs://b/k', 'gs'],
    ['az://b/k', 'az'],
    ['abfs://b/k', 'az'],
    ['abfss://b/k', 'az'],
    ['mem://b/k', 'mem'],
    ['memory://b/k', 'mem'],
  ])('%s has scheme %s', (uri, scheme) => {
    expect(parseLocation(uri)).toEqual(loc(scheme, ['b', 'k']));
  });

  it.each([
    ['S3://Bkt/Key', 's3', ['Bkt', 'Key']],
    ['S3A://b/k', 's3', ['b', 'k']],
    ['GCS://b/k', 'gs', ['b', 'k']],
    ['AbFsS://c@acct.dfs.core.windows.net/k', 'az', ['c', 'k']],
    ['MeMoRy://vol/x', 'mem', ['vol', 'x']],
  ])('scheme of %s is case-insensitive, names keep their case', (uri, scheme, segments) => {
    expect(parseLocation(uri)).toEqual(loc(scheme, segments));
  });

  it('abfss://container@account.dfs.core.windows.net/p addresses the container', () => {
    expect(parseLocation('abfss://container@account.dfs.core.windows.net/p')).toEqual(
      loc('az', ['container', 'p']),
    );
    expect(parseLocation('abfs://data@acct.dfs.core.windows.net/a/b/')).toEqual(
      loc('az', ['data', 'a', 'b'], true),
    );
    expect(thrown(() => parseLocation('abfss://@acct.dfs.core.windows.net/p')).code).toBe('EINVAL');
  });

  it('an unknown scheme with :// is still a URI', () => {
    expect(parseLocation('zz://b/k')).toEqual(loc('zz', ['b', 'k']));
  });

  it('file:// URIs give local absolute path segments, percent-decoded', () => {
    expect(parseLocation('file:///tmp/x')).toEqual(loc('file', ['tmp', 'x']));
    expect(parseLocation('file:///tmp/a%20b/c%25d')).toEqual(loc('file', ['tmp', 'a b', 'c%d']));
    expect(parseLocation('file:///tmp/%E2%82%AC')).toEqual(loc('file', ['tmp', '€']));
    expect(parseLocation('file://localhost/tmp/x')).toEqual(loc('file', ['tmp', 'x']));
    expect(parseLocation('FILE:///Tmp/X')).toEqual(loc('file', ['Tmp', 'X']));
    expect(parseLocation('file:///tmp/dir/')).toEqual(loc('file', ['tmp', 'dir'], true));
    expect(parseLocation('file:///')).toEqual(loc('file', []));
  });

  it('file:// URIs that are not local paths are EINVAL', () => {
    for (const bad of ['file://remotehost/x', 'file:///a%2Fb']) {
      const err = thrown(() => parseLocation(bad, { syscall: 'open' }));
      expect(err.code).toBe('EINVAL');
      expect(err.message).toBe(`EINVAL: not a local file URL, open '${bad}'`);
      expect(err.cause).toBeInstanceOf(TypeError);
    }
  });
});

describe('parseLocation: local paths', () => {
  it('resolves relative paths against cwd', () => {
    expect(parseLocation('a/b', { cwd: '/base/dir' })).toEqual(loc('file', ['base', 'dir', 'a', 'b']));
    expect(parseLocation('../x', { cwd: '/base/dir' })).toEqual(loc('file', ['base', 'x']));
    expect(parseLocation('.', { cwd: '/base/dir' })).toEqual(loc('file', ['base', 'dir']));
    expect(parseLocation('./a/', { cwd: '/base' })).toEqual(loc('file', ['base', 'a'], true));
    expect(parseLocation('/abs/p', { cwd: '/base' })).toEqual(loc('file', ['abs', 'p']));
    expect(parseLocation('/', { cwd: '/base' })).toEqual(loc('file', []));
    expect(parseLocation('/a//b/./c/../d/', { cwd: '/base' })).toEqual(loc('file', ['a', 'b', 'd'], true));
  });

  it('defaults cwd to process.cwd()', () => {
    expect(parseLocation('rel')).toEqual(loc('file', [...process.cwd().split('/').filter(Boolean), 'rel']));
  });

  it('the empty string is ENOENT', () => {
    const err = thrown(() => parseLocation('', { syscall: 'stat' }));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toBe("ENOENT: no such file or directory, stat ''");
  });
});

describe('parseLocation: segments', () => {
  it('flags a trailing slash on keys only', () => {
    expect(parseLocation('s3://b/k/')).toEqual(loc('s3', ['b', 'k'], true));
    expect(parseLocation('s3://b/k//')).toEqual(loc('s3', ['b', 'k'], true));
    expect(parseLocation('s3://b/k')).toEqual(loc('s3', ['b', 'k'], false));
    expect(parseLocation('s3://b/')).toEqual(loc('s3', ['b'], false));
    expect(parseLocation('s3://b')).toEqual(loc('s3', ['b'], false));
  });

  it('drops empty, . and duplicate-slash segments', () => {
    expect(parseLocation('s3://b//a/./b///c/.')).toEqual(loc('s3', ['b', 'a', 'b', 'c']));
    expect(parseLocation('gs://b/./')).toEqual(loc('gs', ['b']));
  });

  it('.. pops within the bucket', () => {
    expect(parseLocation('s3://b/a/x/../y')).toEqual(loc('s3', ['b', 'a', 'y']));
    expect(parseLocation('s3://b/a/..')).toEqual(loc('s3', ['b']));
    expect(parseLocation('s3://b/a/b/../../c/')).toEqual(loc('s3', ['b', 'c'], true));
  });

  it.each(['s3://b/../other', 's3://b/a/../../x', 'mem://v/..', 'gs://b/./../x'])(
    '%s escapes its bucket: EINVAL',
    (uri) => {
      const err = thrown(() => parseLocation(uri, { syscall: 'stat' }));
      expect(isFsError(err, 'EINVAL')).toBe(true);
      expect(err.message).toBe(`EINVAL: path escapes its bucket, stat '${uri}'`);
      expect(err.path).toBe(uri);
    },
  );

  it.each(['s3://', 's3:///k', 's3:////', 'gs://../x', 'mem://./x', 'az://%2e%2e/x', 'az://..@acct/p'])(
    '%s has no usable authority: EINVAL',
    (uri) => {
      const err = thrown(() => parseLocation(uri));
      expect(err.code).toBe('EINVAL');
      expect(err.message).toBe(`EINVAL: a URI needs a bucket or container name '${uri}'`);
    },
  );

  it('schemeOnly accepts a bare scheme, and only that', () => {
    expect(parseLocation('s3://', { schemeOnly: true })).toEqual(loc('s3', []));
    expect(parseLocation('GCS://', { schemeOnly: true })).toEqual(loc('gs', []));
    expect(parseLocation('s3:/', { schemeOnly: true })).toEqual(loc('s3', []));
    expect(thrown(() => parseLocation('s3:///k', { schemeOnly: true })).code).toBe('EINVAL');
    expect(parseLocation('s3://b', { schemeOnly: true })).toEqual(loc('s3', ['b']));
  });
});

describe('parseLocation: input types', () => {
  it('accepts Buffer, Uint8Array and URL inputs', () => {
    expect(parseLocation(Buffer.from('s3://b/k/'))).toEqual(loc('s3', ['b', 'k'], true));
    expect(parseLocation(new TextEncoder().encode('mem://v/€'))).toEqual(loc('mem', ['v', '€']));
    const sub = Buffer.from('xxs3://b/kyy').subarray(2, 10);
    expect(parseLocation(sub)).toEqual(loc('s3', ['b', 'k']));
    expect(parseLocation(new URL('s3://b/a/k'))).toEqual(loc('s3', ['b', 'a', 'k']));
    expect(parseLocation(new URL('file:///tmp/a%20b'))).toEqual(loc('file', ['tmp', 'a b']));
    expect(parseLocation(Buffer.from('rel'), { cwd: '/c' })).toEqual(loc('file', ['c', 'rel']));
  });

  it.each([
    ['a string', 's3://b/a\0b'],
    ['a local path', '/tmp/a\0b'],
    ['a Buffer', Buffer.from('/tmp/a\0b')],
    ['a Uint8Array', new TextEncoder().encode('/tmp/a\0b')],
    ['a path with a quote', "/tmp/it's\0"],
    ['a long path', '/' + 'x'.repeat(200) + '\0'],
  ])('refuses NUL bytes in %s with a TypeError ERR_INVALID_ARG_VALUE, as node:fs does', (_, value) => {
    const err = thrown(() => parseLocation(value));
    expect(err).toBeInstanceOf(TypeError);
    expect(isFsError(err, 'ERR_INVALID_ARG_VALUE')).toBe(true);
    expect(err.message).toBe(nodeMessage(value).message);
  });

  it('refuses a file URL that decodes to a NUL byte, as node:fs refuses the URL object', () => {
    const expected = nodeMessage(new URL('file:///tmp/a%00b'));
    expect(expected.code).toBe('ERR_INVALID_ARG_VALUE');
    for (const value of ['file:///tmp/a%00b', new URL('file:///tmp/a%00b')]) {
      const err = thrown(() => parseLocation(value));
      expect(err).toBeInstanceOf(TypeError);
      expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err.message).toBe(expected.message);
    }
  });

  it.each([
    ['number', 42],
    ['NaN', NaN],
    ['-0', -0],
    ['bigint', 1n],
    ['boolean', true],
    ['null', null],
    ['undefined', undefined],
    ['object', {}],
    ['array', ['s3://b/k']],
    ['null-prototype object', Object.create(null) as object],
    ['symbol', Symbol('s')],
    ['named function', function namedFn() {}],
  ])('refuses a %s with the TypeError ERR_INVALID_ARG_TYPE node:fs gives', (_, value) => {
    const expected = nodeMessage(value);
    expect(expected.code).toBe('ERR_INVALID_ARG_TYPE');
    const err = thrown(() => parseLocation(value as unknown as string, { syscall: 'stat' }));
    expect(err).toBeInstanceOf(TypeError);
    expect(isFsError(err, 'ERR_INVALID_ARG_TYPE')).toBe(true);
    expect(err.message).toBe(expected.message);
    expect(err.syscall).toBe('stat');
  });
});

describe('path-arithmetic manglings of URIs', () => {
  it('path.join, path.normalize and path.resolve forms parse back to the URI', () => {
    expect(path.join('s3://b', 'k')).toBe('s3:/b/k');
    expect(parseLocation(path.join('s3://b', 'k'))).toEqual(loc('s3', ['b', 'k']));
    expect(parseLocation(path.normalize('s3://b/k/'))).toEqual(loc('s3', ['b', 'k'], true));
    expect(parseLocation(path.join('gcs://b/a', '../k'))).toEqual(loc('gs', ['b', 'k']));
    expect(path.resolve('s3://b/k')).toBe(`${process.cwd()}/s3:/b/k`);
    expect(parseLocation(path.resolve('s3://b/k'))).toEqual(loc('s3', ['b', 'k']));
    expect(path.resolve('/some/dir', 'abfss://c/k/')).toBe('/some/dir/abfss:/c/k');
    expect(parseLocation(path.resolve('/some/dir', 'abfss://c/k/'))).toEqual(loc('az', ['c', 'k']));
    expect(parseLocation(path.join('mem://', 'v'))).toEqual(loc('mem', ['v']));
  });

  it('a joined file URL keeps its empty authority', () => {
    expect(path.join('file:///tmp', 'x')).toBe('file:/tmp/x');
    expect(parseLocation(path.join('file:///tmp', 'x'))).toEqual(loc('file', ['tmp', 'x']));
    expect(parseLocation(path.normalize('file:///tmp/a%20b/'))).toEqual(loc('file', ['tmp', 'a b'], true));
  });

  it('a drive-like or unknown scheme is not a URI', () => {
    expect(parseLocation('c:/x', { cwd: '/w' })).toEqual(loc('file', ['w', 'c:', 'x']));
    expect(parseLocation('C:/x', { cwd: '/w' })).toEqual(loc('file', ['w', 'C:', 'x']));
    expect(parseLocation('zz:/x', { cwd: '/w' })).toEqual(loc('file', ['w', 'zz:', 'x']));
    expect(parseLocation('/w/zz:/x')).toEqual(loc('file', ['w', 'zz:', 'x']));
    expect(looksLikeUri('c:/x')).toBe(false);
    expect(looksLikeUri('zz:/x')).toBe(false);
    expect(looksLikeUri('s3:/b/k')).toBe(true);
    expect(looksLikeUri('/cwd/gs:/b/k')).toBe(true);
    expect(looksLikeUri('zz://b')).toBe(true);
    expect(looksLikeUri('/plain/path')).toBe(false);
  });
});

describe('path traversal in URIs (MLflow CVE-2023-1177, CVE-2023-2780, CVE-2024-1560)', () => {
  const vectors = [
    '%2e%2e',
    '%2E%2e',
    '%2e',
    '.%2e',
    '..%2f',
    '..%2F',
    '%2e%2e%2f',
    '%252e%252e%252f',
    '%25252e%25252e%25252f',
    '．．／',
    '．．',
    '‥',
    '%E2%80%A5',
    '..\\x',
    'x\\..',
    '..%5c',
    '%00',
    'a%00b',
    // a stray or invalid escape must not switch decoding off for the rest of the segment
    '%2e%2e%2f%zz',
    '..%2f%zz',
    '100%%2f..',
    '%ff%2f%2e%2e',
    // fullwidth percent signs become escapes under NFKC
    '％２ｅ％２ｅ',
  ];

  it.each(vectors)('refuses %s with EINVAL', (v) => {
    for (const uri of [`s3://b/${v}`, `s3://b/a/${v}/x`, `mem://v/a/b/${v}`]) {
      const err = thrown(() => parseLocation(uri, { syscall: 'open' }));
      expect(isFsError(err, 'EINVAL')).toBe(true);
      expect(err.message).toBe(`EINVAL: encoded path traversal refused, open '${uri}'`);
    }
    expect(isDotLike(v)).toBe(true);
  });

  it.each(['a..b', '...', '..a', 'a..', '100%', '%', '%%', 'a%2Fb', '.hidden', '%zz', '%2e%2ex', 'x%2e%2e'])(
    'keeps the literal name %s',
    (name) => {
      expect(parseLocation(`s3://b/${name}`)).toEqual(loc('s3', ['b', name]));
      expect(isDotLike(name)).toBe(false);
    },
  );
});

describe('isDotLike', () => {
  it.each([
    ['.', true],
    ['..', true],
    ['a/..', true],
    ['%2E', true],
    ['%25%32%65%25%32%65', true],
    ['%2525252525252e', true],
    ['...', false],
    ['a.b', false],
    ['', false],
    ['%2', false],
    ['%2e%2e%2e', false],
  ])('isDotLike(%j) is %s', (seg, expected) => {
    expect(isDotLike(seg)).toBe(expected);
  });
});

describe('isWithin and relativeSegments', () => {
  it('compares segments, not string prefixes', () => {
    const root = parseLocation('s3://b/root');
    expect(isWithin(root, parseLocation('s3://b/root'))).toBe(true);
    expect(isWithin(root, parseLocation('s3://b/root/a/b'))).toBe(true);
    expect(isWithin(root, parseLocation('s3://b/root-x/a'))).toBe(false);
    expect(isWithin(root, parseLocation('s3://b/roo'))).toBe(false);
    expect(isWithin(root, parseLocation('s3://b'))).toBe(false);
    expect(isWithin(root, parseLocation('s3://c/root/a'))).toBe(false);
    expect(isWithin(parseLocation('s3://b'), parseLocation('s3://b/x'))).toBe(true);
    expect(relativeSegments(root, parseLocation('s3://b/root/a/b'))).toEqual(['a', 'b']);
  });

  it('is never true across schemes', () => {
    expect(isWithin(parseLocation('s3://b/root'), parseLocation('gs://b/root/a'))).toBe(false);
    expect(isWithin(parseLocation('mem://b'), parseLocation('/b/x'))).toBe(false);
    expect(isWithin(parseLocation('s3://', { schemeOnly: true }), parseLocation('gs://b'))).toBe(false);
    expect(isWithin(parseLocation('s3://', { schemeOnly: true }), parseLocation('s3a://b'))).toBe(true);
    expect(isWithin(parseLocation('/'), parseLocation('/tmp/x'))).toBe(true);
    expect(isWithin(parseLocation('/tmp/x'), parseLocation('/tmp'))).toBe(false);
  });
});

describe('safeRelativeSegments', () => {
  it.each(['..', '../x', 'a/../../x', 'a/../b', '%2e%2e/x', '..%2fx', 'a\\..\\..\\x', 'x/．．', '/../x'])(
    '%s throws ERR_PATH_OUTSIDE_ROOT',
    (rel) => {
      const err = thrown(() => safeRelativeSegments(rel, `/store/${rel}`));
      expect(isFsError(err, 'ERR_PATH_OUTSIDE_ROOT')).toBe(true);
      expect(err.message).toBe(`ERR_PATH_OUTSIDE_ROOT: path is outside the store root: '/store/${rel}'`);
      expect(err.path).toBe(`/store/${rel}`);
    },
  );

  it.each([
    ['a/./b', ['a', 'b']],
    ['a\\b', ['a', 'b']],
    ['/a//b/', ['a', 'b']],
    ['', []],
    ['.', []],
    ['a..b/...', ['a..b', '...']],
    ['100%/a%2Fb', ['100%', 'a%2Fb']],
  ])('%j gives %j', (rel, expected) => {
    expect(safeRelativeSegments(rel, rel)).toEqual(expected);
  });

  it('refuses a NUL byte with ERR_INVALID_ARG_VALUE', () => {
    const err = thrown(() => safeRelativeSegments('a\0b', '/store/a\0b'));
    expect(err).toBeInstanceOf(TypeError);
    expect(err.code).toBe('ERR_INVALID_ARG_VALUE');
  });
});

describe('formatLocation', () => {
  it.each([
    's3://b',
    's3://b/k',
    's3://b/a/b/',
    'gs://b/k',
    'az://c/p/',
    'mem://v/x',
    '/',
    '/tmp/x',
    '/tmp/x/',
  ])('round-trips the canonical %s', (uri) => {
    expect(formatLocation(parseLocation(uri))).toBe(uri);
  });

  it.each([
    ['s3a://b/k', 's3://b/k'],
    ['S3://b//k/./', 's3://b/k/'],
    ['s3://b/', 's3://b'],
    ['abfss://c@acct.dfs.core.windows.net/p', 'az://c/p'],
    ['file:///tmp/a%20b', '/tmp/a b'],
  ])('canonicalises %s to %s', (input, output) => {
    expect(formatLocation(parseLocation(input))).toBe(output);
  });

  it('formats a bare scheme and honours the trailingSlash option', () => {
    expect(formatLocation(parseLocation('s3://', { schemeOnly: true }))).toBe('s3://');
    expect(formatLocation(parseLocation('s3://b/k'), { trailingSlash: true })).toBe('s3://b/k/');
    expect(formatLocation(parseLocation('s3://b/k/'), { trailingSlash: false })).toBe('s3://b/k');
    expect(formatLocation(parseLocation('s3://b'), { trailingSlash: true })).toBe('s3://b');
    expect(formatLocation(parseLocation('/'), { trailingSlash: true })).toBe('/');
    expect(formatLocation(childLocation(parseLocation('s3://b/r'), ['x', 'y'], true))).toBe('s3://b/r/x/y/');
  });
});

describe('schemes', () => {
  it('canonicalScheme maps aliases and strips a trailing : or ://', () => {
    expect(canonicalScheme('s3a')).toBe('s3');
    expect(canonicalScheme('GCS')).toBe('gs');
    expect(canonicalScheme('abfss')).toBe('az');
    expect(canonicalScheme('abfs://')).toBe('az');
    expect(canonicalScheme('memory:')).toBe('mem');
    expect(canonicalScheme('file')).toBe('file');
    expect(canonicalScheme('ZZ')).toBe('zz');
    expect(schemeAliases('s3a')).toEqual(['s3', 's3a']);
    expect(schemeAliases('az')).toEqual(['az', 'abfs', 'abfss']);
  });

  it('registerScheme makes a custom scheme and its aliases known', () => {
    expect(isKnownScheme('hdfsx')).toBe(false);
    expect(parseLocation('hdfsx:/nn/p', { cwd: '/w' })).toEqual(loc('file', ['w', 'hdfsx:', 'nn', 'p']));
    registerScheme('HDFSX', 'WebHdfsX');
    expect(isKnownScheme('hdfsx')).toBe(true);
    expect(isKnownScheme('webhdfsx')).toBe(true);
    expect(canonicalScheme('WEBHDFSX')).toBe('hdfsx');
    expect(schemeAliases('hdfsx')).toEqual(['hdfsx', 'webhdfsx']);
    expect(parseLocation('webhdfsx://nn/p')).toEqual(loc('hdfsx', ['nn', 'p']));
    expect(parseLocation('hdfsx:/nn/p', { cwd: '/w' })).toEqual(loc('hdfsx', ['nn', 'p']));
  });

  it('registerScheme refuses to take over a scheme that routes elsewhere, and registers nothing', () => {
    const err = thrown(() => registerScheme('minio', 's3'));
    expect(isFsError(err, 'EEXIST')).toBe(true);
    expect(err.message).toBe("EEXIST: the scheme 's3' already routes to 's3://'");
    expect(canonicalScheme('s3')).toBe('s3');
    expect(isKnownScheme('minio')).toBe(false);
    // Re-registering a scheme with its own aliases is fine.
    registerScheme('s3', 's3a');
    expect(canonicalScheme('s3a')).toBe('s3');
  });

  it.each([
    ['', []],
    ['1abc', []],
    ['a b', []],
    ['a/b', []],
    ['s3:', []],
    ['okcanon', ['bad alias']],
    ['okcanon', ['']],
    ['okcanon', ['x:']],
  ])('registerScheme(%j, ...%j) is EINVAL and registers nothing', (canonical, aliases) => {
    const err = thrown(() => registerScheme(canonical, ...aliases));
    expect(isFsError(err, 'EINVAL')).toBe(true);
    expect(err.message).toMatch(/^EINVAL: invalid scheme name '/);
    expect(isKnownScheme('okcanon')).toBe(false);
    for (const a of aliases) expect(isKnownScheme(a)).toBe(false);
  });
});

describe('properties', () => {
  const notSeparatorLike = (s: string): boolean => {
    const n = s.normalize('NFKC');
    return !/[/\\%\0]/.test(n) && n !== '.' && n !== '..';
  };
  const safeSegment = fc
    .oneof(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }),
    )
    .filter(notSeparatorLike);

  it('safe segments round-trip through parseLocation and formatLocation', () => {
    fc.assert(
      fc.property(fc.array(safeSegment, { maxLength: 6 }), (segs) => {
        const uri = 's3://bkt/' + segs.join('/');
        const parsed = parseLocation(uri);
        expect(parsed.segments).toEqual(['bkt', ...segs]);
        expect(parsed.trailingSlash).toBe(false);
        expect(formatLocation(parsed)).toBe(segs.length ? uri : 's3://bkt');
      }),
      { numRuns: 300 },
    );
  });

  it('safeRelativeSegments throws or returns segments that stay under the root', () => {
    const piece = fc.constantFrom(
      'a',
      'b',
      '.',
      '..',
      '/',
      '\\',
      '%2e',
      '%2E%2e',
      '%2f',
      '%5c',
      '%25',
      '%zz',
      '%',
      '．',
      '／',
      '...',
      'x%2f..',
    );
    const rel = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.array(piece, { maxLength: 10 }).map((p) => p.join('')),
    );
    const roots = [parseLocation('s3://bkt/root'), parseLocation('/srv/root')];
    fc.assert(
      fc.property(rel, (r) => {
        let out: string[];
        try {
          out = safeRelativeSegments(r, r);
        } catch (err) {
          expect(isFsError(err, 'ERR_PATH_OUTSIDE_ROOT')).toBe(true);
          return;
        }
        expect(r.split(/[\\/]/)).not.toContain('..');
        for (const s of out) {
          expect(isDotLike(s)).toBe(false);
          expect(s).not.toMatch(/^$|[\\/]/);
        }
        for (const root of roots) {
          const child = childLocation(root, out);
          expect(isWithin(root, child)).toBe(true);
          const reparsed = parseLocation(formatLocation(root) + '/' + out.join('/'));
          expect(isWithin(root, reparsed)).toBe(true);
          expect(reparsed.segments).toEqual(child.segments);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('percent-encoding the .. of a segment, once or twice, is always refused', () => {
    const hex = (byte: number, upper: boolean): string => {
      const h = byte.toString(16).padStart(2, '0');
      return '%' + (upper ? h.toUpperCase() : h);
    };
    const encodeAll = (s: string, upper: boolean): string =>
      [...Buffer.from(s, 'utf8')].map((b) => hex(b, upper)).join('');
    const encodeTraversal = (s: string, upper: boolean): string =>
      s.replace(/[./\\]/g, (c) => hex(c.charCodeAt(0), upper));
    const again = (s: string): string => s.replace(/%/g, '%25');
    const literal = fc
      .oneof(fc.string({ maxLength: 6 }), fc.constantFrom('%', '100%', '%zz', 'a%', '%g1', '%2', 'x.y'))
      .filter((s) => !/[/\\\0]/.test(s));
    fc.assert(
      fc.property(
        literal,
        literal,
        fc.constantFrom('/', '\\'),
        fc.constantFrom('all', 'traversal'),
        fc.boolean(),
        fc.boolean(),
        (prefix, suffix, sep, mode, twice, upper) => {
          const core = [prefix && prefix + sep, '..', suffix && sep + suffix].join('');
          let segment: string;
          if (mode === 'all') {
            segment = encodeAll(core, upper);
            if (twice) segment = again(segment);
          } else {
            let traversal = encodeTraversal([prefix && sep, '..', suffix && sep].join(''), upper);
            if (twice) traversal = again(traversal);
            segment = prefix + traversal + suffix;
          }
          const err = thrown(() => parseLocation(`s3://bkt/dir/${segment}`));
          expect(isFsError(err, 'EINVAL')).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
