import { defineConfig } from 'vitest/config';

const ignored = ['**/node_modules/**', '**/dist/**', '**/.next/**'];

export default defineConfig({
  test: {
    reporters: ['default', './scripts/vitest-summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['{apps,packages}/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          // *.faults.test.ts run only under `npm run test:faults` (vitest.faults.config.ts): ~10 minutes.
          exclude: [...ignored, '**/*.integration.test.ts', '**/*.browser.test.ts', '**/*.faults.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['{apps,packages}/*/src/**/*.integration.test.ts', 'apps/*/bench/**/*.integration.test.ts', 'test/**/*.integration.test.ts'],
          exclude: ignored,
          testTimeout: 60_000,
          hookTimeout: 90_000,
          // Each file starts its own etcd/Redis; two at a time fits 2 cores.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'browser',
          sequence: { groupOrder: 2 },
          include: ['{apps,packages}/*/src/**/*.browser.test.ts', 'test/**/*.browser.test.ts'],
          exclude: ignored,
          testTimeout: 120_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
