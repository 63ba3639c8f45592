/**
 * The GCS error table: every SDK error (`ApiError`), every error of our own direct JSON-API
 * requests and every socket error becomes an FsError with a Node code, the original error as
 * `cause`, and `retryable` set for throttling and transient failures. One table, used by every
 * GCS call.
 *
 * Messages carry the user's path and the GCS reason, never a URL: a resumable session URI is a
 * bearer credential of its own, and SDK errors keep the request (with its `Authorization`
 * header) on `response`, which is hidden from `util.inspect` before the error becomes a cause.
 */
import {
  HTTP_STATUS_CODES,
  certificateProblem,
  networkDetail,
  networkErrorCode,
  retryableStatus,
  type CodeRow,
} from '../../src/backend/http-errors.js';
import { fsError, type FsError } from '../../src/core/errors.js';
import { redactText } from '../../src/core/secrets.js';

/** What an SDK `ApiError`, a gaxios error, or our own `GcsHttpError` looks like. */
interface GcsLikeError {
  name?: string;
  /** HTTP status (ApiError, GcsHttpError) or a socket code (`ECONNRESET`). */
  code?: number | string;
  status?: number;
  errno?: string | number;
  message?: string;
  errors?: { reason?: string; message?: string }[];
  response?: { status?: number };
}

/** An HTTP error from a request we made ourselves (resumable sessions, media downloads). */
export class GcsHttpError extends Error {
  override readonly name = 'GcsHttpError';
  readonly code: number;
  readonly errors: { reason?: string; message?: string }[];
  constructor(status: number, message: string, errors: { reason?: string; message?: string }[] = []) {
    super(message);
    this.code = status;
    this.errors = errors;
  }

  /** Builds the error from a GCS JSON error body (`{error:{code,message,errors}}`), if it is one. */
  static fromBody(status: number, body: Buffer | string): GcsHttpError {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    try {
      const parsed = JSON.parse(text) as {
        error?: { message?: string; errors?: { reason?: string; message?: string }[] };
      };
      if (parsed.error) {
        return new GcsHttpError(status, parsed.error.message ?? `HTTP ${status}`, parsed.error.errors ?? []);
      }
    } catch {
      // not JSON (a proxy's HTML page): keep only the status
    }
    return new GcsHttpError(status, `HTTP ${status}`);
  }
}

/** GCS reasons that decide the code whatever the status. */
const BY_REASON: Record<string, CodeRow> = {
  notFound: { code: 'ENOENT' },
  forbidden: { code: 'EACCES' },
  insufficientPermissions: { code: 'EACCES' },
  accessDenied: { code: 'EACCES' },
  authError: { code: 'EACCES', detail: 'authentication failed' },
  required: { code: 'EINVAL' },
  invalid: { code: 'EINVAL' },
  rateLimitExceeded: { code: 'EAGAIN', retryable: true, detail: 'throttled by the server' },
  userRateLimitExceeded: { code: 'EAGAIN', retryable: true, detail: 'throttled by the server' },
  backendError: { code: 'EAGAIN', retryable: true },
  internalError: { code: 'EAGAIN', retryable: true },
};

/** The HTTP status of an SDK or GcsHttpError, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as GcsLikeError | undefined;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.status === 'number') return e.status;
  if (typeof e?.response?.status === 'number') return e.response.status;
  return undefined;
}

function networkCode(e: GcsLikeError): string | undefined {
  const code = networkErrorCode(e.code) ?? networkErrorCode(e.errno);
  if (code) return code;
  // gaxios / node-fetch: `request to … failed, reason: socket hang up`
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET/.test(e.message)) return 'ECONNRESET';
  return undefined;
}

/** ` (the provider's message)`, masked and cut short. */
function said(message: unknown): string {
  if (typeof message !== 'string' || !message.trim()) return '';
  const text = redactText(message.split('\n')[0]!.trim());
  return `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}

const CREDENTIALS_HINT =
  'give the gcs flavor credentials (a service-account key) or keyFilename, or set GOOGLE_APPLICATION_CREDENTIALS';

/**
 * What is wrong with the credentials, for a failure that happened before any request reached GCS
 * (google-auth-library signs a token request with the key first): a private_key that is not a
 * PEM key, a key without client_email, a token endpoint that refused the key, no credentials.
 */
function credentialProblem(e: GcsLikeError): string | undefined {
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (code.startsWith('ERR_OSSL') || /DECODER routines|PEM|asn1|private key/i.test(message))
    return `the service-account key's private_key is not a usable PEM private key (${code || 'unreadable'}); ${CREDENTIALS_HINT}`;
  if (/client_email/.test(message)) return `the service-account key has no client_email; ${CREDENTIALS_HINT}`;
  if (/invalid_grant|invalid_client|unauthorized_client|account not found/i.test(message))
    return `the token endpoint refused the service-account key${said(message)}; ${CREDENTIALS_HINT}`;
  if (
    /Could not load the default credentials|No key or keyFile set|Could not refresh access token/i.test(
      message,
    )
  )
    return `no usable GCS credentials${said(message)}; ${CREDENTIALS_HINT}`;
  return undefined;
}

/** Hides request details (URLs, headers with tokens) that SDK errors carry from `util.inspect`. */
function quiet(err: unknown): unknown {
  if (err && typeof err === 'object') {
    for (const k of ['response', 'config', 'request']) {
      const d = Object.getOwnPropertyDescriptor(err, k);
      if (d?.enumerable && d.configurable) Object.defineProperty(err, k, { ...d, enumerable: false });
    }
  }
  return err;
}

/**
 * Maps an SDK, HTTP or network error to an FsError naming `path`.
 * - 404 → ENOENT, 403/401 → EACCES, 412 (create-only) → EEXIST, 429/5xx → EAGAIN (retryable),
 *   socket resets → their own code (retryable); anything else is EIO.
 * - `createOnly`: a 412 is a create-only conflict (EEXIST); otherwise it is any failed
 *   precondition, still EEXIST (the only precondition we send is create-only).
 */
export function mapGcsError(
  err: unknown,
  ctx: { syscall: string; path?: string | undefined; dest?: string | undefined },
): FsError {
  const e = (err ?? {}) as GcsLikeError;
  if (typeof e.code === 'string' && (err as FsError).syscall !== undefined && 'retryable' in (err as object))
    return err as FsError; // already ours
  quiet(err);
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') {
    return fsError('ECANCELED', { ...ctx, cause: err, detail: 'request aborted' });
  }
  const tls = certificateProblem(err, 'trust its CA with NODE_EXTRA_CA_CERTS');
  if (tls) return fsError('EPROTO', { ...ctx, cause: err, retryable: false, detail: tls });
  const net = networkCode(e);
  const status = statusOf(err);
  if (net && status === undefined)
    return fsError(net, { ...ctx, cause: err, retryable: true, detail: networkDetail(net, err) });
  const auth = status === undefined ? credentialProblem(e) : undefined;
  if (auth) return fsError('EACCES', { ...ctx, cause: err, retryable: false, detail: auth });
  const reason = e.errors?.[0]?.reason ?? '';
  const byStatus = status !== undefined ? HTTP_STATUS_CODES[status] : undefined;
  // The status decides for the codes the contract names; the reason refines the rest.
  const byReason = BY_REASON[reason];
  const hit =
    status === 404 || status === 403 || status === 412 || status === 429 || (status ?? 0) >= 500
      ? (byStatus ?? byReason)
      : (byReason ?? byStatus);
  const tag =
    status !== undefined || reason
      ? `[GCS ${[status, reason].filter((x) => x !== undefined && x !== '').join(' ')}]`
      : `[GCS ${[e.name, typeof e.code === 'string' ? e.code : undefined].filter((x) => x && x !== 'Error').join(' ') || 'no answer'}]${said(e.message)}`;
  if (hit) {
    const detail = hit.detail;
    return fsError(hit.code, {
      ...ctx,
      cause: err,
      retryable: hit.retryable ?? retryableStatus(status),
      detail: detail ? `${detail} ${tag}` : undefined,
    });
  }
  return fsError('EIO', {
    ...ctx,
    cause: err,
    retryable: retryableStatus(status),
    detail: `GCS request failed ${tag}`,
  });
}
