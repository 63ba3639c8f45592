/**
 * One error type for the whole library, in Node's shape: `code`, `errno`, `syscall`, `path`,
 * `dest`, and a message formatted like Node's (`ENOENT: no such file or directory, stat 's3://b/k'`).
 * Provider errors travel in `cause`; `retryable` says whether trying again may succeed.
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, inspect } from 'node:util';
import { cleanCause, redactText, scrub } from './secrets.js';

/** Node's descriptions for the errno codes we raise (libuv's wording). */
const DESCRIPTIONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  ENOTEMPTY: 'directory not empty',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EXDEV: 'cross-device link not permitted',
  EINVAL: 'invalid argument',
  ENOTSUP: 'operation not supported on socket',
  EAGAIN: 'resource temporarily unavailable',
  EBADF: 'bad file descriptor',
  EIO: 'i/o error',
  ENODEV: 'no such device',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset by peer',
  ENAMETOOLONG: 'name too long',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  ECANCELED: 'operation canceled',
};

// getaddrinfo's codes are not libuv errnos: Node gives them no description.
DESCRIPTIONS.ENOTFOUND = 'host not found';
DESCRIPTIONS.EAI_AGAIN = 'temporary failure in name resolution';

// libuv's wording for ENOTSUP is about sockets; ours is about the backend.
DESCRIPTIONS.ENOTSUP = 'operation not supported';

let systemDescriptions: Map<string, string> | undefined;

/** libuv's description of any other errno code (`EBUSY` → `resource busy or locked`), as Node prints it. */
function systemDescription(code: string): string | undefined {
  systemDescriptions ??= new Map([...getSystemErrorMap().values()]);
  return systemDescriptions.get(code);
}

export interface FsErrorInit {
  syscall?: string | undefined;
  path?: string | undefined;
  dest?: string | undefined;
  cause?: unknown;
  retryable?: boolean | undefined;
  /** Replaces the description after `CODE: ` (e.g. a hint for ENOTSUP). */
  detail?: string | undefined;
  /** A whole message for non-errno codes (`ERR_*`). */
  message?: string | undefined;
  /** Node's error class name where it differs (`SystemError` for ERR_FS_EISDIR). */
  name?: string | undefined;
  /** Overrides the errno derived from the code. */
  errno?: number | undefined;
}

/** The fields every error of ours carries, in Node's shape. */
export interface FsErrorFields {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  readonly path: string | undefined;
  readonly dest: string | undefined;
  /** True when the same call may succeed if retried (throttling, a dropped connection). */
  readonly retryable: boolean;
  /** The description (e.g. an ENOTSUP hint), kept so the error can be re-targeted at another path. */
  readonly detail: string | undefined;
}

function initFields(err: Error & FsErrorFields, code: string, init: FsErrorInit): void {
  const n = (osConstants.errno as Record<string, number | undefined>)[code];
  const fields: Record<string, unknown> = {
    code,
    errno: init.errno ?? (n === undefined ? undefined : -n),
    syscall: init.syscall,
    path: init.path === undefined ? undefined : scrub(init.path),
    dest: init.dest === undefined ? undefined : scrub(init.dest),
    retryable: init.retryable ?? false,
  };
  for (const [k, v] of Object.entries(fields)) {
    // Undefined fields stay off the enumerable surface, as in Node's errors.
    Object.defineProperty(err, k, {
      value: v,
      enumerable: v !== undefined,
      writable: true,
      configurable: true,
    });
  }
  Object.defineProperty(err, 'detail', {
    value: init.detail === undefined ? undefined : redactText(init.detail),
    enumerable: false,
    writable: true,
    configurable: true,
  });
  if (init.name)
    Object.defineProperty(err, 'name', {
      value: init.name,
      enumerable: false,
      writable: true,
      configurable: true,
    });
}

export class FsError extends Error implements FsErrorFields {
  declare readonly code: string;
  declare readonly errno: number | undefined;
  declare readonly syscall: string | undefined;
  declare readonly path: string | undefined;
  declare readonly dest: string | undefined;
  declare readonly retryable: boolean;
  declare readonly detail: string | undefined;

  constructor(code: string, init: FsErrorInit = {}) {
    super(
      scrub(formatMessage(code, init)),
      init.cause === undefined ? undefined : { cause: cleanCause(init.cause) },
    );
    initFields(this, code, init);
  }
}

/** Node raises bad-argument errors (`ERR_INVALID_ARG_*`) as TypeErrors; so do we. */
export class FsTypeError extends TypeError implements FsErrorFields {
  declare readonly code: string;
  declare readonly errno: number | undefined;
  declare readonly syscall: string | undefined;
  declare readonly path: string | undefined;
  declare readonly dest: string | undefined;
  declare readonly retryable: boolean;
  declare readonly detail: string | undefined;

  constructor(code: string, init: FsErrorInit = {}) {
    super(
      scrub(formatMessage(code, init)),
      init.cause === undefined ? undefined : { cause: cleanCause(init.cause) },
    );
    initFields(this, code, init);
  }
}

function formatMessage(code: string, init: FsErrorInit): string {
  if (init.message !== undefined) return init.message;
  const detail = init.detail === undefined ? undefined : redactText(init.detail);
  let msg = `${code}: ${detail ?? DESCRIPTIONS[code] ?? systemDescription(code) ?? 'error'}`;
  if (init.syscall) msg += `, ${init.syscall}`;
  if (init.path !== undefined) msg += ` '${init.path}'`;
  if (init.dest !== undefined) msg += ` -> '${init.dest}'`;
  return msg;
}

/**
 * Cleans an error (or any value) of secrets before it is shown or kept: see `cleanCause`. Errors
 * are cleaned in place where they can be; use the returned value, which is a clean copy when not.
 */
export function scrubInPlace(cause: unknown): unknown {
  return cleanCause(cause);
}

/** Builds an FsError. The one place errors are made. */
export function fsError(code: string, init: FsErrorInit = {}): FsError {
  if (code.startsWith('ERR_INVALID_ARG')) return new FsTypeError(code, init) as unknown as FsError;
  return new FsError(code, init);
}

export function isFsError(err: unknown, code?: string): err is FsError {
  return (err instanceof FsError || err instanceof FsTypeError) && (code === undefined || err.code === code);
}

/** Node's `rm` of a directory without `recursive`. */
export function rmDirectoryError(path: string): FsError {
  return fsError('ERR_FS_EISDIR', {
    message: `Path is a directory: rm returned EISDIR (is a directory) ${path}`,
    name: 'SystemError',
    errno: 21,
    syscall: 'rm',
    path,
  });
}

/** Anything with a Node-style string `code` (node:fs errors, memfs errors, FsError). */
export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

const RETRYABLE = new Set(['EAGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'EBUSY']);

/**
 * Normalises any error into an FsError that names the caller's path(s). Errors that already carry
 * a code keep it (node:fs and memfs errors, our own); anything else becomes EIO with it as cause.
 */
export function toFsError(
  err: unknown,
  ctx: { syscall?: string | undefined; path?: string | undefined; dest?: string | undefined },
): FsError {
  const code = errorCode(err) ?? 'EIO';
  const src = err as Partial<FsError> | undefined;
  const syscall = ctx.syscall ?? src?.syscall;
  const hasPath = src && typeof src === 'object' && 'path' in src && src.path !== undefined;
  const hasDest = src && typeof src === 'object' && 'dest' in src && src.dest !== undefined;
  if (code.startsWith('ERR_')) {
    // Node's ERR_* errors carry their own message; keep it but point at the caller's path.
    const original = err instanceof Error ? err.message : String(err);
    let message = original;
    if (ctx.path !== undefined && typeof src?.path === 'string' && src.path !== '' && src.path !== ctx.path) {
      // Where the path stands quoted, or ends the message (ERR_FS_EISDIR), it is replaced there only:
      // a short path such as `a` or `s` also occurs inside the words of the message.
      if (original.includes(`'${src.path}'`)) {
        message = original.split(`'${src.path}'`).join(`'${ctx.path}'`);
      } else if (original.endsWith(` ${src.path}`)) {
        message = original.slice(0, original.length - src.path.length) + ctx.path;
      } else {
        message = original.split(src.path).join(ctx.path);
      }
    }
    return fsError(code, {
      message,
      syscall,
      path: hasPath ? (ctx.path ?? src?.path) : undefined,
      cause: isFsError(err) ? err.cause : err,
      retryable: src?.retryable,
      name: err instanceof Error && err.name !== 'Error' ? err.name : undefined,
      errno: typeof src?.errno === 'number' ? src.errno : undefined,
    });
  }
  return new FsError(code, {
    syscall,
    path: hasPath || ctx.path !== undefined ? (ctx.path ?? src?.path) : undefined,
    dest: ctx.dest ?? (hasDest ? src?.dest : undefined),
    cause: isFsError(err) ? err.cause : err,
    retryable: src?.retryable ?? RETRYABLE.has(code),
    detail: isFsError(err) ? err.detail : undefined,
    name: isFsError(err) && err.name !== 'Error' ? err.name : undefined,
  });
}

/** Node's error for a NUL byte (and other bad path values): rejected, never thrown synchronously. */
export function invalidPathError(path: unknown, syscall?: string): FsError {
  // Node's ERR_INVALID_ARG_VALUE: the value as util.inspect shows it, cut at 128 characters.
  let shown = inspect(path);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return fsError('ERR_INVALID_ARG_VALUE', {
    message: `The argument 'path' must be a string, Uint8Array, or URL without null bytes. Received ${shown}`,
    syscall,
  });
}

/**
 * An operation abandoned through an AbortSignal: ECANCELED, named `AbortError` as Node's and
 * fetch's are, with the signal's reason as the cause.
 */
export function abortError(signal: AbortSignal, init: FsErrorInit = {}): FsError {
  const reason: unknown = signal.reason;
  return fsError('ECANCELED', {
    ...init,
    name: 'AbortError',
    detail:
      init.detail ??
      `operation canceled${reason instanceof Error && reason.message ? ` (${reason.message})` : ''}`,
    cause: reason,
  });
}
