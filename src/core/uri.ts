/**
 * URIs, keys and containment.
 *
 * Invariants of a parsed {@link Location}:
 * - `segments` never contains an empty, `.` or `..` segment; `/` is the only separator.
 * - For URIs, `segments[0]` is the authority (bucket, container, memory volume); the rest is the key.
 * - For local paths (`file` scheme, plain paths), `segments` is the absolute path's components.
 * - A URI segment that *decodes* to a dot segment (`%2e%2e`, `%252e%252e`, `．．`, `..\`) is refused
 *   with EINVAL: object keys are addressed literally, but an encoded traversal is never a real name.
 * - NUL bytes are refused with Node's `ERR_INVALID_ARG_VALUE`.
 * - Containment compares segments, never string prefixes (`root-x` is not inside `root`).
 */
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { fsError, invalidPathError } from './errors.js';

const ALIASES = new Map<string, string>([
  ['s3', 's3'],
  ['s3a', 's3'],
  ['gs', 'gs'],
  ['gcs', 'gs'],
  ['az', 'az'],
  ['abfs', 'az'],
  ['abfss', 'az'],
  ['mem', 'mem'],
  ['memory', 'mem'],
  ['file', 'file'],
]);

/** Registers a scheme (and its aliases) so that routing recognises it, e.g. for a custom flavor. */
export function registerScheme(canonical: string, ...aliases: string[]): void {
  const c = canonical.toLowerCase();
  // Every name (aliases too) is checked before anything is registered.
  for (const name of [canonical, ...aliases]) {
    if (typeof name !== 'string' || !/^[a-z][a-z0-9+.-]*$/.test(name.toLowerCase()))
      throw fsError('EINVAL', { detail: `invalid scheme name '${String(name)}'` });
  }
  // A name that already routes elsewhere (e.g. `s3` for a `minio` flavor) is never taken over:
  // that would silently re-route every `s3://` path in the process.
  for (const name of [c, ...aliases.map((a) => a.toLowerCase())]) {
    const owner = ALIASES.get(name);
    if (owner !== undefined && owner !== c) {
      throw fsError('EEXIST', { message: `EEXIST: the scheme '${name}' already routes to '${owner}://'` });
    }
  }
  ALIASES.set(c, c);
  for (const a of aliases) ALIASES.set(a.toLowerCase(), c);
}

/** The canonical name of a scheme (`s3a` → `s3`, `gcs` → `gs`, `abfss` → `az`); unknown ones lower-cased. */
export function canonicalScheme(scheme: string): string {
  const s = scheme.toLowerCase().replace(/:(\/\/)?$/, '');
  return ALIASES.get(s) ?? s;
}

export function isKnownScheme(scheme: string): boolean {
  return ALIASES.has(scheme.toLowerCase());
}

/** Every alias that maps to `canonical`, canonical first. */
export function schemeAliases(canonical: string): string[] {
  const c = canonicalScheme(canonical);
  return [c, ...[...ALIASES].filter(([a, v]) => v === c && a !== c).map(([a]) => a)];
}

export interface Location {
  /** Canonical scheme; `file` for local paths. */
  readonly scheme: string;
  /** Authority first (for URIs), then key segments. For `file`, absolute path components. */
  readonly segments: readonly string[];
  /** The input ended with `/` (a directory was meant). */
  readonly trailingSlash: boolean;
}

export type PathInput = string | Buffer | URL | Uint8Array;

const URI_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s;
// `path.join('s3://b', 'k')` gives `s3:/b/k`; recognised for known schemes (two letters at least, so
// that a Windows drive `c:/` never matches).
const JOINED_RE = /^([a-zA-Z][a-zA-Z0-9+.-]+):\/(?!\/)(.*)$/s;

/** Turns any accepted path value into a string, as Node does (Buffer as UTF-8, URL as its href). */
export function pathToString(input: unknown, syscall?: string): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.protocol === 'file:' ? fileURLToPath(input) : input.href;
  if (input instanceof Uint8Array)
    return Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  throw fsError('ERR_INVALID_ARG_TYPE', {
    message: `The "path" argument must be of type string or an instance of Buffer or URL. Received ${describe(input)}`,
    syscall,
  });
}

/** How Node's ERR_INVALID_ARG_TYPE names the value it received. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  switch (typeof v) {
    case 'function':
      return `function ${v.name}`;
    case 'object': {
      const ctor = (v as { constructor?: { name?: unknown } }).constructor;
      return typeof ctor === 'function' && 'name' in ctor
        ? `an instance of ${String(ctor.name)}`
        : inspect(v, { depth: -1 });
    }
    case 'bigint':
      return `type bigint (${v}n)`;
    case 'number':
      return `type number (${Object.is(v, -0) ? '-0' : String(v)})`;
    default:
      return `type ${typeof v} (${String(v)})`;
  }
}

/** True when a string is a URI with a scheme (`s3://…`), or a `path.join`/`path.resolve` mangling of one. */
export function looksLikeUri(s: string): boolean {
  return URI_RE.test(s) || unmangle(s) !== undefined;
}

/**
 * Recovers `scheme://rest` from the forms path arithmetic makes of a URI: `s3:/b/k` (path.join,
 * path.normalize) and `/any/dir/s3:/b/k` (path.resolve against a working directory).
 */
function unmangle(s: string): string | undefined {
  const joined = JOINED_RE.exec(s);
  if (joined && isKnownScheme(joined[1]!)) {
    // A file URL's authority is empty: `file:///tmp/x` becomes `file:/tmp/x`, whose path is `/tmp/x`.
    const root = canonicalScheme(joined[1]!) === 'file' ? '/' : '';
    return `${joined[1]}://${root}${joined[2]}`;
  }
  if (s.startsWith('/')) {
    const parts = s.split('/');
    for (let i = 1; i < parts.length - 1; i++) {
      const p = parts[i]!;
      if (p.length > 2 && p.endsWith(':') && isKnownScheme(p.slice(0, -1)) && p !== 'file:') {
        return `${p.slice(0, -1)}://${parts.slice(i + 1).join('/')}`;
      }
    }
  }
  return undefined;
}

/** Parses a path or URI into a {@link Location}. Relative plain paths resolve against `cwd`. */
export function parseLocation(
  input: PathInput,
  opts: {
    cwd?: string;
    syscall?: string;
    /** Accept `s3://` (a whole scheme), as mount points do. */ schemeOnly?: boolean;
  } = {},
): Location {
  const raw = pathToString(input, opts.syscall);
  // Node shows a Buffer as a Buffer in this message.
  if (raw.includes('\0')) throw invalidPathError(input instanceof Uint8Array ? input : raw, opts.syscall);
  if (raw === '') {
    throw fsError('ENOENT', { syscall: opts.syscall, path: raw });
  }
  const uri = URI_RE.exec(raw);
  const text = uri ? raw : (unmangle(raw) ?? raw);
  const m = uri ?? URI_RE.exec(text);
  if (!m) return localLocation(resolvePath(opts.cwd ?? process.cwd(), raw), raw.endsWith('/'));

  const scheme = canonicalScheme(m[1]!);
  const rest = m[2]!;
  if (scheme === 'file') {
    let p: string;
    try {
      p = fileURLToPath(`file://${rest}`);
    } catch (cause) {
      throw fsError('EINVAL', { detail: 'not a local file URL', syscall: opts.syscall, path: raw, cause });
    }
    // `file:///a%00b` decodes to a NUL byte, refused as Node refuses it in a file URL object.
    if (p.includes('\0')) throw invalidPathError(p, opts.syscall);
    return localLocation(p, rest.endsWith('/'));
  }
  const slash = rest.indexOf('/');
  let authority = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  // abfs[s]://container@account.dfs.core.windows.net/key addresses the container; the account is config.
  if (scheme === 'az' && authority.includes('@')) authority = authority.slice(0, authority.indexOf('@'));
  if (authority === '' && key === '' && opts.schemeOnly)
    return { scheme, segments: [], trailingSlash: false };
  if (authority === '' || isDotLike(authority)) {
    throw fsError('EINVAL', {
      detail: 'a URI needs a bucket or container name',
      syscall: opts.syscall,
      path: raw,
    });
  }
  const segments = [authority];
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (segments.length === 1) {
        throw fsError('EINVAL', { detail: 'path escapes its bucket', syscall: opts.syscall, path: raw });
      }
      segments.pop();
      continue;
    }
    if (isDotLike(seg)) {
      throw fsError('EINVAL', { detail: 'encoded path traversal refused', syscall: opts.syscall, path: raw });
    }
    segments.push(seg);
  }
  return { scheme, segments, trailingSlash: key.endsWith('/') && segments.length > 1 };
}

function localLocation(abs: string, trailingSlash: boolean): Location {
  const segments = abs.split('/').filter((s) => s !== '');
  return { scheme: 'file', segments, trailingSlash: trailingSlash && segments.length > 0 };
}

/**
 * True when a segment is, or decodes to, a dot segment or a traversal: `..`, `.`, `%2e%2e`,
 * `%252e%252e` (decoded repeatedly), fullwidth `．．` (NFKC), or pieces split by `/` or `\` after
 * decoding (`..%2fx`, `..\x`). Also true for an encoded NUL. Decoding is lenient, as most URL
 * decoders are: a stray `%` (`..%2f%zz`) does not stop the escapes around it from being decoded.
 */
export function isDotLike(segment: string): boolean {
  let current = segment;
  for (let i = 0; i < 5; i++) {
    const normal = current.normalize('NFKC');
    if (normal.includes('\0')) return true;
    if (normal.split(/[\\/]/).some((p) => p === '.' || p === '..')) return true;
    const decoded = percentDecode(normal);
    if (decoded === normal) return false;
    current = decoded;
  }
  return true;
}

/** Decodes every run of valid `%XX` escapes as UTF-8 and leaves anything else as it is. */
function percentDecode(s: string): string {
  return s.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
    Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'),
  );
}

/** `s3://bucket/a/b`, or an absolute path for `file`. A trailing slash is kept when flagged. */
export function formatLocation(loc: Location, opts: { trailingSlash?: boolean } = {}): string {
  if (loc.scheme !== 'file' && loc.segments.length === 0) return `${loc.scheme}://`;
  const tail =
    (opts.trailingSlash ?? loc.trailingSlash) && loc.segments.length > (loc.scheme === 'file' ? 0 : 1)
      ? '/'
      : '';
  if (loc.scheme === 'file') return '/' + loc.segments.join('/') + tail;
  return `${loc.scheme}://${loc.segments.join('/')}${tail}`;
}

/** True when `inner` is `outer` or below it, compared segment by segment. */
export function isWithin(outer: Location, inner: Location): boolean {
  if (outer.scheme !== inner.scheme || inner.segments.length < outer.segments.length) return false;
  return outer.segments.every((s, i) => inner.segments[i] === s);
}

/** The segments of `inner` below `outer` (call only when {@link isWithin} holds). */
export function relativeSegments(outer: Location, inner: Location): string[] {
  return inner.segments.slice(outer.segments.length);
}

export function childLocation(base: Location, rel: readonly string[], trailingSlash = false): Location {
  return { scheme: base.scheme, segments: [...base.segments, ...rel], trailingSlash };
}

/**
 * Splits a path relative to a store root into safe segments, or throws ERR_PATH_OUTSIDE_ROOT:
 * used by the facade, where every user path must stay inside the store. Applies the decoding
 * checks of {@link isDotLike} to every segment, local paths included.
 */
export function safeRelativeSegments(rel: string, display: string): string[] {
  if (rel.includes('\0')) throw invalidPathError(display);
  const out: string[] = [];
  for (const seg of rel.split(/[\\/]/)) {
    if (seg === '' || seg === '.') continue;
    if (isDotLike(seg)) throw outsideRoot(display);
    out.push(seg);
  }
  return out;
}

export function outsideRoot(path: string, root?: string): Error {
  return fsError('ERR_PATH_OUTSIDE_ROOT', {
    message: `ERR_PATH_OUTSIDE_ROOT: path is outside the store root${root ? ` '${root}'` : ''}: '${path}'`,
    path,
  });
}
