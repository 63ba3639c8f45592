/** What the Azure harness (`run.ts`) and the measuring child (`client.ts`) share. */

/** `sdk`: the raw SDK as its user would write it; `sdk-single`: one streaming GET; `avfs`: the flavor. */
export const AZURE_TARGETS = ['sdk', 'sdk-single', 'avfs'] as const;
export type AzureTarget = (typeof AZURE_TARGETS)[number];
