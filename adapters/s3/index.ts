/**
 * The `s3` flavor: Amazon S3 and S3-compatible servers (MinIO, Cloudflare R2, Ceph radosgw),
 * schemes `s3://` and `s3a://`, path `s3://bucket/prefix`. The SDK (`@aws-sdk/client-s3`) loads
 * only when a store is created. Without explicit keys the SDK's default credential chain applies
 * (environment, shared credentials file, profile, container and instance roles).
 */
import {
  backendInstance,
  bucketAndRoot,
  defineFlavor,
  importOptional,
  readConfigFields,
} from '../../src/store/flavor.js';
import { registerSecret } from '../../src/core/secrets.js';
import { S3Backend, type S3BackendOptions } from './backend.js';

export { S3Backend, type S3BackendOptions } from './backend.js';
export { mapS3Error } from './errors.js';

/** How the AWS SDK's Node-version notice begins (@aws-sdk/core's emitWarningIfUnsupportedVersion). */
const SDK_NODE_WARNING = 'NodeVersionSupportWarning: The AWS SDK for JavaScript';

/**
 * Runs `build` (which constructs the SDK client) with the AWS SDK's Node-version notice dropped.
 * On Node 20 the client's constructor emits an 8-line warning once per process that says nothing
 * about this library's use (our engines field states the Node versions we support) and breaks the
 * CLI's `--json` contract of one JSON object on stderr. Only that warning, and only while the
 * constructor runs (it is emitted synchronously there), is dropped; every other warning passes.
 */
export function withoutSdkNodeWarning<T>(build: () => T): T {
  const emit = process.emitWarning;
  const filtered = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]): void {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && text.startsWith(SDK_NODE_WARNING)) return;
    (emit as (...args: unknown[]) => void).call(this, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    return build();
  } finally {
    // Put back only our own filter: something else may have wrapped emitWarning meanwhile.
    if (process.emitWarning === filtered) process.emitWarning = emit;
  }
}

/** Creates the S3 Backend for a bucket (loads the SDK). */
export async function createS3Backend(options: S3BackendOptions): Promise<S3Backend> {
  // Keys given to the SDK's default chain are as secret as configured ones: the access key id and
  // session token ride in every signed request (Credential=…, x-amz-security-token).
  for (const k of ['accessKeyId', 'secretAccessKey', 'sessionToken'] as const) registerSecret(options[k]);
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    registerSecret(process.env[k]);
  const sdk = await importOptional('@aws-sdk/client-s3', 's3', () => import('@aws-sdk/client-s3'));
  return withoutSdkNodeWarning(() => new S3Backend(sdk, options));
}

export const s3Flavor = defineFlavor({
  name: 's3',
  type: 'artifact_store',
  schemes: ['s3', 's3a'],
  description: 'Amazon S3 and S3-compatible object stores (MinIO, R2, Ceph).',
  packages: ['@aws-sdk/client-s3'],
  config: {
    region: { type: 'string', description: 'AWS region (default: AWS_REGION, else us-east-1)' },
    endpoint: { type: 'string', url: true, description: 'Endpoint URL of an S3-compatible server' },
    forcePathStyle: {
      type: 'boolean',
      description: 'Address buckets as http://host/bucket (most emulators need it)',
    },
    accessKeyId: {
      type: 'string',
      secret: true,
      description: 'Access key id (otherwise the SDK default chain)',
    },
    secretAccessKey: { type: 'string', secret: true, description: 'Secret access key' },
    sessionToken: { type: 'string', secret: true, description: 'Session token for temporary credentials' },
    profile: { type: 'string', description: 'Named profile from the shared AWS config files' },
    checksum: {
      type: 'string',
      description: "'crc32' (default; server-verified), 'metadata' (client-verified only) or 'off'",
    },
    partSize: {
      type: 'number',
      description: 'Upload part size in bytes (default 16 MiB; grows for huge objects)',
    },
    concurrency: { type: 'number', description: 'Parts uploaded at once (default 4)' },
    memoryBudget: {
      type: 'number',
      description: 'Bytes an upload may hold at once (default partSize × (concurrency + 1))',
    },
    growPartsAbove: {
      type: 'number',
      description:
        'Parts double (up to half the memory budget) once one uploads this fast, bytes/s (default 256 MiB/s, off when partSize is set; 0: never)',
    },
    fastParts: {
      type: 'boolean',
      description:
        'UploadPart as a plain PUT signed by the SDK signer, without its middleware (default true; HTTPS or trusted endpoints)',
    },
    zeroCopy: {
      type: 'boolean',
      description:
        'Send piped and writeFile chunks without copying them (default true; HTTPS or trusted endpoints)',
    },
    ...readConfigFields(16),
    trustedEndpoint: {
      type: 'boolean',
      description: 'Skip payload signing over plain HTTP (trusted loopback emulators)',
    },
    caBundle: {
      type: 'string',
      description: 'PEM file of extra CA certificates for an HTTPS endpoint (default: AWS_CA_BUNDLE)',
    },
    conditionalWrites: {
      type: 'boolean',
      description: 'The server enforces If-None-Match: * (default: true on AWS)',
    },
    conditionalCopy: {
      type: 'boolean',
      description: 'The server enforces If-None-Match on CopyObject (default: true on AWS)',
    },
    uploadPartCopy: {
      type: 'boolean',
      description: 'The server supports UploadPartCopy (copies over 5 GiB)',
    },
    maxAttempts: { type: 'number', description: 'SDK attempts per request (default 3)' },
    listPageSize: { type: 'number', description: 'Keys per list request (default 1000)' },
    maxParts: { type: 'number', description: 'Most parts per upload (default 10,000)' },
    multipartCopyThreshold: {
      type: 'number',
      description: 'Copy with UploadPartCopy above this size (default 5 GiB)',
    },
    copyPartSize: { type: 'number', description: 'UploadPartCopy part size (default 512 MiB)' },
    fastGet: {
      type: 'boolean',
      description:
        'GetObject (and, with fastParts, UploadPart) over plain HTTP on raw keep-alive sockets (default true; false: the SDK handler and node:http)',
    },
    offThreadWrites: {
      type: 'boolean',
      description:
        'Plain-HTTP part bodies written on the libuv threadpool beside the thread that checksums the next part (default false: an early S3 answer can hang it; see the S3 README)',
    },
  },
  async create(config) {
    const { bucket, root } = bucketAndRoot(config.path);
    const backend = await createS3Backend({ ...(config as Omit<S3BackendOptions, 'bucket'>), bucket });
    return backendInstance(backend, root);
  },
});
