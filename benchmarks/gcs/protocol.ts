/** What the harness (`run.ts`) and the measuring child (`client.ts`) exchange. */
export const GCS_TARGETS = ['sdk', 'avfs'] as const;
export type GcsTarget = (typeof GCS_TARGETS)[number];

export interface GcsClientArgs {
  target: GcsTarget;
  direction: 'up' | 'down';
  size: number;
  endpoint: string;
  projectId: string;
  bucket: string;
  key: string;
}

export interface GcsClientResult {
  target: string;
  direction: string;
  bytes?: number;
  seconds?: number;
  cpuSeconds?: number;
  peakRssMiB?: number;
  setupRssMiB?: number;
  error?: string;
}
