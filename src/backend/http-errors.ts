/**
 * What every HTTP-based flavor's error table shares: HTTP statuses and socket error codes → Node
 * codes. Each flavor keeps its own table of service error names (`NoSuchKey`, `BlobNotFound`,
 * `rateLimitExceeded`…) in front of this one; a status decides only where the service named
 * nothing more specific.
 */
import { fsError, type FsError } from '../core/errors.js';
import { redactText } from '../core/secrets.js';

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

interface SocketErrorFields {
  code?: unknown;
  message?: unknown;
  hostname?: unknown;
  host?: unknown;
  address?: unknown;
  port?: unknown;
  cause?: unknown;
  errors?: unknown;
}

/** The host (DNS failures) or `host:port` (connect failures) a socket error names, if any. */
function endpointOf(err: unknown, dns: boolean): string | undefined {
  const queue: unknown[] = [err];
  for (let i = 0; i < queue.length && i < 8; i++) {
    const e = queue[i] as SocketErrorFields | undefined;
    if (!e || typeof e !== 'object') continue;
    const host = [dns ? e.hostname : e.address, e.hostname, e.host, e.address].find(
      (h): h is string => typeof h === 'string' && h !== '',
    );
    if (host) {
      const port = typeof e.port === 'number' || typeof e.port === 'string' ? e.port : undefined;
      const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      return dns || port === undefined ? host : `${shown}:${port}`;
    }
    queue.push(e.cause);
    // Node's happy-eyeballs connect gives an AggregateError of one error per address.
    if (Array.isArray(e.errors)) queue.push(...(e.errors as unknown[]).slice(0, 4));
  }
  // SDKs that keep only the text: `connect ECONNREFUSED 127.0.0.1:9`, `getaddrinfo ENOTFOUND host`.
  const text = queue
    .map((e) => (e && typeof e === 'object' ? (e as SocketErrorFields).message : undefined))
    .find(
      (m): m is string =>
        typeof m === 'string' &&
        /\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\s+\S/.test(m),
    );
  const m =
    text &&
    /\b(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\s+([^\s,]+)/.exec(
      text,
    );
  return m ? redactText(m[1]!.replace(/^.*@/, '')) : undefined;
}

/**
 * What to say about a socket-level failure, naming the host or endpoint the error carries (never a
 * URL, so never its user-info): `host not found: s3.example.invalid`,
 * `connection refused by 127.0.0.1:9`. Undefined when the error names no endpoint.
 */
export function networkDetail(code: string, err: unknown): string | undefined {
  const dns = code === 'ENOTFOUND' || code === 'EAI_AGAIN';
  const where = endpointOf(err, dns);
  if (!where) return undefined;
  switch (code) {
    case 'ENOTFOUND':
      return `host not found: ${where}`;
    case 'EAI_AGAIN':
      return `temporary failure resolving ${where}`;
    case 'ECONNREFUSED':
      return `connection refused by ${where}`;
    case 'ETIMEDOUT':
      return `connection to ${where} timed out`;
    case 'ECONNRESET':
      return `connection reset by ${where}`;
    case 'EHOSTUNREACH':
      return `host unreachable: ${where}`;
    case 'ENETUNREACH':
      return `network unreachable for ${where}`;
    default:
      return `${code.toLowerCase()} (${where})`;
  }
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
