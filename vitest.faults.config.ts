import { defineConfig } from 'vitest/config';

// The fault-injection suite (issue 13), apart from `npm test`'s projects because it
// runs for about ten minutes: `npm run test:faults`. One file at a time, since every
// fault loads etcd, Redis and the collector on the machine's two cores.
export default defineConfig({
  test: {
    reporters: ['default', './scripts/vitest-summary-reporter.ts'],
    include: ['test/faults/**/*.faults.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
