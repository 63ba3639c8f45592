/**
 * artifact-vfs: one Node-fs-compatible filesystem over local disk, memory and object stores, with
 * ZenML's Artifact Store API on top.
 */
export { fs, vfs } from './builtins.js';
export { fileio } from './fileio.js';

export { FsError, fsError, isFsError, toFsError, errorCode } from './core/errors.js';
export { registerSecret, scrub } from './core/secrets.js';
export {
  canonicalScheme,
  formatLocation,
  isDotLike,
  isWithin,
  parseLocation,
  registerScheme,
  type Location,
  type PathInput,
} from './core/uri.js';
export { VfsDirent, VfsStats } from './core/stats.js';

export type { FsAdapter, FsPromisesApi, NodeFs } from './fs/types.js';
export { CALLBACK_METHODS, PROMISE_METHODS, SYNC_METHODS } from './fs/types.js';

export type {
  Backend,
  ByteRange,
  Capabilities,
  CopyOptions,
  ListOptions,
  ListPage,
  ObjectMeta,
  ObjectWriter,
  WriteOptions,
} from './backend/types.js';
export { createFsAdapter, type CreateFsAdapterOptions } from './backend/create-fs-adapter.js';
export { MemoryBackend, type MemoryBackendOptions } from './backend/memory-backend.js';

export { MountTable, type MountInfo, type MountOptions } from './vfs/mount-table.js';

export {
  ArtifactStore,
  createStore as createStoreWith,
  createStoreFromFs,
  type StoreOptions,
} from './store/artifact-store.js';
export { ArtifactFile, FileOps, type OpenMode, type WalkEntry, type WalkOptions } from './store/file-ops.js';
export {
  backendInstance,
  bucketAndRoot,
  defineFlavor,
  importOptional,
  redactConfig,
  validateConfig,
  type ConfigField,
  type ConfigSchema,
  type Flavor,
  type FlavorInstance,
} from './store/flavor.js';
export { FlavorRegistry } from './store/registry.js';
export {
  configDir,
  defaultLocalStorePath,
  defaultRegistry,
  getDefaultStore,
  getFlavor,
  listFlavors,
  openStore as createStore,
  registerFlavor,
} from './store/defaults.js';

export {
  localFlavor,
  localFs,
  memoryFlavor,
  createMemoryFs,
  sharedMemoryFs,
  s3Flavor,
  createS3Backend,
  S3Backend,
  mapS3Error,
  type S3BackendOptions,
  gcsFlavor,
  createGcsBackend,
  GcsBackend,
  mapGcsError,
  type GcsBackendOptions,
  azureFlavor,
  createAzureBackend,
  AzureBackend,
  mapAzureError,
  type AzureBackendOptions,
} from './builtins.js';
export {
  DEFAULT_STORE,
  activeStoreName,
  checkStorePath,
  deleteCustomFlavor,
  deleteStore,
  describeStore,
  getStoreRecord,
  listCustomFlavors,
  listStores,
  loadFlavor,
  openNamedStore,
  registerCustomFlavor,
  registerStore,
  resolveEnvReferences,
  setActiveStore,
  updateStore,
  type CustomFlavorRecord,
  type NamedStore,
  type StoreRecord,
} from './store/stores.js';
