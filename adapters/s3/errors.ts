/**
 * The S3 error table: every SDK error becomes an FsError with a Node code, the SDK error as
 * `cause`, and `retryable` set for throttling and transient failures. One table, used by every
 * S3 call.
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

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** S3 error names (and HTTP statuses) → Node codes. */
const BY_NAME: Record<string, CodeRow> = {
  NoSuchKey: { code: 'ENOENT' },
  NotFound: { code: 'ENOENT' },
  NoSuchBucket: { code: 'ENOENT', detail: 'no such bucket' },
  NoSuchUpload: { code: 'ENOENT', detail: 'no such multipart upload' },
  AccessDenied: { code: 'EACCES' },
  Forbidden: { code: 'EACCES' },
  InvalidAccessKeyId: { code: 'EACCES', detail: 'invalid access key id' },
  SignatureDoesNotMatch: { code: 'EACCES', detail: 'signature does not match (check the secret key)' },
  ExpiredToken: { code: 'EACCES', detail: 'expired session token' },
  AllAccessDisabled: { code: 'EACCES' },
  PreconditionFailed: { code: 'EEXIST' },
  ConditionalRequestConflict: { code: 'EEXIST' },
  SlowDown: { code: 'EAGAIN', retryable: true, detail: 'throttled by the server (SlowDown)' },
  Throttling: { code: 'EAGAIN', retryable: true },
  ThrottlingException: { code: 'EAGAIN', retryable: true },
  RequestLimitExceeded: { code: 'EAGAIN', retryable: true },
  ServiceUnavailable: { code: 'EAGAIN', retryable: true },
  InternalError: { code: 'EAGAIN', retryable: true },
  RequestTimeout: { code: 'ETIMEDOUT', retryable: true },
  RequestTimeTooSkewed: { code: 'EACCES', detail: 'the clock is too far from the server time' },
  EntityTooSmall: { code: 'EINVAL', detail: 'a part is smaller than the server minimum' },
  EntityTooLarge: { code: 'EFBIG' },
  InvalidPart: { code: 'EIO', detail: 'a part was not found or its ETag did not match' },
  InvalidPartOrder: { code: 'EIO' },
  BadDigest: {
    code: 'EIO',
    retryable: true,
    detail: 'the server saw different bytes than were sent (checksum mismatch)',
  },
  InvalidDigest: { code: 'EIO', retryable: true },
  XAmzContentSHA256Mismatch: { code: 'EIO', retryable: true },
  KeyTooLongError: { code: 'ENAMETOOLONG' },
  InvalidBucketName: { code: 'EINVAL', detail: 'invalid bucket name' },
  InvalidRange: { code: 'EINVAL', detail: 'range not satisfiable' },
  NotImplemented: { code: 'ENOTSUP' },
};

/** ` (the provider's message)`, masked and cut short, unless it only repeats the error's name. */
function said(message: unknown, name: string): string {
  if (typeof message !== 'string' || !message.trim() || message === name || message === 'UnknownError')
    return '';
  const text = redactText(message.split('\n')[0]!.trim());
  return ` (${text.length > 200 ? `${text.slice(0, 200)}…` : text})`;
}

export function statusOf(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

/** Maps an SDK (or network) error to an FsError naming `path`. */
export function mapS3Error(
  err: unknown,
  ctx: { syscall: string; path?: string | undefined; dest?: string | undefined },
): FsError {
  const e = (err ?? {}) as SdkError;
  if (
    (e as { code?: string }).code &&
    (err as FsError).syscall !== undefined &&
    'retryable' in (err as object)
  ) {
    return err as FsError; // already ours
  }
  const name = e.name ?? e.Code ?? '';
  const status = statusOf(err);
  const netCode = networkErrorCode(e.code);
  const byName = BY_NAME[name] ?? BY_NAME[e.Code ?? ''];
  const byStatus = status !== undefined ? HTTP_STATUS_CODES[status] : undefined;
  if (name === 'AbortError' || e.code === 'ABORT_ERR') {
    return fsError('ECANCELED', { ...ctx, cause: err, detail: 'request aborted' });
  }
  const tls = certificateProblem(
    err,
    "trust its CA with the s3 flavor's caBundle (or AWS_CA_BUNDLE, or NODE_EXTRA_CA_CERTS)",
  );
  if (tls) return fsError('EPROTO', { ...ctx, cause: err, retryable: false, detail: tls });
  if (netCode) {
    return fsError(netCode, { ...ctx, cause: err, retryable: true, detail: networkDetail(netCode, err) });
  }
  if (name === 'CredentialsProviderError') {
    // The SDK's default chain found nothing (or a named profile is missing): say how to give keys.
    return fsError('EACCES', {
      ...ctx,
      cause: err,
      retryable: false,
      detail:
        `no AWS credentials${said(e.message, name).replace(/\.\)$/, ')')}: give the s3 flavor accessKeyId and secretAccessKey (or a profile), ` +
        'or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)',
    });
  }
  const hit = byName ?? byStatus;
  if (hit) {
    const detail = hit.detail;
    return fsError(hit.code, {
      ...ctx,
      cause: err,
      retryable: hit.retryable ?? retryableStatus(status),
      detail: detail ? `${detail} [S3 ${name || status}]` : undefined,
    });
  }
  return fsError('EIO', {
    ...ctx,
    cause: err,
    retryable: retryableStatus(status),
    detail: `S3 request failed${name ? `: ${name}` : ''}${status ? ` (HTTP ${status})` : ''}${said(e.message, name)}`,
  });
}
