/**
 * The `azure` flavor: Azure Blob Storage (and azurite), schemes `az://`, `abfs://`, `abfss://`.
 * Store paths: `az://container/prefix`, or `abfs[s]://container@account.dfs.core.windows.net/prefix`
 * (the account comes from the host). The SDK (`@azure/storage-blob`) loads only when a store is
 * created. Credentials: an account key, a SAS token or a connection string (all secret fields);
 * without any, requests are anonymous (public containers).
 */
import { fsError } from '../../src/core/errors.js';
import {
  backendInstance,
  bucketAndRoot,
  defineFlavor,
  importOptional,
  readConfigFields,
} from '../../src/store/flavor.js';
import { AzureBackend, registerAzureSecrets, type AzureBackendOptions } from './backend.js';

export { AzureBackend, blockId, CRC_META, type AzureBackendOptions } from './backend.js';
export { mapAzureError, scrubAzure } from './errors.js';

/** Creates the Azure Backend for a container (loads the SDK). */
export async function createAzureBackend(options: AzureBackendOptions): Promise<AzureBackend> {
  registerAzureSecrets(options);
  const sdk = await importOptional('@azure/storage-blob', 'azure', () => import('@azure/storage-blob'));
  return new AzureBackend(sdk, options);
}

/**
 * The account and blob endpoint named by an `abfs[s]://container@account.dfs.<suffix>/…` path
 * (Data Lake style), if the path has that form.
 */
export function accountFromPath(path: string): { account: string; endpoint: string } | undefined {
  const m = /^abfss?:\/\/[^@/]+@([^./]+)\.dfs\.([^/]+)/i.exec(path);
  if (!m) return undefined;
  // abfs:// (Hadoop's unencrypted form) still reaches the blob endpoint over HTTPS; an endpoint
  // override says otherwise.
  return { account: m[1]!, endpoint: `https://${m[1]!}.blob.${m[2]!}` };
}

export const azureFlavor = defineFlavor({
  name: 'azure',
  type: 'artifact_store',
  schemes: ['az', 'abfs', 'abfss'],
  description: 'Azure Blob Storage (block blobs), and azurite.',
  packages: ['@azure/storage-blob'],
  config: {
    accountName: {
      type: 'string',
      description: 'Storage account name (or taken from an abfs[s]://container@account.dfs… path)',
    },
    accountKey: { type: 'string', secret: true, description: 'Shared key of the account' },
    sasToken: { type: 'string', secret: true, description: 'SAS token (sv=…&sig=…)' },
    connectionString: {
      type: 'string',
      secret: true,
      description: 'Connection string (wins over the other credential fields)',
    },
    endpoint: {
      type: 'string',
      url: true,
      description: 'Blob service URL (azurite: http://127.0.0.1:10000/devstoreaccount1)',
    },
    blockSize: {
      type: 'number',
      description: 'Upload block size in bytes (default 16 MiB; grows for huge blobs)',
    },
    concurrency: { type: 'number', description: 'Blocks staged at once (default 4)' },
    ...readConfigFields(16),
    checksum: {
      type: 'string',
      description: "'crc32' (default; stored as metadata, checked on full reads) or 'off'",
    },
    blockChecksum: {
      type: 'string',
      description: "'md5' (transactional MD5 per block, verified by the service) or 'none' (default)",
    },
    maxAttempts: { type: 'number', description: 'SDK attempts per request (default 3)' },
    listPageSize: { type: 'number', description: 'Blobs per list request (default 5000)' },
    maxBlocks: { type: 'number', description: 'Most blocks per blob (default 50,000)' },
    copyBlockThreshold: {
      type: 'number',
      description: 'Copy with Put Block From URL above this size (default 256 MiB)',
    },
    copyBlockSize: { type: 'number', description: 'Put Block From URL block size (default 256 MiB)' },
    batchDelete: { type: 'boolean', description: 'Delete with Blob Batch requests (default true)' },
  },
  async create(config) {
    const { bucket: container, root } = bucketAndRoot(config.path);
    const fromPath = accountFromPath(config.path);
    const options = { ...(config as Omit<AzureBackendOptions, 'container'> & { path?: string }) };
    delete options.path;
    if (fromPath && options.accountName && options.accountName !== fromPath.account) {
      throw fsError('EINVAL', {
        message: `EINVAL: the path names the account '${fromPath.account}' but accountName is '${options.accountName}'`,
      });
    }
    const backend = await createAzureBackend({
      ...options,
      accountName: options.accountName ?? fromPath?.account,
      endpoint: options.endpoint ?? (options.connectionString ? undefined : fromPath?.endpoint),
      container,
    });
    return backendInstance(backend, root);
  },
});
