import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Two cores: keep file parallelism modest so emulator-backed suites do not starve each other.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: [
      ['default', { summary: false }],
      ['json', { outputFile: 'test-results.json' }],
    ],
  },
});
