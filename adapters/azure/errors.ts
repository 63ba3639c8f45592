/**
 * The Azure Blob error table: every SDK error (`RestError`) becomes an FsError with a Node code, the
 * SDK error as `cause` (scrubbed of SAS signatures and registered secrets), and `retryable` set for
 * throttling and transient failures. One table, used by every Azure call.
 *
 * A HEAD answer has no body, so a 404 from `getProperties` carries no error code: the HTTP status
 * decides there.
 */
import {
  HTTP_STATUS_CODES,
  certificateProblem,
  networkDetail,
  networkErrorCode,
  retryableStatus,
  type CodeRow,
} from '../../src/backend/http-errors.js';
import { fsError, isFsError, scrubInPlace, type FsError } from '../../src/core/errors.js';
import { scrub } from '../../src/core/secrets.js';

interface SdkError {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
  request?: { url?: string; headers?: unknown };
  response?: { request?: { url?: string } };
}

/** Azure Storage error codes (x-ms-error-code) → Node codes. */
const BY_CODE: Record<string, CodeRow> = {
  BlobNotFound: { code: 'ENOENT' },
  ContainerNotFound: { code: 'ENOENT', detail: 'no such container' },
  ResourceNotFound: { code: 'ENOENT' },
  CannotVerifyCopySource: { code: 'ENOENT', detail: 'the copy source could not be read' },
  AuthorizationFailure: { code: 'EACCES' },
  AuthenticationFailed: { code: 'EACCES', detail: 'authentication failed (check the account key or SAS)' },
  AuthorizationPermissionMismatch: { code: 'EACCES' },
  AuthorizationResourceTypeMismatch: { code: 'EACCES' },
  AuthorizationServiceMismatch: { code: 'EACCES' },
  AuthorizationSourceIPMismatch: { code: 'EACCES' },
  AuthorizationProtocolMismatch: { code: 'EACCES' },
  InsufficientAccountPermissions: { code: 'EACCES' },
  AccountIsDisabled: { code: 'EACCES', detail: 'the storage account is disabled' },
  BlobAlreadyExists: { code: 'EEXIST' },
  ConditionNotMet: { code: 'EEXIST' },
  ServerBusy: { code: 'EAGAIN', retryable: true, detail: 'throttled by the server (ServerBusy)' },
  OperationTimedOut: { code: 'ETIMEDOUT', retryable: true },
  InternalError: { code: 'EAGAIN', retryable: true },
  InvalidRange: { code: 'EINVAL', detail: 'range not satisfiable' },
  Md5Mismatch: {
    code: 'EIO',
    retryable: true,
    detail: 'the server saw different bytes than were sent (MD5 mismatch)',
  },
  Crc64Mismatch: {
    code: 'EIO',
    retryable: true,
    detail: 'the server saw different bytes than were sent (CRC64 mismatch)',
  },
  InvalidMd5: { code: 'EIO', retryable: true },
  InvalidBlockList: { code: 'EIO', detail: 'a staged block was missing at commit (another writer?)' },
  InvalidBlobOrBlock: { code: 'EIO' },
  InvalidBlockId: { code: 'EINVAL', detail: 'invalid block id' },
  BlockCountExceedsLimit: { code: 'EFBIG', detail: 'too many blocks for one blob' },
  RequestBodyTooLarge: { code: 'EFBIG' },
  InvalidResourceName: { code: 'EINVAL', detail: 'invalid container or blob name' },
  InvalidUri: { code: 'EINVAL' },
  OutOfRangeInput: { code: 'EINVAL' },
  ContainerBeingDeleted: { code: 'EAGAIN', retryable: true },
  // azurite's in-memory store is full (a 409, which would otherwise read as EEXIST).
  MemoryExtentStoreAtSizeLimit: { code: 'ENOSPC', detail: "the emulator's memory store is full" },
  NotImplemented: { code: 'ENOTSUP' },
  FeatureNotSupported: { code: 'ENOTSUP' },
  UnsupportedHeader: { code: 'ENOTSUP' },
};

/** `sig=…` in a SAS (a URL query or a bare token): the signature is a bearer secret. */
const SAS_SIG = /([?&;\s"']sig=)[^&\s"';]+/gi;

/** Masks SAS signatures and registered secrets in a text. */
export function scrubAzure(text: string): string {
  return scrub(text).replace(SAS_SIG, '$1REDACTED');
}

/** The HTTP status of an SDK error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as SdkError | undefined)?.statusCode;
  return typeof s === 'number' && s > 0 ? s : undefined;
}

/** The Azure error code (`BlobNotFound`…), if the answer had one. */
export function azureCodeOf(err: unknown): string | undefined {
  const e = err as SdkError | undefined;
  const c = e?.details?.errorCode ?? e?.code;
  return typeof c === 'string' && c !== '' ? c : undefined;
}

/**
 * Scrubs an SDK error in place: its message and stack, and the request URL and headers it carries
 * (a SAS token rides in the query string; `util.inspect` would print it).
 */
export function scrubSdkError(err: unknown): unknown {
  if (err === null || typeof err !== 'object') return err;
  const e = err as SdkError & Record<string, unknown>;
  try {
    if (typeof e.message === 'string') e.message = scrubAzure(e.message);
    if (typeof e.stack === 'string') e.stack = scrubAzure(e.stack);
    for (const req of [e.request, e.response?.request]) {
      if (req && typeof req.url === 'string') req.url = scrubAzure(req.url);
    }
  } catch {
    // frozen fields keep their text
  }
  return scrubInPlace(err);
}

/** The socket code behind a failed send (`connect ECONNREFUSED …` in the message), else ECONNRESET. */
function sendErrorCode(e: SdkError): string {
  const m = typeof e.message === 'string' ? /\b(E[A-Z_]+)\b/.exec(e.message)?.[1] : undefined;
  return networkErrorCode(m) ?? 'ECONNRESET';
}

/** Maps an SDK (or network) error to an FsError naming `path`. */
export function mapAzureError(
  err: unknown,
  ctx: { syscall: string; path?: string | undefined; dest?: string | undefined },
): FsError {
  if (isFsError(err)) return err;
  scrubSdkError(err);
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? '';
  const status = statusOf(err);
  const azureCode = azureCodeOf(err);
  if (name === 'AbortError' || azureCode === 'ABORT_ERR') {
    return fsError('ECANCELED', { ...ctx, cause: err, detail: 'request aborted' });
  }
  const tls = certificateProblem(err, 'trust its CA with NODE_EXTRA_CA_CERTS');
  if (tls) return fsError('EPROTO', { ...ctx, cause: err, retryable: false, detail: tls });
  const net = azureCode === 'REQUEST_SEND_ERROR' ? sendErrorCode(e) : networkErrorCode(azureCode);
  if (net) return fsError(net, { ...ctx, cause: err, retryable: true, detail: networkDetail(net, err) });
  const hit =
    (azureCode !== undefined ? BY_CODE[azureCode] : undefined) ??
    (status ? HTTP_STATUS_CODES[status] : undefined);
  if (hit) {
    const tag = azureCode ?? (status !== undefined ? `HTTP ${status}` : '');
    return fsError(hit.code, {
      ...ctx,
      cause: err,
      retryable: hit.retryable ?? retryableStatus(status),
      detail: hit.detail ? `${hit.detail} [Azure ${tag}]` : undefined,
    });
  }
  return fsError('EIO', {
    ...ctx,
    cause: err,
    retryable: retryableStatus(status),
    detail: `Azure request failed${azureCode ? `: ${azureCode}` : ''}${status ? ` (HTTP ${status})` : ''}`,
  });
}
