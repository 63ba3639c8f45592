/**
 * What every HTTP-based flavor's error table shares: HTTP statuses and socket error codes → Node
 * codes. Each flavor keeps its own table of service error names (`NoSuchKey`, `BlobNotFound`,
 * `rateLimitExceeded`…) in front of this one; a status decides only where the service named
 * nothing more specific.
 */
import { fsError, type FsError } from '../core/errors.js';

export interface CodeRow {
  code: string;
  retryable?: boolean;
  detail?: string;
}

/** HTTP status → Node code. 5xx and 429 are retryable; 501 is a missing feature, not an outage. */
export const HTTP_STATUS_CODES: Readonly<Record<number, CodeRow>> = {
  400: { code: 'EINVAL' },
  401: { code: 'EACCES' },
  403: { code: 'EACCES' },
  404: { code: 'ENOENT' },
  408: { code: 'ETIMEDOUT', retryable: true },
  409: { code: 'EEXIST' },
  410: { code: 'ENOENT' },
  412: { code: 'EEXIST' },
  413: { code: 'EFBIG' },
  416: { code: 'EINVAL' },
  429: { code: 'EAGAIN', retryable: true },
  500: { code: 'EAGAIN', retryable: true },
  501: { code: 'ENOTSUP' },
  502: { code: 'EAGAIN', retryable: true },
  503: { code: 'EAGAIN', retryable: true },
  504: { code: 'ETIMEDOUT', retryable: true },
};

/** Socket-level failures (Node, undici and stream codes): always retryable. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * The Node code for a socket-level failure code, or undefined if `code` is not one. Transport
 * spellings of a dropped connection (undici's `UND_ERR_SOCKET`, a premature stream close) read as
 * `ECONNRESET`.
 */
export function networkErrorCode(code: unknown): string | undefined {
  if (typeof code !== 'string' || !NETWORK_CODES.has(code)) return undefined;
  return code === 'UND_ERR_SOCKET' || code === 'ERR_STREAM_PREMATURE_CLOSE' ? 'ECONNRESET' : code;
}

/** Whether a failed HTTP status is worth retrying when no table row says otherwise. */
export function retryableStatus(status: number | undefined): boolean {
  return status !== undefined && status >= 500 && status !== 501;
}

/** Node's codes for a server certificate that did not verify. */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * For a TLS certificate failure (`err`, or its cause), the detail to show: what Node said and how
 * to trust the server's CA (`hint`, the flavor's own option). Undefined for any other error.
 * Such a failure is EPROTO and never retried: a retry meets the same certificate.
 */
export function certificateProblem(err: unknown, hint: string): string | undefined {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    i++
  ) {
    if (typeof e.code === 'string' && CERTIFICATE_CODES.has(e.code))
      return `the server's TLS certificate was refused (${String(e.message ?? e.code)}); ${hint}`;
    e = e.cause as typeof e;
  }
  return undefined;
}

/**
 * A retried commit met a conflict (412/409) and the object there could not be read to tell
 * whether it is this write's own: the write may or may not have happened. EIO, never EEXIST.
 */
export function unknownOutcome(err: unknown, path: string): FsError {
  return fsError('EIO', {
    syscall: 'write',
    path,
    cause: err,
    detail: 'a retried commit met a conflict and the object there could not be checked: outcome unknown',
  });
}
