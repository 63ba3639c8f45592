/**
 * The conformance suite on azurite (in its own process, in memory) through the azure flavor and
 * the official SDK.
 */
import { azureFlavor } from '../../adapters/azure/index.js';
import { MountTable } from '../../src/vfs/mount-table.js';
import { OBJECT_STORE_CAPABILITIES, runConformance } from '../../src/testing/conformance/index.js';
import { createContainer, startAzurite } from '../emulators/azurite.js';

runConformance({
  name: 'azure (azurite)',
  capabilities: OBJECT_STORE_CAPABILITIES,
  setup: async () => {
    const azurite = await startAzurite();
    const container = 'conformance';
    await createContainer(azurite, container);
    const instance = await azureFlavor.create({
      path: `az://${container}`,
      endpoint: azurite.endpoint,
      accountName: azurite.accountName,
      accountKey: azurite.accountKey,
    });
    const table = new MountTable();
    table.mount(`az://${container}`, instance.adapter);
    return {
      fs: table.fs,
      base: `az://${container}/suite`,
      teardown: async () => {
        await instance.close?.();
        await azurite.stop();
      },
    };
  },
});
