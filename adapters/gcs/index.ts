/**
 * The `gcs` flavor: Google Cloud Storage, schemes `gs://` and `gcs://`, path `gs://bucket/prefix`.
 * The SDK (`@google-cloud/storage`) loads only when a store is created. Without a key (inline or a
 * key file) the SDK's application-default credentials apply (GOOGLE_APPLICATION_CREDENTIALS, gcloud
 * user credentials, the metadata server on GCP).
 */
import { registerSecret } from '../../src/core/secrets.js';
import { fsError } from '../../src/core/errors.js';
import {
  backendInstance,
  bucketAndRoot,
  defineFlavor,
  importOptional,
  readConfigFields,
} from '../../src/store/flavor.js';
import { GcsBackend, type GcsBackendOptions } from './backend.js';

export { GcsBackend, GCS_CHUNK_QUANTUM, type GcsBackendOptions, type GcsValidation } from './backend.js';
export { mapGcsError, GcsHttpError } from './errors.js';

/** Registers every string of a service-account key that must never be shown. */
function registerCredentials(credentials: GcsBackendOptions['credentials']): void {
  if (credentials === undefined) return;
  registerSecret(typeof credentials === 'string' ? credentials : JSON.stringify(credentials));
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed =
      typeof credentials === 'string' ? (JSON.parse(credentials) as Record<string, unknown>) : credentials;
  } catch {
    return;
  }
  if (parsed === null || typeof parsed !== 'object') return;
  for (const k of ['private_key', 'private_key_id', 'client_secret', 'refresh_token'])
    registerSecret(parsed[k]);
}

/** Creates the GCS Backend for a bucket (loads the SDK). */
export async function createGcsBackend(options: GcsBackendOptions): Promise<GcsBackend> {
  registerCredentials(options.credentials);
  if (options.credentials !== undefined) {
    // Bad key text is a config error (EINVAL) whose message shows none of it: JSON.parse's own
    // message quotes the text around the error, which may be the private key.
    const bad = () =>
      fsError('EINVAL', {
        message: 'EINVAL: gcs credentials must be a service-account key, as JSON text or an object',
      });
    let parsed: unknown;
    try {
      parsed =
        typeof options.credentials === 'string' ? JSON.parse(options.credentials) : options.credentials;
    } catch {
      throw bad();
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad();
  }
  const sdk = await importOptional('@google-cloud/storage', 'gcs', () => import('@google-cloud/storage'));
  const { crc32c } = await importOptional('@node-rs/crc32', 'gcs', () => import('@node-rs/crc32'));
  return new GcsBackend(sdk, crc32c, options);
}

export const gcsFlavor = defineFlavor({
  name: 'gcs',
  type: 'artifact_store',
  schemes: ['gs', 'gcs'],
  description: 'Google Cloud Storage (JSON API), and GCS emulators.',
  packages: ['@google-cloud/storage'],
  config: {
    project: { type: 'string', description: 'Project id (otherwise from the credentials or environment)' },
    credentials: {
      type: 'json',
      secret: true,
      description: 'Service-account key (JSON text or object); otherwise application-default credentials',
    },
    keyFilename: { type: 'string', description: 'Path of a service-account key file' },
    apiEndpoint: {
      type: 'string',
      // The SDK takes a bare host too (it adds https://).
      url: 'bare-host',
      description: 'Endpoint of an emulator or private endpoint, e.g. http://127.0.0.1:4443',
    },
    useAuthWithCustomEndpoint: {
      type: 'boolean',
      description: 'Send credentials to a custom apiEndpoint too (default false, as the SDK)',
    },
    chunkSize: {
      type: 'number',
      description: 'Resumable upload chunk in bytes, a multiple of 256 KiB (default 16 MiB)',
    },
    validation: { type: 'string', description: "'crc32c' (default), 'md5' or 'off'" },
    ...readConfigFields(8),
    listPageSize: { type: 'number', description: 'Objects per list request (default 1000)' },
    attempts: { type: 'number', description: 'Attempts per upload chunk for retryable errors (default 5)' },
    maxBytesRewrittenPerCall: {
      type: 'number',
      description: 'Bytes per rewrite call when copying (multiple of 1 MiB; default: server)',
    },
    deleteConcurrency: { type: 'number', description: 'Deletes in flight at once (default 16)' },
  },
  async create(config) {
    const { bucket, root } = bucketAndRoot(config.path);
    const { project, path: _path, ...rest } = config as Record<string, unknown> & { project?: string };
    void _path;
    const backend = await createGcsBackend({
      ...(rest as Omit<GcsBackendOptions, 'bucket'>),
      projectId: project,
      bucket,
    });
    return backendInstance(backend, root);
  },
});
