/**
 * What a writer learns about its own commit from the object stored at its key.
 *
 * Every multipart upload (and every create-only put) carries a random write id in the object's
 * metadata (`avfs-write`). Two things use it:
 *
 * - **A lost answer.** The SDK retries a CompleteMultipartUpload whose answer was lost; the retry
 *   meets NoSuchUpload (fauxqs, and AWS once the upload is gone) or 412 (create-only), although the
 *   first attempt committed. A HEAD tells: the object there is ours iff it carries our id.
 * - **A short commit.** A server can answer 200 and store something else: fauxqs 1.9.2 reads no
 *   `<Part>` carrying a `<ChecksumCRC32>` and commits 0 bytes (with checksum=crc32). The writer
 *   knows the size it sent; after a multipart Complete, a HEAD confirms the committed size (and the
 *   whole-object CRC32 where the server returns one). One request per multipart upload, so per
 *   object of at least one part (5 MiB or more). The Complete answer carries no size; its ETag's
 *   `-N` suffix (the part count) would catch fauxqs's empty commit for free, but not a short part,
 *   and not every server keeps that form, so the HEAD stays. Our object with the wrong size is
 *   removed and the write is EIO, never a silent success.
 */
import type * as S3 from '@aws-sdk/client-s3';
import { crcFromBase64 } from '../../src/core/crc32.js';
import { fsError, isFsError, type FsError } from '../../src/core/errors.js';

/** Metadata key of a write's random id: how a writer recognises its own commit. */
export const WRITE_META = 'avfs-write';
/** Metadata key for the whole-object CRC32 of single-request uploads (checked on full reads). */
export const CRC_META = 'avfs-crc32';

/** What the writer sent. `crc32` undefined: no whole-object CRC32 to compare (checksums off). */
export interface Sent {
  size: number;
  crc32: number | undefined;
  token: string;
}

/**
 * The object at the key, judged against what we sent: absent; another writer's (no id, or not
 * ours); ours and whole; ours but not what we sent (`detail` says how).
 */
export type Verdict =
  { kind: 'absent' } | { kind: 'theirs' } | { kind: 'ours' } | { kind: 'short'; detail: string };

export function judge(head: S3.HeadObjectCommandOutput | undefined, sent: Sent): Verdict {
  if (!head) return { kind: 'absent' };
  if (head.Metadata?.[WRITE_META] !== sent.token) return { kind: 'theirs' };
  const size = head.ContentLength ?? -1;
  if (size !== sent.size)
    return { kind: 'short', detail: `the server committed ${size} bytes of the ${sent.size} sent` };
  if (sent.crc32 === undefined) return { kind: 'ours' };
  const meta = head.Metadata?.[CRC_META];
  const stored =
    meta !== undefined
      ? Number.parseInt(meta, 16)
      : head.ChecksumType === 'FULL_OBJECT'
        ? crcFromBase64(head.ChecksumCRC32)
        : undefined;
  if (stored !== undefined && Number.isFinite(stored) && stored >>> 0 !== sent.crc32 >>> 0)
    return {
      kind: 'short',
      detail: `the committed object's CRC32 ${(stored >>> 0).toString(16)} is not the ${(sent.crc32 >>> 0).toString(16)} sent`,
    };
  return { kind: 'ours' };
}

/** The requests a check needs, bound to one key. */
export interface CommitIo {
  /** HEAD with checksums; undefined when there is no object. Other failures throw. */
  head(): Promise<S3.HeadObjectCommandOutput | undefined>;
  /** Removes the object (ours, and not what we sent). */
  remove(): Promise<void>;
  /** `s3://bucket/key`, for errors. */
  path: string;
  /** Checksum headers were sent (a server that mishandles them is the likely cause). */
  checksumHeaders: boolean;
}

/** The EIO for our own object that is not what we sent; the object is removed first. */
async function shortCommit(io: CommitIo, detail: string): Promise<FsError> {
  let removed = 'the object was removed';
  try {
    await io.remove();
  } catch {
    removed = 'the object could not be removed';
  }
  const hint = io.checksumHeaders
    ? "; if the server mishandles x-amz-checksum headers, use checksum: 'metadata'"
    : '';
  return fsError('EIO', { syscall: 'write', path: io.path, detail: `${detail}; ${removed}${hint}` });
}

function unknown(io: CommitIo, cause: unknown, why: string): FsError {
  return fsError('EIO', { syscall: 'write', path: io.path, cause, detail: `${why}: outcome unknown` });
}

async function headOr(io: CommitIo): Promise<S3.HeadObjectCommandOutput | undefined> {
  try {
    return await io.head();
  } catch (err) {
    throw unknown(io, err, 'the object could not be checked after the commit');
  }
}

/**
 * After a CompleteMultipartUpload answered 200: the object must be what we sent. A whole-object
 * CRC32 in the answer equal to ours confirms it without a HEAD (the server computed it over what it
 * stored). Otherwise a HEAD: ours with the wrong size (or CRC32) is removed and EIO. Another
 * writer's object, or none, means someone wrote or removed the key after our commit: ours did
 * happen, so the write succeeded.
 */
export async function confirmCommit(
  answer: Pick<S3.CompleteMultipartUploadCommandOutput, 'ChecksumCRC32' | 'ChecksumType'>,
  sent: Sent,
  io: CommitIo,
): Promise<void> {
  if (
    sent.crc32 !== undefined &&
    answer.ChecksumType === 'FULL_OBJECT' &&
    answer.ChecksumCRC32 !== undefined &&
    crcFromBase64(answer.ChecksumCRC32) === sent.crc32 >>> 0
  )
    return;
  const verdict = judge(await headOr(io), sent);
  if (verdict.kind === 'short') throw await shortCommit(io, verdict.detail);
}

/** How many attempts the SDK made before `err` (1 when it did not retry). */
function attemptsOf(err: FsError): number {
  return (err.cause as { $metadata?: { attempts?: number } } | undefined)?.$metadata?.attempts ?? 1;
}

/**
 * Whether a failed commit is worth a look at the object: a 412 (create-only) or NoSuchUpload may
 * be a retry meeting its own first attempt's commit, and so may any failure of a retried commit
 * (radosgw answers a repeated Complete, once the key was overwritten, with a 500 "completion
 * already in progress"), and a reset or timeout that ended the retries (every answer lost: the
 * server may have acted on each).
 */
export function mayHaveCommitted(err: unknown): err is FsError {
  return isFsError(err) && (err.code === 'EEXIST' || err.code === 'ENOENT' || mayHaveActed(err));
}

/**
 * Whether the server may have acted on a request that failed with `err`: it was retried (a first
 * attempt may have gone through), or it ended in a reset, a timeout or a 5xx (the answer, not the
 * request, may be what was lost). A delete or a copy that failed so is checked on the object.
 */
export function mayHaveActed(err: unknown): err is FsError {
  return isFsError(err) && (err.retryable || attemptsOf(err) > 1);
}

/**
 * A commit failed with `err` (see {@link mayHaveCommitted}), perhaps on a retry after a first
 * attempt that committed. Resolves when the object there is ours and whole (the commit did
 * happen); otherwise throws: EIO for ours but short (removed), EIO when the object cannot be
 * checked, EIO when a retried commit finds another writer's object (ours may have been committed
 * and replaced), else `err` itself (a real conflict: a create-only 412; or an upload gone).
 */
export async function recoverCommit(err: FsError, sent: Sent, io: CommitIo): Promise<void> {
  const verdict = judge(await headOr(io), sent);
  if (verdict.kind === 'ours') return;
  if (verdict.kind === 'short') throw await shortCommit(io, verdict.detail);
  if (err.code !== 'EEXIST' && verdict.kind === 'theirs' && (attemptsOf(err) > 1 || err.retryable))
    throw unknown(io, err, `a retried commit failed (${err.code}) and another object is at the key`);
  throw err;
}
