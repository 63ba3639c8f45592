/**
 * The shape every S3 test server shares (fauxqs in-process, Ceph radosgw as daemons), so a suite can
 * run the same cases against each and branch only on `features`.
 */
import { CreateBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

export interface S3Server {
  /** e.g. `fauxqs`, `radosgw` */
  name: string;
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: true;
  /** what this server lacks, e.g. { uploadPartCopy: false, ifNoneMatch: false } */
  features: {
    /** UploadPartCopy (`x-amz-copy-source` on an upload part) copies the source bytes. */
    uploadPartCopy: boolean;
    /** `PutObject` with `If-None-Match: *` on an existing key fails with 412 instead of overwriting. */
    ifNoneMatch: boolean;
    /** `ListMultipartUploads` lists uploads that were started and not completed. */
    listMultipartUploads: boolean;
    /** Flexible checksums: a wrong `x-amz-checksum-*` is rejected and the stored one is returned with `ChecksumMode`. */
    checksums: boolean;
  };
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** The client settings that reach `server`; `extra` overrides (e.g. checksum behaviour). */
export function s3ClientConfig(server: S3Server, extra: Partial<S3ClientConfig> = {}): S3ClientConfig {
  return {
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: server.forcePathStyle,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    maxAttempts: 1,
    ...extra,
  };
}

/** A raw SDK client for `server`. The caller destroys it. */
export function s3Client(server: S3Server, extra: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client(s3ClientConfig(server, extra));
}

/** `createBucket` for any server: one CreateBucket through a short-lived client. */
export async function createBucketVia(server: S3Server, name: string): Promise<void> {
  const client = s3Client(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
}

/**
 * The s3 flavor's options for a test server, from what the server can do: conditional writes and
 * UploadPartCopy where it has them, and client-side CRCs (`metadata`) where checksum headers are
 * mishandled (fauxqs stores an empty part when UploadPart carries x-amz-checksum-crc32).
 */
export function s3FlavorOptions(server: S3Server, endpoint = server.endpoint) {
  return {
    endpoint,
    region: server.region,
    forcePathStyle: true,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    trustedEndpoint: true,
    conditionalWrites: server.features.ifNoneMatch,
    uploadPartCopy: server.features.uploadPartCopy,
    checksum: server.features.checksums ? ('crc32' as const) : ('metadata' as const),
  };
}
